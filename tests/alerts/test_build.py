from __future__ import annotations

import io
import socket

import pytest
from pydantic import ValidationError
from rich.console import Console

from citywatch.alerts.build import build_dispatcher, build_sinks
from citywatch.alerts.console import ConsoleSink
from citywatch.alerts.mqtt import MqttSink
from citywatch.alerts.webhook import WebhookSink
from citywatch.config.alerts import AlertsConfig
from citywatch.config.root import ConfigError


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_builds_one_sink_per_destination_with_env_expanded() -> None:
    cfg = AlertsConfig.model_validate(
        {
            "console": True,
            "webhooks": [
                {"url": "https://hooks.example/a?token=${HOOK_TOKEN}", "secret": "${HOOK_KEY}"}
            ],
            "mqtt": {"port": _closed_port(), "username": "cw", "password": "${MQTT_PW}"},
        }
    )
    env = {"HOOK_TOKEN": "t0k", "HOOK_KEY": "k3y", "MQTT_PW": "pw"}
    sinks = build_sinks(cfg, Console(file=io.StringIO()), env=env)
    try:
        assert [type(s) for s in sinks] == [ConsoleSink, WebhookSink, MqttSink]
        hook = sinks[1]
        assert isinstance(hook, WebhookSink)
        assert hook._url == "https://hooks.example/a?token=t0k"
        assert hook._secret == "k3y"
        assert "t0k" not in repr(hook) and "k3y" not in repr(hook)
    finally:
        for s in sinks:
            s.close()


def test_missing_env_variable_is_named_and_nothing_is_built() -> None:
    cfg = AlertsConfig.model_validate(
        {"console": False, "webhooks": [{"url": "https://h.example/${NOPE_TOKEN}"}]}
    )
    with pytest.raises(ConfigError, match=r"alerts.webhooks\[0\].url.*NOPE_TOKEN"):
        build_sinks(cfg, None, env={})


def test_console_off_and_nothing_else_gives_no_sinks() -> None:
    d = build_dispatcher(AlertsConfig(console=False), None)
    assert d.sink_names == []
    assert d.close(1)


@pytest.mark.parametrize(
    "data",
    [
        {"unknown": 1},
        {"mqtt": {"topic": "a/#"}},
        {"mqtt": {"host": "h", "qos": 2}},
        {"max_queue": 0},
        {"retry": {"attempts": 0}},
        {"webhooks": [{"url": "https://h", "timeout_s": 0}]},
    ],
)
def test_config_rejects_bad_values(data: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        AlertsConfig.model_validate(data)
