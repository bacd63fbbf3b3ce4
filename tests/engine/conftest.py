# The real RTSP server fixtures live with the sources tests; the engine tests reuse them.
from tests.sources.conftest import rtsp_server, rtsp_server_factory  # noqa: F401
