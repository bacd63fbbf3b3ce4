from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from citywatch.audit.chain import entries
from citywatch.services.common import NotFoundError, ServiceError
from citywatch.services.hotlists import (
    HotlistImportError,
    add_plate,
    create_hotlist,
    hotlist_entries,
    import_plates,
    list_hotlists,
    list_plates,
    normalise_plate,
    remove_plate,
)
from tests.services.helpers import ADMIN, audit_actions


@pytest.mark.parametrize(
    ("raw", "plate"),
    [
        ("ab-123-cd", "AB123CD"),
        (" 56-JTT-5 ", "56JTT5"),
        ("B MW 1234", "BMW1234"),
        ("ZG 1234·AB", "ZG1234AB"),
        ("bg 123-šđ", "BG123ŠĐ"),
        ("ＡＢ１２", "AB12"),  # full-width forms fold to ASCII
        ("--", ""),
    ],
)
def test_normalise_plate(raw: str, plate: str) -> None:
    assert normalise_plate(raw) == plate


def test_add_plate_creates_the_hotlist_and_is_idempotent(session: Session) -> None:
    entry = add_plate(session, ADMIN, "stolen", "ab-123-cd", "reported stolen 2025-05-30")
    assert (entry.plate, entry.raw) == ("AB123CD", "ab-123-cd")
    again = add_plate(session, ADMIN, "stolen", "AB 123 CD", "dup")
    assert again.id == entry.id
    assert audit_actions(session) == ["hotlist.create", "hotlist.add"]
    assert hotlist_entries(session) == [(entry.id, entry.hotlist_id, "AB123CD")]
    (summary,) = list_hotlists(session)
    assert (summary.name, summary.entries) == ("stolen", 1)


@pytest.mark.parametrize(
    ("plate", "says"),
    [("-", "is not a plate"), ("A", "is not a plate"), ("X" * 13, "is not a plate")],
)
def test_add_plate_refuses_non_plates(session: Session, plate: str, says: str) -> None:
    with pytest.raises(ServiceError, match=says):
        add_plate(session, ADMIN, "stolen", plate, "r")
    with pytest.raises(ServiceError, match="a reason is required"):
        add_plate(session, ADMIN, "stolen", "AB12", " ")
    assert audit_actions(session) == []


def test_import_csv_file(session: Session, tmp_path: Path) -> None:
    csv = tmp_path / "plates.csv"
    csv.write_text(
        "plate,reason\n"
        "# a comment\n"
        "AB-123-CD,stolen\n"
        "\n"
        '"ZG 1234 AB","wanted, case 9"\n'
        "ab123cd,duplicate\n"
        "56-JTT-5\n",
        encoding="utf-8",
    )
    assert import_plates(session, ADMIN, "bulk", csv, reason="import 2025-06") == 3
    plates = {p for _, _, p in hotlist_entries(session)}
    assert plates == {"AB123CD", "ZG1234AB", "56JTT5"}
    reasons = {e.plate: e.reason for e in list_plates(session, ADMIN, "bulk")}
    assert reasons["ZG1234AB"] == "wanted, case 9" and reasons["56JTT5"] == "import 2025-06"
    assert import_plates(session, ADMIN, "bulk", csv, reason="again") == 0
    imports = [e for e in entries(session) if e.action == "hotlist.import"]
    assert imports[0].details == {"source": "plates.csv", "lines": 4, "added": 3}
    assert audit_actions(session)[-2] == "hotlist.view"


def test_import_with_bad_lines_imports_nothing_and_names_them(session: Session) -> None:
    lines = ["AB123CD,ok", "-!-,bad", "", "X,also bad", "ZG1,a,b", "GOOD1"]
    with pytest.raises(HotlistImportError) as err:
        import_plates(session, ADMIN, "bulk", lines)
    message = str(err.value)
    assert "4 bad line(s), nothing imported" in message
    assert "line 2: '-!-' is not a plate" in message and "line 4: 'X' is not a plate" in message
    assert "line 5: vehicle type 'b' is not one of" in message  # plate,reason,type[,colour]
    assert "line 6: no reason given" in message
    assert "line 1" not in message and "line 3" not in message
    assert len(err.value.errors) == 4
    assert hotlist_entries(session) == []
    assert audit_actions(session) == []


def test_import_without_any_reason_is_refused(session: Session) -> None:
    with pytest.raises(HotlistImportError, match="line 1: no reason given"):
        import_plates(session, ADMIN, "bulk", ["AB123CD"])


def test_import_unreadable_file(session: Session, tmp_path: Path) -> None:
    with pytest.raises(ServiceError, match=r"missing\.csv: cannot read"):
        import_plates(session, ADMIN, "bulk", tmp_path / "missing.csv", reason="r")
    bad = tmp_path / "latin1.csv"
    bad.write_bytes("AB12,r\xe9\n".encode("latin-1"))
    with pytest.raises(ServiceError, match="not UTF-8"):
        import_plates(session, ADMIN, "bulk", bad, reason="r")


def test_create_and_remove(session: Session) -> None:
    create_hotlist(session, ADMIN, "h", "why")
    with pytest.raises(ServiceError, match="already exists"):
        create_hotlist(session, ADMIN, "h", "why")
    add_plate(session, ADMIN, "h", "AB12", "r")
    remove_plate(session, ADMIN, "h", "ab-12", "entered in error")
    assert hotlist_entries(session) == []
    with pytest.raises(NotFoundError):
        remove_plate(session, ADMIN, "h", "AB12", "again")
    with pytest.raises(NotFoundError):
        list_plates(session, ADMIN, "nope")
    assert audit_actions(session)[-1] == "hotlist.remove"


def test_an_entry_may_name_its_vehicle_and_an_import_line_too(session: Session) -> None:
    row = add_plate(
        session, ADMIN, "stolen", "AB-1-CD", "r", vehicle_kind="Van", vehicle_colour="silver"
    )
    assert (row.vehicle_kind, row.vehicle_colour) == ("truck", "grey")
    assert list(entries(session))[-1].details == {"plate": "AB1CD", "vehicle": "grey truck"}
    lines = ["plate,reason,type,colour", "ZG1X,stolen,car,white", "ZG2X,,,red", "ZG3X"]
    assert import_plates(session, ADMIN, "stolen", lines, reason="list") == 3
    rows = list_plates(session, ADMIN, "stolen")
    got = {p.plate: (p.vehicle_kind, p.vehicle_colour) for p in rows}
    assert got == {
        "AB1CD": ("truck", "grey"),
        "ZG1X": ("car", "white"),
        "ZG2X": (None, "red"),
        "ZG3X": (None, None),
    }


def test_an_unknown_vehicle_refuses_the_plate_naming_it(session: Session) -> None:
    with pytest.raises(ServiceError, match="vehicle colour 'teal' is not one of"):
        add_plate(session, ADMIN, "stolen", "AB1CD", "r", vehicle_colour="teal")
    with pytest.raises(HotlistImportError) as err:
        import_plates(session, ADMIN, "stolen", ["ZG1X,r,tank", "ZG2X,r,car,red,extra"])
    assert err.value.errors[0].startswith("line 1: vehicle type 'tank'")
    assert err.value.errors[1].startswith("line 2: 5 fields")
    assert list_hotlists(session) == [] or all(h.entries == 0 for h in list_hotlists(session))
