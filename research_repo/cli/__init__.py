"""The `research-repo` command: thin click wrappers over services, one module per idea
(``running``, ``content``, ``people``, ``searching``; ``common`` for what they share).

Every command is registered here, on the group itself, so `research-repo --help` lists them
without loading the app (on a machine where `init` has not run yet there is no app to load);
a command that needs the app loads it when it runs (``with_appcontext``)."""
from __future__ import annotations

import logging
import os

import click
from flask import Flask
from flask.cli import FlaskGroup

from .common import app_from_environment
from .content import deidentify_command, export_command, import_command, imports_group
from .people import studies_group, users_group
from .running import demo_command, init_command, initialize, serve_app, serve_command, worker_command
from .searching import reindex_command, search_command, themes_group


class _Group(FlaskGroup):
    """Flask's group without its habit of loading the app to list commands (our commands are
    all registered on the group; the app is loaded by the one that runs)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return click.Group.list_commands(self, ctx)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return click.Group.get_command(self, ctx, name)


@click.group(cls=_Group, create_app=app_from_environment, add_default_commands=False, add_version_option=False,
             load_dotenv=False)
def main() -> None:
    """research_repo: a qualitative research repository for federal CX teams."""
    # Everything a command writes (database, WAL, index segments, exports) is readable by its
    # owner only: de-identified evidence is still a study's data.
    os.umask(0o077)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


COMMANDS = (init_command, demo_command, serve_command, worker_command, import_command, imports_group, export_command,
            deidentify_command, users_group, studies_group, reindex_command, search_command, themes_group)
for _command in COMMANDS:
    main.add_command(_command)
# Flask's own options (--app, --env-file, --debug) mean nothing here: the app comes from the
# environment (RESEARCH_REPO_*).
main.params = [p for p in main.params if p.name not in ("app", "env_file", "debug")]


def init_app(app: Flask) -> None:
    """The same commands on ``app.cli`` (``app.test_cli_runner()`` in tests)."""
    for command in COMMANDS:
        app.cli.add_command(command)


__all__ = ["COMMANDS", "init_app", "initialize", "main", "serve_app"]
