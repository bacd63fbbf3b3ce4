"""Build the watchlist folder of the face-footage dev suite (issue 14) from ../shared/data.

The folder holds links, never copies (the identity and photo sets may not be redistributed):
the two Hamilton subjects (one photo each), every identity of ``faces/identities`` (a folder
of its crops, one entry), every photo of ``faces/verification_pairs/images`` as its own entry
(``vp-<name>``).  Then run::

    citywatch eval face-footage --truth bench/face_footage_truth.csv --clips ../shared/data \\
        --watchlist var/face-suite/watchlist --json bench/out/face_footage.json

``--identity-photos N`` enrols each identity from its first N crops (default: all).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def build(out: Path, data: Path = DATA, identity_photos: int | None = None) -> Path:
    folder = out / "watchlist"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    examples = data / "faces" / "watchlist_video" / "examples"
    for name in ("lin-manuel-miranda.png", "alex-lacamoire.png"):
        (folder / name).symlink_to(examples / name)
    for ident in sorted((data / "faces" / "identities").iterdir()):
        if not ident.is_dir():
            continue
        target = folder / ident.name.replace(" ", "-").lower()
        target.mkdir()
        photos = sorted(ident.iterdir(), key=lambda p: (len(p.stem), p.stem))
        for photo in photos[:identity_photos]:
            (target / photo.name).symlink_to(photo)
    for photo in sorted((data / "faces" / "verification_pairs" / "images").iterdir()):
        (folder / f"vp-{photo.name}").symlink_to(photo)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("var/face-suite"))
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--identity-photos", type=int, default=None)
    args = parser.parse_args()
    print(build(args.out, args.data, args.identity_photos))


if __name__ == "__main__":
    main()
