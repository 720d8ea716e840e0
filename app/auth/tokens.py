"""API tokens for the tokens page: list (never a secret), create with a lifetime, revoke."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from app.auth import service
from app.db import require_id
from app.errors import Conflict, InvalidInput, NotFound
from app.models import ApiToken, User
from app.models.types import utcnow

MAX_DAYS = 3650


@dataclass(frozen=True)
class TokenRow:
    """One line of the tokens page: the public prefix only, never the secret or its hash."""

    id: int
    prefix: str
    name: str
    owner: str
    owner_role: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    status: str  # active | expired | revoked


def status_of(token: ApiToken, now: datetime) -> str:
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= now:
        return "expired"
    return "active"


def list_tokens(session: Session) -> list[TokenRow]:
    """Every token, the live ones first, newest first within each status."""
    now = utcnow()
    query = select(ApiToken, User).join(User, col(User.id) == col(ApiToken.user_id))
    rows = [
        TokenRow(
            id=require_id(t),
            prefix=t.prefix,
            name=t.name,
            owner=u.username,
            owner_role=u.role,
            created_at=t.created_at,
            expires_at=t.expires_at,
            last_used_at=t.last_used_at,
            revoked_at=t.revoked_at,
            status=status_of(t, now),
        )
        for t, u in session.exec(query.order_by(col(ApiToken.created_at).desc(), col(ApiToken.id).desc())).all()
    ]
    order = {"active": 0, "expired": 1, "revoked": 2}
    return sorted(rows, key=lambda r: order[r.status])


def expiry_after(days: str) -> datetime | None:
    """The expiry `days` from now; empty means never. A 422 on the field `expires_days` otherwise."""
    days = days.strip()
    if not days:
        return None
    if not days.isdecimal() or not 1 <= int(days) <= MAX_DAYS:
        raise InvalidInput.for_field(
            "expires_days", f"Give a whole number of days from 1 to {MAX_DAYS}, or leave it empty for no expiry."
        )
    return utcnow() + timedelta(days=int(days))


def create_token(session: Session, *, owner_id: int, name: str, expires_days: str) -> tuple[ApiToken, str]:
    """A new token for an active user; the secret is returned once and stored only as a hash."""
    # Bounded before the lookup: a form field can carry any number, a BIGINT column cannot.
    owner = session.get(User, owner_id) if 0 < owner_id < 2**63 else None
    if owner is None:
        raise InvalidInput.for_field("user_id", "Choose the user the token acts for.")
    if not owner.is_active:
        raise Conflict(f"{owner.username!r} is disabled; enable the account before giving it a token.")
    name = name.strip()
    if len(name) > 100:
        raise InvalidInput.for_field("name", "Keep the name to 100 characters.")
    return service.create_api_token(session, user=owner, name=name, expires_at=expiry_after(expires_days))


def revoke_token(session: Session, *, token_id: int) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(f"There is no API token {token_id}.")
    if token.revoked_at is None:
        service.revoke_api_token(session, token=token)
    return token
