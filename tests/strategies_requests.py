"""Hypothesis strategies for OTLP requests of all three signals, built with the
official ``opentelemetry-proto`` classes.

The messages stay within what otlp's model holds and its encoder writes back the same
way (see ``decode/request/mod.rs``): resources and scopes are always set and never
empty of items, trace and span ids have their full length, a data point always has a
value, an exemplar has both ids or neither, span kinds and status codes are in their
enums; ``Resource.entity_refs`` and a gauge point's start time are left out. Everything
else varies: every value type, zero and default values, NaN and infinities, empty
strings, nesting.
"""

from __future__ import annotations

from typing import Any, Literal

from google.protobuf.message import Message
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
