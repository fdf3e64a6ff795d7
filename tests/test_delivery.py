"""Delivery guarantees, checked at the reference sink with real processes: a collector
outage, SIGKILL crashes with a disk queue, damaged queue files, producers held back by
a slow collector, and multiprocessing workers that end without atexit."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from peers import Sink, free_port

import otlp

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX processes and signals")

# Retries that outlast every outage below, and a breaker that probes again quickly.
_PATIENT = otlp.RetryPolicy(initial_backoff=0.05, max_backoff=2.0, max_elapsed=600.0)
_BREAKER = otlp.CircuitBreaker(cool_down=1.0)


def _i_values(sink: Sink, service: str | None = None) -> list[int]:
    out = []
    for resource, _scope, span in sink.spans():
        if service is not None:
            names = [a.value.string_value for a in resource.attributes if a.key == "service.name"]
            if names != [service]:
                continue
        for a in span.attributes:
            if a.key == "i":
                out.append(a.value.int_value)
    return out


def _produce(tracer, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        tracer.start_span("work", attributes={"i": i}).end()


# -- 1. outage --------------------------------------------------------------------


@pytest.mark.timeout(300)
def test_a_30_second_outage_loses_nothing_with_block_or_a_disk_queue_and_counts_every_drop(
    tmp_path,
) -> None:
    """200k spans per exporter while the collector is down for 30 s. ``block`` and the
    disk queue deliver each exactly once; small memory queues that drop deliver the
    rest, and received + counted drops is exactly what was sent."""
    n = 200_000
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    small = otlp.BatchConfig(max_queue_size=2048, max_export_batch_size=512, schedule_delay=0.2)
    setups = {
        "block": otlp.QueueConfig(overflow="block", block_timeout=300.0),
        "disk": otlp.QueueConfig(
            overflow="block", block_timeout=300.0, directory=str(tmp_path / "q"), fsync="interval"
        ),
        "drop_newest": otlp.QueueConfig(overflow="drop_newest"),
        "drop_oldest": otlp.QueueConfig(overflow="drop_oldest"),
    }
    exporters = {
        name: otlp.Exporter(
            endpoint,
            resource={"service.name": name},
            batch=small,
            retry=_PATIENT,
            circuit_breaker=_BREAKER,
            queue=queue,
        )
        for name, queue in setups.items()
    }
    producers = {
        name: threading.Thread(target=_produce, args=(exp.tracer("outage"), n), daemon=True)
        for name, exp in exporters.items()
    }
    outage_ends = time.monotonic() + 30.0
    for t in producers.values():
        t.start()
    # The collector is down for 30 s. The disk queue takes the whole outage, so its
    # producer is never held back by it; the memory-queue producers that drop finish
    # at once; the one that blocks waits for the collector.
    for name in ("disk", "drop_newest", "drop_oldest"):
        producers[name].join(max(0.0, outage_ends - time.monotonic()))
        assert not producers[name].is_alive(), f"{name}: the outage held the producer back"
    producers["block"].join(max(0.0, outage_ends - time.monotonic()))
    assert producers["block"].is_alive(), "block did not wait for the collector"
    with Sink(workdir=tmp_path / "sink", port=port) as sink:
        for t in producers.values():
            t.join(120.0)
            assert not t.is_alive()
        stats = {}
        for name, exp in exporters.items():
            assert exp.shutdown(timeout=120.0), name
            stats[name] = exp.stats()
        expected = 2 * n + sum(
            n - stats[name]["spans_dropped"] - stats[name]["spans_failed"]
            for name in ("drop_newest", "drop_oldest")
        )
        sink.wait_for_spans(expected, timeout=120.0)
        for name in ("block", "disk"):
            got = Counter(_i_values(sink, name))
            assert len(got) == n and set(got) == set(range(n)), f"{name}: {n - len(got)} spans missing"
            assert max(got.values()) == 1, f"{name}: duplicates"
            assert stats[name]["spans_dropped"] == stats[name]["spans_failed"] == 0, stats[name]
        assert stats["disk"]["spans_left_on_disk"] == 0
        assert not list((tmp_path / "q").rglob("*.req")), "delivered requests stayed on disk"
        for name, reason in (
            ("drop_newest", "spans_dropped_queue_full"),
            ("drop_oldest", "spans_dropped_evicted"),
        ):
            got = Counter(_i_values(sink, name))
            s = stats[name]
            assert max(got.values()) == 1, f"{name}: duplicates"
            assert s[reason] > 0 and s["spans_dropped"] == s[reason], s
            assert len(got) + s["spans_dropped"] + s["spans_failed"] == n, (len(got), s)
        # What each policy keeps: the first spans, or the last ones.
        assert 0 in _i_values(sink, "drop_newest") and n - 1 not in _i_values(sink, "drop_newest")
        assert n - 1 in _i_values(sink, "drop_oldest")


# -- 2. crash -----------------------------------------------------------------------

_CRASH_CHILD = r"""
import sys
import otlp

endpoint, directory, start = sys.argv[1], sys.argv[2], int(sys.argv[3])
exp = otlp.Exporter(
    endpoint,
    batch=otlp.BatchConfig(max_export_batch_size=50, max_concurrent_exports=2, schedule_delay=0.05),
    retry=otlp.RetryPolicy(max_elapsed=600.0),
    queue=otlp.QueueConfig(directory=directory, fsync="always"),
)
tracer = exp.tracer("crash")
print("ready", flush=True)
i = start
while True:
    for _ in range(50):
        tracer.start_span("work", attributes={"i": i}).end()
        i += 1
    if exp.force_flush(timeout=10.0):
        print(f"durable {i}", flush=True)
"""

_RECOVER_CHILD = r"""
import sys
import otlp

exp = otlp.Exporter(
    sys.argv[1], retry=otlp.RetryPolicy(max_elapsed=600.0), queue=otlp.QueueConfig(directory=sys.argv[2])
)
ok = exp.shutdown(timeout=60.0)
stats = exp.stats()
print(stats["spans_left_on_disk"], stats["disk_corrupt_requests"], flush=True)
sys.exit(0 if ok else 3)
"""


def _python(code: str, *args: str, timeout: float = 90.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.mark.timeout(400)
def test_sigkill_at_random_points_loses_nothing_that_force_flush_reported_durable(sink, tmp_path) -> None:
    runs = 20
    rng = random.Random(int(os.environ.get("OTLP_CRASH_SEED", time.time_ns())))
    directory = str(tmp_path / "queue")
    durable: list[tuple[int, int]] = []  # per run: [start, last durable) is owed
    for run in range(runs):
        start = run * 10_000_000
        child = subprocess.Popen(
            [sys.executable, "-c", _CRASH_CHILD, sink.endpoint, directory, str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout is not None
            line = child.stdout.readline()  # bounded by the test's timeout
            assert line == "ready\n", (line, child.stderr.read() if child.stderr else "")
            threading.Event().wait(rng.uniform(0.0, 0.8))  # a random point in its life
        finally:
            child.send_signal(signal.SIGKILL)
            out, _ = child.communicate(timeout=30)
        assert child.returncode == -signal.SIGKILL
        acked = [int(line.split()[1]) for line in out.splitlines() if line.startswith("durable ")]
        durable.append((start, acked[-1] if acked else start))
    done = _python(_RECOVER_CHILD, sink.endpoint, directory)
    assert done.returncode == 0, done.stderr
    left, corrupt = map(int, done.stdout.split())
    assert (left, corrupt) == (0, 0)
    got = Counter(_i_values(sink))
    owed = sum(end - start for start, end in durable)
    assert owed > 0, "no run got as far as a durable flush"
    missing = [i for start, end in durable for i in range(start, end) if i not in got]
    assert not missing, f"{len(missing)} spans reported durable were lost, e.g. {missing[:5]}"
    # A duplicate is a request that was in flight at a kill (sent, not yet removed):
    # at most max_concurrent_exports requests of 50 spans per kill.
    duplicates = sum(c - 1 for c in got.values())
    assert duplicates <= runs * 2 * 50, duplicates
    print(f"{runs} kills: {owed:,} spans owed, all delivered; {duplicates} duplicates")


def test_damaged_queue_files_are_skipped_and_counted_and_the_rest_is_delivered(sink, tmp_path) -> None:
    directory = str(tmp_path / "queue")
    dead = f"http://127.0.0.1:{free_port()}"
    exp = otlp.Exporter(
        dead,
        batch=otlp.BatchConfig(max_export_batch_size=10, schedule_delay=60.0),
        retry=_PATIENT,
        queue=otlp.QueueConfig(directory=directory),
    )
    tracer = exp.tracer("damaged")
    for request in range(6):
        _produce(tracer, 10, start=request * 10)
        assert exp.force_flush(timeout=10.0)  # one request file per flush
    exp.shutdown(timeout=1.0)
    assert exp.stats()["spans_left_on_disk"] == 60
    files = sorted(Path(directory).rglob("*.req"))
    assert len(files) == 6
    truncated, flipped, zeroed = files[1], files[3], files[4]
    truncated.write_bytes(truncated.read_bytes()[:-7])
    data = bytearray(flipped.read_bytes())
    data[len(data) // 2] ^= 0x10
    flipped.write_bytes(bytes(data))
    data = bytearray(zeroed.read_bytes())
    data[len(data) // 2 :] = bytes(len(data) - len(data) // 2)
    zeroed.write_bytes(bytes(data))

    done = _python(_RECOVER_CHILD, sink.endpoint, directory)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", "3"]  # nothing left; three damaged files counted
    got = sorted(_i_values(sink))
    assert got == [i for request in (0, 2, 5) for i in range(request * 10, request * 10 + 10)]
    assert not list(Path(directory).rglob("*.req"))


# -- 3. backpressure -----------------------------------------------------------------


@pytest.mark.timeout(180)
def test_block_holds_back_threads_and_asyncio_tasks_and_loses_nothing(sink_factory) -> None:
    slow = sink_factory(delay=0.02)
    exp = otlp.Exporter(
        slow.endpoint,
        batch=otlp.BatchConfig(max_queue_size=256, max_export_batch_size=128, max_concurrent_exports=2),
        queue=otlp.QueueConfig(overflow="block", block_timeout=120.0),
    )
    tracer = exp.tracer("backpressure")
    threads = [threading.Thread(target=_produce, args=(tracer, 3000, t * 3000)) for t in range(8)]

    async def task(k: int) -> None:
        for i in range(100):
            tracer.start_span("work", attributes={"i": 100_000 + k * 100 + i}).end()
            await asyncio.sleep(0)

    async def tasks() -> None:
        await asyncio.gather(*(task(k) for k in range(100)))

    for t in threads:
        t.start()
    asyncio.run(tasks())
    for t in threads:
        t.join(120.0)
        assert not t.is_alive()
    assert exp.shutdown(timeout=60.0)
    stats = exp.stats()
    assert stats["spans_dropped"] == 0, stats
    slow.wait_for_spans(34_000, timeout=60.0)
    got = Counter(_i_values(slow))
    assert set(got) == set(range(24_000)) | set(range(100_000, 110_000))
    assert max(got.values()) == 1


def test_block_timeout_is_honoured_then_the_span_is_dropped_and_counted() -> None:
    exp = otlp.Exporter(
        f"http://127.0.0.1:{free_port()}",
        batch=otlp.BatchConfig(max_queue_size=10, max_export_batch_size=10, max_concurrent_exports=1),
        retry=_PATIENT,
        queue=otlp.QueueConfig(overflow="block", block_timeout=0.3),
    )
    tracer = exp.tracer("timeout")
    waits = []
    for i in range(60):
        span = tracer.start_span("work", attributes={"i": i})
        t0 = time.monotonic()
        span.end()
        waits.append(time.monotonic() - t0)
    timed_out = exp.stats()["spans_dropped_block_timeout"]
    # A batch in flight (retrying), one waiting for it and a full queue: the rest
    # wait, then are dropped.
    assert timed_out >= 5, exp.stats()
    assert sorted(waits)[-timed_out] >= 0.3  # each of them waited its block_timeout
    assert max(waits) < 30.0  # and no longer than that, give or take a busy machine
    exp.shutdown(timeout=0.5)


def test_shutdown_while_producers_are_blocked_returns_by_its_deadline() -> None:
    exp = otlp.Exporter(
        f"http://127.0.0.1:{free_port()}",
        batch=otlp.BatchConfig(max_queue_size=10, max_export_batch_size=10, max_concurrent_exports=1),
        retry=_PATIENT,
        queue=otlp.QueueConfig(overflow="block", block_timeout=600.0),
    )
    tracer = exp.tracer("stuck")
    threads = [threading.Thread(target=_produce, args=(tracer, 1000), daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30.0
    while exp.stats()["spans_pending"] < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert all(t.is_alive() for t in threads), "producers were not held back"
    t0 = time.monotonic()
    exp.shutdown(timeout=1.0)
    took = time.monotonic() - t0
    for t in threads:
        t.join(10.0)
        assert not t.is_alive(), "a producer stayed blocked after shutdown"
    assert took < 10.0, took
    s = exp.stats()
    # Everything the producers handed over is accounted for.
    assert s["spans_accepted"] + s["dropped_after_shutdown"] == 4000, s
    assert s["spans_exported"] == 0
    assert s["spans_dropped"] + s["spans_failed"] == s["spans_accepted"], s


# -- 4. multiprocessing workers ----------------------------------------------------

_EXPORTER: otlp.Exporter | None = None


def _pool_task(i: int) -> int:
    assert _EXPORTER is not None
    with _EXPORTER.tracer("pool").start_span("task", attributes={"i": i}):
        _EXPORTER.meter("pool").counter("tasks").add(1, {"pid": os.getpid()})
        logging.getLogger("otlp-test-pool").warning("task %d", i)
    return os.getpid()


def _process_main(n: int) -> None:
    assert _EXPORTER is not None
    _produce(_EXPORTER.tracer("process"), n)
    # Returns without force_flush(): multiprocessing then ends the process with os._exit.


@pytest.mark.timeout(120)
def test_pool_workers_deliver_spans_metrics_and_logs_when_the_pool_ends(sink) -> None:
    global _EXPORTER
    _EXPORTER = exp = otlp.Exporter(
        sink.endpoint,
        batch=otlp.BatchConfig(schedule_delay=60.0),
        metrics=otlp.MetricsConfig(interval=3600.0),
    )
    handler = otlp.LoggingHandler(exp)
    log = logging.getLogger("otlp-test-pool")
    log.addHandler(handler)
    log.propagate = False
    try:
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(4) as pool:  # __exit__ terminates the workers (SIGTERM)
            pids = pool.map(_pool_task, range(61), chunksize=1)
        sink.wait_for_spans(61, timeout=30.0)
        sink.wait_for_log_records(61, timeout=30.0)
        assert sorted(_i_values(sink)) == list(range(61))
        bodies = sorted(lr.body.string_value for _, _, lr in sink.log_records())
        assert bodies == sorted(f"task {i}" for i in range(61))
        # Each worker's last cumulative value of its own series.
        last: dict[int, int] = {}
        for _, _, metric in sink.metrics():
            if metric.name == "tasks":
                for p in metric.sum.data_points:
                    pid = next(a.value.int_value for a in p.attributes if a.key == "pid")
                    last[pid] = max(last.get(pid, 0), p.as_int)
        assert set(last) == set(pids) and sum(last.values()) == 61
    finally:
        log.removeHandler(handler)
        _EXPORTER = None
        exp.shutdown(timeout=5.0)


@pytest.mark.timeout(120)
def test_a_process_that_ends_without_force_flush_delivers_its_spans(sink) -> None:
    global _EXPORTER
    _EXPORTER = exp = otlp.Exporter(sink.endpoint, batch=otlp.BatchConfig(schedule_delay=60.0))
    try:
        proc = multiprocessing.get_context("fork").Process(target=_process_main, args=(10,))
        proc.start()
        proc.join(60.0)
        assert proc.exitcode == 0
        sink.wait_for_spans(10, timeout=30.0)
        assert sorted(_i_values(sink)) == list(range(10))
    finally:
        _EXPORTER = None
        exp.shutdown(timeout=5.0)


class _TerminatedWhileShuttingDown:
    """Stands for an exporter whose shutdown is interrupted by SIGTERM, as a Pool's
    terminate() does to workers running their exit finalizers."""

    def __init__(self, calls: str) -> None:
        self.calls = calls

    def shutdown(self, timeout: float) -> bool:
        with open(self.calls, "a") as f:
            f.write("shutdown\n")
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):  # bytecodes for the signal handler to run between
            pass
        return True


_KEEP: list[object] = []


def _exit_interrupted_by_sigterm(calls: str) -> None:
    from otlp import _lifecycle

    assert _EXPORTER is not None
    _produce(_EXPORTER.tracer("sigterm"), 5)
    stand_in = _TerminatedWhileShuttingDown(calls)
    _KEEP.append(stand_in)
    _lifecycle._live.add(stand_in)


@pytest.mark.timeout(60)
def test_sigterm_during_the_exit_flush_lets_it_finish_then_ends_the_process(sink, tmp_path) -> None:
    global _EXPORTER
    _EXPORTER = exp = otlp.Exporter(sink.endpoint, batch=otlp.BatchConfig(schedule_delay=60.0))
    calls = tmp_path / "calls"
    try:
        proc = multiprocessing.get_context("fork").Process(
            target=_exit_interrupted_by_sigterm, args=(str(calls),)
        )
        proc.start()
        proc.join(30.0)
        assert proc.exitcode == -signal.SIGTERM, proc.exitcode  # it used to hang here
        assert calls.read_text() == "shutdown\n"  # one shutdown, not one per signal
        sink.wait_for_spans(5, timeout=10.0)
    finally:
        _EXPORTER = None
        exp.shutdown(timeout=5.0)
