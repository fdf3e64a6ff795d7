"""W3C Trace Context propagation: carry a span's context across process boundaries.

>>> import otlp
>>> headers: dict[str, str] = {}
>>> otlp.propagate.inject(headers, otlp.SpanContext(0x4BF92F3577B34DA6A3CE929D0E0E4736,
...                                                   0x00F067AA0BA902B7))
>>> headers["traceparent"]
'00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
>>> otlp.propagate.extract(headers).span_id_hex
'00f067aa0ba902b7'

On the receiving side, pass what :func:`extract` returns as the new span's parent::

    with tracer.span("handle", kind=otlp.SpanKind.SERVER,
                     parent=otlp.propagate.extract(request.headers)):
        ...

The header formats are those of https://www.w3.org/TR/trace-context/ (``traceparent``
version ``00``, and ``tracestate``), the same as OpenTelemetry's default propagator.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from otlp._native import Span, SpanContext, _current_span_context

__all__ = ["TRACEPARENT", "TRACESTATE", "extract", "inject"]

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"

_HEX = frozenset("0123456789abcdef")
_MAX_TRACESTATE_MEMBERS = 32


def inject(carrier: MutableMapping[str, str], context: Span | SpanContext | None = None) -> None:
    """Write ``traceparent`` (and ``tracestate`` when there is one) into ``carrier``.

    ``context`` defaults to the current span's (whichever API started it: a span of the
    OpenTelemetry SDK current in ``opentelemetry.context`` counts too); with no valid
    context nothing is written.
    """
    if context is None:
        context = _current_span_context()
        if context is None:
            return
    if isinstance(context, Span):
        context = context.context
    if not isinstance(context, SpanContext):
        raise TypeError(f"`context` must be a Span or SpanContext; got {type(context).__name__}")
    if not context.is_valid:
        return
    carrier[TRACEPARENT] = f"00-{context.trace_id_hex}-{context.span_id_hex}-{context.trace_flags & 0xFF:02x}"
    if context.trace_state:
        carrier[TRACESTATE] = context.trace_state


def extract(carrier: Mapping[str, Any]) -> SpanContext | None:
    """The remote parent that ``carrier``'s ``traceparent`` names, or None if it has none or
    it is malformed (as the specification says, an invalid header is ignored, not an error).

    Header names are matched in any case; a list value (a multi-valued header) is used
    only if it holds a single entry. An invalid ``tracestate`` is dropped on its own.
    """
    parsed = _traceparent(_header(carrier, TRACEPARENT))
    if parsed is None:
        return None
    trace_id, span_id, flags = parsed
    state = _tracestate(_header(carrier, TRACESTATE, join=True))
    return SpanContext(trace_id, span_id, trace_flags=flags, is_remote=True, trace_state=state)


def _header(carrier: Mapping[str, Any], name: str, *, join: bool = False) -> str | None:
    value = carrier.get(name)
    if value is None:
        for key, v in carrier.items():
            if isinstance(key, str) and key.lower() == name:
                value = v
                break
    if isinstance(value, (list, tuple)):
        if join:  # tracestate may be split over several header lines
            value = ",".join(str(v) for v in value)
        elif len(value) == 1:
            value = value[0]
        else:
            return None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return value if isinstance(value, str) else None


def _is_hex(s: str, length: int) -> bool:
    return len(s) == length and _HEX.issuperset(s)


def _traceparent(value: str | None) -> tuple[int, int, int] | None:
    if value is None:
        return None
    value = value.strip(" \t")
    version = value[:2]
    if not _is_hex(version, 2) or version == "ff":
        return None
    # Version 00 is exactly 55 characters; a later version may append "-" and more.
    if len(value) < 55 or (version == "00" and len(value) != 55) or (len(value) > 55 and value[55] != "-"):
        return None
    if value[2] != "-" or value[35] != "-" or value[52] != "-":
        return None
    trace_hex, span_hex, flags_hex = value[3:35], value[36:52], value[53:55]
    if not (_is_hex(trace_hex, 32) and _is_hex(span_hex, 16) and _is_hex(flags_hex, 2)):
        return None
    trace_id, span_id = int(trace_hex, 16), int(span_hex, 16)
    if trace_id == 0 or span_id == 0:
        return None
    return trace_id, span_id, int(flags_hex, 16)


def _valid_key(key: str) -> bool:
    tenant, at, system = key.partition("@")
    if at:
        return (
            0 < len(tenant) <= 241
            and 0 < len(system) <= 14
            and _key_chars(tenant, first_digit_ok=True)
            and _key_chars(system, first_digit_ok=False)
        )
    return 0 < len(key) <= 256 and _key_chars(key, first_digit_ok=False)


def _key_chars(s: str, *, first_digit_ok: bool) -> bool:
    first = s[0]
    if not ("a" <= first <= "z" or (first_digit_ok and first.isdigit() and first.isascii())):
        return False
    return all("a" <= c <= "z" or ("0" <= c <= "9") or c in "_-*/" for c in s)


def _valid_value(value: str) -> bool:
    return (
        0 < len(value) <= 256
        and value[-1] != " "
        and all(0x20 <= ord(c) <= 0x7E and c not in ",=" for c in value)
    )


def _tracestate(value: str | None) -> str:
    """``value`` normalised (empty members dropped), or "" if any member is invalid, a
    key repeats, or there are more than 32 members."""
    if not value:
        return ""
    members = []
    keys = set()
    for raw in value.split(","):
        member = raw.strip(" \t")
        if not member:
            continue
        key, eq, val = member.partition("=")
        if not eq or not _valid_key(key) or not _valid_value(val) or key in keys:
            return ""
        keys.add(key)
        members.append(f"{key}={val}")
    if len(members) > _MAX_TRACESTATE_MEMBERS:
        return ""
    return ",".join(members)
