"""Hardware decoding where the machine has it, software otherwise (issue 18): the choice,
its words in the camera's health, and the fallback when a hardware decoder cannot take a
stream.  No machine of this project has a video decoder device, so the real-device tests
assert what this machine's FFmpeg says, whichever way it goes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from av.codec.hwaccel import HWAccel
from pydantic import SecretStr, ValidationError

import citywatch.sources.pyav as pyav_module
from citywatch.config.camera import CameraConfig
from citywatch.sources.hwdecode import HwChoice, choose_hw, device_options
from citywatch.sources.pyav import CameraSource


def fake(
    built: Sequence[str], works: Sequence[str] = ()
) -> tuple[
    Callable[[], list[str]], Callable[[str, str | None], None], list[tuple[str, str | None]]
]:
    """(built, create) stand-ins: ``works`` lists the kinds whose device opens; the calls
    made to ``create`` are recorded."""
    calls: list[tuple[str, str | None]] = []

    def create(kind: str, device: str | None) -> None:
        calls.append((kind, device))
        if kind in works:
            return
        if kind == "qsv":
            raise NotImplementedError("No supported hardware config for <av.Codec h264>")
        raise PermissionError(1, "Operation not permitted")

    return (lambda: list(built)), create, calls


NO_CUDA = "no hardware decoder: cuda: no usable device (Operation not permitted)"
NO_VAAPI = "no hardware decoder: vaapi: not in this FFmpeg build"


@pytest.mark.parametrize(
    ("asked", "built", "works", "kind", "why", "tried"),
    [
        ("off", ["cuda"], ["cuda"], "", "hwdecode off", []),
        ("auto", [], [], "", "no hardware decoder in this FFmpeg build", []),
        ("auto", ["drm", "amf"], [], "", "no hardware decoder in this FFmpeg build", []),
        (
            "auto",
            ["cuda", "qsv", "drm"],
            [],
            "",
            "no hardware decoder: cuda: no usable device (Operation not permitted); "
            "qsv: no h264 decoder for it in this FFmpeg build",
            ["cuda", "qsv"],
        ),
        ("auto", ["cuda", "vaapi"], ["cuda"], "cuda", "", ["cuda"]),  # the first that opens
        ("auto", ["cuda", "vaapi"], ["vaapi"], "vaapi", "", ["cuda", "vaapi"]),
        ("auto", ["qsv", "vaapi"], ["qsv"], "qsv", "", ["vaapi", "qsv"]),  # AUTO_ORDER rules
        (
            "cuda",
            ["cuda", "vaapi"],
            ["vaapi"],
            "",
            NO_CUDA,
            ["cuda"],
        ),
        (
            "vaapi",
            ["cuda"],
            ["cuda"],
            "",
            NO_VAAPI,
            [],
        ),
        ("vaapi", ["vaapi"], ["vaapi"], "vaapi", "", ["vaapi"]),
    ],
)
def test_choose_hw(
    asked: str, built: list[str], works: list[str], kind: str, why: str, tried: list[str]
) -> None:
    b, create, calls = fake(built, works)
    got = choose_hw(asked, "", built=b, create=create)  # type: ignore[arg-type]
    assert (got.kind, got.why) == (kind, why)
    assert [k for k, _ in calls] == tried
    assert got.hardware is bool(kind)


def test_the_device_goes_to_the_device_opener_and_into_the_words() -> None:
    b, create, calls = fake(["vaapi"], ["vaapi"])
    got = choose_hw("auto", "/dev/dri/renderD129", built=b, create=create)
    assert calls == [("vaapi", "/dev/dri/renderD129")]
    assert got.label() == "hardware (vaapi, /dev/dri/renderD129)"
    b, create, calls = fake(["cuda"], ["cuda"])
    assert choose_hw("cuda", "", built=b, create=create).label() == "hardware (cuda)"
    assert calls == [("cuda", None)]  # "" is the default device


def test_labels_accelerators_and_giving_up() -> None:
    soft = HwChoice(why="hwdecode off")
    assert soft.label() == "software (hwdecode off)" and soft.accel() is None
    assert HwChoice().label() == "software"
    hard = HwChoice(kind="cuda")
    accel = hard.accel()
    assert isinstance(accel, HWAccel) and accel is not hard.accel()  # one per container
    assert accel is not None and accel.options == {"primary_ctx": "1"}  # one context per GPU
    vaapi = HwChoice(kind="vaapi", device="/dev/dri/renderD128").accel()
    assert vaapi is not None and vaapi.options == {}
    gone = hard.given_up("PermissionError: no device")
    assert not gone.hardware and gone.accel() is None
    assert gone.label() == "software (cuda given up: PermissionError: no device)"


def test_cuda_decoders_share_the_primary_context() -> None:
    assert device_options("cuda") == {"primary_ctx": "1"}
    assert device_options("vaapi") == device_options("qsv") == {}


@pytest.mark.parametrize("bad", ["cuda; rm", "1 2", "$(id)", "x" * 201])
def test_a_bad_device_is_refused_by_the_config(bad: str) -> None:
    with pytest.raises(ValidationError, match="hwdecode_device"):
        CameraConfig(id="c", url=SecretStr("x.mp4"), hwdecode_device=bad)
    with pytest.raises(ValidationError, match="hwdecode"):
        CameraConfig(id="c", url=SecretStr("x.mp4"), hwdecode="nvdec")  # type: ignore[arg-type]


def test_this_machines_ffmpeg_is_asked_for_real() -> None:
    """No stand-ins: whatever this machine has, the choice says it in words."""
    got = choose_hw("auto")
    if got.hardware:
        assert got.label().startswith("hardware (")
    else:
        assert got.why.startswith("no hardware decoder")
        assert choose_hw("cuda").why.startswith("no hardware decoder: cuda: ")


def frames_of(cam: CameraConfig, n: int = 20) -> tuple[int, str]:
    src = CameraSource(cam)
    got = 0
    for _ in src.frames():
        got += 1
        if got == n:
            break
    src.stop()
    return got, src.health.decode


def test_a_camera_says_what_decodes_it(clip: Path) -> None:
    got, words = frames_of(CameraConfig(id="c", url=SecretStr(str(clip)), hwdecode="off"))
    assert got == 10  # 50 frames at 25 fps sampled to 5 fps
    assert words.startswith("software (hwdecode off), 1 thread(s), ")
    got, words = frames_of(CameraConfig(id="c", url=SecretStr(str(clip)), hwdecode="cuda"))
    assert got == 10
    real = choose_hw("cuda")
    assert words.startswith(real.label() + ", 1 thread(s), ")


def test_a_hardware_decoder_that_cannot_open_the_stream_gives_way_to_software(
    clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A device said to be there that fails on the stream: the camera still runs, on
    software, and says which decoder it gave up and why."""
    monkeypatch.setattr(
        pyav_module, "choose_hw", lambda asked, device: HwChoice(kind="cuda", device="7")
    )
    opens: list[object] = []
    real_open: Any = pyav_module.av.open

    def open_(url: str, **kw: object) -> object:
        opens.append(kw.get("hwaccel"))
        if kw.get("hwaccel") is not None:
            raise NotImplementedError("No supported hardware config for <av.Codec h264>")
        return real_open(url, **kw)

    monkeypatch.setattr(pyav_module.av, "open", open_)
    cam = CameraConfig(id="c", url=SecretStr(str(clip)), loop=True)
    src = CameraSource(cam)
    got = 0
    for _ in src.frames():
        got += 1
        if got == 15:  # past the end of the first pass: the loop reopened the file
            break
    src.stop()
    assert got == 15
    assert isinstance(opens[0], HWAccel) and opens[1:] and all(o is None for o in opens[1:])
    assert src.health.decode.startswith(
        "software (cuda given up: NotImplementedError: No supported hardware config for "
        "<av.Codec h264>), 1 thread(s), "
    )


def test_a_stream_that_fails_either_way_keeps_the_hardware_for_the_next_try(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When software cannot open the stream either, the stream is at fault: the error is
    the stream's, and the hardware is tried again on the next open."""
    monkeypatch.setattr(pyav_module, "choose_hw", lambda asked, device: HwChoice(kind="cuda"))
    opens: list[object] = []

    def open_(url: str, **kw: object) -> object:
        opens.append(kw.get("hwaccel"))
        raise FileNotFoundError(2, "No such file or directory")

    monkeypatch.setattr(pyav_module.av, "open", open_)
    src = CameraSource(CameraConfig(id="c", url=SecretStr(str(tmp_path / "gone.mp4"))))
    with pytest.raises(pyav_module.SourceError, match="No such file or directory"):
        list(src.frames())
    assert [o is None for o in opens] == [False, True]
    assert src._hw == HwChoice(kind="cuda")


def test_a_hardware_connection_without_one_clean_picture_gives_the_hardware_up(
    clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opened on hardware (here: said to be), but nothing decodes: the next connection
    decodes in software, and says why."""
    monkeypatch.setattr(pyav_module, "choose_hw", lambda asked, device: HwChoice(kind="cuda"))
    real_open: Any = pyav_module.av.open
    monkeypatch.setattr(
        pyav_module.av, "open", lambda url, **kw: real_open(url, **{**kw, "hwaccel": None})
    )

    def broken(self: object, packet: object) -> list[object]:
        raise ValueError("hardware frame lost")

    monkeypatch.setattr(pyav_module.StillDecoder, "decode", broken)
    src = CameraSource(CameraConfig(id="c", url=SecretStr(str(clip))))
    assert list(src.frames()) == []
    assert src._hw is not None and not src._hw.hardware
    assert src._hw.label() == (
        "software (cuda given up: no clean picture decoded (decode failed: ValueError: "
        "hardware frame lost))"
    )


def test_software_errors_change_nothing(clip: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: object, packet: object) -> list[object]:
        raise ValueError("bad picture")

    monkeypatch.setattr(pyav_module.StillDecoder, "decode", broken)
    src = CameraSource(CameraConfig(id="c", url=SecretStr(str(clip)), hwdecode="off"))
    assert list(src.frames()) == []
    assert src._hw == HwChoice(why="hwdecode off")
