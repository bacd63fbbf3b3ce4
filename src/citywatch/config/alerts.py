"""Alert delivery settings: webhooks and MQTT.  Secrets come from the environment."""

from __future__ import annotations

from pydantic import Field, SecretStr

from citywatch.config.base import Strict


class WebhookConfig(Strict):
    url: SecretStr = Field(description="Endpoint; may hold ${ENV} references")
    secret: SecretStr | None = Field(default=None, description="HMAC-SHA256 signing key")
    timeout_s: float = Field(default=5.0, gt=0, le=60)


class MqttConfig(Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    topic: str = Field(default="citywatch/alerts")
    username: str | None = None
    password: SecretStr | None = None


class AlertsConfig(Strict):
    console: bool = True
    webhooks: list[WebhookConfig] = Field(default_factory=list)
    mqtt: MqttConfig | None = None
