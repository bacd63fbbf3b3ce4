"""Sinks and dispatcher from the config, with ``${ENV}`` references expanded.

The external sinks get their outbox keys from
:func:`~citywatch.alerts.durable.durable_sink_keys` (the config alone), the same keys a camera
process writes its outbox rows for."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.console import Console

from citywatch.alerts.console import ConsoleSink
from citywatch.alerts.dispatcher import Dispatcher, RetryPolicy
from citywatch.alerts.durable import DeliveryQueue, durable_sink_keys
from citywatch.alerts.mqtt import MqttSink
from citywatch.alerts.sink import AlertSink
from citywatch.alerts.webhook import WebhookSink
from citywatch.config.alerts import AlertsConfig
from citywatch.config.root import expand_env


def build_sinks(
    cfg: AlertsConfig, console: Console | None, *, env: Mapping[str, str] | None = None
) -> list[AlertSink]:
    """One sink per configured destination.  A missing ``${ENV}`` raises ConfigError naming it.

    ``console`` is where the console sink prints (a new stderr console when None).
    """
    environ = None if env is None else dict(env)
    # Expand every reference first, so that a missing variable fails before anything connects.
    hooks: list[tuple[str, str | None, float]] = []
    for i, hook in enumerate(cfg.webhooks):
        where = f"alerts.webhooks[{i}]"
        url = expand_env(hook.url.get_secret_value(), where=f"{where}.url", env=environ)
        secret = None
        if hook.secret is not None:
            secret = expand_env(
                hook.secret.get_secret_value(), where=f"{where}.secret", env=environ
            )
        hooks.append((url, secret or None, hook.timeout_s))
    password = None
    if cfg.mqtt is not None and cfg.mqtt.password is not None:
        raw = cfg.mqtt.password.get_secret_value()
        password = expand_env(raw, where="alerts.mqtt.password", env=environ)

    keys = durable_sink_keys(cfg)
    sinks: list[AlertSink] = []
    if cfg.console:
        sinks.append(ConsoleSink(console if console is not None else Console(stderr=True)))
    for (url, secret, timeout), key in zip(hooks, keys, strict=False):
        sinks.append(WebhookSink(url, secret, timeout, key=key))
    if cfg.mqtt is not None:
        m = cfg.mqtt
        sinks.append(
            MqttSink(
                m.host,
                m.port,
                m.topic,
                m.username,
                password,
                tls=m.tls,
                timeout=m.timeout_s,
                key=keys[-1],
            )
        )
    return sinks


def build_dispatcher(
    cfg: AlertsConfig,
    console: Console | None,
    *,
    env: Mapping[str, str] | None = None,
    extra_sinks: Sequence[AlertSink] = (),
    outbox: DeliveryQueue | None = None,
) -> Dispatcher:
    """The configured sinks (plus ``extra_sinks``, e.g. the API's event hub) behind one
    :class:`Dispatcher` with the configured queue and retry; with an ``outbox`` (the store's,
    holding rows for :func:`durable_sink_keys`) webhooks and MQTT deliver from it."""
    retry = RetryPolicy(cfg.retry.attempts, cfg.retry.base_delay_s, cfg.retry.max_delay_s)
    sinks = [*build_sinks(cfg, console, env=env), *extra_sinks]
    return Dispatcher(
        sinks,
        max_queue=cfg.max_queue,
        retry=retry,
        outbox=outbox,
        poll_s=cfg.outbox.poll_s,
        batch=cfg.outbox.batch,
    )
