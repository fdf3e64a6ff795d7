#!/usr/bin/env python3
"""Metrics recording benchmark: ``otlp`` vs numpy vs the official OpenTelemetry
Python SDK.

Run from the repository root::

    python benches/metrics.py                    # everything, best of 5
    python benches/metrics.py --only reference   # numpy + official SDK only (no extension needed)
    python benches/metrics.py --quick            # 10^6 values, smaller loops: a smoke run
    python benches/metrics.py --json

What is measured (all on one thread, best and median of ``--repeat`` timed runs
after one untimed warm-up run):

1. ``Histogram.record_many`` of 10^7 float64 values (lognormal, fixed seed) into
   a histogram with 15 explicit boundaries, vs numpy's best equivalent on the
   same array: ``searchsorted(side="left")`` + ``bincount`` + ``sum`` + ``min``
   + ``max``.  OTel buckets are upper-inclusive (bucket i holds
   b[i-1] < v <= b[i]), which is exactly ``searchsorted(side="left")``.
   Also float32 / int64 / int32 arrays (the int arrays are the float64 values
   rounded, so many of them sit exactly on a boundary).
2. The official SDK's ``Histogram.record`` in a Python loop, on a subsample of
   the same values, as a per-value rate.
3. ``record_many`` again in a fresh subprocess with ``OTLP_FORCE_SCALAR=1``.
4. Single-value ``Histogram.record(v, {"route": "/"})`` and
   ``Counter.add(1, {"route": "/"})`` loops, ``otlp`` vs the official SDK, with
   the same attributes dict object reused.  Reported as ns per call, Python
   loop overhead included for both.

Every implementation runs in its own fresh worker subprocess
(``python benches/metrics.py _worker KIND ...``), so they never share imports,
allocator state or environment.

Correctness cross-check (results outside the timed region): each ``otlp``
worker exports to a small in-process gRPC ``MetricsService`` sink on
127.0.0.1 (official opentelemetry-proto classes), decodes the histogram and
sum points it received, and compares them with numpy's reference (bucket
counts, count, min and max exactly; sum to 1e-9 relative).  The official SDK's
results are read back from its ``InMemoryMetricReader`` and checked the same
way, which also checks that the numpy reference has OTel's bucket semantics.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import _harness as harness
from _harness import TIMES

HERE = os.path.abspath(__file__)

# 15 explicit boundaries -> 16 buckets.  These are the OTel default boundaries,
# passed explicitly to every implementation.
BOUNDS: tuple[float, ...] = (
    0.0,
    5.0,
    10.0,
    25.0,
    50.0,
    75.0,
    100.0,
    250.0,
    500.0,
    750.0,
    1000.0,
    2500.0,
    5000.0,
    7500.0,
    10000.0,
)
N_BUCKETS = len(BOUNDS) + 1
DTYPES = ("float64", "float32", "int64", "int32")
# lognormal(mean=3.5, sigma=1.5): median ~33, values land in every bucket but
# the first (ints: the first too, from rounding to 0).
LOGNORMAL_MEAN = 3.5
LOGNORMAL_SIGMA = 1.5
ATTRS: dict[str, Any] = {"route": "/"}
SERVICE_NAME = "metrics-bench"
SUM_REL_TOL = 1e-9

DEFAULTS = {
    "values": 10_000_000,
    "subsample": 200_000,  # official SDK loops (per-value rates)
    "loop_n": 1_000_000,  # otlp single-value loops
    "int_check": 50_000,  # official SDK boundary-semantics check
    "repeat": 5,
}
QUICK = {"values": 1_000_000, "subsample": 50_000, "loop_n": 200_000, "int_check": 20_000, "repeat": 3}

# Targets from the issue: ratio name -> minimum.
TARGETS = {
    "record_many_vs_numpy": 2.0,
    "record_many_vs_official_loop": 1000.0,
    "simd_vs_scalar": 3.0,
    "histogram_record_vs_official": 5.0,
    "counter_add_vs_official": 5.0,
}


# --------------------------------------------------------------------------
# Shared helpers (workers)
# --------------------------------------------------------------------------
def make_values(n: int, seed: int) -> Any:
    import numpy as np

    return np.random.default_rng(seed).lognormal(LOGNORMAL_MEAN, LOGNORMAL_SIGMA, n)


def as_dtype(values: Any, dtype: str) -> Any:
    import numpy as np

    if dtype.startswith("float"):
        return np.ascontiguousarray(values.astype(dtype))
    return np.ascontiguousarray(np.rint(values).astype(dtype))


def numpy_histogram(values: Any) -> tuple[Any, Any, Any, Any, int]:
    """numpy's best equivalent of one record_many call: the timed operation."""
    import numpy as np

    idx = np.searchsorted(NP_BOUNDS, values, side="left")
    counts = np.bincount(idx, minlength=N_BUCKETS)
    return counts, values.sum(), values.min(), values.max(), values.size


def reference(values: Any) -> dict[str, Any]:
    """Exact expected histogram of ``values`` (sum in float64), for the checks."""
    import numpy as np

    idx = np.searchsorted(NP_BOUNDS, values, side="left")
    return {
        "counts": [int(c) for c in np.bincount(idx, minlength=N_BUCKETS)],
        "count": int(values.size),
        "sum": float(values.astype(np.float64).sum()),
        "min": float(values.min()),
        "max": float(values.max()),
    }


NP_BOUNDS: Any = None


def _init_numpy() -> None:
    global NP_BOUNDS
    import numpy as np

    NP_BOUNDS = np.asarray(BOUNDS, dtype=np.float64)


def time_runs(fn: Callable[[], object], repeat: int) -> list[float]:
    """One untimed warm-up call, then ``repeat`` timed calls (seconds each)."""
    fn()
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter_ns()
        fn()
        out.append((time.perf_counter_ns() - t0) / 1e9)
    return out


def loop_overhead(vals: list[float], repeat: int) -> list[float]:
    def run() -> None:
        for _v in vals:
            pass

    return time_runs(run, repeat)


def check_hist(
    label: str,
    got: dict[str, Any] | None,
    ref: dict[str, Any],
    mult: int,
    check_sum: bool = True,
) -> list[str]:
    """Compare one decoded histogram point with ``mult`` times the reference."""
    if got is None:
        return [f"{label}: no histogram point received"]
    problems = []
    want_counts = [c * mult for c in ref["counts"]]
    if list(got["bucket_counts"]) != want_counts:
        problems.append(f"{label}: bucket_counts {list(got['bucket_counts'])} != expected {want_counts}")
    if [float(b) for b in got["explicit_bounds"]] != list(BOUNDS):
        problems.append(f"{label}: explicit_bounds {list(got['explicit_bounds'])} != {list(BOUNDS)}")
    if got["count"] != ref["count"] * mult:
        problems.append(f"{label}: count {got['count']} != expected {ref['count'] * mult}")
    if check_sum:
        want_sum = ref["sum"] * mult
        if got["sum"] is None or abs(got["sum"] - want_sum) > SUM_REL_TOL * abs(want_sum):
            problems.append(f"{label}: sum {got['sum']!r} != expected {want_sum!r} (rel tol {SUM_REL_TOL})")
    for k in ("min", "max"):
        if got[k] is None:
            problems.append(f"{label}: {k} missing")
        elif got[k] != ref[k]:
            problems.append(f"{label}: {k} {got[k]!r} != expected {ref[k]!r}")
    return problems


def stats_of(times: list[float], n: int) -> dict[str, Any]:
    """Rates (n / t) and ns per item from a list of run times."""
    return {
        "n": n,
        "times_s": times,
        "best_s": min(times),
        "median_s": statistics.median(times),
        "best_rate": n / min(times),
        "median_rate": n / statistics.median(times),
        "best_ns": min(times) / n * 1e9,
        "median_ns": statistics.median(times) / n * 1e9,
    }


# --------------------------------------------------------------------------
# In-process OTLP/gRPC metrics sink (otlp workers only; idle while timing)
# --------------------------------------------------------------------------
class MetricsSink:
    def __init__(self) -> None:
        from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2

        self._lock = threading.Lock()
        self._requests: list[Any] = []
        Request = metrics_service_pb2.ExportMetricsServiceRequest
        Response = metrics_service_pb2.ExportMetricsServiceResponse

        def export(request: Any, _context: Any) -> Any:
            with self._lock:
                self._requests.append(request)
            return Response()

        self._server, self.port = harness.start_grpc_export_server(
            "opentelemetry.proto.collector.metrics.v1.MetricsService",
            export,
            Request.FromString,
            Response.SerializeToString,
            max_workers=2,
            max_receive_message_length=64 * 1024 * 1024,
        )

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def requests(self) -> int:
        with self._lock:
            return len(self._requests)

    def latest_points(self) -> dict[str, list[dict[str, Any]]]:
        """Metric name -> decoded data points of the last request that had it."""
        with self._lock:
            reqs = list(self._requests)
        out: dict[str, list[dict[str, Any]]] = {}
        for req in reqs:
            for rm in req.resource_metrics:
                for sm in rm.scope_metrics:
                    for m in sm.metrics:
                        out[m.name] = [_decode_point(m, p) for p in _points_of(m)]
        return out

    def wait_for(self, names: list[str], timeout: float) -> dict[str, list[dict[str, Any]]]:
        deadline = time.monotonic() + timeout
        while True:
            pts = self.latest_points()
            if all(n in pts for n in names) or time.monotonic() > deadline:
                return pts
            time.sleep(0.01)

    def close(self) -> None:
        self._server.stop(0.5).wait(2)


def _points_of(m: Any) -> Any:
    kind = m.WhichOneof("data")
    return getattr(m, kind).data_points if kind else []


def _decode_point(m: Any, p: Any) -> dict[str, Any]:
    kind = m.WhichOneof("data")
    attrs = {kv.key: getattr(kv.value, kv.value.WhichOneof("value") or "string_value") for kv in p.attributes}
    if kind == "histogram":
        return {
            "kind": kind,
            "attributes": attrs,
            "count": p.count,
            "sum": p.sum if p.HasField("sum") else None,
            "min": p.min if p.HasField("min") else None,
            "max": p.max if p.HasField("max") else None,
            "bucket_counts": list(p.bucket_counts),
            "explicit_bounds": list(p.explicit_bounds),
        }
    which = p.WhichOneof("value")
    return {"kind": kind, "attributes": attrs, "value": getattr(p, which) if which else None, "type": which}


def _one_point(pts: dict[str, list[dict[str, Any]]], name: str, problems: list[str]) -> dict[str, Any] | None:
    got = pts.get(name)
    if not got:
        problems.append(f"{name}: not received by the sink")
        return None
    if len(got) != 1:
        problems.append(f"{name}: {len(got)} data points, expected 1")
    if got[0]["attributes"] != ATTRS:
        problems.append(f"{name}: attributes {got[0]['attributes']} != {ATTRS}")
    return got[0]


def _otlp_exporter(sink: MetricsSink) -> Any:
    import otlp

    return otlp.Exporter(
        sink.endpoint,
        resource={"service.name": SERVICE_NAME},
        metrics=otlp.MetricsConfig(interval=600.0, timeout=30.0, temporality="cumulative"),
    )


def _flush_and_collect(exp: Any, sink: MetricsSink, names: list[str], timeout: float) -> Any:
    t0 = time.monotonic()
    ok = exp.force_flush(timeout=timeout)
    left = max(1.0, timeout - (time.monotonic() - t0))
    return bool(ok), sink.wait_for(names, left)


# --------------------------------------------------------------------------
# Workers
# --------------------------------------------------------------------------
def worker_numpy(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np

    _init_numpy()
    base = make_values(args.values, args.seed)
    out: dict[str, Any] = {"numpy": np.__version__, "record_many": {}}
    for dtype in DTYPES:
        arr = base if dtype == "float64" else as_dtype(base, dtype)
        times = time_runs(lambda arr=arr: numpy_histogram(arr), args.repeat)
        out["record_many"][dtype] = stats_of(times, arr.size)
        del arr
    return out


def worker_otlp_bulk(args: argparse.Namespace) -> dict[str, Any]:
    _init_numpy()
    base = make_values(args.values, args.seed)
    sink = MetricsSink()
    exp = _otlp_exporter(sink)
    problems: list[str] = []
    out: dict[str, Any] = {
        "force_scalar": os.environ.get("OTLP_FORCE_SCALAR"),
        "record_many": {},
        "problems": problems,
    }
    try:
        meter = exp.meter("metrics-bench", version="1.0")
        attrs = ATTRS
        refs: dict[str, dict[str, Any]] = {}
        for dtype in DTYPES:
            arr = base if dtype == "float64" else as_dtype(base, dtype)
            h = meter.histogram(f"bench.record_many.{dtype}", unit="ms", boundaries=list(BOUNDS))
            times = time_runs(lambda h=h, arr=arr: h.record_many(arr, attrs), args.repeat)
            out["record_many"][dtype] = stats_of(times, arr.size)
            refs[dtype] = reference(arr)  # outside the timed region
            del arr
        names = [f"bench.record_many.{d}" for d in DTYPES]
        ok, pts = _flush_and_collect(exp, sink, names, args.flush_timeout)
        if not ok:
            problems.append("force_flush returned False")
        mult = args.repeat + 1  # warm-up + timed runs, cumulative temporality
        for dtype in DTYPES:
            name = f"bench.record_many.{dtype}"
            problems += check_hist(f"otlp {name}", _one_point(pts, name, problems), refs[dtype], mult)
        out["checked"] = names
        out["sink_requests"] = sink.requests
        out["stats"] = dict(exp.stats())
    finally:
        exp.shutdown(timeout=10.0)
        sink.close()
    return out


def worker_otlp_single(args: argparse.Namespace) -> dict[str, Any]:
    _init_numpy()
    base = make_values(args.loop_n, args.seed)
    vals: list[float] = base.tolist()
    sink = MetricsSink()
    exp = _otlp_exporter(sink)
    problems: list[str] = []
    out: dict[str, Any] = {"problems": problems}
    try:
        meter = exp.meter("metrics-bench", version="1.0")
        h = meter.histogram("bench.record", unit="ms", boundaries=list(BOUNDS))
        c = meter.counter("bench.add", unit="1")
        attrs = ATTRS

        def run_record() -> None:
            rec = h.record
            for v in vals:
                rec(v, attrs)

        def run_add() -> None:
            add = c.add
            for _v in vals:
                add(1, attrs)

        out["histogram_record"] = stats_of(time_runs(run_record, args.repeat), len(vals))
        out["counter_add"] = stats_of(time_runs(run_add, args.repeat), len(vals))
        out["loop_overhead"] = stats_of(loop_overhead(vals, args.repeat), len(vals))

        ok, pts = _flush_and_collect(exp, sink, ["bench.record", "bench.add"], args.flush_timeout)
        if not ok:
            problems.append("force_flush returned False")
        mult = args.repeat + 1
        problems += check_hist(
            "otlp bench.record", _one_point(pts, "bench.record", problems), reference(base), mult
        )
        pt = _one_point(pts, "bench.add", problems)
        want = mult * len(vals)
        if pt is not None and (pt["value"] != want or pt["type"] != "as_int"):
            problems.append(f"otlp bench.add: {pt['type']}={pt['value']!r}, expected as_int={want}")
        out["sink_requests"] = sink.requests
        out["stats"] = dict(exp.stats())
    finally:
        exp.shutdown(timeout=10.0)
        sink.close()
    return out


def worker_official(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.resources import Resource

    _init_numpy()
    # The subsample is the first N values of the same seeded stream as the
    # 10^7-value array (default_rng draws are prefix-stable).
    base = make_values(args.subsample, args.seed)
    vals: list[float] = base.tolist()  # Python floats: the loop does not pay numpy scalar boxing
    reader = InMemoryMetricReader()
    provider = MeterProvider(
        metric_readers=[reader], resource=Resource.create({"service.name": SERVICE_NAME})
    )
    meter = provider.get_meter("metrics-bench", "1.0")
    h = meter.create_histogram("bench.record", unit="ms", explicit_bucket_boundaries_advisory=list(BOUNDS))
    c = meter.create_counter("bench.add", unit="1")
    attrs = ATTRS
    problems: list[str] = []
    out: dict[str, Any] = {"problems": problems}

    def run_record() -> None:
        rec = h.record
        for v in vals:
            rec(v, attrs)

    def run_add() -> None:
        add = c.add
        for _v in vals:
            add(1, attrs)

    out["histogram_record"] = stats_of(time_runs(run_record, args.repeat), len(vals))
    out["counter_add"] = stats_of(time_runs(run_add, args.repeat), len(vals))
    out["loop_overhead"] = stats_of(loop_overhead(vals, args.repeat), len(vals))

    # Boundary semantics: ints rounded from the same values hit boundaries exactly.
    ints = np.rint(base[: args.int_check]).astype(np.int64)
    hi = meter.create_histogram(
        "bench.check.int", unit="ms", explicit_bucket_boundaries_advisory=list(BOUNDS)
    )
    for v in ints.tolist():
        hi.record(v, attrs)

    pts: dict[str, Any] = {}
    data = reader.get_metrics_data()
    for rm in data.resource_metrics if data else []:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                pts[m.name] = list(m.data.data_points)

    def hist_of(name: str) -> dict[str, Any] | None:
        got = pts.get(name)
        if not got:
            return None
        p = got[0]
        return {
            "count": p.count,
            "sum": p.sum,
            "min": p.min,
            "max": p.max,
            "bucket_counts": list(p.bucket_counts),
            "explicit_bounds": list(p.explicit_bounds),
        }

    mult = args.repeat + 1
    problems += check_hist("official bench.record", hist_of("bench.record"), reference(base), mult)
    ref_int = reference(ints)
    problems += check_hist("official bench.check.int", hist_of("bench.check.int"), ref_int, 1)
    out["boundary_hits"] = int(np.isin(ints, NP_BOUNDS).sum())
    add_pts = pts.get("bench.add") or []
    if not add_pts or add_pts[0].value != mult * len(vals):
        problems.append(f"official bench.add: {add_pts[0].value if add_pts else None} != {mult * len(vals)}")
    provider.shutdown()
    return out


WORKERS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "numpy": worker_numpy,
    "official": worker_official,
    "otlp_bulk": worker_otlp_bulk,
    "otlp_single": worker_otlp_single,
}


def worker_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="metrics.py _worker")
    p.add_argument("kind", choices=sorted(WORKERS))
    p.add_argument("--values", type=int, required=True)
    p.add_argument("--subsample", type=int, required=True)
    p.add_argument("--loop-n", type=int, required=True)
    p.add_argument("--int-check", type=int, required=True)
    p.add_argument("--repeat", type=int, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--flush-timeout", type=float, default=30.0)
    args = p.parse_args(argv)
    t0 = time.monotonic()
    result = WORKERS[args.kind](args)
    result["kind"] = args.kind
    result["worker_s"] = time.monotonic() - t0
    harness.emit_result(result)
    return 0


# --------------------------------------------------------------------------
# Parent: orchestration, reporting
# --------------------------------------------------------------------------
def run_worker(
    label: str, kind: str, args: argparse.Namespace, env_extra: dict[str, str | None]
) -> dict[str, Any]:
    env = dict(os.environ)
    for k, v in env_extra.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    cmd = harness.worker_cmd(
        HERE,
        kind,
        values=args.values,
        subsample=args.subsample,
        loop_n=args.loop_n,
        int_check=args.int_check,
        repeat=args.repeat,
        seed=args.seed,
    )
    w = harness.run_worker(cmd, args.timeout, env)
    if w.timed_out:
        return {"label": label, "error": f"worker timed out after {args.timeout}s: {w.stderr_tail}"}
    result = w.result
    if result is None or w.returncode != 0:
        return {"label": label, "error": w.failure()}
    result["label"] = label
    harness.keep_stderr(result, w, args.verbose)
    return result


def fmt_rate(x: float | None) -> str:
    if x is None:
        return "-"
    if x >= 1e9:
        return f"{x / 1e9:.2f} G/s"
    if x >= 1e6:
        return f"{x / 1e6:.1f} M/s"
    if x >= 1e3:
        return f"{x / 1e3:.1f} k/s"
    return f"{x:.0f} /s"


def fmt_ratio(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.2g}{TIMES}" if x < 1 else f"{x:,.1f}{TIMES}"


def _get(d: dict[str, Any] | None, *path: str) -> Any:
    for k in path:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def cpu_flags() -> list[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    have = set(line.split(":", 1)[1].split())
                    return [f for f in ("avx2", "fma", "avx512f") if f in have]
    except OSError:  # not Linux: informational only
        pass
    return []


def merge_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Pool the timed runs of one worker kind over all rounds (best/median over all)."""
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return runs[-1]
    out = dict(ok[-1])
    out["worker_s"] = sum(r["worker_s"] for r in ok)
    out["problems"] = [p for r in ok for p in r.get("problems", [])]
    for key in ("histogram_record", "counter_add", "loop_overhead"):
        if key in out:
            out[key] = stats_of([t for r in ok for t in r[key]["times_s"]], out[key]["n"])
    if "record_many" in out:
        out["record_many"] = {
            dtype: stats_of([t for r in ok for t in r["record_many"][dtype]["times_s"]], s["n"])
            for dtype, s in out["record_many"].items()
        }
    out["rounds_ok"] = len(ok)
    return out


def parent_main(args: argparse.Namespace) -> int:
    want_otlp = args.only in ("all", "otlp")
    want_ref = args.only in ("all", "reference")
    if want_otlp:
        err = harness.python_error("import otlp; otlp.Exporter.meter; otlp.MetricsConfig")
        if err is not None:
            print(
                "ERROR: this build of otlp has no metrics API (`otlp.Exporter.meter`); build the "
                "extension (maturin develop --release) or use --only reference.\n" + err,
                file=sys.stderr,
            )
            return 2

    plan: list[tuple[str, str, dict[str, str | None]]] = []
    if want_ref:
        plan.append(("numpy", "numpy", {}))
    if want_otlp:
        plan.append(("otlp", "otlp_bulk", {"OTLP_FORCE_SCALAR": None}))
        plan.append(("otlp scalar", "otlp_bulk", {"OTLP_FORCE_SCALAR": "1"}))
    if want_ref:
        plan.append(("official", "official", {}))
    if want_otlp:
        plan.append(("otlp single", "otlp_single", {"OTLP_FORCE_SCALAR": None}))

    progress = harness.progress_stream(args.json)
    raw: dict[str, list[dict[str, Any]]] = {label: [] for label, _, _ in plan}
    t_start = time.monotonic()
    for rnd in range(args.rounds):
        # Alternate the order every round, so slow drift of the machine hits all alike.
        for label, kind, env in plan if rnd % 2 == 0 else plan[::-1]:
            res = run_worker(label, kind, args, env)
            raw[label].append(res)
            tag = f"{label} #{rnd + 1}" if args.rounds > 1 else label
            if "error" in res:
                print(f"  [{tag}] ERROR: {res['error']}", file=sys.stderr, flush=True)
                continue
            parts = []
            for dtype, s in (res.get("record_many") or {}).items():
                parts.append(f"{dtype} {fmt_rate(s['best_rate'])}")
            for k in ("histogram_record", "counter_add"):
                if k in res:
                    parts.append(f"{k} {res[k]['best_ns']:.0f} ns/call")
            print(f"  [{tag}] ({res['worker_s']:.1f}s) " + ", ".join(parts), file=progress, flush=True)
    total_s = time.monotonic() - t_start

    problems: list[str] = []
    for label, runs in raw.items():
        for i, res in enumerate(runs):
            tag = f"{label} #{i + 1}" if args.rounds > 1 else label
            if "error" in res:
                problems.append(f"{tag}: {res['error']}")
            problems += [f"{tag}: {p}" for p in res.get("problems", [])]
    results = {label: merge_runs(runs) for label, runs in raw.items()}

    ours, scalar, npy = results.get("otlp"), results.get("otlp scalar"), results.get("numpy")
    off, single = results.get("official"), results.get("otlp single")

    def rm(res: dict[str, Any] | None, dtype: str, key: str = "best_rate") -> float | None:
        v: float | None = _get(res, "record_many", dtype, key)
        return v

    official_per_value = _get(off, "histogram_record", "best_rate")
    official_per_value_med = _get(off, "histogram_record", "median_rate")
    ratios: dict[str, Any] = {
        "record_many_vs_numpy": harness.ratio(rm(ours, "float64"), rm(npy, "float64")),
        "record_many_vs_numpy_median": harness.ratio(
            rm(ours, "float64", "median_rate"), rm(npy, "float64", "median_rate")
        ),
        "record_many_vs_official_loop": harness.ratio(rm(ours, "float64"), official_per_value),
        "record_many_vs_official_loop_median": harness.ratio(
            rm(ours, "float64", "median_rate"), official_per_value_med
        ),
        "simd_vs_scalar": harness.ratio(rm(ours, "float64"), rm(scalar, "float64")),
        "simd_vs_scalar_median": harness.ratio(
            rm(ours, "float64", "median_rate"), rm(scalar, "float64", "median_rate")
        ),
        "histogram_record_vs_official": harness.ratio(
            _get(off, "histogram_record", "best_ns"), _get(single, "histogram_record", "best_ns")
        ),
        "histogram_record_vs_official_median": harness.ratio(
            _get(off, "histogram_record", "median_ns"), _get(single, "histogram_record", "median_ns")
        ),
        "counter_add_vs_official": harness.ratio(
            _get(off, "counter_add", "best_ns"), _get(single, "counter_add", "best_ns")
        ),
        "counter_add_vs_official_median": harness.ratio(
            _get(off, "counter_add", "median_ns"), _get(single, "counter_add", "median_ns")
        ),
    }
    for dtype in DTYPES[1:]:
        ratios[f"record_many_vs_numpy_{dtype}"] = harness.ratio(rm(ours, dtype), rm(npy, dtype))
        ratios[f"simd_vs_scalar_{dtype}"] = harness.ratio(rm(ours, dtype), rm(scalar, dtype))
    targets = {
        k: {"target": t, "measured": ratios[k], "met": None if ratios[k] is None else ratios[k] >= t}
        for k, t in TARGETS.items()
    }

    meta = {
        "python": sys.version.split()[0],
        "numpy": _get(npy, "numpy"),
        "machine": platform.machine(),
        "cpu_flags": cpu_flags(),
        "cpus": os.cpu_count(),
        "values": args.values,
        "subsample": args.subsample,
        "loop_n": args.loop_n,
        "repeat": args.repeat,
        "rounds": args.rounds,
        "seed": args.seed,
        "boundaries": list(BOUNDS),
        "distribution": f"lognormal(mean={LOGNORMAL_MEAN}, sigma={LOGNORMAL_SIGMA})",
        "attributes": ATTRS,
        "total_s": total_s,
    }
    if args.json:
        print(
            json.dumps(
                {
                    "meta": meta,
                    "ratios": ratios,
                    "targets": targets,
                    "problems": problems,
                    "results": results,
                    "runs": raw,
                },
                indent=2,
            )
        )
    else:
        print_report(args, meta, results, ratios)

    return harness.report_problems("WORKER ERRORS / CORRECTNESS CHECK FAILURES:", problems)


def print_report(
    args: argparse.Namespace, meta: dict[str, Any], results: dict[str, dict[str, Any]], ratios: dict[str, Any]
) -> None:
    ours, scalar, npy = results.get("otlp"), results.get("otlp scalar"), results.get("numpy")
    off, single = results.get("official"), results.get("otlp single")
    print()
    print(
        f"metrics benchmark: {args.values:,} values, {meta['distribution']}, seed {args.seed}, "
        f"{len(BOUNDS)} boundaries, best of {args.repeat * args.rounds} "
        f"({args.rounds} round(s) {TIMES} {args.repeat}, +1 warm-up per process), python {meta['python']}, "
        f"numpy {meta['numpy'] or '-'}, cpu flags: {' '.join(meta['cpu_flags']) or '-'}"
    )
    print()
    print("Histogram.record_many, values/s (best / median)")
    cols = [("otlp", ours), ("otlp scalar", scalar), ("numpy", npy)]
    hdr = (
        f"{'dtype':<8}"
        + "".join(f" {name:>23}" for name, _ in cols)
        + f" {'otlp/numpy':>11} {'otlp/scalar':>12}"
    )
    print(hdr)
    print("-" * len(hdr))
    for dtype in DTYPES:
        row = f"{dtype:<8}"
        for _, res in cols:
            s = _get(res, "record_many", dtype)
            cell = f"{fmt_rate(s['best_rate'])} / {fmt_rate(s['median_rate'])}" if s else "-"
            row += f" {cell:>23}"
        sfx = "" if dtype == "float64" else f"_{dtype}"
        row += f" {fmt_ratio(ratios.get('record_many_vs_numpy' + sfx)):>11}"
        row += f" {fmt_ratio(ratios.get('simd_vs_scalar' + sfx)):>12}"
        print(row)
    print()
    print('single-value calls, ns/call (best / median), attributes {"route": "/"} (same dict), loop included')
    hdr = f"{'call':<36} {'official':>17} {'otlp':>17} {'official/otlp':>14}"
    print(hdr)
    print("-" * len(hdr))
    for key, name in (
        ("histogram_record", "Histogram.record(v, attrs)"),
        ("counter_add", "Counter.add(1, attrs)"),
    ):
        cells = []
        for res in (off, single):
            s = _get(res, key)
            cells.append(f"{s['best_ns']:,.0f} / {s['median_ns']:,.0f}" if s else "-")
        print(f"{name:<36} {cells[0]:>17} {cells[1]:>17} {fmt_ratio(ratios.get(key + '_vs_official')):>14}")
    lo = [_get(r, "loop_overhead", "best_ns") for r in (off, single)]
    lo_txt = " / ".join("-" if x is None else f"{x:.0f}" for x in lo)
    n_off, n_ours = _get(off, "histogram_record", "n"), _get(single, "histogram_record", "n")
    print(
        f"(empty `for v in vals` loop: {lo_txt} ns/iteration in the official / otlp worker; "
        f"official loops {n_off or '-'} calls, otlp {n_ours or '-'})"
    )
    print()
    print("ratios (best; median in parentheses; target from the issue in brackets)")
    lines = [
        ("1. record_many float64: otlp / numpy", "record_many_vs_numpy"),
        ("2. record_many float64 / official record loop, per value", "record_many_vs_official_loop"),
        ("3. record_many float64: default / OTLP_FORCE_SCALAR=1", "simd_vs_scalar"),
        ("4. Histogram.record: official ns / otlp ns", "histogram_record_vs_official"),
        ("4. Counter.add:      official ns / otlp ns", "counter_add_vs_official"),
    ]
    for text, key in lines:
        v, med, t = ratios.get(key), ratios.get(key + "_median"), TARGETS[key]
        verdict = "" if v is None else ("  met" if v >= t else "  NOT MET")
        med_txt = f" ({fmt_ratio(med)})" if med is not None else ""
        print(f"  {text:<58} {fmt_ratio(v):>10}{med_txt:<12} [>= {t:g}{TIMES}]{verdict}")
    simd = ratios.get("simd_vs_scalar")
    if simd is not None and 0.9 < simd < 1.1:
        print(
            "  note: default and OTLP_FORCE_SCALAR=1 run at the same speed: the variable may be "
            "ignored, or this CPU has no SIMD path"
        )
    if off and "boundary_hits" in off:
        print()
        print(
            f"official SDK vs numpy reference: bucket counts agree "
            f"(incl. {off['boundary_hits']:,} int values exactly on a boundary)"
            if not off.get("problems")
            else "official SDK vs numpy reference: MISMATCH (see below)"
        )
    if ours and "checked" in ours:
        ok = not ours.get("problems") and not (scalar or {}).get("problems")
        print(
            "otlp vs numpy reference (exported to a loopback sink, decoded): "
            + ("bucket counts, count, min, max and sum agree" if ok else "MISMATCH (see below)")
            + " for all dtypes, default and scalar"
        )
    print(f"total {meta['total_s']:.1f}s")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_worker"]:
        return worker_main(argv[1:])

    p = argparse.ArgumentParser(
        description="Metrics recording benchmark: otlp vs numpy vs opentelemetry-sdk (one thread)."
    )
    p.add_argument(
        "--only",
        choices=["all", "reference", "otlp"],
        default="all",
        help="all; reference = numpy + official SDK (no extension needed); otlp = ours only",
    )
    p.add_argument("--quick", action="store_true", help="smoke run: 10^6 values, smaller loops, repeat 3")
    p.add_argument("--values", type=int, default=None, help="values per record_many call (default 10^7)")
    p.add_argument(
        "--subsample",
        type=int,
        default=None,
        help="calls per official SDK loop (default 200,000)",
    )
    p.add_argument("--loop-n", type=int, default=None, help="calls per otlp single-value loop (default 10^6)")
    p.add_argument(
        "--int-check",
        type=int,
        default=None,
        help="int values for the official SDK boundary check (default 50,000)",
    )
    p.add_argument("--repeat", type=int, default=None, help="timed runs per measurement (default 5)")
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run every worker this many times, alternating the order; runs are pooled (default 1)",
    )
    p.add_argument("--seed", type=int, default=20240601, help="numpy default_rng seed")
    p.add_argument("--timeout", type=float, default=300.0, help="deadline per worker, seconds (default 300)")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    p.add_argument("-v", "--verbose", action="store_true", help="keep worker stderr in the JSON results")
    args = p.parse_args(argv)
    base = QUICK if args.quick else DEFAULTS
    for k, v in base.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    if args.repeat < 1 or args.rounds < 1:
        p.error("--repeat and --rounds must be >= 1")
    for k in ("values", "subsample", "loop_n", "int_check"):
        if getattr(args, k) < 1:
            p.error(f"--{k.replace('_', '-')} must be >= 1")
    return parent_main(args)


if __name__ == "__main__":
    sys.exit(main())
