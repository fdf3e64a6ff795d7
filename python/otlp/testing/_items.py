"""What the test receiver collects: plain, typed Python objects read from the decoded
requests (OTLP/JSON as otlp's own decoder writes it), with no protobuf dependency.

Every field of the OTLP messages has a place: an item carries its own fields, its
:class:`Scope` and its resource (the attributes as a dict, plus the resource's
dropped count and schema URL)."""

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
class Scope:
    """The instrumentation scope an item was reported under, and its scope group's
    schema URL."""

    name: str = ""
    version: Optional[str] = None
    attributes: dict[str, Value] = field(default_factory=dict)
    dropped_attributes_count: int = 0
    schema_url: str = ""


@dataclass(frozen=True)
class Event:
    """A span event."""

    name: str
    time_unix_nano: int
    attributes: dict[str, Value] = field(default_factory=dict)
    dropped_attributes_count: int = 0


@dataclass(frozen=True)
class Link:
    """A link from a span to another span's context."""

    trace_id: str
    span_id: str
    attributes: dict[str, Value] = field(default_factory=dict)
    trace_state: str = ""
    flags: int = 0
    dropped_attributes_count: int = 0


@dataclass(frozen=True)
class Span:
    """A span as the collector received it. Ids are lower-case hex strings; ``kind`` and
    ``status_code`` are the enum names (``"SERVER"``, ``"ERROR"``; a number the enum
    does not know stays a number, as a string)."""

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
    scope: Scope
    trace_state: str = ""
    flags: int = 0
    dropped_attributes_count: int = 0
    dropped_events_count: int = 0
    dropped_links_count: int = 0
    resource_dropped_attributes_count: int = 0
    resource_schema_url: str = ""

    @property
    def duration_ns(self) -> int:
        """End minus start, in nanoseconds."""
        return self.end_time_unix_nano - self.start_time_unix_nano

    @property
    def scope_name(self) -> str:
        """The instrumentation scope's name."""
        return self.scope.name

    @property
    def scope_version(self) -> Optional[str]:
        """The instrumentation scope's version, or None."""
        return self.scope.version


@dataclass(frozen=True)
class Exemplar:
    """A measurement kept with a data point (ids: hex strings, or None)."""

    time_unix_nano: int
    value: Union[int, float, None]
    filtered_attributes: dict[str, Value] = field(default_factory=dict)
    trace_id: Optional[str] = None
    span_id: Optional[str] = None


@dataclass(frozen=True)
class Buckets:
    """One side of an exponential histogram: the index of the first bucket and the counts."""

    offset: int = 0
    bucket_counts: tuple[int, ...] = ()


@dataclass(frozen=True)
class MetricPoint:
    """One data point of a metric, with its metric's name, unit and kind (``"sum"``,
    ``"gauge"``, ``"histogram"``, ``"exponential_histogram"`` or ``"summary"``).

    ``value`` is a sum's or gauge's value (an int or a float, as sent). Histograms have
    ``count``, ``sum``, ``min``, ``max`` (None when not sent), ``bucket_counts`` and
    ``explicit_bounds``; exponential histograms ``scale``, ``zero_count``,
    ``zero_threshold``, ``positive`` and ``negative``; summaries ``count``, ``sum`` and
    ``quantile_values`` as ``(quantile, value)`` pairs."""

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
    scale: int = 0
    zero_count: int = 0
    zero_threshold: float = 0.0
    positive: Optional[Buckets] = None
    negative: Optional[Buckets] = None
    quantile_values: tuple[tuple[float, float], ...] = ()
    temporality: str = "UNSPECIFIED"
    is_monotonic: bool = False
    flags: int = 0
    exemplars: tuple[Exemplar, ...] = ()
    metadata: dict[str, Value] = field(default_factory=dict)
    resource: dict[str, Value] = field(default_factory=dict)
    scope: Scope = field(default_factory=Scope)
    resource_dropped_attributes_count: int = 0
    resource_schema_url: str = ""

    @property
    def scope_name(self) -> str:
        """The instrumentation scope's name."""
        return self.scope.name


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
    scope: Scope
    flags: int = 0
    dropped_attributes_count: int = 0
    resource_dropped_attributes_count: int = 0
    resource_schema_url: str = ""

    @property
    def scope_name(self) -> str:
        """The instrumentation scope's name."""
        return self.scope.name


def _int(v: Any) -> int:
    return int(v) if v not in (None, "") else 0


def _float(v: Any) -> float:
    if isinstance(v, str):  # "NaN", "Infinity", "-Infinity"
        return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}.get(v, math.nan)
    return float(v) if v is not None else 0.0


def _hex(v: Optional[str]) -> Optional[str]:
    return v.lower() if v else None


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
    return {kv.get("key", ""): value_of(kv.get("value")) for kv in kvs or []}


@dataclass(frozen=True)
class _Group:
    resource: dict[str, Value]
    resource_dropped_attributes_count: int
    resource_schema_url: str
    scope: Scope

    def fields(self) -> dict[str, Any]:
        return {
            "resource": self.resource,
            "resource_dropped_attributes_count": self.resource_dropped_attributes_count,
            "resource_schema_url": self.resource_schema_url,
            "scope": self.scope,
        }


def _groups(doc: Mapping[str, Any], top: str, scoped: str, items: str) -> Iterator[tuple[_Group, Any]]:
    for r in doc.get(top, []):
        resource = r.get("resource") or {}
        for s in r.get(scoped, []):
            scope = s.get("scope") or {}
            group = _Group(
                attributes_of(resource.get("attributes")),
                _int(resource.get("droppedAttributesCount")),
                r.get("schemaUrl", ""),
                Scope(
                    scope.get("name", ""),
                    scope.get("version") or None,
                    attributes_of(scope.get("attributes")),
                    _int(scope.get("droppedAttributesCount")),
                    s.get("schemaUrl", ""),
                ),
            )
            for item in s.get(items, []):
                yield group, item


def _enum(names: tuple[str, ...], v: Any) -> str:
    """The name of an enum value; a value the enum does not know as its number."""
    k = _int(v)
    return names[k] if 0 <= k < len(names) else str(k)


def spans_of(doc: Mapping[str, Any]) -> list[Span]:
    """The spans of an OTLP/JSON ``ExportTraceServiceRequest``."""
    out = []
    for group, s in _groups(doc, "resourceSpans", "scopeSpans", "spans"):
        status = s.get("status") or {}
        out.append(
            Span(
                name=s.get("name", ""),
                trace_id=_hex(s.get("traceId")) or "",
                span_id=_hex(s.get("spanId")) or "",
                parent_span_id=_hex(s.get("parentSpanId")),
                kind=_enum(_KINDS, s.get("kind")),
                start_time_unix_nano=_int(s.get("startTimeUnixNano")),
                end_time_unix_nano=_int(s.get("endTimeUnixNano")),
                attributes=attributes_of(s.get("attributes")),
                events=tuple(
                    Event(
                        e.get("name", ""),
                        _int(e.get("timeUnixNano")),
                        attributes_of(e.get("attributes")),
                        _int(e.get("droppedAttributesCount")),
                    )
                    for e in s.get("events", [])
                ),
                links=tuple(
                    Link(
                        _hex(x.get("traceId")) or "",
                        _hex(x.get("spanId")) or "",
                        attributes_of(x.get("attributes")),
                        x.get("traceState", ""),
                        _int(x.get("flags")),
                        _int(x.get("droppedAttributesCount")),
                    )
                    for x in s.get("links", [])
                ),
                status_code=_enum(_STATUS, status.get("code")),
                status_message=status.get("message", ""),
                trace_state=s.get("traceState", ""),
                flags=_int(s.get("flags")),
                dropped_attributes_count=_int(s.get("droppedAttributesCount")),
                dropped_events_count=_int(s.get("droppedEventsCount")),
                dropped_links_count=_int(s.get("droppedLinksCount")),
                **group.fields(),
            )
        )
    return out


def _number(p: Mapping[str, Any]) -> Union[int, float, None]:
    if "asInt" in p:
        return int(p["asInt"])
    if "asDouble" in p:
        return _float(p["asDouble"])
    return None


def _optional_float(p: Mapping[str, Any], key: str) -> Optional[float]:
    return _float(p[key]) if key in p else None


def _buckets(b: Optional[Mapping[str, Any]]) -> Optional[Buckets]:
    if b is None:
        return None
    return Buckets(_int(b.get("offset")), tuple(_int(c) for c in b.get("bucketCounts", [])))


_METRIC_KINDS = (
    ("sum", "sum"),
    ("gauge", "gauge"),
    ("histogram", "histogram"),
    ("exponential_histogram", "exponentialHistogram"),
    ("summary", "summary"),
)


def metric_points_of(doc: Mapping[str, Any]) -> list[MetricPoint]:
    """The data points of an OTLP/JSON ``ExportMetricsServiceRequest``."""
    out = []
    for group, m in _groups(doc, "resourceMetrics", "scopeMetrics", "metrics"):
        for kind, key in _METRIC_KINDS:
            data = m.get(key)
            if data is None:
                continue
            for p in data.get("dataPoints", []):
                common: dict[str, Any] = {
                    "name": m.get("name", ""),
                    "kind": kind,
                    "unit": m.get("unit", ""),
                    "description": m.get("description", ""),
                    "metadata": attributes_of(m.get("metadata")),
                    "attributes": attributes_of(p.get("attributes")),
                    "time_unix_nano": _int(p.get("timeUnixNano")),
                    "start_time_unix_nano": _int(p.get("startTimeUnixNano")),
                    "temporality": _enum(_TEMPORALITY, data.get("aggregationTemporality")),
                    "is_monotonic": bool(data.get("isMonotonic", False)),
                    "flags": _int(p.get("flags")),
                    "exemplars": tuple(
                        Exemplar(
                            _int(e.get("timeUnixNano")),
                            _number(e),
                            attributes_of(e.get("filteredAttributes")),
                            _hex(e.get("traceId")),
                            _hex(e.get("spanId")),
                        )
                        for e in p.get("exemplars", [])
                    ),
                    **group.fields(),
                }
                if kind in ("sum", "gauge"):
                    out.append(MetricPoint(**common, value=_number(p)))
                elif kind == "summary":
                    out.append(
                        MetricPoint(
                            **common,
                            count=_int(p.get("count")),
                            sum=_float(p.get("sum")),
                            quantile_values=tuple(
                                (_float(q.get("quantile")), _float(q.get("value")))
                                for q in p.get("quantileValues", [])
                            ),
                        )
                    )
                else:
                    out.append(
                        MetricPoint(
                            **common,
                            count=_int(p.get("count")),
                            sum=_optional_float(p, "sum"),
                            min=_optional_float(p, "min"),
                            max=_optional_float(p, "max"),
                            bucket_counts=tuple(_int(c) for c in p.get("bucketCounts", [])),
                            explicit_bounds=tuple(_float(b) for b in p.get("explicitBounds", [])),
                            scale=_int(p.get("scale")),
                            zero_count=_int(p.get("zeroCount")),
                            zero_threshold=_float(p.get("zeroThreshold")),
                            positive=_buckets(p.get("positive")),
                            negative=_buckets(p.get("negative")),
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
            flags=_int(r.get("flags")),
            dropped_attributes_count=_int(r.get("droppedAttributesCount")),
            **group.fields(),
        )
        for group, r in _groups(doc, "resourceLogs", "scopeLogs", "logRecords")
    ]
