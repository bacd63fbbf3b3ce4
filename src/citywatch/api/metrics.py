"""Prometheus metrics in the text exposition format (version 0.0.4), written by hand.

:func:`collect` turns what the server knows (camera health as
:meth:`citywatch.engine.local.LocalEngine.snapshot` writes it, alert counts from the database,
the event hub's and alert sinks' queues) into :class:`Metric` families; :func:`render` writes
them.  Labels are camera ids, sink names, alert kinds and states: never personal data.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from citywatch.sources.health import RESTING

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass
class Metric:
    name: str
    kind: Literal["gauge", "counter"]
    help: str
    samples: list[tuple[dict[str, str], float]] = field(default_factory=list)

    def add(self, value: float | None, **labels: str) -> None:
        if value is not None:
            self.samples.append((labels, float(value)))


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n")


def _value(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return str(int(v)) if v.is_integer() and abs(v) < 2**53 else repr(v)


def render(metrics: Iterable[Metric]) -> str:
    """The exposition text: ``# HELP``, ``# TYPE`` and one line per sample."""
    lines: list[str] = []
    for m in metrics:
        lines.append(f"# HELP {m.name} {_escape_help(m.help)}")
        lines.append(f"# TYPE {m.name} {m.kind}")
        for labels, value in m.samples:
            if labels:
                inner = ",".join(f'{k}="{_escape_label(v)}"' for k, v in sorted(labels.items()))
                lines.append(f"{m.name}{{{inner}}} {_value(value)}")
            else:
                lines.append(f"{m.name} {_value(value)}")
    return "\n".join(lines) + "\n"


def _num(d: Mapping[str, Any], key: str) -> float | None:
    v = d.get(key)
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return float(v)


def _part(record: Any, key: str) -> Mapping[str, Any]:
    part = record.get(key) if isinstance(record, Mapping) else None
    return part if isinstance(part, Mapping) else {}


def camera_metrics(health: Mapping[str, Any]) -> list[Metric]:
    """Per-camera metrics from ``{camera: {"source": {...}, "worker": {...}, ...}}``."""
    P = "citywatch_camera_"
    up = Metric(P + "up", "gauge", "1 when the camera's source is streaming")
    state = Metric(P + "state", "gauge", "The source's state (1 for the current one)")
    in_fps = Metric(P + "input_fps", "gauge", "Frames decoded per second")
    an_fps = Metric(P + "analysed_fps", "gauge", "Frames analysed per second")
    lag = Metric(P + "lag_seconds", "gauge", "How far analysis lags behind the live picture")
    latency = Metric(P + "latency_seconds", "gauge", "Analysis time of the last frame")
    reconnects = Metric(P + "reconnects_total", "counter", "Reconnection attempts")
    decoded = Metric(P + "frames_decoded_total", "counter", "Frames decoded")
    analysed = Metric(P + "frames_analysed_total", "counter", "Frames analysed")
    dropped = Metric(
        P + "frames_dropped_total", "counter", "Frames due for analysis but skipped (behind)"
    )
    w_dropped = Metric(P + "worker_dropped_total", "counter", "Frames the worker dropped")
    errors = Metric(P + "errors_total", "counter", "Analysis errors")
    pending = Metric(P + "pending_results", "gauge", "Sightings waiting to be written")
    resting = Metric(
        P + "decoder_resting",
        "gauge",
        "1 while a still scene rests the decoder (keyframes or reference pictures only), else 0",
    )
    searched = Metric(
        P + "searches_total", "counter", "Moving frames a face or plate stage searched"
    )
    rested = Metric(
        P + "searches_rested_total",
        "counter",
        "Moving frames a stage left unsearched while it found nothing (idle_search_every)",
    )
    windowed = Metric(
        P + "searches_windowed_total",
        "counter",
        "Searches of only the windows around what a stage tracks (faces.whole_frame_every)",
    )
    for cam in sorted(health):
        record = health[cam]
        source, worker = _part(record, "source"), _part(record, "worker")
        name = str(cam)
        searching = _part(record, "searching")
        for stage in ("faces", "plates"):
            figures = _part(searching, stage)
            searched.add(_num(figures, "searched"), camera=name, stage=stage)
            rested.add(_num(figures, "rested"), camera=name, stage=stage)
            windowed.add(_num(figures, "windowed"), camera=name, stage=stage)
        st = str(source.get("state") or "unknown")
        up.add(1.0 if st == "streaming" else 0.0, camera=name)
        state.add(1.0, camera=name, state=st)
        in_fps.add(_num(source, "input_fps"), camera=name)
        an_fps.add(_num(source, "analysed_fps"), camera=name)
        lag.add(_num(worker, "lag_s"), camera=name)
        ms = _num(worker, "last_latency_ms")
        latency.add(None if ms is None else ms / 1000.0, camera=name)
        reconnects.add(_num(source, "reconnects"), camera=name)
        decoded.add(_num(source, "frames_decoded"), camera=name)
        analysed.add(_num(source, "frames_analysed"), camera=name)
        dropped.add(_num(source, "frames_dropped"), camera=name)
        w_dropped.add(_num(worker, "dropped"), camera=name)
        errors.add(_num(worker, "errors"), camera=name)
        now = source.get("decode_now")
        if now == "normal" or now in RESTING:  # "" until the decoder has said
            resting.add(float(now in RESTING), camera=name, mode=str(now))
        if isinstance(record, Mapping):
            pending.add(_num(record, "pending_results"), camera=name)
    return [
        up,
        state,
        in_fps,
        an_fps,
        lag,
        latency,
        reconnects,
        decoded,
        analysed,
        dropped,
        w_dropped,
        errors,
        pending,
        resting,
        searched,
        rested,
        windowed,
    ]


def alert_metrics(counts: Mapping[tuple[str, str], int], pending: int) -> list[Metric]:
    by = Metric("citywatch_alerts", "gauge", "Stored alerts by kind and review status")
    for (kind, status), n in sorted(counts.items()):
        by.add(n, kind=kind, status=status)
    waiting = Metric("citywatch_alerts_pending_review", "gauge", "Alerts waiting for review")
    waiting.add(pending)
    return [by, waiting]


def hub_metrics(stats: Any) -> list[Metric]:
    """Live event stream (SSE) subscribers and their queues (an EventHub's ``stats()``)."""
    out = [
        Metric("citywatch_sse_subscribers", "gauge", "Open live event streams"),
        Metric("citywatch_sse_queued", "gauge", "Events waiting in stream queues"),
        Metric("citywatch_sse_published_total", "counter", "Events handed to the hub"),
        Metric("citywatch_sse_dropped_total", "counter", "Events dropped from full queues"),
    ]
    for metric, attr in zip(out, ("subscribers", "queued", "published", "dropped"), strict=True):
        metric.add(_num(vars_of(stats), attr))
    return out


def sink_metrics(stats: Mapping[str, Any]) -> list[Metric]:
    """Alert sink lanes (a Dispatcher's ``stats()``: ``{sink: SinkStats}``)."""
    P = "citywatch_alert_sink_"
    queued = Metric(P + "queued", "gauge", "Alerts waiting for delivery")
    delivered = Metric(P + "delivered_total", "counter", "Alerts delivered")
    failed = Metric(P + "failed_total", "counter", "Alerts given up on")
    dropped = Metric(P + "dropped_total", "counter", "Alerts dropped from a full queue")
    retries = Metric(P + "retries_total", "counter", "Delivery retries")
    for name in sorted(stats):
        s = vars_of(stats[name])
        for metric, attr in (
            (queued, "queued"),
            (delivered, "delivered"),
            (failed, "failed"),
            (dropped, "dropped"),
            (retries, "retries"),
        ):
            metric.add(_num(s, attr), sink=str(name))
    return [queued, delivered, failed, dropped, retries]


def outbox_metrics(backlog: Iterable[Any]) -> list[Metric]:
    """The alert outbox per external sink (``SinkBacklog`` records, labelled by outbox key)."""
    P = "citywatch_alert_outbox_"
    pending = Metric(P + "pending", "gauge", "Alerts stored and not yet delivered to the sink")
    oldest = Metric(
        P + "oldest_pending_seconds", "gauge", "Age of the oldest alert not yet delivered"
    )
    failed = Metric(P + "failed", "gauge", "Alerts the sink refused for good (kept until swept)")
    error_at = Metric(
        P + "last_error_timestamp_seconds",
        "gauge",
        "When a try of a still pending alert last failed (Unix time)",
    )
    for b in backlog:
        s = vars_of(b)
        sink = str(s.get("sink"))
        pending.add(_num(s, "pending"), sink=sink)
        oldest.add(_num(s, "oldest_pending_s") or 0.0, sink=sink)
        failed.add(_num(s, "failed"), sink=sink)
        at = s.get("last_error_at")
        if at is not None and hasattr(at, "timestamp"):
            error_at.add(at.timestamp(), sink=sink)
    return [pending, oldest, failed, error_at]


def vars_of(obj: Any) -> Mapping[str, Any]:
    """A stats object's fields (dataclass with or without slots, or a mapping)."""
    if isinstance(obj, Mapping):
        return obj
    names = getattr(obj, "__dataclass_fields__", None)
    if names:
        return {n: getattr(obj, n) for n in names}
    return getattr(obj, "__dict__", {})
