"""Acceptance tests: metrics recorded with otlp's native API (single values and
``record_many``/``add_many``) arrive at a real OTLP/gRPC peer (the reference grpcio sink
in another process) and decode to exactly the expected sums, counts, bucket counts,
min/max, attributes, temporality and start/end times."""

from __future__ import annotations

import math
import sys
import time
import zlib

import numpy as np
import pytest
from opentelemetry.proto.metrics.v1 import metrics_pb2
from roundtrip_helpers import DEFAULT_BOUNDS, exporter_factory, kvdict, typed

import otlp

pytestmark = pytest.mark.timeout(60)

SERVICE = {"service.name": "metrics-roundtrip-svc", "deployment.environment": "test", "svc.int": 7}
SCOPE = ("metrics-roundtrip-scope", "3.1.4")

CUMULATIVE = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
DELTA = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA

OVERFLOW = {"otel.metric.overflow": True}

# -------------------------------------------------------------------------
# helpers
# -------------------------------------------------------------------------


def key(attrs: dict | None):
    """The series key of an attribute set (typed, order-insensitive)."""
    return typed(dict(attrs or {}))


def number(p):
    """A NumberDataPoint's value, keeping its wire type: ("int", v) or ("double", v)."""
    which = p.WhichOneof("value")
    assert which in ("as_int", "as_double"), f"data point without a value: {p}"
    return ("int" if which == "as_int" else "double", getattr(p, which))


class Metric:
    """One decoded metric with its data points indexed by attribute set."""

    def __init__(self, resource, scope, m):
        self.resource, self.scope, self.proto = resource, scope, m
        self.kind = m.WhichOneof("data")
        assert self.kind is not None, f"metric {m.name} has no data"
        self.data = getattr(m, self.kind)
        self.points: dict = {}
        for p in self.data.data_points:
            k = key(kvdict(p.attributes))
            assert k not in self.points, f"{m.name}: series {kvdict(p.attributes)} exported twice"
            self.points[k] = p

    @property
    def temporality(self):
        return self.data.aggregation_temporality

    def point(self, attrs=None):
        k = key(attrs)
        assert k in self.points, (
            f"{self.proto.name}: no series {attrs!r}; have {[kvdict(p.attributes) for p in self.points.values()]}"
        )
        return self.points[k]

    def value(self, attrs=None):
        return number(self.point(attrs))

    def series(self) -> list[dict]:
        return [kvdict(p.attributes) for p in self.points.values()]


class Round:
    """What one force_flush delivered: one ExportMetricsServiceRequest, with the wall clock
    read just before and just after the flush."""

    def __init__(self, req, before: int, after: int):
        self.req, self.before, self.after = req, before, after
        self.metrics: dict[str, Metric] = {}
        for rm in req.resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    assert m.name not in self.metrics, f"metric {m.name} exported twice in one request"
                    self.metrics[m.name] = Metric(rm.resource, sm.scope, m)

    def __getitem__(self, name) -> Metric:
        assert name in self.metrics, f"metric {name!r} missing; got {sorted(self.metrics)}"
        return self.metrics[name]

    def n_points(self) -> int:
        return sum(len(m.points) for m in self.metrics.values())


def wait_for_metric_requests(sink, n: int, timeout: float = 10.0) -> list:
    """Bounded wait until the sink has recorded at least n metrics requests."""
    sink.wait_for_requests(n, timeout=timeout, kind="metrics")
    return sink.requests("metrics")


def flush(exp, sink, timeout: float = 10.0) -> Round:
    """force_flush, then the (exactly one) metrics request it produced."""
    n = sink.request_count("metrics")
    before = time.time_ns()
    ok = exp.force_flush(timeout=timeout)
    after = time.time_ns()
    assert ok is True, exp.stats()
    try:
        reqs = wait_for_metric_requests(sink, n + 1, timeout)
    except TimeoutError as e:
        raise AssertionError(f"{e}; exporter stats: {exp.stats()}") from None
    assert len(reqs) == n + 1, f"one flush produced {len(reqs) - n} metrics requests"
    return Round(reqs[-1], before, after)


def assert_times(rnd: Round):
    """Every point of the round: start <= end, and end is the collection time (inside the flush)."""
    for m in rnd.metrics.values():
        for p in m.points.values():
            assert rnd.before <= p.time_unix_nano <= rnd.after, (m.proto.name, rnd.before, p, rnd.after)
            if m.kind == "gauge" and p.start_time_unix_nano == 0:
                continue  # a gauge's start time is optional
            assert 0 < p.start_time_unix_nano <= p.time_unix_nano, (m.proto.name, p)


def ref_histogram(values, bounds):
    """numpy reference: bucket i holds b[i-1] < v <= b[i]."""
    v = np.asarray(values, dtype=np.float64)
    idx = np.searchsorted(np.asarray(bounds, dtype=np.float64), v, side="left")
    counts = np.bincount(idx, minlength=len(bounds) + 1).tolist()
    return {
        "counts": counts,
        "count": int(v.size),
        "sum": math.fsum(v.tolist()),
        "abs": math.fsum(np.abs(v).tolist()),
        "min": float(v.min()),
        "max": float(v.max()),
    }


def assert_histogram(p, values, bounds):
    ref = ref_histogram(values, bounds)
    assert list(p.explicit_bounds) == [float(b) for b in bounds]
    assert list(p.bucket_counts) == ref["counts"]
    assert p.count == ref["count"] == sum(p.bucket_counts)
    assert p.HasField("min") and p.HasField("max")
    assert (p.min, p.max) == (ref["min"], ref["max"])
    assert p.HasField("sum")
    # the kernels' documented bound, (n/16 + 16) * eps * sum(|v|), plus one rounding per
    # record/record_many call merged into the series (a few dozen at most here)
    tol = (ref["count"] // 16 + 64) * sys.float_info.epsilon * ref["abs"]
    assert abs(p.sum - ref["sum"]) <= tol, (p.sum, ref["sum"], tol)


@pytest.fixture
def make_exporter():
    # a long interval: only force_flush exports during a test
    yield from exporter_factory(
        lambda: {
            "resource": SERVICE,
            "timeout": 5.0,
            "metrics": otlp.MetricsConfig(interval=600.0, timeout=5.0),
        }
    )


@pytest.fixture
def exp(sink, make_exporter):
    return make_exporter(sink.endpoint)


@pytest.fixture
def meter(exp):
    return exp.meter(SCOPE[0], version=SCOPE[1])


def metrics_config(**kw):
    kw.setdefault("interval", 600.0)
    kw.setdefault("timeout", 5.0)
    return otlp.MetricsConfig(**kw)


# -------------------------------------------------------------------------
# counters
# -------------------------------------------------------------------------


def test_counter_int_and_float_values(sink, exp, meter):
    c = meter.counter("requests", unit="1", description="requests served")
    c.add(1)
    c.add(2)
    c.add(2**62, {"big": True})
    c.add(2**62 - 1, {"big": True})  # int64 max exactly: still an int
    c.add(0, {"zero": 0})
    f = meter.counter("bytes.ratio", unit="By")
    f.add(1.5)
    f.add(0.25)
    f.add(3, {"int.into.double": 1})  # an int into another series stays int
    mixed = meter.counter("mixed")
    mixed.add(1)
    mixed.add(0.5)  # the series got a float -> double from now on
    mixed.add(2)
    arrays = meter.counter("arrays")
    arrays.add_many(np.array([1, 2, 3], dtype=np.int64), {"dtype": "int64"})
    arrays.add_many(np.array([4, 5], dtype=np.int32), {"dtype": "int32"})
    arrays.add_many([6, 7, 8], {"dtype": "list-int"})
    arrays.add_many(np.array([0.5, 0.25], dtype=np.float64), {"dtype": "float64"})
    arrays.add_many(np.array([0.5, 1.5], dtype=np.float32), {"dtype": "float32"})
    arrays.add_many([1, 0.5], {"dtype": "list-mixed"})
    arrays.add_many(np.array([], dtype=np.float64), {"dtype": "empty-then-int"})
    arrays.add(9, {"dtype": "empty-then-int"})
    arrays.add_many(np.arange(100_000, dtype=np.int64), {"dtype": "large-int64"})

    rnd = flush(exp, sink)
    m = rnd["requests"]
    assert m.kind == "sum" and m.data.is_monotonic is True and m.temporality == CUMULATIVE
    assert (m.proto.unit, m.proto.description) == ("1", "requests served")
    assert m.value() == ("int", 3)
    assert m.value({"big": True}) == ("int", 2**63 - 1)
    assert m.value({"zero": 0}) == ("int", 0)

    f = rnd["bytes.ratio"]
    assert f.value() == ("double", 1.75) and f.proto.unit == "By"
    assert f.value({"int.into.double": 1}) == ("int", 3)
    assert rnd["mixed"].value() == ("double", 3.5)

    a = rnd["arrays"]
    assert a.value({"dtype": "int64"}) == ("int", 6)
    assert a.value({"dtype": "int32"}) == ("int", 9)
    assert a.value({"dtype": "list-int"}) == ("int", 21)
    assert a.value({"dtype": "float64"}) == ("double", 0.75)
    assert a.value({"dtype": "float32"}) == ("double", 2.0)
    assert a.value({"dtype": "list-mixed"}) == ("double", 1.5)
    assert a.value({"dtype": "empty-then-int"}) == ("int", 9)
    assert a.value({"dtype": "large-int64"}) == ("int", 100_000 * 99_999 // 2)
    assert_times(rnd)


def test_up_down_counter_negative_values(sink, exp, meter):
    u = meter.up_down_counter("queue.depth", unit="{item}", description="items queued")
    u.add(-3, {"q": "a"})
    u.add(1, {"q": "a"})
    u.add(5, {"q": "b"})
    u.add(-7, {"q": "b"})
    u.add(-(2**63), {"q": "min"})  # int64 min exactly
    u.add(-0.5, {"q": "float"})
    u.add(-1, {"q": "float"})
    u.add_many(np.array([-1, -2, 4], dtype=np.int64), {"q": "int64"})
    u.add_many(np.array([-10, 3], dtype=np.int32), {"q": "int32"})
    u.add_many(np.array([-0.25, -0.5], dtype=np.float64), {"q": "float64"})
    u.add_many(np.array([-1.5, 0.5], dtype=np.float32), {"q": "float32"})
    u.add_many([-1, -2, -3], {"q": "list"})

    rnd = flush(exp, sink)
    m = rnd["queue.depth"]
    assert m.kind == "sum" and m.data.is_monotonic is False and m.temporality == CUMULATIVE
    assert (m.proto.unit, m.proto.description) == ("{item}", "items queued")
    assert m.value({"q": "a"}) == ("int", -2)
    assert m.value({"q": "b"}) == ("int", -2)
    assert m.value({"q": "min"}) == ("int", -(2**63))
    assert m.value({"q": "float"}) == ("double", -1.5)
    assert m.value({"q": "int64"}) == ("int", 1)
    assert m.value({"q": "int32"}) == ("int", -7)
    assert m.value({"q": "float64"}) == ("double", -0.75)
    assert m.value({"q": "float32"}) == ("double", -1.0)
    assert m.value({"q": "list"}) == ("int", -6)
    assert len(m.points) == 9
    assert_times(rnd)


# -------------------------------------------------------------------------
# histograms
# -------------------------------------------------------------------------

CUSTOM_BOUNDS = [-10.0, 0.0, 0.1, 2.5, 100.0, 1e6]
MANY_BOUNDS = [float(x) for x in np.linspace(-1000.0, 11000.0, 41)]  # > 32: binary search path

BOUNDS = {
    "default": None,
    "custom": CUSTOM_BOUNDS,
    "many": MANY_BOUNDS,
    "single-bucket": [],
}

DTYPES = ["float64", "float32", "int64", "int32", "list-float", "list-int"]


def _sample(rng, n, bounds, dtype):
    """n values of a dtype, a good share exactly on the boundaries (as that dtype holds them)."""
    bounds = DEFAULT_BOUNDS if bounds is None else bounds
    if dtype in ("int64", "int32", "list-int"):
        v = rng.integers(-2000, 12_000, size=n)
        on = [int(b) for b in bounds if float(b).is_integer()]
    else:
        v = rng.uniform(-2000.0, 12_000.0, size=n)
        v = np.where(rng.random(n) < 0.2, rng.uniform(-1.0, 3.0, size=n), v)  # around small bounds
        on = list(bounds)
    if on and n:
        mask = rng.random(n) < 0.25
        v = np.where(mask, rng.choice(np.asarray(on, dtype=v.dtype), size=n), v)
    if dtype == "float64":
        return np.ascontiguousarray(v, dtype=np.float64)
    if dtype == "float32":
        return np.ascontiguousarray(v, dtype=np.float32)
    if dtype == "int64":
        return np.ascontiguousarray(v, dtype=np.int64)
    if dtype == "int32":
        return np.ascontiguousarray(v, dtype=np.int32)
    if dtype == "list-float":
        return [float(x) for x in v]
    return [int(x) for x in v]


def _as_f64(values) -> list[float]:
    if isinstance(values, np.ndarray):
        return values.astype(np.float64).tolist()
    return [float(x) for x in values]


@pytest.mark.parametrize("bounds_name", list(BOUNDS))
def test_histogram_record_and_record_many(sink, exp, meter, bounds_name):
    bounds = BOUNDS[bounds_name]
    rng = np.random.default_rng(zlib.crc32(bounds_name.encode()))  # deterministic
    expected: dict[str, list[float]] = {}
    hists = {}
    for dtype in DTYPES:
        name = f"latency.{dtype}"
        h = meter.histogram(name, unit="ms", description=f"record_many({dtype})", boundaries=bounds)
        assert h.boundaries == (DEFAULT_BOUNDS if bounds is None else bounds)
        hists[dtype] = h
        got: list[float] = []
        # single values first (ints stay ints, floats floats)
        for x in (_sample(rng, 5, bounds, dtype))[:5]:
            x = x.item() if hasattr(x, "item") else x
            h.record(x)
            got.append(float(x))
        # arrays of every interesting length (kernel body, tail, empty)
        for n in (0, 1, 15, 16, 17, 33, 64, 1000):
            vals = _sample(rng, n, bounds, dtype)
            h.record_many(vals)
            got += _as_f64(vals)
        expected[name] = got
        # a second series of the same instrument, given as record_many with attributes
        vals = _sample(rng, 50, bounds, dtype)
        h.record_many(vals, {"route": "/b", "dtype": dtype})
        expected[f"{name}|/b"] = _as_f64(vals)
    # one large array (released GIL, chunked widening of non-float64 dtypes)
    for dtype in ("float64", "int32"):
        vals = _sample(rng, 100_003, bounds, dtype)
        hists[dtype].record_many(vals, {"large": True})
        expected[f"latency.{dtype}|large"] = _as_f64(vals)

    rnd = flush(exp, sink)
    eff_bounds = DEFAULT_BOUNDS if bounds is None else bounds
    for dtype in DTYPES:
        name = f"latency.{dtype}"
        m = rnd[name]
        assert m.kind == "histogram" and m.temporality == CUMULATIVE
        assert (m.proto.unit, m.proto.description) == ("ms", f"record_many({dtype})")
        assert_histogram(m.point(), expected[name], eff_bounds)
        assert_histogram(m.point({"route": "/b", "dtype": dtype}), expected[f"{name}|/b"], eff_bounds)
        if f"{name}|large" in expected:
            assert_histogram(m.point({"large": True}), expected[f"{name}|large"], eff_bounds)
            assert len(m.points) == 3
        else:
            assert len(m.points) == 2
    assert_times(rnd)


def test_histogram_bucket_edges_exact(sink, exp, meter):
    """Upper-inclusive buckets, checked by hand: b[i-1] < v <= b[i]."""
    h = meter.histogram("edges", boundaries=[0.0, 10.0])
    for v in (-1.0, -0.0, 0.0, 0.5, 10.0, 10.000001, 1e300, -1e300):
        h.record(v)
    h.record_many(np.array([0.0, 10.0, np.nextafter(0.0, 1.0), np.nextafter(10.0, 11.0)]))
    hd = meter.histogram("default-edges")
    hd.record_many(np.array(DEFAULT_BOUNDS))  # each exactly on its boundary
    hd.record(10000.5)
    rnd = flush(exp, sink)
    p = rnd["edges"].point()
    assert list(p.bucket_counts) == [4 + 1, 2 + 2, 2 + 1]
    assert (p.count, p.min, p.max) == (12, -1e300, 1e300)
    d = rnd["default-edges"].point()
    assert list(d.bucket_counts) == [1] * 15 + [1]
    assert list(d.explicit_bounds) == DEFAULT_BOUNDS
    assert (d.count, d.min, d.max) == (16, 0.0, 10000.5)


def test_histogram_int_values_sum_and_minmax(sink, exp, meter):
    h = meter.histogram("sizes", unit="By", boundaries=[100, 1000])  # int boundaries are fine
    h.record(7)
    h.record_many([100, 1000, 1001])
    h.record_many(np.array([-5, 2**40], dtype=np.int64))
    rnd = flush(exp, sink)
    p = rnd["sizes"].point()
    assert list(p.explicit_bounds) == [100.0, 1000.0]
    assert list(p.bucket_counts) == [3, 1, 2]
    assert (p.count, p.sum, p.min, p.max) == (6, float(7 + 100 + 1000 + 1001 - 5 + 2**40), -5.0, float(2**40))


# -------------------------------------------------------------------------
# gauges and observable instruments
# -------------------------------------------------------------------------


def test_gauge_last_value(sink, exp, meter):
    g = meter.gauge("temperature", unit="Cel", description="room temperature")
    g.set(20)
    g.set(21.5, {"room": "a"})
    g.set(19.25, {"room": "a"})
    g.set(3)
    g.set(-4, {"room": "b"})
    gi = meter.gauge("int-then-float")
    gi.set(1)
    gi.set(2.5)
    rnd = flush(exp, sink)
    m = rnd["temperature"]
    assert m.kind == "gauge"
    assert (m.proto.unit, m.proto.description) == ("Cel", "room temperature")
    assert m.value() == ("int", 3)
    assert m.value({"room": "a"}) == ("double", 19.25)
    assert m.value({"room": "b"}) == ("int", -4)
    assert len(m.points) == 3
    assert rnd["int-then-float"].value() == ("double", 2.5)
    assert_times(rnd)
    # a gauge keeps its last value in the next collection (cumulative)
    g.set(22, {"room": "b"})
    rnd2 = flush(exp, sink)
    assert rnd2["temperature"].value({"room": "b"}) == ("int", 22)
    assert rnd2["temperature"].value({"room": "a"}) == ("double", 19.25)


def test_observable_instruments_via_callbacks(sink, exp, meter):
    calls = {"counter": 0, "updown": 0, "gauge": 0}

    def counter_cb():
        calls["counter"] += 1
        n = calls["counter"]
        return [
            otlp.Observation(100 * n, {"cpu": "0"}),
            otlp.Observation(2.5 * n, {"cpu": "1"}),
            (7 * n, {"cpu": "2"}),  # a (value, attributes) tuple
            11 * n,  # a plain number: the series without attributes
        ]

    def counter_cb2():
        return iter([otlp.Observation(5, {"cpu": "3", "state": "idle"})])  # any iterable

    def updown_cb():
        calls["updown"] += 1
        yield otlp.Observation(-4, {"pool": "a"})
        yield (3.5, {"pool": "b"})
        yield -1

    def gauge_cb():
        calls["gauge"] += 1
        return (otlp.Observation(x, {"i": i}) for i, x in enumerate([1.5, 2, -3]))

    meter.observable_counter("cpu.time", callbacks=[counter_cb, counter_cb2], unit="s", description="cpu")
    meter.observable_up_down_counter("pool.size", callbacks=[updown_cb])
    meter.observable_gauge("mem.free", callbacks=[gauge_cb], unit="By")
    meter.observable_gauge("no-callbacks")  # nothing observed: no points, no error

    rnd = flush(exp, sink)
    assert calls == {"counter": 1, "updown": 1, "gauge": 1}
    c = rnd["cpu.time"]
    assert c.kind == "sum" and c.data.is_monotonic is True and c.temporality == CUMULATIVE
    assert (c.proto.unit, c.proto.description) == ("s", "cpu")
    assert c.value({"cpu": "0"}) == ("int", 100)
    assert c.value({"cpu": "1"}) == ("double", 2.5)
    assert c.value({"cpu": "2"}) == ("int", 7)
    assert c.value() == ("int", 11)
    assert c.value({"state": "idle", "cpu": "3"}) == ("int", 5)
    assert len(c.points) == 5
    u = rnd["pool.size"]
    assert u.kind == "sum" and u.data.is_monotonic is False and u.temporality == CUMULATIVE
    assert u.value({"pool": "a"}) == ("int", -4)
    assert u.value({"pool": "b"}) == ("double", 3.5)
    assert u.value() == ("int", -1)
    g = rnd["mem.free"]
    assert g.kind == "gauge" and g.proto.unit == "By"
    assert [g.value({"i": i}) for i in range(3)] == [("double", 1.5), ("int", 2), ("int", -3)]
    assert "no-callbacks" not in rnd.metrics
    assert_times(rnd)
    assert exp.stats()["metric_callback_errors"] == 0

    # each collection calls every callback once more; observations are the current totals
    rnd2 = flush(exp, sink)
    assert calls == {"counter": 2, "updown": 2, "gauge": 2}
    c2 = rnd2["cpu.time"]
    assert c2.value({"cpu": "0"}) == ("int", 200)
    assert c2.value({"cpu": "1"}) == ("double", 5.0)
    assert c2.value() == ("int", 22)
    for attrs in ({"cpu": "0"}, {"cpu": "1"}, {"cpu": "2"}, None):
        assert c2.point(attrs).start_time_unix_nano == c.point(attrs).start_time_unix_nano


# -------------------------------------------------------------------------
# attributes
# -------------------------------------------------------------------------

ATTRS = {
    "str": "hello",
    "str.unicode": "héllo wörld ✓ 🚀",
    "str.empty": "",
    "bool.true": True,
    "bool.false": False,
    "int": 42,
    "int.zero": 0,
    "int.neg": -17,
    "int.max": 2**63 - 1,
    "float": 3.25,
    "float.zero": 0.0,
    "bytes": b"\x00\x01\xfe\xff",
    "list.str": ["a", "", "ü"],
    "list.int": [1, -2],
    "list.float": [0.5, -1.5],
    "list.bool": [True, False],
    "": "empty key",
}


def test_attribute_kinds_roundtrip(sink, exp, meter):
    c = meter.counter("attrs.counter")
    h = meter.histogram("attrs.histogram", boundaries=[1.0])
    g = meter.gauge("attrs.gauge")
    c.add(1, ATTRS)
    h.record(2.0, ATTRS)
    h.record_many(np.array([0.5, 3.0]), ATTRS)
    g.set(5, ATTRS)
    meter.observable_gauge("attrs.observable", callbacks=[lambda: [otlp.Observation(1, ATTRS)]])
    rnd = flush(exp, sink)
    for name in ("attrs.counter", "attrs.histogram", "attrs.gauge", "attrs.observable"):
        m = rnd[name]
        assert len(m.points) == 1, name
        (got,) = m.series()
        assert typed(got) == typed(ATTRS), f"{name}\n got: {got!r}\nwant: {ATTRS!r}"
    assert rnd["attrs.histogram"].point(ATTRS).count == 3


def test_attribute_order_does_not_split_series(sink, exp, meter):
    c = meter.counter("ordered")
    h = meter.histogram("ordered.h", boundaries=[10.0])
    items = list(ATTRS.items())
    for i, perm in enumerate([items, items[::-1], items[3:] + items[:3], sorted(items)]):
        c.add(i + 1, dict(perm))
        h.record(float(i), dict(perm))
        h.record_many([100.0], dict(perm))
    c.add(10, {"a": 1, "b": "x"})
    c.add(20, {"b": "x", "a": 1})
    # no attributes, None and {} are the same (empty) series
    c.add(100)
    c.add(200, None)
    c.add(300, {})
    # equal-looking values of different types are different series
    c.add(1000, {"k": "1"})
    c.add(2000, {"k": 1})
    rnd = flush(exp, sink)
    m = rnd["ordered"]
    assert m.value(ATTRS) == ("int", 1 + 2 + 3 + 4)
    assert m.value({"a": 1, "b": "x"}) == ("int", 30)
    assert m.value() == ("int", 600)
    assert m.value({"k": "1"}) == ("int", 1000)
    assert m.value({"k": 1}) == ("int", 2000)
    assert len(m.points) == 5
    hp = rnd["ordered.h"].point(ATTRS)
    assert (hp.count, list(hp.bucket_counts), hp.sum) == (8, [4, 4], 406.0)
    assert len(rnd["ordered.h"].points) == 1


def test_same_instrument_name_feeds_the_same_series(sink, exp, meter):
    a = meter.counter("dup")
    b = meter.counter("dup")
    a.add(1, {"k": "v"})
    b.add(2, {"k": "v"})
    b.add_many([3, 4], {"k": "v"})
    h1 = meter.histogram("dup.h", boundaries=[1.0])
    h2 = meter.histogram("dup.h", boundaries=[1.0])
    h1.record(0.5)
    h2.record(2.0)
    rnd = flush(exp, sink)
    assert rnd["dup"].value({"k": "v"}) == ("int", 10)
    assert len(rnd["dup"].points) == 1
    p = rnd["dup.h"].point()
    assert (p.count, list(p.bucket_counts)) == (2, [1, 1])


# -------------------------------------------------------------------------
# temporality
# -------------------------------------------------------------------------


def _temporality_instruments(meter, state):
    c = meter.counter("t.counter")
    u = meter.up_down_counter("t.updown")
    h = meter.histogram("t.histogram", boundaries=[1.0, 10.0])
    g = meter.gauge("t.gauge")

    def oc():
        return [otlp.Observation(state["oc"], {"o": 1})]

    def ou():
        return [otlp.Observation(state["ou"], {"o": 1})]

    def og():
        return [otlp.Observation(state["og"], {"o": 1})]

    meter.observable_counter("t.obs.counter", callbacks=[oc])
    meter.observable_up_down_counter("t.obs.updown", callbacks=[ou])
    meter.observable_gauge("t.obs.gauge", callbacks=[og])
    return c, u, h, g


def _two_rounds(sink, make_exporter, temporality):
    created = time.time_ns()
    exp = make_exporter(sink.endpoint, metrics=metrics_config(temporality=temporality))
    meter = exp.meter(*SCOPE)
    state = {"oc": 100, "ou": -10, "og": 7}
    c, u, h, g = _temporality_instruments(meter, state)
    c.add(5)
    c.add(2, {"k": "v"})
    u.add(-3)
    h.record_many(np.array([0.5, 5.0, 50.0]))
    g.set(1)
    first_recorded = time.time_ns()
    r1 = flush(exp, sink)
    c.add(10)
    u.add(1)
    h.record_many([2.0, 20.0])
    g.set(2)
    state.update(oc=130, ou=-4, og=8)
    r2 = flush(exp, sink)
    for r in (r1, r2):
        assert_times(r)
        assert r["t.gauge"].value() == ("int", 1 if r is r1 else 2)
        assert r["t.obs.gauge"].value({"o": 1}) == ("int", 7 if r is r1 else 8)
    assert r1.after <= r2.before
    # every first-round start time lies between exporter creation and the first measurement
    # (observable instruments: the first collection)
    for m in r1.metrics.values():
        if m.kind == "gauge":
            continue
        latest = r1.after if m.proto.name.startswith("t.obs.") else first_recorded
        for p in m.points.values():
            assert created <= p.start_time_unix_nano <= latest, (m.proto.name, created, p, latest)
    return r1, r2


def _assert_cumulative(r1, r2, name, v1, v2):
    m1, m2 = r1[name], r2[name]
    assert m1.temporality == m2.temporality == CUMULATIVE, name
    p1, p2 = m1.point(_attrs_of(name)), m2.point(_attrs_of(name))
    assert number(p1) == v1 and number(p2) == v2, name
    assert p2.start_time_unix_nano == p1.start_time_unix_nano, name  # the start time is kept
    assert p1.time_unix_nano < p2.time_unix_nano, name


def _assert_delta(r1, r2, name, v1, v2):
    m1, m2 = r1[name], r2[name]
    assert m1.temporality == m2.temporality == DELTA, name
    p1, p2 = m1.point(_attrs_of(name)), m2.point(_attrs_of(name))
    assert number(p1) == v1 and number(p2) == v2, name
    assert p2.start_time_unix_nano == p1.time_unix_nano, name  # start = previous collection
    assert p1.start_time_unix_nano < p1.time_unix_nano < p2.time_unix_nano, name


def _attrs_of(name):
    return {"o": 1} if name.startswith("t.obs.") else None


def _hist(p):
    return (p.count, p.sum, p.min, p.max, list(p.bucket_counts))


def test_cumulative_temporality(sink, make_exporter):
    r1, r2 = _two_rounds(sink, make_exporter, "cumulative")
    _assert_cumulative(r1, r2, "t.counter", ("int", 5), ("int", 15))
    _assert_cumulative(r1, r2, "t.updown", ("int", -3), ("int", -2))
    _assert_cumulative(r1, r2, "t.obs.counter", ("int", 100), ("int", 130))
    _assert_cumulative(r1, r2, "t.obs.updown", ("int", -10), ("int", -4))
    # a series without new measurements is still reported, unchanged
    assert r2["t.counter"].value({"k": "v"}) == ("int", 2)
    h1, h2 = r1["t.histogram"], r2["t.histogram"]
    assert h1.temporality == h2.temporality == CUMULATIVE
    assert _hist(h1.point()) == (3, 55.5, 0.5, 50.0, [1, 1, 1])
    assert _hist(h2.point()) == (5, 77.5, 0.5, 50.0, [1, 2, 2])
    assert h2.point().start_time_unix_nano == h1.point().start_time_unix_nano


def test_delta_temporality(sink, make_exporter):
    r1, r2 = _two_rounds(sink, make_exporter, "delta")
    _assert_delta(r1, r2, "t.counter", ("int", 5), ("int", 10))
    _assert_delta(r1, r2, "t.obs.counter", ("int", 100), ("int", 30))
    # up-down counters stay cumulative under the delta preference (spec)
    _assert_cumulative(r1, r2, "t.updown", ("int", -3), ("int", -2))
    _assert_cumulative(r1, r2, "t.obs.updown", ("int", -10), ("int", -4))
    h1, h2 = r1["t.histogram"], r2["t.histogram"]
    assert h1.temporality == h2.temporality == DELTA
    assert _hist(h1.point()) == (3, 55.5, 0.5, 50.0, [1, 1, 1])
    assert _hist(h2.point()) == (2, 22.0, 2.0, 20.0, [0, 1, 1])  # min/max of this interval only
    assert h2.point().start_time_unix_nano == h1.point().time_unix_nano
    # a delta series without new measurements reports nothing (or zero)
    idle = r2["t.counter"].points.get(key({"k": "v"}))
    assert idle is None or number(idle) == ("int", 0)


def test_lowmemory_temporality(sink, make_exporter):
    r1, r2 = _two_rounds(sink, make_exporter, "lowmemory")
    # synchronous counters and histograms: delta
    _assert_delta(r1, r2, "t.counter", ("int", 5), ("int", 10))
    h1, h2 = r1["t.histogram"], r2["t.histogram"]
    assert h1.temporality == h2.temporality == DELTA
    assert _hist(h2.point()) == (2, 22.0, 2.0, 20.0, [0, 1, 1])
    assert h2.point().start_time_unix_nano == h1.point().time_unix_nano
    # observable counters and all up-down counters: cumulative
    _assert_cumulative(r1, r2, "t.obs.counter", ("int", 100), ("int", 130))
    _assert_cumulative(r1, r2, "t.updown", ("int", -3), ("int", -2))
    _assert_cumulative(r1, r2, "t.obs.updown", ("int", -10), ("int", -4))


def test_start_and_end_times(sink, make_exporter):
    before_create = time.time_ns()
    exp = make_exporter(sink.endpoint)
    meter = exp.meter("times")
    c = meter.counter("timed")
    h = meter.histogram("timed.h")
    time.sleep(0.02)
    c.add(1)
    h.record(1.0)
    after_first = time.time_ns()
    time.sleep(0.02)
    r1 = flush(exp, sink)
    time.sleep(0.02)
    c.add(1)
    r2 = flush(exp, sink)
    for name in ("timed", "timed.h"):
        p1, p2 = r1[name].point(), r2[name].point()
        # start: when the series (or the instrument / exporter) began, not later than
        # its first measurement
        assert before_create <= p1.start_time_unix_nano <= after_first
        assert p1.start_time_unix_nano <= p1.time_unix_nano
        # end: the collection time, within the flush call
        assert r1.before <= p1.time_unix_nano <= r1.after
        assert r2.before <= p2.time_unix_nano <= r2.after
        assert p2.start_time_unix_nano == p1.start_time_unix_nano
    # all points of one collection share its time
    assert len({p.time_unix_nano for m in r2.metrics.values() for p in m.points.values()}) == 1
    # the wall clock, not a monotonic clock: within a minute of time.time_ns()
    assert abs(r2["timed"].point().time_unix_nano - time.time_ns()) < 60 * 10**9


# -------------------------------------------------------------------------
# resource, scope
# -------------------------------------------------------------------------


def test_resource_and_scope(sink, make_exporter):
    resource = {**SERVICE, "host.cores": 8, "ratio": 0.5, "flag": False, "tags": ["a", "b"]}
    exp = make_exporter(sink.endpoint, resource=resource)
    m1 = exp.meter(SCOPE[0], version=SCOPE[1])
    m2 = exp.meter("second-scope")
    m3 = exp.meter("third-scope", "0.0.1", schema_url="https://opentelemetry.io/schemas/1.21.0")
    m1.counter("in.first").add(1)
    m2.counter("in.second").add(2)
    m3.histogram("in.third").record(3.0)
    rnd = flush(exp, sink)
    (rm,) = rnd.req.resource_metrics
    got_res = kvdict(rm.resource.attributes)
    for k, v in resource.items():
        assert typed(got_res.get(k)) == typed(v), f"resource attribute {k}: {got_res.get(k)!r} != {v!r}"
    scopes = {sm.scope.name: sm for sm in rm.scope_metrics}
    assert len(scopes) == len(rm.scope_metrics) == 3
    assert scopes[SCOPE[0]].scope.version == SCOPE[1]
    assert [m.name for m in scopes[SCOPE[0]].metrics] == ["in.first"]
    assert scopes["second-scope"].scope.version == ""
    assert [m.name for m in scopes["second-scope"].metrics] == ["in.second"]
    assert scopes["third-scope"].scope.version == "0.0.1"
    assert scopes["third-scope"].schema_url == "https://opentelemetry.io/schemas/1.21.0"
    assert rnd["in.third"].point().count == 1


# -------------------------------------------------------------------------
# cardinality limit
# -------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [2, 5, 50])
def test_cardinality_limit(sink, make_exporter, limit):
    exp = make_exporter(sink.endpoint, metrics=metrics_config(cardinality_limit=limit))
    meter = exp.meter("cardinality")
    c = meter.counter("card.counter")
    h = meter.histogram("card.histogram", boundaries=[10.0])
    n = 3 * limit
    for i in range(n):
        c.add(i + 1, {"i": i})
        h.record(float(i), {"i": i})
    # a kept series keeps receiving measurements after the limit was reached
    c.add(1000, {"i": 0})
    h.record_many(np.array([5.0, 50.0]), {"i": 0})
    # so does the overflow series
    c.add(7, {"i": "new"})

    rnd = flush(exp, sink)
    m = rnd["card.counter"]
    assert len(m.points) == limit, m.series()
    kept = [{"i": i} for i in range(limit - 1)]  # the first limit-1 attribute sets
    assert sorted(map(key, m.series())) == sorted(map(key, [*kept, OVERFLOW]))
    assert m.value({"i": 0}) == ("int", 1 + 1000)
    for i in range(1, limit - 1):
        assert m.value({"i": i}) == ("int", i + 1)
    overflow_total = sum(i + 1 for i in range(limit - 1, n)) + 7
    assert m.value(OVERFLOW) == ("int", overflow_total)
    total = sum(number(p)[1] for p in m.points.values())
    assert total == n * (n + 1) // 2 + 1000 + 7  # nothing lost

    hm = rnd["card.histogram"]
    assert len(hm.points) == limit
    assert sorted(map(key, hm.series())) == sorted(map(key, [*kept, OVERFLOW]))
    assert sum(p.count for p in hm.points.values()) == n + 2
    ov = hm.point(OVERFLOW)
    assert ov.count == n - (limit - 1)
    assert ov.sum == float(sum(range(limit - 1, n)))
    assert (ov.min, ov.max) == (float(limit - 1), float(n - 1))
    assert hm.point({"i": 0}).count == 3
    assert exp.stats()["metric_points_exported"] == rnd.n_points()


def test_cardinality_limit_counts_the_empty_attribute_set(sink, make_exporter):
    exp = make_exporter(sink.endpoint, metrics=metrics_config(cardinality_limit=3))
    c = exp.meter("cardinality").counter("card.empty")
    c.add(1)
    c.add(2, {"a": 1})
    c.add(4, {"a": 2})
    c.add(8, {"a": 3})
    c.add(16)
    m = flush(exp, sink)["card.empty"]
    assert sorted(map(key, m.series())) == sorted(map(key, [{}, {"a": 1}, OVERFLOW]))
    assert m.value() == ("int", 17)
    assert m.value({"a": 1}) == ("int", 2)
    assert m.value(OVERFLOW) == ("int", 12)


# -------------------------------------------------------------------------
# failing callbacks, stats
# -------------------------------------------------------------------------


class CallbackBoom(Exception):
    pass


def test_failing_callback_does_not_stop_other_instruments(sink, exp, meter):
    calls = {"bad": 0, "good": 0}

    def bad():
        calls["bad"] += 1
        raise CallbackBoom("callback exploded ü")

    def good():
        calls["good"] += 1
        return [otlp.Observation(42, {"ok": True})]

    def bad_value():
        return [otlp.Observation("not a number")]

    meter.observable_gauge("cb.bad", callbacks=[bad])
    meter.observable_gauge("cb.bad_value", callbacks=[bad_value])
    meter.observable_counter("cb.good", callbacks=[good])
    meter.counter("cb.sync").add(3)
    rnd = flush(exp, sink)
    assert calls == {"bad": 1, "good": 1}
    assert rnd["cb.good"].value({"ok": True}) == ("int", 42)
    assert rnd["cb.sync"].value() == ("int", 3)
    assert "cb.bad" not in rnd.metrics and "cb.bad_value" not in rnd.metrics
    st = exp.stats()
    assert st["metric_callback_errors"] == 2, st
    assert st["metric_last_error"] is not None

    # every collection counts its failures again; the healthy instruments keep working
    rnd2 = flush(exp, sink)
    assert calls == {"bad": 2, "good": 2}
    assert rnd2["cb.good"].value({"ok": True}) == ("int", 42)
    assert exp.stats()["metric_callback_errors"] == 4


def test_points_exported_stat_matches_points_received(sink, exp, meter):
    c = meter.counter("stat.c")
    h = meter.histogram("stat.h")
    meter.observable_gauge("stat.g", callbacks=[lambda: [1, (2, {"x": 1})]])
    total = 0
    for r in range(3):
        for i in range(r + 2):
            c.add(1, {"i": i})
            h.record(float(i), {"i": i % 2})
        total += flush(exp, sink).n_points()
    st = exp.stats()
    received = sink.counts()["data_points"]
    assert received == total
    assert st["metric_points_exported"] == received, st
    assert st["metric_requests_ok"] == 3
    assert st["metric_requests_failed"] == 0 and st["metric_points_failed"] == 0
    assert st["metric_last_error"] is None
