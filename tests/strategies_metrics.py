"""Hypothesis strategies producing OTel SDK ``MetricsData`` for the metrics byte-parity
test, plus a readable description of such input for failure reports.

The reference is ``opentelemetry-exporter-otlp-proto-common`` 1.45.2,
``_internal.metrics_encoder.encode_metrics(data).SerializeToString()``, on the upb
protobuf backend. The generic attribute/resource/scope strategies and the mismatch
explainer come from ``strategies.py`` (the traces strategies). Everything
:func:`metrics_batches` generates is accepted by the reference without raising.

What the reference does (read from its source and checked by running it; the
``test_reference_*`` tests in test_parity_metrics.py pin each rule down):

Structure and grouping
* ``encode_metrics`` walks ``data.resource_metrics`` and stores, per ResourceMetrics,
  ``resource_metrics_dict[rm.resource] = {}`` -- a *new* scope dict every time. Two
  ResourceMetrics whose resources are equal therefore overwrite each other: the
  output has one ResourceMetrics, at the position of the *first* equal resource,
  whose ``resource`` (attributes, their order, schema_url) is encoded from the
  *first* Resource object (a dict keeps its original key), and whose scope_metrics
  are exactly those of the *last* equal ResourceMetrics (the earlier ones' metrics
  are lost, even for scopes the last one does not have). Resource equality is
  dict-key equality: hash = JSON dump of the attributes (sort_keys, bytes as hex,
  other non-JSON values via str) + schema_url, eq = attribute-mapping equality +
  schema_url. So reordered attributes collide; ``{"a": 1}`` / ``{"a": True}`` /
  ``{"a": 1.0}`` do not (different JSON); ``b"x"`` / ``"78"`` hash alike but are
  unequal. ``None`` as a resource raises (``AttributeError``) -- never generated.
* Inside one ResourceMetrics, scopes go into a dict keyed by InstrumentationScope
  (hash = (name, version, schema_url), eq also compares attributes as mappings,
  ``1 == True == 1.0``). A duplicate scope replaces the value at the *first* one's
  position with the *later* ScopeMetrics message, whose ``scope`` is encoded from
  the *later* scope object (its attribute order/types) with the later metrics; the
  earlier metrics are lost. Scope version ``None`` and ``""`` are different keys
  that encode identically. ``None`` as a scope raises (``AttributeError``).
* ``ResourceMetrics.schema_url`` and ``ScopeMetrics.schema_url`` are ignored: the
  written schema_urls are ``resource.schema_url`` and ``scope.schema_url``.
* ``resource`` is always written (``0a 00`` when it has no attributes); ``scope``
  always written (name, version, attributes; ``dropped_attributes_count`` never).
  A ResourceMetrics with no scopes and a ScopeMetrics with no metrics are emitted.
* Attribute encoding is the shared ``_encode_attributes`` (see strategies.py):
  unsupported values/keys are skipped with a log line, never raise.

Metric
* name, description, unit as given (``None`` and ``""`` omitted alike);
  ``metadata`` (field 12) never written.
* The data message (gauge 5, sum 7, histogram 9, exponential_histogram 10) is set
  from inside the per-point loop, so a metric with zero data points has no data
  field at all (not even an empty one, and no temporality) but is still emitted.
  A ``data`` of any other type (``None``, a summary, ...) only logs
  "unsupported data type" -- the metric is emitted with no data field.
* Sum: ``aggregation_temporality`` (2) and ``is_monotonic`` (3) after the points;
  UNSPECIFIED / False are proto3 defaults and omitted. Histogram and
  ExponentialHistogram: ``aggregation_temporality`` only. Temporality is written
  as the enum's int (a plain int is accepted too, incl. out-of-enum ones).

NumberDataPoint (gauge and sum)
* Gauge points never carry ``start_time_unix_nano`` (the SDK sets it to None).
  Sum points: start (2), time (3) as fixed64, omitted when 0 (or None).
* ``isinstance(value, int)`` -> ``as_int`` (sfixed64, field 6; written even when
  0); anything else -> ``as_double`` (field 4; written even for 0.0; NaN payload
  bits kept, e.g. signalling NaN 7ff0000000000001 and -nan). A ``bool`` value
  *raises* (upb: "Expected an int, got a boolean"); an int outside int64 raises.
  Non-int numbers go through ``float()`` semantics: numpy.int64 -> as_double.
* ``flags`` never written.

HistogramDataPoint
* start, time, count (fixed64), ``sum`` (5), ``min`` (11), ``max`` (12) are proto3
  ``optional`` and always set, so they are written even when 0.0 (and as +inf/-inf,
  the SDK's values when min/max recording is off); ``None`` leaves them unset.
  ints are accepted and converted like Python ``float(int)`` (round-half-even;
  ``bool`` -> 1.0/0.0 for sum); an int too large for a double raises.
* bucket_counts: packed fixed64; explicit_bounds: packed double (ints converted);
  each omitted when empty. ``flags`` never written. count/bucket_counts outside
  uint64 (or bool/float count) raise.

ExponentialHistogramDataPoint
* start, time, count, ``sum`` (optional, always set), ``scale`` (sint32, omitted
  when 0), ``zero_count`` (fixed64, omitted when 0), ``positive`` (8) / ``negative``
  (9) only when that side's ``bucket_counts`` is non-empty (offset is dropped
  together with an empty side; all-zero counts are still written), ``flags``
  (uint32, omitted when 0), ``min``/``max`` (optional, always set),
  ``zero_threshold`` (14) never written. Buckets: offset sint32, bucket_counts
  packed uint64 varints. scale/offset outside int32, flags outside uint32,
  zero_count/bucket_counts outside uint64 raise; ``positive=None`` raises.

Exemplars (``Exemplar(filtered_attributes, value, time_unix_nano, span_id=None,
trace_id=None)`` -- note span_id comes before trace_id)
* Wire order: time (2), as_double (3), span_id (4), trace_id (5), as_int (6),
  filtered_attributes (7).
* ``span_id`` (8 bytes big-endian) and ``trace_id`` (16 bytes) are written only when
  *both* are not None -- and then always, even when 0 (``00``-filled bytes).
* ``isinstance(value, float)`` -> as_double, then ``int`` -> as_int; a bool raises
  (upb), any other type raises ValueError; an int outside int64 raises; span/trace
  ids that do not fit 8/16 bytes raise.

Raising inputs (never generated by the random strategies; wrapped in the
reference's ``EncodingException`` except for the None resource/scope): bool
point/exemplar values, ints beyond int64 for values, negative / >= 2**64
timestamps, counts and bucket counts, out-of-range scale/offset/flags, ints beyond
the double range for sum/min/max/bounds, None value, None/garbage temporality or
is_monotonic None, None positive/negative buckets, None resource or scope.

Ill-typed inputs the reference accepts (targeted tests only): ``None`` for any
scalar or optional field except the point value (-> field not written; e.g. sum,
min, max, timestamps, count, scale, flags, zero_count, name, description, unit),
``data=None`` or an unknown data object, plain ints as temporality (even outside
the enum, -1 written as a 10-byte varint), an int ``is_monotonic``, bool
histogram sum/min/max.

Fixed-width and zigzag fields in ``explain_mismatch``'s wire dump are shown raw:
as_int (sfixed64) as unsigned, scale/offset (sint32) zigzag-encoded; the
text_format diff below it shows the real values.
"""

from __future__ import annotations

import math

from hypothesis import strategies as st
from opentelemetry.sdk.metrics._internal.exemplar import Exemplar
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Buckets,
    ExponentialHistogram,
    ExponentialHistogramDataPoint,
    Gauge,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

try:
    import strategies as S
except ImportError:  # tests/ is a package
    from tests import strategies as S

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1

# --------------------------------------------------------------------------
# scalars
# --------------------------------------------------------------------------

timestamps = S.uint64s
counts = S.uint64s
int32s = st.one_of(
    st.integers(INT32_MIN, INT32_MAX), st.sampled_from([0, 1, -1, 63, 64, -64, -65, INT32_MIN, INT32_MAX])
)
uint32s = st.one_of(st.integers(0, S.UINT32_MAX), st.sampled_from([0, 1, 127, 128, S.UINT32_MAX]))
temporalities = st.sampled_from(list(AggregationTemporality))

# Python ints that the reference converts to double for sum/min/max/bounds
# (float(int) rounding, round-half-even), beyond int64 and up to ~1e300.
big_ints = st.one_of(
    st.integers(-(2**80), 2**80),
    st.sampled_from(
        [2**53 + 1, 2**53 + 3, -(2**53) - 1, 2**63, 2**64, 2**64 + 1, -(2**63) - 1, 2**1000 + 2**947, 10**300]
    ),
)

# value of a NumberDataPoint: int (as_int, must fit int64, never bool) or float.
point_values = st.one_of(S.int64s, S.all_floats)

# sum / min / max of histograms: float or int (ints converted to double).
double_likes = st.one_of(S.all_floats, S.all_floats, S.int64s, big_ints)
min_max = st.one_of(st.sampled_from([math.inf, -math.inf]), double_likes)

metric_texts = st.one_of(
    S.texts,
    st.sampled_from(["http.server.duration", "ms", "{request}", "1", "By", "Größe", "计数器", ""]),
)
optional_texts = st.one_of(st.none(), metric_texts)


def _seq(elements, min_size=0, max_size=6):
    """A list or tuple (the SDK hands out both)."""
    return st.lists(elements, min_size=min_size, max_size=max_size).flatmap(
        lambda xs: st.sampled_from([xs, tuple(xs)])
    )


# Attribute containers of data points and exemplars: None, dict or BoundedAttributes.
default_attributes = S.attribute_containers(max_size=4)


# --------------------------------------------------------------------------
# exemplars
# --------------------------------------------------------------------------


@st.composite
def exemplars(draw, attrs=None):
    span_id = draw(st.none() | S.span_ids)
    trace_id = draw(st.none() | S.trace_ids)
    return Exemplar(
        filtered_attributes=draw(default_attributes if attrs is None else attrs),
        value=draw(point_values),
        time_unix_nano=draw(timestamps),
        span_id=span_id,
        trace_id=trace_id,
    )


def _exemplar_lists(with_exemplars, attrs):
    if not with_exemplars:
        return st.just([])
    return _seq(exemplars(attrs), max_size=3)


# --------------------------------------------------------------------------
# data points and data
# --------------------------------------------------------------------------


@st.composite
def number_points(draw, gauge=False, with_exemplars=False, attrs=None):
    start = draw(st.none() | timestamps) if gauge else draw(timestamps)
    return NumberDataPoint(
        attributes=draw(default_attributes if attrs is None else attrs),
        start_time_unix_nano=start,
        time_unix_nano=draw(timestamps),
        value=draw(point_values),
        exemplars=draw(_exemplar_lists(with_exemplars, attrs)),
    )


bounds_elements = st.one_of(S.all_floats, S.finite_floats, st.integers(-(2**31), 2**31), big_ints)


@st.composite
def histogram_points(draw, with_exemplars=False, attrs=None):
    bounds = draw(_seq(bounds_elements, max_size=6))
    if draw(st.integers(0, 4)):
        # the SDK shape: one more bucket than bounds
        bucket_counts = draw(_seq(counts, min_size=len(bounds) + 1, max_size=len(bounds) + 1))
    else:
        bucket_counts = draw(_seq(counts, max_size=8))
    return HistogramDataPoint(
        attributes=draw(default_attributes if attrs is None else attrs),
        start_time_unix_nano=draw(timestamps),
        time_unix_nano=draw(timestamps),
        count=draw(counts),
        sum=draw(double_likes),
        bucket_counts=bucket_counts,
        explicit_bounds=bounds,
        min=draw(min_max),
        max=draw(min_max),
        exemplars=draw(_exemplar_lists(with_exemplars, attrs)),
    )


@st.composite
def buckets(draw):
    size = draw(st.sampled_from([0, 0, 1, 3, 8, 40]))
    return Buckets(offset=draw(int32s), bucket_counts=draw(_seq(counts, max_size=size)))


@st.composite
def exponential_histogram_points(draw, with_exemplars=False, attrs=None):
    return ExponentialHistogramDataPoint(
        attributes=draw(default_attributes if attrs is None else attrs),
        start_time_unix_nano=draw(timestamps),
        time_unix_nano=draw(timestamps),
        count=draw(counts),
        sum=draw(double_likes),
        scale=draw(st.one_of(st.integers(-10, 20), int32s)),
        zero_count=draw(counts),
        positive=draw(buckets()),
        negative=draw(buckets()),
        flags=draw(st.one_of(st.sampled_from([0, 1]), uint32s)),
        min=draw(min_max),
        max=draw(min_max),
        exemplars=draw(_exemplar_lists(with_exemplars, attrs)),
    )


class UnsupportedData:
    """A ``Metric.data`` the reference does not know (it logs and writes no data field).

    Not type-correct per the SDK (``DataT``), so only the targeted tests use it (and
    ``data=None``); the random strategies stick to the four SDK data types."""

    def __init__(self, points=()):
        self.data_points = list(points)

    def __repr__(self):
        return f"UnsupportedData({self.data_points!r})"


@st.composite
def metric_data(draw, with_exemplars=False, attrs=None, max_points=4):
    kind = draw(st.sampled_from(["sum", "gauge", "histogram", "exp_histogram"]))
    n_points = st.integers(0, max_points)
    if kind == "sum":
        pts = [draw(number_points(False, with_exemplars, attrs)) for _ in range(draw(n_points))]
        return Sum(_maybe_tuple(draw, pts), draw(temporalities), draw(st.booleans()))
    if kind == "gauge":
        pts = [draw(number_points(True, with_exemplars, attrs)) for _ in range(draw(n_points))]
        return Gauge(_maybe_tuple(draw, pts))
    if kind == "histogram":
        pts = [draw(histogram_points(with_exemplars, attrs)) for _ in range(draw(n_points))]
        return Histogram(_maybe_tuple(draw, pts), draw(temporalities))
    pts = [draw(exponential_histogram_points(with_exemplars, attrs)) for _ in range(draw(n_points))]
    return ExponentialHistogram(_maybe_tuple(draw, pts), draw(temporalities))


def _maybe_tuple(draw, xs):
    return tuple(xs) if draw(st.booleans()) else xs


@st.composite
def metrics(draw, with_exemplars=False, attrs=None):
    return Metric(
        name=draw(metric_texts),
        description=draw(optional_texts),
        unit=draw(optional_texts),
        data=draw(metric_data(with_exemplars, attrs)),
    )


# --------------------------------------------------------------------------
# MetricsData
# --------------------------------------------------------------------------

_sm_schema_urls = st.sampled_from([None, "", "https://opentelemetry.io/schemas/1.21.0", "https://ignored/é"])


class MetricsBatch:
    """Wraps a MetricsData so that hypothesis prints every encoder-visible field."""

    def __init__(self, data: MetricsData):
        self.data = data

    def __repr__(self) -> str:
        return "MetricsBatch(\n" + describe_metrics_data(self.data) + "\n)"


@st.composite
def metrics_data(
    draw, with_exemplars=False, attrs=None, max_resources=4, max_scopes=3, max_metrics=4
) -> MetricsData:
    """Resources and scopes are drawn from small pools, so equal resources in
    different ResourceMetrics and duplicate scopes in one ResourceMetrics occur;
    about half of the ResourceMetrics get a resource nobody else has."""
    resources = [r for r in draw(S.resource_pools()) if r is not None]
    scopes = [s for s in draw(S.scope_pools()) if s is not None]
    rms = []
    for _ in range(draw(st.integers(0, max_resources))):
        sms = []
        for _ in range(draw(st.integers(0, max_scopes))):
            ms = draw(st.lists(metrics(with_exemplars, attrs), max_size=max_metrics))
            sms.append(ScopeMetrics(draw(st.sampled_from(scopes)), ms, draw(_sm_schema_urls)))
        resource = draw(st.sampled_from(resources))
        if draw(st.booleans()):
            # a resource of its own, so that not every batch loses metrics to overwriting
            resource = Resource({**resource.attributes, "rm.index": len(rms)}, resource.schema_url)
        rms.append(ResourceMetrics(resource, _maybe_tuple(draw, sms), draw(_sm_schema_urls)))
    return MetricsData(_maybe_tuple(draw, rms))


def metrics_batches(**kw):
    return metrics_data(**kw).map(MetricsBatch)


def exotic_metrics_batches():
    """Data point and exemplar attributes are exotic plain dicts (keys/values the
    reference accepts through ABC checks, or skips with a log line)."""
    exotic = S.exotic_attribute_dicts(max_size=4)
    return metrics_data(with_exemplars=True, attrs=exotic, max_resources=2, max_metrics=3).map(MetricsBatch)


# --------------------------------------------------------------------------
# builders for hand-written examples (test_parity_metrics.py, test_json.py)
# --------------------------------------------------------------------------

RES = Resource({"service.name": "svc"})
SCOPE = InstrumentationScope("lib", "1.0")


def md(*metrics, resource=RES, scope=SCOPE) -> MetricsData:
    """MetricsData with one resource and one scope holding ``metrics``."""
    return MetricsData([ResourceMetrics(resource, [ScopeMetrics(scope, list(metrics), "")], "")])


def npoint(value=1, attributes=None, start=1, time=2, exemplars=()) -> NumberDataPoint:
    return NumberDataPoint(attributes or {}, start, time, value, list(exemplars))


def hpoint(**kw) -> HistogramDataPoint:
    """A valid HistogramDataPoint; ``kw`` replaces any of its fields."""
    d = {
        "attributes": {},
        "start_time_unix_nano": 1,
        "time_unix_nano": 2,
        "count": 3,
        "sum": 6.0,
        "bucket_counts": [1, 2, 0],
        "explicit_bounds": [1.0, 10.0],
        "min": 1.0,
        "max": 4.0,
        "exemplars": [],
    }
    d.update(kw)
    return HistogramDataPoint(**d)


def epoint(**kw) -> ExponentialHistogramDataPoint:
    """A valid ExponentialHistogramDataPoint; ``kw`` replaces any of its fields."""
    d = {
        "attributes": {},
        "start_time_unix_nano": 1,
        "time_unix_nano": 2,
        "count": 3,
        "sum": 6.0,
        "scale": 3,
        "zero_count": 1,
        "positive": Buckets(2, [1, 1]),
        "negative": Buckets(0, []),
        "flags": 0,
        "min": 0.0,
        "max": 4.0,
        "exemplars": [],
    }
    d.update(kw)
    return ExponentialHistogramDataPoint(**d)


# --------------------------------------------------------------------------
# description for failure reports
# --------------------------------------------------------------------------

# Like strategies._repr (keeps attribute order) but never abbreviates numbers: a
# big int sum/min/max or a count must be reproducible from the report.
_repr = S._OrderedRepr()
_repr.maxlevel = 12
_repr.maxstring = 160
_repr.maxother = 160
_repr.maxlong = 1000
_repr.maxlist = _repr.maxtuple = _repr.maxdict = _repr.maxset = 60


def _r(x) -> str:
    try:
        return _repr.repr(x)
    except RecursionError:
        return "<too deep to repr>"


def _describe_point(p) -> str:
    fields = []
    for name in p.__dataclass_fields__:
        v = getattr(p, name)
        if name == "attributes":
            fields.append(f"attributes={S._attrs(v)}")
        elif name == "exemplars":
            fields.append(
                "exemplars=["
                + ", ".join(
                    f"Exemplar(filtered_attributes={S._attrs(e.filtered_attributes)}, value={e.value!r}, "
                    f"time_unix_nano={e.time_unix_nano!r}, span_id={e.span_id!r}, trace_id={e.trace_id!r})"
                    for e in v
                )
                + "]"
            )
        elif isinstance(v, Buckets):
            fields.append(f"{name}=Buckets(offset={v.offset!r}, bucket_counts={_r(v.bucket_counts)})")
        elif isinstance(v, float):
            fields.append(f"{name}={v!r}" + (f" (bits {v.hex()})" if math.isnan(v) else ""))
        else:
            fields.append(f"{name}={_r(v)}")
    return f"{type(p).__name__}(" + ", ".join(fields) + ")"


def describe_metrics_data(data) -> str:
    """Every encoder-visible field, with object identity tags for resources/scopes."""
    tag = S.identity_tagger()
    lines = []
    for i, rm in enumerate(data.resource_metrics):
        res = rm.resource
        res_desc = (
            "None"
            if res is None
            else f"{tag(res, 'R')}(attrs={_r(dict(res.attributes))}, schema_url={res.schema_url!r})"
        )
        lines.append(f"  [{i}] ResourceMetrics(resource={res_desc}, schema_url={rm.schema_url!r})")
        for j, sm in enumerate(rm.scope_metrics):
            sc = sm.scope
            sc_desc = (
                "None"
                if sc is None
                else f"{tag(sc, 'S')}(name={sc.name!r}, version={sc.version!r}, "
                f"schema_url={sc.schema_url!r}, attrs={_r(None if sc.attributes is None else dict(sc.attributes))})"
            )
            lines.append(f"    [{i}.{j}] ScopeMetrics(scope={sc_desc}, schema_url={sm.schema_url!r})")
            for k, m in enumerate(sm.metrics):
                d = m.data
                head = f"      [{i}.{j}.{k}] Metric(name={m.name!r}, description={m.description!r}, unit={m.unit!r}, "
                if isinstance(d, (Sum, Gauge, Histogram, ExponentialHistogram)):
                    extra = ""
                    if hasattr(d, "aggregation_temporality"):
                        extra += f", temporality={d.aggregation_temporality!r}"
                    if isinstance(d, Sum):
                        extra += f", is_monotonic={d.is_monotonic!r}"
                    lines.append(head + f"data={type(d).__name__}({len(d.data_points)} points{extra}))")
                    for p in d.data_points:
                        lines.append("          " + _describe_point(p))
                else:
                    lines.append(head + f"data={d!r})")
    return "\n".join(lines) if lines else "  (empty)"
