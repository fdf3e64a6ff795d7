"""Metrics waits keep their deadlines, whatever an observable callback does.

A callback that blocks must not hold ``force_flush``, ``shutdown`` or interpreter exit
past their deadlines, nor Ctrl-C; a callback that calls ``force_flush()``,
``shutdown()`` or ``os.fork()`` must not deadlock. Scenarios that hung forever before
run in a subprocess with a time limit, so a hang fails the test instead of pytest."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import otlp

pytestmark = pytest.mark.timeout(90)

# Deadline tests, not benchmarks: the slack covers a busy 2-core machine.
SLACK = 1.5


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["OTLP_DIAGNOSTICS_INTERVAL"] = "0"
    return env


def _script(body: str) -> list[str]:
    return [sys.executable, "-W", "ignore::DeprecationWarning", "-c", textwrap.dedent(body)]


def _run(body: str, timeout: float) -> dict:
    """Run a script that prints one JSON line; fail (not hang) if it does not end in time."""
    try:
        done = subprocess.run(
            _script(body), capture_output=True, text=True, timeout=timeout, env=_env(), check=False
        )
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"the script hung (killed after {timeout} s); stderr: {e.stderr!r}")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _points(sink, name: str) -> list[float]:
    values = []
    for request in sink.requests("metrics"):
        for rm in request.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name == name:
                        values += [p.as_double or p.as_int for p in metric.gauge.data_points]
    return values


def _wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_a_stuck_callback_holds_neither_force_flush_nor_shutdown_past_the_deadline(sink) -> None:
    release = threading.Event()
    exp = otlp.Exporter(sink.endpoint, metrics=otlp.MetricsConfig(interval=600.0))
    meter = exp.meter("deadlines")
    meter.counter("work").add(1)

    def stuck():
        release.wait(10.0)  # bounded, so that the old behaviour fails instead of hanging
        return [1.0]

    meter.observable_gauge("stuck", callbacks=[stuck])
    try:
        start = time.monotonic()
        assert exp.force_flush(1.0) is False
        assert time.monotonic() - start < 1.0 + SLACK

        start = time.monotonic()
        assert exp.shutdown(1.0) is False
        assert time.monotonic() - start < 1.0 + SLACK
    finally:
        release.set()
    # The collection ends once the callback returns: too late, so it is counted, not sent.
    assert _wait_until(lambda: exp.stats()["metric_collections_late"] == 1, timeout=10.0), exp.stats()
    assert _points(sink, "stuck") == []
    assert exp.stats()["metric_points_exported"] == 0


def test_a_collection_that_outlives_force_flush_is_still_exported(sink) -> None:
    release = threading.Event()
    exp = otlp.Exporter(sink.endpoint, metrics=otlp.MetricsConfig(interval=600.0, temporality="delta"))
    meter = exp.meter("deadlines")
    counter = meter.counter("work")
    counter.add(3)

    def slow():
        release.wait(10.0)
        return [2.0]

    meter.observable_gauge("slow", callbacks=[slow])
    try:
        start = time.monotonic()
        assert exp.force_flush(0.5) is False
        assert time.monotonic() - start < 0.5 + SLACK
    finally:
        release.set()
    # Delta counts would be lost if the collection were thrown away: it is delivered.
    sink.wait_for_metrics(2, timeout=10.0)
    assert _points(sink, "slow") == [2.0]
    assert exp.force_flush(5.0) is True
    assert exp.shutdown(5.0) is True
    assert exp.stats()["metric_collections_late"] == 0


def test_interpreter_exit_with_a_stuck_callback_ends_within_the_exit_timeout(unused_endpoint) -> None:
    from otlp._lifecycle import EXIT_TIMEOUT

    script = f"""
        import threading, otlp
        exp = otlp.Exporter({unused_endpoint!r}, metrics=otlp.MetricsConfig(interval=0.05))
        entered = threading.Event()
        def stuck():
            entered.set()
            threading.Event().wait()  # never returns
        exp.meter("exit").observable_gauge("stuck", callbacks=[stuck])
        assert entered.wait(30)
        print("stuck", flush=True)
    """
    proc = subprocess.Popen(_script(script), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"stuck\n"
        start = time.monotonic()
        try:
            proc.wait(timeout=EXIT_TIMEOUT + 20)
        except subprocess.TimeoutExpired:
            pytest.fail("interpreter exit hung on a stuck metrics callback")
        assert time.monotonic() - start < EXIT_TIMEOUT + 3 * SLACK
    finally:
        proc.kill()
        proc.wait()
        assert proc.stderr is not None
        proc.stderr.close()
        proc.stdout.close()


def test_a_callback_may_call_force_flush(sink) -> None:
    out = _run(
        f"""
        import json, time, otlp
        exp = otlp.Exporter({sink.endpoint!r}, metrics=otlp.MetricsConfig(interval=600.0))
        inner = []
        def flushing():
            inner.append(exp.force_flush(2.0))
            return [7.0]
        exp.meter("reentrant").observable_gauge("flushing", callbacks=[flushing])
        start = time.monotonic()
        ok = exp.force_flush(10.0)
        elapsed = time.monotonic() - start
        exp.shutdown(5.0)
        print(json.dumps({{"ok": ok, "inner": inner, "elapsed": elapsed}}))
        """,
        timeout=40,
    )
    assert out["ok"] is True
    # From inside a collection it cannot wait for that collection: it says so.
    assert out["inner"][0] is False
    assert out["elapsed"] < 2.0 + SLACK
    assert 7.0 in _points(sink, "flushing")


def test_a_callback_may_call_shutdown(sink) -> None:
    out = _run(
        f"""
        import json, otlp
        exp = otlp.Exporter({sink.endpoint!r}, metrics=otlp.MetricsConfig(interval=600.0))
        inner = []
        def stopping():
            inner.append(exp.shutdown(2.0))
            return [7.0]
        exp.meter("reentrant").observable_gauge("stopping", callbacks=[stopping])
        exp.force_flush(10.0)
        again = exp.shutdown(5.0)
        print(json.dumps({{"inner": inner, "again": again, "stats": exp.stats()}}))
        """,
        timeout=40,
    )
    # Called once; the collection it was called from is the last one, and is delivered.
    assert out["inner"] == [False]
    assert out["again"] is True
    assert _points(sink, "stopping") == [7.0]
    assert out["stats"]["metric_points_exported"] == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_inside_a_callback_does_not_hang(sink) -> None:
    out = _run(
        f"""
        import json, os, otlp
        exp = otlp.Exporter({sink.endpoint!r}, metrics=otlp.MetricsConfig(interval=600.0))
        meter = exp.meter("fork")
        counter = meter.counter("work")
        children = []
        forked = []
        def forking():
            if not forked:
                forked.append(True)  # before the fork: the child must not fork again
                pid = os.fork()
                if pid == 0:
                    # The child's exporter works: a fresh reader collects and exports.
                    code = 1
                    try:
                        counter.add(5)
                        ok = exp.force_flush(10.0)
                        code = 0 if ok and exp.stats()["metric_points_exported"] >= 1 else 2
                    finally:
                        os._exit(code)
                children.append(pid)
            return [1.0]
        meter.observable_gauge("forking", callbacks=[forking])
        ok = exp.force_flush(10.0)
        _, status = os.waitpid(children[0], 0)
        print(json.dumps({{"ok": ok, "child": os.waitstatus_to_exitcode(status)}}))
        exp.shutdown(5.0)
        """,
        timeout=60,
    )
    assert out == {"ok": True, "child": 0}


def _main_thread_sleeps(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] == "S"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_ctrl_c_interrupts_force_flush_waiting_for_a_stuck_callback(unused_endpoint) -> None:
    # A process started in the background by a shell without job control (`make test &`)
    # inherits SIGINT ignored, and Python then leaves it ignored: give the child the
    # handler an interactive program has, as a terminal's Ctrl-C would find it.
    script = f"""
        import os, signal, threading, time, otlp
        signal.signal(signal.SIGINT, signal.default_int_handler)
        exp = otlp.Exporter({unused_endpoint!r}, metrics=otlp.MetricsConfig(interval=0.05))
        entered = threading.Event()
        def stuck():
            entered.set()
            threading.Event().wait()  # never returns
        exp.meter("sigint").observable_gauge("stuck", callbacks=[stuck])
        assert entered.wait(30)
        print("ready", flush=True)
        try:
            exp.force_flush(60.0)
            print("returned", flush=True)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
        os._exit(0)  # exit with a stuck callback is another test's subject
    """
    proc = subprocess.Popen(_script(script), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    # Read the child's stderr as it comes: a full pipe would block the child, and a
    # failure shows what it wrote.
    err = bytearray()
    assert proc.stderr is not None
    drain = threading.Thread(target=lambda: err.extend(proc.stderr.read()), daemon=True)
    drain.start()
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        # Signal once the main thread is blocked, i.e. inside force_flush.
        assert _wait_until(lambda: _main_thread_sleeps(proc.pid), timeout=10.0)
        start = time.monotonic()
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pytest.fail(
                "Ctrl-C did not interrupt force_flush; the child's stderr: "
                + bytes(err[-4000:]).decode(errors="replace")
            )
        assert proc.stdout.read() == b"interrupted\n"
        assert time.monotonic() - start < SLACK
    finally:
        proc.kill()
        proc.wait()
        drain.join(5)
        proc.stderr.close()
        proc.stdout.close()
