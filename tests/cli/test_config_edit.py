"""`cameras add` edits the config file round trip: comments, order, quoting and indentation kept."""

from __future__ import annotations

import datetime as dt
import difflib
import re
from pathlib import Path

import pytest
import yaml

from citywatch.cli.config_edit import ConfigEditError, with_camera
from tests.cli.conftest import REPO

EXAMPLE = (REPO / "citywatch.example.yaml").read_text(encoding="utf-8")
CAM = {
    "id": "junction-14",
    "url": "rtsp://viewer:${J14_PW}@10.1.2.14/s1",
    "purposes": ["plate"],
    "legal_basis": "Road Traffic Act art. 43",
    "impact_assessment": "DPIA-4",
    "approved_on": dt.date(2026, 3, 1),
    "location": {"lat": 44.81, "lon": 20.46},
}
CAM_LINES = [
    "  - id: junction-14",
    "    url: rtsp://viewer:${J14_PW}@10.1.2.14/s1",
    "    purposes: [plate]",
    "    legal_basis: Road Traffic Act art. 43",
    "    impact_assessment: DPIA-4",
    "    approved_on: 2026-03-01",
    "    location: {lat: 44.81, lon: 20.46}",
]


def _comments(text: str) -> int:
    return len(re.findall(r"(^|\s)#", text, flags=re.M))


def test_a_new_camera_is_added_below_the_file_as_written() -> None:
    after = with_camera(EXAMPLE, CAM)
    assert after.startswith(EXAMPLE)  # every byte of the example kept, comments included
    assert after[len(EXAMPLE) :].splitlines() == CAM_LINES
    assert _comments(after) == _comments(EXAMPLE) >= 15
    assert yaml.safe_load(after)["cameras"][-1] == CAM


def test_a_camera_of_the_same_id_is_replaced_in_place() -> None:
    after = with_camera(EXAMPLE, {**CAM, "id": "junction-12"})
    removed = [
        line[1:]
        for line in difflib.unified_diff(EXAMPLE.splitlines(), after.splitlines(), n=0)
        if line.startswith("-") and not line.startswith("---")
    ]
    assert removed and all(line.startswith("    ") for line in removed)  # one entry's keys
    ids = [c["id"] for c in yaml.safe_load(after)["cameras"]]
    assert ids == ["junction-12", "station-hall"]
    # every comment outside the replaced entry is kept; the entry's own go with its keys
    assert _comments(after) == _comments(EXAMPLE) - _comments("\n".join(removed))


@pytest.mark.parametrize(
    ("before", "layout"),
    [
        ("", "cameras:\n  - id: junction-14\n"),
        ("# nothing yet", "# nothing yet\ncameras:\n  - id: junction-14\n"),
        ("store:\n  media_dir: ./m  # here\n", "store:\n  media_dir: ./m  # here\ncameras:\n"),
        (
            "cameras:\n- id: a   # first\n  url: a.mp4\n",  # the list not indented: kept so
            "cameras:\n- id: a   # first\n  url: a.mp4\n- id: junction-14\n",
        ),
        (
            "store: {media_dir: 'm'}\ncameras: []\n",
            "store: {media_dir: 'm'}\ncameras:\n  - id: junction-14\n",
        ),
    ],
)
def test_files_of_other_shapes_keep_their_layout(before: str, layout: str) -> None:
    after = with_camera(before, CAM)
    assert after.startswith(layout), after
    assert yaml.safe_load(after)["cameras"][-1]["id"] == "junction-14"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cameras: [\n", "not valid YAML"),
        ("- a\n- b\n", "top level must be a mapping"),
        ("cameras: {a: 1}\n", "cameras must be a list"),
    ],
)
def test_what_cannot_be_edited_is_named(text: str, message: str) -> None:
    with pytest.raises(ConfigEditError, match=message):
        with_camera(text, CAM)


def test_cameras_add_keeps_the_comments_of_the_config_file(run_cli, cli_config: Path) -> None:
    commented = "# the city's cameras\n" + cli_config.read_text() + "# end of file\n"
    cli_config.write_text(commented)
    result = run_cli(
        *("cameras", "add", "junction-14", "--url", "rtsp://viewer:${J14_PW}@10.1.2.14/s1"),
        *("--purpose", "plate", "--legal-basis", "Road Traffic Act art. 43"),
        *("--impact-assessment", "DPIA-4", "--approved-on", "2026-03-01"),
        *("--lat", "44.81", "--lon", "20.46"),
    )
    assert result.exit_code == 0, result.output
    after = cli_config.read_text()
    assert after.startswith("# the city's cameras\n") and "# end of file" in after
    assert yaml.safe_load(after)["cameras"] == [CAM]
    assert cli_config.with_suffix(".yaml.bak").read_text() == commented
