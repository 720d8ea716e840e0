"""user administration: when an account was disabled; usernames in their one normalized form

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 04:00:00
"""
import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.models.types

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _normalized(username: str) -> str:
    # The same rule as app.auth.service.normalize_username, frozen here: a migration must not change later.
    return unicodedata.normalize("NFKC", username).strip().casefold()


def upgrade() -> None:
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('disabled_at', app.models.types.UTCDateTime(timezone=True), nullable=True))
    users = sa.table('user_account', sa.column('id', sa.Integer()), sa.column('username', sa.String(64)))
    conn = op.get_bind()
    rows = conn.execute(sa.select(users.c.id, users.c.username)).all()
    taken = {username for _, username in rows}
    for user_id, username in rows:
        target = _normalized(username)
        # Sign-in looks names up normalized. Of two accounts differing only in case, the second keeps its name
        # (and cannot sign in; an admin creates it anew) rather than failing the upgrade on the unique index.
        if target != username and target and target not in taken:
            conn.execute(users.update().where(users.c.id == user_id).values(username=target))
            taken.discard(username)
            taken.add(target)


def downgrade() -> None:
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_column('disabled_at')
