"""Hardware decoding: the machine's video decoder (NVDEC through CUDA, VAAPI, Quick Sync)
where it has one, software otherwise, chosen when a camera's source first opens.

A camera's ``hwdecode`` says what to try: ``auto`` (the default) tries each kind FFmpeg was
built with, in :data:`AUTO_ORDER`, and takes the first whose device opens; a named kind tries
only that one; ``off`` never tries.  Trying means creating the device (``HWAccel.create``),
which fails at once on a machine without one (no driver, no ``/dev/dri`` node, no permission),
so a CPU-only node pays well under a millisecond per camera start.

The choice, with why, goes into the camera's health (``decode``: "hardware (cuda), ..." or
"software (no hardware decoder: cuda: ...), ...").  A hardware decoder is given up for the
rest of the source's life, and software used from the next connection on, when the stream's
codec has no hardware configuration (an MJPEG camera on an NVDEC node) or when a connection
that decoded on hardware ended in errors without a single clean picture.  Decoded pictures are
downloaded to system memory (NV12), which the motion gate reads as it reads software YUV.

Measured here: only the fallback; no machine of this project has had a hardware decoder
(``docs/capacity.md``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from av.codec import Codec
from av.codec.hwaccel import HWAccel, hwdevices_available

HwDecode = Literal["auto", "off", "cuda", "vaapi", "qsv"]
#: The kinds ``auto`` tries, in this order (those FFmpeg was built with).
AUTO_ORDER: tuple[str, ...] = ("cuda", "vaapi", "qsv")
#: The codec a device is tried with: every kind above decodes H.264, the common camera codec.
PROBE_CODEC = "h264"


def device_options(kind: str) -> dict[str, object]:
    """FFmpeg's options for ``kind``'s device: CUDA decoders share the GPU's primary context
    (one per process, not one per camera: a context holds a few hundred MB of GPU memory)."""
    return {"primary_ctx": "1"} if kind == "cuda" else {}


def _accel(kind: str, device: str | None) -> HWAccel:
    return HWAccel(kind, device or None, allow_software_fallback=True, options=device_options(kind))


def _create(kind: str, device: str | None) -> None:
    """Open ``kind``'s device (raises when there is none); the context is freed at once."""
    _accel(kind, device).create(Codec(PROBE_CODEC, "r"))


@dataclass(frozen=True, slots=True)
class HwChoice:
    """What a source decodes with: ``kind`` "" is software; ``why`` says why, in words."""

    kind: str = ""
    device: str = ""
    why: str = ""

    @property
    def hardware(self) -> bool:
        return bool(self.kind)

    def label(self) -> str:
        """How the health names the decoder: "hardware (cuda)", "software (why)"."""
        if self.kind:
            return f"hardware ({self.kind}{', ' + self.device if self.device else ''})"
        return f"software ({self.why})" if self.why else "software"

    def accel(self) -> HWAccel | None:
        """A fresh accelerator for ``av.open`` (each container creates its own device)."""
        if not self.kind:
            return None
        return _accel(self.kind, self.device)

    def given_up(self, why: str) -> HwChoice:
        """Software from now on, saying which hardware decoder was given up and why."""
        return HwChoice(why=f"{self.kind} given up: {why}")


def choose_hw(
    asked: HwDecode,
    device: str = "",
    *,
    built: Callable[[], Sequence[str]] = hwdevices_available,
    create: Callable[[str, str | None], None] = _create,
) -> HwChoice:
    """The decoder a source opens with: ``asked`` is the camera's ``hwdecode``, ``device``
    its ``hwdecode_device`` (a CUDA device number or a DRI render node; "" the default).
    ``built`` lists the kinds FFmpeg has, ``create`` opens one (both replaceable in tests)."""
    if asked == "off":
        return HwChoice(why="hwdecode off")
    have = set(built())
    kinds = AUTO_ORDER if asked == "auto" else (asked,)
    failures: list[str] = []
    for kind in kinds:
        if kind not in have:
            if asked != "auto":
                failures.append(f"{kind}: not in this FFmpeg build")
            continue
        try:
            create(kind, device or None)
        except (OSError, NotImplementedError, ValueError, RuntimeError) as err:
            failures.append(f"{kind}: {_reason(err)}")
            continue
        return HwChoice(kind=kind, device=device)
    if not failures:
        return HwChoice(why="no hardware decoder in this FFmpeg build")
    return HwChoice(why="no hardware decoder: " + "; ".join(failures))


def _reason(err: BaseException) -> str:
    """Why a device did not open, in a few words: "no h264 decoder" (the build has the kind
    but not for H.264), "no usable device (Operation not permitted)" (no driver, no node)."""
    if isinstance(err, NotImplementedError):
        return f"no {PROBE_CODEC} decoder for it in this FFmpeg build"
    text = getattr(err, "strerror", None) or str(err) or type(err).__name__
    return f"no usable device ({str(text).strip()})"
