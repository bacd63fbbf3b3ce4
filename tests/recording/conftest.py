from tests.store.db_fixtures import (
    actor,
    db_url,
    engine,
    media,
    pg_database_url,
    session,
    session_factory,
)

__all__ = [
    "actor",
    "db_url",
    "engine",
    "media",
    "pg_database_url",
    "session",
    "session_factory",
]
