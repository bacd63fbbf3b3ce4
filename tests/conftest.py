"""Shared fixtures: where the real data lies, and how a missing service becomes a skip (or, in
CI with CITYWATCH_STRICT=1, a failure)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()


def embedded_config(tmp_path: Path, cameras: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A config (as the YAML file would hold it) for the embedded defaults inside ``tmp_path``:
    SQLite, media and state folders there, the prepared models where `citywatch models
    prepare` put them (the default ``models.cache_dir``), no console alerts."""
    cfg: dict[str, Any] = {
        "store": {
            "database_url": f"sqlite:///{tmp_path / 'cw.db'}",
            "media_dir": str(tmp_path / "media"),
            "state_dir": str(tmp_path),
        },
        "alerts": {"console": False},
    }
    if cameras is not None:
        cfg["cameras"] = cameras
    return cfg


def strict() -> bool:
    return os.environ.get("CITYWATCH_STRICT", "") == "1"


def require(condition: bool, why: str) -> None:
    """Skip (or fail under CITYWATCH_STRICT=1) when a service or system tool is missing."""
    if condition:
        return
    if strict():
        pytest.fail(f"CITYWATCH_STRICT=1 and a requirement is missing: {why}")
    pytest.skip(why)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        require(False, f"real test data not found at {SHARED_DATA}")
    return SHARED_DATA
