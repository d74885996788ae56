"""What the commands share: looking up a user or a study by what was typed, failing with a
message, and refusing to run before `init`."""
from __future__ import annotations

from pathlib import Path

import click
from flask import Flask

from .. import schema
from ..extensions import get_db
from ..models import Study, User
from ..services import studies
from ..services.errors import DomainError, NotFound


def fail(exc: DomainError) -> click.ClickException:
    return click.ClickException(exc.message)


def user_named(session, username: str) -> User:
    user = session.query(User).filter_by(username=username.strip().lower()).one_or_none()
    if user is None:
        raise click.ClickException(f"No user named {username!r}; create one with `research-repo users create`.")
    return user


def study_named(session, name: str) -> Study:
    try:
        return studies.get_by_name(session, name)
    except NotFound as exc:
        # The person at the terminal typed the name; saying it back stores it nowhere.
        raise click.ClickException(f"No study named {name!r}.") from exc
    except DomainError as exc:
        raise fail(exc) from exc


def require_schema(app: Flask) -> None:
    engine = get_db(app).engine
    # Checking must not create an empty SQLite file where none was.
    missing = engine.url.get_backend_name() == "sqlite" and not Path(engine.url.database or "").is_file()
    if missing or schema.current_revision(engine) != schema.head_revision():
        raise click.ClickException(
            f"The database at {app.config['DATA_DIR']} is missing or out of date; run `research-repo init` first."
        )


def app_from_environment() -> Flask:
    """The app the commands load: from the environment, a configuration error as a message."""
    from .. import config, create_app

    try:
        return create_app()
    except config.ConfigError as exc:
        raise click.ClickException(str(exc)) from None
