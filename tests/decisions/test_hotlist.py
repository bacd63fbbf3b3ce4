from __future__ import annotations

import random
import string

import numpy as np
import pytest

from citywatch.config.plates import PlatesConfig
from citywatch.decisions.hotlist import HotlistMatcher, describe_difference
from citywatch.vision.plates.formats import edit_distance

ENTRIES = [
    (1, 10, "56-JTT-5"),
    (2, 10, "ZG 1234-AB"),
    (3, 20, "BG 123-AB"),
    (4, 20, "XS-NB-23"),
]


@pytest.mark.parametrize(
    ("read", "entry_id", "distance", "differing"),
    [
        ("56JTT5", 1, 0, ()),  # exact
        ("56-jtt-5", 1, 0, ()),  # separators and case ignored
        ("56JTTS", 1, 0, (5,)),  # S/5 is a confusion: free, but shown
        ("ZG1284AB", 2, 1, (4,)),  # one true substitution
        ("ZG123AB", 2, 1, (5,)),  # one deletion
        ("ZG12345AB", 2, 1, (6,)),  # one insertion
        ("BG123A8", 3, 0, (6,)),  # B/8
        ("8G12EAB", 3, 1, (0, 4)),  # B/8 free, E/3 is not a confusion: one edit
        ("XSNB2", 4, 1, (4,)),
        ("ABCDEF", None, None, None),
    ],
)
def test_match_table(
    read: str, entry_id: int | None, distance: int | None, differing: tuple[int, ...] | None
) -> None:
    m = HotlistMatcher(ENTRIES, max_distance=1)
    got = m.match(read)
    if entry_id is None:
        assert got is None
        return
    assert got is not None
    assert (got.entry_id, got.distance, got.differing) == (entry_id, distance, differing)
    assert got.hotlist_id == dict((e, h) for e, h, _ in ENTRIES)[entry_id]


@pytest.mark.parametrize(
    ("read", "changes", "explain"),
    [
        ("56JTT5", (), "exact"),
        ("56JTTS", ((5, "S", "5"),), "S read for 5 at 6"),
        ("ZG1284AB", ((4, "8", "3"),), "8 read for 3 at 5"),
        ("ZG123AB", ((5, "", "4"),), "4 missing at 6"),
        ("ZG12345AB", ((6, "5", ""),), "extra 5 read at 7"),
        ("8G12EAB", ((0, "8", "B"), (4, "E", "3")), "8 read for B at 1; E read for 3 at 5"),
    ],
)
def test_fuzzy_hit_says_which_characters_differed(
    read: str, changes: tuple[tuple[int, str, str], ...], explain: str
) -> None:
    got = HotlistMatcher(ENTRIES, max_distance=1).match(read)
    assert got is not None
    assert got.changes == changes
    assert got.explain() == explain
    assert {pos for pos, a, _ in changes if a} <= set(got.differing)


def test_distance_zero_budget_still_allows_confusions() -> None:
    m = HotlistMatcher(ENTRIES, max_distance=0)
    assert m.match("56JTTS") is not None
    assert m.match("56JTTX") is None


def test_confusion_cost_counts() -> None:
    m = HotlistMatcher(ENTRIES, max_distance=1, confusion_cost=0.5)
    one = m.match("56JTTS")
    assert one is not None and one.cost == 0.5 and one.distance == 0
    two = m.match("S6JTTS")  # two confusions: 1.0, still within budget
    assert two is not None and two.cost == 1.0
    assert m.match("S6JTTSX") is None  # two confusions and an insertion: 2.0


def test_custom_confusion_table() -> None:
    m = HotlistMatcher([(1, 1, "AB123")], max_distance=0, confusions={("E", "3"): 0.0})
    assert m.match("AB12E") is not None
    assert m.match("A8123") is None  # B/8 not configured here


def test_exact_beats_fuzzy_and_ties_are_deterministic() -> None:
    # the exact entry has the higher id, so only "exact first" can put it ahead of entry 3,
    # which matches at cost 0 too (S/5 is a free confusion)
    entries = [(3, 1, "56JTT5"), (7, 2, "56JTTS"), (5, 3, "56JTT6"), (2, 4, "56JTT6")]
    m = HotlistMatcher(entries, max_distance=1)
    got = m.match("56JTTS")
    assert got is not None and (got.entry_id, got.cost, got.changes) == (7, 0.0, ())
    ranked = m.match_all("56JTTS")
    assert [(r.entry_id, r.cost) for r in ranked] == [(7, 0.0), (3, 0.0), (2, 1.0), (5, 1.0)]
    # same plate on two hotlists: the lower entry id
    assert m.match("56JTT6") is not None and m.match("56JTT6").entry_id == 2  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("settings", "read", "cost"),
    [
        ({}, "ZG1284AB", 1),  # the defaults: one true edit, B/8 free
        ({"max_distance": 0}, "ZG1284AB", None),
        ({"max_distance": 0}, "ZG1234A8", 0),
        ({"confusions": ["E3"]}, "ZG1234A8", 1),  # B/8 no longer a confusion: an edit
        ({"confusion_cost": 0.5, "max_distance": 0}, "ZG1234A8", None),
        ({"confusion_cost": 0.5}, "ZG1234A8", 0.5),
    ],
)
def test_a_configured_matcher_follows_the_plates_settings(
    settings: dict[str, object], read: str, cost: float | None
) -> None:
    hit = HotlistMatcher.configured(ENTRIES, PlatesConfig.model_validate(settings)).match(read)
    assert (hit.cost if hit is not None else None) == cost


def test_bad_entries_and_budget_are_named() -> None:
    with pytest.raises(ValueError, match="entry 9"):
        HotlistMatcher([(9, 1, "--")])
    with pytest.raises(ValueError, match="max_distance"):
        HotlistMatcher([], max_distance=-1)
    with pytest.raises(ValueError, match="confusion"):
        HotlistMatcher([], confusions=["AA"])
    assert HotlistMatcher([]).match("AB123") is None
    assert HotlistMatcher(ENTRIES).match("") is None


def levenshtein_all(codes: np.ndarray, lens: np.ndarray, q: str) -> np.ndarray:
    """Edit distance from ``q`` to every plate at once (numpy over the plates): ``codes`` holds
    the plates' character codes, zero-padded, ``lens`` their lengths."""
    n = codes.shape[1]
    prev = np.tile(np.arange(n + 1), (len(codes), 1))
    for i, ch in enumerate(q, 1):
        cur = np.empty_like(prev)
        cur[:, 0] = i
        for j in range(1, n + 1):
            cur[:, j] = np.minimum(
                np.minimum(prev[:, j] + 1, cur[:, j - 1] + 1),
                prev[:, j - 1] + (codes[:, j - 1] != ord(ch)),
            )
        prev = cur
    return prev[np.arange(len(codes)), lens]


@pytest.mark.parametrize("max_distance", [1, 2])
def test_index_finds_what_brute_force_finds(max_distance: int) -> None:
    """100k random plates: the pigeonhole index misses nothing a full scan finds."""
    rng = random.Random(7)
    alphabet = string.ascii_uppercase.replace("O", "").replace("I", "") + "23479"
    plates = {"".join(rng.choices(alphabet, k=rng.randint(5, 8))) for _ in range(100_000)}
    entries = [(i, 1, p) for i, p in enumerate(sorted(plates))]
    m = HotlistMatcher(entries, max_distance=max_distance, confusions=[])
    assert len(m) == len(entries)
    queries = []
    for _, _, p in rng.sample(entries, 12):
        q = list(p)
        for _ in range(max_distance):
            op = rng.choice("sdi")
            k = rng.randrange(len(q))
            if op == "s":
                q[k] = rng.choice(alphabet)
            elif op == "d" and len(q) > 1:
                del q[k]
            else:
                q.insert(k, rng.choice(alphabet))
        queries.append("".join(q))
    ordered = sorted(plates)
    raw = np.frombuffer("".join(p.ljust(8, "\0") for p in ordered).encode(), np.uint8)
    codes = raw.reshape(-1, 8).astype(np.int32)
    lens = np.array([len(p) for p in ordered])
    for q in queries:
        found = {r.entry for r in m.match_all(q)}
        dist = levenshtein_all(codes, lens, q)
        truth = {ordered[i] for i in np.flatnonzero(dist <= max_distance)}
        assert found == truth, q
        assert all(edit_distance(p, q) <= max_distance for p in found)


@pytest.mark.parametrize(
    ("read", "entry", "said"),
    [
        ("AB123CD", "AB-123-CD", "exact"),
        ("AB123C0", "AB123CD", "0 read for D at 7"),
        ("8B123CD", "BB123CD", "8 read for B at 1"),
        ("AB1234CD", "AB123CD", "extra 4 read at 6"),
        ("AB12CD", "AB123CD", "3 missing at 5"),
        ("XY999ZZ", "AB123CD", None),  # never None for a real pair: see the next line
        (None, "AB123CD", None),
        ("AB123CD", "", None),
    ],
)
def test_describe_difference_says_what_an_operator_should_check(
    read: str | None, entry: str, said: str | None
) -> None:
    got = describe_difference(read, entry)
    if read == "XY999ZZ":  # far apart: still described, one change per position
        assert got is not None and got.count(" read for ") == 7
    else:
        assert got == said
