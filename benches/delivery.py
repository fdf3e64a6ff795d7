#!/usr/bin/env python3
"""Delivery benchmark: memory under a steady load with the collector up and down,
the cost of the disk queue, and the CPU of an idle exporter -- ``otlp`` and the
official OpenTelemetry SDK + OTLP/gRPC exporter side by side.

Run from the repository root::

    python benches/delivery.py                 # everything (about 8 minutes)
    python benches/delivery.py --seconds 20    # shorter steady runs
    python benches/delivery.py --only disk     # one part: rss, disk or idle

Every run is a fresh worker subprocess (``python benches/delivery.py _worker ...``)
with a fresh sink (the grpcio receiver of ``e2e_traces.py``) where one is needed.

* **rss**: a producer paced at ``--rate`` spans/s (default 50,000: 1/100 of it every
  10 ms) for ``--seconds`` (default 60), the spans of ``e2e_traces.py``. Once with the
  collector up, once with it down (a port nobody listens on). Each exporter runs with
  its defaults (a 2,048-span queue that drops when full); ``otlp+disk`` adds a disk
  queue. Reported: RSS of the worker after its imports, before the exporter exists
  (the idle interpreter), the peak RSS during the run (sampled every 100 ms) above it,
  the rate reached, and what was delivered and dropped.
* **disk**: ``--spans`` spans (default 300,000; a fifth of them for the official
  exporter) created at full speed with ``overflow="block"``, flushed and counted at the
  sink: end-to-end spans/s with the memory queue and with a disk queue
  (``fsync="interval"``), both with a memory queue that holds the whole run (as the
  official processor's does), and the official exporter's for reference; best of
  ``--repeat`` (default 3) alternating runs.
* **idle**: traces, metrics (a counter; the default 60 s export interval) and logs set
  up, a little telemetry sent and flushed, then ``--idle-seconds`` (default 20) of
  nothing: CPU time used over wall time, as % of one core.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from typing import Any

import _harness as harness
import e2e_traces
from _harness import TIMES, fmt_rate

HERE = os.path.abspath(__file__)
E2E_SCRIPT = os.path.abspath(e2e_traces.__file__)
SLOTS = e2e_traces.SLOTS
MIB = 1024 * 1024
ATTRS = {
    "http.method": "GET",
    "http.route": "/api/items",
    "http.status_code": 200,
    "net.peer.port": 443,
    "sampled": True,
}


# --------------------------------------------------------------------------
# Worker side
# --------------------------------------------------------------------------
def rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class PeakRss:
    """Samples this process's RSS every 100 ms in a thread; ``peak`` is the highest."""

    def __init__(self) -> None:
        self.peak = rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self.peak = max(self.peak, rss())

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(5)
        self.peak = max(self.peak, rss())
        return self.peak


def official_setup(endpoint: str, signals: str = "traces") -> tuple[Any, Any, Any]:
    """The official SDK with its OTLP/gRPC exporters and default settings: (tracer,
    flush, shutdown); with ``signals="all"``, metrics and logs too."""
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({"service.name": "delivery-bench"})
    tp = TracerProvider(resource=resource)
    tp.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint, insecure=True)))
    providers: list[Any] = [tp]
    if signals == "all":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.sdk._logs import LoggerProvider
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        mp = MeterProvider(
            resource=resource,
            metric_readers=[
                PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=endpoint, insecure=True))
            ],
        )
        lp = LoggerProvider(resource=resource)
        lp.add_log_record_processor(
            BatchLogRecordProcessor(OTLPLogExporter(endpoint=endpoint, insecure=True))
        )
        mp.get_meter("delivery-bench").create_counter("requests").add(1)
        import logging

        from opentelemetry.sdk._logs import LoggingHandler

        log = logging.getLogger("delivery-bench")
        log.addHandler(LoggingHandler(logger_provider=lp))
        log.warning("ready")
        providers += [mp, lp]

    def flush() -> bool:
        return all(p.force_flush(30_000) for p in providers)

    def shutdown() -> None:
        for p in providers:
            p.shutdown()

    return tp.get_tracer("delivery-bench"), flush, shutdown


def otlp_setup(endpoint: str, signals: str = "traces", **options: Any) -> tuple[Any, Any, Any]:
    import otlp

    exp = otlp.Exporter(endpoint, resource={"service.name": "delivery-bench"}, **options)
    if signals == "all":
        import logging

        exp.meter("delivery-bench").counter("requests").add(1)
        log = logging.getLogger("delivery-bench")
        log.addHandler(otlp.LoggingHandler(exp))
        log.warning("ready")
    return exp.tracer("delivery-bench"), (lambda: exp.force_flush(timeout=30.0)), exp


def worker_rss(args: argparse.Namespace) -> dict[str, Any]:
    if args.exporter == "official":
        import opentelemetry.exporter.otlp.proto.grpc.trace_exporter
        import opentelemetry.sdk.trace  # noqa: F401
    else:
        import otlp
    idle = rss()
    exp: Any = None
    if args.exporter == "official":
        tracer, _flush, shutdown = official_setup(args.endpoint)
    else:
        import otlp

        queue = otlp.QueueConfig(directory=args.directory) if args.exporter == "otlp+disk" else None
        tracer, _flush, exp = otlp_setup(args.endpoint, queue=queue)
    sampler = PeakRss()
    per_tick = max(1, args.rate // 100)
    start = time.monotonic()
    end = start + args.seconds
    tick = start
    made = 0
    while (now := time.monotonic()) < end:
        for _ in range(per_tick):
            tracer.start_span("GET /api/items", attributes=ATTRS).end()
        made += per_tick
        tick += 0.01
        if tick > now:
            time.sleep(tick - now)
        else:
            tick = now  # behind: do not try to catch up in a burst
    elapsed = time.monotonic() - start
    peak = sampler.stop()
    result: dict[str, Any] = {"idle_rss": idle, "peak_rss": peak, "made": made, "rate": made / elapsed}
    if exp is not None:
        exp.shutdown(timeout=5.0 if args.down else 30.0)
        s = exp.stats()
        result["dropped"] = s["spans_dropped"] + s["spans_failed"]
        result["on_disk"] = s["spans_left_on_disk"]
    else:
        # A dead collector makes the official exporter retry each batch for its whole
        # timeout: its shutdown is not bounded by the benchmark.
        threading.Thread(target=shutdown, daemon=True).start()
    return result


def worker_disk(args: argparse.Namespace) -> dict[str, Any]:
    counters = harness.Counters(args.counter, SLOTS)
    n = args.spans
    if args.exporter == "official":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        tp = TracerProvider()
        tp.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=args.endpoint, insecure=True), max_queue_size=n)
        )
        tracer = tp.get_tracer("delivery-bench")
        flush: Any = lambda: tp.force_flush(300_000)  # noqa: E731
        close: Any = tp.shutdown
    else:
        import otlp

        queue = otlp.QueueConfig(
            overflow="block",
            block_timeout=300.0,
            directory=args.directory if args.exporter == "otlp+disk" else None,
            fsync="interval",
        )
        # A queue that holds the whole run, as the official processor's does: the
        # producer never waits for export slots, so what differs is the disk's cost.
        batch = otlp.BatchConfig(max_queue_size=n)
        tracer, flush, exp = otlp_setup(args.endpoint, queue=queue, batch=batch)
        close = lambda: exp.shutdown(timeout=300.0)  # noqa: E731
    start = time.monotonic()
    for _ in range(n):
        tracer.start_span("GET /api/items", attributes=ATTRS).end()
    flush()
    ok = harness.wait_for_count(counters, n, time.monotonic() + 300.0)
    elapsed = time.monotonic() - start
    close()
    received = counters.get(harness.SLOT_COUNT)
    counters.close()
    return {"spans": n, "received": received, "complete": ok, "rate": n / elapsed}


def worker_idle(args: argparse.Namespace) -> dict[str, Any]:
    if args.exporter == "official":
        tracer, flush, shutdown = official_setup(args.endpoint, signals="all")
    else:
        tracer, flush, exp = otlp_setup(args.endpoint, signals="all")
        shutdown = lambda: exp.shutdown(timeout=10.0)  # noqa: E731
    for _ in range(100):
        tracer.start_span("GET /api/items", attributes=ATTRS).end()
    flush()
    cpu0, wall0 = time.process_time(), time.monotonic()
    time.sleep(args.seconds)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    shutdown()
    return {"cpu_percent": 100.0 * cpu / wall}


def worker_main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="delivery.py _worker")
    ap.add_argument("part", choices=("rss", "disk", "idle"))
    ap.add_argument("--exporter", required=True)
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--counter", default="")
    ap.add_argument("--directory", default="")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--rate", type=int, default=50_000)
    ap.add_argument("--spans", type=int, default=300_000)
    ap.add_argument("--down", type=int, default=0)
    args = ap.parse_args(argv)
    part = {"rss": worker_rss, "disk": worker_disk, "idle": worker_idle}[args.part]
    harness.emit_result(part(args))
    sys.stdout.flush()
    os._exit(0)  # an official exporter may still be retrying a dead collector


# --------------------------------------------------------------------------
# Parent side
# --------------------------------------------------------------------------
def dead_endpoint() -> str:
    return f"http://127.0.0.1:{harness.free_port()}"


def run(
    part: str, exporter: str, tmp: str, tag: str, timeout: float, sink: bool = True, **options: Any
) -> dict[str, Any]:
    env = harness.clean_env()
    directory = os.path.join(tmp, f"queue-{tag}")
    proc = harness.SinkProcess(E2E_SCRIPT, tmp, tag, SLOTS, env=env) if sink else None
    try:
        endpoint = proc.endpoint if proc else dead_endpoint()
        counter = proc.counter_path if proc else ""
        cmd = harness.worker_cmd(
            HERE, part, exporter=exporter, endpoint=endpoint, counter=counter, directory=directory, **options
        )
        w = harness.run_worker(cmd, timeout, env=env)
        if w.result is None:
            return {"error": "timed out" if w.timed_out else w.failure()}
        result = dict(w.result)
        if proc is not None:
            result["received"] = proc.counters.get(harness.SLOT_COUNT)
        return result
    finally:
        if proc is not None:
            proc.close()
        shutil.rmtree(directory, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_worker":
        return worker_main(argv[1:])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=("rss", "disk", "idle"))
    ap.add_argument("--seconds", type=float, default=60.0, help="length of each steady run (rss)")
    ap.add_argument("--rate", type=int, default=50_000, help="spans/s of the steady runs (rss)")
    ap.add_argument("--spans", type=int, default=300_000, help="spans per disk-queue run")
    ap.add_argument("--repeat", type=int, default=3, help="runs per exporter (disk; the best counts)")
    ap.add_argument("--idle-seconds", type=float, default=20.0)
    ap.add_argument("--json", action="store_true", help="print one JSON document")
    args = ap.parse_args(argv)
    out = harness.progress_stream(args.json)
    report: dict[str, Any] = {}
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="otlp-delivery-") as tmp:
        if args.only in (None, "rss"):
            rows = {}
            for down in (False, True):
                for exporter in ("official", "otlp", "otlp+disk"):
                    key = f"{exporter}, collector {'down' if down else 'up'}"
                    r = run(
                        "rss",
                        exporter,
                        tmp,
                        f"rss-{len(rows)}",
                        args.seconds + 120,
                        sink=not down,
                        seconds=args.seconds,
                        rate=args.rate,
                        down=int(down),
                    )
                    rows[key] = r
                    if "error" in r:
                        problems.append(f"rss {key}: {r['error']}")
                        continue
                    r["above_idle_mib"] = (r["peak_rss"] - r["idle_rss"]) / MIB
                    print(
                        f"  [rss] {key:<28} idle {r['idle_rss'] / MIB:6.1f} MiB,"
                        f" peak +{r['above_idle_mib']:6.1f} MiB,"
                        f" {fmt_rate(r['rate'])} spans/s made, received {r.get('received', 0):,}"
                        + (f", dropped {r['dropped']:,}" if "dropped" in r else "")
                        + (f", left on disk {r['on_disk']:,}" if r.get("on_disk") else ""),
                        file=out,
                    )
            report["rss"] = rows
        if args.only in (None, "disk"):
            rows = {}
            cases = (("official", args.spans // 5), ("otlp", args.spans), ("otlp+disk", args.spans))
            for rep in range(args.repeat):  # alternating, so a machine that slows affects all
                for exporter, n in cases:
                    r = run("disk", exporter, tmp, f"disk-{exporter}-{rep}", 600, spans=n)
                    if "error" in r or not r.get("complete"):
                        error = r.get("error") or "incomplete"
                        problems.append(f"disk {exporter}: {error} ({r.get('received')})")
                        continue
                    print(
                        f"  [disk] {exporter:<10} {n:,} spans end to end: {fmt_rate(r['rate'])}/s", file=out
                    )
                    rates = [*rows.get(exporter, {}).get("rates", []), r["rate"]]
                    best = rows.get(exporter)
                    if best is None or r["rate"] > best["rate"]:
                        rows[exporter] = r
                    rows[exporter]["rates"] = rates
            report["disk"] = rows
        if args.only in (None, "idle"):
            rows = {}
            for exporter in ("official", "otlp"):
                r = run(
                    "idle",
                    exporter,
                    tmp,
                    f"idle-{exporter}",
                    args.idle_seconds + 120,
                    seconds=args.idle_seconds,
                )
                rows[exporter] = r
                if "error" in r:
                    problems.append(f"idle {exporter}: {r['error']}")
                    continue
                print(f"  [idle] {exporter:<10} {r['cpu_percent']:.3f}% of a core", file=out)
            report["idle"] = rows
    print_summary(report, args, out if args.json else sys.stdout)
    if args.json:
        print(json.dumps(report, indent=2))
    return harness.report_problems("delivery benchmark", problems)


def print_summary(report: dict[str, Any], args: argparse.Namespace, out: Any) -> None:
    print(file=out)
    rss = report.get("rss", {})
    for state in ("up", "down"):
        off = rss.get(f"official, collector {state}", {})
        ours = rss.get(f"otlp, collector {state}", {})
        disk = rss.get(f"otlp+disk, collector {state}", {})
        if "above_idle_mib" in ours and "above_idle_mib" in off:
            print(
                f"RSS above idle, collector {state}: otlp {ours['above_idle_mib']:.1f} MiB, "
                f"otlp+disk {disk.get('above_idle_mib', float('nan')):.1f} MiB, "
                f"official {off['above_idle_mib']:.1f} MiB  [target <= 40 MB]; "
                f"rate reached otlp {fmt_rate(ours['rate'])}/s vs official {fmt_rate(off['rate'])}/s "
                f"= {ours['rate'] / off['rate']:.1f}{TIMES} (of {fmt_rate(args.rate)}/s asked)",
                file=out,
            )
    disk = report.get("disk", {})
    if all(disk.get(k, {}).get("complete") for k in ("official", "otlp", "otlp+disk")):
        on, off, official = disk["otlp+disk"]["rate"], disk["otlp"]["rate"], disk["official"]["rate"]
        med_on, med_off = (statistics.median(disk[k]["rates"]) for k in ("otlp+disk", "otlp"))
        print(
            f"disk queue (fsync=interval): best {fmt_rate(on)}/s vs {fmt_rate(off)}/s without, "
            f"costs {100 * (1 - on / off):.0f}% (median {100 * (1 - med_on / med_off):.0f}%)  "
            f"[target <= 30%]; with it otlp / official = {on / official:.1f}{TIMES} end to end",
            file=out,
        )
    idle = report.get("idle", {})
    if "cpu_percent" in idle.get("otlp", {}) and "cpu_percent" in idle.get("official", {}):
        print(
            f"idle CPU: otlp {idle['otlp']['cpu_percent']:.3f}%, "
            f"official {idle['official']['cpu_percent']:.3f}% of a core  [target <= 0.5%]",
            file=out,
        )


if __name__ == "__main__":
    sys.exit(main())
