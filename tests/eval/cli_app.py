"""A Typer app holding just the `eval` and `calibrate` commands one module registers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import typer

from citywatch.cli.context import CliContext

Register = Callable[[typer.Typer, typer.Typer], None]


def eval_app(register: Register, config: Path) -> typer.Typer:
    """``register(eval_app, calibrate_app)`` under a root that reads ``config``."""
    app = typer.Typer()
    evaluate, calibrate = typer.Typer(), typer.Typer()
    register(evaluate, calibrate)
    app.add_typer(evaluate, name="eval")
    app.add_typer(calibrate, name="calibrate")

    @app.callback()
    def root(ctx: typer.Context) -> None:
        ctx.obj = CliContext(config_path=config)

    return app
