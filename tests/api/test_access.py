"""The access window over HTTP: the seeded reads (2025-06) are far older than 90 days, so an
investigator sees them only after a supervisor approved a request for the case."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from citywatch.api.security import Role
from tests.api.conftest import Login
from tests.api.routes_support import Headers, audit_rows, headers, seeded

__all__ = ["headers", "seeded"]

CASE = "CASE-2025-0099"
SEARCH = "/api/v1/search/plates"
REQUESTS = "/api/v1/access-requests"
PERIOD = {"reads_from": "2025-05-01T00:00:00Z", "reads_until": "2025-07-01T00:00:00Z"}


def _search(client: TestClient, auth: dict[str, str], **body: Any) -> Any:
    return client.post(SEARCH, json={"case_ref": CASE, "pattern": "*123*", **body}, headers=auth)


def _plates(r: Any) -> list[str]:
    assert r.status_code == 200, r.text
    return [p["plate"] for p in r.json()["items"]]


def test_old_reads_need_an_approved_request(
    client: TestClient,
    headers: Headers,
    bearer: Callable[[Role], dict[str, str]],
    login: Callable[[TestClient, Role], Login],
    seeded: dict[str, int],
    api_sessions: sessionmaker[Session],
) -> None:
    inv = headers(Role.INVESTIGATOR)
    snapshot = f"{SEARCH}/{seeded['hit_read']}/snapshot.jpg"
    # without approval: withheld, and refused when asked for explicitly
    assert _plates(_search(client, inv)) == []
    refused = _search(client, inv, since="2025-05-01T00:00:00Z")
    assert refused.status_code == 403 and "access window" in refused.json()["detail"]
    assert client.get(snapshot, params={"case_ref": CASE}, headers=inv).status_code == 403

    # the investigator asks; neither they nor a supervisor-less role can approve
    created = client.post(
        REQUESTS, json={"case_ref": CASE, "reason": "hit-and-run, June", **PERIOD}, headers=inv
    )
    assert created.status_code == 201, created.text
    request = created.json()
    assert (request["status"], request["expires_at"]) == ("pending", None)
    approve = f"{REQUESTS}/{request['id']}/approve"
    for role in (Role.INVESTIGATOR, Role.ADMIN, Role.AUDITOR, Role.OPERATOR):
        assert client.post(approve, json={"reason": "ok"}, headers=headers(role)).status_code == 403
    assert client.post(REQUESTS, json={"case_ref": CASE, "reason": "x", **PERIOD},
                       headers=headers(Role.SUPERVISOR)).status_code == 403  # fmt: skip
    assert _search(client, inv, since="2025-05-01T00:00:00Z").status_code == 403

    # a supervisor (a console session, with its CSRF token) approves
    supervisor = login(client, Role.SUPERVISOR)
    queue = client.get(f"{REQUESTS}/queue").json()
    assert [r["id"] for r in queue["items"]] == [request["id"]]
    ok = client.post(approve, json={"reason": "proportionate"}, headers=supervisor.headers)
    assert ok.status_code == 200, ok.text
    assert ok.json()["status"] == "approved" and ok.json()["decided_by"] == supervisor.user.name
    again = client.post(approve, json={"reason": "twice"}, headers=supervisor.headers)
    assert again.status_code == 403 and "already approved" in again.json()["detail"]
    client.cookies.clear()

    # now the investigator sees the reads of that period, for that case
    assert _plates(_search(client, inv, since="2025-05-01T00:00:00Z")) == ["ZG123XY", "AB123CD"]
    fuzzy = _search(client, inv, pattern="AB128CD", fuzzy=True)
    assert [(p["plate"], p["distance"]) for p in fuzzy.json()["items"]] == [("AB123CD", 1)]
    r = client.get(snapshot, params={"case_ref": CASE}, headers=inv)
    assert r.status_code == 200 and r.content[:3] == b"\xff\xd8\xff"
    # ... but another investigator does not, nor the same one for another case
    other = bearer(Role.INVESTIGATOR)
    assert _search(client, other, since="2025-05-01T00:00:00Z").status_code == 403
    assert _plates(_search(client, inv, case_ref="CASE-OTHER")) == []
    mine = client.get(REQUESTS, headers=inv).json()
    assert [(x["id"], x["status"]) for x in mine["items"]] == [(request["id"], "approved")]
    assert client.get(REQUESTS, headers=other).json()["items"] == []

    actions = [e.action for e in audit_rows(api_sessions)]
    assert actions.count("plate_read.access_denied") == 4
    assert {"access_request.create", "access_request.approve", "access_request.refused"} <= set(
        actions
    )
    [approved] = audit_rows(api_sessions, "access_request.approve")
    assert approved.actor == supervisor.user.name and approved.reason == "proportionate"


def test_a_denied_request_opens_nothing(
    client: TestClient, headers: Headers, seeded: dict[str, int]
) -> None:
    inv = headers(Role.INVESTIGATOR)
    created = client.post(
        REQUESTS, json={"case_ref": CASE, "reason": "fishing", **PERIOD}, headers=inv
    ).json()
    sup = headers(Role.SUPERVISOR)
    denied = client.post(f"{REQUESTS}/{created['id']}/deny", json={"reason": "no"}, headers=sup)
    assert denied.status_code == 200 and denied.json()["status"] == "denied"
    assert _search(client, inv, since="2025-05-01T00:00:00Z").status_code == 403
    assert client.get(f"{REQUESTS}/queue", headers=sup).json()["items"] == []
    every = client.get(f"{REQUESTS}/queue", params={"status": "denied"}, headers=sup).json()
    assert [x["id"] for x in every["items"]] == [created["id"]]
    missing = client.post(f"{REQUESTS}/999/approve", json={"reason": "x"}, headers=sup)
    assert missing.status_code == 404


def test_a_request_inside_the_window_is_refused(client: TestClient, headers: Headers) -> None:
    r = client.post(
        REQUESTS,
        json={
            "case_ref": CASE,
            "reason": "recent",
            "reads_from": "2099-01-01T00:00:00Z",
            "reads_until": "2099-02-01T00:00:00Z",
        },
        headers=headers(Role.INVESTIGATOR),
    )
    assert r.status_code == 400 and "no request needed" in r.json()["detail"]
