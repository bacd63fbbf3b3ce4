"""Camera sources: PyAV readers (RTSP, HTTP, files) with sampling, reconnects and health."""

from citywatch.sources.backoff import Backoff
from citywatch.sources.health import CameraHealth, HealthTracker, SourceState
from citywatch.sources.pyav import CameraSource, SourceError
from citywatch.sources.redact import redact_text, redact_url

__all__ = [
    "Backoff",
    "CameraHealth",
    "CameraSource",
    "HealthTracker",
    "SourceError",
    "SourceState",
    "redact_text",
    "redact_url",
]
