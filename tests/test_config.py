"""Settings: no default secrets, embedded defaults, production by environment only."""

import stat
from pathlib import Path

from app.config import Settings


def test_secret_key_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    settings = Settings(concord_data_dir=tmp_path / "d", secret_key=None)
    first = settings.resolved_secret_key()
    assert len(first) >= 48
    assert Settings(concord_data_dir=tmp_path / "d", secret_key=None).resolved_secret_key() == first
    assert stat.S_IMODE((tmp_path / "d" / "secret_key").stat().st_mode) == 0o600
    assert Settings(concord_data_dir=tmp_path / "other", secret_key=None).resolved_secret_key() != first


def test_configured_secret_key_wins_and_writes_nothing(tmp_path: Path) -> None:
    settings = Settings(concord_data_dir=tmp_path, secret_key="configured-secret")
    assert settings.resolved_secret_key() == "configured-secret"
    assert not (tmp_path / "secret_key").exists()


def test_embedded_defaults_live_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(concord_data_dir=tmp_path, database_url=None, redis_url=None)
    assert settings.sqlalchemy_url == f"sqlite:///{tmp_path.resolve()}/concord.db"
    assert settings.broker_url == f"redis+socket://{tmp_path.resolve()}/redis.sock"
    assert settings.client_redis_url == f"unix://{tmp_path.resolve()}/redis.sock"


def test_production_urls_come_from_the_environment(tmp_path: Path) -> None:
    settings = Settings(
        concord_data_dir=tmp_path, database_url="postgresql+psycopg://db/concord", redis_url="redis://r:6379/0"
    )
    assert settings.sqlalchemy_url == "postgresql+psycopg://db/concord"
    assert settings.broker_url == settings.client_redis_url == "redis://r:6379/0"


def test_a_deep_data_dir_gets_a_short_stable_socket_path(tmp_path: Path) -> None:
    deep = tmp_path / ("x" * 120)
    a = Settings(concord_data_dir=deep).redis_socket_path
    assert len(str(a)) < 100
    assert a == Settings(concord_data_dir=deep).redis_socket_path
