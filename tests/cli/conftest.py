"""A config in a temporary folder, so CLI tests never touch ./var."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from citywatch.cli.main import app

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli_config(tmp_path: Path) -> Path:
    cfg = {
        "store": {
            "database_url": f"sqlite:///{tmp_path / 'cw.db'}",
            "media_dir": str(tmp_path / "media"),
            "state_dir": str(tmp_path),
        },
        # the converted model is shared between tests: it is derived data, not state
        "models": {"cache_dir": str(REPO / "var" / "models")},
        "alerts": {"console": False},
    }
    path = tmp_path / "citywatch.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture
def run_cli(cli_config: Path):
    runner = CliRunner(env={"COLUMNS": "250"})

    def invoke(*args: str, config: Path | None = None):
        return runner.invoke(app, ["-c", str(config or cli_config), *args])

    return invoke
