"""Byte parity of ``otlp.sdk.encode_metrics`` with the official OTLP metrics encoder.

Reference: ``opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder
.encode_metrics(data).SerializeToString()`` from opentelemetry-exporter-otlp-proto-common
1.45.2 (upb protobuf backend). What that encoder does, quirks included, is written
down in ``strategies_metrics.py``; the ``test_reference_*`` tests pin those rules
down against the installed reference, so a version bump that changes them fails
loudly instead of silently moving the target.

On a mismatch the failure message shows the input (every encoder-visible field,
resources/scopes tagged by object identity), the first differing byte with the
field path it falls in, a wire-level diff of both encodings (fields in wire order)
and a text_format diff of the decoded messages.

Tests that only exercise the official encoder run even when the extension is not
built; the others are skipped with the import error as the reason.
"""

from __future__ import annotations

import logging
import math
import struct

import pytest
from hypothesis import given, settings
from opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder import (
    encode_metrics as _official_encode_metrics,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
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
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

try:
    import strategies as S
    import strategies_metrics as SM
except ImportError:  # tests/ is a package
    from tests import strategies as S
    from tests import strategies_metrics as SM

# Skip (not fail) only when the package/extension or the function is absent; any
# other import error of a present otlp.sdk is a real failure.
try:
    from otlp.sdk import encode_metrics as _our_encode_metrics

    _OURS_MISSING = None
except ImportError as e:  # ModuleNotFoundError, or "cannot import name 'encode_metrics'"
    if e.name not in ("otlp", "otlp._native", "otlp.sdk"):
        raise
    _our_encode_metrics = None
    _OURS_MISSING = e

needs_ours = pytest.mark.skipif(
    _our_encode_metrics is None, reason=f"otlp.sdk.encode_metrics not built/installed: {_OURS_MISSING!r}"
)

T = AggregationTemporality
INT64_MIN, INT64_MAX, UINT64_MAX = S.INT64_MIN, S.INT64_MAX, S.UINT64_MAX
INT32_MIN, INT32_MAX, UINT32_MAX = SM.INT32_MIN, SM.INT32_MAX, S.UINT32_MAX
SNAN = struct.unpack("<d", b"\x01\x00\x00\x00\x00\x00\xf0\x7f")[0]  # signalling-NaN bit pattern
NEG_NAN = -math.nan


@pytest.fixture(autouse=True)
def _quiet_sdk_logs(caplog):
    # The reference logs every attribute key it drops and every unsupported data
    # type; the SDK warns about cleaned attributes. That would bury a failure report.
    for name in (
        "opentelemetry.exporter.otlp.proto.common",
        "opentelemetry.attributes",
        "opentelemetry.sdk.metrics",
        "opentelemetry.metrics",
    ):
        caplog.set_level(logging.CRITICAL, logger=name)


def official(data) -> bytes:
    return _official_encode_metrics(data).SerializeToString()


def decode(data: bytes) -> ExportMetricsServiceRequest:
    return ExportMetricsServiceRequest.FromString(data)


def assert_parity(data, *, label: str = "") -> bytes:
    """Encode with both encoders and compare bytes; returns the (equal) bytes."""
    expected = official(data)
    try:
        actual = _our_encode_metrics(data)
    except BaseException as e:  # a pyo3 PanicException is a BaseException
        raise AssertionError(
            f"{label}otlp.sdk.encode_metrics raised {e!r} where the official encoder returned "
            f"{len(expected)} bytes\ninput:\n{SM.describe_metrics_data(data)}"
        ) from e
    assert type(actual) is bytes, f"otlp.sdk.encode_metrics returned {type(actual).__name__}, not bytes"
    if actual != expected:
        raise AssertionError(
            f"{label}byte mismatch with the official encoder\n"
            f"input:\n{SM.describe_metrics_data(data)}\n"
            f"{S.explain_mismatch(expected, actual, ExportMetricsServiceRequest)}"
        )
    return actual


# ---------------------------------------------------------------------------
# helpers for targeted examples
# ---------------------------------------------------------------------------

# the metrics builders are shared with test_json.py (strategies_metrics.py)
RES, SCOPE = SM.RES, SM.SCOPE
md, npoint, hpoint, epoint = SM.md, SM.npoint, SM.hpoint, SM.epoint


def metric(data, name="m", description="d", unit="1") -> Metric:
    return Metric(name, description, unit, data)


def a_sum(*points, temporality=T.CUMULATIVE, monotonic=True) -> Sum:
    return Sum(list(points), temporality, monotonic)


def one_metric_of_each_kind(n_points=1):
    return [
        metric(a_sum(*[npoint(i) for i in range(n_points)]), "sum"),
        metric(Gauge([npoint(float(i)) for i in range(n_points)]), "gauge"),
        metric(Histogram([hpoint() for _ in range(n_points)], T.DELTA), "histogram"),
        metric(ExponentialHistogram([epoint() for _ in range(n_points)], T.DELTA), "exp_histogram"),
    ]


def the_point(data: bytes):
    """The first data point of the first metric of a one-metric request."""
    m = decode(data).resource_metrics[0].scope_metrics[0].metrics[0]
    return getattr(m, m.WhichOneof("data")).data_points[0]


# ---------------------------------------------------------------------------
# the reference's rules (no extension needed)
# ---------------------------------------------------------------------------

# One cumulative monotonic int sum with one point: {"k": "v"}, start 1, time 2, value 7.
WORKED_EXAMPLE = bytes.fromhex(
    "0a5f"  # resource_metrics
    "0a170a150a0c736572766963652e6e616d6512050a03737663"  # resource {service.name: "svc"}
    "12440a0a0a036c69621203312e30"  # scope_metrics { scope {lib, 1.0}
    "12360a01721201641a0131"  # metrics { name r, description d, unit 1
    "3a2b0a25"  # sum { data_points {
    "110100000000000000190200000000000000"  # start 1, time 2 (fixed64)
    "310700000000000000"  # as_int 7 (sfixed64, field 6)
    "3a080a016b12030a0176"  # attributes (field 7) {k: "v"} }
    "10021801"  # aggregation_temporality CUMULATIVE, is_monotonic true
)


def worked_example():
    return md(metric(a_sum(npoint(7, {"k": "v"})), "r", "d", "1"))


def test_reference_worked_example():
    assert official(worked_example()) == WORKED_EXAMPLE


def test_reference_gauge_points_have_no_start_time():
    p = the_point(official(md(metric(Gauge([npoint(1.5, start=123, time=456)])))))
    assert p.start_time_unix_nano == 0 and p.time_unix_nano == 456 and p.as_double == 1.5


def test_reference_value_kinds():
    data = md(metric(a_sum(npoint(0), npoint(0.0), npoint(-0.0), npoint(INT64_MIN))))
    pts = decode(official(data)).resource_metrics[0].scope_metrics[0].metrics[0].sum.data_points
    assert [p.WhichOneof("value") for p in pts] == ["as_int", "as_double", "as_double", "as_int"]
    assert math.copysign(1, pts[2].as_double) == -1 and pts[3].as_int == INT64_MIN
    # NaN payloads survive: the signalling-NaN bit pattern is written as is.
    raw = official(md(metric(Gauge([npoint(SNAN)]))))
    assert bytes.fromhex("21010000000000f07f") in raw  # as_double tag + LE bits


def test_reference_metric_without_points_has_no_data_field():
    for m in one_metric_of_each_kind(n_points=0):
        out = decode(official(md(m)))
        (pm,) = out.resource_metrics[0].scope_metrics[0].metrics
        assert pm.name == m.name and pm.WhichOneof("data") is None


def test_reference_unsupported_data_is_emitted_without_data():
    out = decode(official(md(metric(None), metric(SM.UnsupportedData([1])))))
    assert [m.WhichOneof("data") for m in out.resource_metrics[0].scope_metrics[0].metrics] == [None, None]


def test_reference_metadata_never_written():
    for m in one_metric_of_each_kind():
        pm = decode(official(md(m))).resource_metrics[0].scope_metrics[0].metrics[0]
        assert len(pm.metadata) == 0


def test_reference_histogram_optional_fields():
    zero = the_point(official(md(metric(Histogram([hpoint(sum=0, min=0, max=0.0)], T.DELTA)))))
    assert zero.HasField("sum") and zero.HasField("min") and zero.HasField("max")
    off = the_point(official(md(metric(Histogram([hpoint(min=math.inf, max=-math.inf)], T.DELTA)))))
    assert off.min == math.inf and off.max == -math.inf and off.flags == 0
    # None leaves them unset (the SDK never produces it, the reference accepts it)
    none = the_point(official(md(metric(Histogram([hpoint(sum=None, min=None, max=None)], T.DELTA)))))
    assert not (none.HasField("sum") or none.HasField("min") or none.HasField("max"))
    # ints are converted like float(int): round-half-even
    big = the_point(official(md(metric(Histogram([hpoint(sum=2**53 + 1, max=2**64 + 1)], T.DELTA)))))
    assert big.sum == 2.0**53 and big.max == 2.0**64


def test_reference_exponential_histogram_buckets_and_zero_threshold():
    p = the_point(
        official(
            md(
                metric(
                    ExponentialHistogram(
                        [epoint(positive=Buckets(5, []), negative=Buckets(-3, [0]))], T.CUMULATIVE
                    )
                )
            )
        )
    )
    assert not p.HasField("positive")  # empty counts: not written, offset 5 lost
    assert p.HasField("negative") and p.negative.offset == -3 and list(p.negative.bucket_counts) == [0]
    assert p.zero_threshold == 0 and p.HasField("sum") and p.HasField("min") and p.HasField("max")
    raw = official(md(metric(ExponentialHistogram([epoint()], T.CUMULATIVE))))
    paths = [path for *_, path in S.wire_dump(raw, ExportMetricsServiceRequest.DESCRIPTOR)]
    assert any(p.endswith(".max") for p in paths) and not any("zero_threshold" in p for p in paths)


def test_reference_exemplar_ids_only_when_both_present():
    exs = [
        Exemplar({"e": 1}, 1.5, 9, span_id=0, trace_id=0),
        Exemplar({}, 2, 3, span_id=5, trace_id=None),
        Exemplar({}, 2, 3, span_id=None, trace_id=5),
        Exemplar(None, 0, 0, span_id=UINT64_MAX, trace_id=2**128 - 1),
    ]
    p = the_point(official(md(metric(a_sum(npoint(1, exemplars=exs))))))
    assert [(e.span_id, e.trace_id) for e in p.exemplars] == [
        (b"\0" * 8, b"\0" * 16),
        (b"", b""),
        (b"", b""),
        (b"\xff" * 8, b"\xff" * 16),
    ]
    assert [e.WhichOneof("value") for e in p.exemplars] == ["as_double", "as_int", "as_int", "as_int"]


def test_reference_equal_resources_overwrite():
    r_first = Resource({"a": 1, "b": 2}, "https://r")
    r_later = Resource({"b": 2, "a": 1}, "https://r")  # equal to r_first
    data = MetricsData(
        [
            ResourceMetrics(r_first, [ScopeMetrics(SCOPE, [metric(Gauge([npoint()]), "lost")], "")], "x"),
            ResourceMetrics(
                Resource({"z": 0}), [ScopeMetrics(SCOPE, [metric(Gauge([npoint()]), "z")], "")], ""
            ),
            ResourceMetrics(r_later, [ScopeMetrics(SCOPE, [metric(Gauge([npoint()]), "kept")], "")], "y"),
        ]
    )
    out = decode(official(data))
    assert len(out.resource_metrics) == 2
    first = out.resource_metrics[0]
    assert [kv.key for kv in first.resource.attributes] == ["a", "b"]  # first object's order
    assert first.schema_url == "https://r"  # resource.schema_url, not ResourceMetrics.schema_url
    assert [m.name for m in first.scope_metrics[0].metrics] == ["kept"]


def test_reference_duplicate_scopes_overwrite():
    s_first = InstrumentationScope("lib", "1", None, {"x": 1, "y": 2})
    s_later = InstrumentationScope("lib", "1", None, {"y": 2, "x": True})  # equal (1 == True)
    s_other = InstrumentationScope("lib", "1", None, {"x": 2})
    data = MetricsData(
        [
            ResourceMetrics(
                RES,
                [
                    ScopeMetrics(s_first, [metric(Gauge([npoint()]), "lost")], "https://ignored"),
                    ScopeMetrics(s_other, [metric(Gauge([npoint()]), "other")], ""),
                    ScopeMetrics(s_later, [metric(Gauge([npoint()]), "kept")], ""),
                ],
                "",
            )
        ]
    )
    sms = decode(official(data)).resource_metrics[0].scope_metrics
    assert [[m.name for m in sm.metrics] for sm in sms] == [["kept"], ["other"]]
    assert [kv.key for kv in sms[0].scope.attributes] == ["y", "x"]  # later object's encoding
    assert sms[0].scope.attributes[1].value.bool_value is True
    assert sms[0].schema_url == ""  # ScopeMetrics.schema_url ignored


def test_reference_schema_urls_come_from_resource_and_scope():
    data = MetricsData(
        [
            ResourceMetrics(
                Resource({}, "https://res"),
                [ScopeMetrics(InstrumentationScope("s", None, "https://scope"), [], "https://sm")],
                "https://rm",
            )
        ]
    )
    rm = decode(official(data)).resource_metrics[0]
    assert rm.schema_url == "https://res" and rm.scope_metrics[0].schema_url == "https://scope"


# Inputs the reference raises on; the random strategies never generate them.
REJECTED = {
    "bool-value": lambda: md(metric(Gauge([npoint(True)]))),
    "value-above-int64": lambda: md(metric(Gauge([npoint(INT64_MAX + 1)]))),
    "value-below-int64": lambda: md(metric(a_sum(npoint(INT64_MIN - 1)))),
    "value-None": lambda: md(metric(Gauge([npoint(None)]))),
    "value-str": lambda: md(metric(Gauge([npoint("1")]))),
    "negative-time": lambda: md(metric(a_sum(npoint(time=-1)))),
    "time-2**64": lambda: md(metric(a_sum(npoint(start=2**64)))),
    "negative-count": lambda: md(metric(Histogram([hpoint(count=-1)], T.DELTA))),
    "bool-count": lambda: md(metric(Histogram([hpoint(count=True)], T.DELTA))),
    "float-count": lambda: md(metric(Histogram([hpoint(count=1.0)], T.DELTA))),
    "bucket-count-2**64": lambda: md(metric(Histogram([hpoint(bucket_counts=[2**64])], T.DELTA))),
    "sum-beyond-double": lambda: md(metric(Histogram([hpoint(sum=2**1024)], T.DELTA))),
    "bound-beyond-double": lambda: md(metric(Histogram([hpoint(explicit_bounds=[-(2**1024)])], T.DELTA))),
    "scale-above-int32": lambda: md(metric(ExponentialHistogram([epoint(scale=INT32_MAX + 1)], T.DELTA))),
    "offset-below-int32": lambda: md(
        metric(ExponentialHistogram([epoint(negative=Buckets(INT32_MIN - 1, [1]))], T.DELTA))
    ),
    "flags-above-uint32": lambda: md(metric(ExponentialHistogram([epoint(flags=UINT32_MAX + 1)], T.DELTA))),
    "zero-count-negative": lambda: md(metric(ExponentialHistogram([epoint(zero_count=-1)], T.DELTA))),
    "positive-None": lambda: md(metric(ExponentialHistogram([epoint(positive=None)], T.DELTA))),
    "temporality-None": lambda: md(metric(Histogram([hpoint()], None))),
    "monotonic-None": lambda: md(metric(a_sum(npoint(), monotonic=None))),
    "exemplar-bool": lambda: md(metric(Gauge([npoint(exemplars=[Exemplar({}, True, 1)])]))),
    "exemplar-str": lambda: md(metric(Gauge([npoint(exemplars=[Exemplar({}, "1", 1)])]))),
    "exemplar-above-int64": lambda: md(metric(Gauge([npoint(exemplars=[Exemplar({}, 2**63, 1)])]))),
    "exemplar-span-id-2**64": lambda: md(metric(Gauge([npoint(exemplars=[Exemplar({}, 1, 1, 2**64, 1)])]))),
    "resource-None": lambda: md(metric(Gauge([npoint()])), resource=None),
    "scope-None": lambda: md(metric(Gauge([npoint()])), scope=None),
}


@pytest.mark.parametrize("case", sorted(REJECTED))
def test_reference_rejects(case):
    with pytest.raises(Exception):  # noqa: B017 - EncodingException / AttributeError
        official(REJECTED[case]())


# ---------------------------------------------------------------------------
# property tests
# ---------------------------------------------------------------------------


def _count_metrics(data):
    return sum(len(sm.metrics) for rm in data.resource_metrics for sm in rm.scope_metrics)


@settings(deadline=None)
@given(SM.metrics_batches())
def test_strategies_are_accepted_by_official_encoder(batch):
    """Guards the strategies themselves: the reference must encode them without raising."""
    out = decode(official(batch.data))
    assert _count_metrics(out) <= _count_metrics(batch.data)


@settings(deadline=None)
@given(SM.metrics_batches(with_exemplars=True))
def test_exemplar_strategies_are_accepted_by_official_encoder(batch):
    official(batch.data)


@settings(deadline=None)
@given(SM.exotic_metrics_batches())
def test_exotic_strategies_are_accepted_by_official_encoder(batch):
    official(batch.data)


@needs_ours
@settings(deadline=None)
@given(SM.metrics_batches())
def test_parity_random_metrics(batch):
    assert_parity(batch.data)


@needs_ours
@settings(deadline=None)
@given(SM.metrics_batches(with_exemplars=True))
def test_parity_random_metrics_with_exemplars(batch):
    assert_parity(batch.data)


@needs_ours
@settings(deadline=None)
@given(SM.exotic_metrics_batches())
def test_parity_exotic_attributes(batch):
    """Data point / exemplar attributes with keys and values the reference skips."""
    assert_parity(batch.data)


# ---------------------------------------------------------------------------
# targeted parity examples
# ---------------------------------------------------------------------------


@needs_ours
def test_worked_example_ours():
    assert assert_parity(worked_example()) == WORKED_EXAMPLE


@needs_ours
def test_empty_metrics_data():
    assert official(MetricsData([])) == b""
    assert assert_parity(MetricsData([])) == b""
    assert assert_parity(MetricsData(())) == b""


@needs_ours
def test_empty_containers():
    data = MetricsData(
        [
            ResourceMetrics(Resource({}), [], ""),  # -> 0a 02 0a 00
            ResourceMetrics(Resource({"r": 1}), [ScopeMetrics(InstrumentationScope(""), [], "")], ""),
            ResourceMetrics(
                Resource({"r": 2}), [ScopeMetrics(SCOPE, [metric(Gauge([]), "", None, None)], "")], ""
            ),
        ]
    )
    out = assert_parity(data)
    assert out.startswith(bytes.fromhex("0a020a00"))


@needs_ours
@pytest.mark.parametrize("n_points", [0, 1, 3])
def test_each_kind(n_points):
    assert_parity(md(*one_metric_of_each_kind(n_points)))


@needs_ours
def test_unsupported_data_types():
    assert_parity(md(metric(None), metric(SM.UnsupportedData([1, 2])), metric(a_sum(npoint()))))


@needs_ours
@pytest.mark.parametrize("temporality", list(T))
@pytest.mark.parametrize("monotonic", [True, False])
def test_sum_temporality_and_monotonic(temporality, monotonic):
    assert_parity(
        md(
            metric(a_sum(npoint(3), npoint(-2.5), temporality=temporality, monotonic=monotonic)),
            metric(Histogram([hpoint()], temporality)),
            metric(ExponentialHistogram([epoint()], temporality)),
        )
    )


@needs_ours
def test_int64_extremes():
    values = [0, 1, -1, INT64_MAX, INT64_MIN, INT64_MAX - 1, INT64_MIN + 1, 2**31, -(2**31) - 1]
    exs = [Exemplar({}, v, v & UINT64_MAX, v & UINT64_MAX, v % 2**128) for v in values]
    assert_parity(
        md(
            metric(a_sum(*[npoint(v, start=v & UINT64_MAX, exemplars=exs) for v in values])),
            metric(Gauge([npoint(v, time=UINT64_MAX) for v in values])),
            metric(
                ExponentialHistogram(
                    [
                        epoint(
                            scale=s,
                            positive=Buckets(s, [UINT64_MAX, 0]),
                            negative=Buckets(-s - 1 if s != INT32_MIN else INT32_MAX, [1]),
                            flags=f,
                            zero_count=UINT64_MAX,
                            count=UINT64_MAX,
                        )
                        for s in (0, 1, -1, INT32_MAX, INT32_MIN, 63, -64, -65)
                        for f in (0, 1, UINT32_MAX)
                    ],
                    T.DELTA,
                )
            ),
        )
    )


@needs_ours
def test_nan_and_inf():
    specials = [
        math.nan,
        NEG_NAN,
        SNAN,
        -SNAN,
        math.inf,
        -math.inf,
        -0.0,
        0.0,
        5e-324,
        -5e-324,
        1.7976931348623157e308,
    ]
    exs = [Exemplar({"v": v}, v, 1) for v in specials]
    assert_parity(
        md(
            metric(a_sum(*[npoint(v, exemplars=exs) for v in specials])),
            metric(Gauge([npoint(v) for v in specials])),
            metric(
                Histogram(
                    [
                        hpoint(sum=v, min=v, max=v, explicit_bounds=specials, bucket_counts=[0] * 12)
                        for v in specials
                    ],
                    T.CUMULATIVE,
                )
            ),
            metric(ExponentialHistogram([epoint(sum=v, min=v, max=-v) for v in specials], T.CUMULATIVE)),
        )
    )


@needs_ours
def test_int_to_double_conversion():
    """sum/min/max/bounds given as Python ints are converted like float(int)."""
    ints = [
        0,
        1,
        -1,
        2**53 + 1,
        2**53 + 3,
        -(2**53) - 1,
        INT64_MAX,
        INT64_MIN,
        2**64 + 1,
        2**1000 + 2**947,
        10**300,
    ]
    assert_parity(
        md(
            metric(Histogram([hpoint(sum=v, min=v, max=-v, explicit_bounds=ints) for v in ints], T.DELTA)),
            metric(ExponentialHistogram([epoint(sum=v, min=-v, max=v) for v in ints], T.DELTA)),
        )
    )


@needs_ours
def test_strings():
    names = ["", "a", "日本語", "🙂", "\x00", "line\nbreak", "x" * 300, "é" * 70_000]
    scopes = [
        InstrumentationScope(n, v, s)
        for n, v, s in [("", None, None), ("ライブラリ", "", ""), ("🙂", "é", "https://é")]
    ]
    data = MetricsData(
        [
            ResourceMetrics(
                Resource({n: n for n in names}, "https://schema/🙂"),
                [
                    ScopeMetrics(sc, [metric(Gauge([npoint(attributes={n: n})]), n, n, n) for n in names], "")
                    for sc in scopes
                ],
                "",
            ),
            ResourceMetrics(
                Resource({}, ""), [ScopeMetrics(SCOPE, [metric(a_sum(npoint()), "", "", "")], "")], ""
            ),
        ]
    )
    assert_parity(data)


@needs_ours
def test_all_attribute_value_kinds():
    attrs = {
        "str": "s",
        "empty": "",
        "true": True,
        "false": False,
        "zero": 0,
        "i64min": INT64_MIN,
        "i64max": INT64_MAX,
        "fneg0": -0.0,
        "nan": math.nan,
        "bytes": b"\x00\xff",
        "none": None,
        "ints": (1, -2),
        "mixed": [1, "a", None, 2.5, b"b", True, [1, [2]], {"k": "v"}],
        "nested": {"a": {"b": [1, {"d": None}]}, 7: "int key", None: "none key"},
        "emptymap": {},
        "toolarge": 2**64,  # dropped by the reference
    }
    ex = Exemplar(attrs, 1.0, 5, 1, 2)
    assert_parity(
        md(
            metric(a_sum(npoint(1, attrs, exemplars=[ex]))),
            metric(Gauge([npoint(1, attrs)])),
            metric(Histogram([hpoint(attributes=attrs, exemplars=[ex])], T.DELTA)),
            metric(ExponentialHistogram([epoint(attributes=attrs, exemplars=[ex])], T.DELTA)),
            resource=Resource(attrs),
            scope=InstrumentationScope("lib", "1", None, attrs),
        )
    )


@needs_ours
def test_exemplars():
    exs = [
        Exemplar({"e": 1}, 1.5, 9, span_id=0, trace_id=0),
        Exemplar({}, 2, 3, span_id=5, trace_id=None),
        Exemplar({}, 2, 3, span_id=None, trace_id=5),
        Exemplar(None, 0, 0),
        Exemplar(None, 0.0, 0),
        Exemplar({"k": "v"}, -7, 1, span_id=UINT64_MAX, trace_id=2**128 - 1),
        Exemplar({"k": "v"}, math.nan, UINT64_MAX, span_id=1, trace_id=1),
    ]
    assert_parity(
        md(
            metric(a_sum(npoint(1, exemplars=exs), npoint(2.0, exemplars=exs[::-1]))),
            metric(Gauge([npoint(1, exemplars=tuple(exs))])),
            metric(Histogram([hpoint(exemplars=exs)], T.DELTA)),
            metric(ExponentialHistogram([epoint(exemplars=exs)], T.DELTA)),
        )
    )


@needs_ours
def test_huge_counts_and_sizes():
    bounds = [float(i) for i in range(10_000)]
    data = md(
        metric(
            Histogram(
                [hpoint(count=UINT64_MAX, bucket_counts=[UINT64_MAX] * 10_001, explicit_bounds=bounds)],
                T.DELTA,
            )
        ),
        metric(
            ExponentialHistogram(
                [
                    epoint(
                        count=UINT64_MAX,
                        zero_count=UINT64_MAX,
                        positive=Buckets(-80, [UINT64_MAX - i for i in range(160)]),
                        negative=Buckets(INT32_MAX, [2**i for i in range(64)] * 100),
                    )
                ],
                T.DELTA,
            )
        ),
        metric(a_sum(*[npoint(i, {"i": i}) for i in range(20_000)])),
        metric(Gauge([npoint(float(i)) for i in range(5_000)]), "g" * 100_000),
        *[metric(Gauge([npoint()]), f"m{i}") for i in range(2_000)],
    )
    assert_parity(data)


@needs_ours
def test_resource_overwrite_semantics():
    r_a = Resource({"a": 1, "b": 2})
    r_a_reordered = Resource({"b": 2, "a": 1})  # equal -> overwrites, r_a's order/position kept
    r_true = Resource({"a": True, "b": 2})  # equal but different JSON hash -> separate
    r_float = Resource({"a": 1.0, "b": 2})  # same
    r_schema = Resource({"a": 1, "b": 2}, "https://s/1")  # separate
    r_bytes, r_hex = Resource({"h": b"x"}), Resource({"h": "78"})  # same hash, unequal -> separate
    nan_res = Resource({"n": math.nan})  # one object used twice -> overwrites itself
    order = [
        r_a,
        r_true,
        r_bytes,
        nan_res,
        r_a_reordered,
        r_float,
        r_schema,
        r_hex,
        r_a,
        nan_res,
        Resource({}),
    ]
    data = MetricsData(
        [
            ResourceMetrics(
                r,
                [ScopeMetrics(SCOPE, [metric(Gauge([npoint(i)]), f"rm{i}")], "") for _ in range(i % 3)],
                f"ignored{i}",
            )
            for i, r in enumerate(order)
        ]
    )
    assert_parity(data)


@needs_ours
def test_scope_overwrite_semantics():
    s1 = InstrumentationScope("lib", "1.0", None, {"a": 1})
    s1_true = InstrumentationScope("lib", "1.0", None, {"a": True})  # == s1
    s1_float = InstrumentationScope("lib", "1.0", "", {"a": 1.0})  # schema "" != None -> separate
    s_vnone, s_vempty = InstrumentationScope("lib", None), InstrumentationScope("lib", "")  # separate
    s_noattrs = InstrumentationScope("lib", "1.0")  # attributes differ from s1 -> separate
    s_reordered = [
        InstrumentationScope("o", "1", None, {"x": 1, "y": 2}),
        InstrumentationScope("o", "1", None, {"y": 2, "x": 1}),
    ]
    order = [s1, s_vnone, s1_true, s_vempty, s1_float, *s_reordered, s_noattrs, s_vnone, s1]
    sms = [ScopeMetrics(s, [metric(Gauge([npoint(i)]), f"s{i}")], f"ignored{i}") for i, s in enumerate(order)]
    data = MetricsData(
        [
            ResourceMetrics(RES, sms, ""),
            ResourceMetrics(Resource({"service.name": "other"}), sms[::-1], ""),
        ]
    )
    assert_parity(data)


# Not type-correct per the SDK annotations, but the reference encodes them.
ILL_TYPED_ACCEPTED = {
    "metric-name-desc-unit-None": lambda: md(metric(a_sum(npoint()), None, None, None)),
    "sum-start-time-None": lambda: md(metric(a_sum(npoint(1, start=None, time=None)))),
    "temporality-plain-int": lambda: md(metric(Sum([npoint(2)], 2, True))),
    "temporality-outside-enum": lambda: md(metric(Sum([npoint(3)], 7, True))),
    "temporality-negative": lambda: md(metric(Histogram([hpoint()], -1))),
    "monotonic-int": lambda: md(metric(Sum([npoint(4)], T.DELTA, 1))),
    "histogram-sum-min-max-None": lambda: md(
        metric(Histogram([hpoint(sum=None, min=None, max=None)], T.DELTA))
    ),
    "histogram-sum-min-bool": lambda: md(metric(Histogram([hpoint(sum=True, min=False)], T.DELTA))),
    "histogram-count-None": lambda: md(metric(Histogram([hpoint(count=None)], T.DELTA))),
    "exp-sum-min-max-None": lambda: md(
        metric(ExponentialHistogram([epoint(sum=None, min=None, max=None)], T.DELTA))
    ),
    "exp-scale-None": lambda: md(metric(ExponentialHistogram([epoint(scale=None)], T.DELTA))),
    "exp-flags-None": lambda: md(metric(ExponentialHistogram([epoint(flags=None)], T.DELTA))),
    "exp-zero-count-count-None": lambda: md(
        metric(ExponentialHistogram([epoint(zero_count=None, count=None)], T.DELTA))
    ),
    "exemplar-time-None": lambda: md(metric(Gauge([npoint(exemplars=[Exemplar(None, 1, None)])]))),
}


@pytest.mark.parametrize("case", sorted(ILL_TYPED_ACCEPTED))
def test_reference_accepts_ill_typed(case):
    official(ILL_TYPED_ACCEPTED[case]())


@needs_ours
@pytest.mark.parametrize("case", sorted(ILL_TYPED_ACCEPTED))
def test_ill_typed_inputs_the_reference_accepts(case):
    """None -> field omitted (proto3 optional sum/min/max included), plain ints for
    the temporality (even outside the enum), int for is_monotonic, bool histogram
    sum/min, None counts/scale/flags. (``data=None``: test_unsupported_data_types.)"""
    assert_parity(ILL_TYPED_ACCEPTED[case](), label=f"[{case}] ")


@needs_ours
def test_numpy_scalars():
    """Values as the SDK aggregates numpy inputs: numpy ints are not ``int`` -> as_double."""
    np = pytest.importorskip("numpy")
    vals = [
        np.float64(1.5),
        np.int64(5),
        np.float32(0.1),
        np.int32(-3),
        np.uint64(UINT64_MAX),
        np.int64(INT64_MIN),
    ]
    assert_parity(
        md(
            metric(a_sum(*[npoint(v) for v in vals])),
            metric(Gauge([npoint(v) for v in vals])),
            metric(Histogram([hpoint(sum=v, min=v, max=v) for v in vals], T.DELTA)),
        )
    )


@needs_ours
@pytest.mark.parametrize("temporality", ["cumulative", "delta"])
def test_metrics_from_real_sdk_pipeline(temporality):
    """MetricsData as the SDK really hands it to exporters, two collections in a row."""
    from opentelemetry import trace as trace_api
    from opentelemetry.metrics import Observation
    from opentelemetry.sdk.metrics import (
        AlwaysOnExemplarFilter,
        Counter,
        MeterProvider,
        ObservableCounter,
        UpDownCounter,
    )
    from opentelemetry.sdk.metrics import (
        Histogram as HistogramInstrument,
    )
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View

    t = T.DELTA if temporality == "delta" else T.CUMULATIVE
    reader = InMemoryMetricReader(
        preferred_temporality={
            Counter: t,
            UpDownCounter: t,
            HistogramInstrument: t,
            ObservableCounter: t,
        }
    )
    provider = MeterProvider(
        metric_readers=[reader],
        resource=Resource.create({"service.name": "parity", "n": 1}),
        exemplar_filter=AlwaysOnExemplarFilter(),
        views=[
            View(instrument_name="exp.*", aggregation=ExponentialBucketHistogramAggregation(max_size=20)),
            View(instrument_name="*"),
        ],
    )
    try:
        meter = provider.get_meter("scope.a", "0.1", schema_url="https://schema/a", attributes={"sa": 1})
        meter_b = provider.get_meter("scope.b")
        sampled = trace_api.set_span_in_context(
            trace_api.NonRecordingSpan(
                trace_api.SpanContext(0xABC, 0xDEF, False, trace_api.TraceFlags(trace_api.TraceFlags.SAMPLED))
            )
        )
        counter = meter.create_counter("requests", unit="1", description="reqs")
        fcounter = meter.create_counter("bytes", unit="By")
        updown = meter.create_up_down_counter("queue")
        hist = meter.create_histogram("latency", unit="ms")
        ihist = meter.create_histogram("sizes", explicit_bucket_boundaries_advisory=[0, 10, 100])
        exph = meter_b.create_histogram("exp.latency", unit="s")
        gauge = meter_b.create_gauge("temp", unit="C")
        meter_b.create_observable_counter(
            "cpu", callbacks=[lambda _o: [Observation(1.5, {"cpu": 0}), Observation(2)]]
        )
        meter_b.create_observable_gauge("mem", callbacks=[lambda _o: [Observation(10**12, {"kind": "rss"})]])
        meter_b.create_observable_up_down_counter("conns", callbacks=[lambda _o: [Observation(-3)]])
        meter_b.create_histogram("never.recorded")

        for round_ in range(2):
            counter.add(1)
            counter.add(2, {"route": "/"}, context=sampled)
            fcounter.add(1.5, {"route": "/"})
            updown.add(-3, {"q": "a"})
            updown.add(5, {"q": "b"}, context=sampled)
            for v in (0.5, 12.3, 1e9, 0.0, -1.0):
                hist.record(v, {"route": "/"}, context=sampled)
            for v in (1, 50, 10**6):
                ihist.record(v)
            for v in (0.001, 3.0, 3.5, 1e6, 0.0, -2.0, 7e-9):
                exph.record(v, {"k": round_}, context=sampled)
            gauge.set(21.5 + round_, {"room": "a"})
            gauge.set(round_, {"room": "b"})
            data = reader.get_metrics_data()
            assert data is not None
            official(data)
            assert_parity(data, label=f"[{temporality} collection {round_}] ")
        # a collection in which nothing new was recorded (delta: points vanish)
        assert_parity(reader.get_metrics_data(), label=f"[{temporality} idle collection] ")
    finally:
        provider.shutdown()


@needs_ours
@pytest.mark.parametrize("case", sorted(REJECTED))
def test_inputs_the_reference_rejects_raise_in_ours_too(case):
    """Not byte parity: where the reference raises, ours must raise an ``Exception``
    too (not return bytes, not a pyo3 PanicException, which is a BaseException)."""
    data = REJECTED[case]()
    try:
        out = _our_encode_metrics(data)
    except Exception:  # noqa: BLE001 - any Exception is the expected outcome
        return
    except BaseException as e:  # noqa: BLE001 - e.g. pyo3 PanicException
        pytest.fail(f"otlp.sdk.encode_metrics raised a non-Exception {type(e).__name__}: {e!r}")
    pytest.fail(
        f"the official encoder raises on this input, but otlp.sdk.encode_metrics returned {len(out)} bytes: "
        f"{out[:200].hex()}\ninput:\n{SM.describe_metrics_data(data)}"
    )
