from __future__ import annotations

import logging
import threading
import time

import pytest

from citywatch.alerts.dispatcher import Dispatcher, RetryPolicy
from citywatch.alerts.sink import PermanentDeliveryError
from tests.alerts.fakes import RecordingSink, face_event

FAST = RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=0.02)


def _wait_for(cond: object, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():  # type: ignore[operator]
            return True
        time.sleep(0.005)
    return False


def test_every_sink_gets_every_event_in_order() -> None:
    a, b = RecordingSink("a"), RecordingSink("b")
    d = Dispatcher([a, b], retry=FAST)
    events = [face_event(i) for i in range(5)]
    for ev in events:
        d.publish(ev)
    assert d.close(5)
    assert a.got == events and b.got == events
    assert a.closed and b.closed
    st = d.stats()
    assert st["a"].delivered == 5 and st["b"].delivered == 5
    assert st["a"].failed == st["a"].dropped == 0


def test_slow_sink_blocks_neither_caller_nor_other_sinks() -> None:
    slow, fast = RecordingSink("slow", block=True), RecordingSink("fast")
    d = Dispatcher([slow, fast], retry=FAST)
    publisher = threading.Thread(
        target=lambda: [d.publish(face_event(i)) for i in range(20)], daemon=True
    )
    publisher.start()
    publisher.join(30)  # a guard against a hang, not a speed limit
    # publish only enqueues: all 20 returned though the slow sink cannot finish one until
    # released below (a publish that waited for it would still be blocked here)
    assert not publisher.is_alive() and slow.started.wait(30)
    assert _wait_for(lambda: len(fast.got) == 20)
    assert slow.got == []
    slow.release.set()
    assert d.close(5)
    assert len(slow.got) == 20


def test_full_queue_drops_oldest_and_counts() -> None:
    sink = RecordingSink("blocked", block=True)
    d = Dispatcher([sink], max_queue=3, retry=FAST)
    d.publish(face_event(0))
    assert sink.started.wait(5)  # event 0 is in flight, outside the queue
    for i in range(1, 10):
        d.publish(face_event(i))
    st = d.stats()["blocked"]
    assert st.dropped == 6 and st.queued == 3
    sink.release.set()
    assert d.close(5)
    assert [e.id for e in sink.got] == [0, 7, 8, 9]
    assert d.stats()["blocked"].delivered == 4


def test_transient_failures_are_retried_then_delivered() -> None:
    sink = RecordingSink("flaky", fail=2)
    d = Dispatcher([sink], retry=FAST)
    d.publish(face_event(1))
    assert d.close(5)
    st = d.stats()["flaky"]
    assert (st.delivered, st.failed, st.retries) == (1, 0, 2)
    assert sink.tries == 3


def test_retries_are_bounded() -> None:
    sink = RecordingSink("down", fail=100)
    d = Dispatcher([sink], retry=FAST)
    d.publish(face_event(1))
    d.publish(face_event(2))
    assert d.close(5)
    st = d.stats()["down"]
    assert (st.delivered, st.failed, st.retries) == (0, 2, 4)
    assert sink.tries == 6


def test_permanent_error_is_not_retried() -> None:
    sink = RecordingSink("rejects", error=PermanentDeliveryError("HTTP 400"))
    d = Dispatcher([sink], retry=FAST)
    d.publish(face_event(1))
    assert d.close(5)
    assert sink.tries == 1
    assert d.stats()["rejects"].failed == 1


def test_close_times_out_on_a_stuck_backoff_and_counts_the_rest_dropped() -> None:
    sink = RecordingSink("down", fail=100)
    d = Dispatcher([sink], retry=RetryPolicy(attempts=5, base_delay_s=60, max_delay_s=60))
    for i in range(3):
        d.publish(face_event(i))
    assert sink.started.wait(5)
    closed: list[bool] = []
    closer = threading.Thread(target=lambda: closed.append(d.close(0.2)), daemon=True)
    closer.start()
    closer.join(30)  # the backoff is 60 s: close must not wait it out
    assert not closer.is_alive() and closed == [False]
    st = d.stats()["down"]
    assert st.failed == 1 and st.dropped == 2 and st.queued == 0
    assert sink.closed


def test_publish_after_close_is_dropped_not_raised() -> None:
    sink = RecordingSink("a")
    d = Dispatcher([sink])
    assert d.close(1)
    d.publish(face_event(1))
    assert d.stats()["a"].dropped == 1 and sink.got == []


def test_same_named_sinks_get_distinct_stats_keys() -> None:
    d = Dispatcher([RecordingSink("hook"), RecordingSink("hook")])
    assert d.sink_names == ["hook", "hook#2"]
    d.close(1)


def test_foreign_exception_messages_are_redacted_in_logs(caplog: pytest.LogCaptureFixture) -> None:
    err = RuntimeError("boom at https://bob:hunter2@hooks.example/x?token=s3cr3t")
    sink = RecordingSink("leaky", error=err)
    d = Dispatcher([sink], retry=RetryPolicy(attempts=2, base_delay_s=0.01, max_delay_s=0.01))
    with caplog.at_level(logging.DEBUG):
        d.publish(face_event(1))
        d.close(5)
    text = caplog.text
    assert "hooks.example" in text  # the origin is kept, for diagnosis
    assert "hunter2" not in text and "s3cr3t" not in text and "bob" not in text


def test_retry_policy_validates_and_backs_off() -> None:
    import random

    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(attempts=0)
    p = RetryPolicy(attempts=5, base_delay_s=1, max_delay_s=3)
    rng = random.Random(0)
    delays = [p.delay(n, rng) for n in (1, 2, 3, 4)]
    assert 0.5 <= delays[0] <= 1 and 1 <= delays[1] <= 2
    assert all(d <= 3 for d in delays) and delays[3] >= 1.5
