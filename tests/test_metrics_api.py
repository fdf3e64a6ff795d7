"""What a user of the metrics API sees when they get it wrong: the errors raised by the
recording calls, the instrument factories and ``MetricsConfig``, and that a rejected call
records nothing. Plus the aggregation kernels (``otlp._native._aggregate``, a test hook):
the AVX2 and scalar kernels agree bit for bit and match a numpy / ``math.fsum`` reference.

Most tests need no network peer: an exporter pointed at an unused port never raises into
recording code. Tests that check what was (not) recorded use the reference sink."""

from __future__ import annotations

import json
import math
import os
import struct
import subprocess
import sys
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from roundtrip_helpers import DEFAULT_BOUNDS, exporter_factory

import otlp
import otlp.errors
from otlp._native import _aggregate, _kernel

pytestmark = pytest.mark.timeout(60)

# -------------------------------------------------------------------------
# fixtures, helpers
# -------------------------------------------------------------------------


@pytest.fixture
def make_exporter():
    yield from exporter_factory(
        # Strict: these tests check the errors a bad measurement raises (by default it is
        # dropped and counted instead: tests/test_never_raises.py).
        lambda: {"timeout": 1.0, "metrics": otlp.MetricsConfig(interval=600.0, timeout=1.0), "strict": True},
        shutdown_timeout=1.0,
    )


@pytest.fixture
def meter(unused_endpoint, make_exporter):
    """A meter whose exporter points at a port nobody listens on."""
    return make_exporter(unused_endpoint).meter("api-errors", version="0.1")


def raises(exc, fn, *args, must_contain=()):
    """Call fn(*args), expect exc; return the message after checking it names every
    string of must_contain (case-insensitive)."""
    with pytest.raises(exc) as ei:
        fn(*args)
    msg = str(ei.value)
    for s in must_contain:
        assert s.lower() in msg.lower(), f"{s!r} not in error message {msg!r}"
    return msg


def flush_round(exp, sink, timeout=10.0) -> dict:
    """force_flush, wait (bounded) for the one metrics request it produced, and return
    {metric name: metric proto}."""
    n = sink.request_count("metrics")
    assert exp.force_flush(timeout=timeout) is True, exp.stats()
    sink.wait_for_requests(n + 1, timeout=timeout, kind="metrics")
    reqs = sink.requests("metrics")
    assert len(reqs) == n + 1
    out = {}
    for rm in reqs[-1].resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                assert m.name not in out
                out[m.name] = m
    return out


def single_point(metric):
    pts = list(getattr(metric, metric.WhichOneof("data")).data_points)
    assert len(pts) == 1, pts
    return pts[0]


def value_of(p):
    which = p.WhichOneof("value")
    return ("int" if which == "as_int" else "double", getattr(p, which))


# -------------------------------------------------------------------------
# counters: negative increments
# -------------------------------------------------------------------------


@pytest.mark.parametrize("value", [-1, -0.5, -(2**63), -1e-300])
def test_counter_add_negative_names_the_fix(meter, value):
    c = meter.counter("requests")
    raises(ValueError, c.add, value, must_contain=["Counter.add", "up_down_counter"])
    raises(ValueError, c.add, value, {"route": "/"}, must_contain=["up_down_counter"])


@pytest.mark.parametrize(
    "values",
    [
        [1, -1],
        [1.0, -0.5],
        np.array([3, -1], dtype=np.int64),
        np.array([-1], dtype=np.int32),
        np.array([1.0] * 40 + [-2.0], dtype=np.float64),
        np.array([-0.25], dtype=np.float32),
    ],
    ids=["list-int", "list-float", "int64", "int32", "float64-tail", "float32"],
)
def test_counter_add_many_negative(meter, values):
    c = meter.counter("requests")
    raises(ValueError, c.add_many, values, must_contain=["Counter.add_many", ">= 0"])


def test_counter_accepts_zero_and_negative_zero(meter):
    c = meter.counter("zeros")
    c.add(0)
    c.add(0.0)
    c.add(-0.0)
    c.add_many(np.array([0.0, -0.0]))
    # up-down counters take any finite value
    u = meter.up_down_counter("updown")
    u.add(-1)
    u.add(-2.5)
    u.add_many(np.array([-1, 1], dtype=np.int64))


# -------------------------------------------------------------------------
# NaN / infinity
# -------------------------------------------------------------------------

NON_FINITE = [math.nan, math.inf, -math.inf, np.float64("nan"), np.float32("inf")]
NON_FINITE_IDS = ["nan", "inf", "-inf", "np.float64-nan", "np.float32-inf"]


@pytest.mark.parametrize("value", NON_FINITE, ids=NON_FINITE_IDS)
def test_non_finite_single_values_rejected(meter, value):
    c = meter.counter("c")
    u = meter.up_down_counter("u")
    h = meter.histogram("h")
    raises(ValueError, c.add, value, must_contain=["Counter.add", "finite"])
    raises(ValueError, u.add, value, must_contain=["UpDownCounter.add", "finite"])
    raises(ValueError, h.record, value, must_contain=["Histogram.record", "finite"])


def _non_finite_arrays():
    """Arrays with one bad value at the start, in a SIMD body, in the tail, at the end."""
    out = []
    for bad in (math.nan, math.inf, -math.inf):
        for n, pos in ((1, 0), (16, 0), (33, 17), (64, 63), (1000, 999), (4099, 4098)):
            for dtype in ("float64", "float32", "list"):
                v = [1.0] * n
                v[pos] = bad
                arr = v if dtype == "list" else np.array(v, dtype=dtype)
                out.append(pytest.param(arr, id=f"{bad}-{dtype}-n{n}-at{pos}"))
    return out


@pytest.mark.parametrize("values", _non_finite_arrays())
def test_non_finite_arrays_rejected(meter, values):
    c = meter.counter("c")
    u = meter.up_down_counter("u")
    h = meter.histogram("h")
    for fn, name in ((c.add_many, "Counter.add_many"), (u.add_many, "UpDownCounter.add_many")):
        raises(ValueError, fn, values, must_contain=[name, "finite", "nothing was recorded"])
    raises(ValueError, h.record_many, values, must_contain=["Histogram.record_many", "finite"])


def test_rejected_calls_record_nothing(sink, make_exporter):
    """After any rejected call (single value or array, whatever the reason) the next flush
    holds exactly the valid measurements."""
    exp = make_exporter(sink.endpoint)
    meter = exp.meter("rejections")
    h = meter.histogram("h", boundaries=[1.0, 10.0])
    c = meter.counter("c")
    u = meter.up_down_counter("u")
    h.record_many(np.array([0.5, 5.0]))
    c.add_many([1, 2])
    u.add_many(np.array([-1], dtype=np.int64))

    long_nan = np.full(1000, 2.0)
    long_nan[-1] = math.nan
    bad_calls = [
        (ValueError, h.record_many, [1.0, 2.0, math.nan]),
        (ValueError, h.record_many, long_nan),
        (ValueError, h.record_many, np.array([3.0, math.inf], dtype=np.float32)),
        (ValueError, h.record, math.nan),
        (ValueError, h.record, -math.inf),
        (TypeError, h.record_many, [1.0, 2.0, "3"]),
        (TypeError, h.record_many, [1.0, 2.0, True]),
        (TypeError, h.record_many, np.array([1, 2], dtype=np.uint8)),
        (ValueError, h.record_many, np.ones((2, 2))),
        (ValueError, h.record_many, np.arange(8.0)[::2]),
        (ValueError, h.record_many, np.array([1.0, 2.0], dtype=">f8")),
        (ValueError, c.add_many, [1, 2, -1]),
        (ValueError, c.add_many, np.array([5.0, math.nan])),
        (ValueError, c.add_many, long_nan),
        (ValueError, c.add, -1),
        (ValueError, c.add, math.inf),
        ((TypeError, OverflowError), c.add_many, [1, 2, 2**64]),
        (ValueError, u.add_many, np.array([-1.0, math.nan])),
        (ValueError, u.add, math.nan),
    ]
    for exc, fn, arg in bad_calls:
        with pytest.raises(exc):
            fn(arg)
    # empty arrays are fine and record nothing
    for dtype in ("float64", "float32", "int64", "int32"):
        h.record_many(np.array([], dtype=dtype))
        c.add_many(np.array([], dtype=dtype))
    h.record_many([])
    c.add_many(())
    meter.histogram("empty-only").record_many(np.array([], dtype=np.float64))

    h.record(20.0)
    c.add(3)
    got = flush_round(exp, sink)
    p = single_point(got["h"])
    assert (p.count, p.sum, p.min, p.max, list(p.bucket_counts)) == (3, 25.5, 0.5, 20.0, [1, 1, 1])
    assert value_of(single_point(got["c"])) == ("int", 6)
    assert value_of(single_point(got["u"])) == ("int", -1)
    if "empty-only" in got:  # nothing recorded: no series, or an empty one
        assert single_point(got["empty-only"]).count == 0


# -------------------------------------------------------------------------
# arrays of the wrong kind
# -------------------------------------------------------------------------


def _array_methods(meter):
    return [
        (meter.counter("c").add_many, "Counter.add_many"),
        (meter.up_down_counter("u").add_many, "UpDownCounter.add_many"),
        (meter.histogram("h").record_many, "Histogram.record_many"),
    ]


@pytest.mark.parametrize(
    "values",
    [
        np.array([1, 2], dtype=np.uint8),
        np.array([1, 2], dtype=np.uint64),
        np.array([1, 2], dtype=np.int16),
        np.array([1.0, 2.0], dtype=np.float16),
        np.array([1 + 2j]),
        np.array([1, 2], dtype=object),
        np.array([True, False]),
        np.array(["1", "2"]),
        np.array([], dtype=np.uint8),
    ],
    ids=["uint8", "uint64", "int16", "float16", "complex", "object", "bool", "str", "empty-uint8"],
)
def test_wrong_dtype_names_the_fix(meter, values):
    for fn, name in _array_methods(meter):
        raises(TypeError, fn, values, must_contain=[name, "dtype", "float64", "astype"])


@pytest.mark.parametrize(
    "values",
    [np.ones((2, 3)), np.ones((1, 1)), np.zeros((0, 2)), np.array(3.0), np.float64(1.0)],
    ids=["2x3", "1x1", "0x2", "0-d", "np-scalar"],
)
def test_not_one_dimensional_names_the_fix(meter, values):
    for fn, name in _array_methods(meter):
        raises(ValueError, fn, values, must_contain=[name, "1-D", "ravel"])


@pytest.mark.parametrize(
    "values",
    [
        np.arange(10.0)[::2],
        np.arange(10.0)[::-1],
        np.arange(10, dtype=np.int32)[::3],
        np.ones((4, 4))[:, 0],
    ],
    ids=["step-2", "reversed", "int32-step-3", "column"],
)
def test_non_contiguous_names_the_fix(meter, values):
    for fn, name in _array_methods(meter):
        raises(ValueError, fn, values, must_contain=[name, "contiguous", "np.ascontiguousarray"])


@pytest.mark.parametrize("dtype", [">f8", ">f4", ">i8", ">i4"])
def test_byte_swapped_names_the_fix(meter, dtype):
    values = np.array([1, 2, 3], dtype=dtype)
    for fn, name in _array_methods(meter):
        raises(ValueError, fn, values, must_contain=[name, "byte-swapped", "newbyteorder"])


def test_masked_array_rejected(meter):
    """A masked array's masked-out values must not be recorded silently; the extension
    means to refuse it (TypeError naming values.compressed())."""
    values = np.ma.masked_array([1.0, 2.0, 3.0], mask=[False, True, False])
    for fn, name in _array_methods(meter):
        raises(TypeError, fn, values, must_contain=[name, "compressed"])


@pytest.mark.parametrize("values", [5, 2.5, None, object(), "123", {"a": 1}], ids=repr)
def test_not_a_sequence(meter, values):
    for fn, name in _array_methods(meter):
        raises(TypeError, fn, values, must_contain=[name, "sequence"])


@pytest.mark.parametrize(
    "values",
    [
        np.array([], dtype=np.float64),
        np.array([], dtype=np.float32),
        np.array([], dtype=np.int64),
        np.array([], dtype=np.int32),
        [],
        (),
        np.arange(10.0)[3:3],
    ],
    ids=["float64", "float32", "int64", "int32", "list", "tuple", "empty-slice"],
)
def test_empty_arrays_are_fine(meter, values):
    for fn, _ in _array_methods(meter):
        fn(values)
        fn(values, {"k": "v"})


def test_supported_arrays_and_sequences_are_accepted(meter):
    good = [
        np.arange(5, dtype=np.float64),
        np.arange(5, dtype=np.float32),
        np.arange(5, dtype=np.int64),
        np.arange(5, dtype=np.int32),
        np.arange(10.0)[2:7],  # a contiguous slice with an offset
        np.arange(10.0)[::2][:1],  # one element: any stride is contiguous
        [1, 2, 3],
        [1.5, 2, 3],
        (1, 2.5),
        range(4),
    ]
    for values in good:
        for fn, _ in _array_methods(meter):
            fn(values)


def test_read_only_arrays_are_read(meter):
    frozen = np.arange(5.0)
    frozen.flags.writeable = False
    from_bytes = np.frombuffer(np.arange(5.0).tobytes())  # read-only, memory owned by bytes
    for values in (frozen, from_bytes):
        assert _aggregate(values, [2.5]) == (5, 10.0, 0.0, 4.0, 0, [3, 2])
        for fn, _ in _array_methods(meter):
            fn(values)


# -------------------------------------------------------------------------
# arrays read in place: nothing can free or move the memory being read
# -------------------------------------------------------------------------

# Run in a child process so that a crash fails the test instead of killing pytest.
_RESIZE_WHILE_RECORDING = """
import json, sys, threading, time
import numpy as np
import otlp

N = 1 << 22  # 32 MiB of float64: allocated with mmap, so freed memory is unmapped
exp = otlp.Exporter(sys.argv[1], metrics=otlp.MetricsConfig(interval=3600.0))
hist = exp.meter("race").histogram("values", boundaries=[0.5])
arr = np.ones(N)
stop = threading.Event()
outcome = {"resized": 0, "refused": 0, "calls": 0}

def resize():
    while not stop.is_set():
        try:
            # Shrinking unmaps the tail; growing moves the data and zero-fills.
            arr.resize(N // 2 if len(arr) == N else N, refcheck=False)
            outcome["resized"] += 1
        except ValueError:
            outcome["refused"] += 1

resizer = threading.Thread(target=resize)
resizer.start()
deadline = time.monotonic() + 10.0
try:
    while outcome["calls"] < 150 and time.monotonic() < deadline:
        hist.record_many(arr)
        outcome["calls"] += 1
finally:
    stop.set()
    resizer.join()
outcome["flushed"] = exp.force_flush(timeout=10.0)
exp.shutdown(timeout=5.0)
print(json.dumps(outcome))
"""


def test_resizing_an_array_while_it_is_recorded_is_refused(sink):
    """Another thread resizing the array (even with refcheck=False) while record_many reads
    it with the GIL released: numpy must refuse, and every value read must be one that
    the array held (ones, or the zeros numpy fills in when it grows)."""
    r = subprocess.run(
        [sys.executable, "-c", _RESIZE_WHILE_RECORDING, sink.endpoint],
        capture_output=True,
        text=True,
        timeout=50,
    )
    assert r.returncode == 0, f"child exited with {r.returncode}: {r.stderr[-2000:]}"
    outcome = json.loads(r.stdout)
    assert outcome["flushed"]
    # The resizer ran while values were being read, and numpy turned it away.
    assert outcome["calls"] > 0 and outcome["refused"] > 0, outcome
    sink.wait_for_metrics(1, timeout=10.0)
    # The flush's request (shutdown may send the same cumulative point again).
    request = sink.requests("metrics")[0]
    point = single_point(request.resource_metrics[0].scope_metrics[0].metrics[0])
    n, calls = 1 << 22, outcome["calls"]
    zeros, ones = point.bucket_counts
    # Each call saw the whole array at one of its two lengths.
    assert point.count % (n // 2) == 0 and calls * n // 2 <= point.count <= calls * n, (point.count, outcome)
    assert zeros + ones == point.count
    assert point.sum == ones
    assert point.min >= 0.0 and point.max <= 1.0


def test_array_can_be_resized_once_recorded(meter):
    """The hold on the array ends with the call."""
    n = 1 << 16
    values = np.ones(n)
    for fn, _ in _array_methods(meter):
        fn(values)
        _aggregate(values, [])
    values.resize(2 * n, refcheck=False)
    assert _aggregate(values, [0.5]) == (2 * n, float(n), 0.0, 1.0, 0, [n, n])


_UNTRUSTED_INTERFACES = """
import numpy as np
import otlp
from otlp._native import _aggregate

def interface(address):
    return {"shape": (1 << 20,), "typestr": "<f8", "data": (address, False), "version": 3}

class Pointer:
    def __init__(self, address):
        self.__array_interface__ = interface(address)

class ListWithPointer(list):
    __array_interface__ = interface(0x10)

class ArrayWithPointer(np.ndarray):
    @property
    def __array_interface__(self):
        return interface(0x10)

exp = otlp.Exporter("http://127.0.0.1:9", strict=True)  # refusals raise
meter = exp.meter("untrusted")
methods = [meter.counter("c").add_many, meter.up_down_counter("u").add_many,
           meter.histogram("h").record_many, lambda v: _aggregate(v, [])]
for address in (0, 0x10, 0xDEADBEE0, 0x7FFF_FFFF_F000):
    for fn in methods:
        try:
            fn(Pointer(address))
        except TypeError as e:
            assert "not a numpy array" in str(e), e
        else:
            raise AssertionError(f"accepted a foreign pointer {address:#x}")
# Sequences are read item by item, numpy arrays through numpy's own interface.
assert _aggregate(ListWithPointer([1.0, 2.0]), []) == (2, 3.0, 1.0, 2.0, 0, [2])
assert _aggregate(np.arange(5.0).view(ArrayWithPointer), []) == (5, 10.0, 0.0, 4.0, 0, [5])
for fn in methods:
    fn(ListWithPointer([1.0, 2.0]))
    fn(np.arange(5.0).view(ArrayWithPointer))
exp.shutdown(timeout=1.0)
print("ok")
"""


def test_foreign_array_interface_pointers_are_not_read():
    """Only numpy's own arrays are read in place: an object's __array_interface__ can point
    anywhere (freed, unmapped, or somebody else's memory)."""
    r = subprocess.run(
        [sys.executable, "-c", _UNTRUSTED_INTERFACES], capture_output=True, text=True, timeout=50
    )
    assert r.returncode == 0, f"child exited with {r.returncode}: {r.stderr[-2000:]}"
    assert r.stdout.strip() == "ok"


# -------------------------------------------------------------------------
# bool and out-of-range ints
# -------------------------------------------------------------------------


@pytest.mark.parametrize("value", [True, False], ids=["True", "False"])
def test_bool_values_rejected(meter, value):
    c = meter.counter("c")
    u = meter.up_down_counter("u")
    h = meter.histogram("h")
    g = meter.gauge("g")
    for fn, name in ((c.add, "Counter.add"), (u.add, "UpDownCounter.add"), (h.record, "Histogram.record")):
        raises(TypeError, fn, value, must_contain=[name, "bool"])
    raises(TypeError, g.set, value, must_contain=["Gauge.set", "bool"])
    for fn, name in _array_methods(meter):
        raises(TypeError, fn, [1, value], must_contain=[name, "bool"])


@pytest.mark.parametrize("value", [np.bool_(True), np.bool_(False)], ids=["np.True_", "np.False_"])
def test_numpy_bool_values_rejected(meter, value):
    """numpy's bool scalar is a bool too: it must not be recorded as 1/0."""
    c = meter.counter("c")
    h = meter.histogram("h")
    g = meter.gauge("g")
    for fn in (c.add, h.record, g.set):
        raises(TypeError, fn, value, must_contain=["bool"])
    for fn, _ in _array_methods(meter):
        raises(TypeError, fn, [value], must_contain=["bool"])


@pytest.mark.parametrize(
    "value", [2**63, 2**64, 10**30, -(2**63) - 1], ids=["2**63", "2**64", "1e30", "-2**63-1"]
)
def test_ints_beyond_int64_overflow_error(meter, value):
    c = meter.counter("c")
    u = meter.up_down_counter("u")
    h = meter.histogram("h")
    g = meter.gauge("g")
    calls = [(u.add, "UpDownCounter.add"), (h.record, "Histogram.record"), (g.set, "Gauge.set")]
    if value > 0:
        calls.append((c.add, "Counter.add"))
    for fn, name in calls:
        raises(OverflowError, fn, value, must_contain=[name, "int64"])


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1], ids=["2**63", "-2**63-1"])
def test_ints_beyond_int64_in_sequences_overflow_error(meter, value):
    u = meter.up_down_counter("u")
    h = meter.histogram("h")
    for fn, name in ((u.add_many, "UpDownCounter.add_many"), (h.record_many, "Histogram.record_many")):
        raises(OverflowError, fn, [1, value], must_contain=[name, "int64"])


def test_numpy_uint64_beyond_int64_overflow_error(meter):
    """An integer beyond int64 is refused whatever its Python type."""
    value = np.uint64(2**63)
    for fn in (meter.counter("c").add, meter.histogram("h").record, meter.gauge("g").set):
        raises(OverflowError, fn, value, must_contain=["int64"])


def test_int64_limits_accepted(meter):
    meter.counter("c").add(2**63 - 1)
    u = meter.up_down_counter("u")
    u.add(-(2**63))
    u.add_many([2**63 - 1, -(2**63)])
    h = meter.histogram("h")
    h.record(-(2**63))
    h.record_many(np.array([2**63 - 1, -(2**63)], dtype=np.int64))
    meter.gauge("g").set(2**63 - 1)


@pytest.mark.parametrize("value", ["1", None, b"1", [1], 1j], ids=repr)
def test_non_numbers_rejected(meter, value):
    for fn, name in (
        (meter.counter("c").add, "Counter.add"),
        (meter.histogram("h").record, "Histogram.record"),
        (meter.gauge("g").set, "Gauge.set"),
    ):
        raises(TypeError, fn, value, must_contain=[name, "int or float"])


# -------------------------------------------------------------------------
# histogram boundaries
# -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "boundaries",
    [
        [2.0, 1.0],
        [1.0, 1.0],
        [-0.0, 0.0],
        [0.0, 5.0, 3.0, 10.0],
        [1.0, math.nan],
        [math.nan],
        [1.0, math.inf],
        [-math.inf, 0.0],
    ],
    ids=["unsorted", "duplicate", "signed-zeros", "unsorted-middle", "nan", "only-nan", "inf", "-inf"],
)
def test_invalid_boundaries_rejected(meter, boundaries):
    with pytest.raises(ValueError) as ei:
        meter.histogram("bad-bounds", boundaries=boundaries)
    msg = str(ei.value)
    assert "boundaries" in msg and "finite" in msg and "increasing" in msg, msg


@pytest.mark.parametrize("boundaries", [["a", "b"], [1.0, None], 5, "0,5,10"], ids=repr)
def test_boundaries_of_the_wrong_type(meter, boundaries):
    with pytest.raises(TypeError) as ei:
        meter.histogram("bad-bounds", boundaries=boundaries)
    assert "boundaries" in str(ei.value)


@pytest.mark.parametrize(
    "boundaries, expected",
    [
        (None, DEFAULT_BOUNDS),
        ([], []),
        ([1, 2, 3], [1.0, 2.0, 3.0]),
        ((-1.5, 0.0, 2**60), [-1.5, 0.0, float(2**60)]),
        (np.array([0.25, 0.5]), [0.25, 0.5]),
    ],
    ids=["default", "empty", "ints", "tuple", "numpy"],
)
def test_valid_boundaries(meter, boundaries, expected):
    h = meter.histogram("good-bounds", boundaries=boundaries)
    assert h.boundaries == expected
    assert all(type(b) is float for b in h.boundaries)


# -------------------------------------------------------------------------
# MetricsConfig and Exporter(metrics=...)
# -------------------------------------------------------------------------


def test_temporality_none_is_a_type_error():
    with pytest.raises(TypeError, match="`temporality` must be a str; got NoneType"):
        otlp.MetricsConfig(temporality=None)  # type: ignore[arg-type]


@pytest.mark.parametrize("temporality", ["bogus", "", "cumulativ", "deltas"])
def test_bad_temporality_config_error(temporality):
    assert issubclass(otlp.errors.ConfigError, ValueError)
    with pytest.raises(otlp.errors.ConfigError) as ei:
        otlp.MetricsConfig(temporality=temporality)
    msg = str(ei.value)
    assert "temporality" in msg
    for choice in ("cumulative", "delta", "lowmemory"):
        assert choice in msg


@pytest.mark.parametrize("limit", [1, 0, -5])
def test_cardinality_limit_below_two_config_error(limit):
    with pytest.raises(otlp.errors.ConfigError) as ei:
        otlp.MetricsConfig(cardinality_limit=limit)
    assert "cardinality_limit" in str(ei.value) and "2" in str(ei.value)


@pytest.mark.parametrize("limit", [2.0, "10", True, None], ids=repr)
def test_cardinality_limit_wrong_type(limit):
    with pytest.raises(TypeError) as ei:
        otlp.MetricsConfig(cardinality_limit=limit)
    assert "cardinality_limit" in str(ei.value)


@pytest.mark.parametrize("field", ["interval", "timeout"])
@pytest.mark.parametrize("bad", [0, -1.0, math.nan, math.inf])
def test_bad_interval_and_timeout_config_error(field, bad):
    with pytest.raises(otlp.errors.ConfigError) as ei:
        otlp.MetricsConfig(**{field: bad})
    assert field in str(ei.value)


def test_valid_metrics_configs():
    for kw in (
        {},
        {"temporality": "cumulative"},
        {"temporality": "delta"},
        {"temporality": "lowmemory"},
        {"cardinality_limit": 2},
        {"interval": 0.001, "timeout": 0.5},
    ):
        otlp.MetricsConfig(**kw)
    cfg = otlp.MetricsConfig()
    assert (cfg.temporality, cfg.cardinality_limit) == ("cumulative", 2000)


@pytest.mark.parametrize("metrics", ["delta", {"temporality": "delta"}, 5])
def test_exporter_metrics_argument_must_be_a_metrics_config(unused_endpoint, metrics):
    with pytest.raises(TypeError) as ei:
        otlp.Exporter(unused_endpoint, metrics=metrics)
    assert "MetricsConfig" in str(ei.value)


def test_instrument_name_validation(meter):
    with pytest.raises(ValueError) as ei:
        meter.counter("")
    assert "name" in str(ei.value)
    with pytest.raises(ValueError):
        meter.histogram("x" * 256)
    meter.counter("x" * 255)


# -------------------------------------------------------------------------
# the same instrument twice
# -------------------------------------------------------------------------


def test_same_instrument_name_twice_feeds_the_same_series(sink, make_exporter):
    exp = make_exporter(sink.endpoint)
    meter = exp.meter("dups")
    c1, c2 = meter.counter("dup.counter"), meter.counter("dup.counter")
    c1.add(1, {"k": "v"})
    c2.add(2, {"k": "v"})
    c2.add_many(np.array([3, 4], dtype=np.int64), {"k": "v"})
    u1, u2 = meter.up_down_counter("dup.updown"), meter.up_down_counter("dup.updown")
    u1.add(-5)
    u2.add(2)
    h1 = meter.histogram("dup.histogram", boundaries=[1.0])
    h2 = meter.histogram("dup.histogram", boundaries=[1.0])
    h1.record(0.5)
    h2.record_many([2.0, 3.0])
    g1, g2 = meter.gauge("dup.gauge"), meter.gauge("dup.gauge")
    g1.set(1)
    g2.set(2)
    # instrument names are case-insensitive (OTel API spec)
    meter.counter("Dup.Counter").add(100, {"k": "v"})
    got = flush_round(exp, sink)
    assert len([n for n in got if n.lower() == "dup.counter"]) == 1
    counter = next(m for n, m in got.items() if n.lower() == "dup.counter")
    assert value_of(single_point(counter)) == ("int", 110)
    assert value_of(single_point(got["dup.updown"])) == ("int", -3)
    p = single_point(got["dup.histogram"])
    assert (p.count, p.sum, list(p.bucket_counts)) == (3, 5.5, [1, 2])
    assert value_of(single_point(got["dup.gauge"])) == ("int", 2)


def test_recording_never_raises_for_network_problems(unused_endpoint, make_exporter):
    exp = make_exporter(unused_endpoint)
    meter = exp.meter("offline")
    c = meter.counter("c")
    h = meter.histogram("h")
    meter.observable_gauge("g", callbacks=[lambda: [1]])
    for i in range(100):
        c.add(1, {"i": i % 5})
        h.record_many(np.arange(100.0), {"i": i % 3})
    t = time.monotonic()
    ok = exp.force_flush(timeout=1.0)
    assert ok is False
    assert time.monotonic() - t < 1.0 + 2.0
    c.add(1)  # still fine after a failed export
    st = exp.stats()
    assert st["metric_points_exported"] == 0
    assert st["metric_requests_ok"] == 0


# -------------------------------------------------------------------------
# aggregation kernels: AVX2 == scalar, bit for bit; both match the reference
# -------------------------------------------------------------------------


def _has_avx2() -> bool:
    try:
        _aggregate([], [], "avx2")
    except ValueError:
        return False
    return True


HAS_AVX2 = _has_avx2()
KERNEL_DTYPES = ["float64", "float32", "int64", "int32"]
SMALL_LENGTHS = [0, 1, 2, 3, 4, 5, 15, 16, 17, 31, 32, 33, 47, 48, 63, 64, 65, 127, 128, 129]
BIG_LENGTHS = [99_999, 100_000, 100_003, 131_077]
EPS = sys.float_info.epsilon

F64_SPECIALS = [
    math.nan,
    math.inf,
    -math.inf,
    0.0,
    -0.0,
    5e-324,  # smallest denormal
    -5e-324,
    2.2250738585072009e-308,  # largest denormal
    2.2250738585072014e-308,  # smallest normal
    1e-310,
    -3e-320,
    1e300,
    -1e300,
]
F32_SPECIALS = [
    math.nan,
    math.inf,
    -math.inf,
    0.0,
    -0.0,
    float(np.float32(1.4e-45)),  # smallest float32 denormal
    -float(np.float32(1.4e-45)),
    float(np.float32(1.1754942e-38)),  # largest float32 denormal
    float(np.finfo(np.float32).tiny),
    float(np.finfo(np.float32).max),
    float(np.finfo(np.float32).min),
]


def _finite_f64():
    return st.floats(min_value=-1e300, max_value=1e300, allow_subnormal=True)


def _finite_f32():
    return st.floats(width=32, allow_nan=False, allow_infinity=False, allow_subnormal=True)


def _int_range(dtype):
    info = np.iinfo(dtype)
    return int(info.min), int(info.max)


@st.composite
def _marks_and_bounds(draw, dtype):
    """(marks, bounds): bounds are sorted, strictly increasing, finite float64; marks are
    values of the dtype that widen to exactly those bounds (to put values on them)."""
    choice = draw(st.sampled_from(["random", "random", "random", "default", "empty", "zero"]))
    if choice == "default":
        marks = list(DEFAULT_BOUNDS)
    elif choice == "empty":
        marks = []
    elif choice == "zero":
        marks = [0.0]
    elif dtype == "float64":
        marks = draw(st.lists(_finite_f64(), max_size=40, unique=True))
    elif dtype == "float32":
        marks = draw(st.lists(_finite_f32(), max_size=40, unique=True))
    else:
        lo, hi = _int_range(dtype)
        marks = draw(
            st.lists(
                st.one_of(st.integers(-1000, 1000), st.integers(lo, hi)),
                max_size=40,
                unique=True,
            )
        )
    if dtype in ("int64", "int32"):
        marks = [int(m) for m in marks]
    by_bound = {}
    for m in marks:
        by_bound.setdefault(float(m), m)  # -0.0/0.0 and ints that widen alike: one bound
    bounds = sorted(by_bound)
    return [by_bound[b] for b in bounds], bounds


def _elements(dtype, marks):
    if dtype == "float64":
        base = st.one_of(_finite_f64(), st.sampled_from(F64_SPECIALS))
    elif dtype == "float32":
        base = st.one_of(_finite_f32(), st.sampled_from(F32_SPECIALS))
    else:
        lo, hi = _int_range(dtype)
        base = st.one_of(st.integers(lo, hi), st.integers(-20, 20), st.sampled_from([lo, hi, 0, -1]))
    if marks:
        return st.one_of(base, st.sampled_from(marks))
    return base


@st.composite
def small_case(draw):
    dtype = draw(st.sampled_from(KERNEL_DTYPES))
    marks, bounds = draw(_marks_and_bounds(dtype))
    n = draw(st.one_of(st.sampled_from(SMALL_LENGTHS), st.integers(0, 300)))
    values = draw(st.lists(_elements(dtype, marks), min_size=n, max_size=n))
    return np.array(values, dtype=dtype), bounds


def _big_array(seed, n, dtype, marks):
    """n values of dtype from a seed, with special values and boundary values sprinkled in."""
    rng = np.random.default_rng(seed)
    if dtype in ("float64", "float32"):
        scale = float(rng.choice([1e-3, 1.0, 1e4, 1e30]))
        v = (rng.standard_normal(n) * scale).astype(dtype)
        specials = F64_SPECIALS if dtype == "float64" else F32_SPECIALS
        k = int(rng.integers(0, 64))
        v[rng.integers(0, n, size=k)] = rng.choice(np.array(specials, dtype=dtype), size=k)
        if rng.random() < 0.5:  # sometimes no NaN/inf at all (then the sum bound applies)
            v[~np.isfinite(v)] = 1.0
    else:
        lo, hi = _int_range(dtype)
        if rng.random() < 0.5:
            v = rng.integers(lo, hi, size=n, dtype=dtype, endpoint=True)
        else:
            v = rng.integers(-10_000, 10_000, size=n).astype(dtype)
    if marks:
        k = n // 10
        v[rng.integers(0, n, size=k)] = rng.choice(np.array(marks, dtype=dtype), size=k)
    return np.ascontiguousarray(v)


@st.composite
def big_case(draw):
    dtype = draw(st.sampled_from(KERNEL_DTYPES))
    marks, bounds = draw(_marks_and_bounds(dtype))
    n = draw(st.sampled_from(BIG_LENGTHS))
    seed = draw(st.integers(0, 2**32 - 1))
    return _big_array(seed, n, dtype, marks), bounds


def _bits(x: float) -> bytes:
    return struct.pack("<d", x)


def same_float(a: float, b: float) -> bool:
    """Bitwise equality, any NaN equal to any NaN."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return _bits(a) == _bits(b)


def assert_identical(a, b, what):
    (ca, sa, mina, maxa, na, ba), (cb, sb, minb, maxb, nb, bb) = a, b
    assert (ca, na, ba) == (cb, nb, bb), f"{what}: count/nan_count/buckets differ: {a} vs {b}"
    assert same_float(sa, sb), f"{what}: sum {sa!r} ({_bits(sa).hex()}) vs {sb!r} ({_bits(sb).hex()})"
    assert same_float(mina, minb) and same_float(maxa, maxb), f"{what}: min/max {a[2:4]} vs {b[2:4]}"


def assert_matches_reference(result, values, bounds):
    count, total, lo, hi, nan_count, buckets = result
    v = values.astype(np.float64)  # the kernels work on values widened to float64
    n = v.size
    nan = np.isnan(v)
    assert count == n
    assert nan_count == int(nan.sum())
    # bucket i holds b[i-1] < v <= b[i]; NaN (compares false) lands in bucket 0
    idx = np.searchsorted(np.asarray(bounds, dtype=np.float64), v, side="left")
    idx[nan] = 0
    assert buckets == np.bincount(idx, minlength=len(bounds) + 1).tolist()
    assert sum(buckets) == n
    finite_or_inf = v[~nan]
    if finite_or_inf.size:
        assert (lo, hi) == (float(finite_or_inf.min()), float(finite_or_inf.max()))
    else:
        assert (lo, hi) == (math.inf, -math.inf)
    has_pinf, has_ninf = bool(np.any(v == math.inf)), bool(np.any(v == -math.inf))
    if nan.any() or (has_pinf and has_ninf):
        assert math.isnan(total), total
    elif has_pinf:
        assert total == math.inf
    elif has_ninf:
        assert total == -math.inf
    else:
        as_list = v.tolist()
        exact = math.fsum(as_list)
        bound = (n // 16 + 16) * EPS * math.fsum(abs(x) for x in as_list)
        assert abs(total - exact) <= bound, f"n={n}: sum {total!r} vs fsum {exact!r}, bound {bound!r}"


def check_kernels(values, bounds):
    scalar = _aggregate(values, bounds, "scalar")
    assert_matches_reference(scalar, values, bounds)
    detected = _aggregate(values, bounds, None)
    assert_identical(detected, _aggregate(values, bounds, _kernel()), "kernel=None vs _kernel()")
    if HAS_AVX2:
        avx2 = _aggregate(values, bounds, "avx2")
        assert_identical(avx2, scalar, f"avx2 vs scalar (dtype {values.dtype}, n={values.size})")
    return scalar


@given(small_case())
def test_kernels_agree_small_arrays(case):
    values, bounds = case
    scalar = check_kernels(values, bounds)
    # a Python list of the same numbers gives the same result (up to 4096 values: one chunk)
    assert_identical(_aggregate(values.tolist(), bounds, "scalar"), scalar, "list vs array")


@pytest.mark.timeout(300)
@settings(max_examples=12)
@given(big_case())
def test_kernels_agree_large_arrays(case):
    values, bounds = case
    check_kernels(values, bounds)


@pytest.mark.parametrize("dtype", KERNEL_DTYPES)
@pytest.mark.parametrize("n", [0, 1, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100_003])
def test_kernels_agree_fixed_lengths(dtype, n):
    """Deterministic companion of the property tests: every dtype at every interesting length,
    with every special value and every boundary value present."""
    marks = [0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000]
    if dtype in ("float64", "float32"):
        marks = [float(m) for m in marks]
    v = _big_array(n * 7 + KERNEL_DTYPES.index(dtype), max(n, 1), dtype, marks)[:n]
    if dtype in ("float64", "float32") and n:
        specials = F64_SPECIALS if dtype == "float64" else F32_SPECIALS
        v[: min(n, len(specials))] = np.array(specials[: min(n, len(specials))], dtype=dtype)
    for bounds in ([], [0.0], DEFAULT_BOUNDS, [float(x) for x in range(-20, 21)]):
        check_kernels(np.ascontiguousarray(v), bounds)


def test_kernel_names():
    assert _kernel() in ("avx2", "scalar")
    if os.environ.get("OTLP_FORCE_SCALAR") not in ("1", "true"):
        assert _kernel() == ("avx2" if HAS_AVX2 else "scalar")
    with pytest.raises(ValueError) as ei:
        _aggregate([1.0], [], "no-such-kernel")
    assert "no-such-kernel" in str(ei.value)


def test_force_scalar_environment_variable():
    env = dict(os.environ, OTLP_FORCE_SCALAR="1")
    r = subprocess.run(
        [sys.executable, "-c", "import otlp._native as n; print(n._kernel())"],
        capture_output=True,
        text=True,
        env=env,
        timeout=50,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "scalar", (r.stdout, r.stderr[-2000:])
