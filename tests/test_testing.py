"""``otlp.testing``: the receiver users put in their own test suites, and its
``otlp_receiver`` fixture, fed by otlp's exporter, the otlp.otel providers and the
official OpenTelemetry SDK exporters."""

from __future__ import annotations

import logging

import pytest

import otlp
import otlp.otel
from otlp.testing import Receiver, Span


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf", "http/json"])
def test_spans_from_otlps_exporter_arrive_as_a_tree_with_typed_attributes(otlp_receiver, protocol) -> None:
    rx = otlp_receiver
    endpoint = rx.endpoint if protocol == "grpc" else rx.http_endpoint
    with otlp.Exporter(endpoint, protocol=protocol, resource={"service.name": "shop"}) as exp:
        tracer = exp.tracer("shop", version="1.0")
        with tracer.span(
            "GET /cart", kind=otlp.SpanKind.SERVER, attributes={"http.status_code": 200}
        ) as root:
            root.add_event("cache.miss", {"key": "cart"})
            with tracer.span("SELECT", attributes={"rows": 3, "ok": True, "ratio": 0.5, "tags": ["a", "b"]}):
                pass
            with tracer.span("render"):
                pass
        assert exp.force_flush(timeout=10.0)
    spans = rx.wait_for_spans(3)
    (top,) = rx.roots()
    assert rx.tree(top) == {
        "name": "GET /cart",
        "children": [{"name": "SELECT", "children": []}, {"name": "render", "children": []}],
    }
    assert top.kind == "SERVER" and top.attributes == {"http.status_code": 200}
    assert [(e.name, e.attributes) for e in top.events] == [("cache.miss", {"key": "cart"})]
    select = rx.span("SELECT")
    assert select.attributes == {"rows": 3, "ok": True, "ratio": 0.5, "tags": ["a", "b"]}
    assert select.parent_span_id == top.span_id and len(select.trace_id) == 32
    assert all(s.resource["service.name"] == "shop" and s.scope_name == "shop" for s in spans)
    assert top.duration_ns >= select.duration_ns >= 0


def test_metrics_and_logs_from_otlps_exporter(otlp_receiver) -> None:
    rx = otlp_receiver
    with otlp.Exporter(rx.endpoint, metrics=otlp.MetricsConfig(interval=3600.0)) as exp:
        meter = exp.meter("m")
        meter.counter("requests", unit="1").add(5, {"route": "/"})
        meter.histogram("latency", unit="ms").record_many([1.0, 7.0, 30.0], {"route": "/"})
        tracer = exp.tracer("t")
        with tracer.span("handler") as span:
            exp.logger("app").emit("hello", severity=otlp.Severity.WARN, attributes={"user": 7})
        assert exp.force_flush(timeout=10.0)
    # Collected by force_flush() and again by the shutdown at the end of the block.
    count = rx.metric_points("requests")[-1]
    assert (count.kind, count.value, count.attributes, count.is_monotonic) == ("sum", 5, {"route": "/"}, True)
    hist = rx.metric_points("latency")[-1]
    assert (hist.kind, hist.count, hist.sum, hist.unit) == ("histogram", 3, 38.0, "ms")
    assert sum(hist.bucket_counts) == 3 and len(hist.bucket_counts) == len(hist.explicit_bounds) + 1
    (record,) = rx.wait_for_log_records(1)
    assert (record.body, record.severity_text, record.attributes) == ("hello", "WARN", {"user": 7})
    assert record.trace_id == span.context.trace_id.to_bytes(16, "big").hex()


def test_the_opentelemetry_api_providers_deliver_to_it(otlp_receiver) -> None:
    rx = otlp_receiver
    exp = otlp.Exporter(rx.endpoint)
    try:
        tracer = otlp.otel.TracerProvider(exp).get_tracer("api")
        with tracer.start_as_current_span("outer"):
            with tracer.start_as_current_span("inner"):
                pass
        assert exp.force_flush(timeout=10.0)
        outer = rx.span("outer")
        assert [s.name for s in rx.children(outer)] == ["inner"]
    finally:
        exp.shutdown(timeout=5.0)


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_the_official_sdk_exporters_deliver_to_it(transport) -> None:
    from opentelemetry.instrumentation.logging.handler import LoggingHandler
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    if transport == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    else:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter  # type: ignore[assignment]
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # type: ignore[assignment]

    with Receiver() as rx:
        if transport == "grpc":
            spans, logs = (
                OTLPSpanExporter(endpoint=rx.endpoint, insecure=True),
                OTLPLogExporter(endpoint=rx.endpoint, insecure=True),
            )
        else:
            base = rx.http_endpoint
            spans = OTLPSpanExporter(endpoint=f"{base}/v1/traces")
            logs = OTLPLogExporter(endpoint=f"{base}/v1/logs")
        tp = TracerProvider()
        tp.add_span_processor(SimpleSpanProcessor(spans))
        lp = LoggerProvider()
        lp.add_log_record_processor(SimpleLogRecordProcessor(logs))
        log = logging.getLogger("otlp-testing-sdk")
        handler = LoggingHandler(logger_provider=lp)
        log.addHandler(handler)
        log.propagate = False
        try:
            with tp.get_tracer("sdk").start_as_current_span("sdk span", attributes={"n": 1}):
                log.warning("from the sdk")
        finally:
            log.removeHandler(handler)
            tp.shutdown()
            lp.shutdown()
        span: Span = rx.span("sdk span")
        assert span.attributes == {"n": 1} and span.kind == "INTERNAL"
        (record,) = rx.wait_for_log_records(1)
        assert record.body == "from the sdk" and record.trace_id == span.trace_id


def test_wait_says_what_arrived_when_it_times_out(otlp_receiver) -> None:
    with pytest.raises(AssertionError, match=r"received 0 spans, expected 1 within 0\.2s"):
        otlp_receiver.wait_for_spans(1, timeout=0.2)
    with pytest.raises(AssertionError, match="expected one span named 'x', found 0"):
        otlp_receiver.span("x")
