"""OTLP/JSON from ``otlp.sdk.encode_{spans,metrics,logs}(..., format="json")``.

What is shown, for hypothesis-generated SDK inputs of all three signals:

1. **Meaning.** Our JSON, read back by a test-side reader that applies the OTLP/JSON
   rules (``otlp_json_reader.read``: span/link/log/exemplar ids hex -> bytes, then
   ``google.protobuf.json_format.ParseDict``, unknown keys rejected), is the message
   the official protobuf encoder (opentelemetry-exporter-otlp-proto-common 1.45.2)
   produces for the same input. Compared as ``SerializeToString(deterministic=True)``
   after replacing every NaN double by the canonical NaN on both sides: a message
   holding NaN is not ``==`` to itself, and JSON's ``"NaN"`` cannot carry the sign or
   payload bits the protobuf encoder keeps. Presence counts (an empty ``"status": {}``
   must be there because the protobuf encoder writes an empty status), and so does the
   sign of zero.
2. **Form.** The raw document obeys the encoding rules (``rule_violations``): ids are
   32/16 lowercase hex digits, 64-bit integers decimal strings, enums and 32-bit
   integers JSON integers, other bytes canonical base64, keys lowerCamelCase in .proto
   declaration order, no default values outside oneofs and ``optional`` fields, no
   bare NaN/Infinity, no duplicate keys, UTF-8.
3. **The official JSON package.** Where ``opentelemetry-exporter-otlp-json-common``
   (a 0.x beta; ``pip install --pre``) encodes the same input, its document and ours
   are equal as parsed JSON, doubles compared by value (``1`` and ``1.0``, or an int
   literal and the double it rounds to, are the same double; ``-0.0`` and ``0.0`` are
   not). Two documented places where that package does not write what the protobuf
   encoder writes (pinned by ``test_package_deviation_*`` so the allowance goes away
   when they do) are normalized before comparing; see ``_package_input`` and
   ``_normalize_package_doc``. Skipped, with the reason, when the package is absent.

Plus targeted tests: empty batches, string escaping (control characters, U+2028,
every code point), NaN/±Infinity, -0.0, int64/uint64 extremes, bytes as base64,
nested arrays/kvlists, ids, enums, and self-tests of the rule checker.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import math
import struct
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder import (
    encode_metrics as _official_encode_metrics,
)
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs as _official_encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as _official_encode_spans
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk.metrics._internal.exemplar import Exemplar
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Buckets,
    ExponentialHistogram,
    Gauge,
    Histogram,
    Metric,
    MetricsData,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.span import TraceState
from opentelemetry.trace.status import Status, StatusCode

try:
    import otlp_json_reader as R
    import strategies as S
    import strategies_logs as SL
    import strategies_metrics as SM
except ImportError:  # tests/ is a package
    from tests import otlp_json_reader as R
    from tests import strategies as S
    from tests import strategies_logs as SL
    from tests import strategies_metrics as SM

# Skip (not fail) only when the extension / functions are absent; any other import
# error of a present otlp.sdk is a real failure.
try:
    from otlp.sdk import encode_logs as _our_encode_logs
    from otlp.sdk import encode_metrics as _our_encode_metrics
    from otlp.sdk import encode_spans as _our_encode_spans

    _OURS_MISSING = None
except ImportError as e:
    if e.name not in ("otlp", "otlp._native", "otlp.sdk"):
        raise
    _our_encode_spans = _our_encode_metrics = _our_encode_logs = None
    _OURS_MISSING = e

pytestmark = pytest.mark.skipif(
    _OURS_MISSING is not None, reason=f"otlp.sdk encoders not built/installed: {_OURS_MISSING!r}"
)

T = AggregationTemporality
INT64_MIN, INT64_MAX, UINT64_MAX, UINT32_MAX = S.INT64_MIN, S.INT64_MAX, S.UINT64_MAX, S.UINT32_MAX
INT32_MIN, INT32_MAX = SM.INT32_MIN, SM.INT32_MAX
NEG_NAN = -math.nan
SNAN = struct.unpack("<d", b"\x01\x00\x00\x00\x00\x00\xf0\x7f")[0]  # signalling-NaN bit pattern


@pytest.fixture(autouse=True)
def _quiet_sdk_logs(caplog):
    # The official encoders log (with traceback) every attribute key they drop; that
    # would bury a failure report.
    for name in (
        "opentelemetry.exporter.otlp.proto.common",
        "opentelemetry.exporter.otlp.json.common",
        "opentelemetry.attributes",
        "opentelemetry.trace",
        "opentelemetry.sdk.metrics",
    ):
        caplog.set_level(logging.CRITICAL, logger=name)


# ---------------------------------------------------------------------------
# the three signals
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Signal:
    name: str
    ours: Callable[..., bytes]
    official: Callable[[Any], Any]  # -> protobuf message
    message_cls: Any
    describe: Callable[[Any], str]
    package_module: str  # where opentelemetry-exporter-otlp-json-common has its encoder
    package_function: str


SPANS = Signal(
    "spans",
    lambda x, **kw: _our_encode_spans(x, **kw),
    _official_encode_spans,
    ExportTraceServiceRequest,
    S.describe_spans,
    "opentelemetry.exporter.otlp.json.common.trace_encoder",
    "encode_spans",
)
METRICS = Signal(
    "metrics",
    lambda x, **kw: _our_encode_metrics(x, **kw),
    _official_encode_metrics,
    ExportMetricsServiceRequest,
    SM.describe_metrics_data,
    "opentelemetry.exporter.otlp.json.common.metrics_encoder",
    "encode_metrics",
)
LOGS = Signal(
    "logs",
    lambda x, **kw: _our_encode_logs(x, **kw),
    _official_encode_logs,
    ExportLogsServiceRequest,
    SL.describe_logs,
    "opentelemetry.exporter.otlp.json.common._log_encoder",
    "encode_logs",
)
SIGNALS = {s.name: s for s in (SPANS, METRICS, LOGS)}


def _describe(sig: Signal, x) -> str:
    try:
        return sig.describe(x)
    except Exception as e:  # noqa: BLE001 - a report must not fail on describing exotic input
        return f"<could not describe the input: {e!r}>"


def _excerpt(data: bytes, n: int = 3000) -> str:
    text = data.decode("utf-8", "backslashreplace")
    return text if len(text) <= n else text[:n] + f"... ({len(text)} chars)"


def ours_json(sig: Signal, x) -> bytes:
    out = sig.ours(x, format="json")
    assert type(out) is bytes, f"otlp.sdk.encode_{sig.name}(format='json') returned {type(out).__name__}"
    return out


def assert_reads_back_as_official(sig: Signal, x, *, label: str = "") -> bytes | None:
    """Our JSON, read back, is the official protobuf encoder's message. Where the
    official encoder raises, ours must raise too (a JSON exporter would fail the batch
    rather than send something else). Returns our JSON (None if both raised)."""
    try:
        expected = sig.official(x)
    except Exception as ref_err:  # noqa: BLE001 - any reference failure counts
        try:
            actual = sig.ours(x, format="json")
        except Exception:  # noqa: BLE001 - ours must fail too, how does not matter
            return None
        raise AssertionError(
            f"{label}the official encoder raised {ref_err!r}, but our JSON encoder returned "
            f"{_excerpt(actual, 500)}\ninput:\n{_describe(sig, x)}"
        ) from None
    try:
        data = ours_json(sig, x)
    except Exception as e:
        raise AssertionError(
            f"{label}otlp.sdk.encode_{sig.name}(format='json') raised {e!r} where the official "
            f"encoder succeeded\ninput:\n{_describe(sig, x)}"
        ) from e
    try:
        got = R.read(data, sig.message_cls)
    except Exception as e:
        raise AssertionError(
            f"{label}our JSON does not read back as OTLP/JSON: {e}\n"
            f"input:\n{_describe(sig, x)}\nJSON: {_excerpt(data)}"
        ) from e
    want_b, got_b = R.canonical_bytes(expected), R.canonical_bytes(got)
    if want_b != got_b:
        raise AssertionError(
            f"{label}our JSON means something else than the official encoder's message\n"
            f"input:\n{_describe(sig, x)}\nJSON: {_excerpt(data)}\n"
            f"(wire dumps: 'expected' = official, 'actual' = our JSON read back)\n"
            f"{S.explain_mismatch(want_b, got_b, sig.message_cls)}"
        )
    return data


def assert_obeys_rules(sig: Signal, data: bytes, x=None, *, label: str = "") -> dict:
    try:
        doc = R.loads(data)
    except R.JSONSyntaxError as e:
        raise AssertionError(f"{label}not strict JSON: {e}\nJSON: {_excerpt(data)}") from e
    violations = R.rule_violations(doc, sig.message_cls)
    if violations:
        raise AssertionError(
            f"{label}{len(violations)} OTLP/JSON rule violation(s):\n  "
            + "\n  ".join(violations[:40])
            + (f"\ninput:\n{_describe(sig, x)}" if x is not None else "")
            + f"\nJSON: {_excerpt(data)}"
        )
    return doc


def check(sig: Signal, x, *, label: str = "") -> dict:
    """Both properties for one input; returns our parsed document."""
    data = assert_reads_back_as_official(sig, x, label=label)
    assert data is not None, f"{label}the official encoder raised on a targeted input"
    return assert_obeys_rules(sig, data, x, label=label)


# ---------------------------------------------------------------------------
# 1 + 2: random inputs against the official protobuf encoder, and the raw rules
# ---------------------------------------------------------------------------


@given(S.span_batches())
def test_spans_read_back_as_official_message(batch):
    assert_reads_back_as_official(SPANS, batch)


@given(SM.metrics_batches(with_exemplars=True))
def test_metrics_read_back_as_official_message(batch):
    assert_reads_back_as_official(METRICS, batch.data)


@given(SL.log_batches())
def test_logs_read_back_as_official_message(batch):
    assert_reads_back_as_official(LOGS, batch)


@given(S.span_batches())
def test_spans_obey_json_rules(batch):
    assert_obeys_rules(SPANS, ours_json(SPANS, batch), batch)


@given(SM.metrics_batches(with_exemplars=True))
def test_metrics_obey_json_rules(batch):
    assert_obeys_rules(METRICS, ours_json(METRICS, batch.data), batch.data)


@given(SL.log_batches())
def test_logs_obey_json_rules(batch):
    assert_obeys_rules(LOGS, ours_json(LOGS, batch), batch)


# Exotic inputs: values the official encoder accepts through ABC checks, keys it drops
# (ours must drop the same ones in JSON too), log bodies it raises on.
@settings(max_examples=30)
@given(S.exotic_span_batches())
def test_exotic_spans(batch):
    data = assert_reads_back_as_official(SPANS, batch)
    assert_obeys_rules(SPANS, data, batch)


@settings(max_examples=30)
@given(SM.exotic_metrics_batches())
def test_exotic_metrics(batch):
    data = assert_reads_back_as_official(METRICS, batch.data)
    assert_obeys_rules(METRICS, data, batch.data)


@settings(max_examples=30)
@given(SL.exotic_log_batches())
def test_exotic_logs(batch):
    data = assert_reads_back_as_official(LOGS, batch)
    if data is not None:
        assert_obeys_rules(LOGS, data, batch)


# ---------------------------------------------------------------------------
# 3: the official JSON package (opentelemetry-exporter-otlp-json-common)
# ---------------------------------------------------------------------------

_PACKAGE_REASON = (
    "opentelemetry-exporter-otlp-json-common is not installed; it is a 0.x beta on PyPI: "
    "pip install --pre 'opentelemetry-exporter-otlp-json-common==0.66b1'"
)


@pytest.fixture(scope="module")
def json_package() -> dict[str, Callable[[Any], Any]]:
    """The package's encode functions by signal name (each returns an object with ``to_json()``)."""
    encoders = {}
    for sig in SIGNALS.values():
        module = pytest.importorskip(sig.package_module, reason=_PACKAGE_REASON)
        encoders[sig.name] = getattr(module, sig.package_function)
    return encoders


_METRIC_DATA_KEYS = ("gauge", "sum", "histogram", "exponentialHistogram", "summary")


def _package_input(sig: Signal, x):
    """The input to give the JSON package so that it encodes what the protobuf encoder does.

    Metrics: the protobuf encoder keys ResourceMetrics by ``Resource`` and ScopeMetrics by
    ``InstrumentationScope`` in dicts, so equal resources / scopes overwrite each other
    (the first key's position and resource object, the last value); the JSON package
    writes every ResourceMetrics / ScopeMetrics as given. Hand the package the input
    already merged the way the protobuf encoder merges it (test_package_deviation_
    duplicate_resources pins this difference). Spans and logs are grouped alike by both."""
    if sig is not METRICS:
        return x
    merged: dict[Any, dict[Any, ScopeMetrics]] = {}
    for rm in x.resource_metrics:
        scopes: dict[Any, ScopeMetrics] = {}
        merged[rm.resource] = scopes  # keeps the first equal key, replaces the value
        for sm in rm.scope_metrics:
            scopes[sm.scope] = sm
    return MetricsData(
        [ResourceMetrics(res, list(scopes.values()), res.schema_url) for res, scopes in merged.items()]
    )


def _normalize_package_doc(sig: Signal, doc: dict) -> dict:
    """Metrics: the protobuf encoder sets a metric's data inside its per-point loop, so a
    metric with no points has no data field at all; the JSON package writes the data
    message anyway (``"gauge": {}``, ``"sum": {"aggregationTemporality": 2}``). Drop a
    data member without ``dataPoints`` from the package's document
    (test_package_deviation_metric_without_points pins this difference)."""
    if sig is METRICS:
        for rm in doc.get("resourceMetrics", []):
            for sm in rm.get("scopeMetrics", []):
                for m in sm.get("metrics", []):
                    for k in _METRIC_DATA_KEYS:
                        if k in m and not m[k].get("dataPoints"):
                            del m[k]
    return doc


def package_doc(sig: Signal, x, json_package) -> dict:
    text = json_package[sig.name](_package_input(sig, x)).to_json()
    return _normalize_package_doc(sig, R.loads(text.encode("utf-8")))


def assert_equals_package(sig: Signal, x, json_package, *, label: str = "") -> None:
    ours = R.loads(ours_json(sig, x))
    theirs = package_doc(sig, x, json_package)
    d = sig.message_cls.DESCRIPTOR
    diff = R.json_diff(R.canonical_doc(ours, d), R.canonical_doc(theirs, d))
    if diff:
        raise AssertionError(
            f"{label}our JSON differs from opentelemetry-exporter-otlp-json-common's:\n  "
            + "\n  ".join(diff)
            + f"\ninput:\n{_describe(sig, x)}\nours:   {_excerpt(json.dumps(ours).encode())}"
            + f"\ntheirs: {_excerpt(json.dumps(theirs).encode())}"
        )


@given(S.span_batches())
def test_spans_equal_official_json_package(json_package, batch):
    assert_equals_package(SPANS, batch, json_package)


@given(SM.metrics_batches(with_exemplars=True))
def test_metrics_equal_official_json_package(json_package, batch):
    assert_equals_package(METRICS, batch.data, json_package)


@given(SL.log_batches())
def test_logs_equal_official_json_package(json_package, batch):
    assert_equals_package(LOGS, batch, json_package)


def test_package_deviation_metric_without_points(json_package):
    """Why _normalize_package_doc exists (fails once the package stops deviating)."""
    data = md(metric(Gauge([]), "g"), metric(Sum([], T.DELTA, True), "s"))
    official = _official_encode_metrics(data).resource_metrics[0].scope_metrics[0].metrics
    assert [m.WhichOneof("data") for m in official] == [None, None]
    raw = R.loads(json_package["metrics"](data).to_json().encode())
    metrics = raw["resourceMetrics"][0]["scopeMetrics"][0]["metrics"]
    assert metrics == [
        {"name": "g", "gauge": {}},
        {"name": "s", "sum": {"aggregationTemporality": 1, "isMonotonic": True}},
    ]
    ours = R.loads(ours_json(METRICS, data))["resourceMetrics"][0]["scopeMetrics"][0]["metrics"]
    assert ours == [{"name": "g"}, {"name": "s"}]


def test_package_deviation_duplicate_resources(json_package):
    """Why _package_input merges (fails once the package stops deviating)."""
    data = MetricsData(
        [
            ResourceMetrics(
                Resource({"a": 1}), [ScopeMetrics(SCOPE, [metric(Gauge([npoint(1)]), "x")], "")], ""
            ),
            ResourceMetrics(
                Resource({"a": 1}), [ScopeMetrics(SCOPE, [metric(Gauge([npoint(2)]), "y")], "")], ""
            ),
        ]
    )
    assert len(_official_encode_metrics(data).resource_metrics) == 1
    assert len(R.loads(json_package["metrics"](data).to_json().encode())["resourceMetrics"]) == 2
    ours = R.loads(ours_json(METRICS, data))
    assert [m["name"] for m in ours["resourceMetrics"][0]["scopeMetrics"][0]["metrics"]] == ["y"]
    assert len(ours["resourceMetrics"]) == 1


# ---------------------------------------------------------------------------
# helpers for targeted inputs
# ---------------------------------------------------------------------------

TRACE_ID = int.from_bytes(bytes(range(1, 17)), "big")
SPAN_ID = int.from_bytes(bytes(range(0x11, 0x19)), "big")
# the metrics builders are shared with test_parity_metrics.py (strategies_metrics.py)
RES, SCOPE = SM.RES, SM.SCOPE
md, npoint, hpoint, epoint = SM.md, SM.npoint, SM.hpoint, SM.epoint


def ctx(trace_id=TRACE_ID, span_id=SPAN_ID, remote=False, flags=0, state=None) -> SpanContext:
    return SpanContext(trace_id, span_id, remote, TraceFlags(flags), state)


def span(name="op", **kw) -> ReadableSpan:
    kw.setdefault("context", ctx())
    kw.setdefault("resource", RES)
    kw.setdefault("instrumentation_scope", SCOPE)
    kw.setdefault("start_time", 1)
    kw.setdefault("end_time", 2)
    return ReadableSpan(name, **kw)


def metric(data, name="m", description="", unit="") -> Metric:
    return Metric(name, description, unit, data)


def log(body=None, attributes=None, resource=RES, scope=SCOPE, **fields) -> ReadableLogRecord:
    lr = LogRecord(observed_timestamp=1)
    lr.timestamp = fields.pop("timestamp", 2)
    lr.observed_timestamp = fields.pop("observed_timestamp", 1)
    lr.trace_id = fields.pop("trace_id", 0)
    lr.span_id = fields.pop("span_id", 0)
    lr.trace_flags = fields.pop("trace_flags", TraceFlags(0))
    lr.severity_number = fields.pop("severity_number", SeverityNumber.INFO)
    lr.severity_text = fields.pop("severity_text", None)
    lr.event_name = fields.pop("event_name", None)
    assert not fields, fields
    lr.body = body
    lr.attributes = attributes or {}
    return ReadableLogRecord(log_record=lr, resource=resource, instrumentation_scope=scope)


def attrs_of(doc_with_attributes: dict) -> dict[str, dict]:
    """``{"attributes": [{"key": k, "value": v}, ...]}`` -> ``{k: v}``."""
    return {kv.get("key", ""): kv["value"] for kv in doc_with_attributes.get("attributes", [])}


def the_span(doc: dict) -> dict:
    return doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]


def the_metrics(doc: dict) -> list[dict]:
    return doc["resourceMetrics"][0]["scopeMetrics"][0]["metrics"]


def the_logs(doc: dict) -> list[dict]:
    return doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"]


def sign(x: float) -> float:
    return math.copysign(1.0, x)


# ---------------------------------------------------------------------------
# targeted: shape
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sig, empty",
    [(SPANS, []), (SPANS, ()), (METRICS, MetricsData([])), (LOGS, []), (LOGS, ())],
    ids=["spans-list", "spans-tuple", "metrics", "logs-list", "logs-tuple"],
)
def test_empty_batch_is_an_empty_object(sig, empty):
    data = ours_json(sig, empty)
    assert R.loads(data) == {}
    assert R.canonical_bytes(R.read(data, sig.message_cls)) == R.canonical_bytes(sig.official(empty)) == b""


def test_empty_batch_official_json_package(json_package):
    for sig, empty in ((SPANS, []), (METRICS, MetricsData([])), (LOGS, [])):
        assert R.loads(json_package[sig.name](empty).to_json().encode()) == {}


def test_worked_example():
    """PARITY.md's worked example as OTLP/JSON, key order included."""
    s = span(context=ctx(state=TraceState([("a", "1"), ("b", "2")])))
    data = ours_json(SPANS, [s])
    doc = check(SPANS, [s])
    assert doc == {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
                "scopeSpans": [
                    {
                        "scope": {"name": "lib", "version": "1.0"},
                        "spans": [
                            {
                                "traceId": "0102030405060708090a0b0c0d0e0f10",
                                "spanId": "1112131415161718",
                                "traceState": "a=1,b=2",
                                "flags": 256,
                                "name": "op",
                                "kind": 1,
                                "startTimeUnixNano": "1",
                                "endTimeUnixNano": "2",
                                "status": {},
                            }
                        ],
                    }
                ],
            }
        ]
    }
    assert list(the_span(doc)) == [
        "traceId", "spanId", "traceState", "flags", "name", "kind",
        "startTimeUnixNano", "endTimeUnixNano", "status",
    ]  # fmt: skip
    assert b" " not in data and b"\n" not in data  # compact


def test_one_of_everything_spans():
    s = span(
        "everything",
        context=ctx(remote=True, flags=1, state=TraceState([("k", "v")])),
        parent=ctx(span_id=7, remote=True),
        attributes={"a": 1},
        events=[Event("e", {"x": "y"}, 5), Event("", None, 0)],
        links=[Link(ctx(trace_id=3, span_id=4, remote=True), {"l": True}), Link(ctx(trace_id=0, span_id=0))],
        kind=SpanKind.CONSUMER,
        status=Status(StatusCode.ERROR, "boom"),
    )
    doc = check(SPANS, [s])
    sp = the_span(doc)
    assert sp["parentSpanId"] == "0000000000000007"
    assert sp["flags"] == 0x300 and sp["kind"] == 5
    assert sp["status"] == {"message": "boom", "code": 2}
    assert sp["events"] == [
        {"timeUnixNano": "5", "name": "e", "attributes": [{"key": "x", "value": {"stringValue": "y"}}]},
        {},
    ]
    assert sp["links"][0] == {
        "traceId": "00000000000000000000000000000003",
        "spanId": "0000000000000004",
        "attributes": [{"key": "l", "value": {"boolValue": True}}],
        "flags": 0x300,
    }
    assert sp["links"][1] == {
        "traceId": "0" * 32,
        "spanId": "0" * 16,
        "flags": 0x100,
    }


@pytest.mark.parametrize("kind", list(SpanKind))
@pytest.mark.parametrize("code", list(StatusCode))
def test_span_enums_are_integers(kind, code):
    doc = check(SPANS, [span(kind=kind, status=Status(code))])
    sp = the_span(doc)
    assert sp["kind"] == kind.value + 1 and type(sp["kind"]) is int
    if code is StatusCode.UNSET:
        assert sp["status"] == {}
    else:
        assert sp["status"] == {"code": code.value} and type(sp["status"]["code"]) is int


def test_ids_are_lowercase_hex_of_the_right_length():
    s = span(
        context=ctx(trace_id=2**128 - 1, span_id=0xABCDEF),
        parent=ctx(span_id=2**64 - 1),
        links=[Link(ctx(trace_id=0xA << 120, span_id=0xB))],
    )
    sp = the_span(check(SPANS, [s]))
    assert sp["traceId"] == "f" * 32
    assert sp["spanId"] == "0000000000abcdef"
    assert sp["parentSpanId"] == "f" * 16
    assert (sp["links"][0]["traceId"], sp["links"][0]["spanId"]) == ("0a" + "0" * 30, "000000000000000b")

    logs = the_logs(check(LOGS, [log(trace_id=0xAB, span_id=0xCD), log(trace_id=0, span_id=0)]))
    assert (logs[0]["traceId"], logs[0]["spanId"]) == ("0" * 30 + "ab", "0" * 14 + "cd")
    assert "traceId" not in logs[1] and "spanId" not in logs[1]  # zero ids are left out

    ex = [
        Exemplar({}, 1, 5, span_id=0xEF, trace_id=0x12),
        Exemplar({}, 1, 5, span_id=0, trace_id=0),  # both present -> written, zero-filled
        Exemplar({}, 1, 5, span_id=0xEF, trace_id=None),  # only when both -> neither
    ]
    exemplars = the_metrics(check(METRICS, md(metric(Gauge([npoint(exemplars=ex)])))))[0]["gauge"][
        "dataPoints"
    ][0]["exemplars"]
    assert [(e.get("spanId"), e.get("traceId")) for e in exemplars] == [
        ("0" * 14 + "ef", "0" * 30 + "12"),
        ("0" * 16, "0" * 32),
        (None, None),
    ]


# ---------------------------------------------------------------------------
# targeted: strings
# ---------------------------------------------------------------------------

TRICKY_STRINGS = [
    "",
    '"',
    "\\",
    '\\"',
    "/",
    "</script>",
    "\x00",
    "a\x00b",
    "".join(map(chr, range(0x20))),
    "\b\f\n\r\t",
    "\x7f",
    "\x80\x9f",
    "é",
    "\u2028\u2029",
    "\ufeff",
    "\uffff",
    "日本語",
    "🙂",
    "\U0010ffff",
    "\\u0000",
    "a" * 1000,
]


@pytest.mark.parametrize("text", TRICKY_STRINGS, ids=[f"s{i}" for i in range(len(TRICKY_STRINGS))])
def test_string_escaping(text):
    """Every string field round-trips exactly; control characters are escaped
    (a raw byte below 0x20 is not allowed inside a JSON string)."""
    a = {text: text, "v": text, "arr": [text], "map": {text: text}}
    spans = [
        span(
            text,
            attributes=a,
            resource=Resource({text: text}, text),
            instrumentation_scope=InstrumentationScope(text, text, text, {text: text}),
            events=[Event(text, a, 1)],
            status=Status(StatusCode.ERROR, text),
        )
    ]
    metrics = md(
        metric(Gauge([npoint(1, a)]), text, text, text),
        resource=Resource({text: text}, text),
        scope=InstrumentationScope(text, text, text, {text: text}),
    )
    logs = [log(text, a, severity_text=text, event_name=text), log({text: [text]})]
    for sig, x in ((SPANS, spans), (METRICS, metrics), (LOGS, logs)):
        data = ours_json(sig, x)
        assert not any(b < 0x20 for b in data), f"{sig.name}: raw control byte in {data[:300]!r}"
        check(sig, x, label=f"[{sig.name}] ")
    # the exact value, through a plain JSON parser
    assert the_span(json.loads(ours_json(SPANS, spans))).get("name", "") == text


def test_every_code_point_round_trips():
    """All of Unicode except the surrogates (which a Python str may hold, but the
    official encoder drops / refuses), as attribute values of one span and a log body."""
    chunks = {}
    start = 0
    while start < 0x110000:
        end = min(start + 0x8000, 0x110000)
        chunks[f"{start:06x}"] = "".join(chr(c) for c in range(start, end) if not 0xD800 <= c <= 0xDFFF)
        start = end
    doc = check(SPANS, [span(attributes=chunks)])
    got = {k: v["stringValue"] for k, v in attrs_of(the_span(doc)).items()}
    assert got == chunks
    body = "".join(chunks.values())
    assert the_logs(check(LOGS, [log(body)]))[0]["body"] == {"stringValue": body}


def test_lone_surrogates_are_dropped_like_the_official_encoder():
    """A str with a lone surrogate cannot be UTF-8: the official encoder drops such an
    attribute key; our JSON must not contain it (nor a ``\\ud800`` escape)."""
    s = span(attributes={"bad": "a\ud800b", "nested": [{"k": "\udfff"}], "ok": 1})
    data = assert_reads_back_as_official(SPANS, [s])
    assert b"\\ud" not in data.lower()
    assert list(attrs_of(the_span(R.loads(data)))) == ["ok"]


# ---------------------------------------------------------------------------
# targeted: numbers
# ---------------------------------------------------------------------------


def test_non_finite_doubles_are_strings():
    special = {"nan": math.nan, "neg_nan": NEG_NAN, "snan": SNAN, "inf": math.inf, "ninf": -math.inf}
    words = {"nan": "NaN", "neg_nan": "NaN", "snan": "NaN", "inf": "Infinity", "ninf": "-Infinity"}

    sp = the_span(check(SPANS, [span(attributes=special)]))
    assert {k: v for k, v in attrs_of(sp).items()} == {k: {"doubleValue": w} for k, w in words.items()}

    nan, inf = math.nan, math.inf
    ex = [Exemplar({}, nan, 1, 2, 3), Exemplar({}, -inf, 1)]
    data = md(
        metric(Gauge([npoint(nan, exemplars=ex), npoint(inf), npoint(-inf)]), "g"),
        metric(
            Histogram([hpoint(sum=nan, min=inf, max=-inf, explicit_bounds=[-inf, nan, inf])], T.DELTA), "h"
        ),
        metric(ExponentialHistogram([epoint(sum=-inf, min=nan, max=inf)], T.DELTA), "e"),
    )
    g, h, e = the_metrics(check(METRICS, data))
    gp = g["gauge"]["dataPoints"]
    assert [p["asDouble"] for p in gp] == ["NaN", "Infinity", "-Infinity"]
    assert [x["asDouble"] for x in gp[0]["exemplars"]] == ["NaN", "-Infinity"]
    hp = h["histogram"]["dataPoints"][0]
    assert (hp["sum"], hp["min"], hp["max"]) == ("NaN", "Infinity", "-Infinity")
    assert hp["explicitBounds"] == ["-Infinity", "NaN", "Infinity"]
    ep = e["exponentialHistogram"]["dataPoints"][0]
    assert (ep["sum"], ep["min"], ep["max"]) == ("-Infinity", "NaN", "Infinity")

    logs = the_logs(check(LOGS, [log(nan), log([inf, -inf]), log({"x": NEG_NAN})]))
    assert logs[0]["body"] == {"doubleValue": "NaN"}
    assert logs[1]["body"] == {
        "arrayValue": {"values": [{"doubleValue": "Infinity"}, {"doubleValue": "-Infinity"}]}
    }
    assert logs[2]["body"] == {"kvlistValue": {"values": [{"key": "x", "value": {"doubleValue": "NaN"}}]}}


def test_negative_zero_keeps_its_sign():
    sp = the_span(check(SPANS, [span(attributes={"nz": -0.0, "z": 0.0, "arr": [-0.0, 0.0]})]))
    a = attrs_of(sp)
    assert sign(a["nz"]["doubleValue"]) == -1 and a["nz"]["doubleValue"] == 0
    assert sign(a["z"]["doubleValue"]) == 1 and a["z"]["doubleValue"] == 0  # oneof: zero written
    assert [sign(v["doubleValue"]) for v in a["arr"]["arrayValue"]["values"]] == [-1, 1]

    data = md(
        metric(Gauge([npoint(-0.0), npoint(0.0)]), "g"),
        metric(Histogram([hpoint(sum=-0.0, min=-0.0, max=0.0, explicit_bounds=[-0.0, 0.0])], T.DELTA), "h"),
        metric(ExponentialHistogram([epoint(sum=-0.0, min=0.0, max=-0.0)], T.DELTA), "e"),
    )
    g, h, e = the_metrics(check(METRICS, data))
    assert [sign(p["asDouble"]) for p in g["gauge"]["dataPoints"]] == [-1, 1]
    hp = h["histogram"]["dataPoints"][0]
    assert [sign(hp[k]) for k in ("sum", "min", "max")] == [-1, -1, 1]  # optional: zero written
    assert [sign(b) for b in hp["explicitBounds"]] == [-1, 1]
    ep = e["exponentialHistogram"]["dataPoints"][0]
    assert [sign(ep[k]) for k in ("sum", "min", "max")] == [-1, 1, -1]

    body = the_logs(check(LOGS, [log(-0.0)]))[0]["body"]["doubleValue"]
    assert body == 0 and sign(body) == -1


@settings(max_examples=300)
@given(
    st.lists(
        st.one_of(
            st.floats(allow_nan=False, allow_infinity=False),
            st.sampled_from(
                [5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 0.1, 1e16, 1e-7]
            ),
            st.integers(-(2**53), 2**53).map(float),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_finite_doubles_are_exact_json_numbers(values):
    """A finite double is written as a JSON number that parses back to the same bits."""
    doc = check(SPANS, [span(attributes={f"d{i}": v for i, v in enumerate(values)})])
    got = [v["doubleValue"] for v in attrs_of(the_span(doc)).values()]
    assert all(type(g) in (int, float) for g in got), got
    assert [struct.pack("<d", float(g)) for g in got] == [struct.pack("<d", v) for v in values]
    doc = check(METRICS, md(metric(Histogram([hpoint(explicit_bounds=values, sum=values[0])], T.DELTA))))
    hp = the_metrics(doc)[0]["histogram"]["dataPoints"][0]
    assert [struct.pack("<d", float(g)) for g in hp["explicitBounds"]] == [
        struct.pack("<d", v) for v in values
    ]


def test_int64_extremes_are_decimal_strings():
    ints = {"min": INT64_MIN, "max": INT64_MAX, "zero": 0, "neg": -1, "big": 2**53 + 1}
    sp = the_span(
        check(
            SPANS,
            [
                span(
                    attributes=ints,
                    start_time=UINT64_MAX,
                    end_time=2**63,
                    events=[Event("e", None, UINT64_MAX)],
                )
            ],
        )
    )
    assert attrs_of(sp) == {k: {"intValue": str(v)} for k, v in ints.items()}
    assert (sp["startTimeUnixNano"], sp["endTimeUnixNano"]) == (str(UINT64_MAX), str(2**63))
    assert sp["events"][0]["timeUnixNano"] == str(UINT64_MAX)

    ex = [Exemplar({}, INT64_MIN, UINT64_MAX), Exemplar({}, 0, 1)]
    data = md(
        metric(Gauge([npoint(INT64_MIN, exemplars=ex), npoint(0), npoint(INT64_MAX, time=UINT64_MAX)]), "g"),
        metric(Sum([npoint(INT64_MAX, start=UINT64_MAX)], T.CUMULATIVE, False), "s"),
        metric(
            Histogram(
                [hpoint(count=UINT64_MAX, bucket_counts=[0, UINT64_MAX, 2**63], explicit_bounds=[1, 2])],
                T.DELTA,
            ),
            "h",
        ),
        metric(
            ExponentialHistogram(
                [
                    epoint(
                        count=UINT64_MAX,
                        zero_count=UINT64_MAX,
                        scale=INT32_MIN,
                        flags=UINT32_MAX,
                        positive=Buckets(INT32_MAX, [UINT64_MAX, 0]),
                        negative=Buckets(INT32_MIN, [1]),
                    )
                ],
                T.DELTA,
            ),
            "e",
        ),
    )
    g, s, h, e = the_metrics(check(METRICS, data))
    gp = g["gauge"]["dataPoints"]
    assert [p["asInt"] for p in gp] == [str(INT64_MIN), "0", str(INT64_MAX)]  # oneof: zero written
    assert gp[2]["timeUnixNano"] == str(UINT64_MAX)
    assert [x["asInt"] for x in gp[0]["exemplars"]] == [str(INT64_MIN), "0"]
    assert gp[0]["exemplars"][0]["timeUnixNano"] == str(UINT64_MAX)
    assert s["sum"]["dataPoints"][0]["startTimeUnixNano"] == str(UINT64_MAX)
    assert "isMonotonic" not in s["sum"] and s["sum"]["aggregationTemporality"] == 2
    hp = h["histogram"]["dataPoints"][0]
    assert hp["count"] == str(UINT64_MAX)
    assert hp["bucketCounts"] == ["0", str(UINT64_MAX), str(2**63)]  # repeated: zeros kept
    assert hp["explicitBounds"] == [1.0, 2.0]
    ep = e["exponentialHistogram"]["dataPoints"][0]
    assert (ep["count"], ep["zeroCount"]) == (str(UINT64_MAX), str(UINT64_MAX))
    assert (ep["scale"], ep["flags"]) == (INT32_MIN, UINT32_MAX)  # 32-bit: JSON numbers
    assert ep["positive"] == {"offset": INT32_MAX, "bucketCounts": [str(UINT64_MAX), "0"]}
    assert ep["negative"] == {"offset": INT32_MIN, "bucketCounts": ["1"]}

    logs = the_logs(
        check(
            LOGS,
            [
                log(
                    INT64_MIN,
                    {"m": INT64_MAX},
                    timestamp=UINT64_MAX,
                    observed_timestamp=UINT64_MAX,
                    trace_flags=UINT32_MAX,
                ),
                log(0, timestamp=None, observed_timestamp=0),
            ],
        )
    )
    assert logs[0]["timeUnixNano"] == logs[0]["observedTimeUnixNano"] == str(UINT64_MAX)
    assert logs[0]["body"] == {"intValue": str(INT64_MIN)}
    assert logs[0]["flags"] == UINT32_MAX
    assert attrs_of(logs[0]) == {"m": {"intValue": str(INT64_MAX)}}
    assert logs[1] == {"severityNumber": 9, "body": {"intValue": "0"}}


@pytest.mark.parametrize(
    "severity", [*list(SeverityNumber), SL.ForeignSeverity.MINUS_ONE, SL.ForeignSeverity.INT32_MAX, 7]
)
def test_severity_number_is_an_integer(severity):
    rec = the_logs(check(LOGS, [log("x", severity_number=severity)]))[0]
    value = getattr(severity, "value", None)  # a plain int has no .value: omitted (PARITY)
    if not value:
        assert "severityNumber" not in rec
    else:
        assert rec["severityNumber"] == value and type(rec["severityNumber"]) is int


@pytest.mark.parametrize("temporality", [*list(T), 7, -1])
def test_aggregation_temporality_is_an_integer(temporality):
    data = md(
        metric(Sum([npoint()], temporality, True), "s"),
        metric(Histogram([hpoint()], temporality), "h"),
        metric(ExponentialHistogram([epoint()], temporality), "e"),
    )
    s, h, e = the_metrics(check(METRICS, data))
    want = int(temporality)
    for key, m in (("sum", s), ("histogram", h), ("exponentialHistogram", e)):
        got = m[key].get("aggregationTemporality", 0)
        assert got == want and type(got) is int, (key, got)
    assert s["sum"]["isMonotonic"] is True


def test_metric_corner_cases():
    """Inputs the official encoder accepts although they are not type-correct: None for
    optional sum/min/max (left out), data=None, an unknown data object (no data field),
    None description/unit, a metric without points (no data field)."""
    data = md(
        metric(Histogram([hpoint(sum=None, min=None, max=None)], T.DELTA), "h", None, None),
        metric(
            ExponentialHistogram([epoint(sum=None, min=None, max=None, scale=None, flags=None)], T.DELTA), "e"
        ),
        metric(None, "none"),
        metric(SM.UnsupportedData([1]), "unsupported"),
        metric(Histogram([], T.DELTA), "empty"),
        metric(
            Histogram([hpoint(sum=0, min=0, max=0.0, bucket_counts=[], explicit_bounds=[])], T.DELTA), "zeros"
        ),
    )
    h, e, none, unsupported, empty, zeros = the_metrics(check(METRICS, data))
    assert not {"sum", "min", "max"} & set(h["histogram"]["dataPoints"][0])
    assert not {"sum", "min", "max", "scale", "flags"} & set(e["exponentialHistogram"]["dataPoints"][0])
    assert none == {"name": "none"} and unsupported == {"name": "unsupported"} and empty == {"name": "empty"}
    zp = zeros["histogram"]["dataPoints"][0]
    assert (zp["sum"], zp["min"], zp["max"]) == (0, 0, 0)  # proto3 optional: written even when 0
    assert "bucketCounts" not in zp and "explicitBounds" not in zp


# ---------------------------------------------------------------------------
# targeted: bytes and nested values
# ---------------------------------------------------------------------------

BYTES = {
    "empty": b"",
    "nul": b"\x00",
    "fffe": b"\xff\xfe",
    "1": b"a",
    "2": b"ab",
    "3": b"abc",
    "4": b"abcd",
    "plus_slash": b"\xfb\xff\xbf",
    "all": bytes(range(256)),
}


def test_bytes_values_are_standard_base64():
    want = {k: {"bytesValue": base64.b64encode(v).decode()} for k, v in BYTES.items()}
    assert want["plus_slash"] == {"bytesValue": "+/+/"} and want["empty"] == {"bytesValue": ""}
    assert attrs_of(the_span(check(SPANS, [span(attributes=BYTES)]))) == want
    logs = the_logs(check(LOGS, [log(v, {"b": v}) for v in BYTES.values()]))
    assert [r["body"] for r in logs] == list(want.values())
    assert [attrs_of(r)["b"] for r in logs] == list(want.values())
    g = the_metrics(check(METRICS, md(metric(Gauge([npoint(1, BYTES)])))))[0]
    assert attrs_of(g["gauge"]["dataPoints"][0]) == want


def test_nested_arrays_and_kvlists():
    value = {
        "a": [1, [2.5, None], {"k": b"x"}],
        "empty_list": [],
        "empty_map": {},
        3: "int key",
        None: True,
        "deep": [[{"x": [{}]}]],
    }
    attributes = {"n": value, "t": (True, "s", None, -7), "zero": [0, 0.0, False, "", b""], "": "empty key"}
    expected = {
        "n": {
            "kvlistValue": {
                "values": [
                    {
                        "key": "a",
                        "value": {
                            "arrayValue": {
                                "values": [
                                    {"intValue": "1"},
                                    {"arrayValue": {"values": [{"doubleValue": 2.5}, {}]}},
                                    {
                                        "kvlistValue": {
                                            "values": [{"key": "k", "value": {"bytesValue": "eA=="}}]
                                        }
                                    },
                                ]
                            }
                        },
                    },
                    {"key": "empty_list", "value": {"arrayValue": {}}},
                    {"key": "empty_map", "value": {"kvlistValue": {}}},
                    {"key": "3", "value": {"stringValue": "int key"}},
                    {"key": "None", "value": {"boolValue": True}},
                    {
                        "key": "deep",
                        "value": {
                            "arrayValue": {
                                "values": [
                                    {
                                        "arrayValue": {
                                            "values": [
                                                {
                                                    "kvlistValue": {
                                                        "values": [
                                                            {
                                                                "key": "x",
                                                                "value": {
                                                                    "arrayValue": {
                                                                        "values": [{"kvlistValue": {}}]
                                                                    }
                                                                },
                                                            }
                                                        ]
                                                    }
                                                }
                                            ]
                                        }
                                    }
                                ]
                            }
                        },
                    },
                ]
            }
        },
        "t": {"arrayValue": {"values": [{"boolValue": True}, {"stringValue": "s"}, {}, {"intValue": "-7"}]}},
        # AnyValue's oneof: zero values are written
        "zero": {
            "arrayValue": {
                "values": [
                    {"intValue": "0"},
                    {"doubleValue": 0.0},
                    {"boolValue": False},
                    {"stringValue": ""},
                    {"bytesValue": ""},
                ]
            }
        },
        "": {"stringValue": "empty key"},  # the empty key itself is left out (default)
    }
    sp = the_span(check(SPANS, [span(attributes=attributes)]))
    assert attrs_of(sp) == expected
    assert sp["attributes"][-1] == {"value": {"stringValue": "empty key"}}
    rec = the_logs(check(LOGS, [log(value, attributes)]))[0]
    assert rec["body"] == expected["n"] and attrs_of(rec) == expected
    dp = the_metrics(check(METRICS, md(metric(Gauge([npoint(1, attributes)])))))[0]["gauge"]["dataPoints"][0]
    assert attrs_of(dp) == expected


def test_none_values_are_empty_objects():
    sp = the_span(check(SPANS, [span(attributes={"n": None})]))
    assert sp["attributes"] == [{"key": "n", "value": {}}]
    assert the_logs(check(LOGS, [log(None)]))[0]["body"] == {}


# ---------------------------------------------------------------------------
# the reader and the rule checker themselves
# ---------------------------------------------------------------------------


def test_reader_converts_only_id_fields_and_accepts_any_case():
    doc = {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "0102030405060708090A0B0C0D0E0F10",
                                "spanId": "AbCdEf0123456789",
                                "attributes": [{"key": "traceId", "value": {"bytesValue": "AQI="}}],
                                "startTimeUnixNano": 5,  # decoders accept numbers too
                            }
                        ]
                    }
                ]
            }
        ]
    }
    msg = R.read(doc, ExportTraceServiceRequest)
    s = msg.resource_spans[0].scope_spans[0].spans[0]
    assert s.trace_id == bytes(range(1, 17)) and s.span_id == bytes.fromhex("abcdef0123456789")
    assert s.attributes[0].value.bytes_value == b"\x01\x02" and s.start_time_unix_nano == 5
    with pytest.raises(Exception, match=r"no field|Message type|unknown"):
        R.read({"resourceSpans": [{"bogus": 1}]}, ExportTraceServiceRequest)


@pytest.mark.parametrize(
    "text, problem",
    [
        (b'{"a": NaN}', "bare NaN"),
        (b'{"a": 1, "a": 2}', "duplicate"),
        (b"[]", "top level"),
        (b'{"a": "\x01"}', "Invalid control"),
        (b"\xef\xbb\xbf{}", "byte order mark"),
        (b'{"a": "\xff"}', "not UTF-8"),
    ],
)
def test_reader_rejects_non_json(text, problem):
    with pytest.raises(R.JSONSyntaxError, match=problem):
        R.loads(text)


def test_rule_checker_catches_violations():
    bad = {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "spanId": "AQIDBAUGBwg=",  # base64, not hex
                                "traceId": "0102030405060708090A0B0C0D0E0F10",  # upper case; out of order
                                "name": "",  # default
                                "kind": "SPAN_KIND_SERVER",  # enum as a name
                                "start_time_unix_nano": "1",  # proto name
                                "endTimeUnixNano": 2,  # int64 as a number
                                "droppedAttributesCount": "1",  # int32 as a string
                                "events": [],  # empty repeated
                                "attributes": [
                                    {"key": "b", "value": {"bytesValue": "AQI"}},  # no padding
                                    {"key": "i", "value": {"intValue": "01"}},
                                    {"key": "d", "value": {"doubleValue": "1.5"}},
                                    {"key": "two", "value": {"intValue": "1", "stringValue": "x"}},
                                ],
                                "status": {"code": 0},  # default
                            }
                        ]
                    }
                ]
            }
        ]
    }
    v = "\n".join(R.rule_violations(bad, ExportTraceServiceRequest))
    for expected in (
        "spans[0].spanId: id must be 16 lowercase hex digits",
        "spans[0].traceId: id must be 32 lowercase hex digits",
        "spans[0].traceId: out of .proto declaration order",
        "spans[0].name: default value",
        "spans[0].kind: enum must be a JSON integer",
        "spans[0].start_time_unix_nano: no such field",
        "spans[0].endTimeUnixNano: 64-bit integer must be a decimal string",
        "spans[0].droppedAttributesCount: 32-bit integer must be a JSON integer",
        "spans[0].events: empty array",
        "attributes[0].value.bytesValue: not standard base64",
        "attributes[1].value.intValue: not a canonical decimal integer",
        "attributes[2].value.doubleValue: a finite double must be a JSON number",
        "attributes[3].value.stringValue: second member of oneof value",
        "status.code: default value",
    ):
        assert expected in v, f"{expected!r} not reported in:\n{v}"
    assert R.rule_violations({"resourceMetrics": []}, ExportMetricsServiceRequest) == [
        "$.resourceMetrics: empty array (default value; leave the field out)"
    ]


def test_rule_checker_allows_oneof_and_optional_defaults():
    ok = {
        "resourceMetrics": [
            {
                "scopeMetrics": [
                    {
                        "metrics": [
                            {
                                "histogram": {
                                    "dataPoints": [{"sum": 0, "bucketCounts": ["0"], "min": 0.0, "max": -0.0}]
                                }
                            },
                            {"gauge": {"dataPoints": [{"asInt": "0"}, {"asDouble": 0.0}]}},
                        ]
                    }
                ]
            }
        ]
    }
    assert R.rule_violations(ok, ExportMetricsServiceRequest) == []
