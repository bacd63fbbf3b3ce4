from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from citywatch.store.media import MediaError, MediaStore


def image() -> np.ndarray:
    img = np.zeros((48, 64, 3), np.uint8)
    img[:, :32] = (255, 0, 0)  # blue left half (BGR)
    return img


def test_save_load_delete(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "m")
    rel = store.save_snapshot("face", "ab12cd", image())
    assert rel == "face/ab/ab12cd.jpg"
    assert not Path(rel).is_absolute()
    got = store.load(rel)
    assert got.shape == (48, 64, 3)
    assert abs(int(got[10, 5, 0]) - 255) < 10 and int(got[10, 50, 0]) < 10
    assert store.read_bytes(rel)[:2] == b"\xff\xd8"
    assert [p.name for p in store.path(rel).parent.iterdir()] == ["ab12cd.jpg"]  # no temp left
    assert store.delete(rel) is True
    assert store.delete(rel) is False
    with pytest.raises(MediaError, match="not found"):
        store.load(rel)


def test_overwrite_is_atomic_replace(tmp_path: Path) -> None:
    store = MediaStore(tmp_path)
    a = store.save_snapshot("plate", "e1", image())
    b = store.save_snapshot("plate", "e1", np.full((10, 10, 3), 200, np.uint8))
    assert a == b
    assert store.load(b).shape == (10, 10, 3)


@pytest.mark.parametrize(
    "rel",
    ["../outside.jpg", "face/../../outside.jpg", "/etc/passwd", "", ".", "face/\x00x.jpg"],
)
def test_paths_cannot_leave_the_root(tmp_path: Path, rel: str) -> None:
    (tmp_path / "outside.jpg").write_bytes(b"secret")
    store = MediaStore(tmp_path / "media")
    with pytest.raises(MediaError, match="refused"):
        store.load(rel)
    with pytest.raises(MediaError, match="refused"):
        store.delete(rel)
    assert (tmp_path / "outside.jpg").exists()


def test_symlink_out_of_the_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "media"
    (root / "face").mkdir(parents=True)
    (tmp_path / "secret.jpg").write_bytes(b"x")
    (root / "face" / "link.jpg").symlink_to(tmp_path / "secret.jpg")
    with pytest.raises(MediaError, match="leaves the media root"):
        MediaStore(root).read_bytes("face/link.jpg")


@pytest.mark.parametrize(
    ("kind", "event_id"),
    [
        ("../x", "e1"),
        ("Face", "e1"),
        ("face", "../e1"),
        ("face", "a/b"),
        ("face", ""),
        ("face", "a..b"),
    ],
)
def test_names_come_from_ids_only(tmp_path: Path, kind: str, event_id: str) -> None:
    with pytest.raises(MediaError):
        MediaStore(tmp_path).save_snapshot(kind, event_id, image())


@pytest.mark.parametrize(
    "bad",
    [np.zeros((4, 4), np.uint8), np.zeros((4, 4, 3), np.float32), np.zeros((0, 4, 3), np.uint8)],
)
def test_bad_images_are_refused(tmp_path: Path, bad: np.ndarray) -> None:
    with pytest.raises(MediaError, match="expected HxWx3 uint8"):
        MediaStore(tmp_path).save_snapshot("face", "e1", bad)
