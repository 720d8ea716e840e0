"""Settings read from the environment; the embedded default needs none of them."""

import hashlib
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# A unix socket path must fit in sockaddr_un (108 bytes on Linux).
_MAX_SOCKET_PATH = 100


class Settings(BaseSettings):
    """Everything configurable; names are the environment variables."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    concord_data_dir: Path = Field(default=Path("concord-data"))
    database_url: str | None = None
    redis_url: str | None = None
    secret_key: SecretStr | None = None
    public_url: str | None = None
    # Unset: cookies are Secure exactly when PUBLIC_URL is https; true/false overrides that.
    cookie_secure: bool | None = None
    # Strict-Transport-Security lifetime sent when PUBLIC_URL is https (0 sends none).
    hsts_max_age_seconds: int = 365 * 24 * 3600
    session_max_age_seconds: int = 14 * 24 * 3600
    login_max_failures: int = 5
    login_failure_window_seconds: int = 15 * 60
    # A secret that lets a monitor run /healthz?deep=1 without an admin account (Authorization: Bearer ...).
    health_token: SecretStr | None = None
    # The deep check runs at most once per this interval; callers in between get its last answer.
    health_deep_interval_seconds: float = 10.0
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    redis_key_prefix: str = "concord:"
    max_upload_bytes: int = 8 * 1024**3
    # Every other request body (JSON, forms). The largest real one is a project's label schema with its
    # guidelines, tens of KB; 2 MiB leaves room for long guidelines and caps what a client can make us hold.
    max_body_bytes: int = 2 * 1024**2
    # Bounds on ingestion's work per record: a page larger, or nested deeper, than these is skipped before
    # main-text extraction, and an extraction running longer than this many seconds is stopped (0: no limit).
    ingest_max_html_bytes: int = 5 * 1024**2
    ingest_max_html_depth: int = 2000
    ingest_extract_seconds: float = 10.0
    # A batch that has ingested this long lets batches queued behind it go first, then resumes (0: never).
    ingest_slice_seconds: float = 60.0
    # A job whose worker died is delivered again after this long (it must exceed the longest job).
    job_visibility_timeout_seconds: int = 2 * 3600
    # Model keys and endpoints for the LLM annotators; per-annotator CONCORD_ANNOTATOR_<NAME>_API_KEY /
    # _BASE_URL variables are read by app.annotation.providers.make_provider.
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    gemini_api_key: SecretStr | None = None
    google_gemini_base_url: str | None = None

    @property
    def data_dir(self) -> Path:
        return self.concord_data_dir.resolve()

    @property
    def https(self) -> bool:
        """The public address is https: browsers reach Concord only over TLS."""
        return (self.public_url or "").strip().lower().startswith("https://")

    @property
    def secure_cookies(self) -> bool:
        return self.https if self.cookie_secure is None else self.cookie_secure

    @property
    def embedded_database(self) -> bool:
        return self.database_url is None

    @property
    def embedded_broker(self) -> bool:
        return self.redis_url is None

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'concord.db'}"

    @property
    def redis_socket_path(self) -> Path:
        """Where the embedded Redis listens; falls back to a short path when the data dir is deep."""
        path = self.data_dir / "redis.sock"
        if len(str(path)) <= _MAX_SOCKET_PATH:
            return path
        # Deterministic, so that serve and every worker of this data dir agree on it.
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:16]
        return Path("/tmp") / f"concord-{digest}.sock"  # noqa: S108 - only when the data dir path is too long

    @property
    def client_redis_url(self) -> str:
        """URL for redis-py (rate limits, throttling)."""
        if self.redis_url:
            return self.redis_url
        return f"unix://{self.redis_socket_path}"

    @property
    def broker_url(self) -> str:
        """URL for Celery/kombu."""
        if self.redis_url:
            return self.redis_url
        return f"redis+socket://{self.redis_socket_path}"

    def resolved_secret_key(self) -> str:
        """The configured SECRET_KEY, or one generated once and kept in the data directory."""
        if self.secret_key is not None and self.secret_key.get_secret_value():
            return self.secret_key.get_secret_value()
        path = self.data_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Write aside, then link into place: atomic, and the first process to link wins.
        tmp = path.with_name(f".secret_key.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, secrets.token_urlsafe(48).encode())
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
        return path.read_text().strip()


@lru_cache
def get_settings() -> Settings:
    """Process-wide settings, read once."""
    return Settings()
