"""Passwords, session cookies, API tokens and login throttling."""

import contextlib
import hashlib
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlmodel import Session, select

from app.auth.password_policy import password_problem
from app.config import get_settings
from app.errors import Conflict, InvalidInput, ServiceUnavailable, TooManyRequests, Unauthorized
from app.models import ApiToken, Role, User
from app.models.types import utcnow
from app.redis_client import get_redis, key

SESSION_COOKIE = "concord_session"
# Set at each successful sign-in: a correct password from this browser passes an address lockout caused by others.
DEVICE_COOKIE = "concord_device"
DEVICE_MAX_AGE_SECONDS = 180 * 24 * 3600
TOKEN_PREFIX = "cnc_"  # noqa: S105 - a public marker, not a secret
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


def normalize_username(raw: str) -> str:
    """The one form of a username: stored, looked up, throttled and typed at the CLI alike."""
    return unicodedata.normalize("NFKC", raw).strip().casefold()


def find_user(session: Session, username: str) -> User | None:
    return session.exec(select(User).where(User.username == normalize_username(username))).first()


def validate_new_password(password: str, *, username: str = "", field: str = "password") -> None:
    problem = password_problem(password, username=username)
    if problem:
        raise InvalidInput.for_field(field, problem)


def create_user(
    session: Session, *, username: str, role: Role, password: str, must_change_password: bool = False
) -> User:
    """Add a user; the username must be new."""
    username = normalize_username(username)
    if not username or len(username) > 64 or any(c.isspace() or not c.isprintable() for c in username):
        raise InvalidInput.for_field("username", "Use 1 to 64 characters without spaces.")
    validate_new_password(password, username=username)
    if find_user(session, username):
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
    validate_new_password(new, username=user.username, field="new_password")
    if check_password(user, new):
        raise InvalidInput.for_field("new_password", "Choose a password different from the current one.")
    user.password_hash = hash_password(new)
    user.must_change_password = False
    user.session_epoch += 1
    session.add(user)
    session.flush()
    return user


# --- login throttling -------------------------------------------------------------------------------


def _throttle_keys(username: str, ip: str) -> list[str]:
    digest = hashlib.sha256(normalize_username(username).encode()).hexdigest()[:16]
    return [key("login-fail", "user", digest), key("login-fail", "ip", ip)]


def check_login_allowed(username: str, ip: str, *, known_device: bool = False) -> None:
    """Refuse further attempts after too many recent failures for this username or address; a known device of
    the user is held only to the username's count (an address lockout is usually someone else's doing)."""
    settings = get_settings()
    keys = _throttle_keys(username, ip)[:1] if known_device else _throttle_keys(username, ip)
    try:
        client = get_redis()
        counts = client.mget(keys)
        ttls = [client.ttl(k) for k in keys]
    except redis.RedisError as exc:
        raise ServiceUnavailable("Sign-in is briefly unavailable (rate-limit store unreachable).") from exc
    fails = [int(c or 0) for c in counts]
    user_blocked = fails[0] >= settings.login_max_failures
    # An address may try several accounts (a shared office), but not endlessly.
    ip_blocked = len(fails) > 1 and fails[1] >= settings.login_max_failures * 4
    if user_blocked or ip_blocked:
        wait = max(max(t for t, f in zip(ttls, (user_blocked, ip_blocked), strict=False) if f), 1)
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


def clear_user_login_failures(username: str) -> None:
    """Lift the username's lockout (an admin just set a new password)."""
    # Should Redis be unreachable, the lockout simply runs out by itself.
    with contextlib.suppress(redis.RedisError):
        get_redis().delete(_throttle_keys(username, "")[0])


def authenticate(session: Session, *, username: str, password: str, ip: str, device_cookie: str | None = None) -> User:
    """The user for these credentials, or Unauthorized; throttled per username and address."""
    user = find_user(session, username)
    check_login_allowed(username, ip, known_device=user is not None and is_known_device(user, device_cookie))
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


def _device_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(get_settings().resolved_secret_key(), salt="concord.device")


def make_device_cookie(user: User) -> str:
    """Marks this browser as one the user signed in from; it grants nothing by itself."""
    return _device_serializer().dumps({"uid": user.id, "dev": secrets.token_urlsafe(9)})


def is_known_device(user: User, cookie: str | None) -> bool:
    if not cookie:
        return False
    try:
        data: Any = _device_serializer().loads(cookie, max_age=DEVICE_MAX_AGE_SECONDS)
    except BadSignature:
        return False
    return isinstance(data, dict) and data.get("uid") == user.id


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
