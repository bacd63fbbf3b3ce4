"""`citywatch eval ...` and `calibrate ...` through the real `citywatch` app, on a config file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from typer.testing import CliRunner, Result

from citywatch.cli.main import app


def invoke_eval(config: Path, args: Sequence[str]) -> Result:
    """``citywatch -c CONFIG ARGS...`` in this process."""
    return CliRunner().invoke(app, ["-c", str(config), *args])
