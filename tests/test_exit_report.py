"""A script that loses telemetry says so, once, through the ``otlp`` logger: at
``shutdown()`` or at interpreter exit, with what was lost, how much, and the last cause,
even when it ends before the first periodic report."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**__import__("os").environ, **env},
        check=False,
    )


def _otlp_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "(exporter http://" in line]


@pytest.mark.timeout(90)
def test_a_short_script_that_loses_everything_says_so_at_exit(unused_endpoint: str) -> None:
    out = _run(
        f"""
        import otlp
        exp = otlp.Exporter({unused_endpoint!r}, retry=otlp.RetryPolicy(max_elapsed=60.0))
        tracer = exp.tracer("script")
        for i in range(12):
            tracer.start_span("work").end()
        print("done")
        """
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "done"
    lines = _otlp_lines(out.stderr)
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("12 spans dropped"), lines
    assert "at shutdown" in lines[0] and "Connection refused" in lines[0], lines


@pytest.mark.timeout(60)
def test_shutdown_reports_losses_once_and_after_a_periodic_report_nothing_twice(unused_endpoint: str) -> None:
    out = _run(
        f"""
        import time, otlp
        from otlp import _lifecycle
        exp = otlp.Exporter(
            {unused_endpoint!r},
            retry=otlp.RetryPolicy(initial_backoff=0.01, max_backoff=0.02, max_elapsed=0.1),
            circuit_breaker=otlp.CircuitBreaker(failure_threshold=0),
        )
        exp.logger("script").emit("lost record")
        tracer = exp.tracer("script")
        for i in range(5):
            tracer.start_span("work").end()
        deadline = time.monotonic() + 30
        while exp.stats()["spans_failed"] + exp.stats()["logs_failed"] < 6 and time.monotonic() < deadline:
            exp.force_flush(timeout=1.0)
        _lifecycle.report_losses(exp)   # what the periodic report does
        exp.shutdown(timeout=1.0)       # nothing new was lost: no second report
        exp.shutdown(timeout=1.0)
        """
    )
    assert out.returncode == 0, out.stderr
    lines = _otlp_lines(out.stderr)
    assert len(lines) == 1, out.stderr
    assert "5 spans failed to export, 1 log records failed to export" in lines[0], lines
    assert "at shutdown" not in lines[0]
    assert "Connection refused" in lines[0], lines


@pytest.mark.timeout(60)
def test_nothing_is_said_when_nothing_was_lost() -> None:
    out = _run(
        """
        import otlp
        from otlp import _native
        receiver = _native.Receiver()
        with otlp.Exporter(receiver.endpoint) as exp:
            exp.tracer("script").start_span("work").end()
        assert receiver.counts()["spans"] == 1
        """
    )
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
