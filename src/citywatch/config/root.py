"""The whole config file, loaded and validated once."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from citywatch.config.alerts import AlertsConfig
from citywatch.config.base import Strict
from citywatch.config.camera import CameraConfig
from citywatch.config.engine import EngineConfig
from citywatch.config.faces import FacesConfig
from citywatch.config.plates import PlatesConfig
from citywatch.config.recording import RecordingConfig
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


ENV_MODELS_DIR = "CITYWATCH_MODELS_DIR"


def default_models_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where prepared models live when the config names no ``models.cache_dir``: one place per
    user, whatever the working directory: ``$CITYWATCH_MODELS_DIR``, else
    ``$XDG_DATA_HOME/citywatch/models``, else ``~/.local/share/citywatch/models`` (an
    ``XDG_DATA_HOME`` that is not absolute is ignored, as the XDG specification says)."""
    environ = os.environ if env is None else env
    explicit = environ.get(ENV_MODELS_DIR, "").strip()
    if explicit:
        return Path(explicit).expanduser().absolute()
    data_home = environ.get("XDG_DATA_HOME", "").strip()
    base = Path(data_home) if data_home and Path(data_home).is_absolute() else None
    if base is None:
        base = Path(environ.get("HOME") or Path.home()) / ".local" / "share"
    return base / "citywatch" / "models"


class ModelsConfig(Strict):
    cache_dir: Path = Field(
        default_factory=default_models_dir,
        description="Where `citywatch models prepare` puts the models it makes (the dlib ResNet "
        "converted to ONNX, the PP-OCRv6 plate recogniser) and where every command looks for "
        "them.  Default: $CITYWATCH_MODELS_DIR, else $XDG_DATA_HOME/citywatch/models, else "
        "~/.local/share/citywatch/models.  A relative path is relative to the config file's "
        "folder, never to the working directory",
    )
    threads: int = Field(default=1, ge=1, le=64, description="Inference threads per model")

    @field_validator("cache_dir")
    @classmethod
    def _anchored(cls, value: Path, info: ValidationInfo) -> Path:
        """Absolute from here on: ``~`` expanded, a relative path joined to the config file's
        folder (``base_dir`` in the validation context), else to the working directory now,
        so that a later change of directory cannot move it."""
        value = value.expanduser()
        if value.is_absolute():
            return value
        base = (info.context or {}).get("base_dir")
        return (Path(base) / value).absolute() if base is not None else value.absolute()


class CitywatchConfig(Strict):
    store: StoreConfig = Field(default_factory=StoreConfig)
    models: ModelsConfig = Field(default_factory=ModelsConfig)
    faces: FacesConfig = Field(default_factory=FacesConfig)
    plates: PlatesConfig = Field(default_factory=PlatesConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    engine: EngineConfig = Field(default_factory=EngineConfig)
    recording: RecordingConfig = Field(default_factory=RecordingConfig)
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


def parse_config(
    data: dict[str, Any], *, source: str = "<config>", base_dir: Path | None = None
) -> CitywatchConfig:
    """The validated config; relative model paths are joined to ``base_dir`` (the config
    file's folder) when given, else to the working directory."""
    try:
        return CitywatchConfig.model_validate(data, context={"base_dir": base_dir})
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
    return parse_config(data, source=str(p), base_dir=p.absolute().parent)
