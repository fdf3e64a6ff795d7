#!/usr/bin/env python3
"""End-to-end trace export benchmark: ``otlp`` vs the official OpenTelemetry
Python SDK + OTLP/gRPC exporter.

Run from the repository root::

    python benches/e2e_traces.py                      # both exporters, 3 repeats
    python benches/e2e_traces.py --only official      # no extension needed
    python benches/e2e_traces.py --shape with --json
    python benches/e2e_traces.py --only sdk           # official vs otlp.sdk's processor

Workload (identical for both exporters): on a single thread, create and end N
spans with 5 attributes each (str, str, int, int, bool), flush the exporter,
then wait until a gRPC sink has received all N spans.  Reported per run:

* ``e2e``      -- wall time from just before the first span is started to the
                  moment the sink finished handling the request that brought
                  its count to N (timestamp taken by the sink itself, on the
                  system-wide monotonic clock).
* ``create``   -- wall time to create+end all N spans (what the application
                  thread pays), before any flush.

Process layout: each run of each exporter gets a fresh sink subprocess (grpcio
server on 127.0.0.1, free port, official opentelemetry-proto
``TraceServiceServicer``; requests are parsed by the generated class and the
span count is summed) and a fresh worker subprocess that runs the exporter.
The three processes share a tiny mmap'ed file holding the sink's counters.
Every wait is bounded by a deadline and every subprocess is killed on exit.

The sink lives in benches/ on purpose (this file, and the harness it shares with
the other benches in ``_harness.py``), so benches do not depend on tests/.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from typing import Any

import _harness as harness
from _harness import TIMES, fmt_rate

HERE = os.path.abspath(__file__)

# The counter file's slots: the harness's base slots, then the request bytes.
SLOTS = (*harness.BASE_SLOTS, "bytes")  # bytes: total serialized request bytes

SERVICE_NAME = "e2e-bench"

DEFAULT_SPANS_OFFICIAL = 50_000
DEFAULT_SPANS_OTLP = 500_000


# --------------------------------------------------------------------------
# Sink subprocess
# --------------------------------------------------------------------------
def sink_main(counter_path: str) -> int:
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

    counters = harness.Counters(counter_path, SLOTS, writable=True)
    tally = harness.Tally(counters)

    def on_request(request: Any, nbytes: int, t0: int) -> None:
        n = 0
        for rs in request.resource_spans:
            for ss in rs.scope_spans:
                n += len(ss.spans)
        tally.record(t0, n, bytes=nbytes)

    # The handler add_TraceServiceServicer_to_server builds, with our own
    # deserializer (so the byte count is free).
    port, stop_server = harness.start_grpc_sink(
        "opentelemetry.proto.collector.trace.v1.TraceService",
        trace_service_pb2.ExportTraceServiceRequest,
        trace_service_pb2.ExportTraceServiceResponse,
        on_request,
    )
    return harness.serve_sink(counters, port, stop_server)


# --------------------------------------------------------------------------
# Worker subprocess: runs one exporter once
# --------------------------------------------------------------------------
def setup_official(args: argparse.Namespace, n: int) -> harness.ExportHooks:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
        OTLPSpanExporter,
    )

    return harness.official_trace_hooks(
        OTLPSpanExporter(endpoint=args.endpoint, insecure=True),
        SERVICE_NAME,
        n,
        args.batch_size,
        args.timeout,
        args.shape,
    )


def setup_otlp(args: argparse.Namespace, n: int) -> harness.ExportHooks:
    exp = harness.otlp_exporter(args.endpoint, SERVICE_NAME, n, args.batch_size)
    return harness.otlp_trace_hooks(exp, SERVICE_NAME, n, args.timeout, args.shape)


def setup_sdk(args: argparse.Namespace, n: int) -> harness.ExportHooks:
    """The official SDK's tracer with ``otlp.sdk.BatchSpanProcessor`` and
    ``otlp.sdk.SpanExporter``: what a user who keeps the SDK gets by changing imports."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    import otlp.sdk

    provider = TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME}))
    processor = otlp.sdk.BatchSpanProcessor(
        otlp.sdk.SpanExporter(endpoint=args.endpoint),
        max_queue_size=max(n, 2048),
        max_export_batch_size=args.batch_size,
    )
    provider.add_span_processor(processor)
    tracer = provider.get_tracer(SERVICE_NAME, "1.0.0")

    def flush() -> bool:
        return bool(provider.force_flush(timeout_millis=int(args.timeout * 1000)))

    def stats() -> dict[str, Any]:
        return dict(processor._exporter.exporter.stats())

    return harness.ExportHooks(
        run=harness.span_loop(tracer, n, args.shape, "start_as_current_span"),
        flush=flush,
        shutdown=provider.shutdown,
        stats=stats,
    )


def setup_sdk_exporter(args: argparse.Namespace, n: int) -> harness.ExportHooks:
    """The official SDK and ``BatchSpanProcessor`` with ``otlp.sdk.SpanExporter``: what
    ``OTEL_TRACES_EXPORTER=otlp_rust`` sets up."""
    import otlp.sdk

    return harness.official_trace_hooks(
        otlp.sdk.SpanExporter(endpoint=args.endpoint),
        SERVICE_NAME,
        n,
        args.batch_size,
        args.timeout,
        args.shape,
    )


def official_request(args: argparse.Namespace) -> bytes:
    """One ``ExportTraceServiceRequest`` of ``--batch-size`` spans, as the official
    exporter's encoder writes it for the benchmark's spans (resource, scope, shape)."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    requests: list[bytes] = []

    class Encode(SpanExporter):  # type: ignore[misc]
        def export(self, spans: Any) -> SpanExportResult:
            requests.append(encode_spans(spans).SerializeToString())
            return SpanExportResult.SUCCESS

    provider, _processor, tracer = harness.official_tracing(
        Encode(), SERVICE_NAME, args.batch_size, args.batch_size
    )
    harness.span_loop(tracer, args.batch_size, args.shape, "start_as_current_span")()
    provider.force_flush()
    provider.shutdown()
    return max(requests, key=len)


def setup_replay(args: argparse.Namespace, n: int) -> harness.ExportHooks:
    """The sink's own ceiling: the official encoder's request of ``--batch-size`` spans,
    encoded once and sent over and over by a grpcio client, with as many in flight as
    otlp keeps by default (2), for ``n`` spans in all (a whole number of requests)."""
    import threading

    import grpc

    data = official_request(args)
    channel = grpc.insecure_channel(args.endpoint.removeprefix("http://"))
    export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
    in_flight = threading.BoundedSemaphore(REPLAY_IN_FLIGHT)
    failed: list[BaseException] = []

    def done(call: Any) -> None:
        if call.exception() is not None:
            failed.append(call.exception())
        in_flight.release()

    def run() -> None:
        for _ in range(n // args.batch_size):
            in_flight.acquire()
            export.future(data, timeout=args.timeout).add_done_callback(done)

    def flush() -> bool:
        for _ in range(REPLAY_IN_FLIGHT):
            in_flight.acquire()
        return not failed

    return harness.ExportHooks(run=run, flush=flush, shutdown=channel.close, stats=dict)


#: Requests the replay keeps in flight: otlp's default ``max_concurrent_exports``.
REPLAY_IN_FLIGHT = 2


SETUPS = {
    "official": setup_official,
    "otlp": setup_otlp,
    "sdk": setup_sdk,
    "sdk-exporter": setup_sdk_exporter,
    "replay": setup_replay,
}


def worker_main(args: argparse.Namespace) -> int:
    n: int = args.spans
    counters = harness.Counters(args.counter, SLOTS)
    setup = SETUPS.get(args.exporter)
    if setup is None:
        raise SystemExit(f"unknown exporter {args.exporter!r}")
    run, flush, shutdown, stats = setup(args, n)

    timing = harness.time_export(
        run, flush, lambda deadline: harness.wait_for_count(counters, n, deadline), counters, args.timeout
    )
    stats_before_shutdown = stats()
    shutdown()
    harness.emit_result(
        {
            "exporter": args.exporter,
            "shape": args.shape,
            "spans": n,
            **timing.result_fields(),
            "sink_bytes": timing.snapshot["bytes"],
            "stats_before_shutdown": stats_before_shutdown,
        }
    )
    counters.close()
    return 0 if timing.complete else harness.RC_INCOMPLETE


# --------------------------------------------------------------------------
# Parent: orchestration, reporting
# --------------------------------------------------------------------------
def run_once(exporter: str, n: int, args: argparse.Namespace, tmp: str, tag: str) -> dict[str, Any]:
    sink = harness.SinkProcess(HERE, tmp, tag, SLOTS)
    try:
        cmd = harness.worker_cmd(
            HERE,
            exporter=exporter,
            endpoint=sink.endpoint,
            counter=sink.counter_path,
            spans=n,
            shape=args.shape,
            batch_size=args.batch_size,
            timeout=args.timeout,
        )
        w = harness.run_worker(cmd, args.timeout + 60)
        if w.result is None:
            return {
                "exporter": exporter,
                "spans": n,
                "error": "worker timed out (killed)" if w.timed_out else w.failure(),
                "received": sink.counters.get(harness.SLOT_COUNT),
            }
        result = w.result
        # Let any stragglers/duplicates land, then read the final count.
        time.sleep(0.2)
        result["received"] = sink.counters.get(harness.SLOT_COUNT)
        rc_error = w.rc_error()
        if rc_error:
            result["error"] = rc_error
        harness.keep_stderr(result, w, args.verbose)
        return result
    finally:
        sink.close()


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in runs if "error" not in r and r.get("complete") and r.get("received") == r["spans"]]
    out: dict[str, Any] = {"runs": len(runs), "ok_runs": len(ok)}
    if not ok:
        return out
    out.update(
        spans=ok[0]["spans"],
        **harness.e2e_stats(ok, "spans"),
        **harness.create_stats(ok, "spans"),
        sink_busy_s_median=statistics.median(r["sink_busy_s"] for r in ok),
        sink_requests=harness.best_run(ok, "spans")["sink_requests"],
        cpu_us_per_span_median=statistics.median(r["cpu_s"] / r["spans"] * 1e6 for r in ok),
        sink_cpu_us_per_span_median=harness.median_or_none(
            None if r.get("sink_cpu_s") is None else r["sink_cpu_s"] / r["spans"] * 1e6 for r in ok
        ),
    )
    return out


def cpu_bound(s: dict[str, Any]) -> float | None:
    """The end-to-end rate the machine's cores allow at the measured CPU per span of the
    exporter's process and the sink's together, were they kept busy all the time."""
    sink = s.get("sink_cpu_us_per_span_median")
    if not s.get("ok_runs") or sink is None:
        return None
    return (os.cpu_count() or 1) * 1e6 / (s["cpu_us_per_span_median"] + sink)


def check_counts(runs: list[dict[str, Any]]) -> list[str]:
    problems = []
    for i, r in enumerate(runs):
        if "error" in r:
            problems.append(f"{r['exporter']} run {i + 1}: {r['error']}")
        elif r.get("received") != r["spans"]:
            problems.append(
                f"{r['exporter']} run {i + 1}: sink received {r.get('received')} spans, "
                f"expected exactly {r['spans']}"
            )
        elif r.get("stats_before_shutdown", {}).get("spans_dropped"):
            problems.append(
                f"{r['exporter']} run {i + 1}: exporter reports "
                f"{r['stats_before_shutdown']['spans_dropped']} dropped spans"
            )
        elif not r.get("flush_ok", True):
            problems.append(f"{r['exporter']} run {i + 1}: force_flush returned False (spans arrived anyway)")
    return problems


def parent_main(args: argparse.Namespace) -> int:
    exporters = {
        "both": ["official", "otlp"],
        "sdk": ["official", "sdk", "sdk-exporter"],
        "all": ["official", "otlp", "sdk", "sdk-exporter"],
    }.get(args.only, [args.only])
    n_for = {
        "official": args.spans_official if args.spans_official else (args.spans or DEFAULT_SPANS_OFFICIAL),
        "otlp": args.spans_otlp if args.spans_otlp else (args.spans or DEFAULT_SPANS_OTLP),
        # Spans are made by the official SDK: as many as for the official exporter.
        "sdk": args.spans_official if args.spans_official else (args.spans or DEFAULT_SPANS_OFFICIAL),
    }
    n_for["sdk-exporter"] = n_for["sdk"]
    # As many spans as otlp's runs, in whole requests.
    n_for["replay"] = -(-n_for["otlp"] // args.batch_size) * args.batch_size
    if "otlp" in exporters and "official" in exporters and not args.no_ceiling:
        exporters.append("replay")

    if exporters != ["official"] and not harness.otlp_extension_ok():
        return 2

    runs: dict[str, list[dict[str, Any]]] = {e: [] for e in exporters}
    with tempfile.TemporaryDirectory(prefix="otlp-bench-") as tmp:
        # Interleave exporters so slow drift of the machine hits both alike.
        for rep in range(args.repeat):
            for e in exporters:
                res = run_once(e, n_for[e], args, tmp, f"{e}-{rep}")
                runs[e].append(res)
                # Progress goes to stdout for the table, to stderr with --json.
                out = harness.progress_stream(args.json)
                if "error" in res:
                    print(
                        f"  [{e} #{rep + 1}] ERROR: {res['error']}",
                        file=sys.stderr,
                        flush=True,
                    )
                else:
                    print(
                        f"  [{e} #{rep + 1}] {res['spans']:,} spans: e2e {res['e2e_s']:.3f}s "
                        f"({fmt_rate(res['spans'] / res['e2e_s'])}/s), create {res['create_s']:.3f}s "
                        f"({fmt_rate(res['spans'] / res['create_s'])}/s), sink got {res['received']:,} "
                        f"in {res['sink_requests']} requests (sink busy {res['sink_busy_s']:.3f}s); "
                        f"CPU per span: exporter {res['cpu_s'] / res['spans'] * 1e6:.2f} µs, "
                        + (
                            f"sink {res['sink_cpu_s'] / res['spans'] * 1e6:.2f} µs"
                            if res.get("sink_cpu_s") is not None
                            else "sink n/a"
                        ),
                        file=out,
                        flush=True,
                    )

    summary = {e: summarize(runs[e]) for e in exporters}
    problems = [p for e in exporters for p in check_counts(runs[e])]

    imports: dict[str, Any] = {}
    if not args.no_import_time:
        stmts = {
            "official": "import opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
            "otlp": "import otlp",
            "sdk": "import otlp.sdk",
            "sdk-exporter": "import otlp.sdk",
        }
        imports = harness.measure_imports({e: stmts[e] for e in exporters if e in stmts}, args.import_runs)

    ratios: dict[str, Any] = harness.otlp_over_official(summary.get("otlp", {}), summary.get("official", {}))
    for name in ("sdk", "sdk-exporter", "replay"):
        more = harness.otlp_over_official(summary.get(name, {}), summary.get("official", {}))
        ratios.update({f"{name.replace('-', '_')}_{k}": v for k, v in more.items()})
    ratios.update(harness.import_ratios(imports))

    if args.json:
        print(
            json.dumps(
                {
                    "python": sys.version.split()[0],
                    "shape": args.shape,
                    "batch_size": args.batch_size,
                    "repeat": args.repeat,
                    "summary": summary,
                    "ratios": ratios,
                    "imports": imports,
                    "problems": problems,
                    "runs": runs,
                },
                indent=2,
            )
        )
    else:
        print()
        print(
            f"e2e traces benchmark: shape={args.shape}, 5 attributes/span, batch={args.batch_size}, "
            f"repeat={args.repeat}, python {sys.version.split()[0]}"
        )
        hdr = (
            f"{'exporter':<12} {'spans':>9} {'seconds':>8} {'spans/s best':>13} {'spans/s med':>12} "
            f"{'create/s best':>14} {'create/s med':>13} {'sink busy':>9}"
        )
        print(hdr)
        print("-" * len(hdr))
        for e in exporters:
            s = summary[e]
            if not s.get("ok_runs"):
                print(f"{e:<12} {'(no successful run)':>9}")
                continue
            create = (
                f"{fmt_rate(s['best_create_rate']):>14} {fmt_rate(s['median_create_rate']):>13}"
                if e != "replay"  # no spans are made
                else f"{'-':>14} {'-':>13}"
            )
            print(
                f"{e:<12} {s['spans']:>9,} {s['best_e2e_s']:>8.3f} {fmt_rate(s['best_e2e_rate']):>13} "
                f"{fmt_rate(s['median_e2e_rate']):>12} {create} {s['sink_busy_s_median']:>8.2f}s"
            )
        print()
        print("CPU per span (medians; the exporter's whole process, and the sink's process):")
        for e in exporters:
            s = summary[e]
            if not s.get("ok_runs"):
                continue
            sink = s["sink_cpu_us_per_span_median"]
            bound = cpu_bound(s)
            print(
                f"  {e:<12} exporter {s['cpu_us_per_span_median']:8.2f} µs   sink "
                + (f"{sink:6.2f} µs" if sink is not None else "   n/a")
                + (
                    f"   {os.cpu_count()} cores allow at most {fmt_rate(bound)}/s end to end"
                    if bound is not None
                    else ""
                )
            )
        if "e2e_best" in ratios:
            print()
            print(
                f"ratio otlp/official = {ratios['e2e_best']:.1f}{TIMES} (end-to-end, best; "
                f"median {ratios['e2e_median']:.1f}{TIMES})"
            )
            print(
                f"ratio otlp/official = {ratios['create_best']:.1f}{TIMES} "
                "(create+end on the app thread, best; "
                f"median {ratios['create_median']:.1f}{TIMES})"
            )
        if "replay_e2e_median" in ratios and "e2e_median" in ratios:
            print()
            print(
                f"the sink's own limit: {fmt_rate(summary['replay']['median_e2e_rate'])}/s (median; one "
                f"official request replayed, {REPLAY_IN_FLIGHT} in flight) = "
                f"{ratios['replay_e2e_median']:.1f}{TIMES} the official; otlp reached "
                f"{summary['otlp']['median_e2e_rate'] / summary['replay']['median_e2e_rate']:.0%} of it"
            )
        if "sdk_e2e_best" in ratios:
            print()
            print(
                f"ratio sdk/official = {ratios['sdk_e2e_best']:.1f}{TIMES} (the SDK with otlp.sdk's "
                f"processor and exporter, end-to-end, best; median {ratios['sdk_e2e_median']:.1f}{TIMES})"
            )
            print(
                f"ratio sdk/official = {ratios['sdk_create_best']:.1f}{TIMES} "
                "(create+end on the app thread, best; "
                f"median {ratios['sdk_create_median']:.1f}{TIMES})"
            )
        if "sdk_exporter_e2e_best" in ratios:
            print(
                f"ratio sdk-exporter/official = {ratios['sdk_exporter_e2e_best']:.1f}{TIMES} (the SDK's "
                "BatchSpanProcessor with otlp.sdk.SpanExporter, as OTEL_TRACES_EXPORTER=otlp_rust "
                f"sets it up, end-to-end, best; median {ratios['sdk_exporter_e2e_median']:.1f}{TIMES})"
            )
        if imports:
            harness.print_import_times(imports, ratios, args.import_runs)

    return harness.report_problems(
        "SPAN COUNT / RUN PROBLEMS (runs with a wrong count are left out of the summary):", problems
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_sink"]:
        return sink_main(argv[1])
    if argv[:1] == ["_worker"]:
        p = argparse.ArgumentParser(prog="e2e_traces.py _worker")
        p.add_argument("--exporter", required=True, choices=list(SETUPS))
        p.add_argument("--endpoint", required=True)
        p.add_argument("--counter", required=True)
        p.add_argument("--spans", type=int, required=True)
        p.add_argument("--shape", choices=["start_end", "with"], default="start_end")
        p.add_argument("--batch-size", type=int, default=512)
        p.add_argument("--timeout", type=float, default=300.0)
        return worker_main(p.parse_args(argv[1:]))

    p = argparse.ArgumentParser(
        description="End-to-end OTLP/gRPC trace export benchmark: otlp vs opentelemetry-sdk."
    )
    p.add_argument(
        "--only",
        choices=["both", "all", *SETUPS],
        default="both",
        help="which exporter(s) to run: both (official and otlp, the default), sdk (official; the "
        "official SDK with otlp.sdk's BatchSpanProcessor and SpanExporter; and the SDK's own "
        "BatchSpanProcessor with otlp.sdk.SpanExporter), all (the four), or one alone",
    )
    p.add_argument(
        "--spans",
        type=int,
        default=None,
        help=f"spans per run for both exporters (default: official {DEFAULT_SPANS_OFFICIAL:,}, "
        f"otlp {DEFAULT_SPANS_OTLP:,})",
    )
    p.add_argument(
        "--spans-official",
        type=int,
        default=None,
        help="spans per run for the official exporter",
    )
    p.add_argument("--spans-otlp", type=int, default=None, help="spans per run for otlp")
    p.add_argument("--repeat", type=int, default=3, help="runs per exporter (default 3)")
    p.add_argument(
        "--shape",
        choices=["start_end", "with"],
        default="start_end",
        help="start_end: tracer.start_span(...).end(); with: context-manager span (default start_end)",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=512,
        help="max_export_batch_size for both exporters (default 512, the SDK default)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="deadline per run, seconds (default 300)",
    )
    p.add_argument(
        "--import-runs",
        type=int,
        default=5,
        help="subprocess runs per import-time measurement",
    )
    p.add_argument("--no-import-time", action="store_true", help="skip the import-time measurement")
    p.add_argument(
        "--no-ceiling",
        action="store_true",
        help="skip the sink's own limit: with both exporters, a grpcio client replays one request "
        "of the official encoder's as fast as the sink takes it, for as many spans as otlp's runs",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document instead of the table",
    )
    p.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="keep worker stderr in the JSON results",
    )
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error("--repeat must be >= 1")
    return parent_main(args)


if __name__ == "__main__":
    sys.exit(main())
