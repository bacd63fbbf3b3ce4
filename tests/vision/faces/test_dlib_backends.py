import cv2
import numpy as np
import pytest

from citywatch.vision.boxes import box_iou
from citywatch.vision.faces.dlib_backends import (
    DlibEmbedder,
    DlibHogDetector,
    DlibLandmarker,
    hog_score,
    model_path,
    models_dir,
    normalise,
)
from citywatch.vision.faces.yunet import YunetDetector


@pytest.mark.parametrize(("margin", "score"), [(0.0, 0.5), (-10.0, 0.0), (10.0, 1.0)])
def test_hog_score_table(margin, score):
    assert hog_score(margin) == pytest.approx(score, abs=1e-6)


def test_normalise_rows():
    out = normalise(np.array([[3, 4], [0, 0]], np.float32))
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0]], rtol=1e-6)


def test_models_are_found_without_importing_the_package():
    assert (models_dir() / "shape_predictor_5_face_landmarks.dat").is_file()
    with pytest.raises(FileNotFoundError, match=r"no_such_model\.dat"):
        model_path("no_such_model.dat")


@pytest.fixture(scope="module")
def two_people(shared_data):
    return cv2.imread(
        str(shared_data / "faces" / "watchlist_video" / "examples" / "two_people.jpg")
    )


@pytest.mark.integration
def test_hog_and_yunet_agree_on_big_faces(two_people):
    hog = DlibHogDetector(upsample=1).detect(two_people)
    yunet = YunetDetector().detect(two_people)
    assert len(hog) >= 2
    iou = box_iou(hog.xyxy, yunet.xyxy)
    assert (iou.max(axis=1) > 0.6).sum() >= 2  # YuNet boxes are in dlib's convention


@pytest.mark.integration
def test_landmarks_then_embeddings(two_people):
    faces = YunetDetector().detect(two_people)
    big = faces.select(np.argsort(-faces.widths)[:2])
    lm = DlibLandmarker().landmarks(two_people, big.xyxy)
    assert lm.shape == (2, 5, 2)
    # Points lie inside their boxes; eye points 0-1 at larger x than 2-3 (dlib order).
    for box, pts in zip(big.xyxy, lm, strict=True):
        assert (pts[:, 0] >= box[0]).all() and (pts[:, 0] <= box[2]).all()
        assert pts[0:2, 0].mean() > pts[2:4, 0].mean()
    emb = DlibEmbedder().embed(two_people, lm)
    assert emb.shape == (2, 128) and emb.dtype == np.float32
    assert np.linalg.norm(emb, axis=1) == pytest.approx([1, 1], abs=1e-5)
    assert float(emb[0] @ emb[1]) < 0.9  # two different people
    # Same face, shifted image: same embedding (alignment comes from the landmarks).
    shifted = np.ascontiguousarray(two_people[20:, 30:])
    again = DlibEmbedder().embed(shifted, lm[:1] - np.array([30, 20], np.float32))
    assert float(again[0] @ emb[0]) > 0.99


@pytest.mark.integration
def test_embedder_rejects_bad_landmarks():
    with pytest.raises(ValueError, match=r"\(N, 5, 2\)"):
        DlibEmbedder().embed(np.zeros((10, 10, 3), np.uint8), np.zeros((1, 68, 2), np.float32))
