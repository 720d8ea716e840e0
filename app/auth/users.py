"""User administration: list, disable and enable, reset a password, end someone's sessions."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from app.auth import service
from app.db import require_id
from app.errors import Conflict, NotFound
from app.models import ApiToken, User
from app.models.types import utcnow


@dataclass(frozen=True)
class UserRow:
    """One line of the users page (no password hash, no token secrets)."""

    id: int
    username: str
    role: str
    is_active: bool
    must_change_password: bool
    created_at: datetime
    last_login_at: datetime | None
    disabled_at: datetime | None
    active_tokens: int

    @property
    def status(self) -> str:
        if not self.is_active:
            return "disabled"
        return "must change password" if self.must_change_password else "active"


def list_users(session: Session) -> list[UserRow]:
    now = utcnow()
    live = (
        select(ApiToken.user_id, func.count().label("n"))
        .where(col(ApiToken.revoked_at).is_(None))
        .where((col(ApiToken.expires_at).is_(None)) | (col(ApiToken.expires_at) > now))
        .group_by(col(ApiToken.user_id))
    )
    tokens: dict[int, int] = dict(session.exec(live).all())
    return [
        UserRow(
            id=require_id(u),
            username=u.username,
            role=u.role,
            is_active=u.is_active,
            must_change_password=u.must_change_password,
            created_at=u.created_at,
            last_login_at=u.last_login_at,
            disabled_at=u.disabled_at,
            active_tokens=tokens.get(require_id(u), 0),
        )
        for u in session.exec(select(User).order_by(col(User.username))).all()
    ]


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"There is no user {user_id}.")
    return user


def disable_user(session: Session, *, user: User, by: User | None = None) -> User:
    """Sign the user out everywhere and revoke every API token, now; the account can no longer sign in."""
    if by is not None and by.id == user.id:
        raise Conflict("You cannot disable your own account; ask another admin.")
    now = utcnow()
    user.is_active = False
    user.disabled_at = user.disabled_at or now
    user.session_epoch += 1
    for token in session.exec(
        select(ApiToken).where(ApiToken.user_id == user.id, col(ApiToken.revoked_at).is_(None))
    ).all():
        token.revoked_at = now
        session.add(token)
    session.add(user)
    session.flush()
    return user


def enable_user(session: Session, *, user: User) -> User:
    """Let the user sign in again; the tokens revoked when it was disabled stay revoked."""
    user.is_active = True
    user.disabled_at = None
    session.add(user)
    session.flush()
    return user


def reset_password(session: Session, *, user: User, password: str | None = None, temporary: bool = True) -> str:
    """Set a password chosen by an admin (generated when None), end the user's sessions and return it; a
    temporary one must be replaced at the next sign-in."""
    password = password if password is not None else service.generate_password()
    service.validate_new_password(password, username=user.username)
    user.password_hash = service.hash_password(password)
    user.must_change_password = temporary
    user.session_epoch += 1
    session.add(user)
    session.flush()
    service.clear_user_login_failures(user.username)
    return password
