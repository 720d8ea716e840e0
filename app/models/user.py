"""Accounts and API tokens."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, String
from sqlmodel import Field, SQLModel

from app.models.types import UTCDateTime, utcnow


class Role(StrEnum):
    admin = "admin"
    reviewer = "reviewer"
    # Download-only: reads projects, snapshots, exports and datasheets; nothing else.
    consumer = "consumer"


class User(SQLModel, table=True):
    __tablename__ = "user_account"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    password_hash: str
    role: Role = Field(sa_column=Column(String(16), nullable=False))
    is_active: bool = True
    # When an admin disabled the account (None while active): shown on the users page.
    disabled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    must_change_password: bool = False
    # Bumped on logout-everywhere and password change: every older session cookie stops working.
    session_epoch: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_login_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    @property
    def is_admin(self) -> bool:
        return self.role == Role.admin

    @property
    def is_consumer(self) -> bool:
        return self.role == Role.consumer


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id", index=True, ondelete="CASCADE")
    name: str = ""
    # sha256 of the secret: tokens are high-entropy, so a fast hash is enough and lookups stay O(1).
    token_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    prefix: str = Field(max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # None: valid until revoked. Tokens handed to download scripts usually get a lifetime.
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
