"""Synthesis: API tokens, undoable bulk coding actions, and the driver a system tag stands for.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 11:02:40.862948
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_token',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=True),
    sa.Column('last_used_at', sa.DateTime(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_api_token_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_token')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_token_token_hash'))
    )
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_token_user_id'), ['user_id'], unique=False)

    op.create_table('coding_action',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('tag_id', sa.Integer(), nullable=True),
    sa.Column('origin', sa.String(length=20), nullable=False),
    sa.Column('created_highlights', sa.JSON(), nullable=False),
    sa.Column('tagged_highlights', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('undone_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['user.id'], name=op.f('fk_coding_action_actor_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['study_id'], ['study.id'], name=op.f('fk_coding_action_study_id_study'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tag_id'], ['tag.id'], name=op.f('fk_coding_action_tag_id_tag'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coding_action'))
    )
    with op.batch_alter_table('coding_action', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_coding_action_study_id'), ['study_id'], unique=False)

    with op.batch_alter_table('tag', schema=None) as batch_op:
        batch_op.add_column(sa.Column('driver', sa.String(length=40), nullable=True))

    _add_driver_sets()


# Frozen copy of the locked A-11 set (services.coding.ensure_driver_tags makes it for new studies).
DRIVER_SET = "A-11 drivers"
DRIVER_SET_DESCRIPTION = ("OMB Circular A-11 Section 280 customer-experience drivers. Apply with a positive or "
                          "negative polarity.")
DRIVERS = [("trust", "Trust"), ("effectiveness", "Effectiveness"), ("ease", "Ease"), ("efficiency", "Efficiency"),
           ("transparency", "Transparency"), ("humanity", "Humanity"),
           ("employee-helpfulness", "Employee helpfulness"), ("satisfaction", "Satisfaction")]


def _add_driver_sets() -> None:
    """Every existing study gets the locked A-11 set, as new studies do when created."""
    conn = op.get_bind()
    tag = sa.table('tag', sa.column('id', sa.Integer), sa.column('study_id', sa.Integer),
                   sa.column('parent_id', sa.Integer), sa.column('name', sa.String), sa.column('path', sa.String),
                   sa.column('description', sa.Text), sa.column('is_system', sa.Boolean),
                   sa.column('driver', sa.String))
    study_ids = conn.execute(sa.text("SELECT id FROM study WHERE id NOT IN "
                                     "(SELECT study_id FROM tag WHERE path = :p)"), {"p": DRIVER_SET}).scalars().all()
    for study_id in study_ids:
        parent_id = conn.execute(sa.insert(tag).values(
            study_id=study_id, name=DRIVER_SET, path=DRIVER_SET, description=DRIVER_SET_DESCRIPTION, is_system=True,
        ).returning(tag.c.id)).scalar_one()
        conn.execute(sa.insert(tag), [
            {"study_id": study_id, "parent_id": parent_id, "name": label, "path": f"{DRIVER_SET}/{label}",
             "description": "", "is_system": True, "driver": code} for code, label in DRIVERS])



def downgrade() -> None:
    op.execute(sa.text("DELETE FROM tag WHERE is_system AND (path = :p OR path LIKE :c)").bindparams(
        p=DRIVER_SET, c=DRIVER_SET + "/%"))
    with op.batch_alter_table('tag', schema=None) as batch_op:
        batch_op.drop_column('driver')

    with op.batch_alter_table('coding_action', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_coding_action_study_id'))

    op.drop_table('coding_action')
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_token_user_id'))

    op.drop_table('api_token')
