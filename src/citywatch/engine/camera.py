"""One camera's worker, built the same way wherever it runs: a thread of the local engine or a
Ray camera actor.

:func:`build_camera_worker` checks what the camera may analyse, builds its pipeline, and wires
source, pipeline, event recorder (store, media, hotlist, alert publishing) and the pipeline
refresher into a :class:`~citywatch.engine.worker.CameraWorker`.  The callers differ only in
what they pass: the store's session factory and media folder, where alerts are published (the
in-process dispatcher, or PostgreSQL NOTIFY from an actor), and the run id.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from citywatch.config.camera import CameraConfig
from citywatch.config.root import CitywatchConfig
from citywatch.engine.allocator import HeapTrimmer
from citywatch.engine.assemble import Models, Permissions, privacy_masker
from citywatch.engine.dual import MainStreamEvidence
from citywatch.engine.runtime import PipelineRefresher, initial_pipeline
from citywatch.engine.sink import RecorderSink
from citywatch.engine.worker import CameraWorker, PipelineLike
from citywatch.policy.recording import RecordingFacts, camera_may_record
from citywatch.services.clips import ClipMaker
from citywatch.services.events import EventRecorder, HotlistMatch, Publish
from citywatch.services.segment_recorder import SegmentRecorder, recover_partials
from citywatch.sources.mainstream import ClockLink, ClockTap, DualSource
from citywatch.sources.pyav import CameraSource
from citywatch.sources.recorder import PacketBuffer, PacketTap
from citywatch.store.media import MediaStore

#: Seconds the packet buffer holds beyond a clip's before + after: a decision taken a
#: little after the last sighting, and a group of pictures to start on.
CLIP_BUFFER_SLACK_S = 30.0
#: A camera analysed on its substream keeps this much of its main stream for snapshots when
#: clips are off (with clips on, the clip buffer serves both); at most this many bytes.
MAIN_BUFFER_S = 60.0
MAIN_BUFFER_MAX_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class CameraParts:
    """A camera ready to run: its worker, the source it reads (for health), the recorder its
    results go through, and what policy allowed it to analyse."""

    worker: CameraWorker
    source: CameraSource | DualSource
    recorder: EventRecorder
    permissions: Permissions
    clips: ClipMaker | None = None
    recording: SegmentRecorder | None = None  # continuous recording (None: not recorded)
    evidence: MainStreamEvidence | None = None  # snapshots from the main stream (detect_url)


def build_camera_worker(
    camera: CameraConfig,
    config: CitywatchConfig,
    models: Models,
    sessions: sessionmaker[Session],
    media: MediaStore,
    hotlist: HotlistMatch,
    publish: Publish,
    *,
    now: dt.datetime,
    run_id: str | None = None,
    replayable: bool = False,
    live: bool | None = None,
    pace: bool | None = None,
    refresh_s: float = 30.0,
    trimmer: HeapTrimmer | None = None,
) -> CameraParts:
    """The camera's worker (not started).

    ``run_id`` tells this run's events apart from an earlier run's over the same footage; by
    default a live stream's start time and nothing for a file.  ``replayable``: a restarted
    worker re-analysing footage writes the same event ids (Ray actors).  ``live``/``pace``
    default from the source: network streams are live; looped files are paced like a live
    camera.  ``trimmer``: the process's C-heap trimmer (one per process, shared by its
    workers; :class:`~citywatch.engine.allocator.HeapTrimmer`).  Raises what checking the
    camera's permissions or building its models raises.
    """
    pipeline, perms = initial_pipeline(camera, config, models, sessions, now)
    clips = clip_maker(camera, config, models, sessions, media)
    recording = segment_recorder(camera, config, sessions, media, now)
    taps: list[PacketTap] = [clips.buffer] if clips else []
    if recording is not None:
        taps.append(recording)
    source: CameraSource | DualSource
    evidence: MainStreamEvidence | None = None
    analysed: PipelineLike = pipeline
    if camera.detect_url is None:
        source = CameraSource(camera, taps=taps)
    else:
        source, evidence = dual_stream(camera, config, models, clips, taps)
        analysed = evidence.wrap(pipeline)
    is_live = source.is_live if live is None else live
    if run_id is None:
        run_id = f"{now.timestamp():.0f}" if is_live else ""
    recorder = EventRecorder(
        sessions,
        media,
        hotlist,
        publish,
        run_id=run_id,
        repeat_window_s=config.alerts.repeat_window_s,
        group_window_s=config.alerts.group_window_s,
        plate_min_confidence=config.alerts.plate_min_confidence,
        replayable=replayable,
        on_alert=clips.alert_stored if clips else None,
        evidence=evidence.picture if evidence else None,
    )
    refresher = PipelineRefresher(camera, config, models, sessions, pipeline, refresh_s=refresh_s)
    worker = CameraWorker(
        camera.id,
        source,
        analysed,
        RecorderSink(recorder),
        live=is_live or camera.loop,
        pace=camera.loop if pace is None else pace,
        on_frame=refresher,
        media_health=recorder.media_health,
        recording_health=recording.health if recording else None,
        trimmer=trimmer,
        motion_feed=source.motion_feed,
    )
    return CameraParts(
        worker=worker,
        source=source,
        recorder=recorder,
        permissions=perms,
        clips=clips,
        recording=recording,
        evidence=evidence,
    )


def dual_stream(
    camera: CameraConfig,
    config: CitywatchConfig,
    models: Models,
    clips: ClipMaker | None,
    taps: list[PacketTap],
) -> tuple[DualSource, MainStreamEvidence]:
    """A camera with a ``detect_url``: the substream analysed, the main stream demuxed into
    the clip buffer (or a buffer of its own), the recorder and the clock link; snapshots
    decoded from it on demand (:mod:`citywatch.engine.dual`)."""
    analyse = CameraSource(camera)
    link = ClockLink(live=analyse.is_live)
    buffer = clips.buffer if clips is not None else None
    main_taps: list[PacketTap] = [ClockTap(link), *taps]
    if buffer is None:
        buffer = PacketBuffer(camera.id, seconds=MAIN_BUFFER_S, max_bytes=MAIN_BUFFER_MAX_BYTES)
        main_taps.append(buffer)
    main = CameraSource(camera, taps=main_taps, role="main")
    masker = privacy_masker(camera)
    evidence = MainStreamEvidence(
        camera.id,
        buffer,
        link,
        redactor=lambda: models.face_detector,
        min_score=config.faces.detector.redact_min_score,
        mask=masker.apply if masker is not None else None,
    )
    return DualSource(analyse, main, link), evidence


def clip_maker(
    camera: CameraConfig,
    config: CitywatchConfig,
    models: Models,
    sessions: sessionmaker[Session],
    media: MediaStore,
) -> ClipMaker | None:
    """The camera's evidence clips (a packet buffer on its source), unless switched off."""
    cfg = config.recording.clips
    if not cfg.enabled:
        return None
    buffer = PacketBuffer(
        camera.id,
        seconds=cfg.before_s + cfg.after_s + CLIP_BUFFER_SLACK_S,
        max_bytes=int(cfg.buffer_max_mb * 1024 * 1024),
    )
    masker = privacy_masker(camera)
    return ClipMaker(
        camera.id,
        buffer,
        sessions,
        media,
        lambda: models.face_detector,
        config=cfg,
        min_score=config.faces.detector.redact_min_score,
        mask=masker.apply if masker is not None else None,
    )


def segment_recorder(
    camera: CameraConfig,
    config: CitywatchConfig,
    sessions: sessionmaker[Session],
    media: MediaStore,
    now: dt.datetime,
) -> SegmentRecorder | None:
    """The camera's continuous recording (a second tap on its packets), when its register
    entry allows it; what an earlier run left half-written is finished or discarded first.
    Raises ``ValueError`` with the policy's reason when recording is enabled but refused."""
    if not camera.recording.enabled:
        return None
    decision = camera_may_record(
        RecordingFacts.from_config(camera), config.recording.storage.max_retain_hours, now
    )
    if not decision:
        raise ValueError(decision.reason)
    recover_partials(sessions, media, camera.id)
    return SegmentRecorder(camera.id, sessions, media, segment_s=camera.recording.segment_s)
