"""How a camera source is doing: a frozen snapshot and the small tracker that builds it.

The source (reader thread) updates a :class:`HealthTracker`; anyone else (the worker, the
API, a health file writer) calls :meth:`HealthTracker.snapshot` from another thread and gets
an immutable :class:`CameraHealth`.  Error text put here must already be redacted.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from citywatch.sources.redact import redact_text

#: What a resting decoder does (``CameraHealth.decode_now``), in words; "normal" is not resting.
RESTING = {"keyframes": "keyframes only", "reference": "reference pictures only"}


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
    #: how the stream is decoded (sources/decode.py: threads, pictures skipped, and why;
    #: then what the decoder does on a still scene, sources/still.py)
    decode: str = ""
    #: what the decoder does now: "normal" (as ``decode`` says), or resting on a still scene:
    #: "keyframes" (keyframes only) or "reference" (reference pictures only); "" until known
    decode_now: str = ""
    #: a camera analysed on its substream: the main stream's state and last error ("" for a
    #: one-stream camera); its packets feed snapshots, clips and recording
    main_stream: str = ""
    #: which of the camera's configured streams this source reads: "detect_url" (its
    #: substream) or "url" (its only or main stream); never the address itself
    stream: str = ""
    #: that stream's picture size and codec as last opened (0, 0 and "" until it is)
    width: int = 0
    height: int = 0
    codec: str = ""
    #: two streams: the main stream's picture size (0, 0 for one stream, or until it opened)
    main_width: int = 0
    main_height: int = 0


def _size(width: Any, height: Any) -> str:
    ok = all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (width, height))
    return f"{width}x{height}" if ok else ""


def stream_text(source: Mapping[str, Any]) -> str:
    """What a health record's ``source`` says of the streams, in a few words: which one is
    analysed, its size and codec, whether its decoder rests on a still scene, and for two
    streams the main one's size and state, e.g. ``detect_url 640x360 h264, still: keyframes
    only; main url 1920x1080 streaming`` ('' for a record without it).
    The main stream's state may carry its last error, which may name its address: any
    credentials in it are redacted here, so every caller can show the text as it is."""
    stream = source.get("stream")
    if stream not in ("url", "detect_url"):
        return ""
    codec = source.get("codec") if isinstance(source.get("codec"), str) else ""
    words = [str(stream), _size(source.get("width"), source.get("height")), str(codec)]
    text = " ".join(w for w in words if w)
    now = source.get("decode_now")
    if now in RESTING:  # a still scene: the decoder rests (still.py)
        text += f", still: {RESTING[str(now)]}"
    main = source.get("main_stream")
    if stream == "detect_url" and isinstance(main, str) and main:
        size = _size(source.get("main_width"), source.get("main_height"))
        text += "; main url " + (f"{size} " if size else "") + redact_text(main)
    return text


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
        stream: str = "",
    ) -> None:
        self._camera_id = camera_id
        self._stream = stream
        self._picture = (0, 0, "")
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
        self._still = ""
        self._decode_now = ""

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

    def still(self, plan: str, now: str) -> None:
        """What the decoder does on a still scene (the plan, with why) and now."""
        with self._lock:
            self._still = plan
            self._decode_now = now

    def opened(self, width: int, height: int, codec: str) -> None:
        """The stream was opened with pictures of this size and codec."""
        with self._lock:
            self._picture = (int(width), int(height), codec)

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
                decode=self._decode
                + (f"; {self._still}" if self._still else "")
                + ("; resting now" if self._decode_now in RESTING else ""),
                decode_now=self._decode_now,
                stream=self._stream,
                width=self._picture[0],
                height=self._picture[1],
                codec=self._picture[2],
            )
