"""A config in a temporary folder, so CLI tests never touch ./var."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from citywatch.cli.main import app
from tests.conftest import embedded_config

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli_config(tmp_path: Path) -> Path:
    cfg = embedded_config(tmp_path)
    path = tmp_path / "citywatch.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture
def run_cli(cli_config: Path):
    runner = CliRunner(env={"COLUMNS": "250"})

    def invoke(*args: str, config: Path | None = None):
        return runner.invoke(app, ["-c", str(config or cli_config), *args])

    return invoke
