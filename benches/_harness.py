"""The harness the benchmark scripts in ``benches/`` share.

Each script (``e2e_traces.py``, ``logs.py``, ``memory.py``, ``metrics.py``, ``transport.py``)
keeps its workload, its checks and its report; this module holds the plumbing
around them:

* the **counter file**: a small file of little-endian uint64 slots, mmap'ed by
  a receiver subprocess (which writes it), the worker and the parent (which
  read it): :class:`Counters`, :func:`new_counter_file`, the ``SLOT_*``
  numbers every layout starts with (:data:`BASE_SLOTS`), and :class:`Tally`,
  the receiver-side totals published there after each request;
* the **receiver subprocess**: on the receiver side a grpcio export server
  (:func:`start_grpc_export_server`, :func:`start_grpc_sink`) and the serving
  loop that ends on SIGTERM, when the parent dies or after an hour
  (:func:`serve_sink`); on the parent side :class:`SinkProcess`, which starts
  ``python SCRIPT _sink COUNTER_FILE ...`` and waits until it serves;
* the **worker subprocess**: the timed run-flush-wait sequence
  (:func:`time_export`, :func:`wait_for_count`), the ``RESULT {json}`` line
  (:func:`emit_result`), and on the parent side :func:`worker_cmd` and
  :func:`run_worker`, which runs ``python SCRIPT _worker ...`` to a deadline
  and parses that line;
* **environments and pre-checks**: :func:`clean_env`, :func:`python_error`,
  :func:`otlp_extension_ok`, and the import-time measurement
  (:func:`measure_imports`, :func:`import_ratios`, :func:`print_import_times`);
* **statistics and formatting**: :func:`e2e_stats`, :func:`create_stats`,
  :func:`best_run`, :func:`otlp_over_official`, :func:`ratio`,
  :func:`median_or_none`, :func:`fmt_rate`, :data:`TIMES`, and the loud
  ``!!!`` block of :func:`report_problems`;
* the worker's view of an exporter (:class:`ExportHooks`), and what the two
  trace benchmarks share of their workload: the span (:data:`SPAN_NAME`,
  :data:`SPAN_ATTRS`), the timed loop (:func:`span_loop`, the same code for
  every exporter) and the exporters' set-up (:func:`official_tracing`,
  :func:`official_trace_hooks`, :func:`otlp_exporter`, :func:`otlp_trace_hooks`;
  ``otlp_exporter`` serves ``logs.py`` too, ``official_tracing`` ``memory.py``).

Only the standard library is imported here at import time; grpc,
opentelemetry and ``otlp`` are imported by the functions that need them (in
the receiver and worker subprocesses). The scripts import this module as
``_harness``: ``python benches/<name>.py`` puts ``benches/`` first on
``sys.path``, and the scripts re-invoke their own file for their
subprocesses, so this works in the parent, the workers and the receivers
alike.
"""

from __future__ import annotations

import json
import mmap
import os
import resource
import signal
import statistics
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple, TextIO

TIMES = "\u00d7"  # MULTIPLICATION SIGN, printed after every ratio

# The span every trace benchmark creates, N times: 5 attributes (str, str, int, int, bool).
SPAN_NAME = "GET /api/items"
SPAN_ATTRS: dict[str, Any] = {
    "http.method": "GET",
    "http.route": "/api/items",
    "http.status_code": 200,
    "net.peer.port": 443,
    "sampled": True,
}

# How long a worker's stderr is kept in error messages and in the JSON runs.
STDERR_TAIL = 3000
# A worker's exit code when the receiver did not get everything before the deadline
# (it still prints its RESULT line).
RC_INCOMPLETE = 3

# --------------------------------------------------------------------------
# Counter file: little-endian uint64 slots.
# --------------------------------------------------------------------------
# Every layout starts with these slots; a script appends its own names.
SLOT_COUNT = 0  # items (spans, log records) received and counted
SLOT_LAST_NS = 1  # time.monotonic_ns() when the last request was handled
SLOT_PORT = 2  # port the receiver is listening on
SLOT_READY = 3  # 1 once the receiver is serving
SLOT_REQUESTS = 4  # export requests received
SLOT_BUSY_NS = 5  # total time spent parsing and counting
SLOT_FIRST_NS = 6  # time.monotonic_ns() when the first request arrived
SLOT_CPU_NS = 7  # the receiver's process CPU (user + system) when ready, then at each request
BASE_SLOTS: tuple[str, ...] = (
    "count",
    "last_ns",
    "port",
    "ready",
    "requests",
    "busy_ns",
    "first_ns",
    "cpu_ns",
)


def process_cpu_ns() -> int:
    """This process's CPU time so far (user + system, all threads), in nanoseconds."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return int((r.ru_utime + r.ru_stime) * 1e9)


class Counters:
    """Reader/writer over a counter file whose slots are named by ``names``
    (the layout: slot i is ``names[i]``, and the file holds ``len(names)`` slots)."""

    def __init__(self, path: str, names: Sequence[str], writable: bool = False) -> None:
        self.names = tuple(names)
        self._index = {name: i for i, name in enumerate(self.names)}
        # mmap keeps its own reference to the file: the fd can be closed.
        with open(path, "r+b" if writable else "rb") as f:
            self._mm = mmap.mmap(
                f.fileno(),
                len(self.names) * 8,
                access=mmap.ACCESS_WRITE if writable else mmap.ACCESS_READ,
            )

    def slot(self, name: str) -> int:
        """The slot number of ``name``."""
        return self._index[name]

    def get(self, slot: int) -> int:
        value: int = struct.unpack_from("<Q", self._mm, slot * 8)[0]
        return value

    def set(self, slot: int, value: int) -> None:
        struct.pack_into("<Q", self._mm, slot * 8, value)

    def snapshot(self) -> dict[str, int]:
        """Every slot, by name, read in one go."""
        return dict(zip(self.names, struct.unpack_from(f"<{len(self.names)}Q", self._mm, 0), strict=False))

    def close(self) -> None:
        self._mm.close()


def new_counter_file(directory: str, name: str, names: Sequence[str]) -> str:
    """Create ``directory/name``, zeroed, sized for the slots ``names``; return its path."""
    path = os.path.join(directory, name)
    with open(path, "wb") as f:
        f.write(b"\0" * (len(names) * 8))
    return path


class Tally:
    """Receiver-side totals of every slot, published to the counter file after each request.

    ``on_first(request)``, if given, runs for the first request only (under the lock,
    before that request's end timestamp is taken), with the ``request`` passed to
    :meth:`record`."""

    def __init__(self, counters: Counters, on_first: Callable[[Any], None] | None = None) -> None:
        self.counters = counters
        self.on_first = on_first
        self.lock = threading.Lock()
        self.totals = dict.fromkeys(counters.names, 0)

    def record(self, t0: int, count: int, request: Any = None, **adds: int) -> None:
        """One request handled: ``t0`` is when its handling started (``time.monotonic_ns()``),
        ``count`` the items it carried, ``adds`` what to add to other named slots (published
        in that order)."""
        with self.lock:
            v = self.totals
            c = self.counters
            if self.on_first is not None and not v["first_ns"]:
                self.on_first(request)
            now = time.monotonic_ns()
            if not v["first_ns"]:
                v["first_ns"] = t0
                c.set(SLOT_FIRST_NS, t0)
            v["count"] += count
            v["requests"] += 1
            v["busy_ns"] += now - t0
            for name, add in adds.items():
                v[name] += add
            # Timestamp first, count last: a reader that sees the final count
            # also sees the matching timestamp.
            c.set(SLOT_LAST_NS, now)
            c.set(SLOT_REQUESTS, v["requests"])
            c.set(SLOT_BUSY_NS, v["busy_ns"])
            for name in adds:
                c.set(c.slot(name), v[name])
            c.set(SLOT_CPU_NS, process_cpu_ns())
            c.set(SLOT_COUNT, v["count"])


# --------------------------------------------------------------------------
# Receiver side (runs in the receiver subprocess)
# --------------------------------------------------------------------------
def start_grpc_export_server(
    service: str,
    export: Callable[[Any, Any], Any],
    request_deserializer: Callable[[bytes], Any],
    response_serializer: Callable[[Any], bytes],
    *,
    max_workers: int = 4,
    max_receive_message_length: int = 256 * 1024 * 1024,
) -> tuple[Any, int]:
    """A started grpcio server on 127.0.0.1 (free port) with one unary ``Export`` method
    on ``service``: the handler ``add_*ServiceServicer_to_server`` would build, with the
    given (de)serializers. Returns the server and its port."""
    from concurrent import futures

    import grpc  # type: ignore[import-untyped]

    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers),
        options=[
            ("grpc.max_receive_message_length", max_receive_message_length),
            ("grpc.so_reuseport", 0),
        ],
    )
    handler = grpc.method_handlers_generic_handler(
        service,
        {
            "Export": grpc.unary_unary_rpc_method_handler(
                export,
                request_deserializer=request_deserializer,
                response_serializer=response_serializer,
            )
        },
    )
    server.add_generic_rpc_handlers((handler,))
    port: int = server.add_insecure_port("127.0.0.1:0")
    if not port:
        raise RuntimeError("grpcio: could not bind a port on 127.0.0.1")
    server.start()
    return server, port


def start_grpc_sink(
    service: str,
    request_cls: Any,
    response_cls: Any,
    on_request: Callable[[Any, int, int], None],
) -> tuple[int, Callable[[], None]]:
    """A counting grpcio export receiver. Every request is parsed with the generated
    ``request_cls``; then ``on_request(request, serialized size, t0)`` runs, where ``t0``
    is when parsing started, and the answer is an empty ``response_cls``.
    Returns the port and a function that stops the server."""

    def deserialize(data: bytes) -> tuple[Any, int, int]:
        # Keep the raw size for the byte counter; parse with the generated class.
        # (grpcio has already undone any gzip: len(data) is the decoded message.)
        t = time.monotonic_ns()
        return request_cls.FromString(data), len(data), t

    def export(parsed: tuple[Any, int, int], _context: Any) -> Any:
        request, nbytes, t0 = parsed  # t0: start of parsing
        on_request(request, nbytes, t0)
        return response_cls()

    server, port = start_grpc_export_server(service, export, deserialize, response_cls.SerializeToString)
    return port, lambda: server.stop(0.5).wait(2)


def serve_sink(
    counters: Counters,
    port: int,
    stop_server: Callable[[], object],
    poll: Callable[[], None] | None = None,
) -> int:
    """Publish ``port`` and the ready flag, then serve until SIGTERM or SIGINT, until the
    parent process goes away, or for an hour at most. ``poll``, if given, runs about
    every millisecond meanwhile (and once more at the end). Then stop the server,
    close the counters and return the exit code (0)."""
    counters.set(SLOT_PORT, port)
    counters.set(SLOT_CPU_NS, process_cpu_ns())
    counters.set(SLOT_READY, 1)

    stop = threading.Event()

    def on_signal(_signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # Also stop if the parent disappears (bounded lifetime: 1 hour at most).
    parent = os.getppid()
    deadline = time.monotonic() + 3600
    interval = 0.001 if poll is not None else 0.5
    next_parent_check = 0.0
    while not stop.is_set() and time.monotonic() < deadline:
        if poll is not None:
            poll()
        if time.monotonic() >= next_parent_check:
            if os.getppid() != parent:
                break
            next_parent_check = time.monotonic() + 0.5
        stop.wait(interval)
    if poll is not None:
        poll()
    stop_server()
    counters.close()
    return 0


# --------------------------------------------------------------------------
# Receiver subprocess, parent side
# --------------------------------------------------------------------------
class SinkProcess:
    """A receiver subprocess, ``python SCRIPT _sink COUNTER_FILE *args``, with its own
    counter file (slots ``names``) in ``directory``. The constructor returns once the
    receiver has published its port; it raises RuntimeError if it exits first or
    does not start within ``start_timeout`` seconds."""

    def __init__(
        self,
        script: str,
        directory: str,
        tag: str,
        names: Sequence[str],
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        start_timeout: float = 20.0,
    ) -> None:
        self.counter_path = new_counter_file(directory, f"sink-{tag}.bin", names)
        self._stderr_path = os.path.join(directory, f"sink-{tag}.err")
        with open(self._stderr_path, "w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, script, "_sink", self.counter_path, *args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                env=env,
            )
        self.counters = Counters(self.counter_path, names)
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
        """The end of what the receiver wrote to stderr (diagnostics)."""
        try:
            with open(self._stderr_path) as f:
                return f.read()[-4000:]
        except (OSError, ValueError):  # diagnostics only
            return ""

    def close(self) -> None:
        """Terminate the receiver (kill it if it does not exit within 5 s)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.counters.close()


# --------------------------------------------------------------------------
# Worker subprocess
# --------------------------------------------------------------------------
class ExportHooks(NamedTuple):
    """The four things a worker needs from an exporter."""

    run: Callable[[], None]  # the timed workload: create (and end) the N items
    flush: Callable[[], bool]
    shutdown: Callable[[], object]
    stats: Callable[[], dict[str, Any]]


def wait_for_count(counters: Counters, n: int, deadline: float) -> bool:
    """Wait until the receiver has counted ``n`` items; False if ``deadline``
    (``time.monotonic()``) passes first."""
    while counters.get(SLOT_COUNT) < n:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


class ExportTiming(NamedTuple):
    """What :func:`time_export` saw, on the system-wide monotonic clock."""

    t0_ns: int  # just before run()
    created_ns: int  # run() returned
    flushed_ns: int  # flush() returned
    seen_ns: int  # the wait returned
    complete: bool  # the wait's verdict
    flush_ok: bool
    snapshot: dict[str, int]  # the counter file when the wait returned
    cpu_ns: int  # this (the worker's) process's CPU from t0 until the wait returned
    sink_cpu0_ns: int  # the receiver's CPU as published at t0 (ready, or its last request)

    @property
    def create_s(self) -> float:
        """Time of the workload on the application thread."""
        return (self.created_ns - self.t0_ns) / 1e9

    @property
    def flush_return_s(self) -> float:
        return (self.flushed_ns - self.t0_ns) / 1e9

    @property
    def e2e_s(self) -> float:
        """From just before the workload to the receiver's handling of the request
        that completed the count (when the wait did not complete: to its end)."""
        last = self.snapshot["last_ns"] if self.complete and self.snapshot["last_ns"] else self.seen_ns
        return (last - self.t0_ns) / 1e9

    def result_fields(self) -> dict[str, Any]:
        """The timing part of a worker's RESULT, with the receiver's base counters."""
        snap = self.snapshot
        return {
            "complete": self.complete,
            "flush_ok": self.flush_ok,
            "create_s": self.create_s,
            "flush_return_s": self.flush_return_s,
            "e2e_s": self.e2e_s,
            "received_at_done": snap["count"],
            "sink_requests": snap["requests"],
            "sink_busy_s": snap["busy_ns"] / 1e9,
            "cpu_s": self.cpu_ns / 1e9,
            "sink_cpu_s": self.sink_cpu_s,
        }

    @property
    def sink_cpu_s(self) -> float | None:
        """The receiver's process CPU from t0 to its last request, when it publishes it."""
        end = self.snapshot.get("cpu_ns", 0)
        return (end - self.sink_cpu0_ns) / 1e9 if end and self.sink_cpu0_ns else None


def time_export(
    run: Callable[[], None],
    flush: Callable[[], object],
    wait: Callable[[float], bool],
    counters: Counters,
    timeout: float,
) -> ExportTiming:
    """The timed part of a worker: ``run()``, ``flush()``, then ``wait(deadline)`` (a
    ``time.monotonic()`` deadline ``timeout`` seconds from the start), then a snapshot of
    the counter file; with the worker's CPU over that time and the receiver's as it
    published it at the start."""
    deadline = time.monotonic() + timeout
    sink_cpu0 = counters.snapshot().get("cpu_ns", 0)
    cpu0 = process_cpu_ns()
    t0 = time.monotonic_ns()
    run()
    t_created = time.monotonic_ns()
    flushed = flush()
    t_flushed = time.monotonic_ns()
    complete = wait(deadline)
    t_seen = time.monotonic_ns()
    cpu = process_cpu_ns() - cpu0
    snap = counters.snapshot()
    return ExportTiming(t0, t_created, t_flushed, t_seen, complete, bool(flushed), snap, cpu, sink_cpu0)


RESULT_PREFIX = "RESULT "


def emit_result(result: Mapping[str, Any]) -> None:
    """The worker's answer to the parent: one ``RESULT {json}`` line on stdout."""
    print(RESULT_PREFIX + json.dumps(result), flush=True)


# --------------------------------------------------------------------------
# The trace workload (e2e_traces.py, transport.py; runs in the worker)
# --------------------------------------------------------------------------
def span_loop(tracer: Any, n: int, shape: str, cm_method: str) -> Callable[[], None]:
    """The timed workload of the trace benchmarks, the same code for every exporter:
    create and end ``n`` spans named :data:`SPAN_NAME` with :data:`SPAN_ATTRS` (one dict
    object, reused). ``shape`` ``start_end``: ``tracer.start_span(...).end()``; ``with``:
    ``with tracer.<cm_method>(...): pass``."""
    attrs = dict(SPAN_ATTRS)
    name = SPAN_NAME

    def run_with() -> None:
        start_cm = getattr(tracer, cm_method)
        for _ in range(n):
            with start_cm(name, attributes=attrs):
                pass

    def run_start_end() -> None:
        start = tracer.start_span
        for _ in range(n):
            start(name, attributes=attrs).end()

    return run_with if shape == "with" else run_start_end


class OfficialTracing(NamedTuple):
    """The official SDK's tracing objects, as :func:`official_tracing` builds them."""

    provider: Any  # opentelemetry.sdk.trace.TracerProvider
    processor: Any  # opentelemetry.sdk.trace.export.BatchSpanProcessor
    tracer: Any


def official_tracing(span_exporter: Any, service_name: str, n: int, batch_size: int) -> OfficialTracing:
    """The official SDK around ``span_exporter``: a ``TracerProvider`` (resource
    ``service.name``; the tracer is named after the service too) with a
    ``BatchSpanProcessor`` whose queue holds all ``n`` spans (so it never drops any)."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    processor = BatchSpanProcessor(
        span_exporter,
        max_queue_size=max(n, 2048),
        max_export_batch_size=batch_size,
    )
    provider.add_span_processor(processor)
    return OfficialTracing(provider, processor, provider.get_tracer(service_name, "1.0.0"))


def official_trace_hooks(
    span_exporter: Any, service_name: str, n: int, batch_size: int, timeout: float, shape: str = "start_end"
) -> ExportHooks:
    """:func:`official_tracing` as the hooks of a worker."""
    provider, _processor, tracer = official_tracing(span_exporter, service_name, n, batch_size)

    def flush() -> bool:
        return bool(provider.force_flush(timeout_millis=int(timeout * 1000)))

    return ExportHooks(
        run=span_loop(tracer, n, shape, "start_as_current_span"),
        flush=flush,
        shutdown=provider.shutdown,
        stats=dict,
    )


#: The byte bound of the benchmarks' otlp queues (see :func:`otlp_exporter`).
QUEUE_BYTES = 2 << 30


def otlp_exporter(endpoint: str, service_name: str, n: int, batch_size: int, **options: Any) -> Any:
    """An ``otlp.Exporter`` whose queue holds all ``n`` items (so it never drops any),
    with resource ``service.name`` and the given further ``options``. Unless ``queue``
    is given, the queue's byte bound is raised too (:data:`QUEUE_BYTES`): the default
    64 MiB holds about 300,000 spans of the benchmarks' shape."""
    import otlp

    options.setdefault("queue", otlp.QueueConfig(max_queue_bytes=QUEUE_BYTES))
    return otlp.Exporter(
        endpoint,
        resource={"service.name": service_name},
        batch=otlp.BatchConfig(
            max_queue_size=max(n, 2048),
            max_export_batch_size=batch_size,
        ),
        **options,
    )


def otlp_trace_hooks(
    exp: Any, service_name: str, n: int, timeout: float, shape: str = "start_end"
) -> ExportHooks:
    """``otlp`` tracing through ``exp`` (see :func:`otlp_exporter`); the tracer is named
    after the service."""
    tracer = exp.tracer(service_name, version="1.0.0")

    def flush() -> bool:
        return bool(exp.force_flush(timeout=timeout))

    def stats() -> dict[str, Any]:
        return dict(exp.stats())

    return ExportHooks(
        run=span_loop(tracer, n, shape, "span"), flush=flush, shutdown=exp.shutdown, stats=stats
    )


# --------------------------------------------------------------------------
# Worker subprocess, parent side
# --------------------------------------------------------------------------
def worker_cmd(script: str, *positional: str, **options: object) -> list[str]:
    """``python SCRIPT _worker POSITIONAL... --OPTION VALUE...``: each keyword becomes
    an option (``batch_size=512`` -> ``--batch-size 512``), in the order given."""
    cmd = [sys.executable, script, "_worker", *positional]
    for name, value in options.items():
        cmd += ["--" + name.replace("_", "-"), str(value)]
    return cmd


class WorkerRun(NamedTuple):
    """A finished (or killed) worker subprocess."""

    result: dict[str, Any] | None  # its last RESULT line, parsed
    returncode: int | None  # None: killed at the deadline
    stderr: str

    @property
    def timed_out(self) -> bool:
        return self.returncode is None

    @property
    def stderr_tail(self) -> str:
        return self.stderr[-STDERR_TAIL:]

    def failure(self) -> str:
        """The error of a worker that gave no (usable) result."""
        return f"worker failed rc={self.returncode}: {self.stderr_tail}"

    def rc_error(self) -> str | None:
        """The error of a worker that printed a result but then exited with a code
        other than 0 or :data:`RC_INCOMPLETE`, else None."""
        if self.returncode in (0, RC_INCOMPLETE):
            return None
        return f"worker rc={self.returncode}: {self.stderr_tail}"


def run_worker(cmd: Sequence[str], timeout: float, env: Mapping[str, str] | None = None) -> WorkerRun:
    """Run a worker to ``timeout`` seconds (then it is killed), capturing its output."""
    try:
        proc = subprocess.run(
            list(cmd),
            check=False,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )
    except subprocess.TimeoutExpired as e:
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        return WorkerRun(None, None, err)
    result: dict[str, Any] | None = None
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            result = json.loads(line[len(RESULT_PREFIX) :])
    return WorkerRun(result, proc.returncode, proc.stderr)


def keep_stderr(result: dict[str, Any], run: WorkerRun, verbose: bool) -> None:
    """With ``-v``, keep the end of the worker's stderr (if any) in its JSON result."""
    if run.stderr.strip() and verbose:
        result["worker_stderr"] = run.stderr_tail


# --------------------------------------------------------------------------
# Environments and pre-checks
# --------------------------------------------------------------------------
def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env() -> dict[str, str]:
    """An environment for workers and receivers: no OTEL_* settings, no HTTP proxies."""
    drop = ("OTEL_", "http_proxy", "https_proxy", "all_proxy", "no_proxy")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop) and k.lower() not in drop}


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    """``python -c CODE`` in this interpreter, output captured (2 minutes at most)."""
    return subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )


def python_error(code: str) -> str | None:
    """None if ``python -c CODE`` succeeds, else the end of its stderr."""
    r = run_python(code)
    return None if r.returncode == 0 else r.stderr[-2000:]


def otlp_extension_ok() -> bool:
    """Can this interpreter import the extension? If not, say so on stderr."""
    err = python_error("import otlp._native")
    if err is None:
        return True
    print(
        "ERROR: `import otlp._native` fails in this interpreter; build the extension "
        "(maturin develop --release) or use --only official.\n" + err,
        file=sys.stderr,
    )
    return False


def measure_import(stmt: str, runs: int = 5) -> float | None:
    """Best wall time of ``runs`` fresh ``python -c STMT`` processes (None if it fails)."""
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


def measure_imports(stmts: Mapping[str, str], runs: int) -> dict[str, Any]:
    """Import times: ``python_startup_s`` (a bare ``python -c pass``), then for each
    name in ``stmts`` its statement's best wall time and that minus the startup."""
    base = measure_import("pass", runs)
    imports: dict[str, Any] = {"python_startup_s": base}
    for name, stmt in stmts.items():
        t = measure_import(stmt, runs)
        imports[name] = {
            "stmt": stmt,
            "best_s": t,
            "net_s": (t - base) if (t is not None and base is not None) else None,
        }
    return imports


def import_ratios(imports: Mapping[str, Any]) -> dict[str, float]:
    """official/otlp import time, net of interpreter start and wall, when both are known."""
    official, ours = imports.get("official", {}), imports.get("otlp", {})
    if not (official.get("net_s") and ours.get("net_s")):
        return {}
    return {
        "import_official_over_otlp_net": official["net_s"] / ours["net_s"],
        "import_official_over_otlp_wall": official["best_s"] / ours["best_s"],
    }


def print_import_times(imports: Mapping[str, Any], ratios: Mapping[str, Any], runs: int) -> None:
    """The import-time block of the report (after an empty line)."""
    print()
    base = imports.get("python_startup_s")
    print(
        f"import time (best of {runs}, wall; bare `python -c pass` = {base * 1000:.0f} ms)"
        if base
        else "import time:"
    )
    for name, im in imports.items():
        if name == "python_startup_s":
            continue
        if im["best_s"] is None:
            print(f"  {name:<10} {im['stmt']}: FAILED")
        else:
            print(
                f"  {name:<10} {im['best_s'] * 1000:7.1f} ms  "
                f"(net {im['net_s'] * 1000:6.1f} ms)  {im['stmt']}"
            )
    if "import_official_over_otlp_net" in ratios:
        print(
            f"  import ratio official/otlp = {ratios['import_official_over_otlp_net']:.1f}{TIMES} "
            f"(net of interpreter start; {ratios['import_official_over_otlp_wall']:.1f}{TIMES} wall)"
        )


# --------------------------------------------------------------------------
# Statistics, ratios, formatting
# --------------------------------------------------------------------------
def best_run(ok: Sequence[dict[str, Any]], unit: str) -> dict[str, Any]:
    """The run with the best end-to-end rate (``unit``: the key holding N)."""
    return min(ok, key=lambda r: r["e2e_s"] / r[unit])


def e2e_stats(ok: Sequence[dict[str, Any]], unit: str) -> dict[str, float]:
    """End-to-end time of the best run, and the best and median N / end-to-end time."""
    rates = [r[unit] / r["e2e_s"] for r in ok]
    return {
        "best_e2e_s": best_run(ok, unit)["e2e_s"],
        "best_e2e_rate": max(rates),
        "median_e2e_rate": statistics.median(rates),
    }


def create_stats(ok: Sequence[dict[str, Any]], unit: str) -> dict[str, float]:
    """Best and median N / time on the application thread, and the best such time."""
    rates = [r[unit] / r["create_s"] for r in ok]
    return {
        "best_create_rate": max(rates),
        "median_create_rate": statistics.median(rates),
        "best_create_s": min(r["create_s"] for r in ok),
    }


def otlp_over_official(ours: Mapping[str, Any], official: Mapping[str, Any]) -> dict[str, float]:
    """otlp/official rate ratios of two summaries built from :func:`e2e_stats` and
    :func:`create_stats` (empty unless both have successful runs)."""
    if not (ours.get("ok_runs") and official.get("ok_runs")):
        return {}
    return {
        "e2e_best": ours["best_e2e_rate"] / official["best_e2e_rate"],
        "e2e_median": ours["median_e2e_rate"] / official["median_e2e_rate"],
        "create_best": ours["best_create_rate"] / official["best_create_rate"],
        "create_median": ours["median_create_rate"] / official["median_create_rate"],
    }


def ratio(a: float | None, b: float | None) -> float | None:
    """a / b, or None if either is missing (or b is 0)."""
    return a / b if a is not None and b else None


def median_or_none(xs: Iterable[float | None]) -> float | None:
    """The median of the values that are not None, or None if there are none."""
    vals = [x for x in xs if x is not None]
    return statistics.median(vals) if vals else None


def fmt_rate(x: float) -> str:
    """A rate as a whole number with thousands separators."""
    return f"{x:,.0f}"


def progress_stream(json_output: bool) -> TextIO:
    """Where per-run progress lines go: stdout for the tables, stderr with --json."""
    return sys.stderr if json_output else sys.stdout


def report_problems(headline: str, problems: Sequence[str]) -> int:
    """Print ``problems`` in a loud ``!!!`` block on stderr; the script's exit code
    (1 if there are any, else 0)."""
    if not problems:
        return 0
    bar = "!" * 78
    print(bar, file=sys.stderr)
    print(f"!!! {headline}", file=sys.stderr)
    for p in problems:
        print("!!!   " + p, file=sys.stderr)
    print(bar, file=sys.stderr)
    return 1
