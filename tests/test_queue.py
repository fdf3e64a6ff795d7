"""``otlp.QueueConfig``: settings refused at construction, the byte bound, one live
owner per disk queue, and ``block`` where a deadlock would hide (a logging handler,
fork while a producer waits)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
import warnings

import pytest
from peers import free_port

import otlp
from otlp.errors import ConfigError


def _dead() -> str:
    return f"http://127.0.0.1:{free_port()}"


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"overflow": "wait"}, "`overflow`"),
        ({"block_timeout": -1.0}, "`block_timeout`"),
        ({"block_timeout": float("nan")}, "`block_timeout`"),
        ({"max_queue_bytes": 0}, "`max_queue_bytes`"),
        ({"max_bytes": 10}, "`max_bytes`"),
        ({"fsync": "sometimes"}, "`fsync`"),
        ({"directory": ""}, "`directory`"),
    ],
)
def test_bad_settings_are_refused_naming_the_argument(kwargs, named) -> None:
    with pytest.raises(ConfigError, match=named):
        otlp.QueueConfig(**kwargs)


def test_queue_takes_only_a_queue_config() -> None:
    with pytest.raises(TypeError, match=r"`queue` must be an otlp\.QueueConfig"):
        otlp.Exporter(_dead(), queue={"overflow": "block"})  # type: ignore[arg-type]


def test_a_directory_that_cannot_be_used_is_a_config_error(tmp_path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match=r"`queue.directory`: cannot create .*Not a directory"):
        otlp.Exporter(_dead(), queue=otlp.QueueConfig(directory=str(tmp_path / "file")))


def test_a_second_live_owner_of_a_disk_queue_is_refused_until_the_first_is_gone(tmp_path) -> None:
    directory = str(tmp_path / "q")
    exp = otlp.Exporter(_dead(), queue=otlp.QueueConfig(directory=directory))
    code = (
        "import otlp, sys\n"
        "try:\n"
        f"    otlp.Exporter('{_dead()}', queue=otlp.QueueConfig(directory=sys.argv[1]))\n"
        "except otlp.errors.ConfigError as e:\n"
        "    print(e); sys.exit(7)\n"
    )
    other = subprocess.run(
        [sys.executable, "-c", code, directory], capture_output=True, text=True, timeout=60
    )
    assert other.returncode == 7, other.stderr
    assert "in use by another live exporter or process" in other.stdout
    with pytest.raises(ConfigError, match="in use by another live exporter or process"):
        otlp.Exporter(_dead(), queue=otlp.QueueConfig(directory=directory))
    exp.shutdown(timeout=0.5)
    # Shut down: the directory is free for the next owner.
    again = subprocess.run(
        [sys.executable, "-c", code, directory], capture_output=True, text=True, timeout=60
    )
    assert again.returncode == 0, again.stdout + again.stderr


def test_huge_attributes_hit_the_byte_bound_long_before_the_item_bound() -> None:
    exp = otlp.Exporter(
        _dead(),
        batch=otlp.BatchConfig(max_queue_size=100_000, max_export_batch_size=512, schedule_delay=3600.0),
        queue=otlp.QueueConfig(max_queue_bytes=1 << 20),
        retry=otlp.RetryPolicy(max_elapsed=600.0),
    )
    tracer = exp.tracer("big")
    blob = "x" * 100_000
    for i in range(200):
        tracer.start_span("big", attributes={"blob": blob, "i": i}).end()
    s = exp.stats()
    # Whatever max_queue_size allows, the queue holds at most 1 MiB of 100 kB spans, and
    # each of the two exports in flight and the batch waiting for them at most as much.
    assert 5 <= s["spans_pending"] <= 4 * 10, s
    assert s["spans_dropped_queue_full"] == 200 - s["spans_pending"], s
    exp.shutdown(timeout=0.5)


def test_a_logging_handler_under_block_waits_at_most_block_timeout() -> None:
    exp = otlp.Exporter(
        _dead(),
        batch=otlp.BatchConfig(max_queue_size=10, max_export_batch_size=10, max_concurrent_exports=1),
        retry=otlp.RetryPolicy(max_elapsed=600.0),
        queue=otlp.QueueConfig(overflow="block", block_timeout=0.2),
    )
    log = logging.getLogger("otlp-test-block")
    handler = otlp.LoggingHandler(exp)
    log.addHandler(handler)
    log.propagate = False
    try:
        for i in range(60):
            log.warning("record %d", i)
        s = exp.stats()
        assert s["logs_dropped"] >= 5, s
        assert s["logs_accepted"] == 60
    finally:
        log.removeHandler(handler)
        exp.shutdown(timeout=0.5)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.timeout(60)
def test_fork_while_a_producer_is_blocked_leaves_the_child_a_working_exporter(sink) -> None:
    port = free_port()
    exp = otlp.Exporter(
        f"http://127.0.0.1:{port}",
        batch=otlp.BatchConfig(max_queue_size=10, max_export_batch_size=10, max_concurrent_exports=1),
        retry=otlp.RetryPolicy(max_elapsed=600.0),
        queue=otlp.QueueConfig(overflow="block", block_timeout=60.0),
    )
    tracer = exp.tracer("fork")
    stuck = threading.Thread(target=lambda: [tracer.start_span("p").end() for _ in range(100)], daemon=True)
    stuck.start()
    deadline = time.monotonic() + 20.0
    while exp.stats()["spans_pending"] < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert stuck.is_alive(), "the producer was not blocked"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # forking with threads, on purpose
        pid = os.fork()
    if pid == 0:  # child: its own empty queue, to the live sink
        code = 1
        try:
            child = otlp.Exporter(sink.endpoint)
            exp.tracer("fork").start_span("in the child").end()
            child.tracer("fork").start_span("child exporter").end()
            code = 0 if child.force_flush(timeout=10.0) and exp.stats()["spans_accepted"] == 1 else 2
            child.shutdown(timeout=5.0)
        finally:
            os._exit(code)
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.02)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        pytest.fail("the child hung after fork")
    assert os.waitstatus_to_exitcode(status) == 0
    sink.wait_for_spans(1, timeout=10.0)
    assert [sp.name for _, _, sp in sink.spans()] == ["child exporter"]
    exp.shutdown(timeout=1.0)
    stuck.join(10.0)
    assert not stuck.is_alive()


@pytest.mark.parametrize("overflow", ["drop_newest", "drop_oldest"])
@pytest.mark.timeout(120)
def test_the_disk_cap_follows_the_overflow_policy(sink, tmp_path, overflow) -> None:
    """300 requests of about 10 kB into a 1 MiB disk queue while the collector is down:
    what did not fit is counted, and the next process delivers exactly the rest -- the
    first requests with drop_newest, the last ones with drop_oldest."""
    directory = str(tmp_path / "q")
    exp = otlp.Exporter(
        _dead(),
        batch=otlp.BatchConfig(max_export_batch_size=1, max_concurrent_exports=1),
        retry=otlp.RetryPolicy(max_elapsed=600.0),
        queue=otlp.QueueConfig(overflow=overflow, directory=directory, max_bytes=1 << 20, fsync="never"),
    )
    tracer = exp.tracer("cap")
    blob = "x" * 10_000
    for i in range(300):
        tracer.start_span("s", attributes={"i": i, "blob": blob}).end()
        exp.force_flush(timeout=10.0)  # written (or refused) one request at a time
        if i == 0:  # the first request is being sent (and retried) before the rest come
            deadline = time.monotonic() + 30.0
            while exp.stats()["requests_failed"] == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
    exp.shutdown(timeout=0.5)
    s = exp.stats()
    reason = "spans_dropped_queue_full" if overflow == "drop_newest" else "spans_dropped_evicted"
    assert s[reason] > 150 and s["spans_dropped"] == s[reason], s
    assert s["spans_left_on_disk"] == 300 - s[reason], s
    on_disk = sum(f.stat().st_size for f in (tmp_path / "q").rglob("*.req"))
    assert on_disk <= 1 << 20

    nxt = otlp.Exporter(sink.endpoint, queue=otlp.QueueConfig(directory=directory))
    assert nxt.shutdown(timeout=60.0)
    got = sorted(
        next(a.value.int_value for a in span.attributes if a.key == "i") for _, _, span in sink.spans()
    )
    assert len(got) == 300 - s[reason]
    if overflow == "drop_newest":
        assert got == list(range(len(got)))
    else:
        # The first request was being sent (retried) when the cap was reached, so it
        # stays; the oldest of the others made room for the newest.
        assert got[0] == 0 and got[1:] == list(range(300 - len(got) + 1, 300))


@pytest.mark.timeout(60)
def test_a_metrics_callback_blocked_on_a_full_queue_does_not_hold_shutdown() -> None:
    """A callback of the exporter's own reader thread that emits spans into a full queue
    under ``block`` waits there; shutdown still returns by its deadline."""
    exp = otlp.Exporter(
        _dead(),
        batch=otlp.BatchConfig(max_queue_size=10, max_export_batch_size=10, max_concurrent_exports=1),
        retry=otlp.RetryPolicy(max_elapsed=600.0),
        queue=otlp.QueueConfig(overflow="block", block_timeout=30.0),
        metrics=otlp.MetricsConfig(interval=0.1),
    )
    tracer = exp.tracer("callback")
    entered = threading.Event()

    def callback(_options: object = None) -> list[otlp.Observation]:
        entered.set()
        for _ in range(100):
            tracer.start_span("from a callback").end()
        return [otlp.Observation(1)]

    exp.meter("callback").observable_gauge("g", callbacks=[callback])
    assert entered.wait(30.0)
    deadline = time.monotonic() + 30.0
    while exp.stats()["spans_pending"] < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    t0 = time.monotonic()
    exp.shutdown(timeout=1.0)
    assert time.monotonic() - t0 < 10.0
    s = exp.stats()
    assert s["spans_accepted"] >= 20 and s["spans_exported"] == 0
