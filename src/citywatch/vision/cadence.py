"""How often a detector searches a camera's moving frames while it finds nothing.

Most of a street camera's motion holds nothing a stage looks for: a face camera sees cars,
a plate camera sees people, trees move in the wind.  A stage that has found nothing for as
long as its tracks live (``rest_s``: every track has ended) searches only every ``every``-th
moving frame; the first search that finds something brings it back to every frame until
``rest_s`` passes again without a find.  What it costs: something that appears while the stage
rests is found up to ``every - 1`` analysed frames later (0.2 s per frame at 5 fps); while
anything is tracked, nothing changes.  The same rule as DeepStream's inference ``interval``,
applied only while nothing is there to follow.

The first moving frame after a still one (the motion gate saw nothing) is always searched, so
whatever starts the motion is looked at at once.  Stream time going backwards (a looped file,
a restarted stream) counts as resting.  Pure state, no clock of its own: the caller passes
each frame's stream time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class SearchCadence:
    """Whether a moving frame is searched (:meth:`due`), from what earlier searches found
    (:meth:`saw`).  ``every`` 1: every moving frame, always."""

    every: int = 1
    rest_s: float = 2.0
    searched: int = 0  # moving frames searched
    rested: int = 0  # moving frames left unsearched while resting
    windowed: int = 0  # searches of only some windows (the face stage: around tracked faces)
    resting_now: bool = False  # whether the last moving frame came while resting
    _last_found: float | None = field(default=None, repr=False)
    _since_search: int = field(default=0, repr=False)

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError(f"search cadence: every must be 1 or more, got {self.every}")
        if self.rest_s < 0:
            raise ValueError(f"search cadence: rest_s must be >= 0 seconds, got {self.rest_s}")

    def resting(self, pts_s: float) -> bool:
        """Nothing found within ``rest_s`` of stream time before ``pts_s``."""
        last = self._last_found
        return last is None or pts_s < last or pts_s - last > self.rest_s

    def due(self, pts_s: float) -> bool:
        """Whether the moving frame at ``pts_s`` is searched (counted either way)."""
        self.resting_now = self.resting(pts_s)
        # every 1: never skipped (0 < n < 1 holds for no n)
        if self.resting_now and 0 < self._since_search < self.every:
            self._since_search += 1
            self.rested += 1
            return False
        self._since_search = 1
        self.searched += 1
        return True

    def still(self) -> None:
        """A frame without motion went by: the next moving frame is searched."""
        self._since_search = 0

    def saw(self, pts_s: float, found: bool) -> None:
        """What the search of the frame at ``pts_s`` found."""
        if found:
            self._last_found = pts_s
            self._since_search = 0  # the next moving frame is searched whatever comes

    def figures(self) -> dict[str, int | bool]:
        """What the camera's health record keeps of it (numbers only)."""
        return {
            "every": self.every,
            "resting": self.resting_now and self.every > 1,
            "searched": self.searched,
            "rested": self.rested,
            "windowed": self.windowed,
        }


def _nth(n: int) -> str:
    return {2: "2nd", 3: "3rd"}.get(n, f"{n}th")  # 2 to 10 (the config's bounds)


def search_text(stages: Mapping[str, Any]) -> str:
    """How each stage searches, for people: ``faces: resting, every 3rd moving frame (120 of
    340 left); plates: every moving frame``, from the health record's per-stage
    :meth:`SearchCadence.figures` (anything malformed left out)."""
    parts = []
    for name, f in stages.items():
        if not isinstance(f, Mapping):
            continue
        nums = [v for k in ("every", "searched", "rested") if type(v := f.get(k)) is int]
        if len(nums) != 3:  # missing, bools and the rest: not ours
            continue
        every, searched, rested = nums
        if every > 1 and f.get("resting") is True:
            text = f"{name}: resting, every {_nth(every)} moving frame"
        else:
            text = f"{name}: every moving frame"
        notes = [f"{rested} of {searched + rested} left"] if rested > 0 else []
        windowed = f.get("windowed")
        if type(windowed) is int and windowed > 0:
            notes.append(f"{windowed} searched only around what it tracks")
        if notes:
            text += f" ({'; '.join(notes)})"
        parts.append(text)
    return "; ".join(parts)
