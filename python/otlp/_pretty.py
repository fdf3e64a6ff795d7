"""``python -m otlp serve --format pretty``: requests as a person reads them -- spans as
trees per trace with durations, attributes and events, metric points as a compact
table, log records as lines with their severity; in colour on a terminal."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from otlp.testing._items import (
    LogRecord,
    MetricPoint,
    Span,
    Value,
    log_records_of,
    metric_points_of,
    spans_of,
)

_RESET = "\x1b[0m"
_STYLE = {
    "name": "\x1b[1m",  # bold
    "dim": "\x1b[2m",
    "ERROR": "\x1b[31m",  # red
    "WARN": "\x1b[33m",  # yellow
    "INFO": "\x1b[32m",  # green
    "DEBUG": "\x1b[36m",  # cyan
}


class _Paint:
    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, style: str, text: str) -> str:
        if not self.color or style not in _STYLE:
            return text
        return f"{_STYLE[style]}{text}{_RESET}"


def _value(v: Value) -> str:
    if isinstance(v, str):
        return repr(v) if any(c in v for c in " ,={}\n") or not v else v
    if isinstance(v, bytes):
        return "0x" + v.hex()
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}={_value(x)}" for k, x in v.items()) + "}"
    return str(v)


def _attrs(attributes: Mapping[str, Value]) -> str:
    return " ".join(f"{k}={_value(v)}" for k, v in attributes.items())


def _duration(ns: int) -> str:
    if ns >= 1_000_000_000:
        return f"{ns / 1e9:.2f} s"
    if ns >= 1_000_000:
        return f"{ns / 1e6:.2f} ms"
    return f"{ns / 1e3:.1f} µs"


def _walk(
    span: Span,
    prefix: str,
    last: bool,
    children: Mapping[str | None, list[Span]],
    paint: _Paint,
    out: list[str],
) -> None:
    branch = "└─ " if last else "├─ "
    status = "" if span.status_code == "UNSET" else f" {span.status_code}"
    if span.status_message:
        status += f": {span.status_message}"
    kind = paint("dim", span.kind.lower())
    line = f"{prefix}{branch}{paint('name', span.name)} {kind} {_duration(span.duration_ns)}"
    out.append(line + (paint("ERROR", status) if span.status_code == "ERROR" else status))
    inner = prefix + ("   " if last else "│  ")
    if span.attributes:
        out.append(f"{inner}  {paint('dim', _attrs(span.attributes))}")
    for e in span.events:
        out.append(f"{inner}  • {e.name} {paint('dim', _attrs(e.attributes))}".rstrip())
    kids = sorted(children.get(span.span_id, []), key=lambda k: k.start_time_unix_nano)
    for i, kid in enumerate(kids):
        _walk(kid, inner, i == len(kids) - 1, children, paint, out)


def traces(spans: list[Span], paint: _Paint) -> str:
    """Each trace's spans as a tree, children in start order."""
    out: list[str] = []
    by_trace: dict[str, list[Span]] = defaultdict(list)
    for s in spans:
        by_trace[s.trace_id].append(s)
    for trace_id, members in by_trace.items():
        ids = {s.span_id for s in members}
        children: dict[str | None, list[Span]] = defaultdict(list)
        for s in members:
            # A parent outside this request (remote, or sent in another one) makes a root.
            children[s.parent_span_id if s.parent_span_id in ids else None].append(s)
        out.append(paint("dim", f"trace {trace_id}"))
        roots = sorted(children[None], key=lambda k: k.start_time_unix_nano)
        for i, root in enumerate(roots):
            _walk(root, "", i == len(roots) - 1, children, paint, out)
    return "\n".join(out)


def metrics(points: list[MetricPoint], paint: _Paint) -> str:
    """One row per data point: metric, kind, value, attributes."""
    rows = []
    for p in points:
        if p.kind in ("sum", "gauge"):
            value = _value(p.value)
        else:
            value = f"count={p.count} sum={_value(p.sum)}"
            if p.min is not None and p.max is not None:
                value += f" min={_value(p.min)} max={_value(p.max)}"
        unit = f" {p.unit}" if p.unit and p.unit != "1" else ""
        rows.append((p.name, p.kind, value + unit, _attrs(p.attributes)))
    if not rows:
        return ""
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join(
        f"{paint('name', r[0].ljust(widths[0]))}  {r[1].ljust(widths[1])}  {r[2].ljust(widths[2])}  "
        f"{paint('dim', r[3])}".rstrip()
        for r in rows
    )


def _severity(record: LogRecord) -> str:
    if record.severity_text:
        return record.severity_text.upper()
    n = record.severity_number
    return (
        "FATAL" if n >= 21 else "ERROR" if n >= 17 else "WARN" if n >= 13 else "INFO" if n >= 9 else "DEBUG"
    )


def logs(records: list[LogRecord], paint: _Paint) -> str:
    """One line per record: severity, body, attributes, and the span it belongs to."""
    out = []
    for r in records:
        severity = _severity(r)
        style = "ERROR" if severity in ("ERROR", "FATAL") else severity
        body = r.body if isinstance(r.body, str) else _value(r.body)
        context = f" trace={r.trace_id} span={r.span_id}" if r.trace_id else ""
        tail = paint("dim", _attrs(r.attributes) + context)
        out.append(f"{paint(style, severity.ljust(5))} {body} {tail}".rstrip())
    return "\n".join(out)


def render(signal: str, doc: Mapping[str, Any], color: bool) -> str:
    """A decoded OTLP/JSON request of ``signal``, for a person to read."""
    paint = _Paint(color)
    if signal == "traces":
        return traces(spans_of(doc), paint)
    if signal == "metrics":
        return metrics(metric_points_of(doc), paint)
    return logs(log_records_of(doc), paint)
