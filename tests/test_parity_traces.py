"""Byte parity of ``otlp.sdk.encode_spans`` with the official OTLP trace encoder.

Reference: ``opentelemetry.exporter.otlp.proto.common.trace_encoder.encode_spans(spans)
.SerializeToString()`` from opentelemetry-exporter-otlp-proto-common 1.45.2 (upb
protobuf backend). On a mismatch the failure message shows the input, the first
differing byte (with the field path it falls in), a wire-level diff of both
encodings (fields in wire order, so ordering/presence differences show up), and a
text_format diff of the decoded messages.

Tests that only exercise the official encoder (sanity of the strategies and of
the worked example) run even when the extension is not built; the others are
skipped with the import error as the reason.
"""

from __future__ import annotations

import logging
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as _official_encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util import BoundedList
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.span import TraceState
from opentelemetry.trace.status import Status, StatusCode

try:
    import strategies as S
except ImportError:  # tests/ is a package
    from tests import strategies as S

# Skip (not fail) only when the package/extension is absent; any other import
# error of a present otlp.sdk is a real failure and surfaces at collection.
try:
    from otlp.sdk import encode_spans as _our_encode_spans

    _OURS_MISSING = None
except ModuleNotFoundError as e:
    if e.name not in ("otlp", "otlp._native", "otlp.sdk"):
        raise
    _our_encode_spans = None
    _OURS_MISSING = e

needs_ours = pytest.mark.skipif(
    _our_encode_spans is None, reason=f"otlp not built/installed: {_OURS_MISSING!r}"
)


@pytest.fixture(autouse=True)
def _quiet_sdk_logs(caplog):
    # The official encoder logs (with traceback) every attribute key it drops, and the
    # SDK warns about every attribute it cleans; that would bury a failure report.
    for name in (
        "opentelemetry.exporter.otlp.proto.common",
        "opentelemetry.attributes",
        "opentelemetry.trace",
    ):
        caplog.set_level(logging.CRITICAL, logger=name)


def official(spans) -> bytes:
    return _official_encode_spans(spans).SerializeToString()


def assert_parity(spans, *, label: str = "") -> bytes:
    """Encode with both encoders and compare bytes; returns the (equal) bytes."""
    expected = official(spans)
    try:
        actual = _our_encode_spans(spans)
    except Exception as e:
        raise AssertionError(
            f"{label}otlp.sdk.encode_spans raised {e!r} where the official encoder returned {len(expected)} bytes\n"
            f"input:\n{S.describe_spans(spans)}"
        ) from e
    assert type(actual) is bytes, f"otlp.sdk.encode_spans returned {type(actual).__name__}, not bytes"
    if actual != expected:
        raise AssertionError(
            f"{label}byte mismatch with the official encoder\n"
            f"input:\n{S.describe_spans(spans)}\n"
            f"{S.explain_mismatch(expected, actual, ExportTraceServiceRequest)}"
        )
    return actual


# ---------------------------------------------------------------------------
# helpers for targeted examples
# ---------------------------------------------------------------------------

TRACE_ID = int.from_bytes(bytes(range(1, 17)), "big")
SPAN_ID = int.from_bytes(bytes(range(0x11, 0x19)), "big")


def ctx(trace_id=TRACE_ID, span_id=SPAN_ID, remote=False, flags=0, state=None) -> SpanContext:
    return SpanContext(trace_id, span_id, remote, TraceFlags(flags), state)


def span(name="op", **kw) -> ReadableSpan:
    kw.setdefault("context", ctx())
    kw.setdefault("resource", Resource({"service.name": "svc"}))
    kw.setdefault("instrumentation_scope", InstrumentationScope("lib", "1.0"))
    kw.setdefault("start_time", 1)
    kw.setdefault("end_time", 2)
    return ReadableSpan(name, **kw)


def nest(kind: str, depth: int, leaf=1):
    v = leaf
    for i in range(depth):
        k = kind if kind != "mixed" else ("list" if i % 2 else "map")
        v = [v] if k == "list" else {"a": v}
    return v


def anyvalue_depth(value) -> int:
    """Protobuf message depth of the AnyValue encoding ``value`` (scalar = 1)."""
    stack = [(value, 1)]
    deepest = 0
    while stack:
        v, d = stack.pop()
        deepest = max(deepest, d)
        if isinstance(v, (str, bytes)) or v is None or isinstance(v, (bool, int, float)):
            continue
        if isinstance(v, dict):
            stack.extend((x, d + 3) for x in v.values())
            deepest = max(deepest, d + 1 + (1 if v else 0))
        else:
            stack.extend((x, d + 2) for x in v)
            deepest = max(deepest, d + 1)
    return deepest


# ---------------------------------------------------------------------------
# worked example (PARITY.md) and trivial inputs
# ---------------------------------------------------------------------------

WORKED_EXAMPLE = bytes.fromhex(
    "0a6e0a170a150a0c736572766963652e6e616d6512050a0373766312530a0a0a036c69621203312e3012450a10"
    "0102030405060708090a0b0c0d0e0f10120811121314151617181a07613d312c623d322a026f70300139010000"
    "00000000004102000000000000007a00850100010000"
)


def worked_example_spans():
    return [span(context=ctx(state=TraceState([("a", "1"), ("b", "2")])))]


def test_worked_example_official():
    out = official(worked_example_spans())
    assert len(out) == 112
    assert out == WORKED_EXAMPLE


@needs_ours
def test_worked_example_ours():
    out = assert_parity(worked_example_spans())
    assert len(out) == 112
    assert out == WORKED_EXAMPLE
    assert out.endswith(bytes.fromhex("7a00850100010000"))


@needs_ours
def test_empty_batch():
    assert official([]) == b""
    assert assert_parity([]) == b""


@needs_ours
def test_tuple_input():
    # SpanExporter.export takes a Sequence; the official encoder just iterates.
    spans = (span(), span(name="b", parent=ctx(span_id=5, remote=True)))
    assert_parity(spans)


# ---------------------------------------------------------------------------
# property tests
# ---------------------------------------------------------------------------


@settings(deadline=None)
@given(S.span_batches())
def test_strategies_are_accepted_by_official_encoder(batch):
    """Guards the strategies themselves: the reference must encode them without raising."""
    data = official(list(batch))
    msg = ExportTraceServiceRequest.FromString(data)
    assert sum(len(ss.spans) for rs in msg.resource_spans for ss in rs.scope_spans) == len(batch)


@needs_ours
@settings(deadline=None)
@given(S.span_batches())
def test_parity_random_batches(batch):
    assert_parity(list(batch))


# Simple attribute values so that the examples are spent on grouping: many spans,
# few resources/scopes, interleaved.
_SMALL_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(["", "v", 0.0, -0.0, b"b"])
)


@needs_ours
@settings(deadline=None)
@given(S.span_batches(min_size=4, max_size=16, values=_SMALL_VALUES))
def test_parity_grouping_many_spans(batch):
    assert_parity(list(batch))


@needs_ours
@settings(deadline=None)
@given(S.exotic_span_batches())
def test_parity_exotic_values(batch):
    """Subclasses / ABC-only containers the reference accepts, and values it drops."""
    assert_parity(list(batch))


# ---------------------------------------------------------------------------
# targeted examples
# ---------------------------------------------------------------------------


@needs_ours
@pytest.mark.parametrize("kind", list(SpanKind))
@pytest.mark.parametrize(
    "status",
    [
        Status(),
        Status(StatusCode.OK),
        Status(StatusCode.ERROR),
        Status(StatusCode.ERROR, "boom ✗"),
        Status(StatusCode.ERROR, ""),
    ],
    ids=["unset", "ok", "error", "error-desc", "error-empty-desc"],
)
@pytest.mark.parametrize(
    "parent",
    [
        None,
        ctx(span_id=7),
        ctx(span_id=7, remote=True),
        ctx(span_id=0),
        ctx(trace_id=0, span_id=0, remote=True),
    ],
    ids=["root", "local-parent", "remote-parent", "invalid-local-parent", "invalid-remote-parent"],
)
def test_kinds_statuses_parents(kind, status, parent):
    assert_parity([span(kind=kind, status=status, parent=parent)])


@needs_ours
def test_ids_flags_and_trace_state():
    spans = [
        span(context=ctx(trace_id=0, span_id=0)),
        span(context=ctx(trace_id=2**128 - 1, span_id=2**64 - 1, remote=True, flags=0xFF)),
        span(context=ctx(flags=1, state=TraceState([("k@vendor", "v v"), ("z", "!")]))),
        span(context=ctx(state=TraceState())),
        span(start_time=None, end_time=None),
        span(start_time=0, end_time=2**64 - 1),
    ]
    assert_parity(spans)


@needs_ours
def test_links_and_events():
    ts = TraceState([("a", "1")])
    links = BoundedList.from_seq(
        2,
        [
            Link(ctx(span_id=1)),
            Link(ctx(span_id=2, remote=True, state=ts), {"l": 1}),
            Link(
                ctx(trace_id=0, span_id=0, remote=True, flags=1, state=ts),
                BoundedAttributes(1, {"x": 1, "y": 2}),
            ),
        ],
    )
    events = BoundedList.from_seq(
        3,
        [
            Event("e0", None, 0),
            Event("", {}, 1),
            Event("e2", {"k": [1, None, "s"], "": None}, 2**64 - 1),
            Event("e3", BoundedAttributes(0, {"dropped": 1}), 5),
        ],
    )
    assert_parity(
        [span(links=links, events=events), span(links=[Link(ctx())], events=[Event("x", timestamp=9)])]
    )


@needs_ours
def test_all_value_kinds():
    attrs = {
        "str": "s",
        "empty": "",
        "unicode": "日本語🙂\x00",
        "true": True,
        "false": False,
        "zero": 0,
        "neg": -1,
        "i64min": -(2**63),
        "i64max": 2**63 - 1,
        "f0": 0.0,
        "fneg0": -0.0,
        "inf": math.inf,
        "ninf": -math.inf,
        "nan": math.nan,
        "nnan": -math.nan,
        "tiny": 5e-324,
        "bytes": b"\x00\xff",
        "nobytes": b"",
        "none": None,
        "strs": ["a", "", "b"],
        "ints": (1, -2, 2**63 - 1),
        "floats": [0.0, -0.0, math.inf],
        "bools": [True, False],
        "byteses": [b"", b"x"],
        "emptylist": [],
        "emptytuple": (),
        "mixed": [1, "a", None, 2.5, b"b", True, [1, [2]], {"k": "v"}],
        "nested": {
            "a": {"b": {"c": [1, {"d": None}]}},
            7: "int key",
            None: "none key",
            True: "bool key",
            2.5: "float key",
        },
        "emptymap": {},
    }
    assert_parity([span(attributes=attrs), span(attributes=BoundedAttributes(attributes=attrs))])


@needs_ours
def test_dropped_counts():
    ba = BoundedAttributes(maxlen=2, immutable=False)
    for i in range(10):
        ba[f"k{i}"] = i
    big = BoundedAttributes(attributes={"a": 1})
    big.dropped = 2**32 - 1
    evs = BoundedList(1)
    for i in range(300):
        evs.append(Event(f"e{i}", {"i": i}, i))
    lks = BoundedList(0)
    lks.extend([Link(ctx(span_id=i + 1)) for i in range(129)])
    assert_parity(
        [
            span(attributes=ba, events=evs, links=lks),
            span(attributes=big),
            span(attributes=BoundedAttributes(0, {"a": 1})),
        ]
    )


@needs_ours
def test_huge_counts_and_sizes():
    many = {f"attr.{i}": i for i in range(10_000)}
    events = [Event(f"e{i}", {"i": i, "s": "x" * (i % 50)}, i) for i in range(2_000)]
    links = [Link(ctx(span_id=i + 1, remote=bool(i % 2)), {"i": i}) for i in range(1_000)]
    big = {
        "s": "é" * 500_000,
        "b": bytes(range(256)) * 4096,
        "arr": list(range(100_000)),
        "map": {str(i): i for i in range(5_000)},
    }
    spans = [span(attributes=many, events=events, links=links), span(attributes=big)]
    spans += [span(name=f"s{i}", context=ctx(span_id=i + 1)) for i in range(2_000)]
    assert_parity(spans)


# Nesting. A = message depth of the attribute's AnyValue. The official encoder
# drops the key when A >= 102 and raises (whole batch) for 97 <= A <= 101
# depending on where the attribute sits (see strategies.py); depths here avoid
# that band. Very deep values exercise recursion limits in our encoder.
_NEST_CASES = [
    ("list", 1),
    ("list", 10),
    ("list", 30),
    ("list", 47),  # A = 95
    ("list", 51),  # A = 103 -> dropped
    ("list", 60),
    ("list", 300),
    ("map", 1),
    ("map", 20),
    ("map", 31),  # A = 94
    ("map", 34),  # A = 103 -> dropped
    ("map", 200),
    ("mixed", 30),  # A = 76
    ("mixed", 38),  # A = 96
    ("mixed", 41),  # A = 103 -> dropped
    ("empty-list", 47),  # [[...[]...]] A = 96
    ("empty-list", 50),  # A = 102: the first depth that is dropped
]


def _nested_value(kind, depth):
    if kind == "empty-list":
        return nest("list", depth, leaf=[])
    return nest(kind, depth)


def _classify_official(spans) -> str:
    try:
        data = official(spans)
    except Exception as e:  # noqa: BLE001
        return f"raises {type(e).__name__}"
    return "kept" if b"\x0a\x04deep" in data else "dropped"


@needs_ours
@pytest.mark.parametrize("where", ["span", "event", "link", "resource", "scope"])
@pytest.mark.parametrize(("kind", "depth"), _NEST_CASES, ids=[f"{k}-{d}" for k, d in _NEST_CASES])
def test_deep_nesting(where, kind, depth):
    value = _nested_value(kind, depth)
    a = anyvalue_depth(value)
    attrs = {"before": 1, "deep": value, "after": "x"}
    kw = {}
    if where == "span":
        kw["attributes"] = attrs
    elif where == "event":
        kw["events"] = [Event("e", attrs, 3)]
    elif where == "link":
        kw["links"] = [Link(ctx(span_id=9), attrs)]
    elif where == "resource":
        kw["resource"] = Resource(attrs)
    else:
        kw["instrumentation_scope"] = InstrumentationScope("lib", "1", None, attrs)
    spans = [span(**kw)]
    got = _classify_official(spans)
    expected = "kept" if a <= 96 else "dropped" if a >= 102 else "raises"
    assert got == expected, f"official encoder behaviour changed: A={a}: {got} (expected {expected})"
    assert_parity(spans, label=f"[{where} {kind} depth={depth} A={a} official={got}] ")


_DEEP_SCRIPT = r"""
import logging, sys
logging.disable(logging.CRITICAL)
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as official
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext
from otlp.sdk import encode_spans as ours

kind, depth = sys.argv[1], int(sys.argv[2])
v = 1
for _ in range(depth):
    v = [v] if kind == "list" else {"a": v}
spans = [ReadableSpan("n", SpanContext(1, 2, False), resource=Resource({}), attributes={"ok": 1, "deep": v, "z": 2})]
expected = official(spans).SerializeToString()
assert b"\x0a\x04deep" not in expected and b"\x0a\x02ok" in expected, "official encoder kept the key"
actual = ours(spans)
if actual == expected:
    print("EQUAL")
elif b"\x0a\x04deep" in actual:
    print(f"MISMATCH: ours kept the 'deep' key ({len(actual)} bytes) where the official encoder dropped it "
          f"({len(expected)} bytes: {expected.hex()})")
else:
    print(f"MISMATCH: expected {expected.hex()}, got {actual[:300].hex()} ({len(actual)} bytes)")
"""


@needs_ours
@pytest.mark.parametrize("kind", ["list", "map"])
@pytest.mark.parametrize("depth", [1_000, 5_000, 20_000, 200_000])
def test_pathologically_deep_values_are_dropped(kind, depth):
    """The official encoder drops the key (protobuf depth limit, or RecursionError).

    Run in a subprocess: an encoder that recurses without a limit overflows the C
    stack and would take the whole test session down with it.
    """
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", _DEEP_SCRIPT, kind, str(depth)], capture_output=True, text=True, timeout=100
    )
    assert proc.returncode == 0, (
        f"encoding a {depth}-deep nested {kind} crashed the interpreter (returncode {proc.returncode}; "
        f"-11 = SIGSEGV, i.e. unbounded recursion overflowing the stack)\nstderr tail: {proc.stderr[-1500:]}"
    )
    assert proc.stdout.strip() == "EQUAL", proc.stdout[-3000:]


@needs_ours
@pytest.mark.parametrize(
    "key",
    [None, b"bytes-key", b"", 7, b"\xff", S._Str("str-subclass"), "\udc80"],
    ids=["None", "bytes", "empty-bytes", "int", "bad-utf8-bytes", "str-subclass", "lone-surrogate"],
)
@pytest.mark.parametrize("where", ["span", "event", "link"])
def test_non_str_top_level_keys(key, where):
    """KeyValue(key=...) gets the key unchanged: None -> empty key, bytes -> utf-8
    decoded, int / undecodable -> the key is dropped (and logged)."""
    attrs = {"first": 1, key: "v", "last": 2}
    kw = {
        "span": {"attributes": attrs},
        "event": {"events": [Event("e", attrs, 1)]},
        "link": {"links": [Link(ctx(span_id=3), attrs)]},
    }[where]
    assert_parity([span(**kw)])


@needs_ours
def test_resource_grouping_semantics():
    r_a = Resource({"a": 1, "b": 2})
    r_a_copy = Resource({"a": 1, "b": 2})
    r_a_reordered = Resource({"b": 2, "a": 1})  # equal to r_a -> merged, r_a's order written
    r_true = Resource({"a": True, "b": 2})  # == r_a but different JSON hash -> separate
    r_float = Resource({"a": 1.0, "b": 2})  # same
    r_schema = Resource({"a": 1, "b": 2}, "https://s/1")  # different schema_url -> separate
    r_zero, r_negzero = Resource({"z": 0.0}), Resource({"z": -0.0})  # separate
    r_bytes, r_hex = Resource({"h": b"x"}), Resource({"h": "78"})  # same hash, unequal -> separate
    nan_res = Resource({"n": math.nan})  # one object used twice -> one group
    resources = [
        r_a_reordered,
        r_a,
        r_true,
        r_a_copy,
        r_float,
        r_schema,
        r_zero,
        r_negzero,
        r_bytes,
        r_hex,
        nan_res,
        r_a,
        nan_res,
        None,
        None,
        r_true,
    ]
    spans = [span(name=f"s{i}", context=ctx(span_id=i + 1), resource=r) for i, r in enumerate(resources)]
    out = assert_parity(spans)
    # sanity on the reference itself
    msg = ExportTraceServiceRequest.FromString(out)
    assert [kv.key for kv in msg.resource_spans[0].resource.attributes] == ["b", "a"]


@needs_ours
def test_scope_grouping_semantics():
    s1 = InstrumentationScope("lib", "1.0", None, {"a": 1})
    s1_true = InstrumentationScope("lib", "1.0", None, {"a": True})  # == s1 (1 == True) -> merged into s1
    s1_float = InstrumentationScope("lib", "1.0", "", {"a": 1.0})  # schema None == "" -> merged too
    s_vnone = InstrumentationScope("lib", None)
    s_vempty = InstrumentationScope("lib", "")  # separate group, identical encoding
    s_schema = InstrumentationScope("lib", "1.0", "https://s/1", {"a": 1})
    s_empty = InstrumentationScope("")
    s_attrs_order = [
        InstrumentationScope("o", "1", None, {"x": 1, "y": 2}),
        InstrumentationScope("o", "1", None, {"y": 2, "x": 1}),
    ]
    scopes = [
        s1_true,
        s1,
        s_vnone,
        s_vempty,
        s1_float,
        None,
        s_schema,
        s_empty,
        None,
        *s_attrs_order,
        s_vnone,
    ]
    r2 = Resource({"service.name": "other"})
    spans = [
        span(name=f"s{i}", context=ctx(span_id=i + 1), instrumentation_scope=sc)
        for i, sc in enumerate(scopes)
    ]
    spans += [
        span(name=f"t{i}", context=ctx(span_id=100 + i), instrumentation_scope=sc, resource=r2)
        for i, sc in enumerate(reversed(scopes))
    ]
    assert_parity(spans)


@needs_ours
def test_interleaved_resources_keep_span_order():
    r1, r2 = Resource({"r": 1}), Resource({"r": 2}, "https://schema")
    s1, s2 = InstrumentationScope("a"), InstrumentationScope("b", "2", "https://scope")
    order = [(r1, s1), (r2, s2), (r1, s2), (r2, s1), (r1, s1), (r2, s2), (r1, None), (r2, None)]
    spans = [
        span(name=f"n{i}", context=ctx(span_id=i + 1), resource=r, instrumentation_scope=s)
        for i, (r, s) in enumerate(order)
    ]
    assert_parity(spans)


@needs_ours
def test_spans_from_real_sdk_pipeline():
    """Spans as the SDK really hands them to exporters (sdk _Span objects, limits applied)."""
    from opentelemetry import trace as trace_api
    from opentelemetry.sdk.trace import SpanLimits, TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create({"service.name": "parity"}),
        span_limits=SpanLimits(
            max_span_attributes=3,
            max_events=2,
            max_links=1,
            max_event_attributes=1,
            max_link_attributes=1,
            max_attribute_length=4,
        ),
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("scope.a", "0.1", schema_url="https://schema/a", attributes={"sa": 1})
    tracer_b = provider.get_tracer("scope.b")
    remote = SpanContext(0xABC, 0xDEF, True, TraceFlags(1), TraceState([("v", "1")]))
    with tracer.start_as_current_span(
        "root",
        kind=SpanKind.SERVER,
        context=trace_api.set_span_in_context(trace_api.NonRecordingSpan(remote)),
    ) as root:
        root.set_attributes({"a": 1, "b": "long string", "c": [1, 2], "d": 2.5, "e": b"x"})
        for i in range(4):
            root.add_event(f"ev{i}", {"x": i, "y": i}, timestamp=1000 + i)
        root.set_status(Status(StatusCode.ERROR, "bad"))
        with tracer_b.start_as_current_span(
            "child",
            kind=SpanKind.CLIENT,
            links=[trace_api.Link(remote, {"l1": 1, "l2": 2}), trace_api.Link(root.get_span_context())],
        ) as child:
            child.record_exception(ValueError("nope"))
        tracer.start_span("unended-then-ended", start_time=5).end(end_time=6)
    provider.shutdown()
    spans = exporter.get_finished_spans()
    assert len(spans) == 3
    assert_parity(list(spans))


@needs_ours
@pytest.mark.parametrize(
    "make",
    [
        lambda: span(status=None),
        lambda: span(name=None),
        lambda: span(name=b"bytes-name"),
        lambda: span(events=[Event(None, {"a": 1}, 1)]),
        lambda: span(instrumentation_scope=InstrumentationScope("lib", b"1.0")),
    ],
    ids=["status-None", "name-None", "name-bytes", "event-name-None", "scope-version-bytes"],
)
def test_ill_typed_inputs_the_reference_accepts(make):
    """Not type-correct per the SDK annotations, but the reference encodes them
    (None -> field omitted, bytes -> utf-8 decoded into the string field)."""
    spans = [make()]
    official(spans)  # must not raise
    assert_parity(spans)
