#!/usr/bin/env python3
"""Memory benchmark: ``otlp`` vs the official OpenTelemetry Python SDK + OTLP/gRPC
exporter.

Run from the repository root::

    python benches/memory.py                          # both phases, both exporters, 3 repeats
    python benches/memory.py --only official          # no extension needed
    python benches/memory.py --phase backlog --spans 100000 --repeat 1 --json

Two phases, each run in a fresh worker subprocess per exporter and repeat
(runs alternate official, otlp, official, otlp, ...):

* **backlog** -- the collector hangs: a tiny TCP server in this (parent)
  process on 127.0.0.1 accepts every connection, reads and discards what
  arrives and never writes a byte. With ``max_queue_size=N`` the worker
  creates and ends N spans (the 5 attributes of ``e2e_traces.py``), waits
  ``--settle`` seconds, then reads its RSS. Reported: RSS before the spans
  (after imports and exporter set-up) and after them, their difference per
  queued span, the peak, and how many spans the exporter really holds
  (``otlp``: ``Exporter.stats()``; official: the ``BatchSpanProcessor``'s
  queue length plus the spans inside the exporter's ``export()`` call), so a
  drop policy cannot pass for low memory.
* **steady** -- the exporter delivers N spans, created at full speed, to the
  grpcio sink of ``e2e_traces.py``. Reported: peak RSS minus the baseline.

RSS comes from ``/proc/self/status`` (``VmRSS``; the peak is ``VmHWM``, reset
at the baseline through ``/proc/self/clear_refs``) and from ``ru_maxrss`` (read
before that reset and at the end; the larger is the process's lifetime peak,
since the reset clears ``ru_maxrss`` too). Everything here is whole-process RSS: it includes
what Python's allocator (pymalloc) and glibc's malloc keep after objects are
freed, see the notes the report prints.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import resource
import selectors
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import _harness as harness
import e2e_traces
from _harness import TIMES, fmt_rate

HERE = os.path.abspath(__file__)
# The steady phase uses e2e_traces.py's sink, as it is: `python e2e_traces.py _sink ...`.
E2E_SCRIPT = os.path.abspath(e2e_traces.__file__)
SINK_SLOTS = e2e_traces.SLOTS

SERVICE_NAME = "memory-bench"
EXPORTERS = ("official", "otlp")
PHASES = ("backlog", "steady")
DEFAULT_SPANS = 1_000_000
MIB = 1024 * 1024

# /proc/self/status fields read by the worker (kB there, bytes here), and our names for them.
STATUS_FIELDS = {"VmRSS": "rss", "VmHWM": "hwm", "RssAnon": "anon", "RssFile": "file"}


# --------------------------------------------------------------------------
# Parent: the stalled collector
# --------------------------------------------------------------------------
class StalledCollector:
    """A collector that hangs: a TCP server on 127.0.0.1 (free port), served by a
    daemon thread of the parent, that accepts every connection and reads and discards
    whatever arrives, but never writes a byte (no HTTP/2 settings, no response). It
    stops on :meth:`close` (or leaving the ``with`` block) or after ``lifetime``
    seconds, whichever comes first, and then closes every socket."""

    def __init__(self, lifetime: float) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self.connections = 0
        self.bytes_read = 0
        self._stop = threading.Event()
        self._deadline = time.monotonic() + lifetime
        self._thread = threading.Thread(target=self._serve, name="stalled-collector", daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self._listener, selectors.EVENT_READ)
        conns: list[socket.socket] = []
        try:
            while not self._stop.is_set() and time.monotonic() < self._deadline:
                for key, _events in sel.select(0.1):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    if sock is self._listener:
                        try:
                            conn, _addr = self._listener.accept()
                        except (BlockingIOError, InterruptedError):
                            continue
                        conn.setblocking(False)
                        sel.register(conn, selectors.EVENT_READ)
                        conns.append(conn)
                        self.connections += 1
                        continue
                    try:
                        data = sock.recv(1 << 16)
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError:
                        data = b""
                    if data:
                        self.bytes_read += len(data)
                    else:  # the exporter closed it
                        sel.unregister(sock)
                        conns.remove(sock)
                        sock.close()
        finally:
            for conn in conns:
                conn.close()
            sel.close()
            self._listener.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def __enter__(self) -> StalledCollector:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------
# Worker: memory readings
# --------------------------------------------------------------------------
def memory_now() -> dict[str, int]:
    """This process's memory now, in bytes (``py_blocks`` is a count): ``rss``
    (VmRSS), ``hwm`` (VmHWM, peak RSS since start or the last :func:`reset_peak`),
    ``anon`` (RssAnon) and ``file`` (RssFile) from /proc/self/status; ``maxrss``
    (``ru_maxrss``: the peak RSS, which :func:`reset_peak` resets too); ``py_blocks``
    (``sys.getallocatedblocks()``: memory blocks Python's object allocator has handed
    out and not freed)."""
    out: dict[str, int] = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in STATUS_FIELDS:
                out[STATUS_FIELDS[key]] = int(rest.split()[0]) * 1024
    out["maxrss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    out["py_blocks"] = sys.getallocatedblocks()
    return out


def reset_peak() -> bool:
    """Reset VmHWM to the current RSS (``echo 5 > /proc/self/clear_refs``); False if
    the kernel refuses. ``ru_maxrss`` reads the same counter, so it is reset too."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def malloc_trim() -> bool:
    """Ask glibc to hand free heap memory back to the OS (``malloc_trim(0)``). It does
    not touch pymalloc's arenas. False if there is no such function."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return False
    trim(0)
    return True


def measure_after(settle: float) -> dict[str, int]:
    """Wait ``settle`` seconds, collect garbage, then read the memory."""
    time.sleep(settle)
    gc.collect()
    return memory_now()


def bounded(fn: Callable[[], object], timeout: float) -> dict[str, Any]:
    """Run ``fn()`` in a daemon thread and wait for it ``timeout`` seconds at most."""
    done = threading.Event()
    errors: list[str] = []

    def target() -> None:
        try:
            fn()
        except BaseException as e:
            errors.append(repr(e))  # for the RESULT; the thread's traceback goes to stderr
            raise
        finally:
            done.set()

    t0 = time.perf_counter()
    threading.Thread(target=target, name="bounded-shutdown", daemon=True).start()
    finished = done.wait(timeout)
    return {
        "shutdown_finished": finished,
        "shutdown_s": time.perf_counter() - t0,
        "shutdown_timeout_s": timeout,
        "shutdown_error": errors[0] if errors else None,
    }


def leave(rc: int, hard: bool) -> int:
    """The worker's exit: ``hard`` (a shutdown still running in a thread) leaves with
    ``os._exit``, so nothing at interpreter exit can wait on the stalled collector."""
    if hard:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(rc)
    return rc


# --------------------------------------------------------------------------
# Worker: the exporters
# --------------------------------------------------------------------------
class Backlog(NamedTuple):
    """An exporter set up for the backlog phase."""

    run: Callable[[], None]  # create and end the N spans
    held: Callable[[], dict[str, Any]]  # the exporter's own account of the N spans
    shutdown: Callable[[float], dict[str, Any]]  # bounded shutdown (timeout in seconds)


def counting_exporter(inner: Any) -> Any:
    """A ``SpanExporter`` that passes everything to ``inner`` and keeps count of the
    spans inside ``export()`` right now (``in_export``) and of those whose export
    succeeded (``exported``) or failed (``failed``)."""
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    class CountingSpanExporter(SpanExporter):
        def __init__(self) -> None:
            self.in_export = 0
            self.exported = 0
            self.failed = 0

        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            k = len(spans)
            self.in_export += k
            ok = False
            try:
                result: SpanExportResult = inner.export(spans)
                ok = result is SpanExportResult.SUCCESS
                return result
            finally:
                # Settle the count before leaving in_export, so no reader misses them.
                if ok:
                    self.exported += k
                else:
                    self.failed += k
                self.in_export -= k

        def shutdown(self, timeout_millis: float = 30_000) -> None:
            inner.shutdown(timeout_millis=timeout_millis)

        def force_flush(self, timeout_millis: int = 30_000) -> bool:
            return bool(inner.force_flush(timeout_millis))

    return CountingSpanExporter()


def stable(read: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``read()`` until two reads 50 ms apart agree (20 tries at most): a batch moving
    from the queue into ``export()`` is briefly in neither."""
    prev = read()
    for _ in range(20):
        time.sleep(0.05)
        cur = read()
        if cur == prev:
            break
        prev = cur
    return prev


def official_backlog(args: argparse.Namespace, n: int) -> Backlog:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    counting = counting_exporter(OTLPSpanExporter(endpoint=args.endpoint, insecure=True))
    provider, processor, tracer = harness.official_tracing(counting, SERVICE_NAME, n, args.batch_size)
    # BatchSpanProcessor keeps its spans in BatchProcessor._queue (a deque) in SDK 1.45.
    queue = getattr(getattr(processor, "_batch_processor", None), "_queue", None)
    if queue is not None and not hasattr(queue, "__len__"):
        queue = None

    def read() -> dict[str, Any]:
        queued = len(queue) if queue is not None else None
        in_export, exported, failed = counting.in_export, counting.exported, counting.failed
        return {
            "held": None if queued is None else queued + in_export,
            "queued": queued,
            "in_export": in_export,
            "exported": exported,
            "lost_failed_export": failed,
            "dropped": None,  # the SDK keeps no count we can read
            # Spans that are nowhere (dropped by the queue): must be 0.
            "unaccounted": None if queued is None else n - queued - in_export - exported - failed,
            "checked_by": (
                "len(BatchSpanProcessor._batch_processor._queue) + spans inside OTLPSpanExporter.export()"
                if queued is not None
                else "not checked: BatchSpanProcessor._batch_processor._queue not found"
            ),
        }

    return Backlog(
        run=harness.span_loop(tracer, n, "start_end", "start_as_current_span"),
        held=lambda: stable(read),
        shutdown=lambda timeout: bounded(provider.shutdown, timeout),
    )


def otlp_backlog(args: argparse.Namespace, n: int) -> Backlog:
    exp = harness.otlp_exporter(args.endpoint, SERVICE_NAME, n, args.batch_size)
    tracer = exp.tracer(SERVICE_NAME, version="1.0.0")

    def read() -> dict[str, Any]:
        s = exp.stats()
        pending, exported, failed = s["spans_pending"], s["spans_exported"], s["spans_failed"]
        dropped, rejected = s["spans_dropped"], s["spans_rejected"]
        return {
            "held": pending,
            "queued": None,
            "in_export": None,
            "exported": exported,
            "lost_failed_export": failed,
            "dropped": dropped,
            "unaccounted": n - pending - exported - failed - dropped - rejected,
            "accepted": s["spans_accepted"],
            "checked_by": "Exporter.stats()['spans_pending'] (queued + in flight)",
        }

    def shutdown(timeout: float) -> dict[str, Any]:
        # otlp's shutdown is bounded by its own timeout; the thread is a second guard.
        out = bounded(lambda: exp.shutdown(timeout=timeout), timeout + 5)
        out["stats_after_shutdown"] = dict(exp.stats())
        return out

    return Backlog(
        run=harness.span_loop(tracer, n, "start_end", "span"),
        held=lambda: stable(read),
        shutdown=shutdown,
    )


def lifetime_peak(base: Mapping[str, int], end: Mapping[str, int]) -> int:
    """The process's peak RSS since it started. :func:`reset_peak` at the baseline clears
    ``ru_maxrss`` too, so: the larger of ``ru_maxrss`` at the baseline (imports and
    set-up) and the peak since then (``ru_maxrss``, VmHWM and VmRSS at the end: the
    kernel's counters are synced lazily per thread, so they can differ by a few
    hundred KiB)."""
    return max(base["maxrss"], end["maxrss"], end["hwm"], end["rss"])


def derive(
    base: Mapping[str, int], after: Mapping[str, int], trimmed: Mapping[str, int], n: int
) -> dict[str, Any]:
    """The numbers a run reports, from its three readings (bytes unless named otherwise)."""
    delta = after["rss"] - base["rss"]
    return {
        "base_rss": base["rss"],
        "after_rss": after["rss"],
        "delta": delta,
        "bytes_per_span": delta / n,
        "anon_delta": after["anon"] - base["anon"],
        "peak_delta": after["hwm"] - base["rss"],
        "maxrss": lifetime_peak(base, after),
        "trim_delta": trimmed["rss"] - base["rss"],
        "py_blocks_per_span": (after["py_blocks"] - base["py_blocks"]) / n,
    }


def backlog_worker(args: argparse.Namespace) -> int:
    n: int = args.spans
    setup = official_backlog if args.exporter == "official" else otlp_backlog
    run, held, shutdown = setup(args, n)

    gc.collect()
    base = memory_now()
    peak_reset = reset_peak()
    t0 = time.perf_counter()
    run()
    create_s = time.perf_counter() - t0
    after = measure_after(args.settle)
    account = held()
    trim_ok = malloc_trim()
    trimmed = memory_now()
    result: dict[str, Any] = {
        "phase": "backlog",
        "exporter": args.exporter,
        "spans": n,
        "create_s": create_s,
        "settle_s": args.settle,
        "peak_reset": peak_reset,
        "malloc_trim": trim_ok,
        **derive(base, after, trimmed, n),
        "account": account,
        "memory": {"baseline": base, "after": after, "trimmed": trimmed},
    }
    # Report first, so a shutdown that goes wrong cannot lose the measurement.
    harness.emit_result(result)
    result.update(shutdown(args.shutdown_timeout))
    harness.emit_result(result)
    return leave(0, hard=not result["shutdown_finished"])


def steady_worker(args: argparse.Namespace) -> int:
    n: int = args.spans
    counters = harness.Counters(args.counter, SINK_SLOTS)
    if args.exporter == "official":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        hooks = harness.official_trace_hooks(
            OTLPSpanExporter(endpoint=args.endpoint, insecure=True),
            SERVICE_NAME,
            n,
            args.batch_size,
            args.timeout,
        )
    else:
        exp = harness.otlp_exporter(args.endpoint, SERVICE_NAME, n, args.batch_size)
        hooks = harness.otlp_trace_hooks(exp, SERVICE_NAME, n, args.timeout)

    gc.collect()
    base = memory_now()
    peak_reset = reset_peak()
    timing = harness.time_export(
        hooks.run,
        hooks.flush,
        lambda deadline: harness.wait_for_count(counters, n, deadline),
        counters,
        args.timeout,
    )
    peak = memory_now()
    stats = hooks.stats()
    gc.collect()
    end = memory_now()
    trim_ok = malloc_trim()
    trimmed = memory_now()
    result: dict[str, Any] = {
        "phase": "steady",
        "exporter": args.exporter,
        "spans": n,
        **timing.result_fields(),
        "peak_reset": peak_reset,
        "malloc_trim": trim_ok,
        "base_rss": base["rss"],
        "peak_rss": peak["hwm"],
        "peak_delta": peak["hwm"] - base["rss"],
        "maxrss": lifetime_peak(base, peak),
        "end_delta": end["rss"] - base["rss"],
        "trim_delta": trimmed["rss"] - base["rss"],
        "stats_before_shutdown": stats,
        "memory": {"baseline": base, "peak": peak, "end": end, "trimmed": trimmed},
    }
    harness.emit_result(result)
    result.update(bounded(hooks.shutdown, args.shutdown_timeout))
    harness.emit_result(result)
    counters.close()
    rc = 0 if timing.complete else harness.RC_INCOMPLETE
    return leave(rc, hard=not result["shutdown_finished"])


# --------------------------------------------------------------------------
# Parent: runs
# --------------------------------------------------------------------------
def mib(b: float) -> float:
    return b / MIB


def finish_run(
    w: harness.WorkerRun, base: dict[str, Any], args: argparse.Namespace
) -> tuple[dict[str, Any], bool]:
    """The run's result (``base`` if the worker gave none, with the error), and whether
    the worker gave one."""
    if w.result is None:
        base["error"] = "worker timed out (killed)" if w.timed_out else w.failure()
        return base, False
    result = {**base, **w.result}
    rc_error = w.rc_error()
    if rc_error:
        result["error"] = rc_error
    harness.keep_stderr(result, w, args.verbose)
    return result, True


def worker_timeout(args: argparse.Namespace) -> float:
    timeout: float = args.timeout + args.shutdown_timeout + 60
    return timeout


def run_backlog(exporter: str, args: argparse.Namespace) -> dict[str, Any]:
    with StalledCollector(lifetime=worker_timeout(args) + 30) as collector:
        cmd = harness.worker_cmd(
            HERE,
            "backlog",
            exporter=exporter,
            endpoint=collector.endpoint,
            spans=args.spans,
            batch_size=args.batch_size,
            timeout=args.timeout,
            settle=args.settle,
            shutdown_timeout=args.shutdown_timeout,
        )
        w = harness.run_worker(cmd, worker_timeout(args), env=harness.clean_env())
        result, _ = finish_run(w, {"phase": "backlog", "exporter": exporter, "spans": args.spans}, args)
        result["collector_connections"] = collector.connections
        result["collector_bytes_read"] = collector.bytes_read
    return result


def run_steady(exporter: str, args: argparse.Namespace, tmp: str, tag: str) -> dict[str, Any]:
    env = harness.clean_env()
    sink = harness.SinkProcess(E2E_SCRIPT, tmp, tag, SINK_SLOTS, env=env)
    try:
        cmd = harness.worker_cmd(
            HERE,
            "steady",
            exporter=exporter,
            endpoint=sink.endpoint,
            counter=sink.counter_path,
            spans=args.spans,
            batch_size=args.batch_size,
            timeout=args.timeout,
            shutdown_timeout=args.shutdown_timeout,
        )
        w = harness.run_worker(cmd, worker_timeout(args), env=env)
        result, got = finish_run(w, {"phase": "steady", "exporter": exporter, "spans": args.spans}, args)
        if got:
            time.sleep(0.2)  # let stragglers land, then read the final count
        result["received"] = sink.counters.get(harness.SLOT_COUNT)
        return result
    finally:
        sink.close()


def account_text(a: Mapping[str, Any], n: int) -> str:
    if a.get("held") is None:
        return "held: " + str(a.get("checked_by"))
    text = f"held {a['held']:,} of {n:,}"
    if a.get("queued") is not None:
        text += f" (queue {a['queued']:,} + {a['in_export']:,} in export())"
    if a.get("lost_failed_export"):
        text += f", {a['lost_failed_export']:,} lost to failed exports"
    if a.get("dropped"):
        text += f", {a['dropped']:,} DROPPED"
    if a.get("unaccounted"):
        text += f", {a['unaccounted']:,} UNACCOUNTED"
    return text


def shutdown_text(r: Mapping[str, Any]) -> str:
    if "shutdown_finished" not in r:
        return "shutdown: not reached"
    if r["shutdown_finished"]:
        return f"shutdown {r['shutdown_s']:.1f}s"
    return f"shutdown unfinished after {r['shutdown_timeout_s']:.0f}s, worker left via os._exit"


def progress(r: Mapping[str, Any], rep: int, json_output: bool) -> None:
    tag = f"  [{r['phase']} {r['exporter']} #{rep + 1}]"
    if "error" in r and "base_rss" not in r:
        print(f"{tag} ERROR: {r['error']}", file=sys.stderr, flush=True)
        return
    out = harness.progress_stream(json_output)
    if r["phase"] == "backlog":
        line = (
            f"{tag} {r['spans']:,} spans in {r['create_s']:.1f}s: RSS {mib(r['base_rss']):.1f} -> "
            f"{mib(r['after_rss']):.1f} MiB (+{mib(r['delta']):.1f} MiB, {r['bytes_per_span']:.0f} B/span), "
            f"peak +{mib(r['peak_delta']):.1f}, max RSS {mib(r['maxrss']):.1f} MiB; "
            f"{account_text(r['account'], r['spans'])}; collector: {r['collector_connections']} conn, "
            f"{r['collector_bytes_read']:,} B read, 0 written; {shutdown_text(r)}"
        )
    else:
        line = (
            f"{tag} {r['spans']:,} spans: e2e {r['e2e_s']:.1f}s ({fmt_rate(r['spans'] / r['e2e_s'])}/s), "
            f"RSS base {mib(r['base_rss']):.1f} MiB, peak {mib(r['peak_rss']):.1f} "
            f"(+{mib(r['peak_delta']):.1f}), max RSS {mib(r['maxrss']):.1f}, end +{mib(r['end_delta']):.1f} "
            f"(+{mib(r['trim_delta']):.1f} after malloc_trim); sink got {r['received']:,}; {shutdown_text(r)}"
        )
    print(line, file=out, flush=True)
    if "error" in r:
        print(f"{tag} ERROR: {r['error']}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Parent: checks, summary, report
# --------------------------------------------------------------------------
def check_run(r: Mapping[str, Any], i: int) -> tuple[list[str], list[str]]:
    """(problems, notes) of one run. A run with a problem is left out of the summary."""
    where = f"{r['phase']} {r['exporter']} run {i + 1}"
    problems: list[str] = []
    notes: list[str] = []
    if "error" in r:
        problems.append(f"{where}: {r['error']}")
    if "base_rss" not in r:
        return problems, notes
    if not r.get("peak_reset"):
        notes.append(f"{where}: /proc/self/clear_refs refused; the peak includes imports")
    if r["phase"] == "backlog":
        a = r["account"]
        if a.get("dropped"):
            problems.append(
                f"{where}: exporter dropped {a['dropped']:,} spans ({account_text(a, r['spans'])})"
            )
        if a.get("unaccounted"):
            problems.append(
                f"{where}: {a['unaccounted']:,} spans are neither queued, in export nor failed "
                f"({account_text(a, r['spans'])})"
            )
        if a.get("held") is None:
            notes.append(f"{where}: spans held not checked ({a.get('checked_by')})")
        elif a["held"] < r["spans"] and not a.get("dropped") and not a.get("unaccounted"):
            notes.append(
                f"{where}: holds {a['held']:,} of {r['spans']:,} spans at the measurement "
                f"({a['lost_failed_export']:,} lost when export attempts to the stalled collector "
                f"timed out; B/span still divides by N)"
            )
    else:
        if r.get("received") != r["spans"]:
            problems.append(
                f"{where}: sink received {r.get('received')} spans, expected exactly {r['spans']}"
            )
        elif not r.get("complete"):
            problems.append(f"{where}: the sink did not count all spans before the deadline")
        if r.get("stats_before_shutdown", {}).get("spans_dropped"):
            problems.append(
                f"{where}: otlp reports {r['stats_before_shutdown']['spans_dropped']} dropped spans"
            )
        if not r.get("flush_ok", True):
            problems.append(f"{where}: force_flush returned False")
    return problems, notes


def spread(xs: Sequence[float]) -> dict[str, float]:
    """Best (smallest: least memory, least time) and median."""
    return {"best": min(xs), "median": statistics.median(xs)}


BACKLOG_KEYS = (
    "base_rss",
    "after_rss",
    "delta",
    "bytes_per_span",
    "anon_delta",
    "peak_delta",
    "maxrss",
    "trim_delta",
    "py_blocks_per_span",
    "create_s",
)
STEADY_KEYS = ("base_rss", "peak_rss", "peak_delta", "maxrss", "end_delta", "trim_delta", "e2e_s")


def summarize(phase: str, ok: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"ok_runs": len(ok)}
    if not ok:
        return out
    keys = BACKLOG_KEYS if phase == "backlog" else STEADY_KEYS
    out["spans"] = ok[0]["spans"]
    for k in keys:
        out[k] = spread([r[k] for r in ok])
    if phase == "backlog":
        helds = [r["account"]["held"] for r in ok]
        out["held_min"] = None if None in helds else min(helds)
        out["held_checked_by"] = ok[0]["account"]["checked_by"]
        out["lost_failed_export_max"] = max(r["account"]["lost_failed_export"] for r in ok)
    else:
        rates = [r["spans"] / r["e2e_s"] for r in ok]
        out["e2e_rate"] = {"best": max(rates), "median": statistics.median(rates)}
    return out


# What the ratios compare: (phase, summary key, label).
RATIO_ROWS = (
    ("backlog", "bytes_per_span", "backlog: RSS growth per queued span (after - baseline) / N"),
    ("backlog", "peak_delta", "backlog: peak RSS - baseline"),
    ("backlog", "maxrss", "backlog: max RSS of the process (lifetime peak)"),
    ("steady", "peak_delta", "steady:  peak RSS - baseline"),
    ("steady", "maxrss", "steady:  max RSS of the process (lifetime peak)"),
)


def memory_ratios(summary: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """official / otlp for each :data:`RATIO_ROWS` entry both exporters have (best, median)."""
    out: dict[str, Any] = {}
    for phase, key, label in RATIO_ROWS:
        official = summary.get(phase, {}).get("official", {}).get(key)
        ours = summary.get(phase, {}).get("otlp", {}).get(key)
        if not official or not ours:
            continue
        out[f"{phase}_{key}"] = {
            "label": label,
            "best": harness.ratio(official["best"], ours["best"]) if ours["best"] > 0 else None,
            "median": harness.ratio(official["median"], ours["median"]) if ours["median"] > 0 else None,
        }
    return out


def fmt_ratio(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1f}{TIMES}"


def best_med(s: Mapping[str, Any], key: str, scale: Callable[[float], float] = mib, fmt: str = ".1f") -> str:
    v = s[key]
    return f"{format(scale(v['best']), fmt)} / {format(scale(v['median']), fmt)}"


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A table: the first column left-aligned, the others right-aligned, each as wide
    as its widest cell. A row with only two cells (name, message) is printed as is."""
    full = [r for r in rows if len(r) == len(header)]
    widths = [max(len(c) for c in col) for col in zip(header, *full, strict=False)]

    def line(cells: Sequence[str]) -> str:
        first = f"{cells[0]:<{widths[0]}}"
        return "  ".join([first, *(f"{c:>{w}}" for c, w in zip(cells[1:], widths[1:], strict=False))])

    hdr = line(header)
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print(line(r) if len(r) == len(header) else f"{r[0]:<{widths[0]}}  {' '.join(r[1:])}")


def print_report(
    args: argparse.Namespace,
    exporters: Sequence[str],
    phases: Sequence[str],
    summary: Mapping[str, Mapping[str, Any]],
    ratios: Mapping[str, Any],
) -> None:
    def same(x: float) -> float:
        return x

    n = args.spans
    print()
    print(
        f"memory benchmark: {n:,} spans, 5 attributes/span, queue {max(n, 2048):,}, batch {args.batch_size}, "
        f"repeat {args.repeat} (cells: best / median; best = least), python {sys.version.split()[0]}"
    )
    if "backlog" in phases:
        print()
        print(
            f"backlog: spans created and ended while the collector accepts connections and never answers; "
            f"RSS read {args.settle:g}s after the last span"
        )
        rows = []
        for e in exporters:
            s = summary["backlog"][e]
            if not s.get("ok_runs"):
                rows.append([e, "(no successful run)"])
                continue
            rows.append(
                [
                    e,
                    f"{mib(s['base_rss']['median']):.1f}",
                    best_med(s, "after_rss"),
                    best_med(s, "delta"),
                    best_med(s, "bytes_per_span", same, ".0f"),
                    best_med(s, "peak_delta"),
                    best_med(s, "maxrss"),
                    best_med(s, "trim_delta"),
                    f"{s['py_blocks_per_span']['median']:.1f}",
                    "not checked" if s["held_min"] is None else f"{s['held_min']:,}",
                    best_med(s, "create_s", same),
                ]
            )
        print_table(
            [
                "exporter",
                "base MiB",
                "after MiB",
                "after-base MiB",
                "B/span",
                "peak-base MiB",
                "max RSS MiB",
                "trimmed MiB",
                "pyblk/span",
                "held (min)",
                "create s",
            ],
            rows,
        )
        for e in exporters:
            s = summary["backlog"][e]
            if s.get("ok_runs"):
                lost = s["lost_failed_export_max"]
                extra = f"; up to {lost:,} lost to failed export attempts" if lost else ""
                print(f"  held by {e}: {s['held_checked_by']}{extra}")
    if "steady" in phases:
        print()
        print("steady: spans created at full speed and delivered to the grpcio sink of e2e_traces.py")
        rows = []
        for e in exporters:
            s = summary["steady"][e]
            if not s.get("ok_runs"):
                rows.append([e, "(no successful run)"])
                continue
            rows.append(
                [
                    e,
                    f"{mib(s['base_rss']['median']):.1f}",
                    best_med(s, "peak_rss"),
                    best_med(s, "peak_delta"),
                    best_med(s, "maxrss"),
                    best_med(s, "end_delta"),
                    best_med(s, "trim_delta"),
                    f"{fmt_rate(s['e2e_rate']['best'])} / {fmt_rate(s['e2e_rate']['median'])}",
                ]
            )
        print_table(
            [
                "exporter",
                "base MiB",
                "peak MiB",
                "peak-base MiB",
                "max RSS MiB",
                "end-base MiB",
                "trimmed MiB",
                "spans/s",
            ],
            rows,
        )
    if ratios:
        print()
        print(f"ratio official/otlp (how many {TIMES} less memory otlp uses; best, median in parentheses)")
        for r in ratios.values():
            print(f"  {r['label']:<62} {fmt_ratio(r['best']):>8} ({fmt_ratio(r['median'])})")
    print()
    print("notes on the numbers:")
    for line in NOTES:
        print("  * " + line)


NOTES = (
    "All RSS numbers are whole-process (interpreter, imports, threads, both allocators). "
    "'base' is after imports and exporter set-up, before the first span, after gc.collect().",
    "'after' and 'after-base' (backlog) include allocator behaviour: memory freed by Python "
    "(pymalloc arenas) or by glibc malloc (Rust and C code) may stay in RSS. The official SDK's "
    "spans are live Python objects ('pyblk/span': Python object-allocator blocks still allocated "
    "per span); otlp's Python span objects are freed at end() and their memory reused, the queue "
    "is Rust heap.",
    "'trimmed' is RSS - base after malloc_trim(0): glibc's free heap handed back to the OS "
    "(pymalloc arenas are not touched by it).",
    "'peak' is VmHWM, reset at the baseline via /proc/self/clear_refs: the high-water mark, so it "
    "counts whatever the allocators held at the worst moment, freed-but-kept memory included. "
    "'max RSS' is the process's lifetime peak, imports included: the larger of ru_maxrss read at "
    "the baseline (before the reset, which resets ru_maxrss too) and at the end.",
)


def parent_main(args: argparse.Namespace) -> int:
    exporters = list(EXPORTERS) if args.only == "both" else [args.only]
    phases = list(PHASES) if args.phase == "both" else [args.phase]
    if "otlp" in exporters and not harness.otlp_extension_ok():
        return 2

    runs: dict[str, dict[str, list[dict[str, Any]]]] = {p: {e: [] for e in exporters} for p in phases}
    with tempfile.TemporaryDirectory(prefix="otlp-bench-mem-") as tmp:
        # Interleave exporters so slow drift of the machine hits both alike.
        for rep in range(args.repeat):
            for phase in phases:
                for e in exporters:
                    if phase == "backlog":
                        res = run_backlog(e, args)
                    else:
                        res = run_steady(e, args, tmp, f"{e}-{rep}")
                    runs[phase][e].append(res)
                    progress(res, rep, args.json)

    problems: list[str] = []
    notes: list[str] = []
    summary: dict[str, dict[str, Any]] = {}
    for phase in phases:
        summary[phase] = {}
        for e in exporters:
            ok = []
            for i, r in enumerate(runs[phase][e]):
                p, n = check_run(r, i)
                problems += p
                notes += n
                if not p:
                    ok.append(r)
            summary[phase][e] = summarize(phase, ok)
    ratios = memory_ratios(summary)

    if args.json:
        print(
            json.dumps(
                {
                    "python": sys.version.split()[0],
                    "spans": args.spans,
                    "batch_size": args.batch_size,
                    "repeat": args.repeat,
                    "settle_s": args.settle,
                    "phases": phases,
                    "units": "bytes (py_blocks_per_span: blocks, create_s/e2e_s: seconds, e2e_rate: spans/s)",
                    "summary": summary,
                    "ratios_official_over_otlp": ratios,
                    "notes": [*NOTES, *notes],
                    "problems": problems,
                    "runs": runs,
                },
                indent=2,
            )
        )
    else:
        print_report(args, exporters, phases, summary, ratios)
        for note in notes:
            print("  * " + note)
    return harness.report_problems(
        "MEMORY BENCHMARK PROBLEMS (runs with a problem are left out of the summary):", problems
    )


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------
def worker_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="memory.py _worker")
    p.add_argument("phase", choices=PHASES)
    p.add_argument("--exporter", required=True, choices=EXPORTERS)
    p.add_argument("--endpoint", required=True)
    p.add_argument("--counter", help="the sink's counter file (steady)")
    p.add_argument("--spans", type=int, required=True)
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--timeout", type=float, default=600.0)
    p.add_argument("--settle", type=float, default=1.0)
    p.add_argument("--shutdown-timeout", type=float, default=5.0)
    args = p.parse_args(argv)
    if args.phase == "steady":
        if not args.counter:
            p.error("steady needs --counter")
        return steady_worker(args)
    return backlog_worker(args)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_worker"]:
        return worker_main(argv[1:])

    p = argparse.ArgumentParser(
        description="Memory benchmark: otlp vs opentelemetry-sdk + OTLP/gRPC exporter."
    )
    p.add_argument("--only", choices=["both", *EXPORTERS], default="both", help="which exporter(s) to run")
    p.add_argument("--phase", choices=["both", *PHASES], default="both", help="which phase(s) to run")
    p.add_argument(
        "--spans",
        type=int,
        default=DEFAULT_SPANS,
        help=f"N, spans per run (and the queue size) for both exporters (default {DEFAULT_SPANS:,})",
    )
    p.add_argument("--repeat", type=int, default=3, help="runs per exporter and phase (default 3)")
    p.add_argument("--batch-size", type=int, default=512, help="max_export_batch_size (default 512)")
    p.add_argument(
        "--settle",
        type=float,
        default=1.0,
        help="backlog: seconds between the last span and the RSS reading (default 1)",
    )
    p.add_argument(
        "--shutdown-timeout",
        type=float,
        default=5.0,
        help="seconds a worker waits for the exporter's shutdown after reporting (default 5)",
    )
    p.add_argument("--timeout", type=float, default=600.0, help="deadline per run, seconds (default 600)")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of the tables")
    p.add_argument("-v", "--verbose", action="store_true", help="keep worker stderr in the JSON runs")
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error("--repeat must be >= 1")
    if args.spans < args.batch_size:
        p.error("--spans must be >= --batch-size")
    return parent_main(args)


if __name__ == "__main__":
    sys.exit(main())
