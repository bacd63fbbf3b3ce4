"""Alert delivery: sinks (console, webhook, MQTT) behind a non-blocking :class:`Dispatcher`.

Build them from the config with :func:`citywatch.alerts.build.build_dispatcher` (or
``build_sinks``).  Importing this package stays light: httpx and paho load with their sinks.
"""

from citywatch.alerts.dispatcher import Dispatcher, RetryPolicy, SinkStats
from citywatch.alerts.sink import AlertSink, DeliveryError, PermanentDeliveryError

__all__ = [
    "AlertSink",
    "DeliveryError",
    "Dispatcher",
    "PermanentDeliveryError",
    "RetryPolicy",
    "SinkStats",
]
