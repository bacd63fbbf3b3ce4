"""How a camera source is doing: a frozen snapshot and the small tracker that builds it.

The source (reader thread) updates a :class:`HealthTracker`; anyone else (the worker, the
API, a health file writer) calls :meth:`HealthTracker.snapshot` from another thread and gets
an immutable :class:`CameraHealth`.  Error text put here must already be redacted.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class SourceState(StrEnum):
    STARTING = "starting"  # built, frames() not called yet
    CONNECTING = "connecting"  # opening the file or stream
    STREAMING = "streaming"  # frames are being decoded
    BACKOFF = "backoff"  # a network stream failed; waiting before the next try
    STOPPED = "stopped"  # stop() was called (or the consumer closed the iterator)
    ENDED = "ended"  # a file (without loop) reached its end
    FAILED = "failed"  # a permanent error: the file is missing or unreadable


@dataclass(frozen=True, slots=True)
class CameraHealth:
    camera_id: str
    state: SourceState
    input_fps: float  # frames decoded per second (moving average over the last few seconds)
    analysed_fps: float  # frames handed on for analysis per second
    last_frame_wall_time: float | None  # clock() when the last frame was decoded
    last_error: str  # redacted; '' when none so far
    # clock() when last_error was recorded (None when none so far): an error from before a
    # reconnect stays visible, dated, and is not mistaken for a current one.
    last_error_at: float | None
    reconnects: int  # reconnection attempts (network streams)
    frames_decoded: int
    frames_analysed: int
    frames_dropped: int  # frames due for analysis but skipped because the reader fell behind
    #: how the stream is decoded (sources/decode.py: threads, pictures skipped, and why)
    decode: str = ""
    #: a camera analysed on its substream: the main stream's state and last error ("" for a
    #: one-stream camera); its packets feed snapshots, clips and recording
    main_stream: str = ""


MIN_RATE_SPAN_S = 0.5


class _RateWindow:
    """Events per second over the events of the last ``window_s`` seconds."""

    def __init__(self, window_s: float, maxlen: int = 1024) -> None:
        self._window_s = window_s
        self._times: deque[float] = deque(maxlen=maxlen)

    def add(self, t: float) -> None:
        self._times.append(t)

    def clear(self) -> None:
        self._times.clear()

    def rate(self, now: float) -> float:
        while self._times and now - self._times[0] > self._window_s:
            self._times.popleft()
        if len(self._times) < 2:
            return 0.0
        span = self._times[-1] - self._times[0]
        # Too short a span measures a burst, not a rate (two frames 0.3 ms apart are not
        # 3,000 fps): say 0 until the events spread over MIN_RATE_SPAN_S.
        return (len(self._times) - 1) / span if span >= MIN_RATE_SPAN_S else 0.0


class HealthTracker:
    """Mutable health of one source; every method takes a lock, so a reader in another thread
    always sees a consistent snapshot."""

    def __init__(
        self,
        camera_id: str,
        *,
        clock: Callable[[], float] = time.time,
        window_s: float = 5.0,
    ) -> None:
        self._camera_id = camera_id
        self._clock = clock
        self._lock = threading.Lock()
        self._state = SourceState.STARTING
        self._input = _RateWindow(window_s)
        self._analysed = _RateWindow(window_s)
        self._last_frame: float | None = None
        self._last_error = ""
        self._last_error_at: float | None = None
        self._reconnects = 0
        self._decoded = 0
        self._analysed_n = 0
        self._dropped = 0
        self._decode = ""

    @property
    def state(self) -> SourceState:
        with self._lock:
            return self._state

    def set_state(self, state: SourceState) -> None:
        with self._lock:
            self._state = state
            if state in (SourceState.BACKOFF, SourceState.STOPPED, SourceState.ENDED):
                self._input.clear()
                self._analysed.clear()

    def decoded(self, wall_time: float) -> None:
        with self._lock:
            self._decoded += 1
            self._last_frame = wall_time
            self._input.add(wall_time)

    def analysed(self, wall_time: float) -> None:
        with self._lock:
            self._analysed_n += 1
            self._analysed.add(wall_time)

    def dropped(self, n: int = 1) -> None:
        with self._lock:
            self._dropped += n

    def error(self, message: str) -> None:
        """Record an error; ``message`` must already be redacted."""
        with self._lock:
            self._last_error = message
            self._last_error_at = self._clock()

    def decoding(self, description: str) -> None:
        with self._lock:
            self._decode = description

    def reconnecting(self) -> None:
        with self._lock:
            self._reconnects += 1

    def snapshot(self) -> CameraHealth:
        with self._lock:
            now = self._clock()
            return CameraHealth(
                camera_id=self._camera_id,
                state=self._state,
                input_fps=self._input.rate(now),
                analysed_fps=self._analysed.rate(now),
                last_frame_wall_time=self._last_frame,
                last_error=self._last_error,
                last_error_at=self._last_error_at,
                reconnects=self._reconnects,
                frames_decoded=self._decoded,
                frames_analysed=self._analysed_n,
                frames_dropped=self._dropped,
                decode=self._decode,
            )
