"""Plate recognition settings (owned by the plates back ends and the plate decision layer)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from citywatch.config.base import OnnxProvider, Strict
from citywatch.config.vehicles import VehiclesConfig

PlateFormatName = Literal["RS", "HR", "NL", "DE", "SK", "CZ", "BR", "EU", "US"]

DEFAULT_CONFUSIONS = ["O0", "Q0", "D0", "I1", "B8", "S5", "Z2", "G6"]


def _default_formats() -> list[PlateFormatName]:
    return ["RS", "HR", "NL", "DE", "EU", "US"]


class PlateReaderConfig(Strict):
    type: Literal["rapidocr"] = Field(default="rapidocr", description="Back end name")
    decoder: Literal["constrained", "greedy"] = Field(
        default="constrained",
        description="constrained: decode the recogniser's per-character probabilities "
        "against the plate formats; greedy: its best guess, repaired by fixed rules",
    )
    recogniser: Literal["auto", "ppocrv4", "ppocrv6-small", "ppocrv6-plates", "plate-crnn"] = Field(
        default="auto",
        description="Which recogniser reads plates (constrained decoder): 'auto' reads "
        "US-only formats with 'ppocrv6-small' (extracted from the rapidocr 3.10.0 wheel by "
        "`citywatch models prepare`; a start without it prepared fails, naming that "
        "command) and every other list with 'ppocrv6-plates' (PP-OCRv6 small fine-tuned on "
        "synthetic plates, shipped in the package; best on the EU photos and the Romanian "
        "frames); 'ppocrv4' (in rapidocr-onnxruntime) is the fallback, read only when named; "
        "'plate-crnn': citywatch's own small recogniser, trained on synthetic plates only "
        "(reads stacked plates). Figures in docs/models.md",
    )
    rec_model: Path | None = Field(
        default=None,
        description="A PP-OCR style CTC recogniser (.onnx) of your own to use instead of the "
        "named one (constrained decoder only)",
    )
    rec_keys: Path | None = Field(
        default=None,
        description="Its character list, one per line, when the model carries none",
    )
    stretches: list[float] = Field(
        default_factory=lambda: [1.0, 1.4],
        min_length=1,
        max_length=4,
        description="Read each plate widened by each of these factors and let the reads vote "
        "(narrow plate fonts read better widened; constrained decoder only; each costs one "
        "recogniser run per box)",
    )

    sure_score: float = Field(
        default=0.75,
        ge=0,
        le=1,
        description="A plate whose first read scores at least this is not read again at the "
        "other stretches (saves time on clear plates; 1 = always read at every stretch)",
    )

    reread_unfit: bool = Field(
        default=False,
        description="Read a box at the other stretches also when its first read fits no plate "
        "format (most text boxes of a frame are not plates: off saves about half the "
        "second reads)",
    )

    join_stacked: bool = Field(
        default=True,
        description="Read two text lines that sit one under the other as the two lines of "
        "one stacked plate (motorcycle and square plates: KA AB over 123), upper line first, "
        "where that scores better than each line alone (vision/plates/stacked.py)",
    )

    edge_reach: float | None = Field(
        default=None,
        ge=0,
        le=2,
        description="A plate read shorter than its format allows is read once more on each "
        "side with its box grown sideways by this many box heights (the text box can cut off "
        "an edge character: 7AWV401 read AWV401); the wider read replaces it only when it "
        "keeps what was read and adds characters beyond that edge.  images_us exact 0.802 "
        "-> 0.829 (tuning half a 0.797 -> 0.814, held-out half b 0.808 -> 0.846) at 1.3-1.8 "
        "more recogniser runs per photo; images_eu and the NL clips unchanged at 1.9 more.  "
        "0 = off; null (default) = 0.8 when the formats are US only, else off",
    )

    @model_validator(mode="after")
    def _zoom_above_refine(self) -> PlateReaderConfig:
        if self.refine_zoom_height is not None and self.refine_zoom_height <= self.refine_height:
            raise ValueError(
                f"refine_zoom_height ({self.refine_zoom_height}) must exceed refine_height "
                f"({self.refine_height}), or be null (no larger search)"
            )
        return self

    @model_validator(mode="after")
    def _recogniser_needs_constrained(self) -> PlateReaderConfig:
        if self.decoder == "greedy" and (
            self.recogniser not in ("auto", "ppocrv4") or self.rec_model
        ):
            raise ValueError(
                "recogniser and rec_model choose the constrained decoder's model; the greedy "
                "decoder always reads with RapidOCR's own PP-OCRv4 (set decoder: constrained)"
            )
        return self

    @field_validator("stretches")
    @classmethod
    def _stretches(cls, value: list[float]) -> list[float]:
        for s in value:
            if not 0.5 <= s <= 3.0:
                raise ValueError(f"stretch {s} is outside 0.5..3")
        return value

    threads: int = Field(
        default=1, ge=1, le=64, description="ONNX Runtime intra-op threads per model session"
    )
    det_providers: list[OnnxProvider] = Field(
        default_factory=list,
        description="onnxruntime providers for the text detector, tried in order (empty: "
        "CPU); e.g. [CUDAExecutionProvider] on a GPU node: on an H100 it found the same boxes "
        "as the CPU in 7-9 ms per 640 px photo against 33-36 ms on 16 CPU threads "
        "(bench/providers.py).  The recogniser stays on the CPU: at the crops' varying widths "
        "cuDNN fell back to slow convolutions (45-71 ms per crop against 3-5 on the CPU), and "
        "padding the widths to a few sizes changed what PP-OCRv6 reads",
    )
    det_max_side: int = Field(
        default=640,
        ge=160,
        le=4096,
        description="The text detector sees the frame scaled so its longer side is at most this "
        "(motion regions are cut from the frame at the same scale)",
    )
    det_retry_side: int | None = Field(
        default=960,
        ge=160,
        le=4096,
        description="When nothing is read in a frame, search it again scaled so its longer "
        "side is this (finds plates too small for det_max_side; costs a larger detector run "
        "on frames without a plate; frames no larger than det_max_side are not searched "
        "again; null = no second search)",
    )
    det_retry_every_s: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description="In video, search a frame without a read again at most once per this "
        "many seconds of the stream, zoomed in (det_retry_side) and contrast-equalised "
        "(det_retry_equalised) taking turns (a passing plate stays in view longer than that; "
        "searching every frame without a read again made moving 720p frames cost ~2.5x as "
        "much as the first search alone).  0 = every frame; stills are always searched again",
    )
    det_retry_equalised: bool = Field(
        default=True,
        description="When the zoomed search (det_retry_side) reads nothing either, search the "
        "frame once more with its contrast equalised (CLAHE on lightness: plates in shade or "
        "at dusk).  images_us tuning half a 0.847 -> 0.864 (a dark plate read), held-out half "
        "b 0.846 and images_eu 0.963 unchanged; in a still it runs only where two searches "
        "read nothing, in video it takes turns with the zoomed search",
    )
    det_max_upscale: float = Field(
        default=1.0,
        ge=1,
        le=3,
        description="A frame smaller than det_max_side may be enlarged up to this factor for the "
        "text detector (it finds characters under ~20 px high poorly)",
    )
    refine: bool = Field(
        default=True,
        description="Search each candidate plate again, enlarged, for its text line (finds the "
        "characters inside a whole US-style plate; costs a small detector run per candidate)",
    )
    refine_height: int = Field(
        default=96,
        ge=32,
        le=512,
        description="Height (px) a candidate's window is scaled to for the refining search",
    )
    refine_zoom_height: int | None = Field(
        default=160,
        ge=32,
        le=512,
        description="Where the refining search finds no line (nor with a border), the window "
        "is searched once more scaled to this height, for lines down to 0.15 of its height "
        "instead of 0.25: a whole US-style plate from the plate detector, whose serial is "
        "small beside its frame and state name (images_us read with the shipped format list "
        "0.658 -> 0.703; images_eu unchanged).  Must exceed refine_height; null: no such search",
    )
    det_thresh: float = Field(
        default=0.2,
        gt=0,
        lt=1,
        description="Text detector pixel probability threshold (low: faint, small plates "
        "become candidates; the format fit after reading drops what is not a plate)",
    )
    det_box_thresh: float = Field(
        default=0.2, gt=0, lt=1, description="Mean probability a text box needs to be kept"
    )
    det_unclip_ratio: float = Field(
        default=1.6, ge=1, le=4, description="How far the detector grows each text box"
    )
    pad_x: float = Field(
        default=0.15, ge=0, le=1, description="Padding left/right of a box before reading (x h)"
    )
    pad_y: float = Field(
        default=0.15, ge=0, le=1, description="Padding above/below a box before reading (x h)"
    )
    deskew: bool = Field(
        default=False, description="Straighten tilted crops (projection profile) before reading"
    )
    max_deskew_deg: float = Field(
        default=12.0, ge=1, le=45, description="Largest tilt the deskew step tries"
    )


class PlateDetectorConfig(Strict):
    """Where plates are searched: the reader's own text detector, or a plate detector."""

    type: Literal["auto", "text", "plates", "yolo"] = Field(
        default="auto",
        description="auto: plates for every format list but US-only, text for US-only lists "
        "(measured in docs/models.md); text: the reader's text detector searches the whole "
        "frame; plates: citywatch's plate detector (PP-OCRv4's detector fine-tuned here to find "
        "whole plates; `model` replaces it with another of its contract, e.g. one `citywatch "
        "train plate-detector` made); yolo: a YOLO-style plate detector (ONNX, from `model`). "
        "A plate detector's boxes are searched for their text line by the text detector",
    )
    model: Path | None = Field(
        default=None, description="The plate detector (.onnx): yolo's; plates' own instead of ours"
    )
    input_size: int = Field(
        default=640, ge=64, le=4096, description="yolo: square input side the model expects (px)"
    )
    max_side: int = Field(
        default=416,
        ge=64,
        le=4096,
        description="plates: the frame is scaled so its longer side is at most this",
    )
    retry_side: int | None = Field(
        default=640,
        ge=64,
        le=4096,
        description="plates: where nothing is read, the frame is searched again at this "
        "longer side (reader.det_retry_every_s paces it in video; null: no second search)",
    )
    map_thresh: float = Field(
        default=0.3, gt=0, lt=1, description="plates: a pixel is plate above this probability"
    )
    box_thresh: float | None = Field(
        default=None,
        gt=0,
        lt=1,
        description="plates: mean probability a plate box needs; null (default) = 0.5 when "
        "the formats leave out US, else 0.3.  At 0.5 images_eu has a third fewer candidates "
        "than at 0.3 (each a line search and one or two reads less: 22-30 % less CPU per "
        "photo) and the same plates are read there, on the Romanian frames and in the NL "
        "clips; US plates score lower (the detector learned them from synthetic plates only) "
        "and images_us read with the shipped list lost 6 of 111 photos (docs/models.md)",
    )
    unclip_ratio: float = Field(
        default=1.5, ge=1, le=4, description="plates: how far each found plate is grown back"
    )
    output: Literal["auto", "rows", "columns"] = Field(
        default="auto",
        description="Output layout: rows [1, N, 5+K] (cx, cy, w, h, objectness, classes: "
        "YOLOv5/v7), columns [1, 4+K, N] (cx, cy, w, h, classes: YOLOv8/11), or auto",
    )
    score_thresh: float = Field(default=0.35, gt=0, lt=1, description="Smallest plate score")
    nms_iou: float = Field(default=0.45, gt=0, le=1, description="Overlap merged by NMS")
    providers: list[OnnxProvider] = Field(
        default_factory=list,
        description="onnxruntime providers for the YOLO-style detector, tried in order "
        "(empty: CPU; CUDA, OpenVINO ... when installed)",
    )

    @model_validator(mode="after")
    def _model_for_yolo(self) -> PlateDetectorConfig:
        if self.type == "yolo" and self.model is None:
            raise ValueError("plates.detector.type 'yolo' needs plates.detector.model (.onnx)")
        return self


class PlateFilterConfig(Strict):
    """What text boxes may be plates: geometry before reading, text after."""

    min_aspect: float = Field(
        default=1.2, gt=0, le=20, description="Smallest box width/height read as a plate"
    )
    max_aspect: float = Field(
        default=9.0, gt=0, le=40, description="Largest box width/height read as a plate"
    )
    min_height_px: float = Field(
        default=8.0, ge=1, le=1000, description="Shortest text box read (full-frame pixels)"
    )
    max_height_frac: float = Field(
        default=0.4,
        gt=0,
        le=1,
        description="Tallest text box read, as a fraction of frame height (a gate camera or a "
        "cropped photo can show a plate line a third of the frame high: 0.25 dropped one on "
        "images_us half a)",
    )
    max_boxes: int = Field(
        default=12,
        ge=1,
        le=100,
        description="Most boxes read per frame, by detector score (a street with shop signs "
        "has many text lines scoring above a plate: 8 dropped one on images_us half a)",
    )
    min_score: float = Field(
        default=0.13,
        ge=0,
        le=1,
        description="Smallest candidate score (OCR confidence x format fit) kept as a plate "
        "(a clear US read that fits no state serial scores about 0.3 x confidence).  Chosen "
        "on half a of images_us (exact 0.746 at 0.2, 0.763 at 0.13 and at 0.1); on the held-out "
        "half b 0.654 -> 0.692; images_eu (0.963) and the NL clips (15/15, no false alert) "
        "unchanged",
    )

    @model_validator(mode="after")
    def _aspect_order(self) -> PlateFilterConfig:
        if self.min_aspect >= self.max_aspect:
            raise ValueError(
                f"min_aspect ({self.min_aspect}) must be below max_aspect ({self.max_aspect})"
            )
        return self


class PlateTrackerConfig(Strict):
    """Plate tracks: boxes that overlap, or that moved little and read alike."""

    min_iou: float = Field(default=0.1, ge=0, le=1, description="Overlap that continues a track")
    max_jump: float = Field(
        default=3.0,
        ge=0,
        le=20,
        description="Largest move between analysed frames, in plate widths, for a track that "
        "reads alike",
    )
    max_text_distance: int = Field(
        default=2, ge=0, le=8, description="Edit distance under which two reads are alike"
    )
    lost_s: float = Field(
        default=1.5, gt=0, le=60, description="A plate track ends when unseen this long"
    )


class PlateVoteConfig(Strict):
    lost_s: float = Field(
        default=1.5, gt=0, le=60, description="A track is decided when unseen this long"
    )
    max_tracks: int = Field(
        default=256, ge=1, le=100_000, description="Open tracks per camera (oldest decided first)"
    )
    max_reads: int = Field(
        default=64, ge=1, le=10_000, description="Reads kept per track (the best by score)"
    )
    min_confidence: float = Field(
        default=0.0, ge=0, le=1, description="Voted reads below this confidence are dropped"
    )
    early_votes: int = Field(
        default=3,
        ge=0,
        le=1000,
        description="Report a track as soon as this many identical reads fit a plate format, "
        "instead of waiting for the car to leave (0 = only when the track ends)",
    )


class PlatesConfig(Strict):
    reader: PlateReaderConfig = Field(default_factory=PlateReaderConfig)
    detector: PlateDetectorConfig = Field(default_factory=PlateDetectorConfig)
    filters: PlateFilterConfig = Field(default_factory=PlateFilterConfig)
    tracker: PlateTrackerConfig = Field(default_factory=PlateTrackerConfig)
    vote: PlateVoteConfig = Field(default_factory=PlateVoteConfig)
    vehicles: VehiclesConfig = Field(default_factory=VehiclesConfig)
    formats: list[PlateFormatName] = Field(
        default_factory=_default_formats,
        min_length=1,
        description="Plate formats to normalise against, in order of preference.  List only "
        "the region's: the list also chooses the models (US alone: the text detector and "
        "PP-OCRv6 small; any other list: the plate detector and ppocrv6-plates), and a list "
        "mixing US with European formats (the shipped default) reads both worse than their "
        "own lists (docs/models.md)",
    )
    max_distance: int = Field(default=1, ge=0, le=3, description="Hotlist fuzzy-match budget")
    confusions: list[str] = Field(
        default_factory=lambda: list(DEFAULT_CONFUSIONS),
        description="Character pairs OCR confuses (e.g. 'O0'): a hotlist match may swap them "
        "at confusion_cost",
    )
    confusion_cost: float = Field(
        default=0.0, ge=0, le=1, description="Cost of swapping a confusable pair (1 = any swap)"
    )
    min_reads: int = Field(default=2, ge=1, description="Reads a track needs before it reports")
    # 2, not 3: a car at speed may be readable for 3 analysed frames only, and a track needs
    # min_reads (2) of them; at 2 a car that arrives while the stage rests loses 1 at most
    idle_search_every: int = Field(
        default=2,
        ge=1,
        le=10,
        description="While no plate has been read for tracker.lost_s, search only every n-th "
        "moving frame (1 = every one); the first read brings back every frame "
        "(vision/cadence.py)",
    )

    @field_validator("confusions")
    @classmethod
    def _pairs(cls, value: list[str]) -> list[str]:
        for pair in value:
            if len(pair) != 2 or not pair.isalnum() or pair[0].upper() == pair[1].upper():
                raise ValueError(f"confusion {pair!r}: expected two different letters/digits")
        return [p.upper() for p in value]
