"""Exporters keep working in a forked child, without duplicating the parent's data."""

from __future__ import annotations

import os
import sys
import warnings

import pytest

import otlp

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def _fork() -> int:
    with warnings.catch_warnings():
        # 3.12+ warns that forking a multi-threaded process may deadlock: that is
        # exactly what this test checks does not happen.
        warnings.simplefilter("ignore", DeprecationWarning)
        return os.fork()


def _wait_child(pid: int, timeout: float = 30.0) -> int:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    pytest.fail("child did not finish in time")


@pytest.mark.timeout(60)
def test_parent_and_child_both_export_after_fork(sink) -> None:
    exp = otlp.Exporter(
        sink.endpoint,
        batch=otlp.BatchConfig(max_queue_size=10_000, max_export_batch_size=100, schedule_delay=60.0),
    )
    tracer = exp.tracer("fork")
    # Queued in the parent before the fork, not yet exported (long schedule delay):
    # must be exported once, by the parent, not again by the child.
    for i in range(50):
        tracer.start_span("before", attributes={"i": i}).end()
    pid = _fork()
    if pid == 0:  # child
        code = 1
        try:
            for i in range(30):
                tracer.start_span("child", attributes={"i": i}).end()
            ok = exp.force_flush(timeout=10.0)
            stats = exp.stats()
            code = 0 if ok and stats["spans_exported"] == 30 else 2
            exp.shutdown(timeout=5.0)
        finally:
            sys.stdout.flush()
            os._exit(code)
    for i in range(20):
        tracer.start_span("parent", attributes={"i": i}).end()
    assert _wait_child(pid) == 0
    assert exp.force_flush(timeout=10.0)
    sink.wait_for_spans(100, timeout=10.0)
    names = sorted(span.name for _, _, span in sink.spans())
    assert names.count("before") == 50
    assert names.count("parent") == 20
    assert names.count("child") == 30
    ids = [span.span_id for _, _, span in sink.spans()]
    assert len(ids) == len(set(ids)), "span ids repeated across parent and child"
    exp.shutdown(timeout=5.0)


@pytest.mark.timeout(60)
def test_metrics_and_logs_keep_working_in_a_forked_child(sink) -> None:
    exp = otlp.Exporter(sink.endpoint, metrics=otlp.MetricsConfig(interval=3600))
    counter = exp.meter("fork").counter("work")
    log = exp.logger("fork")
    counter.add(5, {"who": "parent"})  # recorded before the fork: the parent's
    pid = _fork()
    if pid == 0:  # child
        code = 1
        try:
            counter.add(2, {"who": "child"})
            log.emit("from the child")
            ok = exp.force_flush(timeout=10.0)
            stats = exp.stats()
            code = 0 if ok and stats["metric_points_exported"] == 1 and stats["logs_exported"] == 1 else 2
            exp.shutdown(timeout=5.0)
        finally:
            os._exit(code)
    assert _wait_child(pid) == 0
    assert exp.force_flush(timeout=10.0)
    exp.shutdown(timeout=5.0)
    points = []
    for request in sink.requests("metrics"):
        for rm in request.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    for p in metric.sum.data_points:
                        who = {kv.key: kv.value.string_value for kv in p.attributes}["who"]
                        points.append((who, p.as_int))
    # The child reported only its own measurement; the parent only its own.
    assert ("child", 2) in points
    assert ("child", 7) not in points and ("parent", 7) not in points
    assert ("parent", 5) in points
    bodies = [
        r.body.string_value
        for req in sink.requests("logs")
        for rl in req.resource_logs
        for sl in rl.scope_logs
        for r in sl.log_records
    ]
    assert bodies == ["from the child"]
