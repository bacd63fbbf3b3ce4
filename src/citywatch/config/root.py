"""The whole config file, loaded and validated once."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, model_validator

from citywatch.config.alerts import AlertsConfig
from citywatch.config.base import Strict
from citywatch.config.camera import CameraConfig
from citywatch.config.engine import EngineConfig
from citywatch.config.faces import FacesConfig
from citywatch.config.plates import PlatesConfig
from citywatch.config.retention import RetentionConfig


class ConfigError(ValueError):
    """The config file is wrong; the message says where."""


class StoreConfig(Strict):
    database_url: str = Field(
        default="sqlite:///./var/citywatch.db", description="SQLAlchemy URL (SQLite or PostgreSQL)"
    )
    media_dir: Path = Field(default=Path("./var/media"), description="Evidence snapshots")
    state_dir: Path = Field(
        default=Path("./var"), description="Camera health files and other run-time state"
    )


class ModelsConfig(Strict):
    cache_dir: Path = Field(
        default=Path("./var/models"),
        description="Where models converted at setup (dlib ResNet -> ONNX) are kept",
    )
    threads: int = Field(default=1, ge=1, le=64, description="Inference threads per model")


class CitywatchConfig(Strict):
    store: StoreConfig = Field(default_factory=StoreConfig)
    models: ModelsConfig = Field(default_factory=ModelsConfig)
    faces: FacesConfig = Field(default_factory=FacesConfig)
    plates: PlatesConfig = Field(default_factory=PlatesConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    engine: EngineConfig = Field(default_factory=EngineConfig)
    cameras: list[CameraConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_camera_ids(self) -> CitywatchConfig:
        seen: set[str] = set()
        for cam in self.cameras:
            if cam.id in seen:
                raise ValueError(f"camera id {cam.id!r} is used twice")
            seen.add(cam.id)
        return self


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_env(value: str, *, where: str, env: dict[str, str] | None = None) -> str:
    """Replace ``${NAME}`` with the environment variable; a missing one is an error naming it."""
    environ = os.environ if env is None else env

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in environ:
            raise ConfigError(f"{where}: environment variable {name} is not set")
        return environ[name]

    return _ENV_REF.sub(sub, value)


def _format_error(path: Path | str, err: ValidationError) -> str:
    lines = [f"{path}: invalid config"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"])
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        lines.append(f"  {loc}: {msg}")
    return "\n".join(lines)


def parse_config(data: dict[str, Any], *, source: str = "<config>") -> CitywatchConfig:
    try:
        return CitywatchConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_error(source, err)) from None


def load_config(path: Path | str) -> CitywatchConfig:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"{p}: cannot read config ({err.strerror})") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{p}: not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: the top level must be a mapping, got {type(data).__name__}")
    return parse_config(data, source=str(p))
