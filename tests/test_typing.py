"""Typed use of the public API: checked by `mypy --strict` (see pyproject) and run."""

from __future__ import annotations

import asyncio

import otlp
from otlp import _native


def use_the_api(endpoint: str) -> dict[str, object]:
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
        exp.force_flush(timeout=5.0)
        stats: dict[str, object] = exp.stats()
    return stats


def test_typed_usage_runs() -> None:
    receiver = _native.Receiver()
    try:
        stats = use_the_api(receiver.endpoint)
        assert stats["spans_exported"] == 4
        assert receiver.counts()["spans"] == 4
    finally:
        receiver.stop()
