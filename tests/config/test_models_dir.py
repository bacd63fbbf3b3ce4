"""Where prepared models are looked for: one folder per user whatever the working directory
(issue 13 item 11)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from citywatch.config.root import (
    ENV_MODELS_DIR,
    ModelsConfig,
    default_models_dir,
    load_config,
    parse_config,
)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"HOME": "/home/ana"}, "/home/ana/.local/share/citywatch/models"),
        ({"HOME": "/home/ana", "XDG_DATA_HOME": "/data"}, "/data/citywatch/models"),
        # the XDG specification: a relative XDG_DATA_HOME is invalid and ignored
        ({"HOME": "/home/ana", "XDG_DATA_HOME": "rel"}, "/home/ana/.local/share/citywatch/models"),
        ({"HOME": "/home/ana", "XDG_DATA_HOME": "/data", ENV_MODELS_DIR: "/srv/m"}, "/srv/m"),
        ({"HOME": "/home/ana", ENV_MODELS_DIR: "  "}, "/home/ana/.local/share/citywatch/models"),
    ],
)
def test_default_models_dir_table(env: dict[str, str], expected: str) -> None:
    assert default_models_dir(env) == Path(expected)


def test_home_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_models_dir({ENV_MODELS_DIR: "~/m"}) == tmp_path / "m"
    assert parse_config({"models": {"cache_dir": "~/n"}}).models.cache_dir == tmp_path / "n"


def test_the_default_does_not_depend_on_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_MODELS_DIR, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    seen = set()
    for where in ("a", "b"):
        (tmp_path / where).mkdir()
        monkeypatch.chdir(tmp_path / where)
        seen.add(ModelsConfig().cache_dir)
        seen.add(parse_config({}).models.cache_dir)
    assert seen == {tmp_path / "data" / "citywatch" / "models"}


def test_env_var_moves_the_default_and_the_config_key_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_MODELS_DIR, str(tmp_path / "env-models"))
    assert parse_config({}).models.cache_dir == tmp_path / "env-models"
    given = parse_config({"models": {"cache_dir": str(tmp_path / "cfg-models")}})
    assert given.models.cache_dir == tmp_path / "cfg-models"


def test_a_relative_cache_dir_is_relative_to_the_config_file_not_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = tmp_path / "etc" / "citywatch.yaml"
    conf.parent.mkdir()
    conf.write_text(yaml.safe_dump({"models": {"cache_dir": "models"}}))
    elsewhere = tmp_path / "service-cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert load_config(conf).models.cache_dir == tmp_path / "etc" / "models"
    monkeypatch.chdir(tmp_path)
    assert load_config(Path("etc") / "citywatch.yaml").models.cache_dir == (
        tmp_path / "etc" / "models"
    )


def test_a_relative_cache_dir_without_a_file_is_fixed_when_parsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = parse_config({"models": {"cache_dir": "m"}})
    monkeypatch.chdir("/")
    assert cfg.models.cache_dir == tmp_path / "m"  # a later chdir does not move it
