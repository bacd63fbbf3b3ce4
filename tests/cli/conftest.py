"""A config in a temporary folder, so CLI tests never touch ./var; one demo run per session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
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


@dataclass(frozen=True)
class DemoRun:
    cwd: Path  # where `citywatch demo --no-serve` ran (its commands are relative to it)
    config: Path  # the config file the demo wrote
    output: str


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    """`citywatch demo --no-serve` once for the session, run as a newcomer runs it: from a
    folder of their own, with the default --workdir."""
    cwd = tmp_path_factory.mktemp("demo")
    before = Path.cwd()
    os.chdir(cwd)
    try:
        result = CliRunner(env={"COLUMNS": "250"}).invoke(app, ["demo", "--no-serve"])
    finally:
        os.chdir(before)
    assert result.exit_code == 0, result.output
    yield DemoRun(cwd=cwd, config=cwd / "var" / "demo" / "citywatch.yaml", output=result.output)
