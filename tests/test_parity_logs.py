"""Byte parity of ``otlp.sdk.encode_logs`` with the official OTLP logs encoder.

Reference: ``opentelemetry.exporter.otlp.proto.common._log_encoder.encode_logs(records)
.SerializeToString()`` from opentelemetry-exporter-otlp-proto-common 1.45.2 (upb protobuf
backend). What that encoder does, quirks included, is written down in
``strategies_logs.py``; the ``test_reference_*`` tests pin those rules down against the
installed reference (so a version bump that changes them fails loudly), and they run
even when the extension is not built.

Where the reference *raises* for an input (an unsupported body, a value out of range,
a body nested too deep), ours must raise too (any exception): an SDK exporter using it
would fail the batch rather than send something else.

On a mismatch the failure message shows the input (every encoder-visible field,
resources/scopes tagged by object identity), the first differing byte with the field
path it falls in, a wire-level diff of both encodings (fields in wire order) and a
text_format diff of the decoded messages.
"""

from __future__ import annotations

import logging
import math
import struct
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs as _official_encode_logs
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.sdk._logs import ReadableLogRecord, ReadWriteLogRecord
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import TraceFlags

try:
    import strategies as S
    import strategies_logs as SL
except ImportError:  # tests/ is a package
    from tests import strategies as S
    from tests import strategies_logs as SL

# Skip (not fail) only when the package/extension or the function is absent; any
# other import error of a present otlp.sdk is a real failure.
try:
    from otlp.sdk import encode_logs as _our_encode_logs

    _OURS_MISSING = None
except ImportError as e:  # ModuleNotFoundError, or "cannot import name 'encode_logs'"
    if e.name not in ("otlp", "otlp._native", "otlp.sdk"):
        raise
    _our_encode_logs = None
    _OURS_MISSING = e

needs_ours = pytest.mark.skipif(
    _our_encode_logs is None, reason=f"otlp.sdk.encode_logs not built/installed: {_OURS_MISSING!r}"
)

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(autouse=True)
def _quiet_sdk_logs(caplog):
    # The reference logs (with traceback) every attribute key it drops; the SDK warns
    # about cleaned attributes. That would bury a failure report.
    for name in (
        "opentelemetry.exporter.otlp.proto.common",
        "opentelemetry.attributes",
        "opentelemetry.sdk._logs",
        "opentelemetry._logs",
    ):
        caplog.set_level(logging.CRITICAL, logger=name)


def official(records) -> bytes:
    return _official_encode_logs(records).SerializeToString()


def _describe(records) -> str:
    try:
        return SL.describe_logs(records)
    except Exception as e:  # noqa: BLE001 - diagnostics only
        return f"<could not describe the input: {e!r}>"


def assert_parity(records, *, label: str = "") -> bytes:
    """Encode with both encoders and compare bytes; returns the (equal) bytes."""
    expected = official(records)
    try:
        actual = _our_encode_logs(records)
    except Exception as e:
        raise AssertionError(
            f"{label}otlp.sdk.encode_logs raised {e!r} where the official encoder returned "
            f"{len(expected)} bytes\ninput:\n{_describe(records)}"
        ) from e
    assert type(actual) is bytes, f"otlp.sdk.encode_logs returned {type(actual).__name__}, not bytes"
    if actual != expected:
        raise AssertionError(
            f"{label}byte mismatch with the official encoder\n"
            f"input:\n{_describe(records)}\n"
            f"{S.explain_mismatch(expected, actual, ExportLogsServiceRequest)}"
        )
    return actual


def assert_same_outcome(records, *, label: str = "") -> bytes | None:
    """Equal bytes when the reference encodes; an exception from ours when it raises."""
    try:
        official(records)
    except Exception as ref_err:  # noqa: BLE001 - any reference failure counts
        try:
            actual = _our_encode_logs(records)
        except Exception:  # noqa: BLE001 - ours must fail too, how does not matter
            return None
        raise AssertionError(
            f"{label}the official encoder raised {ref_err!r}, but otlp.sdk.encode_logs returned "
            f"{len(actual)} bytes (decodable by upb: {_decodable(actual)})\n"
            f"input:\n{_describe(records)}"
        ) from None
    return assert_parity(records, label=label)


def _decodable(data: bytes) -> bool:
    try:
        ExportLogsServiceRequest.FromString(data)
    except Exception:  # noqa: BLE001
        return False
    return True


# ---------------------------------------------------------------------------
# helpers for targeted examples
# ---------------------------------------------------------------------------

TRACE_ID = int.from_bytes(bytes(range(1, 17)), "big")
SPAN_ID = int.from_bytes(bytes(range(0x11, 0x19)), "big")
RES = Resource({"service.name": "svc"})
SCOPE = InstrumentationScope("lib", "1.0")


def rec(*, resource=RES, scope=SCOPE, cls=ReadableLogRecord, **fields) -> ReadableLogRecord:
    """A record with every field set explicitly (defaults: no context, observed=2)."""
    lr = LogRecord(observed_timestamp=2)
    lr.trace_id, lr.span_id, lr.trace_flags = 0, 0, TraceFlags(0)
    for k, v in fields.items():
        if not hasattr(lr, k):
            raise AttributeError(k)
        setattr(lr, k, v)
    return cls(log_record=lr, resource=resource, instrumentation_scope=scope)


def decoded(data: bytes) -> ExportLogsServiceRequest:
    return ExportLogsServiceRequest.FromString(data)


def only_record(data: bytes):
    msg = decoded(data)
    return msg.resource_logs[0].scope_logs[0].log_records[0]


# ---------------------------------------------------------------------------
# worked example and trivial inputs
# ---------------------------------------------------------------------------

# Resource service.name=svc, scope lib 1.0, timestamp 1, observed 2, INFO / "INFO",
# body "hi", attribute k=v, ids 0102..10 / 1112..18, flags 1, event_name "ev".
WORKED_EXAMPLE = bytes.fromhex(
    "0a780a170a150a0c736572766963652e6e616d6512050a03737663125d0a0a0a036c69621203312e30124f09"
    "010000000000000010091a04494e464f2a040a02686932080a016b12030a017645010000004a100102030405"
    "060708090a0b0c0d0e0f105208111213141516171859020000000000000062026576"
)


def worked_example_records():
    return [
        rec(
            timestamp=1,
            severity_number=SeverityNumber.INFO,
            severity_text="INFO",
            body="hi",
            attributes={"k": "v"},
            trace_id=TRACE_ID,
            span_id=SPAN_ID,
            trace_flags=TraceFlags(1),
            event_name="ev",
        )
    ]


def test_worked_example_official():
    out = official(worked_example_records())
    assert len(out) == 122
    assert out == WORKED_EXAMPLE


@needs_ours
def test_worked_example_ours():
    assert assert_parity(worked_example_records()) == WORKED_EXAMPLE


@needs_ours
def test_empty_batch():
    assert official([]) == b""
    assert assert_parity([]) == b""


@needs_ours
def test_tuple_input_and_read_write_records():
    # Exporters get a Sequence; ReadWriteLogRecord has the same fields.
    records = (rec(body="a"), rec(body="b", cls=ReadWriteLogRecord), rec(body=None, scope=None))
    assert_parity(records)


# ---------------------------------------------------------------------------
# the reference's rules, pinned down (these run without the extension)
# ---------------------------------------------------------------------------


def test_reference_plain_int_severity_is_omitted():
    assert only_record(official([rec(severity_number=SeverityNumber.WARN)])).severity_number == 13
    for plain in (13, True, 9.0, None):
        assert only_record(official([rec(severity_number=plain)])).severity_number == 0, plain
    assert only_record(official([rec(severity_number=SL.ValueHolder(-1))])).severity_number == -1
    assert only_record(official([rec(severity_number=SL.ForeignSeverity.HUNDRED)])).severity_number == 100


def test_reference_body_always_written_and_flags_full_width():
    out = official([rec(body=None, trace_flags=0x1FF)])
    assert bytes.fromhex("2a00") in out  # empty AnyValue body
    lr = only_record(out)
    assert lr.flags == 0x1FF and lr.trace_id == b"" and lr.span_id == b""
    assert lr.HasField("body") and lr.body.WhichOneof("value") is None


@pytest.mark.parametrize("body", [object(), {1, 2}, 2**63, "\ud800", [1, object()], {"k": {"x"}}])
def test_reference_raises_on_unsupported_body(body):
    with pytest.raises(Exception):  # noqa: B017 - the reference raises Exception itself
        official([rec(body=body)])


def test_reference_skips_unsupported_attribute():
    lr = only_record(official([rec(attributes={"a": 1, "bad": object(), "c": 2})]))
    assert [kv.key for kv in lr.attributes] == ["a", "c"]


def test_reference_nesting_thresholds():
    for a, expected in ((98, "ok"), (99, "raises")):
        try:
            official([rec(body=SL.value_of_depth(a))])
            got = "ok"
        except Exception:  # noqa: BLE001
            got = "raises"
        assert got == expected, f"body A={a}: {got}"


# ---------------------------------------------------------------------------
# property tests
# ---------------------------------------------------------------------------


@settings(deadline=None)
@given(SL.log_batches())
def test_strategies_are_accepted_by_official_encoder(batch):
    """Guards the strategies themselves: the reference must encode them without raising."""
    msg = decoded(official(list(batch)))
    assert sum(len(sl.log_records) for rl in msg.resource_logs for sl in rl.scope_logs) == len(batch)


@needs_ours
@settings(deadline=None)
@given(SL.log_batches())
def test_parity_random_batches(batch):
    assert_parity(list(batch))


# Simple bodies and attribute values so that the examples are spent on grouping: many
# records, few resources/scopes, interleaved.
_SMALL_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(["", "v", 0.0, -0.0, b"b"])
)


@needs_ours
@settings(deadline=None)
@given(
    SL.log_batches(
        min_size=4,
        max_size=16,
        body=_SMALL_VALUES,
        attributes=st.none() | st.dictionaries(S.attribute_keys, _SMALL_VALUES, max_size=2),
    )
)
def test_parity_grouping_many_records(batch):
    assert_parity(list(batch))


@needs_ours
@settings(deadline=None)
@given(SL.exotic_log_batches())
def test_parity_exotic_values(batch):
    """Subclasses / ABC-only containers the reference accepts, attribute values it skips,
    and bodies it raises on (then ours must raise too)."""
    assert_same_outcome(list(batch))


# ---------------------------------------------------------------------------
# targeted examples
# ---------------------------------------------------------------------------

BODIES = {
    "str": "hello",
    "str-empty": "",
    "str-unicode": "héllo 日本語 🙂 \x00 \u2028",
    "bytes": b"\x00\xff",
    "bytes-empty": b"",
    "int": 42,
    "int-zero": 0,
    "int-min": -(2**63),
    "int-max": 2**63 - 1,
    "float": 3.25,
    "float-zero": 0.0,
    "float-negzero": -0.0,
    "float-inf": math.inf,
    "float-nan": math.nan,
    "float-snan": struct.unpack("<d", b"\x01\x00\x00\x00\x00\x00\xf0\x7f")[0],
    "true": True,
    "false": False,
    "none": None,
    "list": [1, "a", None, 2.5, b"b", True, [1, [2]], {"k": "v"}],
    "list-empty": [],
    "tuple": (1, 2),
    "dict": {"a": {"b": {"c": [1, {"d": None}]}}, 7: "int key", None: "none key", 2.5: "float key"},
    "dict-empty": {},
    "bytearray": bytearray(b"ab"),
    "range": range(3),
    "str-subclass": S._Str("sub"),
    "int-enum": S._IntEnum.SEVEN,
    "mapping": S._Map({"m": 1}),
    "sequence": S._Seq([1, "x"]),
}


@needs_ours
@pytest.mark.parametrize("body", list(BODIES.values()), ids=list(BODIES))
def test_body_kinds(body):
    assert_parity([rec(body=body), rec(body=body, severity_number=SeverityNumber.ERROR)])


@needs_ours
@pytest.mark.parametrize(
    "severity",
    [
        *SeverityNumber,
        None,
        0,
        9,
        24,
        25,
        -1,
        True,
        9.0,
        *SL.IntSeverity,
        *SL.ForeignSeverity,
        SL.ValueHolder(5),
        SL.ValueHolder(None),
        SL.ValueHolder(-(2**31)),
    ],
    ids=repr,
)
@pytest.mark.parametrize("text", [None, "", "INFO", "Level 25", "ünïcode"])
def test_severities(severity, text):
    assert_parity([rec(severity_number=severity, severity_text=text, body="x")])


@needs_ours
def test_otlp_severity_enum_is_written():
    import otlp

    for sev in otlp.Severity:
        out = assert_parity([rec(severity_number=sev)])
        assert only_record(out).severity_number == int(sev)


@needs_ours
@pytest.mark.parametrize(
    ("trace_id", "span_id"),
    [(0, 0), (TRACE_ID, SPAN_ID), (TRACE_ID, 0), (0, SPAN_ID), (2**128 - 1, 2**64 - 1), (1, 1)],
    ids=["none", "both", "trace-only", "span-only", "max", "one"],
)
@pytest.mark.parametrize("flags", [TraceFlags(0), TraceFlags(1), TraceFlags(0xFF), 0x100, 2**32 - 1])
def test_trace_context(trace_id, span_id, flags):
    assert_parity([rec(trace_id=trace_id, span_id=span_id, trace_flags=flags, body="t")])


@needs_ours
def test_trace_context_from_api_context():
    """LogRecord(context=...) takes ids and flags from the span in the context."""
    lr = LogRecord(observed_timestamp=5, body="ctx", context=SL.trace_context(TRACE_ID, SPAN_ID, 1))
    assert (lr.trace_id, lr.span_id, int(lr.trace_flags)) == (TRACE_ID, SPAN_ID, 1)
    out = assert_parity([ReadableLogRecord(lr, RES, SCOPE)])
    got = only_record(out)
    assert got.trace_id == TRACE_ID.to_bytes(16, "big") and got.flags == 1


@needs_ours
@pytest.mark.parametrize("ts", [None, 0, 1, 2**63, 2**64 - 1, 1_700_000_000_000_000_000])
@pytest.mark.parametrize("observed", [None, 0, 7, 2**64 - 1])
def test_timestamps(ts, observed):
    assert_parity([rec(timestamp=ts, observed_timestamp=observed)])


@needs_ours
@pytest.mark.parametrize("event_name", [None, "", "ev", "é.🙂"])
def test_event_name(event_name):
    assert_parity([rec(event_name=event_name, body={"e": 1})])


@needs_ours
def test_all_attribute_kinds_and_dropped_counts():
    attrs = {
        "str": "s",
        "empty": "",
        "true": True,
        "false": False,
        "zero": 0,
        "i64min": -(2**63),
        "f": -0.0,
        "nan": math.nan,
        "bytes": b"\x00",
        "none": None,
        "ints": (1, 2),
        "mixed": [1, "a", None, {"k": [b"x"]}],
        "nested": {"a": {"b": 1}, 3: "int key"},
        "emptylist": [],
        "emptymap": {},
        "": "empty key",
    }
    bounded = BoundedAttributes(maxlen=3, immutable=False)
    for i in range(10):
        bounded[f"k{i}"] = i
    big = BoundedAttributes(attributes={"a": 1})
    big.dropped = 2**32 - 1
    assert_parity(
        [
            rec(attributes=attrs),
            rec(attributes=BoundedAttributes(attributes=attrs)),
            rec(attributes=bounded),
            rec(attributes=big),
            rec(attributes=BoundedAttributes(0, {"a": 1})),
            rec(attributes=None),
            rec(attributes={}),
        ]
    )


@needs_ours
@pytest.mark.parametrize(
    "key",
    [None, b"bytes-key", b"", 7, b"\xff", S._Str("str-subclass"), "\udc80"],
    ids=["None", "bytes", "empty-bytes", "int", "bad-utf8-bytes", "str-subclass", "lone-surrogate"],
)
def test_non_str_top_level_attribute_keys(key):
    assert_parity([rec(attributes={"first": 1, key: "v", "last": 2})])


@needs_ours
def test_resource_and_scope_grouping_semantics():
    r_a = Resource({"a": 1, "b": 2})
    r_a_copy = Resource({"a": 1, "b": 2})
    r_a_reordered = Resource({"b": 2, "a": 1})  # equal to r_a -> merged, first object's order written
    r_true = Resource({"a": True, "b": 2})  # == r_a but different JSON hash -> separate
    r_schema = Resource({"a": 1, "b": 2}, "https://s/1")
    r_empty = Resource({})
    s1 = InstrumentationScope("lib", "1.0", None, {"a": 1})
    s1_true = InstrumentationScope("lib", "1.0", None, {"a": True})  # == s1 -> merged
    s_vnone, s_vempty = InstrumentationScope("lib", None), InstrumentationScope("lib", "")
    s_schema = InstrumentationScope("lib", "1.0", "https://scope/1")
    pairs = [
        (r_a_reordered, s1_true),
        (r_a, s1),
        (r_true, None),
        (r_a_copy, s_vnone),
        (r_schema, s_vempty),
        (r_empty, s_schema),
        (r_a, None),
        (r_true, s1),
        (r_a_copy, s_vempty),
        (r_empty, None),
        (r_schema, s_schema),
        (r_a, s1_true),
    ]
    records = [rec(body=f"r{i}", resource=r, scope=s) for i, (r, s) in enumerate(pairs)]
    out = assert_parity(records)
    msg = decoded(out)
    assert [kv.key for kv in msg.resource_logs[0].resource.attributes] == ["b", "a"]
    assert msg.resource_logs[0].schema_url == ""


@needs_ours
def test_many_records_and_big_values():
    records = [rec(body=f"m{i}", attributes={"i": i}, timestamp=i) for i in range(5_000)]
    records.append(
        rec(
            body={"s": "é" * 200_000, "b": bytes(range(256)) * 1024, "arr": list(range(50_000))},
            attributes={f"a{i}": i for i in range(5_000)},
        )
    )
    assert_parity(records)


# Nesting: A = AnyValue message depth (see strategies_logs.py). The reference encodes a
# body up to A = 98 and raises from 99; an attribute is kept up to 97 (resource: 98),
# raises in the band up to 101, and is dropped from 102.
_BODY_DEPTHS = [1, 20, 60, 95, 96, 97, 98, 102, 103, 150, 300]
_ATTR_DEPTHS = [1, 20, 60, 95, 96, 97, 102, 103, 150, 300]


def _deep_record(where: str, value):
    attrs = {"before": 1, "deep": value, "after": "x"}
    if where == "body":
        return rec(body=value)
    if where == "attribute":
        return rec(attributes=attrs)
    if where == "resource":
        return rec(resource=Resource(attrs))
    return rec(scope=InstrumentationScope("lib", "1", None, attrs))


def _classify_official(records, where: str) -> str:
    try:
        data = official(records)
    except Exception as e:  # noqa: BLE001
        return f"raises {type(e).__name__}"
    if where == "body":
        return "kept"
    return "kept" if b"\x0a\x04deep" in data else "dropped"


@needs_ours
@pytest.mark.parametrize("a", _BODY_DEPTHS)
def test_deep_body(a):
    records = [rec(body="neighbour"), _deep_record("body", SL.value_of_depth(a))]
    got = _classify_official(records, "body")
    expected = "kept" if a <= 98 else "raises DecodeError"
    assert got == expected, f"official encoder behaviour changed: body A={a}: {got}"
    assert_same_outcome(records, label=f"[body A={a} official={got}] ")


@needs_ours
@pytest.mark.parametrize("where", ["attribute", "resource", "scope"])
@pytest.mark.parametrize("a", _ATTR_DEPTHS)
def test_deep_attribute(where, a):
    records = [_deep_record(where, SL.value_of_depth(a))]
    got = _classify_official(records, where)
    assert got == ("kept" if a <= 97 else "dropped"), f"official encoder behaviour changed: {where} A={a}"
    assert_parity(records, label=f"[{where} A={a} official={got}] ")


_RAISING_BAND = [
    *[("body", a) for a in (99, 100, 101)],
    *[("attribute", a) for a in (98, 99, 100, 101)],
    *[("resource", a) for a in (99, 100, 101)],
    *[("scope", a) for a in (98, 99, 100, 101)],
]


@needs_ours
@pytest.mark.parametrize(("where", "a"), _RAISING_BAND, ids=[f"{w}-{a}" for w, a in _RAISING_BAND])
def test_deep_value_in_the_raising_band(where, a):
    """In 98/99 <= A <= 101 the reference raises (the request would embed a message
    deeper than protobuf parsers accept). Ours must not return bytes there either:
    such bytes are undecodable by upb-based collectors (the whole request is lost)."""
    records = [rec(body="neighbour"), _deep_record(where, SL.value_of_depth(a))]
    assert _classify_official(records, where).startswith("raises")
    assert_same_outcome(records, label=f"[{where} A={a}] ")


_DEEP_SCRIPT = r"""
import logging, sys
logging.disable(logging.CRITICAL)
from opentelemetry._logs import LogRecord
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs as official
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk.resources import Resource
from otlp.sdk import encode_logs as ours

where, kind, depth = sys.argv[1], sys.argv[2], int(sys.argv[3])
v = 1
for _ in range(depth):
    v = [v] if kind == "list" else {"a": v}
lr = LogRecord(observed_timestamp=1)
if where == "body":
    lr.body = v
else:
    lr.attributes = {"ok": 1, "deep": v, "z": 2}
records = [ReadableLogRecord(lr, Resource({}))]
try:
    expected = official(records).SerializeToString()
except Exception as e:
    expected = None
try:
    actual = ours(records)
except (TypeError, ValueError, RecursionError, OverflowError) as e:
    actual = e
if expected is None:
    print("EQUAL" if isinstance(actual, Exception) else f"MISMATCH: official raised, ours returned {len(actual)} bytes")
elif actual == expected:
    print("EQUAL")
else:
    print(f"MISMATCH: expected {expected.hex()}, got {actual!r:.300}")
"""


@needs_ours
@pytest.mark.parametrize("where", ["body", "attribute"])
@pytest.mark.parametrize("kind", ["list", "map"])
@pytest.mark.parametrize("depth", [5_000, 200_000])
def test_pathologically_deep_values(where, kind, depth):
    """Run in a subprocess: an encoder that recurses without a limit overflows the C stack."""
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", _DEEP_SCRIPT, where, kind, str(depth)],
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert proc.returncode == 0, (
        f"encoding a {depth}-deep {kind} {where} crashed the interpreter (returncode {proc.returncode})\n"
        f"stderr tail: {proc.stderr[-1500:]}"
    )
    assert proc.stdout.strip() == "EQUAL", proc.stdout[-3000:]


@needs_ours
def test_records_from_real_sdk_pipeline():
    """Records as the SDK really hands them to exporters (limits applied, context taken
    from the current span, SDK LoggingHandler translation)."""
    from opentelemetry import trace as trace_api
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler, LogRecordLimits
    from opentelemetry.sdk._logs.export import (
        BatchLogRecordProcessor,
        InMemoryLogRecordExporter,
        SimpleLogRecordProcessor,
    )

    simple, batched = InMemoryLogRecordExporter(), InMemoryLogRecordExporter()
    provider = LoggerProvider(
        resource=Resource.create({"service.name": "parity"}),
        log_record_limits=LogRecordLimits(max_attributes=3, max_attribute_length=4),
    )
    provider.add_log_record_processor(SimpleLogRecordProcessor(simple))
    provider.add_log_record_processor(BatchLogRecordProcessor(batched))
    lg = provider.get_logger("scope.a", "0.1", schema_url="https://schema/a", attributes={"sa": 1})
    lg_b = provider.get_logger("scope.b")
    ctx = SL.trace_context(0xABC, 0xDEF, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dropped-attribute and deprecation warnings
        lg.emit(body="plain", severity_number=SeverityNumber.WARN, severity_text="WARN", event_name="e")
        lg.emit(body={"k": [1, 2]}, attributes={"a": 1, "b": "long string", "c": 3, "d": 4}, context=ctx)
        lg_b.emit(body=b"raw", timestamp=5, observed_timestamp=6, severity_number=SeverityNumber.DEBUG)
        with trace_api.use_span(trace_api.NonRecordingSpan(trace_api.SpanContext(7, 8, False))):
            lg_b.emit(body=None)
        try:
            raise ValueError("nope")
        except ValueError as exc:
            lg.emit(body="with exception", exception=exc)
        handler = LoggingHandler(logger_provider=provider)
        std = logging.getLogger("parity.std")
        std.propagate = False
        std.addHandler(handler)
        try:
            std.warning("std %s", "msg", extra={"x": 1})
            std.error({"structured": True})
        finally:
            std.removeHandler(handler)
    provider.force_flush()
    provider.shutdown()
    got_simple, got_batched = list(simple.get_finished_logs()), list(batched.get_finished_logs())
    assert len(got_simple) == len(got_batched) == 7
    assert_parity(got_simple, label="[simple processor] ")
    assert_parity(got_batched, label="[batch processor] ")


@needs_ours
@pytest.mark.parametrize(
    "make",
    [
        lambda: rec(severity_text=b"bytes-text"),
        lambda: rec(event_name=b"bytes-event"),
        lambda: rec(scope=InstrumentationScope("lib", b"1.0")),
        lambda: rec(trace_flags=True),
        lambda: rec(trace_id=True, span_id=True),
        lambda: rec(trace_flags=1.0),
        lambda: rec(trace_flags=2.9),
    ],
    ids=[
        "severity-text-bytes",
        "event-name-bytes",
        "scope-version-bytes",
        "flags-bool",
        "ids-bool",
        "flags-float",
        "flags-float-truncated",
    ],
)
def test_ill_typed_inputs_the_reference_accepts(make):
    """Not type-correct per the SDK annotations, but the reference encodes them (bytes ->
    utf-8 decoded into the string field, flags through int())."""
    records = [make()]
    official(records)  # must not raise
    assert_parity(records)


@needs_ours
@pytest.mark.parametrize(
    "make",
    [
        lambda: rec(resource=None),
        lambda: rec(span_id=None),
        lambda: rec(trace_id=-1),
        lambda: rec(span_id=2**64),
        lambda: rec(timestamp=-1),
        lambda: rec(observed_timestamp=2**64),
        lambda: rec(timestamp=1.5),
        lambda: rec(trace_flags=2**32),
        lambda: rec(trace_flags=None),
        lambda: rec(severity_number=SL.ValueHolder(2**31)),
        lambda: rec(severity_number=SL.ValueHolder("x")),
        lambda: rec(severity_number=SL.ValueHolder(True)),
        lambda: rec(severity_text=5),
        lambda: rec(event_name=5),
        lambda: rec(attributes=[("a", 1)]),
        lambda: rec(body=object()),
        lambda: rec(body=[1, {"k": {1, 2}}]),
        lambda: rec(body=2**64),
        lambda: rec(body="\udc80"),
    ],
    ids=[
        "resource-None",
        "span-id-None",
        "trace-id-negative",
        "span-id-too-big",
        "timestamp-negative",
        "observed-too-big",
        "timestamp-float",
        "flags-too-big",
        "flags-None",
        "severity-value-too-big",
        "severity-value-str",
        "severity-value-bool",
        "severity-text-int",
        "event-name-int",
        "attributes-list",
        "body-object",
        "body-nested-set",
        "body-int-too-big",
        "body-lone-surrogate",
    ],
)
def test_inputs_the_reference_raises_on(make):
    records = [rec(body="fine"), make()]
    with pytest.raises(Exception):  # noqa: B017 - whatever the reference raises
        official(records)
    assert_same_outcome(records)
