"""A camera source on PyAV (FFmpeg): RTSP, HTTP(S) and files, with sampling, reconnects and
health.

:meth:`CameraSource.frames` yields BGR :class:`~citywatch.vision.record.Frame` s sampled to the
camera's ``analyse_fps`` by presentation time.  A network stream that fails or ends is reopened
with exponential backoff until :meth:`CameraSource.stop`, and so is one that still sends data
but yields no decodable frame for the camera's ``no_frame_timeout_s`` (a recorder gone bad
after a good start); a file ends (or loops); a file that cannot be opened is a permanent
:class:`SourceError`.  A server that does not answer within the open or read timeout is
reported as a timeout, with the seconds waited.  Every message that leaves this module
(exception, log line, health) is redacted: camera credentials never appear.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import Literal

import av
import av.error
from av.container import InputContainer
from av.packet import Packet
from av.video.stream import VideoStream

from citywatch.config.camera import CameraConfig
from citywatch.config.root import ConfigError, expand_env
from citywatch.sources.backoff import Backoff
from citywatch.sources.decode import DecodeChooser
from citywatch.sources.health import CameraHealth, HealthTracker, SourceState
from citywatch.sources.hwdecode import HwChoice, choose_hw
from citywatch.sources.passes import End, Pass, Span, timed_out
from citywatch.sources.picture import AvPicture
from citywatch.sources.recorder import PacketTap
from citywatch.sources.redact import redact_text, redact_url, url_secrets
from citywatch.sources.sampling import LagGate, PtsSampler
from citywatch.sources.still import MotionFeed, StillDecoder
from citywatch.vision.record import Frame

log = logging.getLogger(__name__)

NETWORK_SCHEMES = frozenset(
    {"rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "tcp", "srt", "rtp"}
)
# Consecutive packets that fail to decode before the connection (or file) is given up.
MAX_DECODE_ERRORS = 100
# Step assumed between frames when a stream gives no frame rate and no pts.
DEFAULT_FRAME_STEP_S = 1.0 / 25.0
# How long a resting decoder's keyframe waits for the analysis's verdict on the frame before
# (sources/still.py): a live stream's packets wait meanwhile; a file's reader is ahead anyway.
VERDICT_WAIT_LIVE_S = 2.0
VERDICT_WAIT_FILE_S = 60.0


#: What opening a stream may raise (NotImplementedError: no hardware decoder for its codec).
_OPEN_ERRORS = (av.error.FFmpegError, OSError, ValueError, NotImplementedError)


class SourceError(RuntimeError):
    """A source failed for good (a file missing or unreadable, a bad URL); the message names
    the camera and the redacted URL."""


def _scheme(url: str) -> str:
    head, sep, _ = url.partition("://")
    return head.lower() if sep else ""


class CameraSource:
    """Frames from one camera.  Single consumer: call :meth:`frames` once, from one thread;
    :meth:`stop` and :attr:`health` may be called from any thread."""

    def __init__(
        self,
        camera: CameraConfig,
        *,
        sleep: Callable[[float], object] | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        open_timeout_s: float = 10.0,
        read_timeout_s: float = 10.0,
        backoff: Backoff | None = None,
        env: dict[str, str] | None = None,
        taps: Sequence[PacketTap] = (),
        role: Literal["analyse", "main"] = "analyse",
    ) -> None:
        """``sleep`` waits out a backoff delay; by default the wait ends at once on
        :meth:`stop`.  A given ``sleep`` (tests) is called with the whole delay.  ``clock``
        gives the wall time of frames and health; ``monotonic`` measures timeouts (the time
        without a decodable frame, the time an open took).  ``taps`` see every demuxed video
        packet with its media time (evidence clips, recording: :mod:`.recorder`).
        ``role``: ``"analyse"`` reads the camera's ``detect_url`` (its ``url`` when it has
        none) and yields sampled frames; ``"main"`` reads its ``url`` and only demuxes (the
        packets go to the taps, nothing is decoded and :meth:`frames` yields nothing:
        :mod:`.mainstream`)."""
        self.camera_id = camera.id
        self.role = role
        chosen = camera.detect_url if role == "analyse" and camera.detect_url else camera.url
        raw = chosen.get_secret_value()
        try:
            field = "url" if chosen is camera.url else "detect_url"
            url = expand_env(raw, where=f"camera {camera.id!r} {field}", env=env)
        except ConfigError as err:  # names the variable only, never a value
            raise SourceError(str(err)) from None
        self._url = url
        self._secrets = url_secrets(url)
        self.display_url = redact_url(url)
        self._network = _scheme(url) in NETWORK_SCHEMES
        self._loop = camera.loop
        self._fps = camera.analyse_fps
        self._max_lag_s = (
            camera.max_lag_s if camera.max_lag_s is not None else max(0.5, 2.0 / self._fps)
        )
        self._keyframes_only = camera.keyframes_only
        self._sleep = sleep
        self._clock = clock
        self._monotonic = monotonic
        self._timeouts = (open_timeout_s, read_timeout_s)
        self._no_frame_s = camera.no_frame_timeout_s
        self._backoff = backoff if backoff is not None else Backoff(rng=rng or random.Random())
        self._stop = threading.Event()
        self._health = HealthTracker(camera.id, clock=clock, stream=field)
        # Continuous media time across loops and reconnects.
        self._pts_base = 0.0
        self._last_pts = 0.0
        self._frame_step = DEFAULT_FRAME_STEP_S
        self._index = 0
        self._opens = 0
        self._taps = tuple(taps)
        self._chooser: DecodeChooser | None = None
        self._camera = camera
        self._motion = MotionFeed()
        self._still: StillDecoder | None = None
        self._hw: HwChoice | None = None  # chosen at the first open (analysis only)

    def __repr__(self) -> str:
        return (
            f"CameraSource(camera_id={self.camera_id!r}, url={self.display_url!r}, "
            f"state={self._health.state.value!r})"
        )

    # --- public --------------------------------------------------------------------------
    @property
    def health(self) -> CameraHealth:
        return self._health.snapshot()

    @property
    def is_live(self) -> bool:
        return self._network

    @property
    def motion_feed(self) -> MotionFeed:
        """Where the analysis reports each handed-on frame's motion (the worker): a still
        scene lets the decoder rest (:mod:`.still`); a source nobody reports to never does."""
        return self._motion

    def stop(self) -> None:
        """Make :meth:`frames` return promptly: at once from a backoff wait, after the current
        packet while streaming (a blocked network read ends within ``read_timeout_s``)."""
        self._stop.set()
        self._motion.close()

    def frames(self) -> Iterator[Frame]:
        """Sampled BGR frames until the file ends (or, for a network stream or a looped
        file, until :meth:`stop`).  Raises :class:`SourceError` when a file cannot be opened
        or something unexpected breaks; decode errors of a readable file only end it."""
        sampler = PtsSampler(self._fps)
        lag = LagGate(self._max_lag_s) if self._network and self._max_lag_s > 0 else None
        failure: str | None = None
        try:
            while not self._stop.is_set():
                result = yield from self._one_pass(sampler, lag)
                if result.end is End.STOPPED or self._stop.is_set():
                    break
                if not self._network:
                    if result.end is End.OPEN_FAILED:
                        self._health.set_state(SourceState.FAILED)
                        failure = result.error
                        break
                    if self._loop and result.frames > 0 and result.end is End.EOF:
                        log.debug("camera %s: file ended, looping", self.camera_id)
                        continue
                    if self._loop and result.frames == 0:
                        self._record(f"no frame decoded in a pass over {self.display_url}")
                    self._health.set_state(SourceState.ENDED)
                    log.info("camera %s: file %s ended", self.camera_id, self.display_url)
                    return
                self._wait_backoff(result)
        except Exception as err:  # unexpected: fail for good, with a redacted message
            self._record(f"source failed: {self._describe(err)}")
            self._health.set_state(SourceState.FAILED)
            failure = f"source failed: {self._describe(err)}"
        finally:
            if self._health.state not in (SourceState.ENDED, SourceState.FAILED):
                self._health.set_state(SourceState.STOPPED)
            for tap in self._taps:
                tap.ended()
        if failure is not None:
            # Raised outside the except block: no chained FFmpeg error (which holds the URL).
            raise SourceError(f"camera {self.camera_id!r}: {failure}")

    # --- internals ---------------------------------------------------------------------
    def _redact(self, text: str) -> str:
        # The whole URL becomes its redacted form (more useful than a bare mask).
        return redact_text(text.replace(self._url, self.display_url), self._secrets)

    def _describe(self, err: BaseException) -> str:
        return f"{type(err).__name__}: {self._redact(str(err))}"

    def _record(self, message: str) -> None:
        self._health.error(message)
        log.warning("camera %s: %s", self.camera_id, message)

    def _wait_backoff(self, result: Pass) -> None:
        if result.clean > 0:
            self._backoff.reset()
        delay = self._backoff.next_delay()
        self._health.reconnecting()
        self._health.set_state(SourceState.BACKOFF)
        log.info("camera %s: reconnecting to %s in %.2f s", self.camera_id, self.display_url, delay)
        if self._sleep is None:
            self._stop.wait(delay)
        elif not self._stop.is_set():
            self._sleep(delay)

    def _decoder(self) -> HwChoice:
        """What this source decodes with: chosen at its first open (``hwdecode``); the main
        stream of a two-stream camera is only demuxed, so never on hardware."""
        if self.role != "analyse":
            return HwChoice(why="demuxed only")
        if self._hw is None:
            cam = self._camera
            self._hw = choose_hw(cam.hwdecode, cam.hwdecode_device)
            log.info("camera %s: decoder %s", self.camera_id, self._hw.label())
        return self._hw

    def _av_open(self, hw: HwChoice) -> InputContainer:
        return av.open(
            self._url, options=self._options(), timeout=self._timeouts, hwaccel=hw.accel()
        )

    def _open_failed(self, err: BaseException, waited: float) -> str:
        if timed_out(err, waited, self._timeouts[0]):
            # FFmpeg reports an interrupted RTSP open as "Invalid data found": say what
            # happened instead.
            return (
                f"cannot open {self.display_url}: timed out, no answer within "
                f"{waited:.1f} s (open timeout {self._timeouts[0]:g} s)"
            )
        return f"cannot open {self.display_url}: {self._describe(err)}"

    def _options(self) -> dict[str, str]:
        read_us = str(int(self._timeouts[1] * 1_000_000))
        scheme = _scheme(self._url)
        if scheme in ("rtsp", "rtsps"):
            return {"rtsp_transport": "tcp", "timeout": read_us}
        if scheme in ("http", "https"):
            return {"rw_timeout": read_us}
        return {}

    def _open(self) -> tuple[InputContainer, VideoStream] | str:
        """(container, video stream), or a redacted description of why it failed."""
        self._health.set_state(SourceState.CONNECTING)
        started = self._monotonic()
        hw = self._decoder()
        try:
            container = self._av_open(hw)
        except _OPEN_ERRORS as err:
            failed: BaseException = err
            opened = None
            if hw.hardware:  # a hardware decoder that cannot take this stream: try software
                try:
                    opened = self._av_open(HwChoice())
                except _OPEN_ERRORS as err2:
                    failed = err2  # the stream itself fails: keep the hardware for a retry
                else:
                    self._hw = hw = hw.given_up(self._describe(err))
                    log.warning("camera %s: decoder %s", self.camera_id, hw.label())
            if opened is None:
                return self._open_failed(failed, self._monotonic() - started)
            container = opened
        if not container.streams.video:
            container.close()
            return f"cannot open {self.display_url}: it holds no video stream"
        stream = container.streams.video[0]
        if self.role == "analyse":
            self._chooser = DecodeChooser(
                self._fps, keyframes_only=self._keyframes_only, decoder=hw.label()
            )
            self._health.decoding(self._chooser.opened(stream).describe())
            self._health.still("", "normal")
            cam = self._camera
            self._still = StillDecoder(
                stream,
                self._chooser,
                self._motion,
                setting=cam.still_decode,
                after_s=cam.still_after_s,
                max_gop_s=cam.still_max_gop_s,
                wait_s=VERDICT_WAIT_LIVE_S if self._network else VERDICT_WAIT_FILE_S,
                on_change=self._health.still,
            )
        else:
            self._health.decoding("demuxed only (main stream)")
        ctx = stream.codec_context
        self._health.opened(ctx.width or 0, ctx.height or 0, ctx.name or "")
        if stream.average_rate:
            self._frame_step = 1.0 / float(stream.average_rate)
        # A looping file reopens every pass: log that quietly.
        log.log(
            logging.DEBUG if self._opens and not self._network else logging.INFO,
            "camera %s: opened %s (%s %dx%d%s)",
            self.camera_id,
            self.display_url,
            stream.codec_context.name,
            stream.codec_context.width,
            stream.codec_context.height,
            ", keyframes only" if self._keyframes_only else "",
        )
        self._opens += 1
        return container, stream

    def _one_pass(self, sampler: PtsSampler, lag: LagGate | None) -> Generator[Frame, None, Pass]:
        """Open once, yield sampled frames until the end, an error or stop(); returns a
        :class:`Pass` (via ``yield from``)."""
        opened = self._open()
        if isinstance(opened, str):
            self._record(opened)
            return Pass(End.OPEN_FAILED, error=opened)
        container, stream = opened
        result = Pass()
        if lag is not None:
            lag.reset()
        span = Span()
        duration_us: int | None = container.duration
        try:
            yield from self._decode(container, stream, sampler, lag, result, span)
        finally:
            container.close()
            if result.frames > 0:
                # The next pass (loop or reconnect) continues one frame step later.
                self._pts_base = self._last_pts + self._frame_step
        hw = self._hw
        if hw is not None and hw.hardware and result.error and result.clean == 0:
            self._hw = hw.given_up(f"no clean picture decoded ({result.error})")
        if result.end is End.EOF and self._network:
            result.error = result.error or f"stream {self.display_url} ended"
        if result.end is End.EOF and not self._network and not result.error:
            result.error = span.truncation(duration_us)
        if result.error:
            self._record(result.error)
        return result

    def _decode(
        self,
        container: InputContainer,
        stream: VideoStream,
        sampler: PtsSampler,
        lag: LagGate | None,
        result: Pass,
        span: Span,
    ) -> Iterator[Frame]:
        packets = container.demux(stream)
        first_pts: float | None = None
        decode_errors = 0
        # For the no-frame watchdog of live streams: when the last clean frame was decoded
        # (moved on by the time the consumer held the generator: not the stream's fault), and
        # the frames the decoder flagged corrupt since (garbage it concealed into a picture).
        last_clean_at = self._monotonic()
        corrupt_since = 0
        first_packet_s: float | None = None  # the taps' zero of this pass
        while True:
            if self._stop.is_set():
                result.end = End.STOPPED
                return
            if self._network and self._monotonic() - last_clean_at > self._no_frame_s:
                result.end = End.ERROR
                junk = f" ({corrupt_since} corrupt frame(s) only)" if corrupt_since else ""
                result.error = (
                    f"no decodable frame from {self.display_url} for "
                    f"{self._monotonic() - last_clean_at:.1f} s{junk} (no_frame_timeout_s "
                    f"{self._no_frame_s:g}): data arrives but nothing decodes"
                    + (f"; last decode error: {result.error}" if result.error else "")
                )
                return
            asked = self._monotonic()
            try:
                packet = next(packets)
            except StopIteration:
                return
            except (av.error.FFmpegError, OSError) as err:
                waited = self._monotonic() - asked
                if self._network and timed_out(err, waited, self._timeouts[1]):
                    why = (
                        f"read timed out: no data from {self.display_url} within {waited:.1f} s "
                        f"(read timeout {self._timeouts[1]:g} s)"
                    )
                else:
                    why = f"read failed: {self._describe(err)}"
                result.end, result.error = End.ERROR, why
                return
            span.add(packet)
            if self._taps and packet.pts is not None and packet.time_base is not None:
                packet_s = float(packet.pts * packet.time_base)
                if first_packet_s is None:
                    first_packet_s = packet_s
                for tap in self._taps:
                    tap.packet(packet, stream, self._pts_base + packet_s - first_packet_s)
            probing = self._chooser is not None and self._chooser.setting is None
            if probing and self._chooser is not None and getattr(packet, "size", None):
                chosen = self._chooser.packet(bytes(packet), bool(packet.is_keyframe))
                if chosen is not None:
                    self._health.decoding(chosen.describe())
                    log.info("camera %s: decoding %s", self.camera_id, chosen.describe())
            if self.role == "main":
                self._demuxed(packet, first_packet_s, result)
                last_clean_at = self._monotonic()
                continue
            try:
                still = self._still
                decoded = still.decode(packet) if still is not None else packet.decode()
            except (av.error.FFmpegError, ValueError) as err:
                decode_errors += 1
                result.error = f"decode failed: {self._describe(err)}"
                if decode_errors >= MAX_DECODE_ERRORS:
                    result.end = End.ERROR
                    return
                continue
            decode_errors = 0
            for vf in decoded:
                raw = vf.time
                if raw is None:  # no timestamps: count frames
                    first = result.frames == 0
                    pts_s = self._pts_base if first else self._last_pts + self._frame_step
                else:
                    if first_pts is None:  # line up with frames decoded without pts
                        done = self._last_pts + self._frame_step - self._pts_base
                        first_pts = float(raw) - (done if result.frames else 0.0)
                    pts_s = self._pts_base + float(raw) - first_pts
                pts_s = max(pts_s, self._last_pts)  # never backwards
                self._last_pts = pts_s
                result.frames += 1
                if vf.is_corrupt:
                    corrupt_since += 1
                else:
                    result.clean += 1
                    corrupt_since = 0
                    last_clean_at = self._monotonic()
                wall = self._clock()
                self._index += 1
                self._health.decoded(wall)
                if result.clean == 1 and not vf.is_corrupt:
                    # Streaming once a frame decodes cleanly, not on concealed garbage.
                    self._health.set_state(SourceState.STREAMING)
                if not sampler.due(pts_s):
                    continue
                if lag is not None and lag.stale(pts_s, wall):
                    self._health.dropped()
                    continue
                self._health.analysed(wall)
                handed = self._monotonic()
                # converted to BGR only if something looks at more than its grey plane
                picture = AvPicture(vf)
                if self._still is not None:
                    self._still.handed(self._index - 1, pts_s)
                yield Frame(self.camera_id, self._index - 1, pts_s, wall, picture=picture)
                last_clean_at += self._monotonic() - handed
                if self._stop.is_set():
                    result.end = End.STOPPED
                    return

    def _demuxed(self, packet: Packet, first_packet_s: float | None, result: Pass) -> None:
        """A main-stream packet went to the taps: it counts as a frame (health, watchdog,
        the media clock that continues over a reconnect); nothing is decoded."""
        if packet.size == 0:
            return
        if packet.pts is not None and packet.time_base is not None and first_packet_s is not None:
            pts_s = self._pts_base + float(packet.pts * packet.time_base) - first_packet_s
            self._last_pts = max(self._last_pts, pts_s)
        result.frames += 1
        result.clean += 1
        self._index += 1
        self._health.decoded(self._clock())
        if result.clean == 1:
            self._health.set_state(SourceState.STREAMING)
