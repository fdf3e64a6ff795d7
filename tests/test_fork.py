"""Exporters keep working in a forked child, without duplicating the parent's data."""

from __future__ import annotations

import multiprocessing
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


def _span_ids(sink) -> list[tuple[str, bytes, bytes]]:
    return [(span.name, span.trace_id, span.span_id) for _, _, span in sink.spans()]


def _end_spans(exp, name: str, n: int) -> bool:
    """End ``n`` root spans and flush them."""
    tracer = exp.tracer("fork-ids")
    for _ in range(n):
        tracer.start_span(name).end()
    return exp.force_flush(timeout=10.0)


@pytest.mark.timeout(60)
def test_sibling_processes_draw_distinct_ids(sink) -> None:
    """Workers forked from one parent (gunicorn --preload, uWSGI, multiprocessing) must
    not repeat each other's trace and span ids, nor the parent's, nor a grandchild's."""
    exp = otlp.Exporter(sink.endpoint, batch=otlp.BatchConfig(schedule_delay=60.0))
    exp.tracer("fork-ids").start_span("parent").end()
    per_child = 5
    children = []
    for k in range(3):
        pid = _fork()
        if pid == 0:  # child: whatever happens, never return into pytest
            code = 1
            try:
                if k == 0:
                    grandchild = _fork()
                    if grandchild == 0:
                        try:
                            code = 0 if _end_spans(exp, "grandchild", per_child) else 2
                        finally:
                            os._exit(code)
                    if _wait_child(grandchild) != 0:
                        os._exit(3)
                code = 0 if _end_spans(exp, f"child{k}", per_child) else 2
            finally:
                os._exit(code)
        children.append(pid)
    for pid in children:
        assert _wait_child(pid) == 0
    assert exp.force_flush(timeout=10.0)
    expected = 1 + 4 * per_child
    sink.wait_for_spans(expected, timeout=10.0)
    exp.shutdown(timeout=5.0)
    spans = _span_ids(sink)
    assert sorted(name for name, _, _ in spans) == sorted(
        ["parent"] + [name for name in ("child0", "child1", "child2", "grandchild") for _ in range(per_child)]
    )
    # Every span is a root, so every one has its own trace.
    first = {name: (trace_id.hex(), span_id.hex()) for name, trace_id, span_id in reversed(spans)}
    assert len({trace_id for _, trace_id, _ in spans}) == expected, f"trace ids repeated: first spans {first}"
    assert len({span_id for _, _, span_id in spans}) == expected, f"span ids repeated: first spans {first}"


def _end_spans_in_worker(exp, n: int) -> None:
    if not _end_spans(exp, "worker", n):
        raise SystemExit(2)


@pytest.mark.timeout(60)
def test_multiprocessing_fork_workers_draw_distinct_ids(sink) -> None:
    exp = otlp.Exporter(sink.endpoint, batch=otlp.BatchConfig(schedule_delay=60.0))
    exp.tracer("fork-ids").start_span("parent").end()
    ctx = multiprocessing.get_context("fork")
    workers = [ctx.Process(target=_end_spans_in_worker, args=(exp, 5)) for _ in range(3)]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # see _fork()
            for w in workers:
                w.start()
        for w in workers:
            w.join(timeout=30.0)
            assert w.exitcode == 0
    finally:
        for w in workers:
            if w.is_alive():
                w.kill()
                w.join()
    assert exp.force_flush(timeout=10.0)
    sink.wait_for_spans(16, timeout=10.0)
    exp.shutdown(timeout=5.0)
    spans = _span_ids(sink)
    assert len(spans) == 16
    assert len({trace_id for _, trace_id, _ in spans}) == 16
    assert len({span_id for _, _, span_id in spans}) == 16


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="calls glibc's fork() through ctypes")
@pytest.mark.timeout(60)
def test_ids_are_reseeded_after_a_fork_python_does_not_see(unused_endpoint) -> None:
    """A C extension calling fork() runs no os.register_at_fork hook: ids must still differ
    between the parent and every child."""
    import ctypes

    # PyDLL keeps the GIL held across the call, so the child owns it.
    libc_fork = ctypes.PyDLL(None).fork
    exp = otlp.Exporter(unused_endpoint)
    tracer = exp.tracer("fork-ids")
    tracer.start_span("warm-up")  # seed this thread's generator before forking
    reader, writer = os.pipe()
    children = []
    for _ in range(3):
        pid = libc_fork()
        if pid == 0:
            # Nothing was re-initialised after this fork: start a span (no export) and
            # report its ids, touching nothing a vanished thread may have held.
            try:
                context = tracer.start_span("child").context
                os.write(writer, f"{context.trace_id:032x}{context.span_id:016x}\n".encode())
            finally:
                os._exit(0)
        assert pid > 0
        children.append(pid)
    os.close(writer)
    for pid in children:
        assert _wait_child(pid) == 0
    with os.fdopen(reader) as lines:
        ids = lines.read().split()
    context = tracer.start_span("parent").context
    ids.append(f"{context.trace_id:032x}{context.span_id:016x}")
    exp.shutdown(timeout=1.0)
    assert len(ids) == 4
    assert len({i[:32] for i in ids}) == 4, f"trace ids repeated: {ids}"
    assert len({i[32:] for i in ids}) == 4, f"span ids repeated: {ids}"
