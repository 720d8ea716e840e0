"""review locks and assignments

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 07:18:44.213671
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.models.types

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('review_assignment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('document_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.Column('created_at', app.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('submitted_at', app.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['document_id'], ['document.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('document_id', 'user_id', name='uq_assignment_document_user')
    )
    with op.batch_alter_table('review_assignment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_review_assignment_document_id'), ['document_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_review_assignment_submitted_at'), ['submitted_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_review_assignment_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('decision', schema=None) as batch_op:
        batch_op.add_column(sa.Column('undone_at', app.models.types.UTCDateTime(timezone=True), nullable=True))

    with op.batch_alter_table('document', schema=None) as batch_op:
        batch_op.add_column(sa.Column('locked_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('locked_until', app.models.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('curated_at', app.models.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_document_curated_at'), ['curated_at'], unique=False)
        batch_op.create_foreign_key('fk_document_locked_by', 'user_account', ['locked_by_id'], ['id'], ondelete='SET NULL')



def downgrade() -> None:
    with op.batch_alter_table('document', schema=None) as batch_op:
        batch_op.drop_constraint('fk_document_locked_by', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_document_curated_at'))
        batch_op.drop_column('curated_at')
        batch_op.drop_column('locked_until')
        batch_op.drop_column('locked_by_id')

    with op.batch_alter_table('decision', schema=None) as batch_op:
        batch_op.drop_column('undone_at')

    with op.batch_alter_table('review_assignment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_review_assignment_user_id'))
        batch_op.drop_index(batch_op.f('ix_review_assignment_submitted_at'))
        batch_op.drop_index(batch_op.f('ix_review_assignment_document_id'))

    op.drop_table('review_assignment')
