from citywatch.decisions.types import FaceTrackCount, PlateRead
from citywatch.engine.sink import RecorderSink
from citywatch.services.common import PermissionDenied


def _read(cam: str, text: str) -> PlateRead:
    return PlateRead(cam, 1, text, 0.9, "NL", 3, 3, 0.0, 1.0, 0.0, 0.0, (0, 0, 1, 1))


class FakeRecorder:
    def __init__(self):
        self.reads, self.counts = [], []

    def record_face_match(self, m):
        return 1

    def record_plate_read(self, r):
        if r.text == "DENIED":
            raise PermissionDenied("camera 'c' has no legal basis")
        self.reads.append(r.text)
        return 1, None

    def record_face_count(self, c):
        self.counts.append(c.tracks)


def test_policy_refusal_drops_only_that_result_and_counts_are_merged():
    rec = FakeRecorder()
    sink = RecorderSink(rec)
    sink.handle(
        "c",
        [
            _read("c", "AB12CD"),
            FaceTrackCount("c", 2, 5.0),
            _read("c", "DENIED"),
            FaceTrackCount("c", 3, 6.0),
            _read("c", "XY99ZZ"),
        ],
    )
    assert rec.reads == ["AB12CD", "XY99ZZ"]
    assert rec.counts == [5]
    assert sink.refused == 1
