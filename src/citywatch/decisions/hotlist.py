"""Hotlist matching: is this read plate (nearly) one on a hotlist?

Plates compare without separators, upper case, ASCII (:func:`plate_key`).  The distance is a
weighted edit distance: inserting or deleting a character costs 1, substituting one costs 1,
except for pairs OCR confuses (``O``/``0``, ``S``/``5`` ...) which cost ``confusion_cost``
(default 0).  A read matches an entry when the weighted cost is at most ``max_distance``.  An
exact match always beats a fuzzy one; then the lower cost, then fewer true edits, then the
lower entry id (deterministic).

Entries are indexed so that 100k of them stay fast: every entry is folded into a *canonical*
form where each confusable group collapses to one character, so a confusion costs nothing
there, and split into ``max_distance + 1`` pieces.  A read within ``max_distance`` true edits
of an entry must contain one of its pieces unchanged, near the same place (pigeonhole), so only
entries sharing a piece are scored.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from citywatch.config.plates import DEFAULT_CONFUSIONS, PlatesConfig
from citywatch.vision.plates.formats import plate_key


@dataclass(frozen=True, slots=True)
class HotlistMatchResult:
    entry_id: int
    hotlist_id: int
    entry: str  # the hotlist plate, normalised
    distance: int  # true edits: substitutions of non-confusable pairs, insertions, deletions
    cost: float  # weighted cost (confusable swaps at confusion_cost)
    differing: tuple[int, ...]  # positions in the (normalised) read that differ from the entry
    # what differed, in read order: (position in the read, read character, entry character);
    # "" for a character one side lacks (the position is where it would stand in the read)
    changes: tuple[tuple[int, str, str], ...] = ()

    def explain(self) -> str:
        """The differences for a person: ``"0 read for O at 7"``, ``"exact"`` when none."""
        if not self.changes:
            return "exact"
        parts = []
        for pos, got, want in self.changes:
            if not want:
                parts.append(f"extra {got} read at {pos + 1}")
            elif not got:
                parts.append(f"{want} missing at {pos + 1}")
            else:
                parts.append(f"{got} read for {want} at {pos + 1}")
        return "; ".join(parts)


def _pairs(
    confusions: Iterable[str] | dict[tuple[str, str], float], cost: float
) -> dict[tuple[str, str], float]:
    table: dict[tuple[str, str], float] = {}
    items = confusions.items() if isinstance(confusions, dict) else ((p, cost) for p in confusions)
    for pair, c in items:
        a, b = (pair[0].upper(), pair[1].upper())
        if a == b or not (0.0 <= c <= 1.0):
            raise ValueError(f"confusion {pair!r}: expected two different characters, cost 0..1")
        table[(a, b)] = table[(b, a)] = float(c)
    return table


def _canonical_map(table: dict[tuple[str, str], float]) -> dict[str, str]:
    """Each character to the smallest member of its confusion group (union-find)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.get(x, x) != x:
            x = parent[x]
        return x

    for a, b in table:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {ch: find(ch) for ch in parent}


def _pieces(n: int, k: int) -> list[tuple[int, int]]:
    """``k`` contiguous (start, end) pieces covering ``range(n)`` as evenly as possible."""
    bounds = [round(i * n / k) for i in range(k + 1)]
    return [(bounds[i], bounds[i + 1]) for i in range(k)]


class HotlistMatcher:
    def __init__(
        self,
        entries: Sequence[tuple[int, int, str]],
        max_distance: float = 1,
        confusions: Iterable[str] | dict[tuple[str, str], float] = tuple(DEFAULT_CONFUSIONS),
        confusion_cost: float = 0.0,
    ) -> None:
        """``entries``: (entry_id, hotlist_id, plate).  ``confusions``: pairs like ``"O0"`` (all
        at ``confusion_cost``) or a dict {(a, b): cost}."""
        if max_distance < 0:
            raise ValueError(f"max_distance must be >= 0, got {max_distance}")
        self._max = float(max_distance)
        self._edits = int(max_distance)  # true edits cost 1 each: at most this many
        self._sub = _pairs(confusions, confusion_cost)
        self._canon = str.maketrans(_canonical_map(self._sub))
        self._k = self._edits + 1
        self._entries: list[tuple[int, int, str, str]] = []  # id, hotlist, key, canonical
        self._exact: dict[str, list[int]] = defaultdict(list)
        self._index: dict[tuple[int, int, str], list[int]] = defaultdict(list)
        for entry_id, hotlist_id, plate in entries:
            key = plate_key(plate)
            if not key:
                raise ValueError(f"hotlist entry {entry_id}: plate {plate!r} has no characters")
            canon = key.translate(self._canon)
            idx = len(self._entries)
            self._entries.append((int(entry_id), int(hotlist_id), key, canon))
            self._exact[key].append(idx)
            for p, (s, e) in enumerate(_pieces(len(canon), self._k)):
                self._index[(len(canon), p, canon[s:e])].append(idx)

    @classmethod
    def configured(
        cls, entries: Sequence[tuple[int, int, str]], cfg: PlatesConfig
    ) -> HotlistMatcher:
        """A matcher with the configuration's fuzzy rules (``plates.max_distance``,
        ``confusions``, ``confusion_cost``): what workers, scans and evaluations match with."""
        return cls(
            entries,
            max_distance=cfg.max_distance,
            confusions=cfg.confusions,
            confusion_cost=cfg.confusion_cost,
        )

    def __len__(self) -> int:
        return len(self._entries)

    def _candidates(self, canon: str) -> set[int]:
        found: set[int] = set()
        m = len(canon)
        for n in range(max(1, m - self._edits), m + self._edits + 1):
            for p, (s, e) in enumerate(_pieces(n, self._k)):
                width = e - s
                for start in range(max(0, s - self._edits), min(m - width, s + self._edits) + 1):
                    found.update(self._index.get((n, p, canon[start : start + width]), ()))
        return found

    def _cost(
        self, a: str, b: str
    ) -> tuple[float, int, tuple[int, ...], tuple[tuple[int, str, str], ...]] | None:
        """(weighted cost, true edits, differing positions in ``a``, the changes) or None when
        over budget."""
        n, m = len(a), len(b)
        inf = float("inf")
        # dp[i][j]: (cost, edits) to turn a[:i] into b[:j]
        dp = [[(inf, 0)] * (m + 1) for _ in range(n + 1)]
        for i in range(n + 1):
            dp[i][0] = (float(i), i)
        for j in range(m + 1):
            dp[0][j] = (float(j), j)
        for i in range(1, n + 1):
            row_min = inf
            for j in range(1, m + 1):
                if a[i - 1] == b[j - 1]:
                    sub = dp[i - 1][j - 1]
                else:
                    c = self._sub.get((a[i - 1], b[j - 1]), 1.0)
                    pc, pe = dp[i - 1][j - 1]
                    sub = (pc + c, pe + (c >= 1.0))
                dl, ins = dp[i - 1][j], dp[i][j - 1]
                best = min(sub, (dl[0] + 1, dl[1] + 1), (ins[0] + 1, ins[1] + 1))
                dp[i][j] = best
                row_min = min(row_min, best[0])
            if row_min > self._max + 1e-9:
                return None
        cost, edits = dp[n][m]
        if cost > self._max + 1e-9:
            return None
        # walk back to find the positions of ``a`` that differ
        differing: set[int] = set()
        changes: list[tuple[int, str, str]] = []
        i, j = n, m
        while i > 0 or j > 0:
            if i > 0 and j > 0:
                c = 0.0 if a[i - 1] == b[j - 1] else self._sub.get((a[i - 1], b[j - 1]), 1.0)
                pc, pe = dp[i - 1][j - 1]
                if (pc + c, pe + (c >= 1.0)) == dp[i][j]:
                    if a[i - 1] != b[j - 1]:
                        differing.add(i - 1)
                        changes.append((i - 1, a[i - 1], b[j - 1]))
                    i, j = i - 1, j - 1
                    continue
            if i > 0 and (dp[i - 1][j][0] + 1, dp[i - 1][j][1] + 1) == dp[i][j]:
                differing.add(i - 1)  # a character of the read the entry lacks
                changes.append((i - 1, a[i - 1], ""))
                i -= 1
            else:
                differing.add(min(i, n - 1))  # a character the read lacks, at or before i
                changes.append((i, "", b[j - 1]))
                j -= 1
        return cost, edits, tuple(sorted(differing)), tuple(changes[::-1])

    def match_all(self, text: str) -> list[HotlistMatchResult]:
        """Every entry within budget, best first (exact, cost, edits, entry id)."""
        key = plate_key(text)
        if not key:
            return []
        ranked: list[tuple[tuple[int, float, int, int], HotlistMatchResult]] = []
        for idx in self._candidates(key.translate(self._canon)):
            entry_id, hotlist_id, entry, _ = self._entries[idx]
            scored = self._cost(key, entry)
            if scored is None:
                continue
            cost, edits, differing, changes = scored
            result = HotlistMatchResult(
                entry_id, hotlist_id, entry, edits, cost, differing, changes
            )
            ranked.append(((entry != key, cost, edits, entry_id), result))
        ranked.sort(key=lambda r: r[0])
        return [r for _, r in ranked]

    def match(self, text: str) -> HotlistMatchResult | None:
        """The best entry within budget, or None."""
        key = plate_key(text)
        exact = self._exact.get(key)
        if exact:
            entry_id, hotlist_id, entry, _ = min(self._entries[i] for i in exact)
            return HotlistMatchResult(entry_id, hotlist_id, entry, 0, 0.0, ())
        found = self.match_all(text)
        return found[0] if found else None


def describe_difference(read: str | None, entry: str | None) -> str | None:
    """What an operator should check on a plate hit: how the street read differs from the
    hotlist entry (``"0 read for O at 7"``), ``"exact"`` when it does not, None when either is
    missing.  Works from the two stored strings, so every stored alert can say it."""
    if not read or not entry or not plate_key(entry):
        return None
    budget = max(len(plate_key(read)), len(plate_key(entry)))  # always within budget
    found = HotlistMatcher([(0, 0, entry)], max_distance=budget).match(read)
    return found.explain() if found is not None else None
