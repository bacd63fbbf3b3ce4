"""How busy the machine was with other work while a measurement ran.

Wall times move with what else the machine does: the same plate code measured 114 ms per US
photo and 49-55 ms per EU photo in one session, under a load nobody recorded, and 67 and 31 ms
in another with the machine otherwise idle.  A speed figure is only worth comparing with the
load it was measured under, so every ``citywatch eval`` records it beside its times:

* ``host_other_busy``: the share of all CPUs' time (0..1) that went to anything but this
  process during the measurement (other processes, the kernel's work for them);
* ``host_steal``: the share a hypervisor gave to other virtual machines instead.

Both come from the kernel's counters (``/proc/stat``) and this process's CPU time
(``os.times``); they are ``None`` where those are not available (not Linux).  They do not
see a busy neighbour on the same physical cores (shared caches, SMT): on an otherwise idle
virtual machine here, successive EU runs still spread from 31 to 44 ms per photo with both
at 0.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC_STAT = Path("/proc/stat")
NOTE_ABOVE = 0.1  # runs where other work took more than this share of the CPUs get a note
# /proc/stat's first line: user nice system idle iowait irq softirq steal [guest guest_nice];
# guest time is already counted in user and nice
_BUSY = (0, 1, 2, 5, 6)
_IDLE = (3, 4)
_STEAL = 7


@dataclass(frozen=True, slots=True)
class CpuTimes:
    """Seconds of CPU time since boot, summed over the CPUs, and this process's own."""

    busy: float
    idle: float
    steal: float
    own: float

    @property
    def total(self) -> float:
        return self.busy + self.idle + self.steal


@dataclass(frozen=True, slots=True)
class HostLoad:
    """Shares (0..1) of all CPUs' time over a span: used by others, stolen."""

    other_busy: float
    steal: float

    def metrics(self) -> dict[str, float]:
        return {"host_other_busy": round(self.other_busy, 4), "host_steal": round(self.steal, 4)}

    def note(self) -> str | None:
        """A sentence for the console when other work loaded the machine enough to slow the
        measurement, else None."""
        taken = self.other_busy + self.steal
        if taken <= NOTE_ABOVE:
            return None
        return (
            f"other work took {taken:.0%} of the CPUs' time during this run (other processes "
            f"{self.other_busy:.0%}, hypervisor steal {self.steal:.0%}): its times are not "
            "comparable with runs on an idle machine"
        )


def parse_cpu_line(line: str, ticks_per_s: float) -> tuple[float, float, float]:
    """Busy, idle and stolen seconds from the ``cpu`` line of ``/proc/stat``."""
    fields = line.split()
    if not fields or fields[0] != "cpu" or len(fields) < 5:
        raise ValueError(f"not the summary line of /proc/stat: {line!r}")
    ticks = [int(v) for v in fields[1:]] + [0] * 8  # older kernels have fewer columns

    def seconds(idx: tuple[int, ...]) -> float:
        return sum(ticks[i] for i in idx) / ticks_per_s

    return seconds(_BUSY), seconds(_IDLE), seconds((_STEAL,))


def sample(proc_stat: Path = PROC_STAT) -> CpuTimes | None:
    """The counters now, or None where the kernel does not publish them."""
    try:
        with proc_stat.open(encoding="ascii") as f:
            first = f.readline()
        ticks = float(os.sysconf("SC_CLK_TCK"))
        busy, idle, steal = parse_cpu_line(first, ticks)
    except (OSError, ValueError, AttributeError):
        return None
    t = os.times()
    return CpuTimes(busy=busy, idle=idle, steal=steal, own=t.user + t.system)


def load_between(before: CpuTimes | None, after: CpuTimes | None) -> HostLoad | None:
    """The load of others over the span between two samples; None without both, or when the
    span is too short for the counters (10 ms ticks) to say anything."""
    if before is None or after is None:
        return None
    total = after.total - before.total
    if total <= 0.05:
        return None
    busy = after.busy - before.busy
    own = after.own - before.own
    other = min(max(0.0, busy - own), total)
    steal = min(max(0.0, after.steal - before.steal), total)
    return HostLoad(other_busy=other / total, steal=steal / total)


class LoadMeter:
    """``with LoadMeter() as meter: ...`` then ``meter.load``: the host's load over the
    block (None where it cannot be measured)."""

    def __init__(self, proc_stat: Path = PROC_STAT) -> None:
        self._path = proc_stat
        self._before: CpuTimes | None = None
        self.load: HostLoad | None = None

    def __enter__(self) -> LoadMeter:
        self._before = sample(self._path)
        return self

    def __exit__(self, *exc: object) -> None:
        self.load = load_between(self._before, sample(self._path))

    def metrics(self) -> dict[str, float | None]:
        """``host_other_busy`` and ``host_steal`` for a report (None where unmeasured)."""
        if self.load is None:
            return {"host_other_busy": None, "host_steal": None}
        return dict(self.load.metrics())

    def note(self) -> str | None:
        """:meth:`HostLoad.note` of the measured load (None where unmeasured)."""
        return self.load.note() if self.load is not None else None
