"""Names of users, hotlists, watchlists and cameras (issue 16 item 7): NFKC, no control /
bidi / zero-width characters, unique apart from case — on SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError
from sqlalchemy.orm import Session

from citywatch.services import tokens, users
from citywatch.services.cameras import RegistrationError, list_cameras, register_camera
from citywatch.services.common import ServiceError
from citywatch.services.hotlists import add_plate, create_hotlist, list_hotlists, list_plates
from citywatch.services.names import clash, clean_name, name_key
from citywatch.services.watchlists import create_watchlist, list_watchlists
from tests.services.helpers import ADMIN, NOW, add_authorisation, add_camera, camera_cfg

PW = "a perfectly long password"
BAD = [
    ("stolen\x00", "U+0000"),  # NUL
    ("stolen\u202e", "U+202E"),  # right-to-left override
    ("sto\u200blen", "U+200B"),  # zero-width space
    ("sto\u200dlen", "U+200D"),  # zero-width joiner
    ("\ufeffstolen", "U+FEFF"),  # byte-order mark
    ("stolen\u2028x", "U+2028"),  # line separator
    ("a\tb", "U+0009"),
]


@pytest.mark.parametrize(("raw", "code"), BAD)
def test_clean_name_refuses_invisible_and_control_characters(raw: str, code: str) -> None:
    with pytest.raises(ServiceError, match=re.escape(code)) as err:
        clean_name(raw, "hotlist name")
    assert "hotlist name" in str(err.value)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("  stolen  ", "stolen"),
        ("ＳＴＯＬＥＮ", "STOLEN"),  # full-width letters
        ("ﬁre", "fire"),  # ligature
        ("red  list", "red list"),
        ("Ärger", "Ärger"),  # letters of any script stay
    ],
)
def test_clean_name_normalises(raw: str, clean: str) -> None:
    assert clean_name(raw, "name") == clean


def test_name_key_and_clash() -> None:
    assert name_key("Stolen") == name_key("STOLEN") == name_key("ｓｔｏｌｅｎ")
    assert name_key("Straße") == name_key("STRASSE")
    assert clash("Stolen", ["other", "stolen"]) == "stolen"
    assert clash("new", ["other"]) is None
    with pytest.raises(ServiceError, match="required"):
        clean_name(" \u3000 ", "name")  # an ideographic space is blank after NFKC
    with pytest.raises(ServiceError, match="longer than 5"):
        clean_name("abcdef", "name", max_length=5)


def test_users_differing_only_in_case_or_width_clash(session: Session) -> None:
    users.create_user(session, ADMIN, "olga", "operator", PW, on_server=True)
    for same in ("OLGA", "Olga", "ｏｌｇａ"):
        with pytest.raises(users.Conflict, match="already exists"):
            users.create_user(session, ADMIN, same, "operator", PW, on_server=True)
    with pytest.raises(ServiceError, match="U\\+202E"):
        users.create_user(session, ADMIN, "olga\u202e", "operator", PW, on_server=True)
    assert users.get_user_by_name(session, "OLGA").name == "olga"
    assert users.authenticate(session, "Olga", PW).name == "olga"
    tokens.create_token(session, ADMIN, "prom", "scraper", expires_days=1)
    with pytest.raises(users.Conflict, match="already exists"):
        tokens.create_token(session, ADMIN, "PROM", "scraper", expires_days=1)


def test_hotlists_are_one_list_apart_from_case(session: Session) -> None:
    create_hotlist(session, ADMIN, "stolen", "stolen cars")
    with pytest.raises(ServiceError, match="already exists \\(as 'stolen'\\)"):
        create_hotlist(session, ADMIN, "Stolen", "again")
    add_plate(session, ADMIN, "STOLEN", "AB 123 CD", "reported")  # the same list
    assert [h.name for h in list_hotlists(session)] == ["stolen"]
    assert [e.plate for e in list_plates(session, ADMIN, "Stolen")] == ["AB123CD"]
    for raw, code in BAD[:3]:
        with pytest.raises(ServiceError, match=code.replace("+", "\\+")):
            add_plate(session, ADMIN, raw, "AB 123 CD", "reported")
    assert len(list_hotlists(session)) == 1


def test_watchlists_are_one_list_apart_from_case(session: Session) -> None:
    add_camera(session, "cam-1")
    add_authorisation(session, "W-1", cameras=("cam-1",))
    create_watchlist(session, ADMIN, "missing", "W-1", now=NOW)
    with pytest.raises(ServiceError, match="already exists"):
        create_watchlist(session, ADMIN, "MISSING", "W-1", now=NOW)
    with pytest.raises(ServiceError, match="U\\+200B"):
        create_watchlist(session, ADMIN, "miss\u200bing", "W-1", now=NOW)
    assert [w.name for w in list_watchlists(session)] == ["missing"]


def test_camera_names_are_clean(session: Session) -> None:
    add_camera(session, "cam-1", name="ｎｏｒｔｈ gate")
    assert list_cameras(session)[0].name == "north gate"  # NFKC
    with pytest.raises(RegistrationError, match="U\\+202E"):
        register_camera(session, camera_cfg("cam-3", name="gate\u202e"), ADMIN, now=NOW)
    with pytest.raises(ValidationError):  # ids are lower case only: unique apart from case
        camera_cfg("CAM-1")
