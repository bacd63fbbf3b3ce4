"""Separation of duties through the real app (issue 16 item 2): one administrator alone can
neither mint a searching token, nor make a searching or approving account that works, nor
have their own (or their token's) access request approved by someone they control."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from citywatch.audit import chain
from citywatch.audit.chain import Actor
from citywatch.policy.access import Role
from citywatch.services import tokens, users
from tests.api.conftest import PASSWORD, Login

LOGIN = "/api/v1/auth/login"
NEW_PW = "a long enough secret"


def _sign_in(client: TestClient, name: str, password: str = PASSWORD) -> Login | int:
    r = client.post(LOGIN, json={"username": name, "password": password})
    if r.status_code != 200:
        return r.status_code
    me = client.get("/api/v1/auth/me").json()
    info = users.UserInfo(me["id"], me["name"], me["role"], False, dt.datetime.now(dt.UTC))
    return Login(info, r.json()["csrf"])


def _sign_out(client: TestClient, who: Login) -> None:
    assert client.post("/api/v1/auth/logout", headers=who.headers).status_code == 204


def test_an_admin_mints_no_token_that_searches_or_approves(
    client: TestClient, login: Callable[[TestClient, Role], Login]
) -> None:
    admin = login(client, Role.ADMIN)
    for role in ("investigator", "supervisor", "operator", "auditor"):
        body = {"name": f"t-{role}", "role": role, "expires_days": 1}
        r = client.post("/api/v1/tokens", json=body, headers=admin.headers)
        assert r.status_code == 403, role
        assert "may not issue" in r.json()["detail"]
    body = {"name": "t-admin", "role": "admin", "expires_days": 1}
    assert client.post("/api/v1/tokens", json=body, headers=admin.headers).status_code == 201


def test_a_searching_account_waits_for_a_second_admin(
    client: TestClient,
    make_user: Callable[..., users.UserInfo],
    api_sessions: sessionmaker[Session],
) -> None:
    make_user(Role.ADMIN, "anna")
    make_user(Role.ADMIN, "bert")
    anna = _sign_in(client, "anna")
    assert isinstance(anna, Login)
    body = {"name": "ivan", "role": "investigator", "password": NEW_PW}
    r = client.post("/api/v1/users", json=body, headers=anna.headers)
    assert r.status_code == 201
    ivan = r.json()
    assert ivan["pending_activation"] is True and ivan["created_by"] == "anna"
    # An operator account is active at once (it neither searches nor approves).
    body = {"name": "olga", "role": "operator", "password": NEW_PW}
    assert (
        client.post("/api/v1/users", json=body, headers=anna.headers).json()["pending_activation"]
        is False
    )
    # Anna cannot activate what she made, nor through an admin token she issued.
    r = client.post(f"/api/v1/users/{ivan['id']}/activate", json={}, headers=anna.headers)
    assert r.status_code == 403 and "second administrator" in r.json()["detail"]
    r = client.post(
        "/api/v1/tokens",
        json={"name": "annas", "role": "admin", "expires_days": 1},
        headers=anna.headers,
    )
    token = {"Authorization": f"Bearer {r.json()['secret']}"}
    _sign_out(client, anna)
    r = client.post(f"/api/v1/users/{ivan['id']}/activate", json={}, headers=token)
    assert r.status_code == 403
    # Nor does a supervisor made by her token get past the rule.
    body = {"name": "sven", "role": "supervisor", "password": NEW_PW}
    sven = client.post("/api/v1/users", json=body, headers=token).json()
    assert sven["pending_activation"] is True and sven["created_by"] == "token:annas"
    # The waiting account cannot sign in (and says why only to the right password).
    assert client.post(LOGIN, json={"username": "ivan", "password": NEW_PW}).status_code == 403
    assert (
        client.post(LOGIN, json={"username": "ivan", "password": "wrong wrong wrong"}).status_code
        == 401
    )
    bert = _sign_in(client, "bert")
    assert isinstance(bert, Login)
    r = client.post(
        f"/api/v1/users/{ivan['id']}/activate", json={"reason": "ticket 7"}, headers=bert.headers
    )
    assert r.status_code == 200 and r.json()["activated_by"] == "bert"
    r = client.post(f"/api/v1/users/{ivan['id']}/activate", json={}, headers=bert.headers)
    assert r.status_code == 409  # nothing to activate
    _sign_out(client, bert)
    assert isinstance(_sign_in(client, "ivan", NEW_PW), Login)
    with api_sessions() as s:
        actions = [e.action for e in chain.entries(s)]
    assert actions.count("user.activate") == 1 and actions.count("user.activate_refused") == 3


def test_the_cli_activates_at_once(api_sessions: sessionmaker[Session]) -> None:
    cli = Actor("cli:root", "admin")
    with api_sessions() as s:
        u = users.create_user(s, cli, "ivan", "investigator", PASSWORD, on_server=True)
        assert u.pending_activation is False
        waiting = users.create_user(s, cli, "sven", "supervisor", PASSWORD)
        assert waiting.pending_activation is True
        assert users.activate_user(s, cli, waiting.id, on_server=True).activated_by == "cli:root"


def _file_request(client: TestClient, headers: dict[str, str]) -> int:
    now = dt.datetime.now(dt.UTC)
    body = {
        "case_ref": "CASE-1",
        "reason": "burglary",
        "reads_from": (now - dt.timedelta(days=400)).isoformat(),
        "reads_until": (now - dt.timedelta(days=399)).isoformat(),
    }
    r = client.post("/api/v1/access-requests", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def test_nobody_approves_a_request_their_own_token_filed(
    client: TestClient,
    make_user: Callable[..., users.UserInfo],
    api_sessions: sessionmaker[Session],
) -> None:
    # Sam runs the server's CLI and is a supervisor as well; he issued an investigator token.
    with api_sessions() as s:
        new = tokens.create_token(
            s, Actor("sam", "admin"), "bridge", "investigator", expires_days=1, on_server=True
        )
    token = {"Authorization": f"Bearer {new.secret}"}
    request_id = _file_request(client, token)
    make_user(Role.SUPERVISOR, "sam")
    make_user(Role.SUPERVISOR, "tess")
    sam = _sign_in(client, "sam")
    assert isinstance(sam, Login)
    decision = {"reason": "looks fine"}
    url = f"/api/v1/access-requests/{request_id}/approve"
    r = client.post(url, json=decision, headers=sam.headers)
    assert r.status_code == 403 and "second person" in r.json()["detail"]
    _sign_out(client, sam)
    tess = _sign_in(client, "tess")
    assert isinstance(tess, Login)
    assert client.post(url, json=decision, headers=tess.headers).status_code == 200
