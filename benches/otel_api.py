#!/usr/bin/env python3
"""Instrumented code through the OpenTelemetry API: the official SDK vs otlp's providers.

Run from the repository root::

    python benches/otel_api.py                        # both parts, 3 repeats
    python benches/otel_api.py --part spans           # spans/s end to end only
    python benches/otel_api.py --part flask --json    # Flask request latency only
    python benches/otel_api.py --only official        # no extension needed

The same code runs against every pipeline; only the providers behind the OpenTelemetry
API differ:

* ``official``: ``opentelemetry-sdk`` ``TracerProvider`` + ``BatchSpanProcessor`` +
  ``OTLPSpanExporter`` (OTLP/gRPC); for the Flask part also the SDK ``MeterProvider``
  with a ``PeriodicExportingMetricReader`` + ``OTLPMetricExporter``. What
  ``opentelemetry-instrument`` sets up with opentelemetry-distro.
* ``otlp``: ``otlp.otel.TracerProvider`` (and ``MeterProvider``) on one
  ``otlp.Exporter`` (OTLP/gRPC). What ``OTEL_PYTHON_DISTRO=otlp`` sets up.
* ``sdk+otlp``: the SDK's ``TracerProvider`` with ``otlp.sdk.BatchSpanProcessor`` +
  ``otlp.sdk.SpanExporter`` (and the SDK ``MeterProvider`` with ``otlp.sdk.MetricExporter``):
  for users who keep the SDK and swap the export path.
* ``none`` (Flask part): the same app without instrumentation.
* ``noop`` (Flask part): the instrumentation on the API's no-op providers: what the
  instrumentation library itself costs, which no provider can take away.

Parts:

* **spans**: on one thread, N times ``with tracer.start_as_current_span(name,
  attributes=5 attributes): pass`` (``--shape start_end``: ``start_span(...).end()``),
  through ``opentelemetry.trace``; flush; wait until the sink has all N spans. Spans/s
  end to end (first span started to the sink's handling of the request that completed
  the count) and on the application thread. Targets: otlp >= 10x official, sdk+otlp >=
  3x official.
* **flask**: a Flask app instrumented by ``opentelemetry-instrumentation-flask``
  (``FlaskInstrumentor().instrument_app``: a server span with the HTTP attributes, the
  duration histogram and active-requests counter per request), driven in process by
  Flask's test client (no sockets: nothing but the app and the instrumentation is
  timed). W warm-up requests, then N timed ones, each timed alone; p50 and p99, and what
  instrumentation adds to each (pipeline minus ``none``, from the median run of each). The
  exporter runs meanwhile against the sink, as in production; the run then flushes and
  checks that every span arrived.

Process layout as in ``e2e_traces.py``: each run of each pipeline gets a fresh sink
subprocess (grpcio on 127.0.0.1, free port, the official opentelemetry-proto trace,
metrics and logs services; spans are counted, the rest answered) and a fresh worker
subprocess; runs alternate between pipelines. Every wait is bounded and every subprocess
is killed on exit.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import _harness as harness
from _harness import TIMES, fmt_rate

HERE = os.path.abspath(__file__)

SLOTS = (*harness.BASE_SLOTS, "metric_requests", "log_requests")
SERVICE_NAME = "otel-api-bench"

PIPELINES = ("official", "otlp", "sdk+otlp")
# Flask part only: no instrumentation, and the instrumentation on the API's no-op
# providers (its own cost: what no provider can take away).
UNEXPORTED = ("none", "noop")
TARGETS = {"otlp": 10.0, "sdk+otlp": 3.0}  # spans/s end to end over official (the issue)
DEFAULT_SPANS = {"official": 50_000, "otlp": 500_000, "sdk+otlp": 100_000}
DEFAULT_REQUESTS = 10_000
DEFAULT_WARMUP = 1_000


# --------------------------------------------------------------------------
# Sink subprocess: trace, metrics and logs services on one port
# --------------------------------------------------------------------------
def sink_main(counter_path: str) -> int:
    from concurrent import futures

    import grpc  # type: ignore[import-untyped]
    from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as lpb
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as mpb
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as tpb

    counters = harness.Counters(counter_path, SLOTS, writable=True)
    tally = harness.Tally(counters)

    def traces(request: Any, _context: Any) -> Any:
        req, t0 = request
        tally.record(t0, sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans))
        return tpb.ExportTraceServiceResponse()

    def other(slot: str, response: Any) -> Callable[[Any, Any], Any]:
        def export(request: Any, _context: Any) -> Any:
            tally.record(request[1], 0, **{slot: 1})
            return response

        return export

    def parse(cls: Any) -> Callable[[bytes], Any]:
        return lambda data: (cls.FromString(data), time.monotonic_ns())

    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4),
        options=[("grpc.max_receive_message_length", 256 * 1024 * 1024), ("grpc.so_reuseport", 0)],
    )
    for pb, service, export, request_cls, response_cls in (
        (tpb, "TraceService", traces, tpb.ExportTraceServiceRequest, tpb.ExportTraceServiceResponse),
        (
            mpb,
            "MetricsService",
            other("metric_requests", mpb.ExportMetricsServiceResponse()),
            mpb.ExportMetricsServiceRequest,
            mpb.ExportMetricsServiceResponse,
        ),
        (
            lpb,
            "LogsService",
            other("log_requests", lpb.ExportLogsServiceResponse()),
            lpb.ExportLogsServiceRequest,
            lpb.ExportLogsServiceResponse,
        ),
    ):
        handler = grpc.method_handlers_generic_handler(
            pb.DESCRIPTOR.services_by_name[service].full_name,
            {
                "Export": grpc.unary_unary_rpc_method_handler(
                    export,
                    request_deserializer=parse(request_cls),
                    response_serializer=response_cls.SerializeToString,
                )
            },
        )
        server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    if not port:
        raise RuntimeError("grpcio: could not bind a port on 127.0.0.1")
    server.start()
    # The "count" slot counts spans only: metrics and logs requests add to their own slots.
    return harness.serve_sink(counters, port, lambda: server.stop(0.5).wait(2))


# --------------------------------------------------------------------------
# Worker subprocess: the pipelines
# --------------------------------------------------------------------------
class Pipeline:
    """The providers of one pipeline, the OpenTelemetry API's globals set to them."""

    def __init__(self, name: str, endpoint: str, queue: int, batch_size: int, metrics: bool) -> None:
        from opentelemetry import metrics as metrics_api
        from opentelemetry import trace

        self.name = name
        self.exporter: Any = None
        if name == "official":
            self.tracer_provider, self.meter_provider = self._official(endpoint, queue, batch_size, metrics)
        elif name == "otlp":
            self.tracer_provider, self.meter_provider = self._otlp(endpoint, queue, batch_size, metrics)
        elif name == "sdk+otlp":
            self.tracer_provider, self.meter_provider = self._sdk_otlp(endpoint, queue, batch_size, metrics)
        else:
            raise SystemExit(f"unknown pipeline {name!r}")
        trace.set_tracer_provider(self.tracer_provider)
        if self.meter_provider is not None:
            metrics_api.set_meter_provider(self.meter_provider)

    @staticmethod
    def _official(endpoint: str, queue: int, batch_size: int, metrics: bool) -> tuple[Any, Any]:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        resource = Resource.create({"service.name": SERVICE_NAME})
        tracer_provider = TracerProvider(resource=resource)
        tracer_provider.add_span_processor(
            BatchSpanProcessor(
                OTLPSpanExporter(endpoint=endpoint, insecure=True),
                max_queue_size=queue,
                max_export_batch_size=batch_size,
            )
        )
        meter_provider = None
        if metrics:
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
            from opentelemetry.sdk.metrics import MeterProvider
            from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

            reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=endpoint, insecure=True))
            meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
        return tracer_provider, meter_provider

    def _otlp(self, endpoint: str, queue: int, batch_size: int, metrics: bool) -> tuple[Any, Any]:
        import otlp
        import otlp.otel

        self.exporter = otlp.Exporter(
            endpoint,
            protocol="grpc",
            resource={"service.name": SERVICE_NAME},
            batch=otlp.BatchConfig(max_queue_size=queue, max_export_batch_size=batch_size),
            # Like the SDK's queue of `queue` spans: room for the whole run, whatever its
            # size in bytes (the default byte bound, 64 MiB, holds ~350k of these spans).
            queue=otlp.QueueConfig(max_queue_bytes=1 << 31),
        )
        meter_provider = otlp.otel.MeterProvider(exporter=self.exporter) if metrics else None
        return otlp.otel.TracerProvider(exporter=self.exporter), meter_provider

    @staticmethod
    def _sdk_otlp(endpoint: str, queue: int, batch_size: int, metrics: bool) -> tuple[Any, Any]:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider

        import otlp.sdk

        resource = Resource.create({"service.name": SERVICE_NAME})
        tracer_provider = TracerProvider(resource=resource)
        tracer_provider.add_span_processor(
            otlp.sdk.BatchSpanProcessor(
                otlp.sdk.SpanExporter(endpoint=endpoint, insecure=True),
                max_queue_size=queue,
                max_export_batch_size=batch_size,
            )
        )
        meter_provider = None
        if metrics:
            from opentelemetry.sdk.metrics import MeterProvider
            from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

            reader = PeriodicExportingMetricReader(otlp.sdk.MetricExporter(endpoint=endpoint, insecure=True))
            meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
        return tracer_provider, meter_provider

    def flush(self, timeout: float) -> bool:
        if self.exporter is not None:
            return bool(self.exporter.force_flush(timeout=timeout))
        return bool(self.tracer_provider.force_flush(timeout_millis=int(timeout * 1000)))

    def shutdown(self) -> None:
        if self.meter_provider is not None:
            self.meter_provider.shutdown()
        self.tracer_provider.shutdown()
        if self.exporter is not None:
            self.exporter.shutdown()

    def stats(self) -> dict[str, Any]:
        return dict(self.exporter.stats()) if self.exporter is not None else {}


def spans_worker(args: argparse.Namespace) -> int:
    from opentelemetry import trace

    n: int = args.n
    counters = harness.Counters(args.counter, SLOTS)
    pipeline = Pipeline(args.pipeline, args.endpoint, max(n, 2048), args.batch_size, metrics=False)
    tracer = trace.get_tracer(SERVICE_NAME, "1.0.0")
    run = harness.span_loop(tracer, n, args.shape, "start_as_current_span")
    timing = harness.time_export(
        run,
        lambda: pipeline.flush(args.timeout),
        lambda deadline: harness.wait_for_count(counters, n, deadline),
        counters,
        args.timeout,
    )
    stats = pipeline.stats()
    pipeline.shutdown()
    harness.emit_result(
        {"pipeline": args.pipeline, "n": n, **timing.result_fields(), "stats_before_shutdown": stats}
    )
    counters.close()
    return 0 if timing.complete else harness.RC_INCOMPLETE


def make_flask_app() -> Any:
    import flask

    app = flask.Flask("shop")

    @app.get("/items/<int:item>")
    def item(item: int) -> Any:
        return {"item": item, "price": 12.5, "tags": ["blue", "large"]}

    return app


def flask_worker(args: argparse.Namespace) -> int:
    n, warmup = args.n, args.warmup
    total = n + warmup
    counters = harness.Counters(args.counter, SLOTS)
    app = make_flask_app()
    pipeline = None
    if args.pipeline == "noop":
        from opentelemetry import metrics, trace
        from opentelemetry.instrumentation.flask import FlaskInstrumentor

        FlaskInstrumentor().instrument_app(
            app, tracer_provider=trace.NoOpTracerProvider(), meter_provider=metrics.NoOpMeterProvider()
        )
    elif args.pipeline != "none":
        from opentelemetry.instrumentation.flask import FlaskInstrumentor

        pipeline = Pipeline(args.pipeline, args.endpoint, max(total, 2048), args.batch_size, metrics=True)
        FlaskInstrumentor().instrument_app(
            app, tracer_provider=pipeline.tracer_provider, meter_provider=pipeline.meter_provider
        )
    client = app.test_client()
    clock = time.perf_counter_ns
    latencies = [0] * n
    for i in range(warmup):
        client.get(f"/items/{i}").close()
    t0 = time.monotonic_ns()
    for i in range(n):
        start = clock()
        client.get(f"/items/{i}").close()
        latencies[i] = clock() - start
    elapsed = (time.monotonic_ns() - t0) / 1e9
    result: dict[str, Any] = {"pipeline": args.pipeline, "n": n, "warmup": warmup, "elapsed_s": elapsed}
    if pipeline is not None:
        flushed = pipeline.flush(args.timeout)
        complete = harness.wait_for_count(counters, total, time.monotonic() + args.timeout)
        result.update(
            flush_ok=flushed,
            complete=complete,
            received=counters.get(harness.SLOT_COUNT),
            expected=total,
            stats_before_shutdown=pipeline.stats(),
        )
        pipeline.shutdown()
    latencies.sort()
    result.update(
        p50_us=latencies[n // 2] / 1000,
        p99_us=latencies[min(n - 1, (n * 99) // 100)] / 1000,
        mean_us=statistics.fmean(latencies) / 1000,
        max_us=latencies[-1] / 1000,
    )
    harness.emit_result(result)
    counters.close()
    return 0 if result.get("complete", True) else harness.RC_INCOMPLETE


# --------------------------------------------------------------------------
# Parent
# --------------------------------------------------------------------------
def run_once(
    part: str, pipeline: str, n: int, args: argparse.Namespace, tmp: str, tag: str
) -> dict[str, Any]:
    sink = harness.SinkProcess(HERE, tmp, tag, SLOTS, env=harness.clean_env())
    try:
        options: dict[str, object] = {
            "pipeline": pipeline,
            "endpoint": sink.endpoint,
            "counter": sink.counter_path,
            "n": n,
            "batch_size": args.batch_size,
            "timeout": args.timeout,
        }
        if part == "spans":
            options["shape"] = args.shape
        else:
            options["warmup"] = args.warmup
        cmd = harness.worker_cmd(HERE, part, **options)
        w = harness.run_worker(cmd, args.timeout + 60, env=harness.clean_env())
        if w.result is None:
            return {
                "pipeline": pipeline,
                "n": n,
                "error": "worker timed out (killed)" if w.timed_out else w.failure(),
            }
        result = w.result
        result["received"] = sink.counters.get(harness.SLOT_COUNT)
        rc_error = w.rc_error()
        if rc_error:
            result["error"] = rc_error
        harness.keep_stderr(result, w, args.verbose)
        return result
    finally:
        sink.close()


def run_problem(part: str, i: int, r: dict[str, Any]) -> str | None:
    who = f"{part} {r['pipeline']} run {i + 1}"
    if "error" in r:
        return f"{who}: {r['error']}"
    expected = r["n"] + r.get("warmup", 0) if r["pipeline"] not in UNEXPORTED else 0
    stats = r.get("stats_before_shutdown", {})
    dropped = {k: v for k, v in stats.items() if k.startswith("spans_dropped") and v}
    if r.get("received") != expected:
        return f"{who}: sink received {r.get('received')} spans, expected exactly {expected} {dropped or ''}"
    if dropped:
        return f"{who}: the exporter reports dropped spans {dropped}"
    return None


def spans_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"runs": len(runs), "ok_runs": len(runs)}
    if runs:
        out.update(
            n=runs[0]["n"],
            **harness.e2e_stats(runs, "n"),
            **harness.create_stats(runs, "n"),
        )
    return out


def flask_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"runs": len(runs), "ok_runs": len(runs)}
    if runs:
        out.update(
            n=runs[0]["n"],
            best_p50_us=min(r["p50_us"] for r in runs),
            best_p99_us=min(r["p99_us"] for r in runs),
            median_p50_us=statistics.median(r["p50_us"] for r in runs),
            median_p99_us=statistics.median(r["p99_us"] for r in runs),
        )
    return out


def progress(part: str, rep: int, r: dict[str, Any], out: Any) -> None:
    head = f"  [{part} {r['pipeline']} #{rep + 1}]"
    if "error" in r:
        print(f"{head} ERROR: {r['error']}", file=sys.stderr, flush=True)
    elif part == "spans":
        print(
            f"{head} {r['n']:,} spans: e2e {r['e2e_s']:.3f}s ({fmt_rate(r['n'] / r['e2e_s'])}/s), "
            f"create {r['create_s']:.3f}s ({fmt_rate(r['n'] / r['create_s'])}/s), sink got "
            f"{r['received']:,} in {r['sink_requests']} requests",
            file=out,
            flush=True,
        )
    else:
        print(
            f"{head} {r['n']:,} requests in {r['elapsed_s']:.2f}s: p50 {r['p50_us']:.1f} us, "
            f"p99 {r['p99_us']:.1f} us, mean {r['mean_us']:.1f} us, max {r['max_us']:.0f} us"
            + (f"; sink got {r['received']:,} spans" if r["pipeline"] not in UNEXPORTED else ""),
            file=out,
            flush=True,
        )


def parent_main(args: argparse.Namespace) -> int:
    pipelines = [p for p in PIPELINES if args.only in ("all", p)]
    parts = ["spans", "flask"] if args.part == "both" else [args.part]
    if any(p != "official" for p in pipelines) and not harness.otlp_extension_ok():
        return 2
    out = harness.progress_stream(args.json)
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {}
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="otlp-bench-") as tmp:
        for part in parts:
            names = pipelines if part == "spans" else [*UNEXPORTED, *pipelines]
            runs[part] = {p: [] for p in names}
            for rep in range(args.repeat):
                for p in names:
                    n = (args.spans or DEFAULT_SPANS[p]) if part == "spans" else args.requests
                    r = run_once(part, p, n, args, tmp, f"{part}-{p}-{rep}".replace("+", "_"))
                    runs[part][p].append(r)
                    progress(part, rep, r, out)

    summary: dict[str, dict[str, Any]] = {}
    for part, by_pipeline in runs.items():
        summary[part] = {}
        for p, rs in by_pipeline.items():
            bad = [(i, run_problem(part, i, r)) for i, r in enumerate(rs)]
            problems += [msg for _, msg in bad if msg]
            ok = [r for (_, msg), r in zip(bad, rs, strict=True) if msg is None]
            summary[part][p] = (spans_summary if part == "spans" else flask_summary)(ok)
            summary[part][p]["runs"] = len(rs)

    ratios: dict[str, Any] = {}
    if "spans" in summary:
        official = summary["spans"].get("official", {})
        for p in ("otlp", "sdk+otlp"):
            if p in summary["spans"] and official.get("ok_runs") and summary["spans"][p].get("ok_runs"):
                ratios[f"spans_{p}_over_official"] = harness.otlp_over_official(summary["spans"][p], official)
    if "flask" in summary:
        base = summary["flask"].get("none", {})
        for p in ("noop", *pipelines):
            s = summary["flask"].get(p, {})
            if base.get("runs") and s.get("ok_runs"):
                # From the medians: the best of a few runs is the quietest one, and on a
                # shared machine its tail says more about the neighbours than the pipeline.
                s["added_p50_us"] = s["median_p50_us"] - base["median_p50_us"]
                s["added_p99_us"] = s["median_p99_us"] - base["median_p99_us"]
        official = summary["flask"].get("official", {})
        for p in ("otlp", "sdk+otlp"):
            s = summary["flask"].get(p, {})
            if "added_p50_us" in s and "added_p50_us" in official:
                ratios[f"flask_added_official_over_{p}"] = {
                    q: harness.ratio(official[f"added_{q}_us"], s[f"added_{q}_us"])
                    # Below the uninstrumented app's own figure: lost in the noise.
                    if official[f"added_{q}_us"] > 0 and s[f"added_{q}_us"] > 0
                    else None
                    for q in ("p50", "p99")
                }

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
                    "problems": problems,
                    "runs": runs,
                },
                indent=2,
            )
        )
    else:
        print_report(args, summary, ratios)
    return harness.report_problems("RUN PROBLEMS (such runs are left out of the summary):", problems)


def print_report(args: argparse.Namespace, summary: dict[str, Any], ratios: dict[str, Any]) -> None:
    print()
    print(
        f"OpenTelemetry API benchmark: batch={args.batch_size}, repeat={args.repeat}, "
        f"python {sys.version.split()[0]} (cells: best / median)"
    )
    if "spans" in summary:
        print()
        print(f"spans: `{args.shape}` through opentelemetry.trace, 5 attributes, end to end to the sink")
        hdr = f"{'pipeline':<10} {'spans':>9} {'spans/s e2e':>23} {'create/s':>23}"
        print(hdr)
        print("-" * len(hdr))
        for p, s in summary["spans"].items():
            if not s.get("ok_runs"):
                print(f"{p:<10} (no successful run)")
                continue
            e2e = f"{fmt_rate(s['best_e2e_rate'])} / {fmt_rate(s['median_e2e_rate'])}"
            create = f"{fmt_rate(s['best_create_rate'])} / {fmt_rate(s['median_create_rate'])}"
            print(f"{p:<10} {s['n']:>9,} {e2e:>23} {create:>23}")
        for p in ("otlp", "sdk+otlp"):
            r = ratios.get(f"spans_{p}_over_official")
            if r:
                print(
                    f"ratio {p}/official = {r['e2e_best']:.1f}{TIMES} end to end (median "
                    f"{r['e2e_median']:.1f}{TIMES}; target {TARGETS[p]:.0f}{TIMES}), "
                    f"{r['create_best']:.1f}{TIMES} on the app thread "
                    f"(median {r['create_median']:.1f}{TIMES})"
                )
    if "flask" in summary:
        print()
        print(
            f"flask: {args.requests:,} requests (after {args.warmup:,} warm-up) through Flask's test client, "
            "latency per request in us"
        )
        print("(added: the pipeline's median minus the uninstrumented app's median)")
        hdr = f"{'pipeline':<10} {'p50':>15} {'p99':>15} {'added p50':>10} {'added p99':>10}"
        print(hdr)
        print("-" * len(hdr))
        for p, s in summary["flask"].items():
            if not s.get("ok_runs"):
                print(f"{p:<10} (no successful run)")
                continue
            p50 = f"{s['best_p50_us']:.1f} / {s['median_p50_us']:.1f}"
            p99 = f"{s['best_p99_us']:.1f} / {s['median_p99_us']:.1f}"
            added = f"{s['added_p50_us']:>10.1f} {s['added_p99_us']:>10.1f}" if "added_p50_us" in s else ""
            print(f"{p:<10} {p50:>15} {p99:>15} {added}")
        for p in ("otlp", "sdk+otlp"):
            r = ratios.get(f"flask_added_official_over_{p}")
            if r:
                shown = [f"{q} {v:.1f}{TIMES}" if v is not None else f"{q} n/a (noise)" for q, v in r.items()]
                print(f"latency added by official / by {p}: {', '.join(shown)}")
        flask = summary["flask"]
        if all("added_p50_us" in flask.get(p, {}) for p in ("noop", "official")):
            # What the providers add on top of the instrumentation library's own work.
            floor = flask["noop"]["added_p50_us"]
            beyond = {
                p: flask[p]["added_p50_us"] - floor for p in PIPELINES if "added_p50_us" in flask.get(p, {})
            }
            print(
                "p50 added beyond the instrumentation on no-op providers: "
                + ", ".join(f"{p} {v:.1f} us" for p, v in beyond.items())
            )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_sink"]:
        return sink_main(argv[1])
    if argv[:1] == ["_worker"]:
        p = argparse.ArgumentParser(prog="otel_api.py _worker")
        p.add_argument("part", choices=["spans", "flask"])
        p.add_argument("--pipeline", required=True, choices=[*UNEXPORTED, *PIPELINES])
        p.add_argument("--endpoint", required=True)
        p.add_argument("--counter", required=True)
        p.add_argument("--n", type=int, required=True)
        p.add_argument("--shape", choices=["start_end", "with"], default="with")
        p.add_argument("--warmup", type=int, default=DEFAULT_WARMUP)
        p.add_argument("--batch-size", type=int, default=512)
        p.add_argument("--timeout", type=float, default=300.0)
        wargs = p.parse_args(argv[1:])
        return spans_worker(wargs) if wargs.part == "spans" else flask_worker(wargs)

    p = argparse.ArgumentParser(description="OpenTelemetry API: official SDK vs otlp's providers.")
    p.add_argument("--part", choices=["both", "spans", "flask"], default="both")
    p.add_argument("--only", choices=["all", *PIPELINES], default="all", help="one pipeline (default all)")
    p.add_argument(
        "--spans",
        type=int,
        default=None,
        help="spans per run for every pipeline (default: "
        + ", ".join(f"{k} {v:,}" for k, v in DEFAULT_SPANS.items())
        + ")",
    )
    p.add_argument("--shape", choices=["start_end", "with"], default="with", help="span shape (default with)")
    p.add_argument("--requests", type=int, default=DEFAULT_REQUESTS, help="timed Flask requests per run")
    p.add_argument("--warmup", type=int, default=DEFAULT_WARMUP, help="Flask requests before timing")
    p.add_argument("--repeat", type=int, default=3, help="runs per pipeline and part (default 3)")
    p.add_argument("--batch-size", type=int, default=512, help="max_export_batch_size (default 512)")
    p.add_argument("--timeout", type=float, default=300.0, help="deadline per run, seconds")
    p.add_argument("--json", action="store_true", help="one JSON document instead of the tables")
    p.add_argument("-v", "--verbose", action="store_true", help="keep worker stderr in the JSON runs")
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error("--repeat must be >= 1")
    return parent_main(args)


if __name__ == "__main__":
    sys.exit(main())
