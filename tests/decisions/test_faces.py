import numpy as np
import pytest

from citywatch.config.faces import FUSED_THRESHOLD, FacesConfig
from citywatch.decisions.faces import FaceTrackDecider, aggregate, crop_face, same_person
from citywatch.decisions.gallery import Gallery
from citywatch.decisions.types import FaceMatch, FaceTrackCount
from citywatch.vision.faces.chips import TEMPLATE_5
from citywatch.vision.record import Detections, Frame, FrameRecord

RED, GREEN, BLUE = (0, 0, 255), (0, 255, 0), (255, 0, 0)
# Faces are a colour (the identity) with a fine checker (the detail redaction must destroy).
CHECKER = 0.6 + 0.4 * ((np.indices((80, 80)).sum(axis=0) // 2) % 2)


class FakeEmbedder:
    """Identity = the colour under the nose: BGR as a unit vector (so dim 3)."""

    name = "fake"
    dim = 3

    def __init__(self):
        self.calls = 0
        self.faces = 0

    def embed(self, image, landmarks):
        self.calls += 1
        self.faces += len(landmarks)
        out = []
        for pts in landmarks:
            x, y = np.round(pts[4]).astype(int)
            v = image[y, x].astype(np.float32) + 1e-3
            out.append(v / np.linalg.norm(v))
        return np.asarray(out, np.float32)


def _gallery():
    # ann wears red, bob green; blue is nobody on the watchlist.
    return Gallery.build(np.eye(3, dtype=np.float32)[[2, 1]], [11, 22], ["ann", "bob"], [5, 5])


def _record(t, faces, index=0):
    """faces: (track_id, colour, x, quality) — 80 px faces in a row at y=100."""
    img = np.full((360, 640, 3), 90, np.uint8)
    boxes, lms = [], []
    for _, colour, x, _ in faces:
        img[100:180, x : x + 80] = (np.asarray(colour) * CHECKER[..., None]).astype(np.uint8)
        boxes.append([x, 100, x + 80, 180])
        lms.append(TEMPLATE_5 * 80 + [x, 100])
    dets = Detections.from_boxes(
        np.asarray(boxes, np.float32).reshape(-1, 4),
        np.full(len(faces), 0.9, np.float32),
        landmarks=np.asarray(lms, np.float32).reshape(-1, 5, 2),
    )
    dets = dets.with_tracks(np.array([f[0] for f in faces], np.int64)).with_quality(
        np.array([f[3] for f in faces], np.float32)
    )
    return FrameRecord(frame=Frame("cam-1", index, t, 1000.0 + t, img), faces=dets)


def _decider(gallery=None, **cfg):
    emb = FakeEmbedder()
    conf = FacesConfig(**{"frames_per_track": 3, "track_lost_s": 1.0, "min_quality": 0.3, **cfg})
    g = _gallery() if gallery is None else gallery
    return FaceTrackDecider(g, emb, conf, "cam-1", clock=lambda: 5.0), emb


def _run(decider, frames):
    out = []
    for k, faces in enumerate(frames):
        out.extend(decider.update(_record(k * 0.2, faces, k)))
    return out


def _matches(out):
    return [o for o in out if isinstance(o, FaceMatch)]


def _counts(out):
    return [o for o in out if isinstance(o, FaceTrackCount)]


def test_a_watched_face_matches_once_per_track():
    dec, emb = _decider()
    out = _run(dec, [[(1, RED, 100, 0.5 + k / 100), (2, BLUE, 300, 0.6)] for k in range(15)])
    m = _matches(out)
    assert len(m) == 1
    assert (m[0].subject_id, m[0].subject_name, m[0].watchlist_id, m[0].track_id) == (
        11,
        "ann",
        5,
        1,
    )
    assert m[0].score == pytest.approx(1.0, abs=1e-3) and m[0].threshold == FUSED_THRESHOLD
    assert m[0].frames_used == 3 and m[0].first_seen_s == 0.0
    assert m[0].decided_wall_time == 5.0 and m[0].camera_id == "cam-1"
    # Embeddings: 3 crops of track 1 and 3 of track 2 at most a few rounds, never every frame.
    assert emb.faces <= 12


def test_evidence_is_the_best_frame_with_other_faces_blurred():
    dec, _ = _decider()
    frames = [[(1, RED, 100, q), (2, BLUE, 300, 0.6)] for q in (0.4, 0.9, 0.5, 0.45)]
    m = _matches(_run(dec, frames))[0]
    assert m.box == (100.0, 100.0, 180.0, 180.0)
    assert m.frame_wall_time == pytest.approx(1000.2)  # the frame where the face was best
    ev = m.evidence
    assert ev is not None and ev.shape == (360, 640, 3)
    original = _record(0.2, frames[1]).frame.image
    assert np.array_equal(ev[100:180, 100:180], original[100:180, 100:180])  # matched: sharp

    def detail(a):
        return np.abs(np.diff(a[100:180, 300:380].astype(float), axis=1)).mean()

    assert detail(ev) < 0.1 * detail(original)  # the other face: its detail is gone


def test_unmatched_track_is_forgotten_and_counted():
    dec, emb = _decider()
    frames = [[(7, BLUE, 100, 0.7)] for _ in range(5)]
    out = _run(dec, frames)
    assert emb.calls > 0  # it was compared ...
    assert dec.held_crops() > 0
    out += _run_after(dec, 3.0, [])
    assert not _matches(out)
    assert [c.tracks for c in _counts(out)] == [1]
    # ... and nothing of it is left.
    assert dec.open_tracks == 0
    assert dec.held_crops() == 0 and dec.held_embeddings() == 0 and dec.held_frames() == 0


def _run_after(dec, t, faces):
    return dec.update(_record(t, faces, 99))


def test_ended_tracks_are_counted_together():
    dec, _ = _decider()
    _run(dec, [[(1, BLUE, 100, 0.7), (2, BLUE, 300, 0.7), (3, RED, 500, 0.7)]] * 3)
    out = _run_after(dec, 5.0, [])
    assert [c.tracks for c in _counts(out)] == [2]  # track 3 matched: not counted
    assert _counts(out)[0].wall_time == 5.0


def test_empty_gallery_never_embeds_and_holds_nothing():
    dec, emb = _decider(gallery=Gallery.empty(3))
    _run(dec, [[(1, RED, 100, 0.9), (2, GREEN, 300, 0.9)]] * 6)
    assert dec.open_tracks == 2 and dec.held_crops() == 0 and dec.held_frames() == 0
    out = dec.flush()
    assert emb.calls == 0
    assert [c.tracks for c in _counts(out)] == [2]


def test_short_track_is_decided_when_it_ends():
    dec, _ = _decider()
    out = _run(dec, [[(4, GREEN, 100, 0.8)]])  # one frame: fewer than frames_per_track
    assert not _matches(out)
    out = _run_after(dec, 2.0, [])
    m = _matches(out)
    assert len(m) == 1 and m[0].subject_name == "bob" and m[0].frames_used == 1
    assert not _counts(out)


def test_low_quality_and_untracked_faces_are_not_embedded():
    dec, emb = _decider(min_quality=0.5)
    _run(dec, [[(1, RED, 100, 0.2), (-1, GREEN, 300, 0.9)]] * 6)
    assert emb.calls == 0 and dec.held_crops() == 0
    assert dec.open_tracks == 1  # seen (and so counted when it ends), never analysed


def test_reembeds_only_for_a_clearly_better_frame():
    dec, emb = _decider(reembed_gain=0.2, max_embeds_per_track=2, gallery=Gallery.empty(3))
    dec.gallery = Gallery.build(np.eye(3, dtype=np.float32)[[2]], [11], ["ann"], [5])
    frames = [[(1, BLUE, 100, 0.5)]] * 3  # round 1 at the 3rd frame: 3 crops embedded
    frames += [[(1, BLUE, 100, 0.6)]]  # not better by 0.2: no new round
    _run(dec, frames)
    assert dec._tracks[1].embeds == 1 and emb.faces == 3
    dec.update(_record(1.0, [(1, BLUE, 100, 0.75)]))  # better by 0.25: round 2
    assert dec._tracks[1].embeds == 2
    assert emb.faces == 5  # best three are 0.75, 0.6 (new) and a 0.5 embedded before
    for q in (0.76, 0.77, 0.78):
        dec.update(_record(1.2, [(1, BLUE, 100, q)]))
    assert dec._tracks[1].embeds == 2  # no clearly better frame since
    dec.update(_record(1.4, [(1, BLUE, 100, 0.99)]))
    assert dec._tracks[1].embeds == 2  # the budget is spent


def test_track_cap_ends_the_stalest():
    dec, _ = _decider(max_tracks=2)
    out = _run(dec, [[(1, BLUE, 0, 0.7)], [(2, BLUE, 100, 0.7)], [(3, BLUE, 200, 0.7)]])
    assert dec.open_tracks == 2 and 1 not in dec._tracks
    assert [c.tracks for c in _counts(out)] == [1]


def test_flush_decides_then_forgets_everything():
    dec, _ = _decider()
    _run(dec, [[(1, GREEN, 100, 0.7), (2, BLUE, 300, 0.7)]] * 2)
    out = dec.flush()
    assert [m.subject_name for m in _matches(out)] == ["bob"]
    assert [c.tracks for c in _counts(out)] == [1]
    assert dec.open_tracks == 0 and dec.held_crops() == 0
    assert dec.flush() == []


def test_a_switched_track_is_anchored_on_its_best_face():
    dec, _ = _decider()
    # One track id, two people: ann at her best, then blue faces of lower quality.
    out = _run(dec, [[(1, RED, 100, 0.9)], [(1, BLUE, 100, 0.5)], [(1, BLUE, 100, 0.5)]])
    m = _matches(out)
    assert len(m) == 1 and m[0].subject_name == "ann" and m[0].frames_used == 1


def test_gallery_and_embedder_dimensions_must_agree():
    g = Gallery.build(np.eye(4, dtype=np.float32)[:1], [1], ["x"], [1])
    with pytest.raises(ValueError, match=r"'cam-1'.*4 dimensions.*'fake' gives 3"):
        FaceTrackDecider(g, FakeEmbedder(), FacesConfig(), "cam-1")


def test_aggregate_and_same_person():
    e = np.array([[1, 0], [0.8, 0.6], [0, 1]], np.float32)
    assert same_person(e, 0.7).tolist() == [True, True, False]
    agg = aggregate(e[:2], np.array([1.0, 1.0], np.float32))
    assert np.linalg.norm(agg) == pytest.approx(1.0)
    assert agg[0] > agg[1] > 0
    heavy = aggregate(e[:2], np.array([0.01, 1.0], np.float32))
    assert heavy @ e[1] > agg @ e[1]


def test_crop_face_is_a_copy_with_moved_landmarks():
    img = np.zeros((100, 100, 3), np.uint8)
    crop, lm = crop_face(
        img, np.array([40, 40, 60, 60], np.float32), np.full((5, 2), 50, np.float32)
    )
    assert crop.shape == (60, 60, 3) and lm[0].tolist() == [30, 30]
    crop[:] = 1
    assert img.max() == 0
