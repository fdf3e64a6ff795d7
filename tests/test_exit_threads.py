"""Threads still inside otlp when the interpreter exits.

Before Python 3.14 a thread that asks for the GIL once the interpreter is finalizing is
ended with ``pthread_exit()``, which unwinds through the Rust frames on its stack: a
segfault at exit, seen on the released wheel in about half of the runs of a script whose
daemon threads flush or export while the main thread returns. Each script here ends that
way and must exit with status 0, at once, every time; each runs several times because
the race it checks is one of timing.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import pytest
from peers.process import child_env, die_with_parent

RUNS = 6
TIMEOUT = 60.0

# Daemon threads that call into otlp without pause (and release the GIL there) while
# the main thread prints "ok" and returns.
BUSY_THREADS = """
import sys, threading, otlp

exp = otlp.Exporter(
    sys.argv[1],
    queue=otlp.QueueConfig(overflow="block", block_timeout=30.0),
    batch=otlp.BatchConfig(max_queue_size=64, max_export_batch_size=16),
    metrics=otlp.MetricsConfig(interval=0.01),
)
tracer = exp.tracer("exit")
logger = exp.logger("exit")
meter = exp.meter("exit")
counter = meter.counter("exit.count")
meter.observable_gauge("exit.gauge", [lambda options: [(1.0, {"k": "v"})]])

def forever(step):
    def run():
        while True:
            step()
    threading.Thread(target=run, daemon=True).start()

def span():
    with tracer.span("work", attributes={"i": 1}):
        pass

for _ in range(2):
    forever(lambda: exp.force_flush(0.005))
    forever(span)
    forever(lambda: logger.emit("line"))
    forever(lambda: counter.add(1, {"k": "v"}))
print("ok", flush=True)
"""

# The OpenTelemetry logging handler flushes its provider from a new thread, which starts
# while the interpreter exits (logging.shutdown) and reaches otlp's force_flush.
OTEL_LOGGING_HANDLER = """
import logging, sys
import otlp
from opentelemetry.sdk._logs import LoggingHandler
from otlp.otel import LoggerProvider

provider = LoggerProvider(otlp.Exporter(sys.argv[1]))
logging.getLogger().addHandler(LoggingHandler(logger_provider=provider))
logging.getLogger("exit").warning("one record")
print("ok", flush=True)
"""

# An exit hook of the application's own stops its worker, which is blocked in otlp:
# the worker must come back (and be joined) rather than wait for the process to end.
APP_EXIT_HOOK_JOINS_WORKER = """
import atexit, sys, threading, otlp

exp = otlp.Exporter(
    sys.argv[1],
    queue=otlp.QueueConfig(overflow="block", block_timeout=30.0),
    batch=otlp.BatchConfig(max_queue_size=8, max_export_batch_size=8),
)
tracer = exp.tracer("exit")
stop = threading.Event()

def work():
    while not stop.is_set():
        tracer.start_span("work").end()

worker = threading.Thread(target=work, daemon=True)
worker.start()

@atexit.register
def stop_worker():
    stop.set()
    exp.shutdown(timeout=1.0)
    worker.join(timeout=20.0)
    print("joined" if not worker.is_alive() else "still running", flush=True)

# The worker has filled the queue (the collector is down), so it is blocked in otlp.
for _ in range(2000):
    if exp.stats()["spans_pending"] >= 8:
        break
    stop.wait(0.01)
else:
    raise AssertionError(exp.stats())
print("ok", flush=True)
"""


def run_many(script: str, endpoint: str) -> list[subprocess.CompletedProcess[str]]:
    def once(_: int) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", textwrap.dedent(script), endpoint],
            env=child_env(PYTHONFAULTHANDLER="1", OTLP_DIAGNOSTICS_INTERVAL="0"),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            preexec_fn=die_with_parent,
            check=False,
        )

    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(once, range(RUNS)))


def assert_clean_exits(runs: list[subprocess.CompletedProcess[str]]) -> None:
    for proc in runs:
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "Fatal Python error" not in proc.stderr, proc.stderr[-3000:]
        assert proc.stdout.splitlines()[0] == "ok", proc.stdout


@pytest.mark.timeout(300)
def test_daemon_threads_busy_in_otlp_at_exit(unused_endpoint: str) -> None:
    """Flushes, blocked producers of spans and logs, counters and metric callbacks on
    otlp's own thread, all under way while the main thread returns."""
    assert_clean_exits(run_many(BUSY_THREADS, unused_endpoint))


@pytest.mark.timeout(300)
def test_the_otel_logging_handler_flush_thread_at_exit(sink) -> None:
    runs = run_many(OTEL_LOGGING_HANDLER, sink.endpoint)
    assert_clean_exits(runs)
    records = [lr.body.string_value for _, _, lr in sink.log_records()]
    assert records == ["one record"] * RUNS


@pytest.mark.timeout(300)
def test_an_exit_hook_of_the_application_can_still_join_its_worker(unused_endpoint: str) -> None:
    runs = run_many(APP_EXIT_HOOK_JOINS_WORKER, unused_endpoint)
    assert_clean_exits(runs)
    for proc in runs:
        assert proc.stdout.splitlines() == ["ok", "joined"], proc.stdout + proc.stderr
