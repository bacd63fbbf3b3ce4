"""`citywatch eval vehicles`: type and colour accuracy of the vehicle holding each labelled
plate, on the dev half of the labels, the held-out half and in all, with the confusion tables
(:mod:`citywatch.eval.vehicles`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from citywatch.cli.context import ctx_of
from citywatch.cli.evaluate import add_host_load
from citywatch.eval.vehicles import Confusion


def confusion_table(title: str, table: Confusion) -> Table:
    out = Table(title=title)
    out.add_column("label")
    for n in table.columns:
        out.add_column(n, justify="right")
    for name, row in zip(table.rows, table.counts, strict=True):
        out.add_row(name, *[str(v) if v else "" for v in row])
    return out


def register(eval_app: typer.Typer) -> None:
    @eval_app.command("vehicles")
    def eval_vehicles(
        ctx: typer.Context,
        images: Annotated[Path, typer.Option(help="Folder the labels' image paths are under")],
        labels: Annotated[
            Path, typer.Option(help="CSV image,plate,kind,colour (a person's labels)")
        ],
        json_out: Annotated[
            Path | None, typer.Option("--json", help="Write the flat metrics here")
        ] = None,
        plot: Annotated[
            Path | None, typer.Option(help="Write the colour confusion PNG into this folder")
        ] = None,
    ) -> None:
        """Vehicle type and colour against labels: accuracy on the dev half (even rows: what
        the colour rule was tuned on), the held-out half (odd rows) and all, and the confusion
        tables.  Uses the configured plates.vehicles detector (one thread).

        Example: citywatch eval vehicles --images ../shared/data/plates
        --labels bench/vehicles/labels.csv --json vehicles.json
        """
        from citywatch.eval.common import print_metrics, write_json
        from citywatch.eval.host_load import LoadMeter
        from citywatch.eval.plates import TruthError
        from citywatch.eval.vehicles import (
            confusion,
            describe_labelled,
            load_labels,
            pairs_of,
            vehicle_metrics,
        )
        from citywatch.vision.vehicles.describe import VehicleDescriber
        from citywatch.vision.vehicles.registry import VehicleBackendError, build_vehicle_detector

        c = ctx_of(ctx)
        try:
            cars = load_labels(labels)
        except TruthError as err:
            c.fail(str(err))
        vcfg = c.config().plates.vehicles.model_copy(update={"threads": 1})
        try:
            describer = VehicleDescriber(build_vehicle_detector(vcfg))
        except VehicleBackendError as err:
            c.fail(str(err))
        with LoadMeter() as load:
            try:
                outcomes = describe_labelled(cars, images, describer)
            except TruthError as err:
                c.fail(str(err))
        metrics = vehicle_metrics(outcomes, labels.name)
        metrics["detector"] = describer.detector.name
        add_host_load(c, load, metrics)
        for o in outcomes:
            if o.problem:
                c.err.print(f"[yellow]note:[/] {o.problem}", highlight=False)
        print_metrics(c.out, f"vehicles: {labels}", metrics)
        for what, title in (("kind", "type"), ("colour", "colour")):
            table = confusion(pairs_of(outcomes, what))
            c.out.print(confusion_table(f"{title}: labelled (rows) vs named (columns)", table))
        if json_out is not None:
            write_json(json_out, metrics)
            c.err.print(f"metrics written to {json_out}", highlight=False)
        if plot is not None:
            from citywatch.eval.vehicles import plot_confusion

            table = confusion(pairs_of(outcomes, "colour"))
            path = plot_confusion(plot / "vehicle_colours.png", table, title="body colour")
            c.err.print(f"plot written: {path}")
