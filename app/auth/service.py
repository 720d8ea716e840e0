"""Passwords, session cookies, API tokens and login throttling."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlmodel import Session, select

from app.config import get_settings
from app.errors import Conflict, InvalidInput, ServiceUnavailable, TooManyRequests, Unauthorized
from app.models import ApiToken, Role, User
from app.models.types import utcnow
from app.redis_client import get_redis, key

SESSION_COOKIE = "concord_session"
TOKEN_PREFIX = "cnc_"  # noqa: S105 - a public marker, not a secret
MIN_PASSWORD_LENGTH = 10
_hasher = PasswordHasher()
# Verified against when the username is unknown, so that the response time does not reveal it.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(user: User | None, password: str) -> bool:
    """Constant-work password check; an unknown user still costs one argon2 verification."""
    try:
        return _hasher.verify(user.password_hash if user else _DUMMY_HASH, password) and user is not None
    except (VerificationError, InvalidHashError):
        return False


def generate_password() -> str:
    return secrets.token_urlsafe(12)


def _validate_new_password(password: str, field: str = "password") -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput.for_field(field, f"Use at least {MIN_PASSWORD_LENGTH} characters.")


def create_user(
    session: Session, *, username: str, role: Role, password: str, must_change_password: bool = False
) -> User:
    """Add a user; the username must be new."""
    username = username.strip()
    if not username or len(username) > 64 or any(c.isspace() for c in username):
        raise InvalidInput.for_field("username", "Use 1 to 64 characters without spaces.")
    _validate_new_password(password)
    if session.exec(select(User).where(User.username == username)).first():
        raise Conflict(f"A user named {username!r} already exists.")
    user = User(
        username=username,
        role=role,
        password_hash=hash_password(password),
        must_change_password=must_change_password,
    )
    session.add(user)
    session.flush()
    return user


def change_password(session: Session, *, user: User, current: str, new: str) -> User:
    """Set a new password; every other session of the user ends."""
    if not check_password(user, current):
        raise InvalidInput.for_field("current_password", "The current password is wrong.")
    _validate_new_password(new, "new_password")
    user.password_hash = hash_password(new)
    user.must_change_password = False
    user.session_epoch += 1
    session.add(user)
    session.flush()
    return user


# --- login throttling -------------------------------------------------------------------------------


def _throttle_keys(username: str, ip: str) -> list[str]:
    digest = hashlib.sha256(username.lower().encode()).hexdigest()[:16]
    return [key("login-fail", "user", digest), key("login-fail", "ip", ip)]


def check_login_allowed(username: str, ip: str) -> None:
    """Refuse further attempts after too many recent failures for this username or address."""
    settings = get_settings()
    try:
        client = get_redis()
        counts = client.mget(_throttle_keys(username, ip))
        ttl = max(client.ttl(k) for k in _throttle_keys(username, ip))
    except redis.RedisError as exc:
        raise ServiceUnavailable("Sign-in is briefly unavailable (rate-limit store unreachable).") from exc
    user_fails, ip_fails = (int(c or 0) for c in counts)
    # An address may try several accounts (a shared office), but not endlessly.
    if user_fails >= settings.login_max_failures or ip_fails >= settings.login_max_failures * 4:
        wait = max(ttl, 1)
        raise TooManyRequests(
            f"Too many failed sign-ins. Try again in {(wait + 59) // 60} minute(s).",
            headers={"Retry-After": str(wait)},
        )


def record_login_failure(username: str, ip: str) -> None:
    window = get_settings().login_failure_window_seconds
    try:
        pipe = get_redis().pipeline()
        for k in _throttle_keys(username, ip):
            # SET NX EX, then INCR: the window starts at the first failure (EXPIRE NX needs Redis 7).
            pipe.set(k, 0, ex=window, nx=True)
            pipe.incr(k)
        pipe.execute()
    except redis.RedisError as exc:
        raise ServiceUnavailable("Sign-in is briefly unavailable (rate-limit store unreachable).") from exc


def clear_login_failures(username: str, ip: str) -> None:
    get_redis().delete(_throttle_keys(username, ip)[0])


def authenticate(session: Session, *, username: str, password: str, ip: str) -> User:
    """The user for these credentials, or Unauthorized; throttled per username and address."""
    check_login_allowed(username, ip)
    user = session.exec(select(User).where(User.username == username.strip())).first()
    if not check_password(user, password) or user is None or not user.is_active:
        record_login_failure(username, ip)
        raise Unauthorized("Wrong username or password.")
    clear_login_failures(username, ip)
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    session.add(user)
    session.flush()
    return user


# --- session cookies ---------------------------------------------------------------------------------


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(get_settings().resolved_secret_key(), salt="concord.session")


def make_session_cookie(user: User) -> str:
    return _serializer().dumps({"uid": user.id, "ep": user.session_epoch})


@dataclass(frozen=True)
class SessionLookup:
    user: User | None
    expired: bool = False


def user_from_session_cookie(session: Session, cookie: str | None) -> SessionLookup:
    """The signed-in user, if the cookie is genuine, unexpired and of the user's current epoch."""
    if not cookie:
        return SessionLookup(None)
    try:
        data: Any = _serializer().loads(cookie, max_age=get_settings().session_max_age_seconds)
    except SignatureExpired:
        return SessionLookup(None, expired=True)
    except BadSignature:
        return SessionLookup(None)
    if not isinstance(data, dict) or not isinstance(data.get("uid"), int):
        return SessionLookup(None)
    user = session.get(User, data["uid"])
    if user is None or not user.is_active or user.session_epoch != data.get("ep"):
        return SessionLookup(None, expired=user is not None)
    return SessionLookup(user)


def end_all_sessions(session: Session, *, user: User) -> None:
    """Invalidate every session cookie issued to the user so far."""
    user.session_epoch += 1
    session.add(user)
    session.flush()


# --- API tokens --------------------------------------------------------------------------------------


def _token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_token(
    session: Session, *, user: User, name: str = "", expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """A new token for the user; the secret is returned once and only its hash is stored."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    assert user.id is not None
    token = ApiToken(
        user_id=user.id, name=name, token_hash=_token_hash(secret), prefix=secret[:10], expires_at=expires_at
    )
    session.add(token)
    session.flush()
    return token, secret


def user_from_api_token(session: Session, secret: str) -> User:
    """The user behind a bearer token; Unauthorized when it is unknown or revoked."""
    token = session.exec(select(ApiToken).where(ApiToken.token_hash == _token_hash(secret))).first()
    if token is None or token.revoked_at is not None:
        raise Unauthorized("Invalid or revoked API token.", headers={"WWW-Authenticate": "Bearer"})
    if token.expires_at is not None and token.expires_at <= utcnow():
        raise Unauthorized(
            f"This API token expired at {token.expires_at:%Y-%m-%d %H:%M} UTC; ask an admin for a new one.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    user = session.get(User, token.user_id)
    if user is None or not user.is_active:
        raise Unauthorized("Invalid or revoked API token.", headers={"WWW-Authenticate": "Bearer"})
    now = utcnow()
    # At most one write a minute per token: every API read would otherwise be a write.
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        token.last_used_at = now
        session.add(token)
    return user


def revoke_api_token(session: Session, *, token: ApiToken) -> ApiToken:
    token.revoked_at = utcnow()
    session.add(token)
    session.flush()
    return token
