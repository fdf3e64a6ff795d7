"""Typed use of the public API: checked by `mypy --strict` (see pyproject) and run."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import otlp
from otlp import _native


def use_the_api(endpoint: str, receiver_counts: Callable[[], dict[str, int]]) -> otlp.Stats:
    with otlp.Exporter(
        endpoint,
        protocol="grpc",
        headers={"x-team": "payments"},
        compression="gzip",
        timeout=5.0,
        resource={"service.name": "typing"},
        batch=otlp.BatchConfig(max_queue_size=64, max_export_batch_size=8, schedule_delay=0.05),
        retry=otlp.RetryPolicy(initial_backoff=0.1, max_backoff=1.0, max_elapsed=2.0),
    ) as exp:
        tracer: otlp.Tracer = exp.tracer("typing", version="1.0")
        with tracer.span("outer", kind=otlp.SpanKind.SERVER, attributes={"n": 1}) as outer:
            ctx: otlp.SpanContext = outer.context
            assert otlp.current_span() is outer
            inner = tracer.start_span("inner", parent=ctx, links=[(ctx, {"why": "test"})])
            inner.set_attributes({"list": [1, 2], "nested": {"a": "b"}})
            inner.add_event("event", {"k": True}, timestamp=1)
            inner.set_status(otlp.StatusCode.OK)
            inner.end()

        @tracer.trace(kind=otlp.SpanKind.INTERNAL)
        def work(x: int) -> int:
            return x * 2

        @tracer.trace("async-work")
        async def async_work(x: int) -> int:
            return x + 1

        assert work(2) == 4
        assert asyncio.run(async_work(1)) == 2

        meter: otlp.Meter = exp.meter("typing", version="1.0")
        counter: otlp.Counter = meter.counter("requests", unit="1")
        counter.add(1, {"route": "/"})
        counter.add_many([1, 2, 3])
        meter.up_down_counter("queue").add(-1)
        histogram: otlp.Histogram = meter.histogram("latency", unit="ms", boundaries=[1.0, 10.0])
        histogram.record(3.5, {"route": "/"})
        histogram.record_many([0.5, 5.0, 50.0])
        meter.gauge("temperature").set(21.5)

        def observe() -> list[otlp.Observation]:
            return [otlp.Observation(1, {"cpu": "0"})]

        meter.observable_gauge("cpu", callbacks=[observe])
        assert exp.force_flush(timeout=5.0)
        stats: otlp.Stats = exp.stats()
        sent: int = stats["spans_exported"]
        assert sent >= 0
        metrics_received = receiver_counts()["metrics"]
    # counter, up-down counter, histogram, gauge, observable gauge; before the final
    # collection that shutdown() makes
    assert metrics_received == 5
    return stats


def typos_fail_type_checking() -> None:
    """Never run: each line is an error that ``mypy --strict`` must report (the ignores
    are checked too: an unused ``type: ignore`` is itself an error)."""
    otlp.Exporter(protocol="grcp")  # type: ignore[arg-type]
    otlp.Exporter(compression="brotli")  # type: ignore[arg-type]
    otlp.Exporter(http_version="h2")  # type: ignore[arg-type]
    otlp.Exporter(batch=otlp.RetryPolicy())  # type: ignore[arg-type]
    otlp.Exporter(retry=otlp.BatchConfig())  # type: ignore[arg-type]
    otlp.Exporter(tls="/etc/ca.pem")  # type: ignore[arg-type]
    otlp.Exporter(metrics={"interval": 1})  # type: ignore[arg-type]
    otlp.Exporter(signals={"log": {"endpoint": "http://c:4318/v1/logs"}})  # type: ignore[dict-item]
    otlp.Exporter(signals={"logs": {"compresion": "gzip"}})  # type: ignore[typeddict-unknown-key]
    otlp.MetricsConfig(temporality="deltas")  # type: ignore[arg-type]
    stats = otlp.Exporter().stats()
    stats["spans_exportd"]  # type: ignore[typeddict-item]
    name: int = stats["last_error"]  # type: ignore[assignment]
    del name


def test_typed_usage_runs() -> None:
    receiver = _native.Receiver()
    try:
        stats = use_the_api(receiver.endpoint, receiver.counts)
        assert stats["spans_exported"] == 4
        assert receiver.counts()["spans"] == 4
        # two counter series, one up-down, two histogram series, gauge, observable gauge
        assert stats["metric_points_exported"] == 7
    finally:
        receiver.stop()
