from citywatch.config.camera import CameraConfig, Location, Purpose
from citywatch.config.root import CitywatchConfig, ConfigError, load_config, parse_config

__all__ = [
    "CameraConfig",
    "CitywatchConfig",
    "ConfigError",
    "Location",
    "Purpose",
    "load_config",
    "parse_config",
]
