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

The sink lives in this file on purpose, so benches do not depend on tests/.
"""

from __future__ import annotations

import argparse
import json
import logging
import mmap
import os
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

HERE = os.path.abspath(__file__)

# --------------------------------------------------------------------------
# Shared counter file: little-endian uint64 slots.
# --------------------------------------------------------------------------
SLOT_COUNT = 0  # log records received
SLOT_LAST_NS = 1  # time.monotonic_ns() when the last request was handled
SLOT_PORT = 2  # port the sink is listening on
SLOT_READY = 3  # 1 once the sink is serving
SLOT_REQUESTS = 4  # Export requests received
SLOT_BUSY_NS = 5  # total time spent parsing and counting
SLOT_FIRST_NS = 6  # time.monotonic_ns() when the first request arrived
SLOT_BYTES = 7  # total serialized request bytes
SLOT_SAMPLE = 8  # 0 = nothing checked yet, 1 = sample record ok, 2 = sample record wrong
SLOT_SAMPLE_ATTRS = 9  # attribute count of the sample record
N_SLOTS = 10
SHM_SIZE = N_SLOTS * 8

TIMES = "\u00d7"  # MULTIPLICATION SIGN, printed after every ratio
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
            "sample": v[SLOT_SAMPLE],
            "sample_attrs": v[SLOT_SAMPLE_ATTRS],
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
    import threading
    from concurrent import futures

    import grpc  # type: ignore[import-untyped]
    from opentelemetry.proto.collector.logs.v1 import (
        logs_service_pb2,
        logs_service_pb2_grpc,
    )

    counters = Counters(counter_path, writable=True)
    lock = threading.Lock()
    state = {"count": 0, "requests": 0, "busy": 0, "bytes": 0, "first": 0}
    Response = logs_service_pb2.ExportLogsServiceResponse
    Request = logs_service_pb2.ExportLogsServiceRequest

    def deserialize(data: bytes) -> tuple[Any, int, int]:
        # Keep the raw size for the byte counter; parse with the generated class.
        t = time.monotonic_ns()
        return Request.FromString(data), len(data), t

    class Servicer(logs_service_pb2_grpc.LogsServiceServicer):
        def Export(self, parsed: Any, context: Any) -> Any:
            request, nbytes, t0 = parsed  # t0: start of parsing
            n = 0
            for rl in request.resource_logs:
                for sl in rl.scope_logs:
                    n += len(sl.log_records)
            with lock:
                if not state["first"]:
                    state["first"] = t0
                    counters.set(SLOT_FIRST_NS, t0)
                    first = next(
                        (r for rl in request.resource_logs for sl in rl.scope_logs for r in sl.log_records),
                        None,
                    )
                    if first is not None:
                        counters.set(SLOT_SAMPLE_ATTRS, len(first.attributes))
                        counters.set(SLOT_SAMPLE, 1 if sample_ok(first, shape) else 2)
                now = time.monotonic_ns()
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
    # the same handler add_LogsServiceServicer_to_server builds otherwise.
    servicer = Servicer()
    handler = grpc.method_handlers_generic_handler(
        "opentelemetry.proto.collector.logs.v1.LogsService",
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

    def __init__(self, directory: str, tag: str, shape: str, start_timeout: float = 20.0):
        self.counter_path = new_counter_file(directory, f"sink-{tag}.bin")
        self._stderr_path = os.path.join(directory, f"sink-{tag}.err")
        with open(self._stderr_path, "w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, HERE, "_sink", self.counter_path, shape],
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
# Worker subprocess: runs one handler once
# --------------------------------------------------------------------------
def _wait_for_count(counters: Counters, n: int, deadline: float) -> bool:
    while counters.get(SLOT_COUNT) < n:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


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

    exp = otlp.Exporter(
        args.endpoint,
        resource={"service.name": SERVICE_NAME},
        batch=otlp.BatchConfig(
            max_queue_size=max(n, 2048),
            max_export_batch_size=args.batch_size,
        ),
    )
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
    result = {"exporter": "floor", "shape": args.shape, "records": n, "create_s": (t_created - t0) / 1e9}
    print("RESULT " + json.dumps(result), flush=True)
    return 0


def worker_main(args: argparse.Namespace) -> int:
    if args.exporter == "floor":
        return worker_floor(args)
    n: int = args.records
    counters = Counters(args.counter)
    setup = {"official": setup_official, "otlp": setup_otlp}.get(args.exporter)
    if setup is None:
        raise SystemExit(f"unknown exporter {args.exporter!r}")
    handler, flush, shutdown, stats = setup(args, n)
    run = make_workload(make_logger(handler), n, args.shape)

    deadline = time.monotonic() + args.timeout
    t0 = time.monotonic_ns()
    run()
    t_created = time.monotonic_ns()
    flushed = flush()
    t_flushed = time.monotonic_ns()
    complete = _wait_for_count(counters, n, deadline)
    t_seen = time.monotonic_ns()
    snap = counters.snapshot()
    exporter_stats = stats()
    logging.getLogger(LOGGER_NAME).removeHandler(handler)
    shutdown()
    t_last = snap["last_ns"] if complete else t_seen
    result = {
        "exporter": args.exporter,
        "shape": args.shape,
        "records": n,
        "complete": complete,
        "flush_ok": flushed,
        "create_s": (t_created - t0) / 1e9,
        "flush_return_s": (t_flushed - t0) / 1e9,
        "e2e_s": (t_last - t0) / 1e9,
        "received_at_done": snap["count"],
        "sink_requests": snap["requests"],
        "sink_busy_s": snap["busy_ns"] / 1e9,
        "sink_bytes": snap["bytes"],
        "stats_before_shutdown": exporter_stats,
    }
    print("RESULT " + json.dumps(result), flush=True)
    counters.close()
    return 0 if complete else 3


# --------------------------------------------------------------------------
# Parent: orchestration, reporting
# --------------------------------------------------------------------------
def _worker_cmd(exporter: str, n: int, args: argparse.Namespace, endpoint: str, counter: str) -> list[str]:
    return [
        sys.executable,
        HERE,
        "_worker",
        "--exporter",
        exporter,
        "--endpoint",
        endpoint,
        "--counter",
        counter,
        "--records",
        str(n),
        "--shape",
        args.shape,
        "--batch-size",
        str(args.batch_size),
        "--timeout",
        str(args.timeout),
    ]


def _run_worker(cmd: list[str], exporter: str, n: int, args: argparse.Namespace, sink: Sink | None) -> Any:
    def received() -> int | None:
        return sink.counters.get(SLOT_COUNT) if sink is not None else None

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
            "records": n,
            "error": "worker timed out (killed)",
            "received": received(),
        }
    result: dict[str, Any] | None = None
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT ") :])
    if result is None:
        return {
            "exporter": exporter,
            "records": n,
            "error": f"worker failed rc={proc.returncode}: {proc.stderr[-3000:]}",
            "received": received(),
        }
    if proc.returncode not in (0, 3):
        result["error"] = f"worker rc={proc.returncode}: {proc.stderr[-3000:]}"
    if proc.stderr.strip():
        # A handler that hit an error prints "--- Logging error ---" here.
        result["worker_stderr_lines"] = len(proc.stderr.splitlines())
        if args.verbose:
            result["worker_stderr"] = proc.stderr[-3000:]
    return result


def run_once(exporter: str, n: int, args: argparse.Namespace, tmp: str, tag: str) -> dict[str, Any]:
    if exporter == "floor":
        res: dict[str, Any] = _run_worker(_worker_cmd("floor", n, args, "-", "-"), "floor", n, args, None)
        return res
    sink = Sink(tmp, tag, args.shape)
    try:
        cmd = _worker_cmd(exporter, n, args, sink.endpoint, sink.counter_path)
        result: dict[str, Any] = _run_worker(cmd, exporter, n, args, sink)
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
    create = [r["records"] / r["create_s"] for r in ok]
    out.update(
        records=ok[0]["records"],
        best_create_rate=max(create),
        median_create_rate=statistics.median(create),
        best_create_s=min(r["create_s"] for r in ok),
    )
    if ok[0]["exporter"] != "floor":
        e2e = [r["records"] / r["e2e_s"] for r in ok]
        best = min(ok, key=lambda r: r["e2e_s"] / r["records"])
        out.update(
            best_e2e_s=best["e2e_s"],
            best_e2e_rate=max(e2e),
            median_e2e_rate=statistics.median(e2e),
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


def fmt_rate(x: float) -> str:
    return f"{x:,.0f}"


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
    out = sys.stderr if args.json else sys.stdout

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
        base = measure_import("pass", args.import_runs)
        imports["python_startup_s"] = base
        stmts = {
            # The exporter module imports opentelemetry.sdk._logs itself.
            "official": "import opentelemetry.exporter.otlp.proto.grpc._log_exporter",
            "otlp": "import otlp",
        }
        for e in exporters:
            if e not in stmts:
                continue
            t = measure_import(stmts[e], args.import_runs)
            imports[e] = {
                "stmt": stmts[e],
                "best_s": t,
                "net_s": (t - base) if (t is not None and base is not None) else None,
            }

    ratios: dict[str, Any] = {}
    so, sn, sf = summary.get("official", {}), summary.get("otlp", {}), summary.get("floor", {})
    if so.get("ok_runs") and sn.get("ok_runs"):
        ratios = {
            "e2e_best": sn["best_e2e_rate"] / so["best_e2e_rate"],
            "e2e_median": sn["median_e2e_rate"] / so["median_e2e_rate"],
            "create_best": sn["best_create_rate"] / so["best_create_rate"],
            "create_median": sn["median_create_rate"] / so["median_create_rate"],
        }
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
    if imports.get("official", {}).get("net_s") and imports.get("otlp", {}).get("net_s"):
        ratios["import_official_over_otlp_net"] = imports["official"]["net_s"] / imports["otlp"]["net_s"]
        ratios["import_official_over_otlp_wall"] = imports["official"]["best_s"] / imports["otlp"]["best_s"]
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

    if problems:
        bar = "!" * 78
        print(bar, file=sys.stderr)
        print(
            "!!! LOG RECORD COUNT / RUN PROBLEMS (runs with a wrong count are left out of the summary):",
            file=sys.stderr,
        )
        for p in problems:
            print("!!!   " + p, file=sys.stderr)
        print(bar, file=sys.stderr)
        return 1
    return 0


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
        print()
        base = imports.get("python_startup_s")
        print(
            f"import time (best of {args.import_runs}, wall; bare `python -c pass` = {base * 1000:.0f} ms)"
            if base
            else "import time:"
        )
        for e in exporters:
            im = imports.get(e)
            if im is None:
                continue
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
