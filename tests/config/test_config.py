import pytest

from citywatch.config import ConfigError, load_config, parse_config
from citywatch.config.root import expand_env

CAM = {
    "id": "cam-1",
    "url": "rtsp://admin:hunter2@10.0.0.5/stream",
    "purposes": ["plate"],
    "legal_basis": "Act 1 s.2",
    "impact_assessment": "DPIA-7",
    "approved_on": "2026-01-01",
}


def test_unknown_key_is_rejected_with_its_location(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("cameras:\n  - id: cam-1\n    url: x.mp4\n    fps: 5\n")
    with pytest.raises(ConfigError) as err:
        load_config(p)
    assert str(p) in str(err.value)
    assert "cameras.0.fps: unknown key" in str(err.value)


def test_wrong_type_names_the_field():
    with pytest.raises(ConfigError, match=r"cameras\.0\.analyse_fps"):
        parse_config({"cameras": [{**CAM, "analyse_fps": "fast"}]})


def test_duplicate_camera_ids_are_refused():
    with pytest.raises(ConfigError, match=r"cam-1.*twice"):
        parse_config({"cameras": [CAM, CAM]})


def test_camera_password_never_in_repr_or_dump():
    cfg = parse_config({"cameras": [CAM]})
    assert "hunter2" not in repr(cfg)
    assert "hunter2" not in cfg.model_dump_json()
    assert cfg.cameras[0].url.get_secret_value().endswith("/stream")


def test_env_references_expand_and_missing_ones_are_named():
    env = {"CAM_PW": "s3cret"}
    assert expand_env("rtsp://u:${CAM_PW}@h/", where="cam-1", env=env) == "rtsp://u:s3cret@h/"
    with pytest.raises(ConfigError, match="cam-2: environment variable NOPE is not set"):
        expand_env("rtsp://u:${NOPE}@h/", where="cam-2", env=env)


def test_unreadable_and_non_mapping_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "missing.yaml")
    p = tmp_path / "list.yaml"
    p.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(p)


def test_the_example_config_in_the_repository_is_valid():
    from pathlib import Path

    cfg = load_config(Path(__file__).resolve().parents[2] / "citywatch.example.yaml")
    assert {c.id for c in cfg.cameras} == {"junction-12", "station-hall"}
    assert cfg.cameras[1].privacy_masks[0].reason


def test_the_alert_repeat_window_is_configurable_and_bounded():
    assert parse_config({}).alerts.repeat_window_s == 120.0
    assert parse_config({"alerts": {"repeat_window_s": 0}}).alerts.repeat_window_s == 0.0
    with pytest.raises(ConfigError, match=r"alerts\.repeat_window_s"):
        parse_config({"alerts": {"repeat_window_s": -5}})


def test_greedy_decoder_refuses_a_recogniser_it_would_ignore() -> None:
    from citywatch.config.plates import PlateReaderConfig

    assert PlateReaderConfig(recogniser="ppocrv6-small").recogniser == "ppocrv6-small"
    with pytest.raises(ValueError, match="greedy decoder always reads"):
        PlateReaderConfig(decoder="greedy", recogniser="ppocrv6-small")
    with pytest.raises(ValueError, match="greedy decoder always reads"):
        PlateReaderConfig(decoder="greedy", rec_model="my.onnx")
