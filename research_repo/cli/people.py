"""People and studies: `users create|token` and `studies create`."""
from __future__ import annotations


import click
from flask.cli import with_appcontext

from ..extensions import get_db
from ..models import Method, Role
from ..services import accounts, studies
from ..services.errors import DomainError
from .common import fail, user_named


@click.group("users")
def users_group() -> None:
    """Manage user accounts."""


@users_group.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice([r.value for r in Role]), default=Role.RESEARCHER.value, show_default=True)
@click.option("--display-name", help="Name shown in the app (default: the username).")
@click.option("--password", envvar="RESEARCH_REPO_NEW_USER_PASSWORD", prompt=True, hide_input=True,
              confirmation_prompt=True, help="At least 12 characters; prompted for if not given.")
@with_appcontext
def users_create(username: str, role: str, display_name: str | None, password: str) -> None:
    """Create a user account."""
    with get_db().writing() as session:
        try:
            user = accounts.create_user(session, None, username=username, display_name=display_name or username,
                                        password=password, role=Role(role))
        except DomainError as exc:
            raise fail(exc) from exc
        click.echo(f"Created {user.role.value} {user.username!r} (id {user.id}).")


@users_group.command("token")
@click.argument("username")
@click.option("--name", required=True, help="What will use the token, e.g. 'dashboard sync'.")
@click.option("--days", default=365, show_default=True, type=click.IntRange(1, 3650))
@with_appcontext
def users_token(username: str, name: str, days: int) -> None:
    """Create a personal API token for USERNAME and print it (it is shown only this once)."""
    with get_db().writing() as session:
        try:
            row, token = accounts.create_api_token(session, user_named(session, username), name, days=days)
        except DomainError as exc:
            raise fail(exc) from exc
    click.echo(f"Token {row.id} for {username} (send as 'Authorization: Bearer TOKEN'):")
    click.echo(token)


@click.group("studies")
def studies_group() -> None:
    """Manage studies."""


@studies_group.command("create")
@click.argument("name")
@click.option("--service", required=True, help="For example 'Retirement Services'.")
@click.option("--method", type=click.Choice([m.value for m in Method]), default=Method.INTERVIEWS.value, show_default=True)
@click.option("--purpose", default="")
@click.option("--omb-control-number", help="PRA clearance, e.g. 3206-0252.")
@click.option("--by", "by_username", required=True, help="Username the study is created as (researcher or admin).")
@with_appcontext
def studies_create(name, service, method, purpose, omb_control_number, by_username) -> None:
    """Create a study."""
    with get_db().writing() as session:
        actor = user_named(session, by_username)
        try:
            study = studies.create_study(session, actor, studies.StudyInput(
                name=name, service=service, method=Method(method), purpose=purpose,
                omb_control_number=omb_control_number,
            ))
        except DomainError as exc:
            raise fail(exc) from exc
        click.echo(f"Created study {study.name!r} (id {study.id}).")
