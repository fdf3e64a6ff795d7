"""``otlp.testing.Receiver`` yields exactly what was sent.

Requests of all three signals are generated with the official ``opentelemetry-proto``
classes (``strategies_requests``: every value type, zero and default values, NaN and
infinities, empty strings, nesting) and sent to a Receiver over OTLP/gRPC (plain and
gzip) and OTLP/HTTP on HTTP/1.1 (protobuf plain, gzip and zstd; JSON as protobuf's own
printer writes it). Each arrival must give back the request:

* ``Receiver.requests()`` as OTLP/JSON documents that read back to the same message,
  field for field;
* the typed items (spans, metric points, log records) equal to what this file derives
  from the protobuf message by itself, every field, with ints and floats kept apart.
"""

from __future__ import annotations

import dataclasses
import gzip
import http.client
import math
from collections.abc import Callable, Iterator
from typing import Any, Optional
from urllib.parse import urlsplit

import grpc
import pytest
import zstandard
from google.protobuf import json_format
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope

from otlp.testing import Buckets, Event, Exemplar, Link, LogRecord, MetricPoint, Receiver, Scope, Span

try:
    import otlp_json_reader as reader
    from strategies_requests import MESSAGES, REQUESTS, SIGNALS, Signal
except ImportError:  # tests/ is a package
    from tests import otlp_json_reader as reader
    from tests.strategies_requests import MESSAGES, REQUESTS, SIGNALS, Signal

GRPC_METHODS: dict[Signal, str] = {
    "traces": "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    "metrics": "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    "logs": "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
}


# --- what the items must be, derived from the protobuf message alone -------------------


def value(v: AnyValue) -> Any:
    which = v.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return attributes(v.kvlist_value.values)
    return getattr(v, which)


def attributes(kvs: Any) -> dict[str, Any]:
    return {kv.key: value(kv.value) for kv in kvs}


def hex_or_none(b: bytes) -> Optional[str]:
    return b.hex() if b else None


def enum_name(names: tuple[str, ...], v: int) -> str:
    return names[v] if 0 <= v < len(names) else str(v)


def groups(request: Message, signal: Signal) -> Iterator[tuple[dict[str, Any], Any]]:
    top, scoped, items = {
        "traces": ("resource_spans", "scope_spans", "spans"),
        "metrics": ("resource_metrics", "scope_metrics", "metrics"),
        "logs": ("resource_logs", "scope_logs", "log_records"),
    }[signal]
    for r in getattr(request, top):
        for s in getattr(r, scoped):
            sc: InstrumentationScope = s.scope
            group = {
                "resource": attributes(r.resource.attributes),
                "resource_dropped_attributes_count": r.resource.dropped_attributes_count,
                "resource_schema_url": r.schema_url,
                "scope": Scope(
                    sc.name,
                    sc.version or None,
                    attributes(sc.attributes),
                    sc.dropped_attributes_count,
                    s.schema_url,
                ),
            }
            for item in getattr(s, items):
                yield group, item


def expected_spans(request: Message) -> list[Span]:
    kinds = ("UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")
    return [
        Span(
            name=s.name,
            trace_id=s.trace_id.hex(),
            span_id=s.span_id.hex(),
            parent_span_id=hex_or_none(s.parent_span_id),
            kind=enum_name(kinds, s.kind),
            start_time_unix_nano=s.start_time_unix_nano,
            end_time_unix_nano=s.end_time_unix_nano,
            attributes=attributes(s.attributes),
            events=tuple(
                Event(e.name, e.time_unix_nano, attributes(e.attributes), e.dropped_attributes_count)
                for e in s.events
            ),
            links=tuple(
                Link(
                    x.trace_id.hex(),
                    x.span_id.hex(),
                    attributes(x.attributes),
                    x.trace_state,
                    x.flags,
                    x.dropped_attributes_count,
                )
                for x in s.links
            ),
            status_code=enum_name(("UNSET", "OK", "ERROR"), s.status.code),
            status_message=s.status.message,
            trace_state=s.trace_state,
            flags=s.flags,
            dropped_attributes_count=s.dropped_attributes_count,
            dropped_events_count=s.dropped_events_count,
            dropped_links_count=s.dropped_links_count,
            **group,
        )
        for group, s in groups(request, "traces")
    ]


def number(p: Any) -> Any:
    which = p.WhichOneof("value")
    return None if which is None else getattr(p, which)


def optional(p: Any, name: str) -> Optional[float]:
    return getattr(p, name) if p.HasField(name) else None


def buckets(p: Any, name: str) -> Optional[Buckets]:
    if not p.HasField(name):
        return None
    b = getattr(p, name)
    return Buckets(b.offset, tuple(b.bucket_counts))


def expected_points(request: Message) -> list[MetricPoint]:
    temporalities = ("UNSPECIFIED", "DELTA", "CUMULATIVE")
    out = []
    for group, m in groups(request, "metrics"):
        which = m.WhichOneof("data")
        if which is None:
            continue
        data = getattr(m, which)
        kind = {"exponential_histogram": "exponential_histogram"}.get(which, which)
        for p in data.data_points:
            common: dict[str, Any] = {
                "name": m.name,
                "kind": kind,
                "unit": m.unit,
                "description": m.description,
                "metadata": attributes(m.metadata),
                "attributes": attributes(p.attributes),
                "time_unix_nano": p.time_unix_nano,
                "start_time_unix_nano": p.start_time_unix_nano,
                "temporality": enum_name(temporalities, getattr(data, "aggregation_temporality", 0)),
                "is_monotonic": getattr(data, "is_monotonic", False),
                "flags": p.flags,
                "exemplars": tuple(
                    Exemplar(
                        e.time_unix_nano,
                        number(e),
                        attributes(e.filtered_attributes),
                        hex_or_none(e.trace_id),
                        hex_or_none(e.span_id),
                    )
                    for e in getattr(p, "exemplars", ())
                ),
                **group,
            }
            if which in ("sum", "gauge"):
                out.append(MetricPoint(**common, value=number(p)))
            elif which == "summary":
                quantiles = tuple((q.quantile, q.value) for q in p.quantile_values)
                out.append(MetricPoint(**common, count=p.count, sum=p.sum, quantile_values=quantiles))
            else:
                extra: dict[str, Any] = {}
                if which == "histogram":
                    extra = {
                        "bucket_counts": tuple(p.bucket_counts),
                        "explicit_bounds": tuple(p.explicit_bounds),
                    }
                else:
                    extra = {
                        "scale": p.scale,
                        "zero_count": p.zero_count,
                        "zero_threshold": p.zero_threshold,
                        "positive": buckets(p, "positive"),
                        "negative": buckets(p, "negative"),
                    }
                out.append(
                    MetricPoint(
                        **common,
                        count=p.count,
                        sum=optional(p, "sum"),
                        min=optional(p, "min"),
                        max=optional(p, "max"),
                        **extra,
                    )
                )
    return out


def expected_logs(request: Message) -> list[LogRecord]:
    return [
        LogRecord(
            body=value(r.body),
            severity_number=r.severity_number,
            severity_text=r.severity_text,
            attributes=attributes(r.attributes),
            time_unix_nano=r.time_unix_nano,
            observed_time_unix_nano=r.observed_time_unix_nano,
            trace_id=hex_or_none(r.trace_id),
            span_id=hex_or_none(r.span_id),
            event_name=r.event_name,
            flags=r.flags,
            dropped_attributes_count=r.dropped_attributes_count,
            **group,
        )
        for group, r in groups(request, "logs")
    ]


def plain(x: Any) -> Any:
    """`x` with dataclasses as dicts and every number tagged with its type (so 1 and
    1.0, or True and 1, differ) and NaN comparable."""
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return {"": type(x).__name__} | {f.name: plain(getattr(x, f.name)) for f in dataclasses.fields(x)}
    if isinstance(x, bool):
        return ("bool", x)
    if isinstance(x, int):
        return ("int", x)
    if isinstance(x, float):
        return ("float", "nan" if math.isnan(x) else repr(x))
    if isinstance(x, dict):
        return {k: plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [plain(v) for v in x]
    return x


EXPECTED: dict[Signal, Callable[[Message], list[Any]]] = {
    "traces": expected_spans,
    "metrics": expected_points,
    "logs": expected_logs,
}


def items(rx: Receiver, signal: Signal) -> list[Any]:
    if signal == "traces":
        return list(rx.spans())
    if signal == "metrics":
        return list(rx.metric_points())
    return list(rx.log_records())


# --- the ways in -------------------------------------------------------------------


def send_grpc(rx: Receiver, signal: Signal, request: Message, compression: grpc.Compression) -> None:
    target = urlsplit(rx.endpoint).netloc
    with grpc.insecure_channel(target, compression=compression) as channel:
        export = channel.unary_unary(GRPC_METHODS[signal])  # bytes in, bytes out
        export(request.SerializeToString(), timeout=10)


def send_http(rx: Receiver, signal: Signal, request: Message, fmt: str, encoding: str) -> None:
    assert rx.http_endpoint is not None
    url = urlsplit(rx.http_endpoint)
    if fmt == "json":
        body, content_type = json_format.MessageToJson(request).encode(), "application/json"
    else:
        body, content_type = request.SerializeToString(), "application/x-protobuf"
    headers = {"Content-Type": content_type}
    if encoding == "gzip":
        body = gzip.compress(body)
    elif encoding == "zstd":
        body = zstandard.ZstdCompressor().compress(body)
    if encoding != "none":
        headers["Content-Encoding"] = encoding
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        conn.request("POST", f"/v1/{signal}", body=body, headers=headers)
        response = conn.getresponse()
        answer = response.read()
        assert response.status == 200, (response.status, answer[:200])
    finally:
        conn.close()


TRANSPORTS: dict[str, Callable[[Receiver, Signal, Message], None]] = {
    "grpc": lambda rx, s, r: send_grpc(rx, s, r, grpc.Compression.NoCompression),
    "grpc+gzip": lambda rx, s, r: send_grpc(rx, s, r, grpc.Compression.Gzip),
    "http/protobuf": lambda rx, s, r: send_http(rx, s, r, "protobuf", "none"),
    "http/protobuf+gzip": lambda rx, s, r: send_http(rx, s, r, "protobuf", "gzip"),
    "http/protobuf+zstd": lambda rx, s, r: send_http(rx, s, r, "protobuf", "zstd"),
    "http/json": lambda rx, s, r: send_http(rx, s, r, "json", "none"),
}


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver() as rx:
        yield rx


@pytest.mark.parametrize("signal", SIGNALS)
def test_the_receiver_yields_exactly_what_was_sent(receiver: Receiver, signal: Signal) -> None:
    rx = receiver

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(REQUESTS[signal])
    def run(request: Message) -> None:
        want_message = reader.canonical_bytes(request)
        want_items = plain(EXPECTED[signal](request))
        for transport, send in TRANSPORTS.items():
            rx.clear()
            send(rx, signal, request)
            (doc,) = rx.requests(signal)
            got = reader.read(doc, MESSAGES[signal])
            assert reader.canonical_bytes(got) == want_message, transport
            assert plain(items(rx, signal)) == want_items, transport

    run()
    assert rx.counts()["requests"] > 0
