"""`citywatch eval ...` and `citywatch calibrate ...`: measured accuracy and operating points.

The face commands live in :mod:`citywatch.cli.eval_faces`, the plate commands in
:mod:`citywatch.cli.eval_plates`; both use the same pipeline code as live cameras.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from typing import Any

import typer

from citywatch.cli.context import CliContext
from citywatch.eval.host_load import LoadMeter

eval_app = typer.Typer(help="Measure accuracy on labelled data.", no_args_is_help=True)
calibrate_app = typer.Typer(help="Choose operating points from measurements.", no_args_is_help=True)


def threads_or_all_cores(value: int | None) -> int:
    """``--threads`` of an eval command: as given, or every CPU core (one photo, face or clip
    at a time has the machine)."""
    return value if value is not None else max(1, os.cpu_count() or 1)


def add_host_load(c: CliContext, meter: LoadMeter, metrics: MutableMapping[str, Any]) -> None:
    """Record in ``metrics`` how busy other work kept the machine while ``meter`` ran
    (``host_other_busy``, ``host_steal``), and print a note when that was enough to slow the
    measured times."""
    metrics.update(meter.metrics())
    note = meter.note()
    if note:
        c.err.print(f"[yellow]note:[/] {note}", highlight=False)


def register(app: typer.Typer) -> None:
    from citywatch.cli import eval_faces, eval_plates, eval_vehicles

    eval_faces.register(eval_app, calibrate_app)
    eval_faces.register_footage(eval_app)
    eval_plates.register(eval_app, calibrate_app)
    eval_vehicles.register(eval_app)
    app.add_typer(eval_app, name="eval")
    app.add_typer(calibrate_app, name="calibrate")
