"""The credential and CSRF checks of ``api/security.py``, exactly (issue 21, mutation testing),
against the real app: every 401 says why and asks for a bearer token, a console session
slides by the server's own idle setting, CSRF tokens in multipart forms count, and a CSRF
"token" sent as a file is refused, not a server error."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated

import pytest
from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from citywatch.api.security import (
    SESSION_COOKIE,
    Permission,
    Principal,
    Role,
    RouteEntry,
    app_routes,
    requires,
    route_permission,
)
from citywatch.api.settings import ApiSettings
from citywatch.store.models import WebSessionRow
from tests.api.conftest import Login

ME = "/api/v1/auth/me"
LOGOUT = "/api/v1/auth/logout"
IDLE = dt.timedelta(minutes=10)  # not the default (one hour): the app's own setting must count


@pytest.fixture
def api_settings() -> ApiSettings:
    return ApiSettings(max_failed_logins=3, session_idle=IDLE)


def _refused(r: object, detail: str) -> None:
    assert getattr(r, "status_code", None) == 401
    assert r.json() == {"detail": detail}  # type: ignore[attr-defined]
    assert r.headers["www-authenticate"] == "Bearer"  # type: ignore[attr-defined]


def test_every_401_says_why_and_asks_for_a_bearer_token(
    client: TestClient,
    login: Callable[[TestClient, Role], Login],
    api_sessions: sessionmaker[Session],
) -> None:
    _refused(client.get(ME), "sign in or send an API token")
    bad_header = "Authorization header: expected 'Bearer <token>'"
    for value in ("Basic YWxpY2U6cHc=", "Bearer ", "Bearer    ", "Token abc"):
        _refused(client.get(ME, headers={"Authorization": value}), bad_header)
    _refused(
        client.get(ME, headers={"Authorization": "Bearer cwt_unknown"}),
        "the API token is unknown, expired or revoked",
    )
    # the scheme is case-insensitive, the token is taken without surrounding blanks
    _refused(
        client.get(ME, headers={"Authorization": "bearer  cwt_unknown "}),
        "the API token is unknown, expired or revoked",
    )
    login(client, Role.OPERATOR)
    with api_sessions() as s:
        row = s.scalars(select(WebSessionRow)).one()
        row.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        s.commit()
    _refused(client.get(ME), "the session has expired: sign in again")


def test_a_token_is_tried_before_the_session_cookie(
    client: TestClient,
    login: Callable[[TestClient, Role], Login],
    bearer: Callable[[Role], dict[str, str]],
) -> None:
    login(client, Role.OPERATOR)
    r = client.get(ME, headers=bearer(Role.AUDITOR))
    assert r.status_code == 200 and r.json()["role"] == "auditor"
    assert r.json()["name"].startswith("token:auditor-token-")
    # a broken token is refused even with a good session cookie beside it
    r = client.get(ME, headers={"Authorization": "Bearer cwt_unknown"})
    assert r.status_code == 401
    assert client.get(ME).json()["role"] == "operator"


def test_a_session_slides_by_the_server_s_idle_setting(
    client: TestClient,
    login: Callable[[TestClient, Role], Login],
    api_sessions: sessionmaker[Session],
) -> None:
    login(client, Role.AUDITOR)
    hour = dt.timedelta(hours=1)
    with api_sessions() as s:  # seen an hour ago, alive for a while yet: the next use slides it
        row = s.scalars(select(WebSessionRow)).one()
        row.created_at -= hour
        row.last_seen_at -= hour
        row.expires_at = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
        s.commit()
    before = dt.datetime.now(dt.UTC)
    assert client.get(ME).status_code == 200
    after = dt.datetime.now(dt.UTC)
    with api_sessions() as s:
        expires = s.scalars(select(WebSessionRow)).one().expires_at.replace(tzinfo=dt.UTC)
    assert before + IDLE <= expires <= after + IDLE


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.ADMIN], ids=lambda r: r.value)
def test_a_csrf_token_in_a_multipart_form_counts(
    client: TestClient, login: Callable[[TestClient, Role], Login], role: Role
) -> None:
    who = login(client, role)
    wrong = client.post(LOGOUT, files={"csrf_token": (None, who.csrf + "x")})
    assert (wrong.status_code, wrong.json()) == (403, {"detail": "CSRF token missing or wrong"})
    assert client.get(ME).status_code == 200  # still signed in
    ok = client.post(LOGOUT, files={"csrf_token": (None, who.csrf)})
    assert ok.status_code == 204
    assert client.get(ME).status_code == 401


def test_a_csrf_token_sent_as_a_file_or_missing_is_refused(
    client: TestClient, login: Callable[[TestClient, Role], Login]
) -> None:
    who = login(client, Role.OPERATOR)
    as_file = client.post(
        LOGOUT, files={"csrf_token": ("csrf.txt", who.csrf.encode(), "text/plain")}
    )
    assert (as_file.status_code, as_file.json()) == (403, {"detail": "CSRF token missing or wrong"})
    for body in ({"data": {"other": who.csrf}}, {"content": who.csrf.encode()}):
        r = client.post(LOGOUT, **body)
        assert (r.status_code, r.json()) == (403, {"detail": "CSRF token missing or wrong"})
    assert client.cookies.get(SESSION_COOKIE)
    assert client.get(ME).status_code == 200


def _who(principal: Annotated[Principal | None, Depends(requires(Permission.ALERTS_READ))]) -> str:
    return principal.name if principal else ""


def test_route_permission_finds_a_nested_declaration_and_refuses_two() -> None:
    """The route walk must see a permission declared inside another dependency, and a route
    that declares two different permissions is named as a mistake (the real app has neither
    case, so a small app of its own shows them)."""
    app = FastAPI()

    @app.get("/nested")
    def nested(who: Annotated[str, Depends(_who)]) -> str:
        return who

    @app.get("/two")
    def two(
        _a: Annotated[Principal | None, Depends(requires(Permission.CAMERAS_READ))],
        who: Annotated[str, Depends(_who)],
    ) -> str:
        return who

    @app.get("/none")
    def none() -> str:
        return ""

    routes = {r.path: r for r in app.routes if isinstance(r, APIRoute)}
    assert route_permission(routes["/nested"]) is Permission.ALERTS_READ
    assert route_permission(routes["/none"]) is None
    assert route_permission(object()) is None  # no dependant at all: not a route
    with pytest.raises(ValueError) as err:
        route_permission(routes["/two"])
    assert str(err.value) == "route /two declares several permissions: alerts.read, cameras.read"
    with pytest.raises(ValueError, match=r"^route /two declares"):
        app_routes(app)
    app.router.routes = [r for r in app.router.routes if getattr(r, "path", "") != "/two"]
    found = {e.path: e for e in app_routes(app) if e.path in ("/nested", "/none")}
    assert found["/nested"] == RouteEntry(
        "/nested", frozenset({"GET"}), Permission.ALERTS_READ, True
    )
    assert found["/none"] == RouteEntry("/none", frozenset({"GET"}), None, True)


def test_a_refused_console_page_still_knows_who_asked(
    client: TestClient, login: Callable[[TestClient, Role], Login]
) -> None:
    """The error page reads the principal the permission check found for this request."""
    who = login(client, Role.OPERATOR)
    r = client.get("/audit", headers={"Accept": "text/html"})
    assert r.status_code == 403
    assert (
        f'<span class="who"><span>{who.user.name}</span><span class="role">operator</span>'
        in r.text
    )


def test_requires_takes_a_permission_only() -> None:
    with pytest.raises(TypeError) as err:
        requires("alerts.read")  # type: ignore[arg-type]
    assert str(err.value) == "requires(): expected a Permission, got 'alerts.read'"


def test_a_403_names_the_role_and_the_permission_it_lacks(
    client: TestClient, bearer: Callable[[Role], dict[str, str]]
) -> None:
    r = client.get("/api/v1/users", headers=bearer(Role.OPERATOR))
    assert (r.status_code, r.json()) == (
        403,
        {"detail": "role 'operator' lacks permission 'users.manage'"},
    )


def test_a_route_declared_now_refuses_a_role_without_its_permission(
    api_sessions: sessionmaker[Session], bearer: Callable[[Role], dict[str, str]]
) -> None:
    """``requires`` called at run time (the real app's routes call it when their modules are
    imported), against the real database and tokens."""
    app = FastAPI()
    app.state.sessions = api_sessions

    @app.get("/users-only")
    def users_only(
        who: Annotated[Principal | None, Depends(requires(Permission.USERS_MANAGE))],
    ) -> str:
        return who.name if who else ""

    with TestClient(app) as client:
        refused = client.get("/users-only", headers=bearer(Role.OPERATOR))
        assert (refused.status_code, refused.json()) == (
            403,
            {"detail": "role 'operator' lacks permission 'users.manage'"},
        )
        ok = client.get("/users-only", headers=bearer(Role.ADMIN))
        assert ok.status_code == 200 and ok.json().startswith("token:admin-token-")
        _refused(client.get("/users-only"), "sign in or send an API token")
