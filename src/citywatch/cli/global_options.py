"""The global options ``-c/--config``, ``--database-url`` and ``-v/--verbose``, accepted
before the command (``citywatch -c city.yaml alerts list``) and after it
(``citywatch alerts list -c city.yaml``), as people type them.

The root callback reads the first form and makes the invocation's :class:`CliContext`;
:class:`GlobalOptionsGroup` puts the same options on every command of the tree, where each
one sets that context before the command runs.  Given in both places, the one after the
command wins.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.main
from rich.console import Console
from rich.logging import RichHandler
from typer.core import TyperGroup

from citywatch.cli.context import CliContext

PANEL = "Global options (before or after the command)"
CONFIG_HELP = "Config file (default: ./citywatch.yaml if present)"
DATABASE_HELP = "Override store.database_url (also $CITYWATCH_DATABASE_URL)"
VERBOSE_HELP = "Debug logging"


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(name)s: %(message)s",
        handlers=[RichHandler(console=Console(stderr=True), show_path=False)],
        force=True,
    )
    # Migrations announce themselves at INFO on every command: keep that for --verbose.
    logging.getLogger("alembic").setLevel(logging.DEBUG if verbose else logging.WARNING)


def _invocation(ctx: typer.Context) -> CliContext | None:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, CliContext) else None  # None: shell completion


def _config_after(ctx: typer.Context, value: Path | None) -> None:
    c = _invocation(ctx)
    if c is not None and value is not None:
        c.config_path = value


def _database_after(ctx: typer.Context, value: str | None) -> None:
    c = _invocation(ctx)
    if c is not None and value is not None:
        c.database_url = value


def _verbose_after(ctx: typer.Context, value: bool) -> None:
    if value and _invocation(ctx) is not None:
        setup_logging(verbose=True)


def _declarations(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help=CONFIG_HELP,
            callback=_config_after,
            expose_value=False,
            rich_help_panel=PANEL,
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help=DATABASE_HELP,
            callback=_database_after,
            expose_value=False,
            rich_help_panel=PANEL,
        ),
    ] = None,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help=VERBOSE_HELP,
            callback=_verbose_after,
            expose_value=False,
            rich_help_panel=PANEL,
        ),
    ] = False,
) -> None:
    """Holds the declarations of the options a command takes after its name; never run."""


def _after_command_params() -> list[Any]:
    carrier = typer.Typer(add_completion=False)
    carrier.command()(_declarations)
    params = typer.main.get_command(carrier).params
    assert [p.name for p in params] == ["config", "database_url", "verbose"]
    return list(params)


class GlobalOptionsGroup(TyperGroup):
    """The root group: every command below it also takes the global options."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        params = _after_command_params()
        names = {opt for p in params for opt in p.opts}
        for path, command in _leaves(self, ()):
            clash = names & {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)}
            if clash:
                raise RuntimeError(
                    f"`citywatch {' '.join(path)}` declares {', '.join(sorted(clash))} itself: "
                    "these are global options"
                )
            command.params.extend(params)

    def invoke(self, ctx: Any) -> Any:
        # A full or read-only media folder can stop any command that stores a picture
        # (enrolment, the demo's setup, an export): one line saying where and why, exit 1,
        # not a traceback.  Whatever the command had begun is rolled back by its service.
        from citywatch.store.media import MediaWriteError

        try:
            return super().invoke(ctx)
        except MediaWriteError as err:
            Console(stderr=True).print(f"error: {err.strerror}", highlight=False, markup=False)
            raise typer.Exit(1) from err
        except _model_setup_errors() as err:
            # A model file the config names that is missing, corrupt or of the wrong shape:
            # a configuration error (exit 2, as a bad config key), said in one line by any
            # command that builds the models (scan, run, serve, eval ...).
            Console(stderr=True).print(f"error: {err}", highlight=False, markup=False)
            raise typer.Exit(2) from err


def _model_setup_errors() -> tuple[type[Exception], ...]:
    from citywatch.vision.faces.dlib_onnx import DlibModelError
    from citywatch.vision.faces.onnx_dlib_embedder import EmbedderSetupError
    from citywatch.vision.faces.registry import FaceBackendError
    from citywatch.vision.onnx_session import OnnxModelError
    from citywatch.vision.plates.ppocr import RecogniserError
    from citywatch.vision.plates.recognisers import RecogniserSetupError
    from citywatch.vision.plates.yolo import DetectorModelError

    return (
        RecogniserError,
        RecogniserSetupError,
        DetectorModelError,
        OnnxModelError,
        FaceBackendError,
        EmbedderSetupError,
        DlibModelError,
    )


def _leaves(group: TyperGroup, path: tuple[str, ...]) -> list[tuple[tuple[str, ...], Any]]:
    found: list[tuple[tuple[str, ...], Any]] = []
    for name, command in group.commands.items():
        if isinstance(command, TyperGroup):
            found += _leaves(command, (*path, name))
        else:
            found.append(((*path, name), command))
    return found
