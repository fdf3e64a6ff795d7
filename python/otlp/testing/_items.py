"""What the test receiver collects: plain, typed Python objects read from the decoded
requests (OTLP/JSON as otlp's own decoder writes it), with no protobuf dependency."""

from __future__ import annotations

import base64
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Optional, Union

#: An attribute value or log body: str, bool, int, float, bytes, and lists and dicts of them.
Value = Union[str, bool, int, float, bytes, None, list["Value"], dict[str, "Value"]]

_KINDS = ("UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")
_STATUS = ("UNSET", "OK", "ERROR")
_TEMPORALITY = ("UNSPECIFIED", "DELTA", "CUMULATIVE")


@dataclass(frozen=True)
class Event:
    """A span event."""

    name: str
    time_unix_nano: int
    attributes: dict[str, Value] = field(default_factory=dict)


@dataclass(frozen=True)
class Link:
    """A link from a span to another span's context."""

    trace_id: str
    span_id: str
    attributes: dict[str, Value] = field(default_factory=dict)


@dataclass(frozen=True)
class Span:
    """A span as the collector received it. Ids are lower-case hex strings."""

    name: str
    trace_id: str
    span_id: str
    parent_span_id: Optional[str]
    kind: str
    start_time_unix_nano: int
    end_time_unix_nano: int
    attributes: dict[str, Value]
    events: tuple[Event, ...]
    links: tuple[Link, ...]
    status_code: str
    status_message: str
    resource: dict[str, Value]
    scope_name: str
    scope_version: Optional[str]

    @property
    def duration_ns(self) -> int:
        """End minus start, in nanoseconds."""
        return self.end_time_unix_nano - self.start_time_unix_nano


@dataclass(frozen=True)
class MetricPoint:
    """One data point of a metric, with its metric's name, unit and kind (``"sum"``,
    ``"gauge"``, ``"histogram"``, ``"exponential_histogram"`` or ``"summary"``).
    ``value`` is a sum's or gauge's value; histograms have ``count``, ``sum``,
    ``bucket_counts`` and ``explicit_bounds``."""

    name: str
    kind: str
    unit: str
    description: str
    attributes: dict[str, Value]
    time_unix_nano: int
    start_time_unix_nano: int
    value: Union[int, float, None] = None
    count: Optional[int] = None
    sum: Optional[float] = None
    min: Optional[float] = None
    max: Optional[float] = None
    bucket_counts: tuple[int, ...] = ()
    explicit_bounds: tuple[float, ...] = ()
    temporality: str = "UNSPECIFIED"
    is_monotonic: bool = False
    resource: dict[str, Value] = field(default_factory=dict)
    scope_name: str = ""


@dataclass(frozen=True)
class LogRecord:
    """A log record as the collector received it (ids: hex strings, or None)."""

    body: Value
    severity_number: int
    severity_text: str
    attributes: dict[str, Value]
    time_unix_nano: int
    observed_time_unix_nano: int
    trace_id: Optional[str]
    span_id: Optional[str]
    event_name: str
    resource: dict[str, Value]
    scope_name: str


def _int(v: Any) -> int:
    return int(v) if v not in (None, "") else 0


def _float(v: Any) -> float:
    if isinstance(v, str):  # "NaN", "Infinity", "-Infinity"
        return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}.get(v, math.nan)
    return float(v) if v is not None else 0.0


def _hex(v: Optional[str]) -> Optional[str]:
    return v.lower() if v and v.strip("0") else None


def value_of(v: Optional[Mapping[str, Any]]) -> Value:
    """An OTLP/JSON ``AnyValue`` as a Python value."""
    if not v:
        return None
    if "stringValue" in v:
        return str(v["stringValue"])
    if "boolValue" in v:
        return bool(v["boolValue"])
    if "intValue" in v:
        return int(v["intValue"])
    if "doubleValue" in v:
        return _float(v["doubleValue"])
    if "bytesValue" in v:
        return base64.b64decode(v["bytesValue"])
    if "arrayValue" in v:
        return [value_of(x) for x in (v["arrayValue"] or {}).get("values", [])]
    if "kvlistValue" in v:
        return attributes_of((v["kvlistValue"] or {}).get("values", []))
    return None


def attributes_of(kvs: Optional[list[Mapping[str, Any]]]) -> dict[str, Value]:
    return {kv["key"]: value_of(kv.get("value")) for kv in kvs or []}


def _groups(
    doc: Mapping[str, Any], top: str, scoped: str, items: str
) -> Iterator[tuple[dict[str, Value], str, Optional[str], Any]]:
    for r in doc.get(top, []):
        resource = attributes_of((r.get("resource") or {}).get("attributes"))
        for s in r.get(scoped, []):
            scope = s.get("scope") or {}
            for item in s.get(items, []):
                yield resource, scope.get("name", ""), scope.get("version") or None, item


def spans_of(doc: Mapping[str, Any]) -> list[Span]:
    """The spans of an OTLP/JSON ``ExportTraceServiceRequest``."""
    out = []
    for resource, scope, version, s in _groups(doc, "resourceSpans", "scopeSpans", "spans"):
        status = s.get("status") or {}
        out.append(
            Span(
                name=s.get("name", ""),
                trace_id=_hex(s.get("traceId")) or "",
                span_id=_hex(s.get("spanId")) or "",
                parent_span_id=_hex(s.get("parentSpanId")),
                kind=_KINDS[_int(s.get("kind"))] if _int(s.get("kind")) < len(_KINDS) else "UNSPECIFIED",
                start_time_unix_nano=_int(s.get("startTimeUnixNano")),
                end_time_unix_nano=_int(s.get("endTimeUnixNano")),
                attributes=attributes_of(s.get("attributes")),
                events=tuple(
                    Event(e.get("name", ""), _int(e.get("timeUnixNano")), attributes_of(e.get("attributes")))
                    for e in s.get("events", [])
                ),
                links=tuple(
                    Link(
                        _hex(x.get("traceId")) or "",
                        _hex(x.get("spanId")) or "",
                        attributes_of(x.get("attributes")),
                    )
                    for x in s.get("links", [])
                ),
                status_code=_STATUS[_int(status.get("code"))] if _int(status.get("code")) < 3 else "UNSET",
                status_message=status.get("message", ""),
                resource=resource,
                scope_name=scope,
                scope_version=version,
            )
        )
    return out


def metric_points_of(doc: Mapping[str, Any]) -> list[MetricPoint]:
    """The data points of an OTLP/JSON ``ExportMetricsServiceRequest``."""
    out = []
    for resource, scope, _version, m in _groups(doc, "resourceMetrics", "scopeMetrics", "metrics"):
        for kind, key in (
            ("sum", "sum"),
            ("gauge", "gauge"),
            ("histogram", "histogram"),
            ("exponential_histogram", "exponentialHistogram"),
            ("summary", "summary"),
        ):
            data = m.get(key)
            if data is None:
                continue
            temporality = _TEMPORALITY[_int(data.get("aggregationTemporality"))]
            for p in data.get("dataPoints", []):
                common: dict[str, Any] = {
                    "name": m.get("name", ""),
                    "kind": kind,
                    "unit": m.get("unit", ""),
                    "description": m.get("description", ""),
                    "attributes": attributes_of(p.get("attributes")),
                    "time_unix_nano": _int(p.get("timeUnixNano")),
                    "start_time_unix_nano": _int(p.get("startTimeUnixNano")),
                    "temporality": temporality,
                    "is_monotonic": bool(data.get("isMonotonic", False)),
                    "resource": resource,
                    "scope_name": scope,
                }
                if kind in ("sum", "gauge"):
                    value: Union[int, float, None] = (
                        int(p["asInt"])
                        if "asInt" in p
                        else _float(p["asDouble"])
                        if "asDouble" in p
                        else None
                    )
                    out.append(MetricPoint(**common, value=value))
                else:
                    out.append(
                        MetricPoint(
                            **common,
                            count=_int(p.get("count")),
                            sum=_float(p["sum"]) if "sum" in p else None,
                            min=_float(p["min"]) if "min" in p else None,
                            max=_float(p["max"]) if "max" in p else None,
                            bucket_counts=tuple(_int(c) for c in p.get("bucketCounts", [])),
                            explicit_bounds=tuple(_float(b) for b in p.get("explicitBounds", [])),
                        )
                    )
    return out


def log_records_of(doc: Mapping[str, Any]) -> list[LogRecord]:
    """The log records of an OTLP/JSON ``ExportLogsServiceRequest``."""
    return [
        LogRecord(
            body=value_of(r.get("body")),
            severity_number=_int(r.get("severityNumber")),
            severity_text=r.get("severityText", ""),
            attributes=attributes_of(r.get("attributes")),
            time_unix_nano=_int(r.get("timeUnixNano")),
            observed_time_unix_nano=_int(r.get("observedTimeUnixNano")),
            trace_id=_hex(r.get("traceId")),
            span_id=_hex(r.get("spanId")),
            event_name=r.get("eventName", ""),
            resource=resource,
            scope_name=scope,
        )
        for resource, scope, _version, r in _groups(doc, "resourceLogs", "scopeLogs", "logRecords")
    ]
