"""The host's load recorded beside every eval's times: /proc/stat parsing and the shares."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from citywatch.eval.host_load import (
    CpuTimes,
    HostLoad,
    LoadMeter,
    load_between,
    parse_cpu_line,
    sample,
)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        # user nice system idle iowait irq softirq steal guest guest_nice (ticks of 1/100 s)
        ("cpu  100 0 50 800 10 5 5 30 0 0", (1.6, 8.1, 0.3)),
        ("cpu  100 20 50 800 10 5 5 30 40 0", (1.8, 8.1, 0.3)),  # guest is inside user
        ("cpu 1 2 3 4", (0.06, 0.04, 0.0)),  # an old kernel: no iowait, irq or steal columns
    ],
)
def test_cpu_line_is_split_into_busy_idle_and_steal(
    line: str, expected: tuple[float, float, float]
) -> None:
    assert parse_cpu_line(line, 100.0) == pytest.approx(expected)


@pytest.mark.parametrize("line", ["cpu0 1 2 3 4", "intr 5 6", "", "cpu 1 2"])
def test_other_lines_are_refused(line: str) -> None:
    with pytest.raises(ValueError, match="summary line"):
        parse_cpu_line(line, 100.0)


def _t(busy: float, idle: float, steal: float = 0.0, own: float = 0.0) -> CpuTimes:
    return CpuTimes(busy=busy, idle=idle, steal=steal, own=own)


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        # 2 CPUs for 10 s = 20 s; we used 10 of the 12 busy seconds: others 2 of 20
        (_t(100, 100, 0, 5), _t(112, 108, 0, 15), HostLoad(0.1, 0.0)),
        # an idle machine but for us
        (_t(100, 100, 0, 5), _t(110, 110, 0, 15), HostLoad(0.0, 0.0)),
        # own time counted past the kernel's busy time (tick rounding): never below 0
        (_t(100, 100, 0, 5), _t(109, 111, 0, 15), HostLoad(0.0, 0.0)),
        # half the span stolen by the hypervisor
        (_t(100, 100, 50, 0), _t(105, 105, 60, 5), HostLoad(0.0, 0.5)),
    ],
)
def test_load_is_the_share_others_took(
    before: CpuTimes, after: CpuTimes, expected: HostLoad
) -> None:
    got = load_between(before, after)
    assert got is not None
    assert (got.other_busy, got.steal) == pytest.approx((expected.other_busy, expected.steal))


def test_no_load_without_both_samples_or_a_span() -> None:
    t = _t(100, 100)
    assert load_between(None, t) is None and load_between(t, None) is None
    assert load_between(t, _t(100.01, 100.01)) is None  # shorter than the counters resolve


def test_note_only_when_others_slowed_the_run() -> None:
    assert HostLoad(0.05, 0.04).note() is None
    note = HostLoad(0.3, 0.05).note()
    assert note is not None and "35%" in note and "not comparable" in note
    assert HostLoad(0.3, 0.05).metrics() == {"host_other_busy": 0.3, "host_steal": 0.05}


def test_meter_reads_the_counters_at_both_ends(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    stat.write_text("cpu  1000 0 0 1000 0 0 0 0 0 0\ncpu0 1000 0 0 1000 0 0 0 0 0 0\n")
    with LoadMeter(stat) as meter:
        # while we ran, the machine spent 1000 more ticks busy and 1000 idle
        stat.write_text("cpu  2000 0 0 2000 0 0 0 0 0 0\n")
    assert meter.load is not None
    # this test's own CPU time is a few ms: nearly all of the busy half was others'
    assert 0.45 < meter.load.other_busy <= 0.5 and meter.load.steal == 0
    assert meter.metrics()["host_other_busy"] == pytest.approx(meter.load.other_busy, abs=1e-4)
    assert meter.note() is not None and "other processes" in str(meter.note())


@pytest.mark.parametrize("content", [None, "garbage\n", "cpu 1 x 3 4\n"])
def test_unreadable_counters_give_no_figure(tmp_path: Path, content: str | None) -> None:
    stat = tmp_path / "stat"
    if content is not None:
        stat.write_text(content)
    assert sample(stat) is None
    with LoadMeter(stat) as meter:
        pass
    assert meter.load is None
    assert meter.metrics() == {"host_other_busy": None, "host_steal": None}
    assert meter.note() is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/stat is Linux's")
def test_real_counters_see_our_own_work_as_ours() -> None:
    with LoadMeter() as meter:
        end = time.process_time() + 0.3
        while time.process_time() < end:
            pass
    assert meter.load is not None
    assert 0.0 <= meter.load.other_busy <= 1.0 and 0.0 <= meter.load.steal <= 1.0
