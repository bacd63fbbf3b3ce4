"""The FastAPI application: REST under ``/api/v1``, the console at ``/``, metrics at ``/metrics``.

Built by :func:`create_app` from explicit dependencies (config, session factory, event hub,
health callback, settings); nothing lives at module level, so tests and ``citywatch serve``
each build their own app.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.routing import iter_route_contexts
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException

from citywatch.alerts.dispatcher import Dispatcher
from citywatch.api.console import duty_pages, pages, playback_page, public_pages
from citywatch.api.hub import EventHub
from citywatch.api.middleware import (
    SWAGGER_CSP,
    BodyLimit,
    SecurityHeaders,
    content_security_policy,
)
from citywatch.api.routes import (
    access,
    alerts,
    auth,
    cameras,
    events,
    health,
    lists,
    metrics,
    playback,
    public,
    recordings,
    search,
    uploads,
    users,
)
from citywatch.api.security import SESSION_COOKIE, Permission, app_routes, requires
from citywatch.api.settings import ApiSettings
from citywatch.audit.keys import AuditKey
from citywatch.config.root import CitywatchConfig
from citywatch.services.common import NotFoundError, PermissionDenied, ServiceError
from citywatch.store.media import MediaStore, MediaWriteError
from citywatch.vision.record import FloatArray, ImageBGR

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
OPENAPI_URL = f"{API_PREFIX}/openapi.json"
DOCS_URL = f"{API_PREFIX}/docs"
#: REST routers, mounted under /api/v1 (each module exposes ``router = APIRouter()``).
API_ROUTERS: tuple[APIRouter, ...] = (
    health.router,
    auth.router,
    users.router,
    cameras.router,
    alerts.router,
    search.router,
    lists.router,
    events.router,
    uploads.router,
    access.router,
    recordings.router,
    playback.router,
)
#: Mounted without the prefix (``/metrics`` for Prometheus).
ROOT_ROUTERS: tuple[APIRouter, ...] = (metrics.router, public.router, playback.public_router)
CONSOLE_DIR = Path(__file__).resolve().parent / "console"


def create_app(
    config: CitywatchConfig,
    sessions: sessionmaker[Session],
    *,
    hub: EventHub | None = None,
    health: Callable[[], dict[str, Any]] | None = None,
    settings: ApiSettings | None = None,
    media: MediaStore | None = None,
    dispatcher: Dispatcher | None = None,
    snapshots: Callable[[str], bytes | None] | None = None,
    embed_faces: Callable[[ImageBGR], FloatArray] | None = None,
    export_key: AuditKey | None = None,
) -> FastAPI:
    """The whole HTTP application.

    ``hub``: the :class:`EventHub` the platform's dispatcher feeds (a fresh one, closed with
    the app, when None).  ``health``: ``{camera_id: record}`` of camera health for the health
    and metrics routes and the dashboard.  ``dispatcher``: the platform's alert dispatcher
    (queue depths for /metrics).  ``snapshots``: ``camera_id -> JPEG`` of the latest picture.
    ``embed_faces``: the face embedder for enrolment uploads.  ``export_key``: the audit key
    that signs evidence exports of recordings.  Each is optional: the routes
    that need a missing one say so (404/503), nothing is guessed.
    """
    settings = settings or ApiSettings()
    own_hub = hub is None
    the_hub = EventHub() if hub is None else hub

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if own_hub:
            the_hub.close()

    app = FastAPI(
        title="citywatch",
        version="1",
        summary="Live watchlist and hotlist alerts under legal and human control.",
        openapi_url=None,  # served below, behind a declared (public) permission
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.config = config
    app.state.sessions = sessions
    app.state.media = media or MediaStore(config.store.media_dir)
    app.state.hub = the_hub
    app.state.health = health or (lambda: {})
    app.state.settings = settings
    app.state.dispatcher = dispatcher
    app.state.snapshots = snapshots
    app.state.embed_faces = embed_faces
    app.state.export_key = export_key

    _add_schema_routes(app, settings)
    for router in API_ROUTERS:
        app.include_router(router, prefix=API_PREFIX)
    for router in ROOT_ROUTERS:
        app.include_router(router)
    app.include_router(pages.router)
    app.include_router(duty_pages.router)
    app.include_router(playback_page.router)
    app.include_router(public_pages.router)
    app.mount("/static", StaticFiles(directory=CONSOLE_DIR / "static"), name="static")

    _add_error_handlers(app)
    tiles = _origin(settings.map_tile_url)
    csp = content_security_policy([tiles] if tiles else [])
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)
    overrides = {DOCS_URL: SWAGGER_CSP} if settings.api_docs else {}
    app.add_middleware(
        SecurityHeaders, csp=csp, hsts=settings.secure_cookies, csp_overrides=overrides
    )
    return app


def _origin(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url.replace("{", "").replace("}", ""))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"map tile URL {url!r}: expected http(s)://host/...{{z}}/{{x}}/{{y}}")
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


def _add_schema_routes(app: FastAPI, settings: ApiSettings) -> None:
    public = [Depends(requires(Permission.PUBLIC))]

    @app.get(OPENAPI_URL, include_in_schema=False, dependencies=public)
    def openapi() -> JSONResponse:
        if app.openapi_schema is None:
            app.openapi_schema = _with_security(app, app.openapi())
        return JSONResponse(app.openapi_schema)

    if settings.api_docs:

        @app.get(DOCS_URL, include_in_schema=False, dependencies=public)
        def docs() -> HTMLResponse:
            return get_swagger_ui_html(openapi_url=OPENAPI_URL, title="citywatch API")


_ERROR = {
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"detail": {"type": "string"}},
                "required": ["detail"],
            }
        }
    }
}


def _with_security(app: FastAPI, spec: dict[str, Any]) -> dict[str, Any]:
    """Document what ``requires`` does: the credentials, and 401/403 on every guarded route."""
    components = spec.setdefault("components", {})
    components.setdefault("securitySchemes", {}).update(
        {
            "bearer": {"type": "http", "scheme": "bearer", "description": "API token"},
            "session": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE},
        }
    )
    for entry in app_routes(app):
        if entry.permission in (None, Permission.PUBLIC):
            continue
        for method in entry.methods:
            op = spec.get("paths", {}).get(entry.path, {}).get(method.lower())
            if op is None:
                continue
            op["security"] = [{"bearer": []}, {"session": []}]
            perm = entry.permission.value
            responses = op.setdefault("responses", {})
            responses.setdefault("401", {"description": "No valid credentials", **_ERROR})
            responses.setdefault(
                "403", {"description": f"Needs permission {perm!r} (or a CSRF token)", **_ERROR}
            )
            op.setdefault("x-permission", perm)
    return spec


def _methods_for(app: FastAPI, path: str) -> list[str]:
    methods: set[str] = set()
    for ctx in iter_route_contexts(app.routes):
        regex = getattr(ctx, "path_regex", None)
        if regex is not None and ctx.methods and regex.match(path):
            methods |= set(ctx.methods)
    return sorted(methods)


def _add_error_handlers(app: FastAPI) -> None:
    """Service errors carry safe messages; anything else is a 500 that reveals nothing."""

    async def not_found(_request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    async def denied(_request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=403)

    async def refused(_request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    async def storage_full(request: Request, exc: Exception) -> JSONResponse:
        # A full or read-only media folder is the node's fault, not the request's: 507, with
        # the reason in words and the folder (a server path) in the log only.
        assert isinstance(exc, MediaWriteError)
        log.error("%s %s: %s", request.method, request.url.path, exc)
        detail = f"the media folder cannot take the file: {exc.reason}; nothing was stored"
        return JSONResponse({"detail": detail}, status_code=507)

    async def internal(request: Request, exc: Exception) -> JSONResponse:
        ref = uuid.uuid4().hex[:12]
        log.error(
            "internal error %s on %s %s: %s",
            ref,
            request.method,
            request.url.path,
            type(exc).__name__,
            exc_info=exc,
        )
        return JSONResponse({"detail": "internal error", "reference": ref}, status_code=500)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 405:
            # Starlette names only the first matching route's methods; list every route's.
            methods = _methods_for(app, request.url.path)
            exc = StarletteHTTPException(405, exc.detail, headers={"Allow": ", ".join(methods)})
        return await http_exception_handler(request, exc)

    async def invalid(_request: Request, exc: Exception) -> JSONResponse:
        # FastAPI echoes the offending input (a whole login body, a camera URL with its
        # password) in validation errors: send where and what, never the value.
        assert isinstance(exc, RequestValidationError)
        errors = [{k: v for k, v in e.items() if k not in ("input", "ctx")} for e in exc.errors()]
        return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)

    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(NotFoundError, not_found)
    app.add_exception_handler(PermissionDenied, denied)
    app.add_exception_handler(ServiceError, refused)
    app.add_exception_handler(MediaWriteError, storage_full)
    app.add_exception_handler(Exception, internal)
