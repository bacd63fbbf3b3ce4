"""What one pass over a camera's stream (a connection, or one pass over a file) ended with,
and the facts :class:`~citywatch.sources.pyav.CameraSource` reads off it: whether a failure
was a timeout, and whether a file ended well before its stated duration."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import av
import av.error
from av.packet import Packet


class End(Enum):
    EOF = "eof"  # the file or stream ended
    ERROR = "error"  # reading failed after it opened
    OPEN_FAILED = "open_failed"
    STOPPED = "stopped"


@dataclass
class Pass:
    """What one connection (or one pass over a file) ended with."""

    end: End = End.EOF
    frames: int = 0
    clean: int = 0  # frames the decoder did not flag as corrupt (concealed garbage)
    error: str = ""


def timed_out(err: BaseException, waited_s: float, timeout_s: float) -> bool:
    """Did an FFmpeg call fail because its timeout ran out?  PyAV's interrupt ends it with
    "Immediate exit requested" (ExitError), which FFmpeg's RTSP demuxer turns into "Invalid
    data found"; a socket timeout is ETIMEDOUT.  Any failure that came no sooner than the
    timeout is taken as one (a real answer comes well before it)."""
    if isinstance(err, av.error.ExitError | TimeoutError):
        return True
    return timeout_s > 0 and waited_s >= 0.95 * timeout_s


class Span:
    """The media time the demuxed packets of one file pass covered, to notice a file that
    ends well before its stated duration (cut short) even when no packet failed to decode."""

    def __init__(self) -> None:
        self.start: float | None = None
        self.end: float | None = None

    def add(self, packet: Packet) -> None:
        if packet.pts is None or packet.time_base is None:
            return
        t0 = float(packet.pts * packet.time_base)
        t1 = t0 + float((packet.duration or 0) * packet.time_base)
        self.start = t0 if self.start is None else min(self.start, t0)
        self.end = t1 if self.end is None else max(self.end, t1)

    def truncation(self, duration_us: int | None) -> str:
        if not duration_us or self.start is None or self.end is None:
            return ""
        stated = duration_us / 1_000_000
        covered = self.end - self.start
        if covered >= stated - max(0.5, 0.1 * stated):
            return ""
        return f"file ended after {covered:.2f} s of its stated {stated:.2f} s (cut short?)"
