"""-c, --database-url and -v go before the command or after it, on every command of the real app."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import pytest
import typer
from typer.main import get_command
from typer.testing import CliRunner

from citywatch.cli.global_options import GlobalOptionsGroup
from citywatch.cli.main import app


def _leaves(group: object, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for name, cmd in getattr(group, "commands", {}).items():
        found += _leaves(cmd, (*path, name)) if hasattr(cmd, "commands") else [(*path, name)]
    return found


COMMANDS = _leaves(get_command(app))


def test_the_tree_is_walked() -> None:
    assert len(COMMANDS) >= 40
    assert ("db", "upgrade") in COMMANDS and ("serve",) in COMMANDS


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_command_takes_the_global_options_after_its_name(
    path: tuple[str, ...], tmp_path: Path
) -> None:
    after = ["-c", str(tmp_path / "c.yaml"), "--database-url", "sqlite://", "-v"]
    result = CliRunner().invoke(app, [*path, *after, "--help"])
    assert result.exit_code == 0, result.output
    assert "Global options" in result.output


def test_database_url_after_the_command_is_the_one_used(tmp_path: Path) -> None:
    db = tmp_path / "after.db"
    runner = CliRunner(env={"COLUMNS": "250"})  # the path on one line
    result = runner.invoke(app, ["db", "upgrade", "--database-url", f"sqlite:///{db}"])
    assert result.exit_code == 0, result.output
    assert db.is_file() and "after.db" in result.output


def test_config_after_the_command_is_read_and_wins_over_the_one_before(
    tmp_path: Path, cli_config: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("cameras:\n  - id: cam-1\n    fsp: 5\n")
    runner = CliRunner()
    refused = runner.invoke(app, ["hotlists", "list", "-c", str(bad)])
    assert refused.exit_code == 2 and "cameras.0.fsp: unknown key" in refused.output
    later = runner.invoke(app, ["-c", str(bad), "hotlists", "list", "--config", str(cli_config)])
    assert later.exit_code == 0, later.output


@pytest.mark.parametrize(("args", "level"), [((), logging.INFO), (("-v",), logging.DEBUG)])
def test_verbose_after_the_command(args: tuple[str, ...], level: int, cli_config: Path) -> None:
    result = CliRunner().invoke(app, ["hotlists", "list", "-c", str(cli_config), *args])
    assert result.exit_code == 0, result.output
    assert logging.getLogger().level == level
    logging.getLogger().setLevel(logging.WARNING)


def test_a_command_may_not_declare_a_global_option_itself() -> None:
    clashing = typer.Typer(cls=GlobalOptionsGroup)

    @clashing.command()
    def first(count: Annotated[int, typer.Option("--count", "-c")] = 1) -> None:
        """First."""

    @clashing.command()
    def second() -> None:
        """Second."""

    with pytest.raises(RuntimeError, match="`citywatch first` declares -c itself"):
        get_command(clashing)
