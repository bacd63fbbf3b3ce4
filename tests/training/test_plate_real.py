"""Real plate crops for the recogniser (issue 15): cut from a VOC-annotated dataset laid out as
the Romanian one, labelled by transcription first and else by a sure teacher, held-out drives
left alone, served cut again as the reader cuts, and mixed into the synthetic samples by a
seeded share.  No torch needed."""

from __future__ import annotations

import random
from pathlib import Path

import cv2
import numpy as np
import pytest

from citywatch.training.plate_real import (
    LABELS,
    MixedSource,
    RealCropError,
    RealCrops,
    extract_crops,
    hand_labels,
    spaced,
)
from citywatch.training.plate_synth import Sample
from citywatch.vision.record import FloatArray, ImageBGR

BOXES = [(100, 100, 220, 130), (400, 300, 480, 320), (600, 50, 606, 58)]  # the last too small


def _voc(boxes: list[tuple[int, int, int, int]]) -> str:
    objs = "".join(
        f"<object><name>plate</name><bndbox><xmin>{a}</xmin><ymin>{b}</ymin><xmax>{c}</xmax>"
        f"<ymax>{d}</ymax></bndbox></object>"
        for a, b, c, d in boxes
    )
    return f"<annotation>{objs}</annotation>"


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    """Two frames of a trained-on drive and one of a held-out drive, each box a grey level."""
    root = tmp_path / "dataset"
    for split, names in (
        ("train", ["dayride_type1_001.mp4#t=1.jpg", "dayride_type1_002.mp4#t=5.jpg"]),
        ("valid", ["nightride_type3_001.mp4#t=9.jpg"]),
    ):
        (root / split / "images").mkdir(parents=True)
        (root / split / "annots").mkdir(parents=True)
        for name in names:
            image = np.full((480, 640, 3), 40, np.uint8)
            for k, (a, b, c, d) in enumerate(BOXES):
                image[b:d, a:c] = 100 + 50 * k
            cv2.imwrite(str(root / split / "images" / name), image)
            xml = root / split / "annots" / (name.removesuffix(".jpg") + ".xml")
            xml.write_text(_voc(BOXES), encoding="utf-8")
    return root


def teacher(image: ImageBGR, boxes: FloatArray) -> list[tuple[str, float] | None]:
    # sure of the first box, unsure of the second, nothing of the third
    return [("B21GSB", 0.95), ("CJ12ABC", 0.5), None][: len(boxes)]


def test_crops_of_the_trained_drives_labelled_by_hand_first_then_by_a_sure_teacher(
    dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "crops"
    truth = {("nightride_type3_001.mp4#t=9.jpg", 1): "CJ12ABD"}
    counts = extract_crops(dataset, out, teacher, truth=truth)
    # the held-out drive dayride_type1_002 is not cut
    assert counts == {"frames": 2, "boxes": 6, "hand": 1, "teacher": 2, "unsure": 1, "small": 2}
    crops = RealCrops(out)
    assert sorted((c.text, c.source) for c in crops.crops) == [
        ("B21GSB", "teacher"),
        ("B21GSB", "teacher"),
        ("CJ12ABD", "hand"),
    ]
    for c in crops.crops:
        x0, y0, x1, y1 = (round(v) for v in c.box)
        # the box inside its margin holds the plate's grey, the margin the street's
        assert int(c.image[(y0 + y1) // 2, (x0 + x1) // 2, 0]) in (100, 150)
        assert int(c.image[0, 0, 0]) == 40 and y0 > 0 and x0 > 0
    with (out / LABELS).open(encoding="utf-8") as fh:
        assert fh.readline().startswith("file,text,source,frame,box")


def test_a_folder_that_is_not_the_dataset_is_named(tmp_path: Path) -> None:
    with pytest.raises(RealCropError, match=str(tmp_path)):
        extract_crops(tmp_path, tmp_path / "out", teacher)


def test_the_transcriptions_leave_out_unreadable_plates(tmp_path: Path) -> None:
    csv_path = tmp_path / "truth.csv"
    csv_path.write_text("image,box,plate\na.jpg,0,b21gsb\na.jpg,1,?\n", encoding="utf-8")
    assert hand_labels(csv_path) == {("a.jpg", 0): "B21GSB"}


@pytest.mark.parametrize(
    ("text", "want"),
    [("B21GSB", "B 21 GSB"), ("MM11XYL", "MM 11 XYL"), ("B152FTO", "B 152 FTO"), ("AB", "AB")],
)
def test_gaps_where_letters_and_digits_meet(text: str, want: str) -> None:
    assert spaced(text) == want


def test_a_real_sample_is_cut_again_around_its_box_seeded(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "crops"
    extract_crops(dataset, out, teacher, truth={})
    crops = RealCrops(out)
    a = crops.sample(0, random.Random(7))
    b = crops.sample(0, random.Random(7))
    assert a.label == "B 21 GSB" and a.lines == ("B 21 GSB",) and a.fmt == "real"
    assert np.array_equal(a.image, b.image)
    stored = crops.crops[0]
    # smaller than the stored crop with its margin, larger than the box alone
    box_w = stored.box[2] - stored.box[0]
    assert box_w < a.image.shape[1] < stored.image.shape[1]


def test_bad_crop_folders_are_named(tmp_path: Path) -> None:
    with pytest.raises(RealCropError, match=r"labels\.csv"):
        RealCrops(tmp_path)
    (tmp_path / LABELS).write_text("file,text,x0,y0,x1,y1\nmissing.png,AB,0,0,1,1\n")
    with pytest.raises(RealCropError, match=r"missing\.png"):
        RealCrops(tmp_path)
    (tmp_path / LABELS).write_text("file,text\nmissing.png,AB\n")
    with pytest.raises(RealCropError, match=":2: bad row"):
        RealCrops(tmp_path)


class Synth:
    def sample_at(self, index: int) -> Sample:
        return Sample(np.zeros((8, 8, 3), np.uint8), f"S{index}", "EU", "synthetic")


def test_the_mix_draws_real_crops_at_its_share_seeded(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "crops"
    extract_crops(dataset, out, teacher, truth={})
    mix = MixedSource(Synth(), RealCrops(out), 0.25, seed=15)
    drawn = [mix.sample_at(i) for i in range(400)]
    real = sum(s.fmt == "real" for s in drawn)
    assert 70 <= real <= 130  # 100 expected
    # a synthetic draw is the generator's own sample of that index; the mix is seeded
    assert all(s.label == f"S{i}" for i, s in enumerate(drawn) if s.fmt != "real")
    again = [mix.sample_at(i).label for i in range(400)]
    assert again == [s.label for s in drawn]
    with pytest.raises(ValueError, match="share"):
        MixedSource(Synth(), RealCrops(out), 1.0, seed=15)


def test_the_command_cuts_crops_and_names_a_wrong_folder(dataset: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from citywatch.cli.main import app

    truth = tmp_path / "truth.csv"
    truth.write_text("image,box,plate\ndayride_type1_001.mp4#t=1.jpg,0,B21GSB\n")
    runner = CliRunner(env={"COLUMNS": "250"})
    out = tmp_path / "crops"
    done = runner.invoke(
        app,
        ["train", "plate-crops", "--ro", str(dataset), "--out", str(out), "--truth", str(truth)],
    )
    assert done.exit_code == 0, done.output
    # the shipped teacher reads no plate in a grey box: the transcribed one alone is kept
    assert "'hand': 1" in done.output and "'teacher': 0" in done.output
    assert [c.text for c in RealCrops(out).crops] == ["B21GSB"]
    wrong = runner.invoke(
        app,
        ["train", "plate-crops", "--ro", str(tmp_path), "--out", str(out), "--truth", str(truth)],
    )
    assert wrong.exit_code != 0 and "not the dataset/ folder" in wrong.output
    assert "Traceback" not in wrong.output
