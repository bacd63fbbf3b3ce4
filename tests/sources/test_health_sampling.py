"""Health tracker (rates, snapshots) and the pure sampling / lag helpers."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from citywatch.sources.health import CameraHealth, HealthTracker, SourceState
from citywatch.sources.sampling import LagGate, PtsSampler


class FakeClock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_snapshot_counts_and_rates() -> None:
    clock = FakeClock()
    h = HealthTracker("cam-1", clock=clock, window_s=5.0)
    assert h.snapshot().state is SourceState.STARTING
    h.set_state(SourceState.STREAMING)
    for i in range(26):  # 25 fps for one second, every 5th analysed
        clock.t = 1000.0 + i / 25
        h.decoded(clock.t)
        if i % 5 == 0:
            h.analysed(clock.t)
    h.dropped(2)
    h.error("read failed: timeout")
    h.reconnecting()
    snap = h.snapshot()
    assert isinstance(snap, CameraHealth)
    assert snap.input_fps == pytest.approx(25.0)
    assert snap.analysed_fps == pytest.approx(5.0)
    assert (snap.frames_decoded, snap.frames_analysed, snap.frames_dropped) == (26, 6, 2)
    assert snap.reconnects == 1
    assert snap.last_error == "read failed: timeout"
    assert snap.last_error_at == pytest.approx(1001.0)
    assert snap.last_frame_wall_time == pytest.approx(1001.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.reconnects = 5  # type: ignore[misc]


def test_an_error_keeps_its_time_after_the_stream_recovers() -> None:
    clock = FakeClock(2000.0)
    h = HealthTracker("cam-1", clock=clock)
    assert (h.snapshot().last_error, h.snapshot().last_error_at) == ("", None)
    h.error("read timed out")
    clock.t = 2030.0
    h.set_state(SourceState.STREAMING)
    h.decoded(clock.t)
    snap = h.snapshot()
    assert snap.state is SourceState.STREAMING and snap.last_error == "read timed out"
    assert snap.last_error_at == 2000.0  # dated, in the past:
    assert snap.last_frame_wall_time == 2030.0


def test_rates_fall_to_zero_when_frames_stop() -> None:
    clock = FakeClock()
    h = HealthTracker("cam-1", clock=clock, window_s=2.0)
    for i in range(10):
        h.decoded(1000.0 + i * 0.1)
    clock.t = 1000.9
    assert h.snapshot().input_fps == pytest.approx(10.0)
    clock.t = 1010.0
    assert h.snapshot().input_fps == 0.0


def test_a_burst_is_no_rate() -> None:
    """Two concealed frames decoded 0.3 ms apart once read as 3,785 fps."""
    clock = FakeClock()
    h = HealthTracker("cam-1", clock=clock)
    h.decoded(1000.0)
    h.decoded(1000.0003)
    assert h.snapshot().input_fps == 0.0
    h.decoded(1000.5003)
    assert h.snapshot().input_fps == pytest.approx(4.0, rel=1e-3)


def test_snapshots_from_another_thread_are_consistent() -> None:
    h = HealthTracker("cam-1", clock=FakeClock())
    done = threading.Event()

    def writer() -> None:
        for i in range(20_000):
            h.decoded(float(i))
            h.analysed(float(i))
        done.set()

    t = threading.Thread(target=writer)
    t.start()
    while not done.is_set():
        s = h.snapshot()
        # decoded() moves the counter and the time under one lock: never seen half done.
        assert s.frames_decoded == 0 or s.last_frame_wall_time == s.frames_decoded - 1
        assert s.frames_decoded - s.frames_analysed in (0, 1)
    t.join()
    assert h.snapshot().frames_decoded == 20_000


def _passed(fps: float, stream_fps: float, n: int) -> list[int]:
    sampler = PtsSampler(fps)
    return [i for i in range(n) if sampler.due(i / stream_fps)]


@pytest.mark.parametrize(
    ("fps", "stream_fps", "n", "want"),
    [
        (5, 25, 26, [0, 5, 10, 15, 20, 25]),
        (5, 30000 / 1001, 31, [0, 6, 12, 18, 24, 30]),
        (5, 7.5, 10, [0, 2, 3, 5, 6, 8, 9]),
        (10, 10, 5, [0, 1, 2, 3, 4]),
        (30, 10, 5, [0, 1, 2, 3, 4]),
        (1, 25, 60, [0, 25, 50]),
    ],
)
def test_sampler_passes_frames_by_pts(
    fps: float, stream_fps: float, n: int, want: list[int]
) -> None:
    assert _passed(fps, stream_fps, n) == want


def test_sampler_does_not_burst_after_a_gap() -> None:
    s = PtsSampler(5)
    assert s.due(0.0)
    assert not s.due(0.1)
    assert s.due(10.0)  # the stream jumped ten seconds
    assert not s.due(10.04)
    assert not s.due(10.16)
    assert s.due(10.2)


def test_lag_gate_drops_only_while_behind() -> None:
    gate = LagGate(max_lag_s=0.5)
    # Reader keeps up: wall and pts advance together (with jitter).
    assert not any(gate.stale(i * 0.04, 100 + i * 0.04 + (0.02 if i % 3 else 0)) for i in range(50))
    # The consumer stalled for 2 s: buffered frames come out late, then faster than real time.
    late = [gate.stale(2.0 + i * 0.04, 104.0 + i * 0.004) for i in range(60)]
    assert late[0] is True
    assert late[-1] is False  # caught up
    assert late.index(False) > 0
    gate.reset()
    assert not gate.stale(0.0, 500.0)
