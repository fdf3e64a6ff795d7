#!/usr/bin/env python3
"""Logging benchmark: stdlib ``logging`` through ``otlp.LoggingHandler`` vs the
official OpenTelemetry Python SDK ``LoggingHandler`` + OTLP/gRPC log exporter.

Run from the repository root::

    python benches/logs.py                          # both handlers, 3 repeats
    python benches/logs.py --only official          # no extension needed
    python benches/logs.py --shape exception --json

Workload (identical for both handlers): a stdlib ``logging.Logger`` with exactly
one handler (level INFO, ``propagate=False``) and, on a single thread, N calls of
``logger.info("user %s did %s", user, action, extra={...3 attributes...})``
(``--shape info``), or N times ``raise`` + ``logger.exception(...)`` inside the
``except`` block (``--shape exception``).  Then the exporter is flushed and the
worker waits until a gRPC sink has received all N log records.  Reported per run:

* ``create``   -- wall time of the N logging calls: what the application thread
                  pays, before any flush.
* ``e2e``      -- wall time from just before the first logging call to the
                  moment the sink finished handling the request that brought
                  its count to N (timestamp taken by the sink itself, on the
                  system-wide monotonic clock).

A third worker, ``floor``, runs the same logging calls into a handler whose
``emit`` does nothing (for the exception shape: nothing but
``traceback.format_exception``, which every OTel handler runs for the
``exception.stacktrace`` attribute).  Its rate is the ceiling any handler can
reach: the cost of ``logging`` itself (``makeRecord``, ``findCaller``, ``extra``,
locking), which both handlers pay.

Process layout: each run of each handler gets a fresh sink subprocess (grpcio
server on 127.0.0.1, free port, official opentelemetry-proto ``LogsService``;
requests are parsed by the generated class and the log records are counted) and
a fresh worker subprocess that runs the handler.  The three processes share a
tiny mmap'ed file holding the sink's counters.  Every wait is bounded by a
deadline and every subprocess is killed on exit.

The sink lives in benches/ on purpose (this file, and the harness it shares with
the other benches in ``_harness.py``), so benches do not depend on tests/.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import _harness as harness
from _harness import TIMES, fmt_rate

HERE = os.path.abspath(__file__)

# The counter file's slots: the harness's base slots, then the sink's own.
SLOTS = (
    *harness.BASE_SLOTS,
    "bytes",  # total serialized request bytes
    "sample",  # 0 = nothing checked yet, 1 = sample record ok, 2 = sample record wrong
    "sample_attrs",  # attribute count of the sample record
)
SLOT_SAMPLE = SLOTS.index("sample")
SLOT_SAMPLE_ATTRS = SLOTS.index("sample_attrs")

SERVICE_NAME = "logs-bench"
LOGGER_NAME = "bench.logs"
TARGET_RATIO = 5.0  # from the issue: otlp >= 5x the official SDK

USERS = ("alice", "bob", "carol", "dave", "erin", "frank", "grace")
ACTIONS = ("login", "logout", "search", "view", "buy")
# The three `extra` attributes of every record: int, str, float.
EXTRA_KEYS = ("request.id", "http.route", "duration_ms")
EXCEPTION_KEYS = ("exception.type", "exception.message", "exception.stacktrace")

# Records per run, by shape.  The official handler is much slower, so it gets
# fewer records; rates (records/s) are what is compared.
DEFAULTS: dict[str, dict[str, int]] = {
    "info": {"official": 50_000, "otlp": 500_000},
    "exception": {"official": 10_000, "otlp": 50_000},
}
SEVERITY = {"info": 9, "exception": 17}  # INFO, ERROR
BODY_RE = {"info": r"user \w+ did \w+", "exception": r"user \w+ failed to \w+"}


# --------------------------------------------------------------------------
# Sink subprocess
# --------------------------------------------------------------------------
def sample_ok(record: Any, shape: str) -> bool:
    """Is this decoded LogRecord what the workload logs?  Checked once per run
    (first record of the first request), outside the counting hot path."""
    import re

    keys = {kv.key for kv in record.attributes}
    want = set(EXTRA_KEYS) | {"code.file.path", "code.function.name", "code.line.number"}
    if shape == "exception":
        want |= set(EXCEPTION_KEYS)
    return (
        record.body.WhichOneof("value") == "string_value"
        and re.fullmatch(BODY_RE[shape], record.body.string_value) is not None
        and record.severity_number == SEVERITY[shape]
        and record.time_unix_nano > 0
        and want <= keys
    )


def sink_main(counter_path: str, shape: str) -> int:
    from opentelemetry.proto.collector.logs.v1 import logs_service_pb2

    counters = harness.Counters(counter_path, SLOTS, writable=True)

    def check_sample(request: Any) -> None:
        first = next(
            (r for rl in request.resource_logs for sl in rl.scope_logs for r in sl.log_records),
            None,
        )
        if first is not None:
            counters.set(SLOT_SAMPLE_ATTRS, len(first.attributes))
            counters.set(SLOT_SAMPLE, 1 if sample_ok(first, shape) else 2)

    # The first request's first record is checked (once per run, outside the counting hot path).
    tally = harness.Tally(counters, on_first=check_sample)

    def on_request(request: Any, nbytes: int, t0: int) -> None:
        n = 0
        for rl in request.resource_logs:
            for sl in rl.scope_logs:
                n += len(sl.log_records)
        tally.record(t0, n, request, bytes=nbytes)

    # The handler add_LogsServiceServicer_to_server builds, with our own
    # deserializer (so the byte count is free).
    port, stop_server = harness.start_grpc_sink(
        "opentelemetry.proto.collector.logs.v1.LogsService",
        logs_service_pb2.ExportLogsServiceRequest,
        logs_service_pb2.ExportLogsServiceResponse,
        on_request,
    )
    return harness.serve_sink(counters, port, stop_server)


# --------------------------------------------------------------------------
# Worker subprocess: runs one handler once
# --------------------------------------------------------------------------
def make_logger(handler: logging.Handler) -> logging.Logger:
    """A stdlib logger whose only destination is ``handler``."""
    log = logging.getLogger(LOGGER_NAME)
    for h in list(log.handlers):
        log.removeHandler(h)
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    return log


def make_workload(log: logging.Logger, n: int, shape: str) -> Callable[[], None]:
    """The timed loop.  Identical code for every handler."""
    users, actions = USERS, ACTIONS
    nu, na = len(users), len(actions)
    route = "/api/items"

    def run_info() -> None:
        info = log.info
        for i in range(n):
            info(
                "user %s did %s",
                users[i % nu],
                actions[i % na],
                extra={"request.id": i, "http.route": route, "duration_ms": 12.5},
            )

    def run_exception() -> None:
        exception = log.exception
        for i in range(n):
            try:
                raise ValueError(f"item {i} is out of stock")
            except ValueError:
                exception(
                    "user %s failed to %s",
                    users[i % nu],
                    actions[i % na],
                    extra={"request.id": i, "http.route": route, "duration_ms": 12.5},
                )

    return run_exception if shape == "exception" else run_info


class Harness(NamedTuple):
    """The four things a worker needs from a handler."""

    handler: logging.Handler
    flush: Callable[[], bool]
    shutdown: Callable[[], object]
    stats: Callable[[], dict[str, Any]]


def setup_official(args: argparse.Namespace, n: int) -> Harness:
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.resources import Resource

    provider = LoggerProvider(resource=Resource.create({"service.name": SERVICE_NAME}))
    provider.add_log_record_processor(
        BatchLogRecordProcessor(
            OTLPLogExporter(endpoint=args.endpoint, insecure=True),
            max_queue_size=max(n, 2048),
            max_export_batch_size=args.batch_size,
        )
    )
    with warnings.catch_warnings():
        # 1.45 deprecates the SDK handler in favour of opentelemetry-instrumentation-logging
        # (which wraps the same code path); it is still the one the official docs show.
        warnings.simplefilter("ignore", DeprecationWarning)
        handler = LoggingHandler(level=logging.NOTSET, logger_provider=provider)

    def flush() -> bool:
        return bool(provider.force_flush(timeout_millis=int(args.timeout * 1000)))

    return Harness(handler=handler, flush=flush, shutdown=provider.shutdown, stats=dict)


def setup_otlp(args: argparse.Namespace, n: int) -> Harness:
    import otlp

    exp = harness.otlp_exporter(args.endpoint, SERVICE_NAME, n, args.batch_size)
    handler = otlp.LoggingHandler(exp)

    def flush() -> bool:
        return bool(exp.force_flush(timeout=args.timeout))

    def stats() -> dict[str, Any]:
        return dict(exp.stats())

    return Harness(handler=handler, flush=flush, shutdown=exp.shutdown, stats=stats)


class NoopHandler(logging.Handler):
    """The floor: a handler that receives every record and does nothing with it,
    except what any OTel handler must do: format the stack trace of ``exc_info``
    (the ``exception.stacktrace`` attribute; only the exception shape has one)."""

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.stacktrace = "".join(traceback.format_exception(*record.exc_info))


def worker_floor(args: argparse.Namespace) -> int:
    n: int = args.records
    handler = NoopHandler()
    run = make_workload(make_logger(handler), n, args.shape)
    t0 = time.monotonic_ns()
    run()
    t_created = time.monotonic_ns()
    harness.emit_result(
        {"exporter": "floor", "shape": args.shape, "records": n, "create_s": (t_created - t0) / 1e9}
    )
    return 0


def worker_main(args: argparse.Namespace) -> int:
    if args.exporter == "floor":
        return worker_floor(args)
    n: int = args.records
    counters = harness.Counters(args.counter, SLOTS)
    setup = {"official": setup_official, "otlp": setup_otlp}.get(args.exporter)
    if setup is None:
        raise SystemExit(f"unknown exporter {args.exporter!r}")
    handler, flush, shutdown, stats = setup(args, n)
    run = make_workload(make_logger(handler), n, args.shape)

    timing = harness.time_export(
        run, flush, lambda deadline: harness.wait_for_count(counters, n, deadline), counters, args.timeout
    )
    exporter_stats = stats()
    logging.getLogger(LOGGER_NAME).removeHandler(handler)
    shutdown()
    harness.emit_result(
        {
            "exporter": args.exporter,
            "shape": args.shape,
            "records": n,
            **timing.result_fields(),
            "sink_bytes": timing.snapshot["bytes"],
            "stats_before_shutdown": exporter_stats,
        }
    )
    counters.close()
    return 0 if timing.complete else harness.RC_INCOMPLETE


# --------------------------------------------------------------------------
# Parent: orchestration, reporting
# --------------------------------------------------------------------------
def _worker_cmd(exporter: str, n: int, args: argparse.Namespace, endpoint: str, counter: str) -> list[str]:
    return harness.worker_cmd(
        HERE,
        exporter=exporter,
        endpoint=endpoint,
        counter=counter,
        records=n,
        shape=args.shape,
        batch_size=args.batch_size,
        timeout=args.timeout,
    )


def _run_worker(
    cmd: list[str], exporter: str, n: int, args: argparse.Namespace, sink: harness.SinkProcess | None
) -> dict[str, Any]:
    w = harness.run_worker(cmd, args.timeout + 60)
    if w.result is None:
        return {
            "exporter": exporter,
            "records": n,
            "error": "worker timed out (killed)" if w.timed_out else w.failure(),
            "received": sink.counters.get(harness.SLOT_COUNT) if sink is not None else None,
        }
    result = w.result
    rc_error = w.rc_error()
    if rc_error:
        result["error"] = rc_error
    if w.stderr.strip():
        # A handler that hit an error prints "--- Logging error ---" here.
        result["worker_stderr_lines"] = len(w.stderr.splitlines())
    harness.keep_stderr(result, w, args.verbose)
    return result


def run_once(exporter: str, n: int, args: argparse.Namespace, tmp: str, tag: str) -> dict[str, Any]:
    if exporter == "floor":
        return _run_worker(_worker_cmd("floor", n, args, "-", "-"), "floor", n, args, None)
    sink = harness.SinkProcess(HERE, tmp, tag, SLOTS, args=[args.shape])
    try:
        cmd = _worker_cmd(exporter, n, args, sink.endpoint, sink.counter_path)
        result = _run_worker(cmd, exporter, n, args, sink)
        if "error" not in result:
            # Let any stragglers/duplicates land, then read the final count.
            time.sleep(0.2)
            snap = sink.counters.snapshot()
            result["received"] = snap["count"]
            result["sample"] = {0: "none", 1: "ok", 2: "WRONG"}.get(snap["sample"], "?")
            result["sample_attrs"] = snap["sample_attrs"]
        return result
    finally:
        sink.close()


def _good(r: dict[str, Any]) -> bool:
    if "error" in r:
        return False
    if r["exporter"] == "floor":
        return True
    return bool(r.get("complete")) and r.get("received") == r["records"] and r.get("sample") == "ok"


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in runs if _good(r)]
    out: dict[str, Any] = {"runs": len(runs), "ok_runs": len(ok)}
    if not ok:
        return out
    out.update(records=ok[0]["records"], **harness.create_stats(ok, "records"))
    if ok[0]["exporter"] != "floor":
        best = harness.best_run(ok, "records")
        out.update(
            **harness.e2e_stats(ok, "records"),
            sink_busy_s_median=statistics.median(r["sink_busy_s"] for r in ok),
            sink_requests=best["sink_requests"],
            bytes_per_record=best["sink_bytes"] / best["records"],
            sample_attrs=best["sample_attrs"],
        )
    return out


def check_runs(runs: list[dict[str, Any]]) -> list[str]:
    problems = []
    for i, r in enumerate(runs):
        who = f"{r['exporter']} run {i + 1}"
        if "error" in r:
            problems.append(f"{who}: {r['error']}")
            continue
        if r.get("worker_stderr_lines"):
            problems.append(f"{who}: worker wrote {r['worker_stderr_lines']} lines to stderr (-v keeps them)")
        if r["exporter"] == "floor":
            continue
        if not r.get("complete"):
            problems.append(
                f"{who}: the sink had {r.get('received_at_done')} of {r['records']} log records "
                "when the deadline (--timeout) passed"
            )
        if r.get("received") != r["records"]:
            problems.append(
                f"{who}: sink received {r.get('received')} log records, expected exactly {r['records']}"
            )
        elif r.get("sample") != "ok":
            problems.append(
                f"{who}: the sink's sample record is {r.get('sample')} (body/severity/attributes)"
            )
        st = r.get("stats_before_shutdown", {})
        for key in ("logs_dropped", "logs_failed", "logs_rejected"):
            if st.get(key):
                problems.append(f"{who}: exporter reports {key}={st[key]}")
        if not r.get("flush_ok", True):
            problems.append(f"{who}: force_flush returned False")
    return problems


def _default_n(args: argparse.Namespace, exporter: str) -> int:
    explicit = {"official": args.records_official, "otlp": args.records_otlp, "floor": args.records_otlp}
    n = explicit[exporter] or args.records
    if n:
        return int(n)
    return DEFAULTS[args.shape]["otlp" if exporter == "floor" else exporter]


def parent_main(args: argparse.Namespace) -> int:
    exporters = ["official", "otlp"] if args.only == "both" else [args.only]
    if not args.no_floor:
        exporters.append("floor")
    n_for = {e: _default_n(args, e) for e in exporters}
    out = harness.progress_stream(args.json)

    if "otlp" in exporters and not harness.otlp_extension_ok():
        return 2

    t_start = time.monotonic()
    runs: dict[str, list[dict[str, Any]]] = {e: [] for e in exporters}
    with tempfile.TemporaryDirectory(prefix="otlp-bench-logs-") as tmp:
        # Interleave handlers so slow drift of the machine hits all of them alike.
        for rep in range(args.repeat):
            for e in exporters:
                try:
                    res = run_once(e, n_for[e], args, tmp, f"{e}-{rep}")
                except RuntimeError as exc:  # the sink did not start
                    res = {"exporter": e, "records": n_for[e], "error": str(exc)}
                runs[e].append(res)
                tag = f"  [{e} #{rep + 1}]"
                if "error" in res:
                    print(f"{tag} ERROR: {res['error']}", file=sys.stderr, flush=True)
                elif e == "floor":
                    print(
                        f"{tag} {res['records']:,} records: create {res['create_s']:.3f}s "
                        f"({fmt_rate(res['records'] / res['create_s'])}/s), no-op handler",
                        file=out,
                        flush=True,
                    )
                else:
                    print(
                        f"{tag} {res['records']:,} records: e2e {res['e2e_s']:.3f}s "
                        f"({fmt_rate(res['records'] / res['e2e_s'])}/s), create {res['create_s']:.3f}s "
                        f"({fmt_rate(res['records'] / res['create_s'])}/s), sink got {res['received']:,} "
                        f"in {res['sink_requests']} requests, "
                        f"{res['sink_bytes'] / res['records']:.0f} B/record, sample {res['sample']} "
                        f"(sink busy {res['sink_busy_s']:.3f}s)",
                        file=out,
                        flush=True,
                    )
    elapsed = time.monotonic() - t_start

    summary = {e: summarize(runs[e]) for e in exporters}
    problems = [p for e in exporters for p in check_runs(runs[e])]

    imports: dict[str, Any] = {}
    if not args.no_import_time:
        stmts = {
            # The exporter module imports opentelemetry.sdk._logs itself.
            "official": "import opentelemetry.exporter.otlp.proto.grpc._log_exporter",
            "otlp": "import otlp",
        }
        imports = harness.measure_imports({e: stmts[e] for e in exporters if e in stmts}, args.import_runs)

    so, sn, sf = summary.get("official", {}), summary.get("otlp", {}), summary.get("floor", {})
    ratios: dict[str, Any] = harness.otlp_over_official(sn, so)
    # Per-record cost above the floor (what the handler itself adds), best rates.
    handler_us: dict[str, float] = {}
    if sf.get("ok_runs"):
        floor_us = 1e6 / sf["best_create_rate"]
        handler_us["floor_us"] = floor_us
        for e, s in (("official", so), ("otlp", sn)):
            if s.get("ok_runs"):
                handler_us[f"{e}_us"] = 1e6 / s["best_create_rate"]
                handler_us[f"{e}_above_floor_us"] = 1e6 / s["best_create_rate"] - floor_us
        a, b = handler_us.get("official_above_floor_us"), handler_us.get("otlp_above_floor_us")
        if a is not None and b is not None and b > 0:
            ratios["handler_only_best"] = a / b
        if sn.get("ok_runs"):
            ratios["otlp_create_over_floor_best"] = sn["best_create_rate"] / sf["best_create_rate"]
    ratios.update(harness.import_ratios(imports))
    target = {}
    if "e2e_best" in ratios:
        target = {
            "target": TARGET_RATIO,
            "create_met": ratios["create_best"] >= TARGET_RATIO,
            "e2e_met": ratios["e2e_best"] >= TARGET_RATIO,
        }

    if args.json:
        print(
            json.dumps(
                {
                    "python": sys.version.split()[0],
                    "shape": args.shape,
                    "batch_size": args.batch_size,
                    "repeat": args.repeat,
                    "elapsed_s": elapsed,
                    "summary": summary,
                    "ratios": ratios,
                    "target": target,
                    "per_record_us": handler_us,
                    "imports": imports,
                    "problems": problems,
                    "runs": runs,
                },
                indent=2,
            )
        )
    else:
        print_report(args, exporters, summary, ratios, target, handler_us, imports, elapsed)

    return harness.report_problems(
        "LOG RECORD COUNT / RUN PROBLEMS (runs with a wrong count are left out of the summary):", problems
    )


def print_report(
    args: argparse.Namespace,
    exporters: list[str],
    summary: dict[str, Any],
    ratios: dict[str, Any],
    target: dict[str, Any],
    handler_us: dict[str, float],
    imports: dict[str, Any],
    elapsed: float,
) -> None:
    print()
    print(
        f"logs benchmark: shape={args.shape}, 3 extra attributes/record, batch={args.batch_size}, "
        f"repeat={args.repeat}, python {sys.version.split()[0]}, runs took {elapsed:.0f}s"
    )
    hdr = (
        f"{'handler':<9} {'records':>8} {'seconds':>8} {'rec/s best':>11} {'rec/s med':>10} "
        f"{'create/s best':>14} {'create/s med':>13} {'B/rec':>6} {'sink busy':>9}"
    )
    print(hdr)
    print("-" * len(hdr))
    for e in exporters:
        s = summary[e]
        if not s.get("ok_runs"):
            print(f"{e:<9} (no successful run)")
            continue
        if e == "floor":
            print(
                f"{e:<9} {s['records']:>8,} {'-':>8} {'-':>11} {'-':>10} "
                f"{fmt_rate(s['best_create_rate']):>14} {fmt_rate(s['median_create_rate']):>13} "
                f"{'-':>6} {'-':>9}"
            )
            continue
        print(
            f"{e:<9} {s['records']:>8,} {s['best_e2e_s']:>8.3f} {fmt_rate(s['best_e2e_rate']):>11} "
            f"{fmt_rate(s['median_e2e_rate']):>10} {fmt_rate(s['best_create_rate']):>14} "
            f"{fmt_rate(s['median_create_rate']):>13} {s['bytes_per_record']:>6.0f} "
            f"{s['sink_busy_s_median']:>8.2f}s"
        )
    if "e2e_best" in ratios:
        verdict = {True: "met", False: "NOT MET"}
        print()
        print(
            f"ratio otlp/official = {ratios['e2e_best']:.1f}{TIMES} (end-to-end records/s, best; "
            f"median {ratios['e2e_median']:.1f}{TIMES})  [>= {TARGET_RATIO:g}{TIMES}] "
            f"{verdict[target['e2e_met']]}"
        )
        print(
            f"ratio otlp/official = {ratios['create_best']:.1f}{TIMES} (logging calls on the app thread, "
            f"best; median {ratios['create_median']:.1f}{TIMES})  [>= {TARGET_RATIO:g}{TIMES}] "
            f"{verdict[target['create_met']]}"
        )
    if "floor_us" in handler_us:
        print()
        print(
            "per logging call on the app thread (best): floor (no-op handler"
            f"{' + format_exception' if args.shape == 'exception' else ''}) {handler_us['floor_us']:.2f} µs"
        )
        for e in ("official", "otlp"):
            if f"{e}_us" in handler_us:
                print(
                    f"  {e:<9} {handler_us[f'{e}_us']:7.2f} µs = floor + "
                    f"{handler_us[f'{e}_above_floor_us']:.2f} µs in the handler"
                )
        if "handler_only_best" in ratios:
            print(
                f"  handler cost official/otlp = {ratios['handler_only_best']:.1f}{TIMES} (above the floor)"
            )
        if "otlp_create_over_floor_best" in ratios:
            print(f"  otlp runs at {ratios['otlp_create_over_floor_best']:.0%} of the floor's rate")
    if imports:
        harness.print_import_times(imports, ratios, args.import_runs)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_sink"]:
        return sink_main(argv[1], argv[2])
    if argv[:1] == ["_worker"]:
        p = argparse.ArgumentParser(prog="logs.py _worker")
        p.add_argument("--exporter", required=True, choices=["official", "otlp", "floor"])
        p.add_argument("--endpoint", required=True)
        p.add_argument("--counter", required=True)
        p.add_argument("--records", type=int, required=True)
        p.add_argument("--shape", choices=["info", "exception"], default="info")
        p.add_argument("--batch-size", type=int, default=512)
        p.add_argument("--timeout", type=float, default=300.0)
        return worker_main(p.parse_args(argv[1:]))

    p = argparse.ArgumentParser(
        description="stdlib logging -> OTLP/gRPC benchmark: otlp.LoggingHandler vs the opentelemetry-sdk "
        "LoggingHandler + OTLPLogExporter."
    )
    p.add_argument(
        "--only",
        choices=["both", "official", "otlp"],
        default="both",
        help="which handler(s) to run (default both)",
    )
    p.add_argument(
        "--records",
        type=int,
        default=None,
        help="records per run for both handlers (default, info shape: official "
        f"{DEFAULTS['info']['official']:,}, otlp {DEFAULTS['info']['otlp']:,}; exception shape: official "
        f"{DEFAULTS['exception']['official']:,}, otlp {DEFAULTS['exception']['otlp']:,})",
    )
    p.add_argument(
        "--records-official", type=int, default=None, help="records per run for the official handler"
    )
    p.add_argument("--records-otlp", type=int, default=None, help="records per run for otlp (and the floor)")
    p.add_argument("--repeat", type=int, default=3, help="runs per handler (default 3)")
    p.add_argument(
        "--shape",
        choices=["info", "exception"],
        default="info",
        help="info: logger.info(fmt, user, action, extra=...); exception: raise + logger.exception(...) "
        "in the except block (default info)",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=512,
        help="max_export_batch_size for both exporters (default 512, the SDK default)",
    )
    p.add_argument("--timeout", type=float, default=300.0, help="deadline per run, seconds (default 300)")
    p.add_argument("--no-floor", action="store_true", help="skip the no-op handler (floor) runs")
    p.add_argument("--import-runs", type=int, default=5, help="subprocess runs per import-time measurement")
    p.add_argument("--no-import-time", action="store_true", help="skip the import-time measurement")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    p.add_argument("-v", "--verbose", action="store_true", help="keep worker stderr in the JSON results")
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error("--repeat must be >= 1")
    for name in ("records", "records_official", "records_otlp"):
        value = getattr(args, name)
        if value is not None and value < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    return parent_main(args)


if __name__ == "__main__":
    sys.exit(main())
