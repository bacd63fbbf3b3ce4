# The real RTSP server fixtures live with the sources tests; the engine tests reuse them.
from tests.sources.conftest import rtsp_server, rtsp_server_factory  # noqa: F401

# Throw-away SQLite / PostgreSQL databases (the Ray engine's event and fan-out tests).
from tests.store.db_fixtures import db_url, media, pg_database_url  # noqa: F401
