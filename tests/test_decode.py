"""The request decoder (``otlp::decode::request``) against the official protobuf classes.

Requests of all three signals are generated as ``opentelemetry-proto`` messages,
serialised by protobuf itself, decoded by otlp and encoded again by otlp's encoder:
the bytes must be exactly ``SerializeToString()``'s. The same requests as OTLP/JSON
(protobuf's own JSON printer, and otlp's JSON encoder) must decode to the same.

The messages stay within what the model holds and the encoder writes back the same
way (see ``decode/request/mod.rs``): resources and scopes are always set and never
empty of items, trace and span ids have their full length, a data point always has a
value, an exemplar has both ids or neither, span kinds and status codes are in their
enums; ``Resource.entity_refs`` and a gauge point's start time are left out. Everything else varies: every value type, zero and
default values, NaN and infinities, empty strings, nesting.
"""

from __future__ import annotations

import math
import random
from typing import Any, Literal

import pytest
from google.protobuf import json_format
from google.protobuf.message import Message
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.metrics.v1 import metrics_pb2 as pb_metrics
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from otlp import _native
from otlp.sdk import encode_logs, encode_metrics, encode_spans

try:
    import strategies as S
    import strategies_logs as SL
    import strategies_metrics as SM
except ImportError:  # tests/ is a package
    from tests import strategies as S
    from tests import strategies_logs as SL
    from tests import strategies_metrics as SM

Signal = Literal["traces", "metrics", "logs"]

u32 = st.integers(0, 2**32 - 1)
u64 = st.integers(0, 2**64 - 1)
i32 = st.integers(-(2**31), 2**31 - 1)
i64 = st.integers(-(2**63), 2**63 - 1)
doubles = st.floats(allow_nan=True, allow_infinity=True)
text = st.text(max_size=12)
small = st.integers(0, 3)


def any_values(depth: int = 3) -> st.SearchStrategy[AnyValue]:
    scalars = st.one_of(
        st.just(AnyValue()),
        text.map(lambda s: AnyValue(string_value=s)),
        st.booleans().map(lambda b: AnyValue(bool_value=b)),
        i64.map(lambda i: AnyValue(int_value=i)),
        doubles.map(lambda d: AnyValue(double_value=d)),
        st.binary(max_size=12).map(lambda b: AnyValue(bytes_value=b)),
    )
    if depth == 0:
        return scalars
    inner = any_values(depth - 1)
    return st.one_of(
        scalars,
        st.lists(inner, max_size=3).map(lambda vs: AnyValue(array_value=ArrayValue(values=vs))),
        st.lists(key_values(inner), max_size=3).map(
            lambda kvs: AnyValue(kvlist_value=KeyValueList(values=kvs))
        ),
    )


def key_values(values: st.SearchStrategy[AnyValue] | None = None) -> st.SearchStrategy[KeyValue]:
    return st.builds(lambda k, v: KeyValue(key=k, value=v), text, any_values(2) if values is None else values)


attributes = st.lists(key_values(), max_size=3)
ids16 = st.binary(min_size=16, max_size=16)
ids8 = st.binary(min_size=8, max_size=8)

resources = st.builds(lambda a, d: Resource(attributes=a, dropped_attributes_count=d), attributes, u32)
scopes = st.builds(
    lambda n, v, a, d: InstrumentationScope(name=n, version=v, attributes=a, dropped_attributes_count=d),
    text,
    text,
    attributes,
    u32,
)


@st.composite
def spans(draw: st.DrawFn) -> Span:
    s = Span(
        trace_id=draw(ids16),
        span_id=draw(ids8),
        trace_state=draw(text),
        parent_span_id=draw(st.one_of(st.just(b""), ids8)),
        flags=draw(u32),
        name=draw(text),
        kind=draw(st.integers(0, 5)),
        start_time_unix_nano=draw(u64),
        end_time_unix_nano=draw(u64),
        attributes=draw(attributes),
        dropped_attributes_count=draw(u32),
        dropped_events_count=draw(u32),
        dropped_links_count=draw(u32),
    )
    for _ in range(draw(small)):
        s.events.add(
            time_unix_nano=draw(u64),
            name=draw(text),
            attributes=draw(attributes),
            dropped_attributes_count=draw(u32),
        )
    for _ in range(draw(small)):
        s.links.add(
            trace_id=draw(ids16),
            span_id=draw(ids8),
            trace_state=draw(text),
            attributes=draw(attributes),
            dropped_attributes_count=draw(u32),
            flags=draw(u32),
        )
    if draw(st.booleans()):
        s.status.CopyFrom(Status(message=draw(text), code=draw(st.integers(0, 2))))
    return s


@st.composite
def log_records(draw: st.DrawFn) -> LogRecord:
    return LogRecord(
        time_unix_nano=draw(u64),
        observed_time_unix_nano=draw(u64),
        severity_number=draw(st.one_of(st.integers(0, 24), i32)),
        severity_text=draw(text),
        body=draw(any_values(2)),
        attributes=draw(attributes),
        dropped_attributes_count=draw(u32),
        flags=draw(u32),
        trace_id=draw(st.one_of(st.just(b""), ids16)),
        span_id=draw(st.one_of(st.just(b""), ids8)),
        event_name=draw(text),
    )


@st.composite
def exemplars(draw: st.DrawFn) -> pb_metrics.Exemplar:
    e = pb_metrics.Exemplar(
        filtered_attributes=draw(attributes),
        time_unix_nano=draw(u64),
    )
    if draw(st.booleans()):
        e.as_double = draw(doubles)
    else:
        e.as_int = draw(i64)
    if draw(st.booleans()):
        e.trace_id = draw(ids16)
        e.span_id = draw(ids8)
    return e


@st.composite
def number_points(draw: st.DrawFn, with_start: bool) -> pb_metrics.NumberDataPoint:
    p = pb_metrics.NumberDataPoint(
        attributes=draw(attributes),
        start_time_unix_nano=draw(u64) if with_start else 0,
        time_unix_nano=draw(u64),
        exemplars=draw(st.lists(exemplars(), max_size=2)),
        flags=draw(u32),
    )
    if draw(st.booleans()):
        p.as_double = draw(doubles)
    else:
        p.as_int = draw(i64)
    return p


optional_doubles = st.one_of(st.none(), doubles)


@st.composite
def histogram_points(draw: st.DrawFn) -> pb_metrics.HistogramDataPoint:
    p = pb_metrics.HistogramDataPoint(
        attributes=draw(attributes),
        start_time_unix_nano=draw(u64),
        time_unix_nano=draw(u64),
        count=draw(u64),
        bucket_counts=draw(st.lists(u64, max_size=4)),
        explicit_bounds=draw(st.lists(doubles, max_size=4)),
        exemplars=draw(st.lists(exemplars(), max_size=2)),
        flags=draw(u32),
    )
    for name in ("sum", "min", "max"):
        v = draw(optional_doubles)
        if v is not None:
            setattr(p, name, v)
    return p


@st.composite
def exp_points(draw: st.DrawFn) -> pb_metrics.ExponentialHistogramDataPoint:
    p = pb_metrics.ExponentialHistogramDataPoint(
        attributes=draw(attributes),
        start_time_unix_nano=draw(u64),
        time_unix_nano=draw(u64),
        count=draw(u64),
        scale=draw(i32),
        zero_count=draw(u64),
        flags=draw(u32),
        exemplars=draw(st.lists(exemplars(), max_size=2)),
        zero_threshold=draw(doubles),
    )
    for name in ("sum", "min", "max"):
        v = draw(optional_doubles)
        if v is not None:
            setattr(p, name, v)
    for name in ("positive", "negative"):
        if draw(st.booleans()):
            getattr(p, name).CopyFrom(
                pb_metrics.ExponentialHistogramDataPoint.Buckets(
                    offset=draw(i32), bucket_counts=draw(st.lists(u64, max_size=4))
                )
            )
    return p


@st.composite
def summary_points(draw: st.DrawFn) -> pb_metrics.SummaryDataPoint:
    return pb_metrics.SummaryDataPoint(
        attributes=draw(attributes),
        start_time_unix_nano=draw(u64),
        time_unix_nano=draw(u64),
        count=draw(u64),
        sum=draw(doubles),
        quantile_values=[
            pb_metrics.SummaryDataPoint.ValueAtQuantile(quantile=q, value=v)
            for q, v in draw(st.lists(st.tuples(doubles, doubles), max_size=3))
        ],
        flags=draw(u32),
    )


temporalities = st.one_of(st.integers(0, 2), i32)


@st.composite
def metrics(draw: st.DrawFn) -> pb_metrics.Metric:
    m = pb_metrics.Metric(name=draw(text), description=draw(text), unit=draw(text), metadata=draw(attributes))
    kind = draw(st.sampled_from(["none", "gauge", "sum", "histogram", "exp", "summary"]))
    if kind == "gauge":
        m.gauge.SetInParent()
        m.gauge.data_points.extend(draw(st.lists(number_points(with_start=False), max_size=3)))
    elif kind == "sum":
        m.sum.SetInParent()
        m.sum.data_points.extend(draw(st.lists(number_points(with_start=True), max_size=3)))
        m.sum.aggregation_temporality = draw(temporalities)
        m.sum.is_monotonic = draw(st.booleans())
    elif kind == "histogram":
        m.histogram.SetInParent()
        m.histogram.data_points.extend(draw(st.lists(histogram_points(), max_size=3)))
        m.histogram.aggregation_temporality = draw(temporalities)
    elif kind == "exp":
        m.exponential_histogram.SetInParent()
        m.exponential_histogram.data_points.extend(draw(st.lists(exp_points(), max_size=3)))
        m.exponential_histogram.aggregation_temporality = draw(temporalities)
    elif kind == "summary":
        m.summary.SetInParent()
        m.summary.data_points.extend(draw(st.lists(summary_points(), max_size=3)))
    return m


schema_urls = st.one_of(st.just(""), text)


@st.composite
def trace_requests(draw: st.DrawFn) -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=draw(resources),
                schema_url=draw(schema_urls),
                scope_spans=[
                    ScopeSpans(
                        scope=draw(scopes),
                        schema_url=draw(schema_urls),
                        spans=draw(st.lists(spans(), min_size=1, max_size=3)),
                    )
                    for _ in range(draw(st.integers(1, 2)))
                ],
            )
            for _ in range(draw(st.integers(0, 2)))
        ]
    )


@st.composite
def logs_requests(draw: st.DrawFn) -> ExportLogsServiceRequest:
    return ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(
                resource=draw(resources),
                schema_url=draw(schema_urls),
                scope_logs=[
                    ScopeLogs(
                        scope=draw(scopes),
                        schema_url=draw(schema_urls),
                        log_records=draw(st.lists(log_records(), min_size=1, max_size=3)),
                    )
                    for _ in range(draw(st.integers(1, 2)))
                ],
            )
            for _ in range(draw(st.integers(0, 2)))
        ]
    )


@st.composite
def metrics_requests(draw: st.DrawFn) -> ExportMetricsServiceRequest:
    return ExportMetricsServiceRequest(
        resource_metrics=[
            pb_metrics.ResourceMetrics(
                resource=draw(resources),
                schema_url=draw(schema_urls),
                scope_metrics=[
                    pb_metrics.ScopeMetrics(
                        scope=draw(scopes),
                        schema_url=draw(schema_urls),
                        metrics=draw(st.lists(metrics(), min_size=1, max_size=3)),
                    )
                    for _ in range(draw(st.integers(1, 2)))
                ],
            )
            for _ in range(draw(st.integers(0, 2)))
        ]
    )


REQUESTS: dict[Signal, st.SearchStrategy[Any]] = {
    "traces": trace_requests(),
    "metrics": metrics_requests(),
    "logs": logs_requests(),
}
MESSAGES: dict[Signal, type[Message]] = {
    "traces": ExportTraceServiceRequest,
    "metrics": ExportMetricsServiceRequest,
    "logs": ExportLogsServiceRequest,
}
SIGNALS: list[Signal] = ["traces", "metrics", "logs"]


def canonical_nans(message: Message) -> Message:
    """`message` with every NaN the one NaN JSON can carry (its payload and sign are lost)."""
    for field, value in message.ListFields():
        if field.message_type is not None:
            for m in value if field.is_repeated else [value]:
                canonical_nans(m)
        elif field.type in (field.TYPE_DOUBLE, field.TYPE_FLOAT):
            if field.is_repeated:
                value[:] = [math.nan if math.isnan(v) else v for v in value]
            elif math.isnan(value):
                setattr(message, field.name, math.nan)
    return message


def check_same(signal: Signal, got: bytes, want: bytes) -> None:
    """Equal bytes; on failure, show the parsed messages (a readable difference)."""
    if got != want:
        message = MESSAGES[signal]
        assert message.FromString(got) == message.FromString(want)  # shows the difference
        assert got == want  # same messages, different bytes: order or encoding


@pytest.mark.parametrize("signal", SIGNALS)
def test_protobuf_decodes_and_reencodes_to_the_same_bytes(signal: Signal) -> None:
    @settings(max_examples=150)
    @given(REQUESTS[signal])
    def run(request: Message) -> None:
        wire = request.SerializeToString()
        check_same(signal, _native._decode(signal, wire), wire)

    run()


@pytest.mark.parametrize("signal", SIGNALS)
def test_otlp_json_decodes_to_the_same_request(signal: Signal) -> None:
    @settings(max_examples=100)
    @given(REQUESTS[signal], st.booleans(), st.booleans())
    def run(request: Message, int_enums: bool, proto_names: bool) -> None:
        wire = canonical_nans(request).SerializeToString()
        # protobuf's own JSON printer: ids as base64, enums by name unless asked,
        # keys as in the .proto when asked.
        printed = json_format.MessageToJson(
            request, use_integers_for_enums=int_enums, preserving_proto_field_name=proto_names
        )
        check_same(signal, _native._decode(signal, printed.encode(), "json"), wire)
        # otlp's own OTLP/JSON (hex ids, integer enums) reads back the same too.
        ours = _native._decode_json(signal, wire)
        check_same(signal, _native._decode(signal, ours, "json"), wire)

    run()


def _no_empty_groups(data: Any) -> bool:
    # A resource or scope with no metrics has no place in the decoded model.
    return all(
        rm.scope_metrics and all(sm.metrics for sm in rm.scope_metrics) for rm in data.resource_metrics
    )


SDK_BATCHES: dict[Signal, tuple[st.SearchStrategy[Any], Any]] = {
    "traces": (S.span_batches(), encode_spans),
    "metrics": (
        SM.metrics_data(with_exemplars=True, max_resources=2, max_scopes=2).filter(_no_empty_groups),
        encode_metrics,
    ),
    "logs": (SL.log_batches(), encode_logs),
}


@pytest.mark.parametrize("signal", SIGNALS)
def test_what_the_sdk_exporters_send_decodes_to_the_same_request(signal: Signal) -> None:
    """What otlp.sdk's encoders write (byte-identical to the official exporters')
    decodes back to the same protobuf, and to the same OTLP/JSON as otlp writes."""
    batches, encode = SDK_BATCHES[signal]

    @settings(max_examples=60)
    @given(batches)
    def run(batch: Any) -> None:
        wire = encode(batch)
        as_json = encode(batch, "json")
        check_same(signal, _native._decode(signal, wire), wire)
        assert _native._decode_json(signal, wire) == as_json
        assert _native._decode_json(signal, as_json, "json") == as_json

    run()


def test_unknown_fields_are_skipped() -> None:
    span = Span(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name="op")
    request = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(), scope_spans=[ScopeSpans(scope=InstrumentationScope(), spans=[span])]
            )
        ]
    )
    wire = request.SerializeToString()
    # Field 99 of each wire type, inside the span and at the top level.
    unknown = bytes([0x98, 0x06, 0x05, 0x99, 0x06]) + bytes(8) + bytes([0x9A, 0x06, 0x02]) + b"xy"
    unknown += bytes([0x9D, 0x06]) + bytes(4)
    span_bytes = span.SerializeToString() + unknown
    patched = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(resource=Resource(), scope_spans=[ScopeSpans(scope=InstrumentationScope())])
        ]
    )
    # Build the request around the raw span so the unknown fields reach the decoder.
    scope_spans = patched.resource_spans[0].scope_spans[0]
    scope_spans.spans.add().MergeFromString(span_bytes)
    body = patched.SerializeToString() + unknown
    assert len(body) == len(wire) + 2 * len(unknown)  # protobuf kept the span's unknown fields
    assert _native._decode("traces", body) == wire
    # And in OTLP/JSON.
    as_json = _native._decode_json("traces", wire).replace(
        b'"name":"op"', b'"name":"op","zzz":[1,{"a":null}]'
    )
    assert b"zzz" in as_json
    assert _native._decode("traces", as_json, "json") == wire


def test_otlp_json_fixture_of_the_specification() -> None:
    # The shape of opentelemetry-proto's examples/trace.json (hex ids, string int64s).
    body = b"""{"resourceSpans": [{"resource": {"attributes": [{"key": "service.name",
      "value": {"stringValue": "my.service"}}]}, "scopeSpans": [{"scope": {"name": "my.library",
      "version": "1.0.0", "attributes": [{"key": "my.scope.attribute", "value": {"stringValue":
      "some scope attribute"}}]}, "spans": [{"traceId": "5B8EFFF798038103D269B633813FC60C",
      "spanId": "EEE19B7EC3C1B174", "parentSpanId": "EEE19B7EC3C1B173", "name": "I'm a server span",
      "startTimeUnixNano": "1544712660000000000", "endTimeUnixNano": 1544712661000000000,
      "kind": 2, "attributes": [{"key": "my.span.attr", "value": {"stringValue": "some value"}}],
      "status": {"code": "STATUS_CODE_OK"}}]}]}]}"""
    got = ExportTraceServiceRequest.FromString(_native._decode("traces", body, "json"))
    span = got.resource_spans[0].scope_spans[0].spans[0]
    assert span.trace_id.hex() == "5b8efff798038103d269b633813fc60c"
    assert span.parent_span_id.hex() == "eee19b7ec3c1b173"
    assert span.end_time_unix_nano == 1544712661000000000
    assert span.kind == Span.SPAN_KIND_SERVER
    assert span.status.code == Status.STATUS_CODE_OK
    assert (
        got.resource_spans[0].scope_spans[0].scope.attributes[0].value.string_value == "some scope attribute"
    )


def test_bad_arguments_name_the_choices() -> None:
    with pytest.raises(ValueError, match="`signal` must be one of 'traces', 'metrics', 'logs'"):
        _native._decode("spans", b"")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="`format` must be one of 'protobuf', 'json'"):
        _native._decode("traces", b"", "xml")  # type: ignore[arg-type]


# --- hostile input ------------------------------------------------------------------


def test_nesting_is_bounded() -> None:
    def body(depth: int) -> bytes:
        # Serialised by hand: protobuf's own parser stops at 100 levels.
        inner = AnyValue(int_value=1).SerializeToString()
        for _ in range(depth):
            array = b"\x0a" + _varint(len(inner)) + inner
            inner = b"\x2a" + _varint(len(array)) + array
        log = b"\x2a" + _varint(len(inner)) + inner
        scope_logs = b"\x12" + _varint(len(log)) + log
        resource_logs = b"\x12" + _varint(len(scope_logs)) + scope_logs
        return b"\x0a" + _varint(len(resource_logs)) + resource_logs

    assert _native._decode("logs", body(64))
    with pytest.raises(ValueError, match="nested deeper than 64"):
        _native._decode("logs", body(65))
    with pytest.raises(ValueError, match="nested deeper than 64"):
        _native._decode("logs", body(100_000))
    deep_json = (
        b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":' + b'{"arrayValue":{"values":[' * 100_000
    )
    with pytest.raises(ValueError, match="nested deeper"):
        _native._decode("logs", deep_json, "json")


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def test_memory_is_bounded_by_the_body_size() -> None:
    # A span that is two bytes on the wire is hundreds in memory: a body of nothing
    # else is refused instead of making the decoder allocate ~150 times its size.
    spans = b"\x12\x00" * (4 << 20)
    scope_spans = b"\x12" + _varint(len(spans)) + spans
    body = b"\x0a" + _varint(len(scope_spans)) + scope_spans
    with pytest.raises(ValueError, match=r"more than \d+ bytes of memory"):
        _native._decode("traces", body)
    json_spans = b"{}," * (2 << 20) + b"{}"
    json_body = b'{"resourceSpans":[{"scopeSpans":[{"spans":[' + json_spans + b"]}]}]}"
    with pytest.raises(ValueError, match=r"more than \d+ bytes of memory"):
        _native._decode("traces", json_body, "json")


@pytest.mark.parametrize("signal", SIGNALS)
def test_truncated_mutated_and_random_bodies_give_a_clean_error(signal: Signal) -> None:
    """A bounded fuzz run: every input decodes or raises ValueError; nothing else."""
    outcomes = {"decoded": 0, "refused": 0}

    def attempt(body: bytes, fmt: Literal["protobuf", "json"]) -> None:
        try:
            _native._decode(signal, body, fmt)
            _native._decode_json(signal, body, fmt)
            outcomes["decoded"] += 1
        except ValueError:
            outcomes["refused"] += 1

    @settings(max_examples=40)
    @given(REQUESTS[signal], st.randoms(use_true_random=False), st.binary(max_size=300))
    def run(request: Message, rng: random.Random, noise: bytes) -> None:
        wire = request.SerializeToString()
        as_json = _native._decode_json(signal, wire)
        bases: list[tuple[bytes, Literal["protobuf", "json"]]] = [(wire, "protobuf"), (as_json, "json")]
        for base, fmt in bases:
            for _ in range(10):
                attempt(base[: rng.randrange(len(base) + 1)], fmt)
            for _ in range(10):
                mutated = bytearray(base)
                for _ in range(rng.randint(1, 4)):
                    if mutated:
                        mutated[rng.randrange(len(mutated))] = rng.randrange(256)
                attempt(bytes(mutated), fmt)
            attempt(noise, fmt)
            attempt(base + noise, fmt)

    run()
    # The run exercised both outcomes (else it proved little).
    assert outcomes["decoded"] > 0 and outcomes["refused"] > 0, outcomes
