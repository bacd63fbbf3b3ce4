"""`citywatch demo`: the whole platform on generated footage, no network needed."""

from __future__ import annotations

import secrets
import shlex
import shutil
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.panel import Panel
from sqlalchemy.orm import Session, sessionmaker

from citywatch.audit.chain import Actor
from citywatch.cli.context import CliContext, ctx_of

DEMO_ROLES = ("operator", "investigator", "admin", "auditor")


def _fresh(workdir: Path) -> None:
    (workdir / "citywatch.db").unlink(missing_ok=True)
    for suffix in ("-wal", "-shm"):
        (workdir / f"citywatch.db{suffix}").unlink(missing_ok=True)
    shutil.rmtree(workdir / "media", ignore_errors=True)
    shutil.rmtree(workdir / "health", ignore_errors=True)


def _demo_users(sessions: sessionmaker[Session], actor: Actor) -> dict[str, str]:
    """One user per role with a random password, shown once on the terminal."""
    from citywatch.services.common import NotFoundError
    from citywatch.services.users import create_user, get_user_by_name

    logins: dict[str, str] = {}
    with sessions() as session:
        for role in DEMO_ROLES:
            try:
                get_user_by_name(session, role)
                continue  # --keep: the password was shown when it was made
            except NotFoundError:
                pass
            password = secrets.token_urlsafe(12)
            create_user(session, actor, role, role, password, on_server=True)
            logins[role] = password
    return logins


def _summary(c: CliContext, sessions: sessionmaker[Session], started: float) -> tuple[int, int]:
    from citywatch.services.alerts import alert_event, list_alerts

    with sessions() as session:
        events = [alert_event(r) for r in list_alerts(session, c.actor(), limit=1000)]
    faces = [e for e in events if e.kind == "face"]
    plates = [e for e in events if e.kind == "plate"]
    c.out.print(
        f"demo summary: {len(faces)} face alert(s) "
        f"({', '.join(sorted({e.subject_name or '' for e in faces})) or 'none'}), "
        f"{len(plates)} plate alert(s) "
        f"({', '.join(sorted({e.plate or '' for e in plates})) or 'none'}) "
        f"in {time.monotonic() - started:.0f} s"
    )
    return len(faces), len(plates)


def _first_alert(c: CliContext, sessions: sessionmaker[Session]) -> int | None:
    from citywatch.services.alerts import list_alerts

    with sessions() as session:
        rows = list_alerts(session, c.actor(), limit=1000)
    return min((r.id for r in rows), default=None)


def _shown(path: Path) -> str:
    """The path as the reader types it: relative to here when it is below here."""
    full = path.resolve()
    try:
        return shlex.quote(str(full.relative_to(Path.cwd())))
    except ValueError:
        return shlex.quote(str(full))


def _print_commands(c: CliContext, config: Path, alert: int | None, *, served: bool) -> None:
    """Commands that reach the demo's data (its config file), printed whole so they copy."""
    cfg = f"-c {_shown(config)}"
    one = str(alert) if alert is not None else "ID"
    lines = [
        ("list alerts", f"citywatch alerts list {cfg}"),
        ("one alert", f"citywatch alerts show {one} {cfg}"),
        ("review it", f"citywatch alerts review {one} confirm --reason 'demo review' {cfg}"),
        ("camera health", f"citywatch cameras status {cfg}"),
        ("audit chain", f"citywatch audit verify {cfg}"),
    ]
    if not served:
        lines.append(("console", f"citywatch serve --no-cameras {cfg}"))
    c.out.print("commands on the demo's data:", highlight=False)
    for what, command in lines:
        c.out.print(f"  {what:<14}{command}", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        ctx: typer.Context,
        no_serve: Annotated[
            bool, typer.Option("--no-serve", help="Run the scenario once, print a summary, exit")
        ] = False,
        workdir: Annotated[Path, typer.Option(help="Where the demo keeps its data")] = Path(
            "var/demo"
        ),
        keep: Annotated[
            bool, typer.Option(help="Keep the previous demo database instead of starting fresh")
        ] = False,
        port: Annotated[int, typer.Option(min=1, max=65535, help="Console port")] = 8080,
    ) -> None:
        """Three demo cameras, a watchlisted face and a hotlisted plate, the operator console.

        Example: citywatch demo --no-serve
        """
        from citywatch.config.root import ConfigError, load_config
        from citywatch.demo.scenario import (
            DEMO_HOTLIST,
            DEMO_WATCHLIST,
            enrol_demo_lists,
            prepare_footage,
            write_demo_config,
        )
        from citywatch.engine.assemble import Models
        from citywatch.engine.platform import Platform
        from citywatch.store.media import MediaStore

        c = ctx_of(ctx)
        workdir.mkdir(parents=True, exist_ok=True)
        if not keep:
            _fresh(workdir)
        started = time.monotonic()
        c.err.print("building demo footage (three cameras) ...")
        footage = prepare_footage(workdir)
        config_path = write_demo_config(workdir, footage, loop=not no_serve)
        try:
            cfg = load_config(config_path)  # what the printed commands read with -c
        except ConfigError as err:
            c.fail(str(err))
        c.config_path = config_path
        c.use_config(cfg)
        sessions = c.sessions()
        platform = Platform.create(cfg, sessions, c.actor(), c.err)
        platform.register_cameras()
        enrol_demo_lists(
            sessions, MediaStore(cfg.store.media_dir), Models(cfg), cfg, footage, c.actor()
        )
        where = (
            f"config        {config_path.resolve()}\n"
            f"database      {cfg.store.database_url}\n"
            f"evidence      {cfg.store.media_dir}\n"
            f"camera health {cfg.store.state_dir / 'health'}\n"
            f"footage       {footage.out_dir.resolve()}\n"
            f"watchlist     {DEMO_WATCHLIST!r}: {footage.subject_name} "
            f"(photo {footage.subject_photo})\n"
            f"hotlist       {DEMO_HOTLIST!r}: {footage.plate_text}"
        )
        if no_serve:
            c.out.print(Panel(where, title="citywatch demo: where to look", expand=False))
            engine = platform.build_engine()
            engine.start()
            engine.wait()
            platform.dispatcher.close()
            faces, plates = _summary(c, sessions, started)
            _print_commands(c, config_path, _first_alert(c, sessions), served=False)
            if not (faces and plates):
                c.fail("the demo should alert on both the face and the plate", code=1)
            return

        from citywatch.cli.serve import serve

        platform.dispatcher.close()  # `serve` runs the cameras with its own alert delivery
        logins = _demo_users(sessions, c.actor())
        accounts = "\n".join(f"{role:<13} {role} / {pw}" for role, pw in logins.items())
        c.out.print(
            Panel(
                f"console       http://127.0.0.1:{port}/\n{accounts}\n\n{where}",
                title="citywatch demo: where to look (passwords are shown once)",
                expand=False,
            )
        )
        _print_commands(c, config_path, None, served=True)
        serve(
            ctx,
            host="127.0.0.1",
            port=port,
            tls_cert=None,
            tls_key=None,
            trusted_proxy=None,
            cameras=True,
            map_tiles=None,
            api_docs=False,
        )
        _summary(c, sessions, started)
