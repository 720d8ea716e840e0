"""Migrations build exactly the tables the models describe, on SQLite and Postgres, and downgrade cleanly."""

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect
from sqlmodel import SQLModel

import app.models  # noqa: F401
from app import migrations
from app.db import make_engine
from tests.conftest import POSTGRES_URL, _fresh_postgres


def test_migrated_database_matches_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata)
    assert diff == []
    assert not migrations.pending(str(engine.url.render_as_string(hide_password=False)))


def test_downgrade_to_nothing_and_up_again(db_url: str, tmp_path: object) -> None:
    # A scratch database of the same backend, so the shared one stays migrated.
    if db_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path}/scratch.db"
    else:
        url = POSTGRES_URL + "_scratch"
        _fresh_postgres(url)
    migrations.upgrade(url)
    command.downgrade(migrations.alembic_config(url), "base")
    engine = make_engine(url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    migrations.upgrade(url)
    assert not migrations.pending(url)


def test_upgrade_normalizes_existing_usernames(db_url: str, tmp_path: object) -> None:
    from sqlalchemy import text

    if db_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path}/names.db"
    else:
        url = POSTGRES_URL + "_names"
        _fresh_postgres(url)
    config = migrations.alembic_config(url)
    command.upgrade(config, "0006")
    engine = make_engine(url)
    insert = text(
        "INSERT INTO user_account (username, password_hash, role, is_active, must_change_password, session_epoch, "
        "created_at) VALUES (:name, 'x', 'reviewer', true, false, 0, CURRENT_TIMESTAMP)"
    )
    with engine.begin() as conn:
        for name in ("Alice", " bob ", "carol", "CAROL"):
            conn.execute(insert, {"name": name})
    migrations.upgrade(url)
    with engine.connect() as conn:
        names = sorted(conn.execute(text("SELECT username FROM user_account")).scalars())
    engine.dispose()
    # Two accounts differing only in case: the second keeps its name instead of failing the upgrade.
    assert names == ["CAROL", "alice", "bob", "carol"]
