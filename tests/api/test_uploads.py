from __future__ import annotations

import asyncio
import io

import cv2
import numpy as np
import pytest
from fastapi import HTTPException, UploadFile
from fastapi.testclient import TestClient

from citywatch.api.routes.uploads import (
    UploadLimits,
    csv_lines,
    decode_photo,
    read_capped,
    safe_label,
)
from citywatch.api.security import Role
from tests.api.routes_support import Headers, headers

__all__ = ["headers"]


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("face.jpg", "photo 1 (face.jpg)"),
        ("../../etc/passwd", "photo 1 (passwd)"),
        ("C:\\Users\\x\\me.png", "photo 1 (me.png)"),
        ("a\x00b<script>.png", "photo 1 (a_b_script_.png)"),
        ("...", "photo 1"),
        (None, "photo 1"),
        ("x" * 300, "photo 1 (" + "x" * 80 + ")"),
    ],
)
def test_safe_label_never_keeps_a_path(name: str | None, label: str) -> None:
    assert safe_label(name, 1, "photo") == label


def _upload(data: bytes) -> UploadFile:
    return UploadFile(io.BytesIO(data), filename="f")


def test_read_capped_stops_at_the_cap() -> None:
    assert asyncio.run(read_capped(_upload(b"x" * 100), 100, "f")) == b"x" * 100
    with pytest.raises(HTTPException) as err:
        asyncio.run(read_capped(_upload(b"x" * 200_000), 100_000, "big"))
    assert err.value.status_code == 413 and "100000 bytes" in str(err.value.detail)


def _jpeg(w: int = 32, h: int = 24) -> bytes:
    ok, buf = cv2.imencode(".jpg", np.full((h, w, 3), 128, np.uint8))
    assert ok
    return buf.tobytes()


def test_decode_photo_sniffs_and_bounds() -> None:
    limits = UploadLimits(photo_pixels=32 * 24)
    assert decode_photo(_jpeg(), "p", limits).shape == (24, 32, 3)
    cases = [
        (b"%PDF-1.4 renamed", 415),
        (b"GIF89a....", 415),
        (b"BM" + b"\0" * 60, 415),  # BMP and WebP are not taken as uploads
        (_jpeg(64, 64), 422),  # more pixels than the limit
        (_jpeg()[:40], 422),  # truncated
        (b"", 422),
    ]
    for data, code in cases:
        with pytest.raises(HTTPException) as err:
            decode_photo(data, "p", limits)
        assert err.value.status_code == code, data[:10]


def test_csv_lines() -> None:
    assert csv_lines("\ufeffplate\nAB12CD\r\nŠK123\n".encode(), "c", 10) == [
        "plate",
        "AB12CD",
        "ŠK123",
    ]
    for data, code in ((b"\xff\xfe", 422), (b"a\x00b", 422), (b"a\nb\nc\n", 413)):
        with pytest.raises(HTTPException) as err:
            csv_lines(data, "c", 2)
        assert err.value.status_code == code


def test_limits_route(client: TestClient, headers: Headers) -> None:
    for role in Role:
        r = client.get("/api/v1/uploads/limits", headers=headers(role))
        if role is Role.SCRAPER:
            assert r.status_code == 403
            continue
        assert r.status_code == 200
        assert r.json()["photo_types"] == ["jpeg", "png"]
        assert r.json()["photos_per_request"] == 20
    assert client.get("/api/v1/uploads/limits").status_code == 401
