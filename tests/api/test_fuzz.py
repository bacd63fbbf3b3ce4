"""Schemathesis over every operation of the OpenAPI schema, in process (ASGI), bounded.

Each operation is called as every role that holds its permission (bearer tokens), on a seeded
database, with a few generated examples (valid and invalid).  Checks: no 5xx, responses match
their declared schema and content type, and no secret (a camera password, an API token) is
ever in a response.  The live event hub is closed, so the event stream ends at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import Engine

from citywatch.api.app import OPENAPI_URL, create_app
from citywatch.api.hub import EventHub
from citywatch.api.security import Permission, Role, allowed, app_routes
from citywatch.api.settings import ApiSettings
from citywatch.audit.chain import Actor
from citywatch.audit.keys import HmacKey
from citywatch.config.root import CitywatchConfig, StoreConfig
from citywatch.services import tokens as token_service
from citywatch.store.db import make_engine, make_session_factory, upgrade_database
from tests.api.routes_support import SECRET
from tests.services.helpers import fake_embed_faces, seed_alerts

MAX_EXAMPLES = 15
#: Operations whose answers are not all documented yet (core helper: login's 400 on a body
#: that is neither JSON nor a form).  Their other checks still run.
UNDOCUMENTED_STATUS = {("POST", "/api/v1/auth/login")}
SETUP = Actor("fuzz-setup", "admin")
_PARAM = re.compile(r"\{[^}]+\}")


@pytest.fixture(scope="module")
def fuzz_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    folder = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite:///{folder / 'fuzz.db'}"
    upgrade_database(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def fuzz_app(fuzz_engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    folder = Path(str(fuzz_engine.url.database)).parent
    config = CitywatchConfig(
        store=StoreConfig(
            database_url=str(fuzz_engine.url), media_dir=folder / "media", state_dir=folder
        )
    )
    sessions = make_session_factory(fuzz_engine)
    hub = EventHub()
    hub.close()  # the stream answers and ends at once
    app = create_app(config, sessions, hub=hub, settings=ApiSettings(), health=_health)
    with sessions() as session:
        seed_alerts(session, sessions, app.state.media)
    app.state.embed_faces = fake_embed_faces
    app.state.snapshots = lambda cam: b"\xff\xd8\xff\xe0jpeg" if cam == "cam-1" else None
    app.state.export_key = HmacKey(b"fuzz-export-key-" * 2, "fuzz")  # recordings export
    return app


def _health() -> dict[str, Any]:
    return {
        "cam-1": {
            "source": {
                "state": "streaming",
                "input_fps": 25.0,
                "reconnects": 1,
                "last_error": f"rtsp://viewer:{SECRET}@10.0.0.9/cam-1 timed out",
            },
            "worker": {"lag_s": 0.2, "last_latency_ms": 30.0},
            "pending_results": 0,
        }
    }


@pytest.fixture(scope="module")
def api_schema(fuzz_app: FastAPI) -> Any:
    return schemathesis.openapi.from_asgi(OPENAPI_URL, fuzz_app)


@pytest.fixture(scope="module")
def permissions(fuzz_app: FastAPI) -> dict[tuple[str, str], Permission]:
    out: dict[tuple[str, str], Permission] = {}
    for entry in app_routes(fuzz_app):
        if entry.is_endpoint and entry.permission is not None:
            for method in entry.methods:
                out[(method.upper(), _PARAM.sub("{}", entry.path))] = entry.permission
    return out


@pytest.fixture
def tokens(fuzz_app: FastAPI) -> dict[Role, str]:
    """A fresh token per role for each operation (a fuzzed revoke must not leak across)."""
    out: dict[Role, str] = {}
    with fuzz_app.state.sessions() as session:
        for role in Role:
            name = f"fuzz-{role.value}-{np.random.default_rng().integers(1 << 40)}"
            out[role] = token_service.create_token(
                session, SETUP, name, role, expires_days=1, on_server=True
            ).secret
    return out


def _secrets_never_in_responses(tokens: dict[Role, str]) -> Any:
    def no_secrets(ctx: Any, response: Any, case: Any) -> None:
        body = response.content.decode("utf-8", "replace")
        leaked = [s for s in (SECRET, *tokens.values()) if s in body]
        if leaked:
            raise AssertionError(f"a secret is in the response of {case.operation.label}")

    return no_secrets


def _operations() -> list[tuple[str, str]]:
    """Every operation of the schema, read from an app that is built but never served (the
    schema does not touch the database): one test id per operation."""
    config = CitywatchConfig(store=StoreConfig(database_url="sqlite://"))
    app = create_app(config, make_session_factory(make_engine("sqlite://")))
    paths = app.openapi()["paths"]
    return [(m.upper(), p) for p, ops in paths.items() for m in ops if m != "parameters"]


@pytest.mark.parametrize(("method", "path"), _operations(), ids=lambda v: str(v))
def test_api_fuzz(
    method: str,
    path: str,
    api_schema: Any,
    permissions: dict[tuple[str, str], Permission],
    tokens: dict[Role, str],
) -> None:
    permission = permissions[(method, _PARAM.sub("{}", path))]
    roles = (
        [r for r in Role if allowed(r, permission)] if permission is not Permission.PUBLIC else []
    )
    credentials = [{"Authorization": f"Bearer {tokens[r]}"} for r in roles] or [{}]
    checks = [
        not_a_server_error,
        response_schema_conformance,
        content_type_conformance,
        _secrets_never_in_responses(tokens),
    ]
    if (method, path) not in UNDOCUMENTED_STATUS:
        checks.append(status_code_conformance)
    operation = api_schema[path][method]
    strategy = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )

    @given(case=strategy)
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: Any) -> None:
        for headers in credentials:
            case.call_and_validate(headers=headers, checks=checks)

    fuzz()
