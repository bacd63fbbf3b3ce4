"""dlib ResNet -> ONNX: the reader, the cache, the embedder, and equality with dlib itself."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from citywatch.vision.faces import dlib_onnx_cache
from citywatch.vision.faces.base import FaceEmbedder
from citywatch.vision.faces.chips import TEMPLATE_5, extract_chips
from citywatch.vision.faces.dlib_onnx import DlibModelError, _Reader, parse_dlib_resnet
from citywatch.vision.faces.dlib_onnx_cache import (
    OnnxModelNotPrepared,
    default_dat_path,
    ensure_onnx_model,
    prepared_onnx_model,
)
from citywatch.vision.faces.onnx_dlib_embedder import EmbedderSetupError, OnnxDlibEmbedder
from citywatch.vision.onnx_session import pick_providers as _pick_providers
from tests.conftest import require

# ---------------------------------------------------------------------------------------------
# dlib's serialisation primitives (bytes taken from the real file)


def test_reader_decodes_dlib_integers_floats_strings() -> None:
    data = (
        b"\x01\x02"  # int 2
        + b"\x82\x80\x12"  # int -0x1280
        + b"\x00"  # int 0
        + b"\x03b\x90\xf5\x81\x11"  # float: mantissa 0xf59062, exponent -17 (dlib's avg_red)
        + b"\x01\x05con_4"
        + b"10"
    )
    r = _Reader(data, Path("mem"))
    assert r.int_() == 2
    assert r.int_() == -0x1280
    assert r.int_() == 0
    assert np.float32(r.float_()) == np.float32(122.782)
    assert r.string() == "con_4"
    assert r.bool_() is True
    assert r.bool_() is False
    with pytest.raises(DlibModelError, match="byte 21: file ends early"):
        r.int_()


def test_reader_rejects_bad_control_byte() -> None:
    with pytest.raises(DlibModelError, match="control byte 0x70"):
        _Reader(b"\x70", Path("mem")).int_()


# ---------------------------------------------------------------------------------------------
# The embedder, with a tiny stand-in network (left half of the chip, mean colour, 3x128 matrix)


def _tiny_model(path: Path) -> np.ndarray:
    w = np.random.default_rng(3).normal(size=(3, 128)).astype(np.float32)
    nodes = [
        helper.make_node("Slice", ["chips", "s0", "s1", "ax"], ["half"]),
        helper.make_node("GlobalAveragePool", ["half"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "w"], ["embeddings"]),
    ]
    inits = [
        numpy_helper.from_array(np.array([0], np.int64), "s0"),
        numpy_helper.from_array(np.array([75], np.int64), "s1"),
        numpy_helper.from_array(np.array([3], np.int64), "ax"),
        numpy_helper.from_array(w, "w"),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("chips", TensorProto.FLOAT, ["N", 3, 150, 150])],
        [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["N", 128])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return w


def _tiny_raw(chips: np.ndarray, w: np.ndarray) -> np.ndarray:
    return chips[:, :, :75].astype(np.float64).mean(axis=(1, 2)) @ w


def _template_faces(n: int) -> np.ndarray:
    pts = (0.25 + TEMPLATE_5) / 1.5 * 150
    return np.stack([pts + 10 * i for i in range(n)]).astype(np.float32)


def test_embedder_normalises_batches_and_flips(tmp_path: Path) -> None:
    w = _tiny_model(tmp_path / "tiny.onnx")
    # Blue to red from left to right, so the mirrored chip has another colour on its left half.
    x = np.linspace(0, 255, 300)
    ramp = np.stack([255 - x, np.full_like(x, 100), x], axis=1)[None]  # BGR
    img = np.ascontiguousarray(np.broadcast_to(ramp, (260, 300, 3)).astype(np.uint8))
    lm = _template_faces(5)
    emb = OnnxDlibEmbedder(tmp_path / "tiny.onnx", batch_size=2)
    assert isinstance(emb, FaceEmbedder)
    assert (emb.name, emb.dim, emb.providers) == ("dlib-onnx", 128, ["CPUExecutionProvider"])

    out = emb.embed(img, lm)
    assert out.shape == (5, 128) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-6)
    chips = extract_chips(img, lm)
    want = _tiny_raw(chips, w)
    np.testing.assert_allclose(out, want / np.linalg.norm(want, axis=1, keepdims=True), atol=1e-5)

    flipped = OnnxDlibEmbedder(tmp_path / "tiny.onnx", flip=True).embed(img, lm)
    want = (_tiny_raw(chips, w) + _tiny_raw(chips[:, :, ::-1], w)) / 2
    np.testing.assert_allclose(
        flipped, want / np.linalg.norm(want, axis=1, keepdims=True), atol=1e-5
    )
    assert np.abs(flipped - out).max() > 0.05

    assert emb.embed(img, np.zeros((0, 5, 2), np.float32)).shape == (0, 128)
    with pytest.raises(ValueError, match=r"\(N, 5, 2\)"):
        emb.embed(img, np.zeros((2, 68, 2), np.float32))


def test_embedder_rejects_missing_or_foreign_models(tmp_path: Path) -> None:
    with pytest.raises(EmbedderSetupError, match="not found"):
        OnnxDlibEmbedder(tmp_path / "absent.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(EmbedderSetupError, match="cannot load"):
        OnnxDlibEmbedder(tmp_path / "junk.onnx")
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "wrong",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 112, 112])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, 112, 112])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "wrong.onnx"))
    with pytest.raises(EmbedderSetupError, match=r"expected input \[N,3,150,150\]"):
        OnnxDlibEmbedder(tmp_path / "wrong.onnx")


@pytest.mark.parametrize(
    ("wanted", "available", "picked"),
    [
        (None, ["CPUExecutionProvider"], ["CPUExecutionProvider"]),
        (["CUDAExecutionProvider"], ["CPUExecutionProvider"], ["CPUExecutionProvider"]),
        (
            ["OpenVINOExecutionProvider", "CUDAExecutionProvider"],
            ["CUDAExecutionProvider", "OpenVINOExecutionProvider", "CPUExecutionProvider"],
            ["OpenVINOExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
        ),
        (["CPUExecutionProvider"], ["CPUExecutionProvider"], ["CPUExecutionProvider"]),
    ],
)
def test_pick_providers(wanted, available, picked) -> None:  # type: ignore[no-untyped-def]
    assert _pick_providers(wanted, available) == picked


# ---------------------------------------------------------------------------------------------
# The real model: parsing, caching, corrupt files


@pytest.fixture(scope="module")
def dat_path() -> Path:
    try:
        path = default_dat_path()
    except DlibModelError as e:
        require(False, str(e))
    require(path.is_file(), f"dlib ResNet weights missing at {path}")
    return path


@pytest.fixture(scope="module")
def onnx_path(dat_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_onnx_model(tmp_path_factory.mktemp("models"), source=dat_path)


@pytest.mark.integration
def test_parse_reads_the_example_network(dat_path: Path) -> None:
    net = parse_dlib_resnet(dat_path)
    assert net.input_size == (150, 150)
    assert np.allclose(net.mean_rgb, (122.782, 117.001, 104.298), atol=1e-4)
    assert net.stem.weight.shape == (32, 3, 7, 7)
    assert len(net.blocks) == 14
    assert sum(b.skip_pool is not None for b in net.blocks) == 4
    assert [b.conv2.weight.shape[0] for b in net.blocks] == [32] * 3 + [64] * 4 + [128] * 3 + [
        256
    ] * 4
    assert net.fc_weight.shape == (256, 128) and net.fc_bias is None
    assert net.distance_threshold == pytest.approx(0.6)


def _source_key(path: Path) -> str:
    model = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in model.metadata_props}["citywatch.source_key"]


@pytest.mark.integration
def test_cache_is_reused_and_regenerated_when_the_source_changes(
    dat_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "resnet.dat"
    shutil.copyfile(dat_path, src)
    cache = tmp_path / "var" / "models"
    out = ensure_onnx_model(cache, source=src)
    assert out == cache / "dlib_resnet_v1.onnx"
    first_key = _source_key(out)
    os.utime(out, ns=(1, 1))
    assert ensure_onnx_model(cache, source=src).stat().st_mtime_ns == 1  # reused, not rewritten

    data = bytearray(src.read_bytes())
    data[-5000] ^= 0x01  # one bit of an fc weight: still a valid file, different bytes
    src.write_bytes(bytes(data))
    out = ensure_onnx_model(cache, source=src)
    assert out.stat().st_mtime_ns != 1
    assert _source_key(out) != first_key

    monkeypatch.setattr(dlib_onnx_cache, "CONVERTER_VERSION", "test-bump")
    assert _source_key(ensure_onnx_model(cache, source=src)).endswith("converter-test-bump")
    assert sorted(p.name for p in cache.iterdir()) == ["dlib_resnet_v1.onnx"]  # no temp files


@pytest.mark.integration
def test_start_up_finds_the_prepared_graph_and_refuses_a_missing_or_stale_one(
    dat_path: Path, tmp_path: Path
) -> None:
    src = tmp_path / "resnet.dat"
    shutil.copyfile(dat_path, src)
    cache = tmp_path / "models"
    with pytest.raises(OnnxModelNotPrepared, match=r"is missing.*citywatch models prepare"):
        prepared_onnx_model(cache, source=src)
    assert not cache.exists()  # checked, not converted
    out = ensure_onnx_model(cache, source=src)
    assert prepared_onnx_model(cache, source=src) == out
    data = bytearray(src.read_bytes())
    data[-5000] ^= 0x01  # the installed weights changed since `models prepare`
    src.write_bytes(bytes(data))
    with pytest.raises(OnnxModelNotPrepared, match=r"converted from another resnet\.dat"):
        prepared_onnx_model(cache, source=src)


@pytest.mark.integration
@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda b: b[: len(b) // 2], "file ends early"),
        (lambda b: b + b"\x00", "1 bytes left over"),
        (lambda b: b"\x01\x01\x01\x04oops" + b[20:], "expected the metric loss"),
        (
            lambda b: (
                b"\x01\x01" + b"\x01\x0dloss_metric_2" + b"\x00\x00\x00\x00" + b"\x01\x07" * 9
            ),
            "layer version",
        ),
        (lambda b: b"", "file ends early"),
    ],
)
def test_corrupt_dat_gives_a_clear_error(dat_path: Path, tmp_path: Path, mangle, message) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.dat"
    bad.write_bytes(mangle(dat_path.read_bytes()))
    with pytest.raises(DlibModelError, match=message) as err:
        ensure_onnx_model(tmp_path / "cache", source=bad)
    assert str(bad) in str(err.value)
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_missing_source_is_reported(tmp_path: Path) -> None:
    with pytest.raises(DlibModelError, match="not found"):
        ensure_onnx_model(tmp_path, source=tmp_path / "nope.dat")


# ---------------------------------------------------------------------------------------------
# Equality with dlib on real faces


@pytest.fixture(scope="module")
def dlib_models(dat_path: Path):  # type: ignore[no-untyped-def]
    try:
        import dlib
    except ImportError:
        require(False, "package dlib (dlib-bin) is not installed")
    predictor = dat_path.parent / "shape_predictor_5_face_landmarks.dat"
    require(predictor.is_file(), f"dlib 5-point model missing at {predictor}")
    return (
        dlib,
        dlib.get_frontal_face_detector(),
        dlib.shape_predictor(str(predictor)),
        dlib.face_recognition_model_v1(str(dat_path)),
    )


@pytest.mark.integration
def test_onnx_equals_dlib_on_real_faces(shared_data: Path, onnx_path: Path, dlib_models) -> None:  # type: ignore[no-untyped-def]
    import cv2

    _dlib, detector, predictor, recogniser = dlib_models
    emb = OnnxDlibEmbedder(onnx_path, threads=1, batch_size=8)

    # Whole pipeline on photos: our chips + ONNX vs compute_face_descriptor(image, shape).
    examples = shared_data / "faces/watchlist_video/examples"
    mine, ref = [], []
    for name in ("obama.jpg", "two_people.jpg", "alex-lacamoire.png", "biden.jpg"):
        bgr = cv2.imread(str(examples / name))
        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
        for rect in detector(rgb, 1):
            shape = predictor(rgb, rect)
            lm = np.array([[p.x, p.y] for p in shape.parts()], np.float32)[None]
            mine.append(emb.raw_descriptors(extract_chips(bgr, lm))[0])
            ref.append(np.array(recogniser.compute_face_descriptor(rgb, shape)))
            unit = emb.embed(bgr, lm)[0]
            np.testing.assert_allclose(unit, ref[-1] / np.linalg.norm(ref[-1]), atol=1e-5)
    assert len(ref) >= 5

    # Network alone on identity crops resized to 150x150, in one batch of 8.
    crops = []
    for person in sorted((shared_data / "faces/identities").iterdir())[:8]:
        if person.is_dir():
            crop = cv2.imread(str(sorted(person.glob("*.png"))[0]))
            crops.append(np.ascontiguousarray(cv2.resize(crop, (150, 150))[:, :, ::-1]))
    chips = np.stack(crops)
    mine.extend(emb.raw_descriptors(chips))
    ref.extend(np.array(recogniser.compute_face_descriptor(list(chips))))

    diff = np.abs(np.array(mine) - np.array(ref)).max()
    assert diff < 1e-5, f"max abs difference to dlib {diff:.2e}"
