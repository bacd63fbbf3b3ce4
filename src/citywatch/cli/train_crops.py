"""`citywatch train plate-crops`: real plate crops for the recogniser, cut from the Romanian
dashcam frames (MIT) and labelled by the project (its transcriptions, else the shipped reader
where it is sure): :mod:`citywatch.training.plate_real`.  Needs no torch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from citywatch.cli.context import ctx_of

REPO = Path(__file__).resolve().parents[3]
DEFAULT_TRUTH = REPO / "bench" / "plates_ro_truth.csv"


def register(train_app: typer.Typer) -> None:
    @train_app.command("plate-crops")
    def train_plate_crops(
        ctx: typer.Context,
        ro: Annotated[
            Path,
            typer.Option(
                help="The dataset/ folder of RobertLucian/license-plate-dataset (MIT; fetch it)"
            ),
        ],
        out: Annotated[Path, typer.Option(help="Folder to write the crops and labels.csv into")],
        truth: Annotated[
            Path, typer.Option(help="The project's transcriptions (image,box,plate)")
        ] = DEFAULT_TRUTH,
        drives: Annotated[
            str, typer.Option(help="Comma-separated drives to cut (the rest is held out)")
        ] = "dayride_type1_001,nightride_type3_001",
        min_score: Annotated[
            float,
            typer.Option(min=0.0, max=1.0, help="A teacher read this sure or surer labels a crop"),
        ] = 0.9,
    ) -> None:
        """Cut and label real plate crops for `citywatch train plates --real`.

        Example: citywatch train plate-crops --ro /data/license-plate-dataset/dataset
        --out var/train/ro-crops
        """
        c = ctx_of(ctx)
        from citywatch.config.plates import PlatesConfig
        from citywatch.training.plate_real import RealCropError, extract_crops, hand_labels
        from citywatch.vision.plates.formats import resolve
        from citywatch.vision.plates.ppocr import CtcPlateReader, CtcRecogniser
        from citywatch.vision.plates.recognisers import shipped_path
        from citywatch.vision.record import FloatArray, ImageBGR

        cfg = PlatesConfig()
        formats = resolve(cfg.formats)
        reader = CtcPlateReader.from_config(
            CtcRecogniser(shipped_path("ppocrv6-plates"), threads=cfg.reader.threads), cfg.reader
        )

        def teacher(image: ImageBGR, boxes: FloatArray) -> list[tuple[str, float] | None]:
            return [
                (c[0].text, c[0].score) if c else None
                for c in reader.read_formatted(image, boxes, formats)
            ]

        if not truth.is_file():
            c.fail(f"transcriptions {truth} not found")
        try:
            counts = extract_crops(
                ro,
                out,
                teacher,
                truth=hand_labels(truth),
                drives=[d.strip() for d in drives.split(",") if d.strip()],
                min_score=min_score,
            )
        except RealCropError as err:
            c.fail(str(err))
        c.out.print(f"crops in {out}: {counts}", highlight=False)
