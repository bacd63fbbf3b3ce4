"""Signing in and out, lockout, CSRF, tokens — against the real app and database."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from citywatch.api.app import create_app
from citywatch.api.security import SESSION_COOKIE, Role
from citywatch.api.settings import ApiSettings
from citywatch.audit import chain
from citywatch.config.root import CitywatchConfig
from citywatch.services import users
from citywatch.store.models import ApiTokenRow, LoginAttemptRow, UserRow, WebSessionRow
from tests.api.conftest import PASSWORD, TEST_ACTOR, Login

LOGIN = "/api/v1/auth/login"
ME = "/api/v1/auth/me"


def _actions(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as s:
        return [e.action for e in chain.entries(s)]


def test_login_sets_a_strict_httponly_cookie_and_returns_csrf(
    client: TestClient, make_user: Callable[..., users.UserInfo], api_sessions
) -> None:
    user = make_user(Role.OPERATOR, "olga")
    r = client.post(LOGIN, json={"username": "olga", "password": PASSWORD})
    assert r.status_code == 200
    body = r.json()
    assert body["user"] == {"id": user.id, "name": "olga", "role": "operator"}
    assert len(body["csrf"]) >= 32
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # no TLS in this app's settings
    assert r.headers["cache-control"] == "no-store"
    me = client.get(ME).json()
    assert me["name"] == "olga" and me["kind"] == "user" and me["csrf"] == body["csrf"]
    assert "alerts.review" in me["permissions"] and "users.manage" not in me["permissions"]
    # The session id is stored hashed: the cookie value is nowhere in the database.
    secret = client.cookies[SESSION_COOKIE]
    with api_sessions() as s:
        ids = s.scalars(select(WebSessionRow.id)).all()
    assert len(ids) == 1 and secret not in ids[0]
    assert _actions(api_sessions)[-1] == "auth.login"


def test_login_accepts_a_form_too(client: TestClient, make_user) -> None:
    make_user(Role.AUDITOR, "aud")
    r = client.post(LOGIN, data={"username": "aud", "password": PASSWORD})
    assert r.status_code == 200
    assert client.get(ME).json()["role"] == "auditor"


def test_secure_cookie_under_tls(
    api_config: CitywatchConfig, api_sessions: sessionmaker[Session], make_user
) -> None:
    app = create_app(api_config, api_sessions, settings=ApiSettings(secure_cookies=True))
    make_user(Role.ADMIN, "root")
    with TestClient(app, base_url="https://testserver") as c:
        r = c.post(LOGIN, json={"username": "root", "password": PASSWORD})
        assert "Secure" in r.headers["set-cookie"]
        assert "max-age=31536000" in r.headers["strict-transport-security"]


def test_wrong_password_and_unknown_user_look_the_same(
    client: TestClient, make_user, api_sessions
) -> None:
    make_user(Role.OPERATOR, "olga")
    wrong = client.post(LOGIN, json={"username": "olga", "password": "not the password"})
    unknown = client.post(LOGIN, json={"username": "nobody", "password": "not the password"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert SESSION_COOKIE not in wrong.headers.get("set-cookie", "")
    assert client.get(ME).status_code == 401
    assert _actions(api_sessions)[-2:] == ["auth.login_failed", "auth.login_failed"]


@pytest.mark.parametrize(
    "body",
    [
        {"username": "x"},
        {"username": "", "password": "p"},
        {"username": "x", "password": "p", "extra": 1},
        ["x", "p"],
    ],
)
def test_malformed_login_is_422_without_echoing(client: TestClient, body: object) -> None:
    r = client.post(LOGIN, json=body)
    assert r.status_code == 422
    assert "p" not in r.json()["detail"].split()  # no input echoed back


def test_login_needs_json_or_a_form(client: TestClient) -> None:
    r = client.post(LOGIN, content=b"username=x", headers={"content-type": "text/plain"})
    assert r.status_code == 415


def test_lockout_after_n_failures_is_audited_and_holds(
    client: TestClient, make_user, api_sessions, api_settings: ApiSettings
) -> None:
    make_user(Role.INVESTIGATOR, "ivan")
    n = api_settings.max_failed_logins
    for _ in range(n - 1):
        r = client.post(LOGIN, json={"username": "ivan", "password": "guess guess guess"})
        assert r.status_code == 401
    r = client.post(LOGIN, json={"username": "ivan", "password": "guess guess guess"})
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) > 0
    # Even the right password is refused while locked (from this address).
    r = client.post(LOGIN, json={"username": "ivan", "password": PASSWORD})
    assert r.status_code == 429
    actions = _actions(api_sessions)
    assert actions.count("auth.lockout") == 1
    assert actions[-1] == "auth.login_failed"
    with api_sessions() as s:
        entry = next(e for e in chain.entries(s) if e.action == "auth.lockout")
        assert chain.verify(s).ok
        rows = s.scalars(select(LoginAttemptRow).where(LoginAttemptRow.scope == "account")).all()
        assert len(rows) == 1 and rows[0].locked_until is not None
        # Time passes: the window ends and the right password works again.
        past = dt.datetime.now(dt.UTC) - api_settings.lockout - dt.timedelta(seconds=1)
        rows[0].window_started = past
        rows[0].locked_until = past
        s.commit()
    assert entry.details["name"] == "ivan" and entry.details["failures"] == n
    assert client.post(LOGIN, json={"username": "ivan", "password": PASSWORD}).status_code == 200


def test_logout_ends_the_session_and_needs_csrf(
    client: TestClient, login: Callable[[TestClient, Role], Login], api_sessions
) -> None:
    who = login(client, Role.OPERATOR)
    assert client.post("/api/v1/auth/logout").status_code == 403  # no CSRF token
    r = client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": who.csrf + "x"})
    assert r.status_code == 403
    old_cookie = client.cookies[SESSION_COOKIE]
    r = client.post("/api/v1/auth/logout", headers=who.headers)
    assert r.status_code == 204
    assert 'cw_session=""' in r.headers["set-cookie"] or "Max-Age=0" in r.headers["set-cookie"]
    assert client.get(ME).status_code == 401
    # Replaying the old cookie after logout gets nothing.
    r = client.get(ME, cookies={SESSION_COOKIE: old_cookie})
    assert r.status_code == 401
    assert _actions(api_sessions)[-1] == "auth.logout"


def test_csrf_form_field_is_accepted_for_form_posts(
    client: TestClient, login: Callable[[TestClient, Role], Login]
) -> None:
    who = login(client, Role.OPERATOR)
    r = client.post("/api/v1/auth/logout", data={"csrf_token": who.csrf})
    assert r.status_code == 204


def test_safe_methods_need_no_csrf(
    client: TestClient, login: Callable[[TestClient, Role], Login]
) -> None:
    login(client, Role.ADMIN)
    assert client.get("/api/v1/users").status_code == 200


def test_session_expires_when_idle(
    client: TestClient, login: Callable[[TestClient, Role], Login], api_sessions
) -> None:
    login(client, Role.AUDITOR)
    with api_sessions() as s:
        row = s.scalars(select(WebSessionRow)).one()
        row.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        s.commit()
    assert client.get(ME).status_code == 401
    with api_sessions() as s:
        assert s.scalars(select(WebSessionRow)).all() == []  # swept


def test_disabled_user_loses_sessions_and_cannot_sign_in(
    client: TestClient, login: Callable[[TestClient, Role], Login], api_sessions
) -> None:
    who = login(client, Role.OPERATOR)
    with api_sessions() as s:
        users.disable_user(s, TEST_ACTOR, who.user.id, reason="left the team")
    assert client.get(ME).status_code == 401
    r = client.post(LOGIN, json={"username": who.user.name, "password": PASSWORD})
    assert r.status_code == 401


def test_token_roles_expiry_and_revocation(
    client: TestClient, bearer, api_sessions, login: Callable[[TestClient, Role], Login]
) -> None:
    headers = bearer(Role.INVESTIGATOR)
    me = client.get(ME, headers=headers).json()
    assert me["kind"] == "token" and me["role"] == "investigator" and me["csrf"] is None
    assert me["name"].startswith("token:")
    # Bearer tokens need no CSRF token (no cookie: a browser cannot be tricked into sending it).
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    with api_sessions() as s:
        row = s.scalars(select(ApiTokenRow)).one()
        row.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        s.commit()
    assert client.get(ME, headers=headers).status_code == 401

    fresh = bearer(Role.SCRAPER)
    assert client.get(ME, headers=fresh).status_code == 403  # a scraper has no SELF
    admin = login(client, Role.ADMIN)
    tokens = client.get("/api/v1/tokens", params={"active": True}).json()
    scraper = next(t for t in tokens if t["role"] == "scraper")
    r = client.post(f"/api/v1/tokens/{scraper['id']}/revoke", json={}, headers=admin.headers)
    assert r.status_code == 200 and r.json()["revoked_at"] is not None
    assert client.get(ME, headers=fresh).status_code == 401
    assert "token.revoke" in _actions(api_sessions)


def test_admin_manages_users_and_tokens(
    client: TestClient, login: Callable[[TestClient, Role], Login], api_sessions
) -> None:
    admin = login(client, Role.ADMIN)
    h = admin.headers
    weak = {"name": "weak", "role": "operator", "password": "short"}
    assert client.post("/api/v1/users", json=weak, headers=h).status_code == 422
    new = {"name": "otto", "role": "operator", "password": "a long enough secret"}
    r = client.post("/api/v1/users", json=new, headers=h)
    assert r.status_code == 201
    otto = r.json()
    assert set(otto) == {
        "id",
        "name",
        "role",
        "disabled",
        "created_at",
        "locked_until",
        "pending_activation",
        "created_by",
        "activated_by",
    }
    assert client.post("/api/v1/users", json=new, headers=h).status_code == 409  # duplicate
    listed = client.get("/api/v1/users", params={"role": "operator"}).json()
    assert [u["name"] for u in listed] == ["otto"]
    r = client.post(f"/api/v1/users/{otto['id']}/disable", json={"reason": "test"}, headers=h)
    assert r.status_code == 200 and r.json()["disabled"] is True
    assert client.post("/api/v1/users/999/disable", json={}, headers=h).status_code == 404
    # The last enabled administrator cannot be disabled.
    r = client.post(f"/api/v1/users/{admin.user.id}/disable", json={}, headers=h)
    assert r.status_code == 409

    r = client.post("/api/v1/tokens", json={"name": "prom", "role": "scraper", "expires_days": 30})
    assert r.status_code == 403  # CSRF
    r = client.post(
        "/api/v1/tokens",
        json={"name": "cctv-bridge", "role": "operator", "expires_days": 30},
        headers=h,
    )
    assert r.status_code == 403  # an operator token could do what an admin may not
    r = client.post(
        "/api/v1/tokens",
        json={"name": "prom", "role": "scraper", "expires_days": 30},
        headers=h,
    )
    assert r.status_code == 201
    secret = r.json()["secret"]
    assert secret.startswith("cwt_")
    too_long = {"name": "x", "role": "operator", "expires_days": 366}
    assert client.post("/api/v1/tokens", json=too_long, headers=h).status_code == 422
    no_expiry = {"name": "x", "role": "operator"}
    assert client.post("/api/v1/tokens", json=no_expiry, headers=h).status_code == 422
    listing = client.get("/api/v1/tokens").text
    assert secret not in listing and "token_hash" not in listing
    actions = _actions(api_sessions)
    for action in ("user.create", "user.disable", "user.list", "token.create", "token.list"):
        assert action in actions


def test_passwords_and_secrets_never_in_responses_or_logs(
    client: TestClient,
    login: Callable[[TestClient, Role], Login],
    api_sessions,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    admin = login(client, Role.ADMIN)
    password = "Zebra-Quartz-Unique-0042"
    seen: list[str] = []
    r = client.post(
        "/api/v1/users",
        json={"name": "pam", "role": "auditor", "password": password},
        headers=admin.headers,
    )
    seen.append(r.text)
    seen.append(client.post(LOGIN, json={"username": "pam", "password": password + "!"}).text)
    seen.append(client.post(LOGIN, json={"username": password, "password": password}).text)
    r = client.post(LOGIN, json={"username": "pam", "password": password})
    seen.append(r.text)
    seen.append(client.get(ME).text)
    seen.append(client.get("/api/v1/users").text)
    cookie = client.cookies[SESSION_COOKIE]
    with api_sessions() as s:
        audit = " ".join(f"{e.target} {e.details} {e.reason}" for e in chain.entries(s))
        stored = s.scalars(select(UserRow.password_hash).where(UserRow.name == "pam")).one()
    assert stored.startswith("$argon2id$")
    for text in (*seen, audit, caplog.text):
        assert password not in text
        assert cookie not in text
        assert stored not in text


def test_security_headers_on_every_kind_of_response(client: TestClient) -> None:
    for r in (client.get(ME), client.get("/api/v1/openapi.json"), client.get("/nope")):
        csp = r.headers["content-security-policy"]
        assert "script-src 'self';" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"


def test_openapi_is_served_and_lists_the_auth_routes(client: TestClient) -> None:
    spec = client.get("/api/v1/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    assert {"/api/v1/auth/login", "/api/v1/auth/me", "/api/v1/users"} <= set(spec["paths"])
    assert client.get("/api/v1/docs").status_code == 404  # Swagger UI is opt-in (CDN)


def test_oversized_bodies_are_refused(
    api_config: CitywatchConfig, api_sessions: sessionmaker[Session]
) -> None:
    app = create_app(api_config, api_sessions, settings=ApiSettings(max_request_bytes=2048))
    with TestClient(app) as c:
        big = {"username": "x" * 5000, "password": "y"}
        assert c.post(LOGIN, json=big).status_code == 413

        def chunks():  # no Content-Length: counted while streaming
            for _ in range(10):
                yield b"x" * 1024

        r = c.post(LOGIN, content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413


def test_internal_errors_reveal_nothing(api_app: FastAPI) -> None:
    from fastapi import Depends

    from citywatch.api.security import Permission, requires

    @api_app.get("/api/v1/boom", dependencies=[Depends(requires(Permission.PUBLIC))])
    def boom() -> None:
        raise RuntimeError("secret-db-password in a stack trace")

    with TestClient(api_app, raise_server_exceptions=False) as c:
        r = c.get("/api/v1/boom")
    assert r.status_code == 500
    assert "secret" not in r.text and "RuntimeError" not in r.text
    assert r.json()["detail"] == "internal error"


def test_one_address_guessing_across_names_is_throttled(
    api_config: CitywatchConfig, api_sessions: sessionmaker[Session], make_user
) -> None:
    settings = ApiSettings(client_max_failures=3, max_failed_logins=10)
    app = create_app(api_config, api_sessions, settings=settings)
    make_user(Role.OPERATOR, "olga")
    with TestClient(app) as c:
        for name in ("anna", "bert", "carl"):
            r = c.post(LOGIN, json={"username": name, "password": "Summer2025!!"})
            assert r.status_code == 401
        r = c.post(LOGIN, json={"username": "olga", "password": PASSWORD})
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0


def test_a_malformed_login_never_echoes_the_password(client) -> None:
    # a body with the password but a mistyped name field: FastAPI would echo the whole body
    r = client.post("/api/v1/auth/login", json={"usernme": "ops", "password": "s3cret-Pa55word!"})
    assert r.status_code == 422
    assert "s3cret-Pa55word!" not in r.text


def test_validation_errors_never_echo_input_on_any_route(client, login) -> None:
    session = login(client, "admin")
    body = {"name": "ops-2", "role": "operator", "password": "an0ther-Secret-pw"}
    body.pop("name")
    r = client.post("/api/v1/users", json=body, headers=session.headers)
    assert r.status_code == 422
    assert "an0ther-Secret-pw" not in r.text
    assert all("input" not in e for e in r.json()["detail"])


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({"Origin": "https://evil.example"}, 403),
        ({"Origin": "null"}, 403),
        ({"Sec-Fetch-Site": "cross-site"}, 403),
        ({"Sec-Fetch-Site": "same-site"}, 403),
        ({"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}, 200),
        ({"Sec-Fetch-Site": "none"}, 200),
        ({}, 200),  # not a browser (curl, scripts): nothing to forge
    ],
)
def test_login_csrf_cross_site_form_posts_are_refused(
    client: TestClient, make_user, headers: dict[str, str], code: int
) -> None:
    make_user(Role.OPERATOR, "olga")
    r = client.post(LOGIN, data={"username": "olga", "password": PASSWORD}, headers=headers)
    assert r.status_code == code
    assert (SESSION_COOKIE in r.headers.get("set-cookie", "")) is (code == 200)
