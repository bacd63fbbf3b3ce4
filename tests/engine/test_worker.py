import threading
import time

import numpy as np

from citywatch.decisions.types import FaceTrackCount
from citywatch.engine.worker import CameraWorker, FrameSlot
from citywatch.vision.record import Frame, FrameRecord


def _frame(i: int) -> Frame:
    return Frame("cam-1", i, i / 5, time.time(), np.zeros((4, 4, 3), np.uint8))


class ListSource:
    def __init__(self, n: int, fail_at: int | None = None):
        self.n, self.fail_at, self.stopped = n, fail_at, False

    def frames(self):
        for i in range(self.n):
            if self.fail_at == i:
                raise RuntimeError(f"stream broke at frame {i}")
            yield _frame(i)

    def stop(self):
        self.stopped = True


class CountingPipeline:
    def __init__(self, bad: set[int] = frozenset(), delay: float = 0.0):
        self.seen: list[int] = []
        self.bad, self.delay = bad, delay

    def process(self, frame):
        if frame.index in self.bad:
            raise ValueError("corrupt frame")
        time.sleep(self.delay)
        self.seen.append(frame.index)
        return FrameRecord(frame), [FaceTrackCount("cam-1", 1, 0.0)]

    def flush(self):
        return [FaceTrackCount("cam-1", 100, 0.0)]


class Sink:
    def __init__(self, fail_times: int = 0):
        self.batches: list = []
        self.fail_times = fail_times

    def handle(self, camera_id, sightings):
        if self.fail_times > 0:
            self.fail_times -= 1
            raise ConnectionError("database went away")
        self.batches.append(list(sightings))


def test_recorded_footage_analyses_every_frame_and_flushes():
    pipe, sink = CountingPipeline(), Sink()
    stats = CameraWorker("cam-1", ListSource(30), pipe, sink, live=False).run()
    assert pipe.seen == list(range(30))
    assert stats.analysed == 30 and stats.dropped == 0
    assert sum(s.tracks for b in sink.batches for s in b) == 30 + 100


def test_live_camera_drops_frames_instead_of_queueing_when_analysis_is_slow():
    """The analysis of frame 0 lasts until the camera has sent all 300 (events, not sleeps):
    the frames in between are dropped and counted, and the newest is analysed next."""
    busy, sent = threading.Event(), threading.Event()

    class SlowFirst(CountingPipeline):
        def process(self, frame):
            if frame.index == 0:
                busy.set()
                assert sent.wait(10), "the source never finished"
            return super().process(frame)

    class Camera(ListSource):
        def frames(self):
            yield _frame(0)
            assert busy.wait(10), "frame 0 never reached the analysis"
            yield from (_frame(i) for i in range(1, self.n))
            sent.set()

    pipe = SlowFirst()
    stats = CameraWorker("cam-1", Camera(300), pipe, Sink(), live=True).run()
    assert pipe.seen == [0, 299]  # newest wins
    assert (stats.analysed, stats.dropped) == (2, 298)


def test_a_bad_frame_does_not_stop_the_camera():
    pipe = CountingPipeline(bad={3, 7})
    stats = CameraWorker("cam-1", ListSource(10), pipe, Sink(), live=False).run()
    assert stats.errors == 2 and "corrupt frame" in stats.last_error
    assert len(pipe.seen) == 8


def test_source_error_is_recorded_and_worker_ends():
    stats = CameraWorker(
        "cam-1", ListSource(10, fail_at=5), CountingPipeline(), Sink(), live=False
    ).run()
    assert stats.analysed == 5
    assert "stream broke" in stats.last_error


def test_results_survive_a_store_outage():
    sink = Sink(fail_times=3)
    w = CameraWorker("cam-1", ListSource(10), CountingPipeline(), sink, live=False)
    stats = w.run()
    assert w.pending == 0
    assert sum(s.tracks for b in sink.batches for s in b) == 10 + 100
    assert "database went away" in stats.last_error


def test_stop_ends_a_never_ending_source_promptly():
    class Forever(ListSource):
        def frames(self):
            i = 0
            while not self.stopped:
                i += 1
                yield _frame(i)
                time.sleep(0.001)

    analysing = threading.Event()

    class Noting(CountingPipeline):
        def process(self, frame):
            analysing.set()
            return super().process(frame)

    src = Forever(0)
    w = CameraWorker("cam-1", src, Noting(), Sink(), live=True)
    t = threading.Thread(target=w.run, daemon=True)
    t.start()
    assert analysing.wait(10)  # running: frames reach the analysis
    w.stop()
    t.join(timeout=10)  # a hang guard: the source never ends by itself
    assert not t.is_alive() and src.stopped


def test_frame_slot_blocking_mode_applies_backpressure():
    slot = FrameSlot(2, newest_wins=False)
    slot.put(_frame(0))
    slot.put(_frame(1))
    done = threading.Event()

    def producer():
        slot.put(_frame(2))
        done.set()

    threading.Thread(target=producer, daemon=True).start()
    assert not done.wait(0.2)  # blocked: no room
    assert slot.get().index == 0
    assert done.wait(1.0)
    assert slot.dropped == 0


def test_local_engine_serves_the_latest_picture_as_jpeg(tmp_path):
    from citywatch.engine.local import CameraRun, LocalEngine

    class BigSource(ListSource):
        def frames(self):
            for i in range(3):
                yield Frame("cam-1", i, i / 5, time.time(), np.full((720, 1280, 3), i, np.uint8))

    w = CameraWorker("cam-1", BigSource(3), CountingPipeline(), Sink(), live=False)
    engine = LocalEngine([CameraRun(worker=w, health=lambda: None)], state_dir=tmp_path)
    assert engine.latest_jpeg("cam-1") is None  # nothing analysed yet
    engine.start()
    assert engine.wait(timeout=10)
    jpeg = engine.latest_jpeg("cam-1", max_width=640)
    assert jpeg is not None and jpeg[:2] == b"\xff\xd8"
    import cv2

    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert img.shape == (360, 640, 3) and int(img.mean()) == 2  # the last frame, scaled
    assert engine.latest_jpeg("other") is None
    assert (tmp_path / "health" / "cam-1.json").is_file()


def test_local_engine_waits_for_the_clips_of_the_alerts_its_cameras_raised(tmp_path):
    """A run that ends (the demo, a scan) reports with every clip made: wait() returns only
    when the camera's clip jobs have run, and says False when they outlast its timeout."""
    from citywatch.engine.local import CameraRun, LocalEngine
    from citywatch.services.clips import _WorkerThread

    gate = threading.Event()
    made: list[int] = []
    jobs = _WorkerThread("clips-cam-1")

    class Clips:  # what the engine asks of a camera's ClipMaker
        def drain(self, timeout: float | None = None) -> bool:
            return jobs.drain(timeout)

    def clip_job(n: int) -> None:
        gate.wait(10)
        made.append(n)

    class AlertingSource(ListSource):
        def frames(self):
            jobs(lambda: clip_job(1))  # an alert asked for its clip mid-run
            yield from super().frames()

    w = CameraWorker("cam-1", AlertingSource(3), CountingPipeline(), Sink(), live=False)
    engine = LocalEngine([CameraRun(worker=w, health=lambda: None, clips=Clips())])  # type: ignore[arg-type]
    engine.start()
    assert engine.wait(timeout=0.5) is False  # the worker ended, its clip is still being made
    assert made == []
    gate.set()
    assert engine.wait(timeout=10) is True
    assert made == [1]
