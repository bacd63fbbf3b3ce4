"""The Ray engine's config and CLI surface: PostgreSQL required, token auth on, help text."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from citywatch.cli.main import app
from citywatch.config.engine import RayEngineConfig
from citywatch.config.root import parse_config
from citywatch.engine.ray_engine import RayEngineError, build_ray_engine, check_store
from tests.conftest import embedded_config

CAM = {
    "id": "gate-1",
    "url": "rtsp://127.0.0.1:9/none",
    "purposes": ["plate"],
    "legal_basis": "Test Act s.1",
    "impact_assessment": "DPIA-T-1",
    "approved_on": "2026-01-01",
}


def _cfg(url: str, **ray: object):
    return parse_config(
        {"store": {"database_url": url}, "engine": {"kind": "ray", "ray": ray}, "cameras": [CAM]}
    )


def test_ray_mode_needs_postgresql_unless_sqlite_is_allowed_on_one_machine() -> None:
    pg = _cfg("postgresql://citywatch@db/citywatch")
    assert check_store(pg, pg.engine.ray) == ""
    lite = _cfg("sqlite:///var/cw.db")
    with pytest.raises(RayEngineError, match="PostgreSQL"):
        check_store(lite, lite.engine.ray)
    allowed = _cfg("sqlite:///var/cw.db", allow_sqlite=True)
    assert "this machine" in check_store(allowed, allowed.engine.ray)


def test_defaults_keep_the_dashboard_off_and_restart_cameras_without_limit() -> None:
    cfg = RayEngineConfig()
    assert cfg.include_dashboard is False
    assert cfg.max_restarts == -1 and cfg.max_task_retries == -1
    with pytest.raises(ValueError):
        RayEngineConfig.model_validate({"alert_channel": "x; DROP TABLE alerts"})


def test_every_actor_of_a_run_shares_one_run_id_and_asks_for_its_resources() -> None:
    cfg = _cfg("postgresql://db/cw", cpus_per_camera=0.5, gpus_per_camera=0.25)
    eng = build_ray_engine(cfg, ["gate-1", "gate-2"], cfg.engine.ray)
    run_ids = {spec.run_id for spec in eng.runs}
    assert len(run_ids) == 1
    opts = eng._options(eng.runs[0], 1)
    assert opts["num_cpus"] == 0.5 and opts["num_gpus"] == 0.25
    assert opts["max_restarts"] == -1 and opts["scheduling_strategy"] == "SPREAD"


def test_camera_actors_start_with_the_malloc_arena_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    # set in the worker process's environment, so it holds from its first allocation
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    monkeypatch.delenv("CITYWATCH_MALLOC_TUNING", raising=False)
    cfg = _cfg("postgresql://db/cw")
    eng = build_ray_engine(cfg, ["gate-1"], cfg.engine.ray)
    assert eng._options(eng.runs[0], 1)["runtime_env"] == {"env_vars": {"MALLOC_ARENA_MAX": "2"}}
    monkeypatch.setenv("CITYWATCH_MALLOC_TUNING", "0")
    assert eng._options(eng.runs[0], 1)["runtime_env"] is None


def test_run_help_shows_the_ray_example() -> None:
    done = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["run", "--help"])
    assert done.exit_code == 0
    assert "--engine ray" in done.output and "--address" in done.output


def test_run_refuses_ray_on_sqlite_before_touching_a_cluster(tmp_path: Path) -> None:
    cfg = embedded_config(tmp_path, [CAM])
    path = tmp_path / "citywatch.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    before = os.environ.get("RAY_AUTH_MODE")
    done = CliRunner(env={"COLUMNS": "200"}).invoke(
        app, ["run", "-c", str(path), "--engine", "ray"]
    )
    assert done.exit_code != 0
    assert "PostgreSQL" in done.output
    assert os.environ.get("RAY_AUTH_MODE") == before  # no cluster was joined


@pytest.mark.parametrize(
    ("section", "wanted"),
    [
        ({"faces": {"embedder": {"providers": ["CUDAExecutionProvider"]}}}, True),
        ({"plates": {"reader": {"det_providers": ["CUDAExecutionProvider"]}}}, True),
        ({"plates": {"reader": {"det_providers": ["OpenVINOExecutionProvider"]}}}, False),
        ({}, False),
    ],
)
def test_a_model_on_cuda_makes_the_engine_want_gpus(section: dict, wanted: bool) -> None:
    from citywatch.engine.ray_platform import wants_gpu

    cfg = parse_config({"store": {"database_url": "postgresql://db/cw"}, **section})
    assert wants_gpu(cfg) is wanted
