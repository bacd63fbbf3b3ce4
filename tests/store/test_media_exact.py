"""The evidence files, exactly (issue 21, mutation testing of ``store/media.py``): every refusal
in words, the names allowed at their edges, the two-step write (staged beside its place, moved
into place, discarded), what a folder that cannot take a file leaves behind (nothing) and says,
and what :meth:`MediaStore.files` reports to the orphan sweep."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from citywatch.store.media import (
    JPEG_QUALITY,
    MediaError,
    MediaStore,
    MediaWriteError,
    StagedFile,
    StoredFile,
    describe_os_error,
)


def image(h: int = 24, w: int = 32) -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def refused(call: object, *args: object) -> str:
    assert callable(call)
    with pytest.raises(MediaError) as err:
        call(*args)
    return str(err.value)


def everything(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


class FullMedia(MediaStore):
    """A folder that has no room left: every write fails as a full disk does."""

    def _write(self, path: Path, data: bytes) -> None:
        path.write_bytes(data[:1])  # a part written, then the disk is full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


# ------------------------------------------------------------------ names


@pytest.mark.parametrize("kind", ["a", "a" * 32, "face_2", "x0_"])
def test_kinds_allowed_up_to_32_characters(tmp_path: Path, kind: str) -> None:
    store = MediaStore(tmp_path)
    assert store.save_snapshot(kind, "e1", image()) == f"{kind}/e1/e1.jpg"
    assert store.stage_clip(kind, "e1", b"mp4").rel == f"{kind}/e1/e1.mp4"
    assert [f.rel for f in store.files(kind) if f.pending_for is None] == [f"{kind}/e1/e1.jpg"]


@pytest.mark.parametrize("kind", ["a" * 33, "0face", "_face", "Face", "fa-ce", "fa.ce", "", "f/x"])
def test_other_kinds_are_refused_in_words(tmp_path: Path, kind: str) -> None:
    store = MediaStore(tmp_path)
    assert refused(store.save_snapshot, kind, "e1", image()) == (
        f"snapshot kind {kind!r}: lower-case letters, digits and _ only"
    )
    assert refused(store.stage_clip, kind, "e1", b"mp4") == (
        f"clip kind {kind!r}: lower-case letters, digits and _ only"
    )
    assert refused(lambda k: list(store.files(k)), kind) == (
        f"media kind {kind!r}: lower-case letters, digits and _ only"
    )
    assert everything(tmp_path) == []


@pytest.mark.parametrize("event_id", ["e", "9", "a" * 128, "a.b_c-d", "Ab.9"])
def test_ids_allowed_up_to_128_characters(tmp_path: Path, event_id: str) -> None:
    store = MediaStore(tmp_path)
    rel = f"face/{event_id[:2]}/{event_id}.jpg"
    assert store.save_snapshot("face", event_id, image()) == rel
    assert store.stage_clip("face", event_id, b"mp4").rel == rel[: -len(".jpg")] + ".mp4"


@pytest.mark.parametrize("event_id", ["a" * 129, ".e1", "_e1", "-e1", "a..b", "a/b", "", "é"])
def test_other_ids_are_refused_in_words(tmp_path: Path, event_id: str) -> None:
    store = MediaStore(tmp_path)
    assert refused(store.save_snapshot, "face", event_id, image()) == (
        f"snapshot id {event_id!r}: letters, digits, '.', '_', '-' only"
    )
    assert refused(store.stage_clip, "face", event_id, b"mp4") == (
        f"clip id {event_id!r}: letters, digits, '.', '_', '-' only"
    )
    assert everything(tmp_path) == []


@pytest.mark.parametrize(
    ("bad", "got"),
    [
        (np.zeros((4, 4), np.uint8), "(4, 4)"),
        (np.zeros((4, 4, 4), np.uint8), "(4, 4, 4)"),
        (np.zeros((4, 4, 3), np.float32), "(4, 4, 3)"),
        (np.zeros((4, 4, 3), np.uint16), "(4, 4, 3)"),
        (np.zeros((0, 4, 3), np.uint8), "(0, 4, 3)"),
        (np.zeros((4, 0, 3), np.uint8), "(4, 0, 3)"),
        ([[[0, 0, 0]]], "list"),
    ],
)
def test_images_other_than_bgr_bytes_are_refused_naming_what_came(
    tmp_path: Path, bad: object, got: str
) -> None:
    store = MediaStore(tmp_path)
    assert refused(store.save_snapshot, "face", "e1", bad) == (
        f"snapshot face/e1: expected HxWx3 uint8 BGR, got {got}"
    )
    assert everything(tmp_path) == []


def test_a_one_pixel_image_is_kept(tmp_path: Path) -> None:
    store = MediaStore(tmp_path)
    rel = store.save_snapshot("face", "e1", np.full((1, 1, 3), 77, np.uint8))
    assert store.load(rel).shape == (1, 1, 3)


def test_an_empty_clip_is_refused(tmp_path: Path) -> None:
    assert refused(MediaStore(tmp_path).stage_clip, "plate", "e1", b"") == "clip plate/e1: no data"


# ------------------------------------------------------------------ writing


def test_a_snapshot_is_the_jpeg_of_the_image_at_quality_90(tmp_path: Path) -> None:
    store = MediaStore(tmp_path)
    img = image(40, 60)
    rel = store.save_snapshot("plate", "e1", img)
    ok, want = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok and JPEG_QUALITY == 90
    assert store.read_bytes(rel) == want.tobytes()
    loaded = store.load(rel)
    assert loaded.dtype == np.uint8 and loaded.shape == (40, 60, 3)
    decoded = cv2.imdecode(want, cv2.IMREAD_COLOR)
    assert decoded is not None and np.array_equal(loaded, decoded)


def test_a_staged_snapshot_waits_beside_its_place_until_published(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "media")
    staged = store.stage("plate", "ab12", image())
    assert staged.rel == "plate/ab/ab12.jpg"
    assert staged.temp.parent == store.root / "plate" / "ab"
    assert staged.temp.name.startswith(".ab12.jpg.") and staged.temp.name.endswith(".pending")
    assert not store.path(staged.rel).exists()
    [found] = store.files("plate")
    assert found == StoredFile(
        staged.temp.relative_to(store.root).as_posix(),
        staged.temp.stat().st_mtime,
        pending_for="plate/ab/ab12.jpg",
        temporary=False,
    )
    assert store.publish(staged) == "plate/ab/ab12.jpg"
    assert everything(store.root) == ["plate/ab/ab12.jpg"]
    assert store.discard(staged) is True  # already gone: nothing to remove, no error


def test_a_staged_clip_is_its_bytes_and_a_discarded_one_is_gone(tmp_path: Path) -> None:
    store = MediaStore(tmp_path)
    staged = store.stage_clip("clip", "cd34", b"\x00\x01mp4 bytes")
    assert staged.rel == "clip/cd/cd34.mp4"
    assert staged.temp.read_bytes() == b"\x00\x01mp4 bytes"
    assert staged.temp.name.startswith(".cd34.mp4.") and staged.temp.name.endswith(".pending")
    assert store.discard(staged) is True
    assert everything(tmp_path) == []


def test_a_staged_file_that_cannot_be_removed_is_reported_not_raised(tmp_path: Path) -> None:
    store = MediaStore(tmp_path)
    stuck = tmp_path / "face" / "e1" / ".e1.jpg.x.pending"
    stuck.mkdir(parents=True)
    (stuck / "inside").write_bytes(b"x")  # a folder in its place: unlink fails
    assert store.discard(StagedFile("face/e1/e1.jpg", stuck)) is False
    assert stuck.is_dir()


def test_a_full_folder_leaves_nothing_behind_and_says_why(tmp_path: Path) -> None:
    store = FullMedia(tmp_path / "media")
    with pytest.raises(MediaWriteError) as err:
        store.stage("plate", "ab12", image())
    e = err.value
    assert e.rel == "plate/ab/ab12.jpg"
    assert e.reason == "No space left on device (ENOSPC)"
    assert e.errno == errno.ENOSPC
    assert str(e) == (
        f"[Errno {errno.ENOSPC}] media folder {store.root}: plate/ab/ab12.jpg not written: "
        "No space left on device (ENOSPC)"
    )
    assert isinstance(e.__cause__, OSError) and e.__cause__.errno == errno.ENOSPC
    assert everything(store.root) == []  # the part written is removed
    with pytest.raises(MediaWriteError, match=r"clip/cd/cd34.mp4 not written: No space left"):
        store.stage_clip("clip", "cd34", b"mp4")
    assert everything(store.root) == []


def test_a_folder_that_cannot_be_made_is_a_write_error(tmp_path: Path) -> None:
    root = tmp_path / "media"
    (root / "plate").mkdir(parents=True)
    (root / "plate" / "ab").write_bytes(b"a file where the folder goes")
    store = MediaStore(root)
    with pytest.raises(MediaWriteError) as err:
        store.save_snapshot("plate", "ab12", image())
    assert err.value.rel == "plate/ab/ab12.jpg"
    assert err.value.reason in ("File exists (EEXIST)", "Not a directory (ENOTDIR)")
    assert everything(root) == ["plate/ab"]


def test_a_snapshot_that_cannot_be_moved_into_place_is_a_write_error(tmp_path: Path) -> None:
    store = MediaStore(tmp_path)
    staged = store.stage("plate", "ab12", image())
    blocker = store.root / "plate" / "ab" / "ab12.jpg"
    blocker.mkdir()
    (blocker / "inside").write_bytes(b"x")  # a folder that is not empty holds the place
    with pytest.raises(MediaWriteError) as err:
        store.publish(staged)
    assert err.value.rel == "plate/ab/ab12.jpg"
    assert str(err.value).startswith(
        f"[Errno {err.value.errno}] media folder {store.root}: plate/ab/ab12.jpg not written: "
    )
    assert err.value.reason == describe_os_error(err.value.__cause__)  # type: ignore[arg-type]
    assert staged.temp.exists()  # left for the orphan sweep


@pytest.mark.parametrize(
    ("err", "words"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), "No space left on device (ENOSPC)"),
        (OSError(errno.EROFS, "Read-only file system"), "Read-only file system (EROFS)"),
        (OSError(99999, "Strange"), "Strange"),  # no name for the code
        (OSError("no code"), "OSError"),  # no words: the kind of error
        (PermissionError(), "PermissionError"),
        (OSError(0, "Zero"), "Zero"),
    ],
)
def test_os_errors_in_words(err: OSError, words: str) -> None:
    assert describe_os_error(err) == words


# ------------------------------------------------------------------ reading


def test_paths_are_refused_in_words(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "media")
    for rel in ("", "/etc/passwd", "face/\x00.jpg"):
        assert refused(store.path, rel) == (
            f"media path {rel!r} refused: must be relative to the media root"
        )
    for rel in ("..", "../x.jpg", ".", "face/.."):
        assert refused(store.path, rel) == f"media path {rel!r} refused: it leaves the media root"
    assert store.path("face/ab/ab.jpg") == store.root / "face" / "ab" / "ab.jpg"


def test_missing_and_unreadable_files_are_refused_in_words(tmp_path: Path) -> None:
    store = MediaStore(tmp_path)
    assert refused(store.load, "face/ab/ab.jpg") == "media file 'face/ab/ab.jpg' not found"
    assert refused(store.read_bytes, "face/ab/ab.jpg") == "media file 'face/ab/ab.jpg' not found"
    (tmp_path / "face" / "ab").mkdir(parents=True)
    assert refused(store.load, "face/ab") == "media file 'face/ab' not found"  # a folder
    assert refused(store.read_bytes, "face/ab") == "media file 'face/ab' not found"
    (tmp_path / "face" / "ab" / "ab.jpg").write_bytes(b"not a jpeg")
    assert refused(store.load, "face/ab/ab.jpg") == (
        "media file 'face/ab/ab.jpg' is not a readable image"
    )
    assert store.read_bytes("face/ab/ab.jpg") == b"not a jpeg"


def test_the_root_and_repr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    store = MediaStore(Path("~/media/../evidence"))
    assert store.root == tmp_path.resolve() / "evidence"
    assert repr(store) == f"MediaStore({str(tmp_path.resolve() / 'evidence')!r})"
    assert MediaStore(str(tmp_path)).root == tmp_path.resolve()  # type: ignore[arg-type]


def test_files_lists_placed_staged_and_temporary_files_and_nothing_else(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "media")
    placed = store.save_snapshot("face", "ab12", image())
    staged = store.stage("face", "cd34", image())
    root = store.root
    deep = root / "face" / "ef" / "deeper"
    deep.mkdir(parents=True)
    (deep / ".x.jpg.tmp").write_bytes(b"t")  # a one-step write's leftover
    (deep / "x.tmp").write_bytes(b"t")  # not hidden: an ordinary file
    (deep / ".x.jpg").write_bytes(b"t")  # hidden, not a leftover
    (root / "face" / ".pending").write_bytes(b"t")  # no name before the suffix
    (root / "face" / ".x.pending").write_bytes(b"t")  # no random part: not staged
    (root / "face" / "x.jpg.y.pending").write_bytes(b"t")  # not hidden: not staged
    (root / "face" / ".y.jpg.r4nd.pending").write_bytes(b"t")  # staged, straight under kind
    (tmp_path / "outside.jpg").write_bytes(b"o")
    (root / "face" / "link.jpg").symlink_to(tmp_path / "outside.jpg")  # not followed
    (root / "face" / "linkdir").symlink_to(tmp_path, target_is_directory=True)
    os.mkfifo(root / "face" / "fifo")  # not a regular file
    (root / "plate").mkdir()
    (root / "plate" / "p.jpg").write_bytes(b"p")  # another kind

    found = {f.rel: f for f in store.files("face")}
    temp = staged.temp.relative_to(root).as_posix()
    assert {rel: (f.pending_for, f.temporary) for rel, f in found.items()} == {
        placed: (None, False),
        temp: ("face/cd/cd34.jpg", False),
        "face/ef/deeper/.x.jpg.tmp": (None, True),
        "face/ef/deeper/x.tmp": (None, False),
        "face/ef/deeper/.x.jpg": (None, False),
        "face/.pending": (None, False),
        "face/.x.pending": (None, False),
        "face/x.jpg.y.pending": (None, False),
        "face/.y.jpg.r4nd.pending": ("face/y.jpg", False),
    }
    for rel, f in found.items():
        assert f.mtime == (root / rel).stat().st_mtime
    assert list(store.files("clip")) == []  # no folder for that kind yet


def test_a_deleted_file_is_gone_and_deleting_it_again_says_so(tmp_path: Path) -> None:
    store = MediaStore(tmp_path)
    rel = store.save_snapshot("face", "ab12", image())
    assert store.delete(rel) is True
    assert everything(tmp_path) == []
    assert store.delete(rel) is False


def test_a_picture_jpeg_cannot_hold_is_refused_in_words(tmp_path: Path) -> None:
    store = MediaStore(tmp_path)
    wide = np.zeros((1, 65536, 3), np.uint8)  # JPEG holds at most 65500 pixels a side
    assert refused(store.save_snapshot, "face", "e1", wide) == (
        "snapshot face/e1/e1.jpg: JPEG encoding failed"
    )
    assert everything(tmp_path) == []


def _listing_order(folder: Path) -> list[str]:
    """The order the file system lists ``folder`` in (what ``files`` walks by)."""
    with os.scandir(folder) as it:
        return [e.name for e in it]


def test_a_folder_gone_during_the_walk_is_skipped_and_the_walk_goes_on(tmp_path: Path) -> None:
    store = MediaStore(tmp_path)
    for d in ("a1", "b2", "c3"):
        (tmp_path / "face" / d).mkdir(parents=True)
        (tmp_path / "face" / d / f"{d}.jpg").write_bytes(b"x")
    pushed = _listing_order(tmp_path / "face")
    walk = store.files("face")
    first = next(walk)  # the last folder pushed is listed first
    assert first.rel == f"face/{pushed[2]}/{pushed[2]}.jpg"
    shutil.rmtree(tmp_path / "face" / pushed[1])  # the next one to be listed
    assert [f.rel for f in walk] == [f"face/{pushed[0]}/{pushed[0]}.jpg"]


def test_a_file_gone_during_the_walk_is_skipped_and_the_walk_goes_on(tmp_path: Path) -> None:
    store = MediaStore(tmp_path)
    (tmp_path / "face" / "ab").mkdir(parents=True)
    for name in ("ab1.jpg", "ab2.jpg", "ab3.jpg"):
        (tmp_path / "face" / "ab" / name).write_bytes(b"x")
    listed = _listing_order(tmp_path / "face" / "ab")
    walk = store.files("face")
    assert next(walk).rel == f"face/ab/{listed[0]}"
    (tmp_path / "face" / "ab" / listed[1]).unlink()  # listed already, not yet looked at
    assert [f.rel for f in walk] == [f"face/ab/{listed[2]}"]
