"""Fixtures of the training tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def fonts_dir(shared_data: Path) -> Path:
    """The plate fonts in ../shared/data (the tests that draw plates skip without them)."""
    folder = shared_data / "plates" / "fonts"
    if not folder.is_dir():
        pytest.skip(f"plate fonts not found at {folder}")
    return folder
