"""``otlp.sdk``'s exporters and processors inside the official OpenTelemetry SDK.

Each test sends the same SDK objects through the official OTLP/gRPC exporter to one
grpcio reference sink and through ``otlp.sdk`` to another, and compares what the two
sinks decoded: switching is an import change, and nothing a user sees differs.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time

import pytest
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor as OfficialBatchLogRecordProcessor
from opentelemetry.sdk.metrics import Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

import otlp
import otlp.sdk

RESOURCE = Resource({"service.name": "sdk-pieces", "deployment.environment": "test"})


def sdk_spans(n: int = 20) -> list:
    """Ended SDK spans of every shape a user makes: nested, events, links, errors."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=RESOURCE)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("pieces.test", "1.2.3")
    for i in range(n):
        with tracer.start_as_current_span("parent", kind=SpanKind.SERVER, attributes={"i": i}) as parent:
            parent.add_event("started", {"attempt": i, "ok": True})
            with tracer.start_as_current_span(
                "child", links=[Link(parent.get_span_context(), {"why": "retry"})]
            ) as child:
                child.set_attributes({"f": 1.5, "s": "x" * i, "l": [1, 2, 3]})
                if i % 3 == 0:
                    child.record_exception(ValueError("bad input"))
                    child.set_status(Status(StatusCode.ERROR, "bad input"))
    provider.shutdown()
    return list(memory.get_finished_spans())


def key(item):
    return item.SerializeToString(deterministic=True)


def decoded_spans(sink, n):
    return sorted((key(r), key(s), key(sp)) for r, s, sp in sink.wait_for_spans(n, timeout=30))


def test_span_exporter_delivers_what_the_official_exporter_delivers(sink_factory):
    official_sink, our_sink = sink_factory(), sink_factory()
    spans = sdk_spans()
    official = OTLPSpanExporter(endpoint=official_sink.address, insecure=True)
    ours = otlp.sdk.SpanExporter(endpoint=our_sink.address, insecure=True)
    try:
        assert official.export(spans).name == "SUCCESS"
        assert ours.export(spans).name == "SUCCESS"
        assert ours.force_flush(10_000)
        assert decoded_spans(our_sink, len(spans)) == decoded_spans(official_sink, len(spans))
    finally:
        official.shutdown()
        ours.shutdown()
    assert ours.export(spans).name == "FAILURE"


def test_batch_span_processor_queues_sampled_spans_without_a_python_thread(sink_factory):
    official_sink, our_sink = sink_factory(), sink_factory()
    threads = threading.active_count()
    ours = otlp.sdk.BatchSpanProcessor(
        otlp.sdk.SpanExporter(endpoint=our_sink.endpoint), max_export_batch_size=7, schedule_delay_millis=50
    )
    # The pipeline's threads are Rust threads: Python sees none.
    assert threading.active_count() == threads
    official = SimpleSpanProcessor(OTLPSpanExporter(endpoint=official_sink.address, insecure=True))
    sampler = ParentBased(TraceIdRatioBased(0.5))
    providers = [TracerProvider(resource=RESOURCE, sampler=sampler) for _ in range(2)]
    providers[0].add_span_processor(official)
    providers[1].add_span_processor(ours)
    # The same trace ids in both (seeded by a generator of our own), so both sample alike.
    sampled = 0
    for tp in providers:
        ids = iter(range(1, 10_000))
        tp.id_generator.generate_trace_id = lambda ids=ids: next(ids) * 0x9E3779B97F4A7C15 % 2**128
        tracer = tp.get_tracer("pieces.processor")
        for i in range(40):
            with tracer.start_as_current_span(f"op{i}", attributes={"n": i}) as s:
                sampled += s.is_recording()
    assert 0 < sampled < 80  # some spans were sampled out
    assert ours.force_flush(10_000)
    want = {
        (sp.name, sp.attributes[0].value.int_value) for _, _, sp in official_sink.wait_for_spans(sampled // 2)
    }
    got = {(sp.name, sp.attributes[0].value.int_value) for _, _, sp in our_sink.wait_for_spans(sampled // 2)}
    assert got == want and len(got) == sampled // 2
    # Batches of at most 7, as the processor was asked.
    assert max(len(r.resource_spans[0].scope_spans[0].spans) for r in our_sink.requests()) <= 7
    for tp in providers:
        tp.shutdown()
    assert ours._exporter.exporter.stats()["spans_exported"] == sampled // 2


@pytest.mark.parametrize("through", ["processor", "exporter"])
def test_a_full_queue_blocks_the_producer_with_the_gil_released(sink_factory, through):
    # A collector that holds each request for 3 s keeps the one-span queue full, so
    # producers wait (block_timeout, 1 s) for room in vain.
    slow = sink_factory(delay=3.0)
    exporter = otlp.Exporter(
        endpoint=slow.endpoint,
        batch=otlp.BatchConfig(max_queue_size=1, max_export_batch_size=1, max_concurrent_exports=1),
        queue=otlp.QueueConfig(overflow="block", block_timeout=1.0),
    )
    span_exporter = otlp.sdk.SpanExporter(exporter=exporter)
    spans = sdk_spans(3)[:5]
    if through == "processor":
        processor = otlp.sdk.BatchSpanProcessor(span_exporter)
        producer = threading.Thread(target=lambda: [processor.on_end(s) for s in spans])
    else:
        producer = threading.Thread(target=span_exporter.export, args=(spans,))
    try:
        producer.start()
        # This thread keeps running while the producer waits: were the GIL held during
        # the wait, it would stall for the whole block_timeout.
        deadline = time.monotonic() + 30
        last = time.monotonic()
        longest_stall = 0.0
        while producer.is_alive() and last < deadline:
            now = time.monotonic()
            longest_stall = max(longest_stall, now - last)
            last = now
        assert exporter.stats()["spans_dropped_block_timeout"] >= 1
        assert longest_stall < 0.5
    finally:
        producer.join(30)
        exporter.shutdown(0.0)


def test_exporters_are_configured_by_the_environment_alone(sink, monkeypatch, unused_endpoint):
    # How OTEL_TRACES_EXPORTER=otlp_rust makes them: no argument at all. The signal's
    # own variable wins over the generic one.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", unused_endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", sink.endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-team=pieces")
    spans = sdk_spans(3)
    exporter = otlp.sdk.SpanExporter()
    try:
        assert exporter.export(spans).name == "SUCCESS"
        assert exporter.force_flush()
        assert len(sink.wait_for_spans(len(spans))) == len(spans)
        assert sink.metadata("traces")[0]["x-team"] == "pieces"
    finally:
        exporter.shutdown()
    for cls in (otlp.sdk.MetricExporter, otlp.sdk.LogExporter):
        cls().shutdown()


def test_an_unreadable_span_is_dropped_and_reported_once(sink, caplog):
    spans = sdk_spans(2)
    exporter = otlp.sdk.SpanExporter(endpoint=sink.endpoint)
    try:
        with caplog.at_level(logging.WARNING, logger="otlp"):
            assert exporter.export([spans[0], object(), spans[1]]).name == "FAILURE"
            assert exporter.export([object()]).name == "FAILURE"
            otlp.sdk.BatchSpanProcessor(exporter).on_end(object())  # type: ignore[arg-type]
        assert exporter.force_flush()
        assert len(sink.wait_for_spans(2)) == 2
        reports = [r for r in caplog.records if "could not be converted" in r.getMessage()]
        assert len(reports) == 1, reports
    finally:
        exporter.shutdown()
    assert sink.span_count() == 2


def test_connection_arguments_are_checked_at_construction(monkeypatch):
    with pytest.raises(otlp.errors.ConfigError, match="deflate"):
        otlp.sdk.SpanExporter(compression="deflate")
    with pytest.raises(TypeError, match="either `exporter`"):
        otlp.sdk.SpanExporter(endpoint="http://127.0.0.1:1", exporter=otlp.Exporter())
    with pytest.raises(TypeError, match=r"otlp\.sdk\.SpanExporter"):
        otlp.sdk.BatchSpanProcessor(InMemorySpanExporter())  # type: ignore[arg-type]
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "sometimes")
    with pytest.raises(otlp.errors.ConfigError, match="TEMPORALITY_PREFERENCE"):
        otlp.sdk.MetricExporter()


def metric_points(sink, names):
    """name -> (temporality or kind, [(attributes, value)]) with timestamps left out."""
    wanted = {}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        wanted = {m.name: m for _, _, m in sink.metrics() if m.name in names}
        if len(wanted) == len(names):
            break
    out = {}
    for name, m in wanted.items():
        kind = m.WhichOneof("data")
        data = getattr(m, kind)
        points = []
        for p in data.data_points:
            p.ClearField("start_time_unix_nano")
            p.ClearField("time_unix_nano")
            points.append(key(p))
        out[name] = (kind, getattr(data, "aggregation_temporality", None), sorted(points), m.unit)
    return out


@pytest.mark.parametrize("preference", ["cumulative", "delta"])
def test_metric_exporter_honours_temporality_and_aggregation(sink_factory, monkeypatch, preference):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", preference)
    monkeypatch.setenv(
        "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION", "base2_exponential_bucket_histogram"
    )
    official_sink, our_sink = sink_factory(), sink_factory()
    # An argument wins over the environment, for both exporters.
    preferred = {Histogram: AggregationTemporality.DELTA}
    official = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=official_sink.address, insecure=True, preferred_temporality=preferred),
        export_interval_millis=3_600_000,
    )
    ours = PeriodicExportingMetricReader(
        otlp.sdk.MetricExporter(endpoint=our_sink.endpoint, preferred_temporality=preferred),
        export_interval_millis=3_600_000,
    )
    provider = MeterProvider(metric_readers=[official, ours], resource=RESOURCE)
    meter = provider.get_meter("pieces.metrics", "0.1")
    counter = meter.create_counter("requests", unit="1")
    histogram = meter.create_histogram("latency", unit="ms")
    for i in range(50):
        counter.add(i % 5, {"route": f"/r{i % 3}"})
        histogram.record(i * 1.5, {"route": f"/r{i % 3}"})
    assert official.force_flush(10_000)
    assert ours.force_flush(10_000)
    names = {"requests", "latency"}
    got = metric_points(our_sink, names)
    assert got == metric_points(official_sink, names)
    temporality = {"cumulative": 2, "delta": 1}[preference]
    assert got["requests"][:2] == ("sum", temporality)
    assert got["latency"][:2] == ("exponential_histogram", 1)
    provider.shutdown()


def test_log_exporter_and_processor_deliver_what_the_official_ones_deliver(sink_factory):
    official_sink, our_sink = sink_factory(), sink_factory()
    provider = LoggerProvider(resource=RESOURCE)
    provider.add_log_record_processor(
        OfficialBatchLogRecordProcessor(OTLPLogExporter(endpoint=official_sink.address, insecure=True))
    )
    threads = threading.active_count()
    ours = otlp.sdk.BatchLogRecordProcessor(otlp.sdk.LogExporter(endpoint=our_sink.endpoint))
    assert threading.active_count() == threads
    provider.add_log_record_processor(ours)
    logger = provider.get_logger("pieces.logs", "2.0")
    tracer = TracerProvider(resource=RESOURCE).get_tracer("t")
    with tracer.start_as_current_span("in-span"):
        for i in range(30):
            logger.emit(body=f"message {i}", severity_text="WARN", attributes={"i": i, "even": i % 2 == 0})
    assert provider.force_flush(10_000)

    def records(sink):
        return sorted((key(r), key(s), key(lr)) for r, s, lr in sink.wait_for_log_records(30, timeout=30))

    assert records(our_sink) == records(official_sink)
    provider.shutdown()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.timeout(60)
def test_the_span_processor_keeps_working_in_a_forked_child(sink):
    try:
        from test_fork import _fork, _wait_child
    except ImportError:  # tests/ is a package
        from tests.test_fork import _fork, _wait_child

    provider = TracerProvider(resource=RESOURCE)
    processor = otlp.sdk.BatchSpanProcessor(
        otlp.sdk.SpanExporter(endpoint=sink.endpoint), schedule_delay_millis=60_000
    )
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("pieces.fork")
    # Queued before the fork: exported once, by the parent.
    for _ in range(10):
        tracer.start_span("before").end()
    pid = _fork()
    if pid == 0:  # child
        code = 1
        try:
            for _ in range(5):
                tracer.start_span("child").end()
            code = 0 if processor.force_flush(10_000) else 2
        finally:
            os._exit(code)
    for _ in range(3):
        tracer.start_span("parent").end()
    assert _wait_child(pid) == 0
    assert processor.force_flush(10_000)
    names = [sp.name for _, _, sp in sink.wait_for_spans(18)]
    assert sorted(names) == ["before"] * 10 + ["child"] * 5 + ["parent"] * 3
    provider.shutdown()


@pytest.mark.timeout(120)
def test_otlp_http_as_the_official_http_exporter_is_configured(rotel_relay, monkeypatch):
    spans = sdk_spans(4)
    # The official OTLP/HTTP exporter's argument: the signal's whole URL.
    by_argument = otlp.sdk.SpanExporter(
        endpoint=f"{rotel_relay.http_endpoint}/v1/traces", protocol="http/protobuf", compression="gzip"
    )
    # The environment's: a base URL the signal's path is appended to.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rotel_relay.http_endpoint)
    by_environment = otlp.sdk.SpanExporter()
    try:
        for exporter in (by_argument, by_environment):
            assert exporter.exporter.protocol == "http/protobuf"
            assert exporter.export(spans).name == "SUCCESS"
            assert exporter.force_flush(30_000)
            assert exporter.exporter.stats()["spans_exported"] == len(spans)
        got = rotel_relay.sink.wait_for_spans(2 * len(spans), timeout=30)
        # Each span arrived once through each exporter.
        want = {s.context.span_id.to_bytes(8, "big"): 2 for s in spans}
        assert collections.Counter(sp.span_id for _, _, sp in got) == want
    finally:
        by_argument.shutdown()
        by_environment.shutdown()
