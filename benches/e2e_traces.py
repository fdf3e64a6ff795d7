#!/usr/bin/env python3
"""End-to-end trace export benchmark: ``otlp`` vs the official OpenTelemetry
Python SDK + OTLP/gRPC exporter.

Run from the repository root::

    python benches/e2e_traces.py                      # both exporters, 3 repeats
    python benches/e2e_traces.py --only official      # no extension needed
    python benches/e2e_traces.py --shape with --json

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

The sink lives in this file on purpose, so benches do not depend on tests/.
"""

from __future__ import annotations

import argparse
import json
import mmap
import os
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any, NamedTuple

HERE = os.path.abspath(__file__)

# --------------------------------------------------------------------------
# Shared counter file: little-endian uint64 slots.
# --------------------------------------------------------------------------
SLOT_COUNT = 0  # spans received
SLOT_LAST_NS = 1  # time.monotonic_ns() when the last request was handled
SLOT_PORT = 2  # port the sink is listening on
SLOT_READY = 3  # 1 once the sink is serving
SLOT_REQUESTS = 4  # Export requests received
SLOT_BUSY_NS = 5  # total time spent inside Export handlers
SLOT_FIRST_NS = 6  # time.monotonic_ns() when the first request arrived
SLOT_BYTES = 7  # total serialized request bytes
N_SLOTS = 8
SHM_SIZE = N_SLOTS * 8

ATTRS: dict[str, Any] = {
    "http.method": "GET",
    "http.route": "/api/items",
    "http.status_code": 200,
    "net.peer.port": 443,
    "sampled": True,
}
SPAN_NAME = "GET /api/items"
TIMES = "\u00d7"  # MULTIPLICATION SIGN, printed after every ratio
SERVICE_NAME = "e2e-bench"

DEFAULT_SPANS_OFFICIAL = 50_000
DEFAULT_SPANS_OTLP = 500_000


class Counters:
    """Reader/writer over the shared counter file."""

    def __init__(self, path: str, writable: bool = False) -> None:
        # mmap keeps its own reference to the file: the fd can be closed.
        with open(path, "r+b" if writable else "rb") as f:
            self._mm = mmap.mmap(
                f.fileno(),
                SHM_SIZE,
                access=mmap.ACCESS_WRITE if writable else mmap.ACCESS_READ,
            )

    def get(self, slot: int) -> int:
        value: int = struct.unpack_from("<Q", self._mm, slot * 8)[0]
        return value

    def set(self, slot: int, value: int) -> None:
        struct.pack_into("<Q", self._mm, slot * 8, value)

    def snapshot(self) -> dict[str, int]:
        v = struct.unpack_from(f"<{N_SLOTS}Q", self._mm, 0)
        return {
            "count": v[SLOT_COUNT],
            "last_ns": v[SLOT_LAST_NS],
            "port": v[SLOT_PORT],
            "ready": v[SLOT_READY],
            "requests": v[SLOT_REQUESTS],
            "busy_ns": v[SLOT_BUSY_NS],
            "first_ns": v[SLOT_FIRST_NS],
            "bytes": v[SLOT_BYTES],
        }

    def close(self) -> None:
        self._mm.close()


def new_counter_file(directory: str, name: str) -> str:
    path = os.path.join(directory, name)
    with open(path, "wb") as f:
        f.write(b"\0" * SHM_SIZE)
    return path


# --------------------------------------------------------------------------
# Sink subprocess
# --------------------------------------------------------------------------
def sink_main(counter_path: str) -> int:
    import threading
    from concurrent import futures

    import grpc  # type: ignore[import-untyped]
    from opentelemetry.proto.collector.trace.v1 import (
        trace_service_pb2,
        trace_service_pb2_grpc,
    )

    counters = Counters(counter_path, writable=True)
    lock = threading.Lock()
    state = {"count": 0, "requests": 0, "busy": 0, "bytes": 0, "first": 0}
    Response = trace_service_pb2.ExportTraceServiceResponse
    Request = trace_service_pb2.ExportTraceServiceRequest

    def deserialize(data: bytes) -> tuple[Any, int, int]:
        # Keep the raw size for the byte counter; parse with the generated class.
        t = time.monotonic_ns()
        return Request.FromString(data), len(data), t

    class Servicer(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, parsed: Any, context: Any) -> Any:
            request, nbytes, t0 = parsed  # t0: start of parsing
            n = 0
            for rs in request.resource_spans:
                for ss in rs.scope_spans:
                    n += len(ss.spans)
            with lock:
                now = time.monotonic_ns()
                if not state["first"]:
                    state["first"] = t0
                    counters.set(SLOT_FIRST_NS, t0)
                state["count"] += n
                state["requests"] += 1
                state["busy"] += now - t0
                state["bytes"] += nbytes
                # Timestamp first, count last: a reader that sees the final
                # count also sees the matching timestamp.
                counters.set(SLOT_LAST_NS, now)
                counters.set(SLOT_REQUESTS, state["requests"])
                counters.set(SLOT_BUSY_NS, state["busy"])
                counters.set(SLOT_BYTES, state["bytes"])
                counters.set(SLOT_COUNT, state["count"])
            return Response()

    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4),
        options=[
            ("grpc.max_receive_message_length", 256 * 1024 * 1024),
            ("grpc.so_reuseport", 0),
        ],
    )
    # Register with our own deserializer (so the byte count is free); this is
    # the same handler add_TraceServiceServicer_to_server builds otherwise.
    servicer = Servicer()
    handler = grpc.method_handlers_generic_handler(
        "opentelemetry.proto.collector.trace.v1.TraceService",
        {
            "Export": grpc.unary_unary_rpc_method_handler(
                servicer.Export,
                request_deserializer=deserialize,
                response_serializer=Response.SerializeToString,
            )
        },
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    if not port:
        print("sink: could not bind a port", file=sys.stderr)
        return 2
    server.start()
    counters.set(SLOT_PORT, port)
    counters.set(SLOT_READY, 1)

    stop = threading.Event()

    def on_signal(_signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # Also stop if the parent disappears (bounded lifetime: 1 hour at most).
    parent = os.getppid()
    deadline = time.monotonic() + 3600
    while not stop.is_set() and time.monotonic() < deadline:
        if os.getppid() != parent:
            break
        stop.wait(0.5)
    server.stop(0.5).wait(2)
    counters.close()
    return 0


class Sink:
    """A sink subprocess with its own counter file."""

    def __init__(self, directory: str, tag: str, start_timeout: float = 20.0):
        self.counter_path = new_counter_file(directory, f"sink-{tag}.bin")
        self._stderr_path = os.path.join(directory, f"sink-{tag}.err")
        with open(self._stderr_path, "w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, HERE, "_sink", self.counter_path],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        self.counters = Counters(self.counter_path)
        deadline = time.monotonic() + start_timeout
        while not self.counters.get(SLOT_READY):
            if self.proc.poll() is not None:
                raise RuntimeError(f"sink exited early (rc={self.proc.returncode}):\n{self.stderr()}")
            if time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"sink did not start within {start_timeout}s:\n{self.stderr()}")
            time.sleep(0.01)
        self.port = self.counters.get(SLOT_PORT)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stderr(self) -> str:
        try:
            with open(self._stderr_path) as f:
                return f.read()[-4000:]
        except (OSError, ValueError):  # diagnostics only
            return ""

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.counters.close()


# --------------------------------------------------------------------------
# Worker subprocess: runs one exporter once
# --------------------------------------------------------------------------
def _wait_for_count(counters: Counters, n: int, deadline: float) -> bool:
    while counters.get(SLOT_COUNT) < n:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


class Harness(NamedTuple):
    """The four things a worker needs from an exporter."""

    run: Callable[[], None]  # create and end the N spans
    flush: Callable[[], bool]
    shutdown: Callable[[], object]
    stats: Callable[[], dict[str, Any]]


def setup_official(args: argparse.Namespace, n: int) -> Harness:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
        OTLPSpanExporter,
    )
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    attrs = dict(ATTRS)
    name = SPAN_NAME
    provider = TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME}))
    processor = BatchSpanProcessor(
        OTLPSpanExporter(endpoint=args.endpoint, insecure=True),
        max_queue_size=max(n, 2048),
        max_export_batch_size=args.batch_size,
    )
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("e2e-bench", "1.0.0")

    def run_with() -> None:
        start_cm = tracer.start_as_current_span
        for _ in range(n):
            with start_cm(name, attributes=attrs):
                pass

    def run_start_end() -> None:
        start = tracer.start_span
        for _ in range(n):
            start(name, attributes=attrs).end()

    def flush() -> bool:
        return provider.force_flush(timeout_millis=int(args.timeout * 1000))

    return Harness(
        run=run_with if args.shape == "with" else run_start_end,
        flush=flush,
        shutdown=provider.shutdown,
        stats=dict,
    )


def setup_otlp(args: argparse.Namespace, n: int) -> Harness:
    import otlp

    attrs = dict(ATTRS)
    name = SPAN_NAME
    exp = otlp.Exporter(
        args.endpoint,
        resource={"service.name": SERVICE_NAME},
        batch=otlp.BatchConfig(
            max_queue_size=max(n, 2048),
            max_export_batch_size=args.batch_size,
        ),
    )
    tracer = exp.tracer("e2e-bench", version="1.0.0")

    def run_with() -> None:
        span_cm = tracer.span
        for _ in range(n):
            with span_cm(name, attributes=attrs):
                pass

    def run_start_end() -> None:
        start = tracer.start_span
        for _ in range(n):
            start(name, attributes=attrs).end()

    def flush() -> bool:
        return exp.force_flush(timeout=args.timeout)

    def stats() -> dict[str, Any]:
        return dict(exp.stats())

    return Harness(
        run=run_with if args.shape == "with" else run_start_end,
        flush=flush,
        shutdown=exp.shutdown,
        stats=stats,
    )


def worker_main(args: argparse.Namespace) -> int:
    n: int = args.spans
    counters = Counters(args.counter)
    deadline_s: float = args.timeout
    extra: dict[str, Any] = {}
    setup = {"official": setup_official, "otlp": setup_otlp}.get(args.exporter)
    if setup is None:
        raise SystemExit(f"unknown exporter {args.exporter!r}")
    run, flush, shutdown, stats = setup(args, n)

    deadline = time.monotonic() + deadline_s
    t0 = time.monotonic_ns()
    run()
    t_created = time.monotonic_ns()
    flushed = flush()
    t_flushed = time.monotonic_ns()
    complete = _wait_for_count(counters, n, deadline)
    t_seen = time.monotonic_ns()
    snap = counters.snapshot()
    extra["stats_before_shutdown"] = stats()
    shutdown()
    t_last = snap["last_ns"] if complete else t_seen
    result = {
        "exporter": args.exporter,
        "shape": args.shape,
        "spans": n,
        "complete": complete,
        "flush_ok": bool(flushed),
        "create_s": (t_created - t0) / 1e9,
        "flush_return_s": (t_flushed - t0) / 1e9,
        "e2e_s": (t_last - t0) / 1e9,
        "received_at_done": snap["count"],
        "sink_requests": snap["requests"],
        "sink_busy_s": snap["busy_ns"] / 1e9,
        "sink_bytes": snap["bytes"],
        **extra,
    }
    print("RESULT " + json.dumps(result), flush=True)
    counters.close()
    return 0 if complete else 3


# --------------------------------------------------------------------------
# Parent: orchestration, reporting
# --------------------------------------------------------------------------
def run_once(exporter: str, n: int, args: argparse.Namespace, tmp: str, tag: str) -> dict[str, Any]:
    sink = Sink(tmp, tag)
    try:
        cmd = [
            sys.executable,
            HERE,
            "_worker",
            "--exporter",
            exporter,
            "--endpoint",
            sink.endpoint,
            "--counter",
            sink.counter_path,
            "--spans",
            str(n),
            "--shape",
            args.shape,
            "--batch-size",
            str(args.batch_size),
            "--timeout",
            str(args.timeout),
        ]
        try:
            proc = subprocess.run(
                cmd,
                check=False,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=args.timeout + 60,
            )
        except subprocess.TimeoutExpired:
            return {
                "exporter": exporter,
                "spans": n,
                "error": "worker timed out (killed)",
                "received": sink.counters.get(SLOT_COUNT),
            }
        result: dict[str, Any] | None = None
        for line in proc.stdout.splitlines():
            if line.startswith("RESULT "):
                result = json.loads(line[len("RESULT ") :])
        if result is None:
            return {
                "exporter": exporter,
                "spans": n,
                "error": f"worker failed rc={proc.returncode}: {proc.stderr[-3000:]}",
                "received": sink.counters.get(SLOT_COUNT),
            }
        # Let any stragglers/duplicates land, then read the final count.
        time.sleep(0.2)
        result["received"] = sink.counters.get(SLOT_COUNT)
        if proc.returncode not in (0, 3):
            result["error"] = f"worker rc={proc.returncode}: {proc.stderr[-3000:]}"
        if proc.stderr.strip() and args.verbose:
            result["worker_stderr"] = proc.stderr[-3000:]
        return result
    finally:
        sink.close()


def measure_import(stmt: str, runs: int = 5) -> float | None:
    best = None
    for _ in range(runs):
        t0 = time.perf_counter()
        r = subprocess.run(
            [sys.executable, "-c", stmt],
            check=False,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=120,
        )
        dt = time.perf_counter() - t0
        if r.returncode != 0:
            return None
        best = dt if best is None or dt < best else best
    return best


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in runs if "error" not in r and r.get("complete") and r.get("received") == r["spans"]]
    out: dict[str, Any] = {"runs": len(runs), "ok_runs": len(ok)}
    if not ok:
        return out
    e2e = [r["spans"] / r["e2e_s"] for r in ok]
    create = [r["spans"] / r["create_s"] for r in ok]
    best = min(ok, key=lambda r: r["e2e_s"] / r["spans"])
    out.update(
        spans=ok[0]["spans"],
        best_e2e_s=best["e2e_s"],
        best_e2e_rate=max(e2e),
        median_e2e_rate=statistics.median(e2e),
        best_create_rate=max(create),
        median_create_rate=statistics.median(create),
        best_create_s=min(r["create_s"] for r in ok),
        sink_busy_s_median=statistics.median(r["sink_busy_s"] for r in ok),
        sink_requests=best["sink_requests"],
    )
    return out


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


def fmt_rate(x: float) -> str:
    return f"{x:,.0f}"


def parent_main(args: argparse.Namespace) -> int:
    exporters = ["official", "otlp"] if args.only == "both" else [args.only]
    n_for = {
        "official": args.spans_official if args.spans_official else (args.spans or DEFAULT_SPANS_OFFICIAL),
        "otlp": args.spans_otlp if args.spans_otlp else (args.spans or DEFAULT_SPANS_OTLP),
    }

    if "otlp" in exporters:
        r = subprocess.run(
            [sys.executable, "-c", "import otlp._native"],
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if r.returncode != 0:
            print(
                "ERROR: `import otlp._native` fails in this interpreter; build the extension "
                "(maturin develop --release) or use --only official.\n" + r.stderr[-2000:],
                file=sys.stderr,
            )
            return 2

    runs: dict[str, list[dict[str, Any]]] = {e: [] for e in exporters}
    with tempfile.TemporaryDirectory(prefix="otlp-bench-") as tmp:
        # Interleave exporters so slow drift of the machine hits both alike.
        for rep in range(args.repeat):
            for e in exporters:
                res = run_once(e, n_for[e], args, tmp, f"{e}-{rep}")
                runs[e].append(res)
                # Progress goes to stdout for the table, to stderr with --json.
                out = sys.stderr if args.json else sys.stdout
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
                        f"in {res['sink_requests']} requests (sink busy {res['sink_busy_s']:.3f}s)",
                        file=out,
                        flush=True,
                    )

    summary = {e: summarize(runs[e]) for e in exporters}
    problems = [p for e in exporters for p in check_counts(runs[e])]

    imports: dict[str, Any] = {}
    if not args.no_import_time:
        base = measure_import("pass", args.import_runs)
        imports["python_startup_s"] = base
        stmts = {
            "official": "import opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
            "otlp": "import otlp",
        }
        for e in exporters:
            t = measure_import(stmts[e], args.import_runs)
            imports[e] = {
                "stmt": stmts[e],
                "best_s": t,
                "net_s": (t - base) if (t is not None and base is not None) else None,
            }

    ratios: dict[str, Any] = {}
    so, sn = summary.get("official", {}), summary.get("otlp", {})
    if so.get("ok_runs") and sn.get("ok_runs"):
        ratios = {
            "e2e_best": sn["best_e2e_rate"] / so["best_e2e_rate"],
            "e2e_median": sn["median_e2e_rate"] / so["median_e2e_rate"],
            "create_best": sn["best_create_rate"] / so["best_create_rate"],
            "create_median": sn["median_create_rate"] / so["median_create_rate"],
        }
    if imports.get("official", {}).get("net_s") and imports.get("otlp", {}).get("net_s"):
        ratios["import_official_over_otlp_net"] = imports["official"]["net_s"] / imports["otlp"]["net_s"]
        ratios["import_official_over_otlp_wall"] = imports["official"]["best_s"] / imports["otlp"]["best_s"]

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
            f"{'exporter':<10} {'spans':>9} {'seconds':>8} {'spans/s best':>13} {'spans/s med':>12} "
            f"{'create/s best':>14} {'create/s med':>13} {'sink busy':>9}"
        )
        print(hdr)
        print("-" * len(hdr))
        for e in exporters:
            s = summary[e]
            if not s.get("ok_runs"):
                print(f"{e:<10} {'(no successful run)':>9}")
                continue
            print(
                f"{e:<10} {s['spans']:>9,} {s['best_e2e_s']:>8.3f} {fmt_rate(s['best_e2e_rate']):>13} "
                f"{fmt_rate(s['median_e2e_rate']):>12} {fmt_rate(s['best_create_rate']):>14} "
                f"{fmt_rate(s['median_create_rate']):>13} {s['sink_busy_s_median']:>8.2f}s"
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
        if imports:
            print()
            base = imports.get("python_startup_s")
            print(
                f"import time (best of {args.import_runs}, wall; bare `python -c pass` = "
                f"{base * 1000:.0f} ms)"
                if base
                else "import time:"
            )
            for e in exporters:
                im = imports[e]
                if im["best_s"] is None:
                    print(f"  {e:<10} {im['stmt']}: FAILED")
                else:
                    print(
                        f"  {e:<10} {im['best_s'] * 1000:7.1f} ms  "
                        f"(net {im['net_s'] * 1000:6.1f} ms)  {im['stmt']}"
                    )
            if "import_official_over_otlp_net" in ratios:
                print(
                    f"  import ratio official/otlp = {ratios['import_official_over_otlp_net']:.1f}{TIMES} "
                    f"(net of interpreter start; {ratios['import_official_over_otlp_wall']:.1f}{TIMES} wall)"
                )

    if problems:
        bar = "!" * 78
        print(bar, file=sys.stderr)
        print(
            "!!! SPAN COUNT / RUN PROBLEMS (runs with a wrong count are left out of the summary):",
            file=sys.stderr,
        )
        for p in problems:
            print("!!!   " + p, file=sys.stderr)
        print(bar, file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_sink"]:
        return sink_main(argv[1])
    if argv[:1] == ["_worker"]:
        p = argparse.ArgumentParser(prog="e2e_traces.py _worker")
        p.add_argument("--exporter", required=True, choices=["official", "otlp"])
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
        choices=["both", "official", "otlp"],
        default="both",
        help="which exporter(s) to run (default both)",
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
