"""Placeholder until the commands land (issue 3)."""

from __future__ import annotations

import typer


def register(eval_app: typer.Typer, calibrate_app: typer.Typer) -> None:
    return None
