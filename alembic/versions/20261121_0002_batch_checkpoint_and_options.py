"""batch checkpoint and options

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 05:01:20.244148
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('crawl_batch', schema=None) as batch_op:
        batch_op.add_column(sa.Column('checkpoint', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('options', sa.JSON(), nullable=False, server_default=sa.text("'{}'")))



def downgrade() -> None:
    with op.batch_alter_table('crawl_batch', schema=None) as batch_op:
        batch_op.drop_column('options')
        batch_op.drop_column('checkpoint')

