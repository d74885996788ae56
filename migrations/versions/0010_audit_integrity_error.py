"""On PostgreSQL the append-only audit trigger raises an integrity violation (SQLSTATE 23000),
so changing an audit event fails with IntegrityError as on SQLite, not ProgrammingError.
Nothing changes on SQLite.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 16:35:00
"""
from alembic import op


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def _append_only(errcode: str | None) -> str:
    using = f" USING ERRCODE = '{errcode}'" if errcode else ""
    return ("CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION 'audit_event is append-only'{using}; END $$")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_append_only("integrity_constraint_violation"))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_append_only(None))
