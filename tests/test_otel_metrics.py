"""``otlp.otel.MeterProvider`` against the official SDK: the same random sequence of
OpenTelemetry metrics API calls (every instrument kind, attributes of every type,
observable callbacks and generators, values the SDK drops) runs through the official
``MeterProvider`` + ``PeriodicExportingMetricReader`` + ``OTLPMetricExporter`` into one
reference sink and through ``otlp.otel.MeterProvider`` into another; after each flush
both sinks must hold the same metrics: names, units, descriptions, kinds, temporality,
attributes and aggregated values (sums, counts, buckets, min/max, gauges), scope by
scope. Timestamps, the resource and exemplars (which otlp does not record) are left out.

Plus the API's rules a user meets directly: instrument identity and name checks,
``isinstance`` against the API's classes, callbacks' ``CallbackOptions``, the global
provider and ``OTEL_SDK_DISABLED``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry import metrics
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import (
    Counter as SdkCounter,
)
from opentelemetry.sdk.metrics import (
    Histogram as SdkHistogram,
)
from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
from opentelemetry.sdk.metrics import (
    ObservableCounter as SdkObservableCounter,
)
from opentelemetry.sdk.metrics.export import AggregationTemporality, PeriodicExportingMetricReader

import otlp
import otlp.otel

pytestmark = pytest.mark.timeout(120)

HOUR_MS = 3_600_000

# -------------------------------------------------------------------------
# what reaches a sink, normalised
# -------------------------------------------------------------------------


def anyvalue(av: Any) -> tuple:
    """A proto AnyValue as a strictly typed, hashable value (maps in key order)."""
    which = av.WhichOneof("value")
    if which is None:
        return ("empty",)
    if which == "array_value":
        return ("array", tuple(anyvalue(v) for v in av.array_value.values))
    if which == "kvlist_value":
        return ("kvlist", attrs(av.kvlist_value.values))
    return (which, getattr(av, which))


def attrs(kvs: Any) -> tuple:
    return tuple(sorted((kv.key, anyvalue(kv.value)) for kv in kvs))


class Close(float):
    """A double compared with a relative tolerance: the SDK and otlp add the same
    values in a different order across collections (cumulative = earlier total + this
    interval's sum in the SDK, a running total in otlp)."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, float) and math.isclose(self, other, rel_tol=1e-9, abs_tol=1e-9)

    __hash__ = float.__hash__


def number(p: Any) -> tuple:
    which = p.WhichOneof("value")
    v = getattr(p, which)
    return (which, Close(v) if which == "as_double" else v)


def metric(m: Any) -> tuple:
    kind = m.WhichOneof("data")
    data = getattr(m, kind)
    if kind in ("sum", "gauge"):
        points = sorted((attrs(p.attributes), number(p)) for p in data.data_points)
    elif kind == "histogram":
        points = sorted(
            (
                attrs(p.attributes),
                p.count,
                Close(p.sum),
                tuple(p.bucket_counts),
                tuple(p.explicit_bounds),
                p.min if p.HasField("min") else None,
                p.max if p.HasField("max") else None,
            )
            for p in data.data_points
        )
    else:  # pragma: no cover - neither side makes exponential histograms here
        raise AssertionError(kind)
    shape = (
        kind,
        getattr(data, "aggregation_temporality", None),
        getattr(data, "is_monotonic", None),
    )
    return (m.name, m.unit, m.description, shape, tuple(points))


def scope_key(s: Any) -> tuple:
    return (s.name, s.version, attrs(s.attributes))


def request_metrics(req: Any) -> list:
    """The metrics of one request, by scope, in a canonical order."""
    out = []
    for rm in req.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                out.append((scope_key(sm.scope), sm.schema_url, metric(m)))
    return sorted(out, key=repr)


# -------------------------------------------------------------------------
# a random program of API calls
# -------------------------------------------------------------------------

NAMES = ["requests", "Latency", "queue.depth", "cpu/usage", "a_b-c"]
UNITS = ["", "ms", "By", "{request}"]
KINDS = [
    "counter",
    "up_down_counter",
    "histogram",
    "gauge",
    "observable_counter",
    "observable_up_down_counter",
    "observable_gauge",
]

# Attribute values of every type the API allows (None too: the SDK exports it as an
# empty value). Floats are kept exact and NaN-free: NaN never equals itself, so the
# SDK would make a new series for every NaN-valued measurement.
leaf = st.one_of(
    st.text(max_size=4),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.integers(-4, 4).map(lambda i: i / 4),
    st.binary(max_size=3),
)
attr_value = st.one_of(
    leaf,
    st.none(),
    st.lists(st.text(max_size=3), max_size=3),
    st.lists(st.integers(-5, 5), max_size=3).map(tuple),
    st.dictionaries(st.sampled_from(["x", "y"]), leaf, max_size=2),
)
attributes = st.one_of(
    st.none(),
    st.dictionaries(st.sampled_from(["k", "route", "ok", "n"]), attr_value, max_size=3),
)

# Exactly representable sums keep most comparisons exact; the SDK drops NaN, infinities,
# negative counter increments and negative histogram values (with a warning), and so
# must we (counted, reported once).
finite = st.one_of(st.integers(-1000, 1000), st.integers(-4000, 4000).map(lambda i: i / 4))
amounts = st.one_of(finite, finite, finite, st.sampled_from([math.nan, math.inf, -math.inf]))


@dataclass
class Spec:
    kind: str
    name: str
    unit: str
    description: str
    meter: int
    advisory: Any = None
    generator: bool = False
    # per round, the observations of its callback: [(value, attributes)]
    observations: list = field(default_factory=list)


@st.composite
def programs(draw):
    rounds = draw(st.integers(1, 3))
    specs = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(KINDS))
        name = draw(st.sampled_from(NAMES))
        if draw(st.booleans()):
            name = name.upper()
        spec = Spec(
            kind=kind,
            name=name,
            unit=draw(st.sampled_from(UNITS)),
            description=draw(st.sampled_from(["", "how many"])),
            meter=draw(st.integers(0, 1)),
        )
        if kind == "histogram":
            spec.advisory = draw(
                st.one_of(
                    st.none(),
                    st.lists(st.integers(-50, 50), min_size=0, max_size=4, unique=True).map(sorted),
                )
            )
        if kind.startswith("observable"):
            spec.generator = draw(st.booleans())
            totals: dict = {}
            for _ in range(rounds):
                # Distinct attribute sets: the SDK adds up repeated observations of one
                # series in a collection where otlp keeps the last (the API says
                # callbacks should not repeat one).
                sets = draw(st.lists(st.sampled_from(["a", "b", "c"]), unique=True, max_size=3))
                if kind == "observable_counter":
                    # A counter's observations are running totals, which never go down
                    # (what a decrease means is left undefined), and a series once
                    # observed stays observed: otlp forgets a series its callback stops
                    # reporting, where the SDK keeps its last total forever and reports
                    # a reappearing series' delta against it (a documented difference).
                    sets = sorted(set(sets) | set(totals))
                    observed = []
                    for s in sets:
                        invalid = st.sampled_from([math.nan, math.inf]) if s not in totals else st.nothing()
                        value = draw(st.one_of(finite.map(abs), invalid))
                        if math.isfinite(value):
                            value = totals[s] = totals.get(s, 0) + value
                        observed.append((value, {"series": s}))
                    spec.observations.append(observed)
                else:
                    spec.observations.append([(draw(amounts), {"series": s}) for s in sets])
        specs.append(spec)
    calls = []
    for _ in range(rounds):
        sync = [i for i, s in enumerate(specs) if not s.kind.startswith("observable")]
        if sync:
            calls.append(draw(st.lists(st.tuples(st.sampled_from(sync), amounts, attributes), max_size=12)))
        else:
            calls.append([])
    return specs, calls


def callback_for(spec: Spec, seen: list):
    """A callback (or generator) reporting round n's observations on its n-th call."""
    if spec.generator:

        def gen():
            options = yield
            for round_ in spec.observations:
                seen.append(options)
                options = yield [Observation(v, a) for v, a in round_]

        return gen()

    def callback(options: CallbackOptions):
        seen.append(options)
        n = sum(1 for _ in seen) - 1
        return [Observation(v, a) for v, a in spec.observations[min(n, len(spec.observations) - 1)]]

    return callback


def run(provider, flush, specs, calls) -> list:
    """Create the instruments, then per round make the calls and flush; returns the
    callbacks' CallbackOptions."""
    meters = [
        provider.get_meter("app", "1.0"),
        provider.get_meter(
            "lib", schema_url="https://opentelemetry.io/schemas/1.21.0", attributes={"tier": 2}
        ),
    ]
    instruments = []
    seen: list = []
    for spec in specs:
        meter = meters[spec.meter]
        if spec.kind.startswith("observable"):
            own_seen: list = []
            create = getattr(meter, f"create_{spec.kind}")
            instruments.append(create(spec.name, [callback_for(spec, own_seen)], spec.unit, spec.description))
            seen.append(own_seen)
        elif spec.kind == "histogram":
            instruments.append(
                meter.create_histogram(
                    spec.name, spec.unit, spec.description, explicit_bucket_boundaries_advisory=spec.advisory
                )
            )
        else:
            instruments.append(getattr(meter, f"create_{spec.kind}")(spec.name, spec.unit, spec.description))
    for round_calls in calls:
        for index, amount, attrs_ in round_calls:
            inst = instruments[index]
            method = {"counter": "add", "up_down_counter": "add", "histogram": "record", "gauge": "set"}[
                specs[index].kind
            ]
            getattr(inst, method)(amount, attrs_)
        flush()
    return seen


def collect_rounds(sink, before: int, after: int) -> list:
    return [request_metrics(r) for r in sink.requests("metrics")[before:after]]


SDK_TEMPORALITY = {
    "cumulative": {},
    "delta": {
        SdkCounter: AggregationTemporality.DELTA,
        SdkHistogram: AggregationTemporality.DELTA,
        SdkObservableCounter: AggregationTemporality.DELTA,
    },
}


@pytest.fixture
def sinks(sink, sink_factory):
    return sink, sink_factory()


@pytest.mark.parametrize("temporality", ["cumulative", "delta"])
def test_same_calls_same_metrics_as_the_official_sdk(sinks, temporality, caplog):
    official_sink, our_sink = sinks
    caplog.set_level(logging.CRITICAL)  # both sides report the values they drop

    @settings(max_examples=12, deadline=None)
    @given(programs())
    def check(program):
        specs, calls = program
        # -- the official SDK
        exporter = OTLPMetricExporter(
            endpoint=official_sink.address, insecure=True, preferred_temporality=SDK_TEMPORALITY[temporality]
        )
        reader = PeriodicExportingMetricReader(exporter, export_interval_millis=HOUR_MS)
        sdk = SdkMeterProvider(metric_readers=[reader], shutdown_on_exit=False)
        before = official_sink.request_count("metrics")
        try:
            run(sdk, lambda: sdk.force_flush(10_000), specs, calls)
        finally:
            sdk.shutdown(10_000)
        after = official_sink.request_count("metrics")
        # The shutdown's final collection is not compared.
        expected = collect_rounds(official_sink, before, after)

        # -- otlp
        exp = otlp.Exporter(
            our_sink.endpoint,
            metrics=otlp.MetricsConfig(interval=3600.0, temporality=temporality),
        )
        ours = otlp.otel.MeterProvider(exp)
        before = our_sink.request_count("metrics")
        try:
            run(ours, lambda: exp.force_flush(timeout=10.0), specs, calls)
        finally:
            exp.shutdown(timeout=10.0)
        got = collect_rounds(our_sink, before, our_sink.request_count("metrics"))
        assert got == expected
        compared.append(sum(len(r) for r in expected))

    compared: list[int] = []
    check()
    # The programs reached the sinks: most rounds carried metrics.
    assert sum(compared) > len(compared)


# -------------------------------------------------------------------------
# the API's rules, one by one
# -------------------------------------------------------------------------


@pytest.fixture
def provider(unused_endpoint):
    exp = otlp.Exporter(unused_endpoint, metrics=otlp.MetricsConfig(interval=3600.0, timeout=1.0))
    yield otlp.otel.MeterProvider(exp)
    exp.shutdown(timeout=1.0)


def test_instruments_are_instances_of_the_api_classes(provider):
    meter = provider.get_meter("m")
    assert isinstance(meter, metrics.Meter)
    made = {
        metrics.Counter: meter.create_counter("c"),
        metrics.UpDownCounter: meter.create_up_down_counter("u"),
        metrics.Histogram: meter.create_histogram("h"),
        metrics._Gauge: meter.create_gauge("g"),
        metrics.ObservableCounter: meter.create_observable_counter("oc"),
        metrics.ObservableUpDownCounter: meter.create_observable_up_down_counter("ou"),
        metrics.ObservableGauge: meter.create_observable_gauge("og"),
    }
    for api_class, instrument in made.items():
        assert isinstance(instrument, api_class), (instrument, api_class)
        others = [c for c in made if c is not api_class]
        assert not any(isinstance(instrument, c) for c in others), instrument
        assert not isinstance(instrument, metrics.NoOpCounter)


def test_an_instrument_asked_for_again_is_the_same_one(provider):
    meter = provider.get_meter("m")
    c = meter.create_counter("Requests", "1", "d")
    assert meter.create_counter("rEQUESTS", "1", "d") is c
    assert c.name == "requests"  # kept in lower case, as the SDK exports it
    assert meter.create_counter("requests", "ms", "d") is not c
    assert meter.create_up_down_counter("requests", "1", "d") is not c
    assert provider.get_meter("m") is meter
    assert provider.get_meter("m", "2") is not meter


def test_histogram_advisory_boundaries_and_the_conflict_warning(provider, caplog):
    meter = provider.get_meter("m")
    h = meter.create_histogram("h", explicit_bucket_boundaries_advisory=[1, 10, 100])
    assert h.boundaries == [1.0, 10.0, 100.0]
    with caplog.at_level(logging.WARNING):
        again = meter.create_histogram("h", explicit_bucket_boundaries_advisory=[5])
    assert again is h and h.boundaries == [1.0, 10.0, 100.0]
    assert "different advisory value" in caplog.text
    assert meter.create_histogram("default").boundaries[:3] == [0.0, 5.0, 10.0]
    for i, bad in enumerate(([3, 2], ["a"], 5, [1, math.inf])):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="otlp"):
            h2 = meter.create_histogram(f"bad{i}", explicit_bucket_boundaries_advisory=bad)
        assert "explicit_bucket_boundaries_advisory ignored" in caplog.text
        assert h2.boundaries[:2] == [0.0, 5.0]


@pytest.mark.parametrize("name", ["", "1st", "has space", "ü", "x" * 256])
def test_an_invalid_name_gives_a_no_op_instrument_and_a_warning(provider, caplog, name):
    meter = provider.get_meter("m")
    with caplog.at_level(logging.WARNING, logger="otlp"):
        c = meter.create_counter(name)
    assert isinstance(c, metrics.NoOpCounter)
    assert "is invalid" in caplog.text
    c.add(1)  # and it does nothing, without raising


def test_a_unit_beyond_63_ascii_characters_is_refused(provider, caplog):
    meter = provider.get_meter("m")
    with caplog.at_level(logging.WARNING, logger="otlp"):
        assert isinstance(meter.create_histogram("h", unit="x" * 64), metrics.NoOpHistogram)
        assert isinstance(meter.create_gauge("g", unit="µs"), metrics._NoOpGauge)
    assert caplog.text.count("instrument unit") == 2
    assert not isinstance(meter.create_gauge("g2", unit="x" * 63), metrics._NoOpGauge)


def test_values_the_sdk_drops_are_dropped_counted_and_never_raise(provider):
    meter = provider.get_meter("m")
    exp = provider.exporter
    meter.create_counter("c").add(-1)
    meter.create_histogram("h").record(-0.5)
    meter.create_gauge("g").set(math.inf)
    meter.create_up_down_counter("u").add(math.nan)
    assert exp.stats()["measurements_dropped_invalid"] == 4


def test_callbacks_get_callback_options_and_generators_are_sent_them(sink):
    exp = otlp.Exporter(sink.endpoint, metrics=otlp.MetricsConfig(interval=3600.0, timeout=7.5))
    provider = otlp.otel.MeterProvider(exp)
    meter = provider.get_meter("m")
    got = []

    def callback(options):
        got.append(options)
        return [Observation(1, {"from": "callback"})]

    def generator():
        options = yield
        while True:
            got.append(options)
            options = yield [Observation(2.5, {"from": "generator"})]

    def finite():
        yield
        yield [Observation(3)]

    meter.create_observable_gauge("g", [callback, generator(), finite()])
    try:
        for _ in range(2):
            assert exp.force_flush(timeout=10.0)
        options = list(got)
    finally:
        exp.shutdown(timeout=10.0)
    assert [type(o) for o in options] == [CallbackOptions] * 4
    assert {o.timeout_millis for o in options} == {7500.0}
    rounds = [request_metrics(r) for r in sink.requests("metrics")]
    points = [dict(r[0][2][4]) for r in rounds[:2]]
    assert points[0] == {
        (("from", ("string_value", "callback")),): ("as_int", 1),
        (("from", ("string_value", "generator")),): ("as_double", 2.5),
        (): ("as_int", 3),
    }
    # An exhausted generator observes nothing.
    assert points[1] == {k: v for k, v in points[0].items() if k}


def test_a_callback_that_raises_is_counted_and_others_still_report(sink):
    exp = otlp.Exporter(sink.endpoint, metrics=otlp.MetricsConfig(interval=3600.0))
    meter = otlp.otel.MeterProvider(exp).get_meter("m")

    def broken(options):
        raise RuntimeError("no reading")

    meter.create_observable_counter(
        "c", [broken, lambda options: [Observation(5), Observation(math.nan, {"a": 1})]]
    )
    try:
        assert exp.force_flush(timeout=10.0)
        stats = exp.stats()
    finally:
        exp.shutdown(timeout=10.0)
    assert stats["metric_callback_errors"] == 1
    assert "no reading" in stats["metric_last_error"]
    assert stats["measurements_dropped_invalid"] == 1  # the NaN, not the whole callback
    (metric_,) = request_metrics(sink.requests("metrics")[0])
    assert metric_[2][4] == (((), ("as_int", 5)),)


def test_the_global_provider_and_proxies_made_before_it(sink, monkeypatch):
    # The API's own proxy meters (made before a provider is set) reach ours.
    import opentelemetry.metrics._internal as internal

    monkeypatch.setattr(internal, "_METER_PROVIDER", None)
    monkeypatch.setattr(internal, "_METER_PROVIDER_SET_ONCE", internal.Once())
    early = metrics.get_meter("early").create_counter("early.calls")
    exp = otlp.Exporter(sink.endpoint, metrics=otlp.MetricsConfig(interval=3600.0))
    metrics.set_meter_provider(otlp.otel.MeterProvider(exp))
    early.add(3, {"k": "v"})
    metrics.get_meter("late").create_counter("late.calls").add(1)
    try:
        assert exp.force_flush(timeout=10.0)
    finally:
        exp.shutdown(timeout=10.0)
    names = {m[2][0]: m[2][4] for m in request_metrics(sink.requests("metrics")[0])}
    assert names == {
        "early.calls": (((("k", ("string_value", "v")),), ("as_int", 3)),),
        "late.calls": (((), ("as_int", 1)),),
    }


def test_sdk_disabled_gives_no_op_meters_and_no_exporter(monkeypatch):
    monkeypatch.setenv("OTEL_SDK_DISABLED", "True ")
    provider = otlp.otel.MeterProvider()
    assert provider.exporter is None
    meter = provider.get_meter("m")
    assert isinstance(meter, metrics.NoOpMeter)
    meter.create_counter("c").add(1)
    assert provider.force_flush() is True
    provider.shutdown()


def test_shutdown_owns_only_the_exporter_it_made(unused_endpoint, monkeypatch, caplog):
    shared = otlp.Exporter(
        unused_endpoint, timeout=0.5, metrics=otlp.MetricsConfig(interval=3600.0, timeout=0.5)
    )
    provider = otlp.otel.MeterProvider(shared)
    provider.shutdown(timeout_millis=1000)
    assert shared.stats()["dropped_after_shutdown"] == 0
    shared.meter("still").counter("usable").add(1)  # the exporter still runs
    with caplog.at_level(logging.WARNING, logger="otlp"):
        assert isinstance(provider.get_meter("m"), metrics.NoOpMeter)
    shared.shutdown(timeout=1.0)

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", unused_endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    owned = otlp.otel.MeterProvider()
    assert owned.exporter is not None and owned.exporter.endpoint.startswith(unused_endpoint)
    owned.shutdown(timeout_millis=1000)
    owned.exporter.meter("late").counter("c").add(1)
    assert owned.exporter.stats()["dropped_after_shutdown"] == 1
