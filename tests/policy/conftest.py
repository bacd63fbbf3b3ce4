"""Fixtures of the policy tables."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest


@pytest.fixture
def far_east_server() -> Iterator[None]:
    """The server's clock in UTC+14, where 1 June 12:00 UTC is already 2 June (the tests
    otherwise run in UTC, where a day taken in the server's zone passes unnoticed)."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "Pacific/Kiritimati"
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()
