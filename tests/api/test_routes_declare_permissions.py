"""Walk every route of the whole app: each declares a permission, and each refuses a principal
without it (403) and a request without a principal (401, or the console's sign-in redirect).

Requests carry no parameters and no body: a 403/401 (not 422) shows that the permission check
runs before parameter validation, so a forbidden caller learns nothing about the route.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from citywatch.api.app import API_ROUTERS, ROOT_ROUTERS
from citywatch.api.security import Permission, Role, RouteEntry, allowed, app_routes
from tests.api.conftest import USER_ROLES, Login

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
MOUNTS = {"/static/{path}"}  # static files: no personal data, no permission needed
_PARAM = re.compile(r"\{([^}:]+)(?::[^}]+)?\}")


def _url(path: str) -> str:
    return _PARAM.sub("1", path)


def _endpoints(app: FastAPI) -> list[tuple[RouteEntry, str]]:
    out = []
    for entry in app_routes(app):
        if entry.is_endpoint:
            out.extend((entry, m) for m in sorted(entry.methods - {"HEAD", "OPTIONS"}))
    return out


def test_every_routes_module_is_served(api_app: FastAPI) -> None:
    import citywatch.api.routes as package

    included = {id(r) for r in (*API_ROUTERS, *ROOT_ROUTERS)}
    names = [m.name for m in pkgutil.iter_modules(package.__path__)]
    assert {"auth", "users", "health", "metrics"} <= set(names)
    for name in names:
        module = importlib.import_module(f"{package.__name__}.{name}")
        assert isinstance(module.router, APIRouter), name
        assert id(module.router) in included, f"api/routes/{name}.py is not mounted by create_app"


def test_every_route_declares_one_permission(api_app: FastAPI) -> None:
    entries = app_routes(api_app)
    missing = [
        f"{sorted(e.methods)} {e.path}" for e in entries if e.is_endpoint and e.permission is None
    ]
    assert missing == [], f"routes without Depends(requires(...)): {missing}"
    mounts = {e.path for e in entries if not e.is_endpoint}
    assert mounts <= MOUNTS, f"unexpected mounts (they bypass the permission check): {mounts}"
    paths = {e.path for e in entries}
    assert {"/api/v1/auth/login", "/api/v1/auth/me", "/api/v1/openapi.json"} <= paths


def test_public_routes_are_few_and_known(api_app: FastAPI) -> None:
    public = {e.path for e in app_routes(api_app) if e.permission is Permission.PUBLIC}
    # Adding a public route is a decision: list it here on purpose.
    allowed_public = {
        "/api/v1/openapi.json",
        "/api/v1/docs",
        "/api/v1/auth/login",
        "/api/v1/health",
        "/login",
        "/public",
        "/public/register",
        "/public/register.geojson",
        "/public/register.csv",
        "/public/evidence-key.pem",  # the public key that checks evidence exports (issue 17)
    }
    assert public <= allowed_public, f"unexpected public routes: {public - allowed_public}"


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_a_role_without_the_permission_gets_403(
    api_app: FastAPI,
    client: TestClient,
    bearer: Callable[[Role], dict[str, str]],
    role: Role,
) -> None:
    headers = bearer(role)
    checked = 0
    wrong: list[str] = []
    for entry, method in _endpoints(api_app):
        perm = entry.permission
        assert perm is not None
        if allowed(role, perm):
            continue
        r = client.request(method, _url(entry.path), headers=headers)
        checked += 1
        if r.status_code != 403:
            wrong.append(f"{method} {entry.path} ({perm.value}): {r.status_code}")
    assert wrong == [], f"{role.value} was not refused with 403: {wrong}"
    assert checked > 0


def test_no_principal_gets_401_or_the_sign_in_page(api_app: FastAPI, client: TestClient) -> None:
    wrong: list[str] = []
    for entry, method in _endpoints(api_app):
        if entry.permission is Permission.PUBLIC:
            continue
        r = client.request(method, _url(entry.path), follow_redirects=False)
        api = entry.path.startswith(("/api/", "/metrics"))
        to_login = r.status_code in (302, 303, 307) and "/login" in r.headers.get("location", "")
        if not (r.status_code == 401 or (not api and to_login)):
            wrong.append(f"{method} {entry.path}: {r.status_code}")
    assert wrong == [], f"answered without a principal: {wrong}"


def test_a_broken_or_unknown_token_gets_401(api_app: FastAPI, client: TestClient) -> None:
    for value in ("Bearer cwt_not-a-real-token", "Bearer nonsense", "Basic YWxpY2U6cHc="):
        r = client.get("/api/v1/auth/me", headers={"Authorization": value})
        assert r.status_code == 401, value
        assert r.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("role", USER_ROLES, ids=lambda r: r.value)
def test_cookie_sessions_need_csrf_on_every_unsafe_route(
    api_app: FastAPI,
    client: TestClient,
    login: Callable[[TestClient, Role], Login],
    role: Role,
) -> None:
    login(client, role)
    wrong: list[str] = []
    checked = 0
    for entry, method in _endpoints(api_app):
        perm = entry.permission
        if method not in UNSAFE or perm is Permission.PUBLIC:
            continue
        assert perm is not None
        if not allowed(role, perm):
            continue
        checked += 1
        r = client.request(method, _url(entry.path), headers={"X-CSRF-Token": "forged"})
        if r.status_code != 403 or "CSRF" not in r.text:
            wrong.append(f"{method} {entry.path}: {r.status_code}")
    assert wrong == [], f"{role.value}: unsafe request without the right CSRF token: {wrong}"
    assert checked > 0  # every role may at least log out
