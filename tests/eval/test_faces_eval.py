"""`citywatch eval faces`, `eval face-pairs` and `calibrate faces` on small slices of real data."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml
from PIL import Image

from citywatch.config.root import CitywatchConfig
from citywatch.eval.face_data import (
    FaceDataError,
    detect_layout,
    load_identities,
    load_pairs,
)
from citywatch.eval.model_card import ModelCard, ThresholdRefused, apply_model_card
from tests.eval.cli_app import invoke_eval

REPO = Path(__file__).resolve().parents[2]
FUSED = "fused:dlib-resnet-v1+mobilefacenet:shipped@0.5+flip"  # the default embedder

pytestmark = pytest.mark.integration


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "citywatch.yaml"
    path.write_text(yaml.safe_dump({"models": {"threads": 1}}))
    return path


@pytest.fixture
def identities(shared_data: Path, tmp_path: Path) -> Path:
    """4 people x 8 aligned crops, linked (not copied) from the shared identity set."""
    src = shared_data / "faces" / "identities"
    root = tmp_path / "ids"
    for person in sorted(p for p in src.iterdir() if p.is_dir())[:4]:
        (root / person.name).mkdir(parents=True)
        for image in sorted(person.glob("*.png"))[:8]:
            (root / person.name / image.name).symlink_to(image)
    (root / "notes.txt").write_text("not an identity folder")
    return root


def test_eval_faces_on_a_slice(identities: Path, config: Path, tmp_path: Path) -> None:
    out = tmp_path / "faces.json"
    plots = tmp_path / "plots"
    result = invoke_eval(
        config,
        [
            "eval",
            "faces",
            "--identities",
            str(identities),
            "--json",
            str(out),
            "--plot",
            str(plots),
        ],
    )
    assert result.exit_code == 0, result.output
    m = json.loads(out.read_text())
    assert (m["layout"], m["images"], m["faces"], m["detect_failures"]) == ("aligned", 32, 32, 0)
    assert m["verification_pairs"] == 2 * 10 * 11  # 4 x C(8, 2) = 112 genuine pairs possible
    for key in ("verification_accuracy", "tar_at_far_1e-3", "tar_at_far_1e-2", "rank1"):
        assert 0.8 <= m[key] <= 1.0, key
    for key in ("fnir_at_fpir_0.01", "fnir_at_fpir_0.003"):
        assert 0.0 <= m[key] <= 0.5, key
    assert m["ms_per_face"] > 0 and m["model"] == FUSED
    assert m["embed_batch"] == 16 and m["ms_per_face_single"] > 0
    assert m["blur_soft_images"] + m["blur_mid_images"] + m["blur_sharp_images"] == 32
    assert "verification_accuracy" in result.output and "blur_soft" in result.output
    assert {p.name for p in plots.iterdir()} >= {"faces_det.png", "faces_hist_open_set.png"}


def test_calibrate_writes_a_card_the_live_config_obeys(
    identities: Path, config: Path, tmp_path: Path
) -> None:
    card_path = tmp_path / "card.json"
    result = invoke_eval(
        config,
        [
            "calibrate",
            "faces",
            "--identities",
            str(identities),
            "--target-fpir",
            "0.01",
            "--card",
            str(card_path),
        ],
    )
    assert result.exit_code == 0, result.output
    card = ModelCard.load(card_path)
    assert card.model == FUSED and card.dataset == "ids"
    assert card.threshold >= card.overall_threshold and card.gallery_size == 2
    live, point = apply_model_card(
        CitywatchConfig.model_validate({"faces": {"model_card": str(card_path)}})
    )
    assert live.faces.threshold == card.threshold and point.source == "model card"
    loose = {"faces": {"model_card": str(card_path), "threshold": card.threshold - 0.05}}
    with pytest.raises(ThresholdRefused):
        apply_model_card(CitywatchConfig.model_validate(loose))
    # The refusal also stops the evaluation commands (they run with the live operating point).
    bad = tmp_path / "loose.yaml"
    bad.write_text(yaml.safe_dump({**yaml.safe_load(config.read_text()), **loose}))
    result = invoke_eval(bad, ["eval", "faces", "--identities", str(identities)])
    assert result.exit_code == 2 and "looser" in result.output


def test_face_pairs_on_a_slice(shared_data: Path, config: Path, tmp_path: Path) -> None:
    src = shared_data / "faces" / "verification_pairs"
    rows = list(csv.DictReader((src / "pairs_pivot.csv").read_text().splitlines()))

    def small(r: dict[str, str]) -> bool:  # keeps the test fast: photos up to 800 px
        return all(max(Image.open(src / r[k]).size) <= 800 for k in ("img1", "img2"))

    rows = [r for r in rows if small(r)]
    pick = [r for r in rows if r["same"].strip() == "1"][:5]
    pick += [r for r in rows if r["same"].strip() == "0"][:5]
    pairs = tmp_path / "pairs.csv"
    with pairs.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["img1", "img2", "same"])
        for r in pick:
            w.writerow([src / r["img1"], src / r["img2"], r["same"].strip()])
    out = tmp_path / "pairs.json"
    result = invoke_eval(config, ["eval", "face-pairs", "--pairs", str(pairs), "--json", str(out)])
    assert result.exit_code == 0, result.output
    m = json.loads(out.read_text())
    assert (m["pairs"], m["same_pairs"], m["layout"]) == (10, 5, "photo")
    assert m["detect_failures"] == 0 and m["verification_accuracy"] >= 0.75
    assert m["accuracy_at_config_threshold"] >= 0.75
    assert sum(v for k, v in m.items() if k.startswith("blur_") and k.endswith("_pairs")) == 10


def test_bad_inputs_are_named(tmp_path: Path, config: Path) -> None:
    with pytest.raises(FaceDataError, match="not found"):
        load_identities(tmp_path / "absent")
    (tmp_path / "one" / "alice").mkdir(parents=True)
    (tmp_path / "one" / "alice" / "a.png").write_bytes(b"")
    with pytest.raises(FaceDataError, match="at least two identity folders"):
        load_identities(tmp_path / "one")
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(FaceDataError, match="columns img1,img2,same"):
        load_pairs(bad)
    bad.write_text("img1,img2,same\nx.jpg,y.jpg,1\n")
    with pytest.raises(FaceDataError, match=r"bad\.csv:2: image not found: 'x\.jpg'"):
        load_pairs(bad)
    result = invoke_eval(config, ["eval", "faces", "--identities", str(tmp_path / "absent")])
    assert result.exit_code == 2 and "identity folder not found" in result.output


def test_layout_is_detected_from_image_sizes(shared_data: Path) -> None:
    crops = shared_data / "faces" / "identities" / "Tina Fey"
    photos = shared_data / "faces" / "verification_pairs" / "images"
    assert detect_layout(sorted(crops.glob("*.png"))[:5]) == "aligned"
    assert detect_layout(sorted(photos.glob("*.jpg"))[:5]) == "photo"


def test_batched_embedding_equals_one_face_at_a_time(identities: Path, config: Path) -> None:
    """The eval runs the network on the chips of many faces at once; each face's embedding
    must be what embedding it alone gives (the live single-frame path)."""
    import numpy as np

    from citywatch.config.root import load_config
    from citywatch.eval.face_data import FacePipeline, embed_images

    data = load_identities(identities)
    pipeline = FacePipeline.from_config(load_config(config), threads=1)
    batched = embed_images(data.files, pipeline, batch=5)  # 32 faces: uneven last batch
    single = embed_images(data.files, pipeline, batch=1)
    assert (batched.batch, single.batch, batched.faces) == (5, 1, 32)
    assert batched.single_faces == 32 and batched.ms_per_face_single > 0
    np.testing.assert_allclose(batched.embeddings, single.embeddings, atol=1e-5)
    assert np.abs(batched.embeddings).sum(axis=1).min() > 0  # every row filled
