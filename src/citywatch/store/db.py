"""Engines, sessions and migrations.

The schema is created and upgraded by Alembic only (:func:`upgrade_database`); nothing in a
production path calls ``create_all``.  The migration scripts ship inside the package, so this
works from an installed wheel as well as from the repository.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 10_000
MIGRATION_LOCK_KEY = int.from_bytes(b"cwmigrat", "big") >> 1  # fits a signed bigint


class DatabaseError(RuntimeError):
    """The database could not be reached or prepared; the message names it (password hidden)."""


def redact_url(url: str | URL) -> str:
    """The URL with its password replaced by ``***`` (safe for logs and errors)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


def _parse(url: str | URL) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseError(f"not a database URL: {redact_url(url)}") from None
    # A bare postgresql:// would pick psycopg2, which is not installed: use psycopg 3.
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    try:
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA synchronous=NORMAL")
    finally:
        cur.close()


def make_engine(url: str | URL, *, pool_size: int = 5, max_overflow: int = 10) -> Engine:
    """An engine for SQLite (file or memory) or PostgreSQL.

    SQLite: the file's folder is created; WAL, foreign keys and a busy timeout are switched on for
    every connection.  PostgreSQL: connections are checked before use (``pool_pre_ping``).
    """
    parsed = _parse(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            try:
                Path(database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise DatabaseError(
                    f"cannot create the folder for {redact_url(parsed)}: {err.strerror}"
                ) from None
        engine = create_engine(parsed, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if backend == "postgresql":
        return create_engine(
            parsed, pool_pre_ping=True, pool_size=pool_size, max_overflow=max_overflow
        )
    raise DatabaseError(
        f"unsupported database {redact_url(parsed)}: use sqlite:///path or postgresql://..."
    )


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit (services hand rows back)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def ping(engine: Engine) -> None:
    """Raise :class:`DatabaseError` when the database cannot be reached."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as err:
        raise DatabaseError(
            f"database {redact_url(engine.url)} is unreachable: {_short(err, engine.url)}"
        ) from None


def _short(err: SQLAlchemyError, url: URL) -> str:
    """The first line of the driver's message, with the password scrubbed should it appear."""
    orig = getattr(err, "orig", None)
    lines = str(orig if orig is not None else err).strip().splitlines()
    msg = lines[0] if lines else type(err).__name__
    if url.password:
        msg = msg.replace(str(url.password), "***")
    return msg


def alembic_config(url: str | URL | None = None) -> Config:
    """A programmatic Alembic config pointing at the migrations inside the package."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        # '%' must be doubled for ConfigParser interpolation.
        full = _parse(url).render_as_string(hide_password=False)
        cfg.set_main_option("sqlalchemy.url", full.replace("%", "%%"))
    return cfg


def head_revision() -> str:
    """The newest migration shipped with this package."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise DatabaseError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (``None``: never migrated)."""
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except SQLAlchemyError as err:
        raise DatabaseError(
            f"database {redact_url(engine.url)} is unreachable: {_short(err, engine.url)}"
        ) from None


def upgrade_database(url: str | URL | Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (default: the newest) with the shipped migrations."""
    engine = url if isinstance(url, Engine) else make_engine(url)
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":  # several workers may start at once
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    except SQLAlchemyError as err:
        raise DatabaseError(
            f"cannot migrate database {redact_url(engine.url)}: {_short(err, engine.url)}"
        ) from None
    finally:
        if not isinstance(url, Engine):
            engine.dispose()
