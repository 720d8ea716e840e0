"""routed items (calibrated routing) and the recall audit's blind review flag

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 01:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.models.types

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'routed_item',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('project_id', sa.Integer(), nullable=False),
        sa.Column('document_id', sa.Integer(), nullable=False),
        sa.Column('item_kind', sa.String(length=16), nullable=False),
        sa.Column('item_id', sa.Integer(), nullable=False),
        sa.Column('slice', sa.String(length=400), nullable=False),
        sa.Column('agreement', sa.String(length=16), nullable=False),
        sa.Column('proposers', sa.String(length=300), nullable=False),
        sa.Column('type', sa.String(length=64), nullable=False),
        sa.Column('route', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.String(length=300), nullable=False),
        sa.Column('proposed', sa.JSON(), nullable=False),
        sa.Column('outcome', sa.String(length=16), nullable=True),
        sa.Column('created_at', app.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('judged_at', app.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['document_id'], ['document.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['project_id'], ['project.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('routed_item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_routed_item_document_id'), ['document_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_routed_item_item_id'), ['item_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_routed_item_project_id'), ['project_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_routed_item_slice'), ['slice'], unique=False)
    with op.batch_alter_table('document', schema=None) as batch_op:
        batch_op.add_column(sa.Column('blind_review', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('document', schema=None) as batch_op:
        batch_op.drop_column('blind_review')
    with op.batch_alter_table('routed_item', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_routed_item_slice'))
        batch_op.drop_index(batch_op.f('ix_routed_item_project_id'))
        batch_op.drop_index(batch_op.f('ix_routed_item_item_id'))
        batch_op.drop_index(batch_op.f('ix_routed_item_document_id'))
    op.drop_table('routed_item')
