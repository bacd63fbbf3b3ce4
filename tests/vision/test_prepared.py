"""Prepared models are found from any working directory, and a missing one the config needs
stops the start, naming it and `citywatch models prepare` (issue 13 item 11)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from citywatch.audit.chain import Actor
from citywatch.cli.main import app
from citywatch.config.root import ENV_MODELS_DIR, default_models_dir, load_config, parse_config
from citywatch.engine.platform import Platform
from citywatch.store.db import make_engine, make_session_factory, upgrade_database
from citywatch.vision.plates.recognisers import PPOCRV6_SMALL, reader_model
from citywatch.vision.prepared import ModelsNotPrepared, missing_models, require_prepared_models
from tests.conftest import require

CAM = {
    "url": "/nowhere.mp4",
    "legal_basis": "Test Act s.1",
    "impact_assessment": "DPIA-T-1",
    "approved_on": "2026-01-01",
}


def _config(models: Path, purposes: list[str], **plates: object) -> dict[str, object]:
    return {
        "models": {"cache_dir": str(models)},
        "plates": {"formats": ["US"], **plates},
        "cameras": [{**CAM, "id": "cam-1", "purposes": purposes}],
    }


def test_nothing_is_needed_for_what_no_camera_does(tmp_path: Path) -> None:
    assert missing_models(parse_config(_config(tmp_path, []))) == []
    cfg = parse_config(_config(tmp_path, ["plate"], reader={"recogniser": "ppocrv4"}))
    assert missing_models(cfg) == []  # reading US plates with v4 is an explicit choice


@pytest.mark.integration
def test_each_missing_model_is_named_with_the_command(tmp_path: Path) -> None:
    cfg = parse_config(_config(tmp_path / "empty", ["face", "plate"]))
    with pytest.raises(ModelsNotPrepared) as err:
        require_prepared_models(cfg)
    lines = str(err.value).splitlines()
    assert len(lines) == 2
    assert "face embedder dlib-onnx is not prepared" in lines[0]
    assert "plate recogniser 'ppocrv6-small'" in lines[1]
    assert all("citywatch models prepare" in line for line in lines)
    assert not (tmp_path / "empty").exists()  # nothing made at run time


@pytest.mark.integration
def test_platform_refuses_to_start_without_them(tmp_path: Path) -> None:
    data = _config(tmp_path / "empty", ["plate"])
    data["store"] = {
        "database_url": f"sqlite:///{tmp_path / 'cw.db'}",
        "media_dir": str(tmp_path / "media"),
        "state_dir": str(tmp_path),
    }
    cfg = parse_config(data)
    upgrade_database(cfg.store.database_url)
    sessions = make_session_factory(make_engine(cfg.store.database_url))
    with pytest.raises(ValueError, match=r"ppocrv6-small.*citywatch models prepare"):
        Platform.create(cfg, sessions, Actor("test-admin", "admin"))


@pytest.mark.integration
def test_prepared_from_one_folder_found_from_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`models prepare` run in one working directory, the models used from another: the same
    files, through the config file's folder and through the per-user default alike."""
    wheel = default_models_dir() / "wheels" / PPOCRV6_SMALL.wheel
    require(wheel.is_file(), f"{wheel} missing: run `citywatch models prepare` (make install)")
    conf = tmp_path / "etc" / "citywatch.yaml"
    (tmp_path / "etc" / "models" / "wheels").mkdir(parents=True)
    shutil.copyfile(wheel, tmp_path / "etc" / "models" / "wheels" / wheel.name)  # offline
    conf.write_text(yaml.safe_dump({"models": {"cache_dir": "models"}}))
    for where in ("install", "service"):
        (tmp_path / where).mkdir()

    monkeypatch.chdir(tmp_path / "install")
    done = CliRunner().invoke(app, ["-c", str(conf), "models", "prepare"])
    assert done.exit_code == 0, done.output
    prepared = tmp_path / "etc" / "models"
    assert {p.name for p in prepared.iterdir()} >= {
        "dlib_resnet_v1.onnx",
        PPOCRV6_SMALL.file_name,
    }
    assert not any((tmp_path / "install").iterdir())  # nothing in the working directory

    monkeypatch.chdir(tmp_path / "service")
    cfg = load_config(conf)
    cfg.cameras = parse_config(_config(tmp_path, ["face", "plate"])).cameras
    assert missing_models(cfg) == []
    assert reader_model("auto", None, ["US"], cfg.models.cache_dir) == (
        "ppocrv6-small",
        prepared / PPOCRV6_SMALL.file_name,
    )
    # the per-user default: no models key, the folder chosen by the environment
    monkeypatch.setenv(ENV_MODELS_DIR, str(prepared))
    conf.write_text("{}")
    assert load_config(conf).models.cache_dir == prepared
    assert not any((tmp_path / "service").iterdir())


@pytest.mark.integration
def test_eval_plates_us_stops_instead_of_reading_with_v4(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's case: `eval plates --formats US` with the PP-OCRv6 model not where the
    config says read with PP-OCRv4 (0.640 instead of 0.757) and exited 0."""
    conf = tmp_path / "citywatch.yaml"
    conf.write_text(yaml.safe_dump({"models": {"cache_dir": "not-prepared"}}))
    monkeypatch.chdir(tmp_path)
    images = shared_data / "plates" / "images_us"
    done = CliRunner(env={"COLUMNS": "250"}).invoke(
        app, ["-c", str(conf), "eval", "plates", "--images", str(images), "--formats", "US"]
    )
    assert done.exit_code == 2, done.output
    message = " ".join(done.output.split())
    assert "plate recogniser 'ppocrv6-small' (recogniser auto, formats US only)" in message
    assert str(tmp_path / "not-prepared" / PPOCRV6_SMALL.file_name) in message
    assert "citywatch models prepare" in message


@pytest.mark.integration
def test_scan_stops_before_reading_when_its_models_are_missing(tmp_path: Path) -> None:
    conf = tmp_path / "citywatch.yaml"
    conf.write_text(
        yaml.safe_dump(
            {
                "store": {"database_url": f"sqlite:///{tmp_path / 'cw.db'}"},
                "models": {"cache_dir": "empty"},
                "plates": {"formats": ["US"]},
            }
        )
    )
    video, hotlist, photos = tmp_path / "v.mp4", tmp_path / "plates.txt", tmp_path / "faces"
    video.write_bytes(b"not read")
    hotlist.write_text("ABC123\n")
    photos.mkdir()
    runner = CliRunner(env={"COLUMNS": "250"})
    for look_for, missing in (
        (["--hotlist", str(hotlist)], "plate recogniser 'ppocrv6-small'"),
        (["--watchlist", str(photos)], "face embedder dlib-onnx is not prepared"),
    ):
        done = runner.invoke(app, ["-c", str(conf), "scan", str(video), *look_for, "--case", "C-1"])
        assert done.exit_code == 2, done.output
        assert missing in done.output and "citywatch models prepare" in done.output
