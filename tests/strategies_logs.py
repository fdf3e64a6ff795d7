"""Hypothesis strategies producing OTel SDK log records (``ReadableLogRecord``) for the
logs byte-parity test, plus a readable description of such input for failure reports.

The reference is ``opentelemetry-exporter-otlp-proto-common`` 1.45.2,
``_log_encoder.encode_logs(records).SerializeToString()`` (the function lives in
``_internal/_log_encoder/__init__.py``), on the upb protobuf backend. The generic
attribute / resource / scope strategies and the mismatch explainer come from
``strategies.py`` (the traces strategies). Everything :func:`log_batches` generates is
accepted by the reference without raising; :func:`exotic_log_batches` also generates
inputs it raises on (the parity test then requires ours to raise too).

What the reference does (read from its source and checked by running it; the
``test_reference_*`` tests in test_parity_logs.py pin the rules down):

Input objects
* A record is an SDK ``ReadableLogRecord(log_record, resource, instrumentation_scope,
  limits)`` (frozen dataclass; ``ReadWriteLogRecord`` has the same fields and encodes
  the same). ``log_record`` is an API ``opentelemetry._logs.LogRecord``; the encoder
  reads its ``timestamp``, ``observed_timestamp``, ``trace_id``, ``span_id``,
  ``trace_flags``, ``severity_text``, ``severity_number``, ``body``, ``attributes``,
  ``event_name`` attributes -- never ``context`` or ``exception``. ``LogRecord()``
  fills ``observed_timestamp`` with ``time_ns()`` when it is None and takes the ids and
  flags from the span in ``context`` (or the current one) when they are not given;
  the strategies set every field explicitly after construction so that None is
  possible too. ``limits`` is ignored.

Structure and grouping
* ``defaultdict`` keyed by ``record.resource`` then by ``record.instrumentation_scope
  or None``, each in order of first appearance; records keep their input order inside
  a group. Resource equality is as for spans (hash = JSON dump of the attributes with
  sort_keys + schema_url; eq = attribute-mapping equality + schema_url), so reordered
  equal resources merge (the first object's attribute order is written) while
  ``{"a": 1}`` / ``{"a": True}`` / ``{"a": 1.0}`` stay apart; scopes hash on (name,
  version, schema_url) and compare attributes as mappings (``1 == True == 1.0``
  merge). ``InstrumentationScope`` defines no ``__bool__``/``__len__``, so ``or None``
  only matters for ``None`` itself. A ``None`` resource raises (``AttributeError``)
  -- never generated.
* ``ResourceLogs``: ``resource`` always written (``0a 00`` when it has no attributes;
  no dropped count), ``scope_logs``, ``schema_url`` = ``resource.schema_url``.
* ``ScopeLogs``: ``scope`` always written (``None`` -> empty message ``0a 00``; name,
  version, attributes, no dropped count), ``log_records``, ``schema_url`` =
  ``scope.schema_url`` (None scope -> none).

LogRecord (fields in field-number order, proto3 defaults omitted)
* ``time_unix_nano`` (1, fixed64) = ``timestamp``; ``observed_time_unix_nano`` (11,
  fixed64) = ``observed_timestamp``. None and 0 are omitted alike; a value outside
  uint64 (or a float / str) raises.
* ``severity_number`` (2) = ``getattr(severity_number, "value", None)``: a
  ``SeverityNumber`` (or any enum / object with an int ``.value``) gives its value,
  also outside 1..24 (negative values are sign-extended varints); a *plain* ``int``,
  ``bool`` or ``float`` has no ``.value`` and the field is omitted (!). A ``.value``
  outside int32, a str/float ``.value`` (or a bool ``.value``: upb "expected int")
  raises.
* ``severity_text`` (3), ``event_name`` (12): None and ``""`` omitted; ``bytes`` are
  utf-8 decoded; other types raise.
* ``body`` (5) = ``_encode_value(body)``, *always* written (None -> empty AnyValue
  ``2a 00``). Unlike an attribute value, an unsupported body is not skipped: it makes
  the whole ``encode_logs`` call raise (``Exception("Invalid type ...")`` for an
  unsupported type anywhere inside it, ``ValueError`` for an int outside int64,
  ``UnicodeEncodeError`` for a lone surrogate). Value rules are the shared ones
  (strategies.py): None, bool, str, int, float, bytes, any Sequence -> array, any
  Mapping -> kvlist with ``str()``-ed keys.
* ``attributes`` (6) = the shared ``_encode_attributes`` (unsupported values / keys
  are skipped with a log line, never raise); ``dropped_attributes_count`` (7) =
  ``attributes.dropped`` for a ``BoundedAttributes``, else 0.
* ``flags`` (8, fixed32) = ``int(trace_flags)``: the full value (all 8 W3C bits, and
  anything up to 2**32-1 for a plain int), unlike span flags. ``int()`` semantics, so
  a float is accepted (truncated); outside uint32 raises.
* ``trace_id`` (9) / ``span_id`` (10): omitted when ``== 0``, otherwise 16 / 8 bytes
  big-endian (negative or too large raises; ``None`` raises too).

Nesting depth (upb copies sub-messages by serialising and re-parsing them; the parse
depth limit is 101). With A the AnyValue message depth of a value (scalar 1, +2 per
list level, +3 per mapping level): a *body* is encoded for A <= 98 and raises for
A >= 99. A log-record or scope *attribute* is kept for A <= 97, raises for 98..101
and is dropped (logged) for A >= 102; a *resource* attribute is kept up to 98, raises
for 99..101, dropped from 102. The strategies stay far below these depths; the
targeted tests probe both sides of each band.
"""

from __future__ import annotations

import enum

from hypothesis import strategies as st
from opentelemetry import trace as trace_api
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import TraceFlags

try:
    import strategies as S
except ImportError:  # tests/ is a package
    from tests import strategies as S

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


# --------------------------------------------------------------------------
# severities
# --------------------------------------------------------------------------


class IntSeverity(enum.IntEnum):
    """An IntEnum like ``otlp.Severity`` (kept local so the strategies work without otlp)."""

    UNSPECIFIED = 0
    TRACE = 1
    DEBUG = 5
    INFO = 9
    INFO4 = 12
    WARN = 13
    ERROR = 17
    FATAL = 21
    FATAL4 = 24


class ForeignSeverity(enum.Enum):
    """A plain Enum whose int values are outside the OTel range (the reference writes them)."""

    MINUS_ONE = -1
    HUNDRED = 100
    INT32_MAX = INT32_MAX
    INT32_MIN = INT32_MIN


class ValueHolder:
    """Not an enum at all, just an object with a ``.value`` (the reference only getattr()s it)."""

    def __init__(self, value):
        self.value = value

    def __repr__(self):
        return f"ValueHolder({self.value!r})"


# Everything here is accepted by the reference.
severities = st.one_of(
    st.sampled_from(list(SeverityNumber)),
    st.sampled_from(list(SeverityNumber)),
    st.none(),
    st.integers(-3, 30),  # plain ints: no .value -> severity_number omitted
    st.sampled_from([True, False, 9.0]),  # no .value either
    st.sampled_from(list(IntSeverity)),
    st.sampled_from(list(ForeignSeverity)),
    st.integers(INT32_MIN, INT32_MAX).map(ValueHolder),
    st.just(ValueHolder(None)),
)

# --------------------------------------------------------------------------
# trace context
# --------------------------------------------------------------------------

trace_flag_values = st.one_of(
    st.sampled_from([0, 1, 2, 3, 255]).map(TraceFlags),
    st.sampled_from([0, 1, 255, 256, 0x1FF, S.UINT32_MAX]),  # plain ints (fixed32: all kept)
    st.integers(0, S.UINT32_MAX),
)


@st.composite
def _trace_fields(draw, lr: LogRecord) -> None:
    """Set trace_id / span_id / trace_flags: none, from a span context, or explicitly."""
    how = draw(st.sampled_from(["none", "context", "explicit", "explicit"]))
    if how == "none":
        lr.trace_id, lr.span_id, lr.trace_flags = 0, 0, TraceFlags(0)
    elif how == "context":
        # What LogRecord(context=...) does with the span in the context.
        sc = draw(S.span_contexts())
        lr.trace_id, lr.span_id, lr.trace_flags = sc.trace_id, sc.span_id, sc.trace_flags
    else:
        lr.trace_id = draw(S.trace_ids)
        lr.span_id = draw(S.span_ids)
        lr.trace_flags = draw(trace_flag_values)


# --------------------------------------------------------------------------
# records
# --------------------------------------------------------------------------

bodies = S.attribute_values()
timestamps = st.none() | S.uint64s
optional_texts = st.none() | S.texts


def resource_pool_without_none(pool):
    """ReadableLogRecord has no default resource, and the reference raises on None."""
    out = [r for r in pool if r is not None]
    return out or [Resource({})]


@st.composite
def log_records(draw, resources, scopes, body=bodies, attributes=None, severity=severities):
    """One ReadableLogRecord picking its resource / scope from the given pools."""
    lr = LogRecord(observed_timestamp=1)
    lr.timestamp = draw(timestamps)
    lr.observed_timestamp = draw(timestamps)
    draw(_trace_fields(lr))
    lr.severity_number = draw(severity)
    lr.severity_text = draw(optional_texts)
    lr.body = draw(body)
    lr.attributes = draw(attributes if attributes is not None else S.attribute_containers())
    lr.event_name = draw(optional_texts)
    return ReadableLogRecord(
        log_record=lr,
        resource=draw(st.sampled_from(resources)),
        instrumentation_scope=draw(st.sampled_from(scopes)),
    )


class LogBatch(list):
    """A list of records whose repr shows everything (hypothesis prints it on failure)."""

    def __repr__(self) -> str:
        return "LogBatch(\n" + describe_logs(self) + "\n)"


@st.composite
def log_batches(draw, min_size=0, max_size=10, body=bodies, attributes=None, severity=severities):
    """Records sharing a few resources and scopes (equal-but-distinct copies included), interleaved."""
    resources = resource_pool_without_none(draw(S.resource_pools()))
    scopes = draw(S.scope_pools())
    n = draw(st.integers(min_size, max_size))
    return LogBatch(
        draw(log_records(resources, scopes, body=body, attributes=attributes, severity=severity))
        for _ in range(n)
    )


# --------------------------------------------------------------------------
# exotic inputs: the reference may raise (body) or skip keys (attributes)
# --------------------------------------------------------------------------

# About one body in six is a value the reference raises on (so about a third of the
# batches raise as a whole); the rest is accepted, exotic or not.
exotic_bodies = st.one_of(
    S.exotic_attribute_values(), S.exotic_accepted_leaves, bodies, bodies, bodies, S.exotic_dropped_leaves
)


@st.composite
def exotic_log_batches(draw, max_size=6):
    """Exotic bodies (subclasses, ABC-only containers, values the reference raises on)
    and exotic attribute dicts (keys it skips)."""
    return draw(
        log_batches(
            max_size=max_size,
            body=exotic_bodies,
            attributes=st.one_of(S.exotic_attribute_dicts(), S.exotic_attribute_dicts().map(S._Map)),
        )
    )


# --------------------------------------------------------------------------
# failure explanation
# --------------------------------------------------------------------------


def _sev(s) -> str:
    if isinstance(s, enum.Enum):
        return f"{type(s).__name__}.{s.name}({s.value!r})"
    return repr(s)


def describe_logs(records) -> str:
    """Every encoder-visible field of every record, with object identity of resources/scopes."""
    tag = S.identity_tagger()
    lines = []
    for i, r in enumerate(records):
        lr, res, sc = r.log_record, r.resource, r.instrumentation_scope
        lines.append(
            f"  [{i}] {type(r).__name__}(timestamp={lr.timestamp!r}, observed={lr.observed_timestamp!r}, "
            f"severity_number={_sev(lr.severity_number)}, severity_text={S._r(lr.severity_text)},"
        )
        tid = f"0x{lr.trace_id:032x}" if isinstance(lr.trace_id, int) else repr(lr.trace_id)
        sid = f"0x{lr.span_id:016x}" if isinstance(lr.span_id, int) else repr(lr.span_id)
        lines.append(
            f"        trace_id={tid}, span_id={sid}, trace_flags={lr.trace_flags!r}, "
            f"event_name={S._r(lr.event_name)},"
        )
        lines.append(f"        body={S._r(lr.body)},")
        lines.append(f"        attributes={S._attrs(lr.attributes)},")
        if res is None:
            lines.append("        resource=None,")
        else:
            lines.append(
                f"        resource={tag(res, 'R')}(attrs={S._r(dict(res.attributes))}, "
                f"schema_url={res.schema_url!r}),"
            )
        if sc is None:
            lines.append("        scope=None)")
        else:
            lines.append(
                f"        scope={tag(sc, 'S')}(name={sc.name!r}, version={sc.version!r}, "
                f"schema_url={sc.schema_url!r}, attrs={S._r(dict(sc.attributes))}))"
            )
    return "\n".join(lines) if lines else "  (empty)"


# --------------------------------------------------------------------------
# nesting helpers
# --------------------------------------------------------------------------


def anyvalue_depth(value) -> int:
    """Protobuf message depth of the AnyValue encoding ``value`` (scalar = 1)."""
    stack = [(value, 1)]
    deepest = 0
    while stack:
        v, d = stack.pop()
        deepest = max(deepest, d)
        if isinstance(v, dict):
            stack.extend((x, d + 3) for x in v.values())
            deepest = max(deepest, d + 1 + (1 if v else 0))
        elif isinstance(v, list):
            stack.extend((x, d + 2) for x in v)
            deepest = max(deepest, d + 1)
    return deepest


def value_of_depth(a: int):
    """A value whose AnyValue depth is exactly ``a`` (lists inside a few dicts)."""
    for maps in range(a):
        rest = a - 1 - 3 * maps
        if rest >= 0 and rest % 2 == 0:
            v = 1
            for _ in range(rest // 2):
                v = [v]
            for _ in range(maps):
                v = {"a": v}
            assert anyvalue_depth(v) == a
            return v
    raise ValueError(a)


def trace_context(trace_id: int, span_id: int, flags: int = 1):
    """An OTel context carrying a (non-recording) span with these ids."""
    sc = trace_api.SpanContext(trace_id, span_id, False, TraceFlags(flags))
    return trace_api.set_span_in_context(trace_api.NonRecordingSpan(sc))
