"""MobileFaceNet (shipped) and the fused dlib + MobileFaceNet embedder (issue 14)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest

from citywatch.config.faces import (
    DLIB_THRESHOLD,
    FUSED_THRESHOLD,
    MOBILEFACENET_THRESHOLD,
    FacesConfig,
)
from citywatch.vision.faces.fused import FusedEmbedder
from citywatch.vision.faces.mobilefacenet import (
    PACKAGED_SHA256,
    batched_graph,
    mobilefacenet,
    packaged_model,
)
from citywatch.vision.faces.registry import model_id
from citywatch.vision.faces.templates import DLIB5_IN_ARCFACE_112


def test_the_shipped_file_is_the_one_its_source_names() -> None:
    path = packaged_model()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == PACKAGED_SHA256
    folder = path.parent
    assert "Apache License" in (folder / "LICENSE.mobilefacenet").read_text()
    source = (folder / "SOURCE.md").read_text()
    assert PACKAGED_SHA256 in source and "withdrew MS-Celeb-1M" in source


def test_the_batch_rewrite_frees_the_batch_and_changes_nothing_else(tmp_path: Path) -> None:
    graph = batched_graph(packaged_model())
    assert graph is not None
    model = onnx.load_from_string(graph)
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"
    # a graph of another layout is left alone (run one face at a time)
    other = onnx.load(str(packaged_model()))
    other.graph.node.append(onnx.helper.make_node("Identity", ["output0"], ["extra"]))
    other.graph.node.append(onnx.helper.make_node("Softmax", ["extra"], ["extra2"]))
    odd = tmp_path / "odd.onnx"
    onnx.save(other, str(odd))
    assert batched_graph(odd) is None


@pytest.mark.integration
def test_a_batch_gives_each_face_what_it_gets_alone(shared_data: Path) -> None:
    folder = shared_data / "faces" / "identities" / "Tina Fey"
    chips = np.stack(
        [cv2.imread(str(p))[:, :, ::-1] for p in sorted(folder.glob("*.png"))[:5]]
    ).astype(np.uint8)
    batched = mobilefacenet(batch_size=8, flip=False)
    single = mobilefacenet(batch_size=1, flip=False)
    a, b = batched.embed_chips(chips), single.embed_chips(chips)
    assert a.shape == (5, 128) and batched.dim == 128 and batched.name == "mobilefacenet"
    np.testing.assert_allclose(a, b, atol=1e-5)
    # the same person scores higher than another (the preprocessing is the right way round)
    other = cv2.imread(str(sorted((folder.parent / "Keanu Reeves").glob("*.png"))[0]))
    o = batched.embed_chips(other[None, :, :, ::-1].copy())
    assert float((a[1:] @ a[0]).min()) > float((o @ a[0])[0]) + 0.2


class _Const:
    def __init__(self, name: str, vectors: np.ndarray) -> None:
        self.name, self.dim, self._v = name, vectors.shape[1], vectors

    def embed(self, image, landmarks):  # type: ignore[no-untyped-def]
        return self._v[: len(landmarks)]


def test_fused_cosine_is_the_weighted_mean_of_the_two() -> None:
    rng = np.random.default_rng(1)
    a1, a2, b1, b2 = (v / np.linalg.norm(v) for v in rng.normal(size=(4, 8)).astype(np.float32))
    image = np.zeros((10, 10, 3), np.uint8)
    lm = DLIB5_IN_ARCFACE_112[None].astype(np.float32)
    x = FusedEmbedder(_Const("a", a1[None]), _Const("b", b1[None]), 0.3).embed(image, lm)
    y = FusedEmbedder(_Const("a", a2[None]), _Const("b", b2[None]), 0.3).embed(image, lm)
    assert x.shape == (1, 16) and np.linalg.norm(x) == pytest.approx(1.0, abs=1e-6)
    assert float(x[0] @ y[0]) == pytest.approx(0.3 * (a1 @ a2) + 0.7 * (b1 @ b2), abs=1e-6)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        FusedEmbedder(_Const("a", a1[None]), _Const("b", b1[None]), 1.0)


def test_each_embedder_gets_its_own_threshold_unless_one_is_given() -> None:
    assert FacesConfig().threshold == FUSED_THRESHOLD  # fused is the default
    dlib = FacesConfig.model_validate({"embedder": {"type": "dlib-onnx"}})
    assert (dlib.threshold, dlib.min_margin, dlib.frame_slack) == (DLIB_THRESHOLD, 0.0, 1.0)
    assert (FacesConfig().min_margin, FacesConfig().frame_slack) == (0.10, 0.12)
    mfn = FacesConfig.model_validate({"embedder": {"type": "mobilefacenet"}})
    fused = FacesConfig.model_validate({"embedder": {"type": "fused"}})
    assert (mfn.threshold, fused.threshold) == (MOBILEFACENET_THRESHOLD, FUSED_THRESHOLD)
    given = FacesConfig.model_validate({"embedder": {"type": "fused"}, "threshold": 0.9})
    assert given.threshold == 0.9
    assert model_id(fused.embedder) != model_id(mfn.embedder) != model_id(FacesConfig().embedder)
