"""Issue 13 item 3: results are never dropped silently (buffer overflow, shutdown with the store
away), and a media folder that cannot take snapshots shows in the camera's health."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import typer

from citywatch.api.console.views import camera_health
from citywatch.cli.context import CliContext
from citywatch.engine.local import CameraRun, LocalEngine
from citywatch.engine.worker import CameraWorker, results_lost
from citywatch.services.evidence import MediaHealth
from tests.engine.test_worker import CountingPipeline, ListSource, Sink

FULL = "snapshots cannot be written to /srv/media: No space left on device (ENOSPC)"


def test_results_still_waiting_at_the_end_are_retried_then_counted_as_lost(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sleeps: list[float] = []
    sink = Sink(fail_times=10_000)  # the store never comes back
    w = CameraWorker(
        "cam-1", ListSource(10), CountingPipeline(), sink, live=False,
        drain_waits_s=(0.5, 1.0), sleep=sleeps.append,
    )  # fmt: skip
    with caplog.at_level(logging.ERROR):
        stats = w.run()
    assert sleeps == [0.5, 1.0]  # retried at the end before giving up
    assert stats.results_lost == 11 and w.pending == 0  # 10 frames' counts + the flush
    assert stats.last_error.startswith("11 result(s) lost: the store did not take them")
    assert "database went away" in stats.last_error
    assert "11 result(s) lost" in caplog.text


def test_a_store_back_during_the_last_retries_loses_nothing() -> None:
    sleeps: list[float] = []
    sink = Sink(fail_times=5)  # 3 frames + the flush fail, then the first retry too
    w = CameraWorker(
        "cam-1", ListSource(3), CountingPipeline(), sink, live=False,
        drain_waits_s=(0.5, 1.0, 2.0), sleep=sleeps.append,
    )  # fmt: skip
    stats = w.run()
    assert sleeps == [0.5, 1.0] and stats.results_lost == 0
    assert sum(s.tracks for b in sink.batches for s in b) == 3 + 100


def test_a_full_buffer_counts_what_it_pushes_out() -> None:
    w = CameraWorker(
        "cam-1", ListSource(10), CountingPipeline(), Sink(fail_times=10_000), live=False,
        pending_limit=4, drain_waits_s=(), sleep=lambda _s: None,
    )  # fmt: skip
    stats = w.run()
    # 11 results: 7 pushed out of the 4-slot buffer while the store was away, 4 at the end
    assert stats.results_lost == 11


def test_the_engine_reports_lost_results_per_camera(tmp_path: Path) -> None:
    lossy = CameraWorker(
        "cam-1", ListSource(4), CountingPipeline(), Sink(fail_times=10_000), live=False,
        drain_waits_s=(), sleep=lambda _s: None,
    )  # fmt: skip
    fine = CameraWorker("cam-2", ListSource(4), CountingPipeline(), Sink(), live=False)
    engine = LocalEngine(
        [CameraRun(worker=lossy, health=lambda: None), CameraRun(worker=fine, health=lambda: None)],
        state_dir=tmp_path,
    )
    engine.start()
    assert engine.wait(timeout=10)
    assert results_lost(engine.snapshot()) == {"cam-1": 5}
    record = json.loads((tmp_path / "health" / "cam-1.json").read_text())
    assert record["worker"]["results_lost"] == 5


def test_results_still_waiting_in_a_worker_that_did_not_end_count_as_lost() -> None:
    records = {
        "a": {"worker": {"results_lost": 2}, "pending_results": 3},
        "b": {"worker": {"results_lost": 0}, "pending_results": 0},
        "c": {"error": "unreadable health file"},
    }
    assert results_lost(records) == {"a": 5}


def test_run_exits_non_zero_naming_the_lost_results() -> None:
    from rich.console import Console

    from citywatch.cli.main import _fail_on_lost_results

    class Stopped:
        def snapshot(self) -> dict[str, dict[str, object]]:
            return {
                "gate": {"worker": {"results_lost": 3}, "pending_results": 0},
                "lot": {"worker": {"results_lost": 0}, "pending_results": 0},
            }

    err = Console(record=True, width=200)
    c = CliContext(config_path=None, err=err)
    with pytest.raises(typer.Exit) as exit_:
        _fail_on_lost_results(c, Stopped())  # type: ignore[arg-type]
    assert exit_.value.exit_code == 3
    assert "3 result(s) were decided but could not be stored and are lost (gate: 3)" in (
        err.export_text()
    )


def test_a_media_folder_error_shows_in_the_camera_health() -> None:
    media = MediaHealth(written=4, failed=2, error=FULL, error_at=1.0)
    w = CameraWorker(
        "cam-1", ListSource(3), CountingPipeline(), Sink(), live=False,
        media_health=lambda: media,
    )  # fmt: skip
    stats = w.run()
    assert (stats.media_error, stats.snapshots_failed) == (FULL, 2)
    tile = camera_health({"source": {"state": "streaming"}, "worker": {"media_error": FULL}})
    assert tile["level"] == "bad" and FULL in tile["error"]
