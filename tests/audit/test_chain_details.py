"""What audit details may hold and how each kind is written (found by mutation testing,
docs/mutation.md): paths as their text, tuples as lists, sets in one order whatever their
elements' types, and anything else refused by name."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest
from sqlalchemy.orm import Session

from citywatch.audit.chain import Actor, append, entries

BOB = Actor("bob", "operator")


def test_paths_tuples_and_mixed_sets_are_written_as_json(session: Session) -> None:
    append(
        session, BOB, "export.write", "file",
        details={"path": PurePosixPath("/srv/out/a.jsonl"), "span": (3, 9), "ids": {10, 9, "x"}},
    )  # fmt: skip
    session.commit()
    [entry] = list(entries(session))
    # a set is sorted by each element's canonical JSON text: '"x"' < "10" < "9"
    assert entry.details == {"path": "/srv/out/a.jsonl", "span": [3, 9], "ids": ["x", 10, 9]}


def test_a_value_json_cannot_hold_is_refused_by_its_type(session: Session) -> None:
    class Camera:
        pass

    with pytest.raises(TypeError, match=r"^audit details: Camera is not JSON-serialisable$"):
        append(session, BOB, "camera.view", "camera:1", details={"camera": Camera()})
