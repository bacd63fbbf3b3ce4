"""Privacy masks: polygons in frame-normalised coordinates -> pixels that are blacked out."""

from __future__ import annotations

import numpy as np
import pytest

from citywatch.vision import masks
from citywatch.vision.masks import MaskError, PrivacyMasker, build_mask, normalised_polygons
from citywatch.vision.record import Frame

RECT = [(0.25, 0.25), (0.5, 0.25), (0.5, 0.5), (0.25, 0.5)]
FULL = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
LEFT_HALF = [(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)]


def _mask(polys, w=100, h=80, margin=0):
    return build_mask(normalised_polygons(polys), w, h, margin_px=margin) > 0


@pytest.mark.parametrize(
    ("polys", "w", "h", "masked", "clear"),
    [
        # (pixels (x, y) that must be masked, pixels that must stay visible)
        ([FULL], 100, 80, [(0, 0), (99, 79), (50, 40)], []),
        ([LEFT_HALF], 100, 80, [(0, 0), (49, 79), (25, 40)], [(51, 0), (99, 79)]),
        ([RECT], 100, 80, [(25, 20), (49, 39), (37, 30)], [(23, 30), (52, 30), (37, 18), (37, 42)]),
        (
            [[(0.0, 0.0), (0.2, 0.0), (0.0, 0.2)], [(1.0, 1.0), (0.8, 1.0), (1.0, 0.8)]],
            100,
            100,
            [(0, 0), (5, 5), (99, 99), (94, 94)],
            [(50, 50), (99, 0), (0, 99), (15, 15)],
        ),
        ([RECT], 1920, 1080, [(480, 270), (959, 539)], [(470, 270), (970, 539), (700, 550)]),
    ],
)
def test_mask_covers_the_polygon_and_nothing_far_from_it(polys, w, h, masked, clear):
    m = _mask(polys, w, h)
    assert m.shape == (h, w)
    for x, y in masked:
        assert m[y, x], f"pixel {(x, y)} should be masked"
    for x, y in clear:
        assert not m[y, x], f"pixel {(x, y)} should be visible"


def test_the_same_polygon_covers_the_same_share_at_any_resolution():
    shares = [_mask([RECT], w, h).mean() for w, h in ((160, 90), (640, 360), (1920, 1080))]
    assert shares == pytest.approx([0.0625] * 3, abs=0.01)


def test_the_margin_grows_the_mask_by_a_pixel_on_every_side():
    tight, grown = _mask([RECT], margin=0), _mask([RECT], margin=1)
    assert (grown >= tight).all()
    ys, xs = np.nonzero(tight)
    gy, gx = np.nonzero(grown)
    assert (gx.min(), gy.min(), gx.max(), gy.max()) == (
        xs.min() - 1,
        ys.min() - 1,
        xs.max() + 1,
        ys.max() + 1,
    )


def test_no_polygons_mask_nothing():
    assert not build_mask((), 10, 10).any()


@pytest.mark.parametrize(
    ("poly", "message"),
    [
        ([(0.1, 0.1), (0.2, 0.2)], "at least 3"),
        ([(0.1, 0.1), (1.2, 0.1), (0.5, 0.5)], "within 0..1"),
        ([(0.1, 0.1), (-0.1, 0.1), (0.5, 0.5)], "within 0..1"),
        ([(0.1, 0.1), (float("nan"), 0.1), (0.5, 0.5)], "finite"),
        ([0.1, 0.2, 0.3], "at least 3"),
    ],
)
def test_malformed_polygons_are_refused_naming_the_mask(poly, message):
    with pytest.raises(MaskError, match=message) as err:
        PrivacyMasker([FULL, poly])
    assert "mask 1" in str(err.value)


def test_a_frame_size_of_zero_is_refused():
    with pytest.raises(MaskError, match="0x10"):
        build_mask(normalised_polygons([FULL]), 0, 10)


def _image(w=100, h=80):
    rng = np.random.default_rng(1)
    return rng.integers(1, 256, (h, w, 3), dtype=np.uint8)


def test_apply_blacks_out_the_mask_on_a_copy_and_keeps_every_other_pixel():
    masker = PrivacyMasker([RECT])
    image = _image()
    before = image.copy()
    out = masker.apply(image)
    inside = masker.mask(100, 80) > 0
    assert inside.any() and not inside.all()
    assert (out[inside] == 0).all()
    assert np.array_equal(out[~inside], image[~inside])
    assert np.array_equal(image, before)  # the input is never modified
    assert not np.shares_memory(out, image)


def test_without_masks_the_frame_passes_unchanged():
    masker = PrivacyMasker([])
    image = _image()
    assert masker.apply(image) is image
    frame = Frame("cam-1", 3, 0.6, 1000.0, image)
    assert masker.apply_frame(frame) is frame


def test_apply_frame_keeps_the_frame_identity():
    frame = Frame("cam-1", 7, 1.4, 1234.5, _image())
    out = PrivacyMasker([LEFT_HALF]).apply_frame(frame)
    assert (out.camera_id, out.index, out.pts_s, out.wall_time) == ("cam-1", 7, 1.4, 1234.5)
    assert (out.image[:, :49] == 0).all() and (out.image[:, 52:] == frame.image[:, 52:]).all()


def test_the_pixel_mask_is_built_once_per_frame_size(monkeypatch):
    calls: list[tuple[int, int]] = []
    real = masks.build_mask

    def counting(polys, w, h, **kw):
        calls.append((w, h))
        return real(polys, w, h, **kw)

    monkeypatch.setattr(masks, "build_mask", counting)
    masker = PrivacyMasker([RECT])
    for _ in range(5):
        masker.apply(_image(100, 80))
    masker.apply(_image(64, 48))
    masker.apply(_image(100, 80))
    assert calls == [(100, 80), (64, 48)]
    # a stream that keeps changing size does not grow the cache without bound
    for w in range(20, 20 + 3 * masks.CACHE_SIZES):
        masker.apply(_image(w, 16))
    assert len(masker._cache) == masks.CACHE_SIZES
