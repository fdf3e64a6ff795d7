"""The native path at its limit: CPU per span, app-thread and end-to-end rates, and the
CPU of a steady load, for otlp's native API, for otlp's OpenTelemetry API providers and
for the official SDK + OTLP/gRPC exporter, side by side in one run.

The receiver is ``python -m otlp serve`` in its own process (otlp's Rust receiver; it
answers each request once it has decoded it). Every case runs in a fresh worker process:

* **burst**: ``--spans`` spans (5 attributes, one dict, a ``with`` block) as fast as the
  thread can make them, while the exporter exports them (its queue holds them all, so
  the app thread is not held back by the receiver); then a flush that must report all
  delivered. Reported: app-thread spans/s (made while exporting), end-to-end spans/s
  (first span to the flush that saw the last one acknowledged), and CPU per span: user
  + system time of the whole worker process over that interval (``getrusage``) / spans.
* **steady**: ``--rate`` spans/s for ``--seconds``, made in bursts 10 ms apart; reported:
  the worker's CPU time over that time, as a percentage of one core, and the same loop
  with no telemetry at all (``nullcontext``), the floor any exporter adds to; and the
  application's thread alone (``time.thread_time``), the rest being the exporter's own
  threads.

The official exporter runs fewer spans (``--official-spans``): at its speed a million
would take a minute a run. Rates and CPU per span do not depend on the count once the
run is long against the batch delay.

    python benches/native_limit.py [--spans 1000000] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from typing import Any

import _harness as harness

CASES = ("native", "api", "official")
#: The steady runs make their spans in bursts this many seconds apart.
SLICE = 0.01
LABELS = {
    "native": "otlp native API (exp.tracer().span)",
    "api": "otlp.otel.TracerProvider (OpenTelemetry API)",
    "official": "official SDK + BatchSpanProcessor + OTLP/gRPC",
}


def cpu_seconds() -> float:
    """This process's CPU time so far (user + system), in seconds."""
    return harness.process_cpu_ns() / 1e9


def setup(case: str, endpoint: str, n: int) -> tuple[Any, Any, Any]:
    """(tracer, context-manager method name, flush) for ``case``; the queue holds ``n``.
    ``none``: no telemetry, a ``nullcontext`` per span (the steady runs' floor)."""
    if case == "none":
        import contextlib
        import types

        def nothing(name: str, attributes: Any = None) -> contextlib.nullcontext[None]:
            return contextlib.nullcontext()

        return types.SimpleNamespace(span=nothing), "span", lambda: True
    if case == "official":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        tracing = harness.official_tracing(
            OTLPSpanExporter(endpoint=endpoint, insecure=True), "limit", n, 512
        )
        return (
            tracing.tracer,
            "start_as_current_span",
            lambda: tracing.provider.force_flush(timeout_millis=300_000),
        )
    import otlp

    exp = harness.otlp_exporter(
        endpoint,
        "limit",
        n,
        512,
        queue=otlp.QueueConfig(overflow="block", block_timeout=300.0, max_queue_bytes=harness.QUEUE_BYTES),
    )
    if case == "api":
        from otlp.otel import TracerProvider

        tracer = TracerProvider(exp).get_tracer("limit", "1.0.0")
        return tracer, "start_as_current_span", lambda: exp.force_flush(timeout=300.0)
    return exp.tracer("limit", version="1.0.0"), "span", lambda: exp.force_flush(timeout=300.0)


def worker_main(args: argparse.Namespace) -> int:
    tracer, method, flush = setup(args.case, args.endpoint, args.spans)
    start_cm = getattr(tracer, method)
    attrs = dict(harness.SPAN_ATTRS)
    name = harness.SPAN_NAME
    # Warm up: the connection, the first batch, the code paths.
    for _ in range(2000):
        with start_cm(name, attributes=attrs):
            pass
    if not flush():
        raise SystemExit("warm-up flush failed")
    if args.mode == "burst":
        n = args.spans
        cpu0, t0 = cpu_seconds(), time.perf_counter()
        for _ in range(n):
            with start_cm(name, attributes=attrs):
                pass
        t1 = time.perf_counter()
        ok = flush()
        t2, cpu2 = time.perf_counter(), cpu_seconds()
        harness.emit_result(
            {
                "ok": bool(ok),
                "app": n / (t1 - t0),
                "e2e": n / (t2 - t0),
                "cpu_ns": (cpu2 - cpu0) / n * 1e9,
            }
        )
        return 0
    # steady: args.rate spans/s, in slices of SLICE seconds
    per_s = float(args.rate)
    total = int(args.rate * args.seconds)
    made = 0
    cpu0, t0, thread0 = cpu_seconds(), time.perf_counter(), time.thread_time()
    while made < total:
        due = min(total, int((time.perf_counter() - t0 + SLICE) * per_s))
        while made < due:
            with start_cm(name, attributes=attrs):
                pass
            made += 1
        time.sleep(SLICE)
    t1, cpu1, thread1 = time.perf_counter(), cpu_seconds(), time.thread_time()
    ok = flush()
    harness.emit_result(
        {
            "ok": bool(ok),
            "cpu_pct": (cpu1 - cpu0) / (t1 - t0) * 100.0,
            "app_pct": (thread1 - thread0) / (t1 - t0) * 100.0,
            "rate": made / (t1 - t0),
        }
    )
    return 0


class Serve:
    """``python -m otlp serve`` on a free port, until closed."""

    def __init__(self) -> None:
        port = harness.free_port()
        self.endpoint = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "otlp", "serve", "--grpc", f"127.0.0.1:{port}", "--http", "none"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=harness.clean_env(),
        )
        assert self.proc.stdout is not None
        banner = self.proc.stdout.readline()
        if "listening" not in banner:
            self.close()
            raise SystemExit(f"serve did not start: {banner}")

    def close(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def run_case(case: str, mode: str, args: argparse.Namespace) -> dict[str, Any]:
    serve = Serve()
    try:
        n = args.official_spans if case in ("official", "none") else args.spans
        cmd = [
            sys.executable,
            os.path.abspath(__file__),
            "_worker",
            case,
            mode,
            serve.endpoint,
            str(n),
            str(args.rate),
            str(args.seconds),
        ]
        run = harness.run_worker(cmd, timeout=600.0, env=harness.clean_env())
        if run.result is None:
            raise SystemExit(f"{case} {mode}: the worker failed:\n{run.stderr[-3000:]}")
        if not run.result.get("ok"):
            raise SystemExit(f"{case} {mode}: the flush did not deliver everything")
        return run.result
    finally:
        serve.close()


def parent_main(args: argparse.Namespace) -> int:
    out = sys.stderr if args.json else sys.stdout
    burst: dict[str, list[dict[str, Any]]] = {c: [] for c in CASES}
    steady: dict[str, list[dict[str, Any]]] = {c: [] for c in CASES}
    print(
        f"burst: {args.spans:,} spans (official {args.official_spans:,}); "
        f"steady: {args.rate:,} spans/s for {args.seconds:g} s; {args.repeat} runs, alternating",
        file=out,
    )
    floor: list[float] = []
    floor_app: list[float] = []
    for r in range(args.repeat):
        none = run_case("none", "steady", args)
        floor.append(none["cpu_pct"])
        floor_app.append(none["app_pct"])
        for case in CASES:
            burst[case].append(run_case(case, "burst", args))
            steady[case].append(run_case(case, "steady", args))
            b, s = burst[case][-1], steady[case][-1]
            print(
                f"  run {r + 1} {case:<9} app {b['app']:>12,.0f}/s  e2e {b['e2e']:>12,.0f}/s  "
                f"cpu {b['cpu_ns']:>8,.0f} ns/span  steady {s['cpu_pct']:5.1f}% of a core "
                f"(app thread {s['app_pct']:.1f}%)",
                file=out,
            )
    med = {
        case: {
            "app": statistics.median(r["app"] for r in burst[case]),
            "e2e": statistics.median(r["e2e"] for r in burst[case]),
            "cpu_ns": statistics.median(r["cpu_ns"] for r in burst[case]),
            "steady_pct": statistics.median(r["cpu_pct"] for r in steady[case]),
            "steady_app_pct": statistics.median(r["app_pct"] for r in steady[case]),
        }
        for case in CASES
    }
    off = med["official"]
    print(f"\nmedians of {args.repeat} runs:", file=out)
    print(
        f"{'':<48}{'app /s':>12}{'e2e /s':>12}{'ns/span':>10}{'steady':>9}"
        f"{'app ' + harness.TIMES:>9}{'e2e ' + harness.TIMES:>9}{'cpu ' + harness.TIMES:>9}",
        file=out,
    )
    for case in CASES:
        m = med[case]
        print(
            f"{LABELS[case]:<48}{m['app']:>12,.0f}{m['e2e']:>12,.0f}{m['cpu_ns']:>10,.0f}"
            f"{m['steady_pct']:>8.1f}%"
            f"{m['app'] / off['app']:>8.1f}{harness.TIMES}{m['e2e'] / off['e2e']:>8.1f}{harness.TIMES}"
            f"{off['cpu_ns'] / m['cpu_ns']:>8.1f}{harness.TIMES}",
            file=out,
        )
    print(
        f"(ratios against the official exporter; cpu {harness.TIMES}: how many times less CPU per span)\n"
        f"steady: the same loop with no telemetry at all takes {statistics.median(floor):.1f}% of a core\n"
        "steady, the application's thread alone: "
        + ", ".join(f"{case} {med[case]['steady_app_pct']:.1f}%" for case in CASES)
        + f"; the loop alone {statistics.median(floor_app):.1f}%",
        file=out,
    )
    if args.json:
        print(
            json.dumps(
                {"medians": med, "burst": burst, "steady": steady, "floor": floor, "floor_app": floor_app}
            )
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_worker"]:
        case, mode, endpoint, n, rate, seconds = argv[1:7]
        ns = argparse.Namespace(
            case=case, mode=mode, endpoint=endpoint, spans=int(n), rate=int(rate), seconds=float(seconds)
        )
        return worker_main(ns)
    p = argparse.ArgumentParser(prog="native_limit.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--spans", type=int, default=1_000_000, help="spans per burst run (default 1,000,000)")
    p.add_argument("--official-spans", type=int, default=50_000, help="spans per official burst run")
    p.add_argument("--rate", type=int, default=10_000, help="spans/s of the steady runs (default 10,000)")
    p.add_argument("--seconds", type=float, default=5.0, help="length of a steady run (default 5)")
    p.add_argument("--repeat", type=int, default=3, help="runs per case (default 3)")
    p.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    return parent_main(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
