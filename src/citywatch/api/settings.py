"""Settings of the HTTP server and its security knobs (passed to :func:`create_app`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ApiSettings:
    """How the API and console behave.  The defaults are safe for a loopback-only server."""

    #: Mark the session cookie ``Secure`` (set when served over TLS or behind a TLS proxy).
    secure_cookies: bool = False
    #: A session expires after this long without a request (sliding expiry) ...
    session_idle: dt.timedelta = dt.timedelta(hours=1)
    #: ... and at the latest this long after login.
    session_max: dt.timedelta = dt.timedelta(hours=12)
    #: Sign-ins of one name from one client address within ``lockout`` before more are
    #: refused (429) for the rest of it (another address is not affected: nobody can lock
    #: someone else out; an unknown name is counted alike) ...
    max_failed_logins: int = 5
    #: ... and that window.
    lockout: dt.timedelta = dt.timedelta(minutes=15)
    #: Failed sign-ins from one client address within ``client_window`` before that address
    #: is refused (429) for the rest of the window: password spraying across many names.
    client_max_failures: int = 20
    client_window: dt.timedelta = dt.timedelta(minutes=5)
    #: Request bodies above this many bytes are refused with 413 (uploads included).
    max_request_bytes: int = 32 * 1024 * 1024
    #: Forwarded headers (X-Forwarded-For/Proto) are trusted only from this proxy address.
    trusted_proxy: str | None = None
    #: Map tiles for the console's camera map (``{z}/{x}/{y}``); None: markers without tiles.
    map_tile_url: str | None = None
    #: Serve Swagger UI at /api/v1/docs.  Off by default: it loads its scripts from a CDN and
    #: runs an inline script, which the console's CSP forbids (openapi.json is always served).
    api_docs: bool = False

    def __post_init__(self) -> None:
        if self.session_idle <= dt.timedelta(0) or self.session_max < self.session_idle:
            raise ValueError("ApiSettings: need 0 < session_idle <= session_max")
        if self.max_failed_logins < 1:
            raise ValueError("ApiSettings: max_failed_logins must be at least 1")
        if self.lockout <= dt.timedelta(0):
            raise ValueError("ApiSettings: lockout must be positive")
        if self.client_max_failures < 1 or self.client_window <= dt.timedelta(0):
            raise ValueError("ApiSettings: client_max_failures >= 1 and a positive window")
        if self.max_request_bytes < 1024:
            raise ValueError("ApiSettings: max_request_bytes must be at least 1024")
