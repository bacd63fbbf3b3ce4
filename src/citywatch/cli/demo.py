"""`citywatch demo`: the whole platform on generated footage, no network needed."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.panel import Panel

from citywatch.cli.context import ctx_of


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
    ) -> None:
        """Three demo cameras, a watchlisted face and a hotlisted plate; alerts as they happen.

        Example: citywatch demo --no-serve
        """
        from citywatch.demo.scenario import (
            DEMO_HOTLIST,
            DEMO_WATCHLIST,
            demo_config,
            enrol_demo_lists,
            prepare_footage,
        )
        from citywatch.engine.platform import Platform
        from citywatch.services.alerts import alert_event, list_alerts

        c = ctx_of(ctx)
        workdir.mkdir(parents=True, exist_ok=True)
        if not keep:
            (workdir / "citywatch.db").unlink(missing_ok=True)
            for suffix in ("-wal", "-shm"):
                (workdir / f"citywatch.db{suffix}").unlink(missing_ok=True)
            shutil.rmtree(workdir / "media", ignore_errors=True)
            shutil.rmtree(workdir / "health", ignore_errors=True)
        t0 = time.monotonic()
        c.err.print("building demo footage (three cameras) ...")
        footage = prepare_footage(workdir)
        cfg = demo_config(workdir, footage, loop=not no_serve)
        c.use_config(cfg)
        sessions = c.sessions()
        platform = Platform.create(cfg, sessions, c.actor(), c.err)
        platform.register_cameras()
        enrol_demo_lists(sessions, platform.media, platform.models, cfg, footage, c.actor())
        engine = platform.build_engine()
        engine.start()
        db = cfg.store.database_url
        where = (
            f"database      {db}\n"
            f"evidence      {cfg.store.media_dir.resolve()}\n"
            f"footage       {footage.out_dir.resolve()}\n"
            f"watchlist     {DEMO_WATCHLIST!r}: {footage.subject_name} "
            f"(photo {footage.subject_photo})\n"
            f"hotlist       {DEMO_HOTLIST!r}: {footage.plate_text}\n\n"
            f"list alerts   citywatch --database-url {db} alerts list\n"
            f"review one    citywatch --database-url {db} alerts review ID confirm --reason ...\n"
            f"audit chain   citywatch --database-url {db} audit verify\n"
            f"camera health {(workdir / 'health').resolve()}/<camera>.json"
        )
        c.out.print(Panel(where, title="citywatch demo: where to look", expand=False))
        if no_serve:
            engine.wait()
            platform.dispatcher.close()
        else:
            c.out.print("[green]demo cameras running[/]: alerts print below. Ctrl-C to stop.")
            from citywatch.cli.main import _wait_until_interrupted

            _wait_until_interrupted(engine)
            platform.dispatcher.close()
        with sessions() as session:
            events = [alert_event(r) for r in list_alerts(session, c.actor(), limit=1000)]
        faces = [e for e in events if e.kind == "face"]
        plates = [e for e in events if e.kind == "plate"]
        c.out.print(
            f"demo summary: {len(faces)} face alert(s) "
            f"({', '.join(sorted({e.subject_name or '' for e in faces})) or 'none'}), "
            f"{len(plates)} plate alert(s) "
            f"({', '.join(sorted({e.plate or '' for e in plates})) or 'none'}) "
            f"in {time.monotonic() - t0:.0f} s"
        )
        if no_serve and not (faces and plates):
            c.fail("the demo should alert on both the face and the plate", code=1)
