from __future__ import annotations

import os
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

import citywatch
from citywatch.store.db import (
    MIGRATIONS_DIR,
    DatabaseError,
    alembic_config,
    current_revision,
    head_revision,
    make_engine,
    upgrade_database,
)
from citywatch.store.models import Base

TABLES = {
    "cameras",
    "authorisations",
    "watchlists",
    "subjects",
    "subject_embeddings",
    "hotlists",
    "hotlist_entries",
    "plate_reads",
    "alerts",
    "face_counts",
    "audit_log",
    "users",
    "api_tokens",
    "sessions",
    "access_requests",
    "alert_outbox",
    "alert_sightings",
    "recording_segments",
}


def test_migrations_ship_inside_the_package() -> None:
    package = Path(citywatch.__file__).resolve().parent
    assert MIGRATIONS_DIR.is_relative_to(package)
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert head_revision() == "0013"


def test_upgrade_fresh_sqlite_creates_folder_and_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # nothing may depend on the working directory
    url = f"sqlite:///{tmp_path / 'nested' / 'dir' / 'cw.db'}"
    upgrade_database(url)
    engine = make_engine(url)
    try:
        assert set(inspect(engine).get_table_names()) >= TABLES
        assert current_revision(engine) == head_revision()
        upgrade_database(url)  # a second upgrade is a no-op
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_downgrade_and_upgrade_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cw.db'}"
    upgrade_database(url)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "base")
        assert not TABLES & set(inspect(engine).get_table_names())
        upgrade_database(engine)
        assert set(inspect(engine).get_table_names()) >= TABLES
    finally:
        engine.dispose()


def test_migration_matches_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(ctx, Base.metadata)
    assert diffs == []


def test_sqlite_pragmas(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert int(conn.execute(text("PRAGMA busy_timeout")).scalar() or 0) >= 1000
    finally:
        engine.dispose()


def test_unreachable_postgres_raises_with_password_hidden() -> None:
    # Port 1 on localhost: nothing listens, the connection is refused at once.
    url = "postgresql://citywatch:s3cr3t-pw@127.0.0.1:1/citywatch?connect_timeout=2"
    with pytest.raises(DatabaseError) as err:
        upgrade_database(url)
    message = str(err.value)
    assert "s3cr3t-pw" not in message
    assert "***" in message
    assert "127.0.0.1:1" in message
    assert "s3cr3t-pw" not in repr(err.value)


def test_unsupported_and_bad_urls() -> None:
    with pytest.raises(DatabaseError, match="unsupported database"):
        make_engine("mysql://u:pw@localhost/x")
    with pytest.raises(DatabaseError, match="not a database URL"):
        make_engine("not a url")


def test_bare_postgresql_url_uses_psycopg3() -> None:
    engine = make_engine("postgresql://u:pw@127.0.0.1:1/x")
    try:
        assert engine.dialect.driver == "psycopg"
        assert engine.pool.__class__.__name__ == "QueuePool"
    finally:
        engine.dispose()


def test_no_create_all_in_the_source() -> None:
    src = Path(citywatch.__file__).resolve().parent
    offenders = [p for p in src.rglob("*.py") if "create_all(" in p.read_text(encoding="utf-8")]
    assert offenders == []


def test_env_var_url_is_read_by_env_py(tmp_path: Path) -> None:
    # The development path: `alembic -c src/citywatch/store/alembic.ini upgrade head`.
    url = f"sqlite:///{tmp_path / 'dev.db'}"
    from alembic.config import Config

    cfg = Config(str(MIGRATIONS_DIR.parent / "alembic.ini"))
    old = os.environ.get("CITYWATCH_DATABASE_URL")
    os.environ["CITYWATCH_DATABASE_URL"] = url
    try:
        command.upgrade(cfg, "head")
    finally:
        if old is None:
            del os.environ["CITYWATCH_DATABASE_URL"]
        else:
            os.environ["CITYWATCH_DATABASE_URL"] = old
    engine = make_engine(url)
    try:
        assert current_revision(engine) == "0013"
    finally:
        engine.dispose()
