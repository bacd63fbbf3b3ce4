"""An approved access request opens the old reads for its own case only, over HTTP: the same
old period asked for under another case reference is refused (403, not an empty answer) and the
refusal is audited under that case."""

from __future__ import annotations

import json
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from citywatch.api.security import Role
from tests.api.conftest import Login
from tests.api.routes_support import Headers, audit_rows, headers, seeded

__all__ = ["headers", "seeded"]

CASE = "CASE-2025-0099"
OLD = {"pattern": "*123*", "since": "2025-05-01T00:00:00Z"}  # the seeded reads are of 2025-06


def test_an_old_period_under_another_case_is_refused_over_http(
    client: TestClient,
    headers: Headers,
    login: Callable[[TestClient, Role], Login],
    seeded: dict[str, int],
    api_sessions: sessionmaker[Session],
) -> None:
    inv = headers(Role.INVESTIGATOR)
    period = {"reads_from": "2025-05-01T00:00:00Z", "reads_until": "2025-07-01T00:00:00Z"}
    asked = client.post(
        "/api/v1/access-requests", json={"case_ref": CASE, "reason": "June", **period}, headers=inv
    )
    assert asked.status_code == 201, asked.text
    approve = f"/api/v1/access-requests/{asked.json()['id']}/approve"
    supervisor = login(client, Role.SUPERVISOR)  # approvals come from a console session
    ok = client.post(approve, json={"reason": "proportionate"}, headers=supervisor.headers)
    assert ok.status_code == 200, ok.text
    client.cookies.clear()

    search = "/api/v1/search/plates"
    mine = client.post(search, json={"case_ref": CASE, **OLD}, headers=inv)
    assert mine.status_code == 200, mine.text
    assert [p["plate"] for p in mine.json()["items"]] == ["ZG123XY", "AB123CD"]
    other = client.post(search, json={"case_ref": "CASE-OTHER", **OLD}, headers=inv)
    assert other.status_code == 403, other.text
    assert "'CASE-OTHER' approved by a second person" in other.json()["detail"]
    [denied] = audit_rows(api_sessions, "plate_read.access_denied")
    assert (denied.reason, json.loads(denied.details)["pattern"]) == ("CASE-OTHER", "*123*")
