"""Health files as other processes read them: a record the engine stopped rewriting (killed
with -9, hung) is stale, with its age, in `cameras status`, the API, the console and the
metrics; and `citywatch run` fails when every camera failed (issue 13, items 8 and 9)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from citywatch.api.console.views import camera_health
from citywatch.api.metrics import camera_metrics, render
from citywatch.api.schemas import CameraHealthPublic
from citywatch.cli.main import app
from citywatch.engine.local import (
    every_camera_failed,
    judge_staleness,
    read_health,
    write_health_files,
)

T = 1_800_000_000.0


def _record(state: str, *, written_at: float | None = T, every_s: float | None = 2.0) -> dict:
    record: dict[str, Any] = {
        "source": {
            "camera_id": "gate-1",
            "state": state,
            "input_fps": 12.2,
            "analysed_fps": 5.0,
            "last_frame_wall_time": T - 0.1,
            "last_error": "read timed out: no data from rtsp://***@cam/1 within 10.0 s",
            "last_error_at": T - 40,
            "reconnects": 1,
        },
        "worker": {"analysed": 100, "last_error": ""},
        "pending_results": 0,
    }
    if written_at is not None:
        record["written_at"] = written_at
    if every_s is not None:
        record["health_every_s"] = every_s
    return record


@pytest.mark.parametrize(
    ("record", "age", "state"),
    [
        (_record("streaming"), 1.0, "streaming"),  # fresh
        (_record("streaming"), 5.0, "streaming"),  # under the 5 s floor
        (_record("streaming"), 6.5, "stale"),  # over 3 intervals of 2 s
        (_record("streaming"), 15.0, "stale"),  # the issue: 15 s after kill -9
        (_record("backoff"), 15.0, "stale"),
        (_record("connecting"), 15.0, "stale"),
        (_record("streaming", every_s=10.0), 15.0, "streaming"),  # a slower writer: 30 s
        (_record("streaming", every_s=None), 15.0, "stale"),  # default interval
        (_record("streaming", written_at=None), 0.0, "stale"),  # cannot vouch for it
        (_record("stopped"), 3600.0, "stopped"),  # the writer's last word stays
        (_record("ended"), 3600.0, "ended"),
        (_record("failed"), 3600.0, "failed"),
    ],
)
def test_a_live_state_goes_stale_when_not_rewritten(
    record: dict[str, Any], age: float, state: str
) -> None:
    judged = judge_staleness(record, T + age)
    assert judged["source"]["state"] == state
    assert judged["age_s"] == (None if record.get("written_at") is None else age)
    if state == "stale":
        assert judged["source"]["last_state"] == record["source"]["state"]
        assert judged["source"]["input_fps"] == judged["source"]["analysed_fps"] == 0.0
        assert record["source"]["state"] != "stale"  # the input is not changed
    else:
        assert judged["source"]["input_fps"] == 12.2


def test_stale_records_read_as_stale_by_the_api_console_and_metrics(tmp_path: Path) -> None:
    write_health_files(tmp_path, {"gate-1": _record("streaming"), "lot-2": _record("ended")})
    health = read_health(tmp_path, now=T + 15)
    assert health["gate-1"]["source"]["state"] == "stale"
    assert health["lot-2"]["source"]["state"] == "ended"

    api = CameraHealthPublic.of("gate-1", health["gate-1"])
    assert api.state == "stale" and api.input_fps == 0.0 and api.record_age_s == 15.0
    assert api.last_error_at is not None and api.last_error_at.timestamp() == T - 40
    assert camera_health(health["gate-1"])["level"] == "bad"
    text = render(camera_metrics(health))
    assert 'citywatch_camera_state{camera="gate-1",state="stale"} 1' in text
    assert 'citywatch_camera_up{camera="gate-1"} 0' in text
    assert 'citywatch_camera_input_fps{camera="gate-1"} 0' in text

    fresh = read_health(tmp_path, now=T + 1)
    assert CameraHealthPublic.of("gate-1", fresh["gate-1"]).state == "streaming"


def test_cameras_status_says_stale_after_the_run_was_killed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml

    from tests.conftest import embedded_config

    cfg = tmp_path / "citywatch.yaml"
    cfg.write_text(yaml.safe_dump(embedded_config(tmp_path)))
    now = time.time()
    write_health_files(
        tmp_path,
        {
            # What a run killed with -9 15 s ago left behind.
            "gate-1": _record("streaming", written_at=now - 15),
            "lot-2": {
                **_record("streaming", written_at=now - 1),
                "source": {**_record("streaming")["source"], "last_error_at": now - 40},
            },
        },
    )
    monkeypatch.setattr(time, "time", lambda: now)  # the clock the command reads, held still
    result = CliRunner(env={"COLUMNS": "250"}).invoke(app, ["-c", str(cfg), "cameras", "status"])
    monkeypatch.undo()
    assert result.exit_code == 0, result.output
    rows = {line.split()[1]: line for line in result.output.splitlines() if "│ " in line}
    assert "stale (no update for 15 s; last said streaming)" in rows["gate-1"]
    assert "12.2" not in rows["gate-1"]
    assert "streaming" in rows["lot-2"] and "12.2" in rows["lot-2"]
    # The error from before the reconnect is dated, not shown as a current one.
    assert "within 10.0 s (40 s ago)" in rows["lot-2"]


def test_every_camera_failed_names_each_and_why() -> None:
    failed = {**_record("failed"), "worker": {"last_error": "camera 'a': cannot open a.mp4"}}
    crashed = {**_record("stopped"), "error": "worker crashed: RuntimeError: boom"}
    ended = _record("ended")
    assert every_camera_failed({"a": failed, "b": crashed}) == (
        "every camera failed (2): a: camera 'a': cannot open a.mp4; "
        "b: worker crashed: RuntimeError: boom"
    )
    assert every_camera_failed({"a": failed, "c": ended}) is None
    assert every_camera_failed({}) is None
