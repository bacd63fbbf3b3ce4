"""The console's small pure helpers: redirects, menus, health levels, audit redaction."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from citywatch.api.console.render import format_utc, home_for, nav_for, safe_next
from citywatch.api.console.views import (
    REDACTED,
    audit_view,
    camera_health,
    details_text,
    redact_target,
    withheld_text,
)
from citywatch.audit.chain import AuditEntry
from citywatch.policy.access import Permission, Role, allowed


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/alerts/3?x=1", "/alerts/3?x=1"),
        ("/", "/"),
        (None, None),
        ("", None),
        ("alerts", None),
        ("//evil.example/", None),
        ("/\\evil.example", None),
        ("https://evil.example/", None),
        ("/ok\r\nSet-Cookie: x=1", None),
    ],
)
def test_safe_next_allows_only_paths_on_this_site(value: str | None, expected: str | None) -> None:
    assert safe_next(value) == expected


def test_menus_follow_the_policy_and_the_start_page_is_the_first_entry() -> None:
    for role in Role:
        items = nav_for(role)
        assert all(allowed(role, i.permission) for i in items)
        assert home_for(role) == (items[0].path if items else "/welcome")
    # A signed-in role without pages gets a page saying so, never the login page (a loop).
    assert home_for(Role.SCRAPER) == "/welcome"
    assert home_for(Role.SUPERVISOR) == "/access"
    assert home_for(None) == "/login"
    assert [i.permission for i in nav_for(Role.OPERATOR)] == [
        Permission.LIVE_VIEW,
        Permission.CAMERAS_READ,
    ]


@pytest.mark.parametrize(
    ("record", "state", "level"),
    [
        ({"source": {"state": "streaming"}, "worker": {"lag_s": 0.3}}, "streaming", "ok"),
        ({"source": {"state": "streaming"}, "worker": {"lag_s": 12.0}}, "streaming", "warn"),
        ({"source": {"state": "connecting"}}, "connecting", "warn"),
        ({"source": {"state": "backoff", "reconnects": 4}}, "backoff", "bad"),
        ({"source": {"state": "failed"}}, "failed", "bad"),
        ({"source": {"state": "ended"}}, "ended", "idle"),
        ({"error": "unreadable health file"}, "unknown", "idle"),
        ({"state": "streaming"}, "streaming", "ok"),  # a flat record works too
    ],
)
def test_camera_health_levels(record: dict[str, Any], state: str, level: str) -> None:
    h = camera_health(record)
    assert (h["state"], h["level"]) == (state, level)


def test_camera_health_drops_values_that_are_not_finite_numbers() -> None:
    h = camera_health(
        {"source": {"state": "streaming", "input_fps": float("nan"), "analysed_fps": True}}
    )
    assert h["input_fps"] is None and h["analysed_fps"] is None


def _entry(details: dict[str, Any], target: str = "alert:1") -> AuditEntry:
    at = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
    return AuditEntry(1, at, "inv", "investigator", "x", target, details, "CASE-1", "0", "1")


def test_audit_entries_shown_to_auditors_withhold_plates_and_names() -> None:
    view = audit_view(
        _entry(
            {
                "pattern": "BG123*",
                "normalised": "BG123*",
                "camera_id": "cam-1",
                "results": 3,
                "since": None,
                "nested": {"plate": "AB12CD", "count": 2},
                "subject": "Jane Roe",
            },
            target="plates:BG123*",
        )
    )
    assert "BG123" not in view.details and "AB12CD" not in view.details
    assert "Jane Roe" not in view.details
    assert "camera_id=cam-1" in view.details and "results=3" in view.details
    assert "since" not in view.details  # empty values are left out
    assert view.target == "plates:" + REDACTED
    assert view.reason.startswith("‹withheld #") and "CASE-1" not in view.reason


def test_free_text_is_withheld_from_the_audit_page_but_can_be_matched_up() -> None:
    """Issue 16 item 3: reasons, sources and case references can name anyone."""
    free = "car of Johnny Testperson, plate AB 123 CD, seen 2024-05-01"
    view = audit_view(
        _entry({"reason": free, "image_source": "Facebook page of J. Doe", "results": 2})
    )
    text = view.details + view.reason
    for word in ("Johnny", "AB 123", "2024-05-01", "Facebook", "CASE-1"):
        assert word not in text
    assert "results=2" in view.details and "‹withheld #" in view.details
    # The same text gets the same tag, another text another one; empty stays empty.
    assert withheld_text(free) == withheld_text(free + " ") != withheld_text("other")
    assert withheld_text("") == withheld_text(None) == ""


def test_details_text_and_targets_without_personal_data_are_kept() -> None:
    assert details_text({"b": [1, 2], "a": "x", "c": None}) == "a=x · b=[1,2]"
    assert redact_target("alert:7") == "alert:7"


def test_format_utc() -> None:
    assert format_utc(
        dt.datetime(2024, 5, 1, 14, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    ) == ("2024-05-01 12:00:00 UTC")
    assert format_utc(None) == ""
