"""Sanity tests of the test peers themselves, driven by the OFFICIAL OpenTelemetry SDK
exporters and the official generated gRPC stubs (no dependency on our extension)."""

from __future__ import annotations

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1 import (
    trace_service_pb2,
    trace_service_pb2_grpc,
)
from opentelemetry.proto.trace.v1 import trace_pb2
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

pytestmark = pytest.mark.timeout(60)


def _sdk_spans(endpoint: str, n: int, *, compression=None, headers=None):
    """Send n spans (a root and n-1 children) with the official SDK; return the SDK spans."""
    kw = {}
    if compression is not None:
        kw["compression"] = compression
    exporter = OTLPSpanExporter(endpoint=endpoint, insecure=True, timeout=10, headers=headers, **kw)
    provider = TracerProvider(resource=Resource.create({"service.name": "peer-test"}))
    recorded = []

    class Capture(SimpleSpanProcessor):
        def on_end(self, span):
            recorded.append(span)
            super().on_end(span)

    provider.add_span_processor(Capture(exporter))
    tracer = provider.get_tracer("peer-scope", "0.1")
    with tracer.start_as_current_span("root", attributes={"i": -1}):
        for i in range(n - 1):
            with tracer.start_as_current_span(f"child-{i}", attributes={"i": i, "s": "é", "b": b"\x00\xff"}):
                pass
    provider.shutdown()
    return recorded


def test_sink_receives_official_sdk_spans(sink):
    sent = _sdk_spans(sink.endpoint, 5)
    got = sink.wait_for_spans(5, timeout=10)
    assert len(got) == 5
    assert sink.span_count() == 5
    by_id = {sp.span_id: (res, scope, sp) for res, scope, sp in got}
    for s in sent:
        res, scope, sp = by_id[s.context.span_id.to_bytes(8, "big")]
        assert sp.trace_id == s.context.trace_id.to_bytes(16, "big")
        assert sp.name == s.name
        assert sp.start_time_unix_nano == s.start_time
        assert sp.end_time_unix_nano == s.end_time
        assert scope.name == "peer-scope" and scope.version == "0.1"
        assert {kv.key: kv.value.string_value for kv in res.attributes}["service.name"] == "peer-test"
    root = next(sp for _, _, sp in got if sp.name == "root")
    assert all(sp.parent_span_id == root.span_id for _, _, sp in got if sp is not root)
    # raw wire bytes are kept and decode to the same request
    raw = sink.raw_requests("traces")
    assert len(raw) == 5 and all(isinstance(r, bytes) and r for r in raw)


def test_sink_records_headers_and_gzip(sink):
    from opentelemetry.exporter.otlp.proto.grpc.exporter import Compression

    _sdk_spans(sink.endpoint, 2, compression=Compression.Gzip, headers={"x-peer-test": "yes"})
    sink.wait_for_spans(2, timeout=10)
    md = sink.metadata("traces")
    assert md and all(m.get("x-peer-test") == "yes" for m in md)


def test_sink_metrics_and_logs(sink):
    # metrics: official SDK metric exporter
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], resource=Resource.create({"service.name": "peer-test"}))
    counter = provider.get_meter("m-scope").create_counter("requests")
    counter.add(3, {"route": "/a"})
    counter.add(4, {"route": "/b"})
    data = reader.get_metrics_data()
    mexp = OTLPMetricExporter(endpoint=sink.endpoint, insecure=True, timeout=10)
    mexp.export(data)
    mexp.shutdown()
    provider.shutdown()
    metrics = sink.wait_for_metrics(1, timeout=10)
    assert [m.name for _, _, m in metrics] == ["requests"]
    assert sink.counts()["data_points"] == 2

    # logs: official SDK log exporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor

    lp = LoggerProvider(resource=Resource.create({"service.name": "peer-test"}))
    lp.add_log_record_processor(
        SimpleLogRecordProcessor(OTLPLogExporter(endpoint=sink.endpoint, insecure=True, timeout=10))
    )
    logger = lp.get_logger("l-scope")
    try:
        from opentelemetry._logs import LogRecord as ApiLogRecord

        logger.emit(ApiLogRecord(body="hello", severity_text="INFO"))
    except TypeError:  # pragma: no cover - older/newer SDK signatures
        logger.emit(body="hello", severity_text="INFO")
    lp.shutdown()
    logs = sink.wait_for_log_records(1, timeout=10)
    assert logs[0][2].body.string_value == "hello"


def _stub(sink):
    channel = grpc.insecure_channel(sink.address)
    return channel, trace_service_pb2_grpc.TraceServiceStub(channel)


def _one_span_request(name="x"):
    req = trace_service_pb2.ExportTraceServiceRequest()
    ss = req.resource_spans.add().scope_spans.add()
    sp = ss.spans.add()
    sp.name = name
    sp.trace_id = b"\x01" * 16
    sp.span_id = b"\x02" * 8
    return req


@pytest.mark.parametrize("code", ["UNAVAILABLE", "RESOURCE_EXHAUSTED", "INVALID_ARGUMENT"])
def test_sink_fault_mode_answers_status(sink_factory, code):
    s = sink_factory(status=code)
    channel, stub = _stub(s)
    with channel, pytest.raises(grpc.RpcError) as ei:
        stub.Export(_one_span_request(), timeout=10)
    assert ei.value.code() == getattr(grpc.StatusCode, code)
    # the request is still recorded, with the status answered
    recs = s.records("traces")
    assert len(recs) == 1 and recs[0][1]["status"] == code
    assert s.span_count() == 1


def test_sink_fault_mode_first_n_then_ok(sink_factory):
    s = sink_factory(status="UNAVAILABLE", status_count=2)
    channel, stub = _stub(s)
    with channel:
        codes = []
        for _ in range(4):
            try:
                stub.Export(_one_span_request(), timeout=10)
                codes.append("OK")
            except grpc.RpcError as e:
                codes.append(e.code().name)
    assert codes == ["UNAVAILABLE", "UNAVAILABLE", "OK", "OK"]


def test_official_sdk_exporter_against_unavailable_sink(sink_factory):
    from opentelemetry.sdk.trace.export import SpanExportResult

    s = sink_factory(status="UNAVAILABLE")
    provider = TracerProvider()
    spans = []

    class Keep(SpanProcessor):
        def on_end(self, span):
            spans.append(span)

    provider.add_span_processor(Keep())
    with provider.get_tracer("t").start_as_current_span("x"):
        pass
    provider.shutdown()
    exporter = OTLPSpanExporter(endpoint=s.endpoint, insecure=True, timeout=2)
    assert exporter.export(spans) == SpanExportResult.FAILURE
    exporter.shutdown()
    assert s.request_count() >= 1


def test_sink_count_only_mode(sink_factory):
    from peers import SinkError

    s = sink_factory(count_only=True)
    channel, stub = _stub(s)
    with channel:
        for k in range(3):
            req = _one_span_request()
            ss = req.resource_spans[0].scope_spans[0]
            for i in range(k + 1):
                extra = ss.spans.add()
                extra.CopyFrom(ss.spans[0])
                extra.name = f"{k}-{i}"
            stub.Export(req, timeout=10)
    assert s.wait_for_spans(9, timeout=10) == 9  # 2 + 3 + 4
    assert s.counts()["trace_requests"] == 3
    with pytest.raises(SinkError):
        s.spans()


def test_sink_rejects_undecodable_request(sink):
    channel = grpc.insecure_channel(sink.address)
    with channel:
        call = channel.unary_unary(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            request_serializer=lambda b: b,
            response_deserializer=lambda b: b,
        )
        with pytest.raises(grpc.RpcError) as ei:
            call(b"\xff\xff\xff", timeout=10)
    assert ei.value.code() != grpc.StatusCode.OK
    assert sink.span_count() == 0


def test_sink_teardown_kills_process():
    from peers import Sink

    s = Sink().start()
    proc = s.proc
    assert proc.poll() is None
    s.close()
    assert proc.poll() is not None


def test_rotel_relays_official_sdk_spans(rotel_relay):
    sent = _sdk_spans(rotel_relay.endpoint, 20)
    got = rotel_relay.sink.wait_for_spans(20, timeout=30)
    assert len(got) == 20
    assert {sp.span_id for _, _, sp in got} == {s.context.span_id.to_bytes(8, "big") for s in sent}
    by_name = {sp.name: sp for _, _, sp in got}
    assert by_name["child-3"].kind == trace_pb2.Span.SPAN_KIND_INTERNAL
    attrs = {kv.key: kv.value for kv in by_name["child-3"].attributes}
    assert (
        attrs["i"].int_value == 3 and attrs["s"].string_value == "é" and attrs["b"].bytes_value == b"\x00\xff"
    )


def test_rotel_relays_metrics_and_logs(rotel_relay):
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    provider.get_meter("m").create_counter("c").add(1)
    mexp = OTLPMetricExporter(endpoint=rotel_relay.endpoint, insecure=True, timeout=10)
    mexp.export(reader.get_metrics_data())
    mexp.shutdown()
    provider.shutdown()
    assert [m.name for _, _, m in rotel_relay.sink.wait_for_metrics(1, timeout=30)] == ["c"]
