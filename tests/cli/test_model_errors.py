"""A model file the config names that is missing or broken: any command that builds the models
says so in one line and exits 2 (a configuration error), without a traceback."""

from __future__ import annotations

import pytest
import yaml


@pytest.mark.integration
@pytest.mark.parametrize("content", [None, b"not an onnx model"], ids=["missing", "corrupt"])
def test_scan_with_a_bad_recogniser_file_is_one_line_and_exit_2(
    run_cli, cli_config, shared_data, tmp_path, content
):
    model = tmp_path / "my-rec.onnx"
    if content is not None:
        model.write_bytes(content)
    cfg = yaml.safe_load(cli_config.read_text())
    cfg.setdefault("plates", {}).setdefault("reader", {})["rec_model"] = str(model)
    cli_config.write_text(yaml.safe_dump(cfg))
    hotlist = tmp_path / "hot.csv"
    hotlist.write_text("plate,reason\nAB123CD,stolen vehicle report 1\n")
    video = shared_data / "video/intel_sample_videos/car-detection.mp4"

    result = run_cli("scan", str(video), "--case", "C-1", "--hotlist", str(hotlist))
    assert result.exit_code == 2, result.output
    assert "error: plate recogniser" in result.output
    assert str(model) in result.output
    assert "Traceback" not in result.output and "RecogniserError" not in result.output
