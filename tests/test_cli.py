"""``python -m otlp demo | serve | bench``: what a user runs first."""

from __future__ import annotations

import io
import os
import select
import signal
import subprocess
import sys
import time

import pytest
from peers import free_port

import otlp
from otlp import cli


@pytest.mark.timeout(60)
def test_demo_delivers_everything_it_sends() -> None:
    out = io.StringIO()
    assert cli.main(["demo", "--seconds", "0.3"], out) == 0, out.getvalue()
    text = out.getvalue()
    summary = {line.split()[0]: line.split()[1] for line in text.splitlines() if line.strip()}
    sent = int(summary["sent"].replace(",", ""))
    received = int(summary["received"].replace(",", ""))
    assert sent > 0 and received == sent, text
    assert "dropped   0   failed 0" in text, text


@pytest.mark.timeout(120)
def test_bench_measures_every_case_and_compares_with_the_official_sdk() -> None:
    out = io.StringIO()
    assert cli.main(["bench", "--spans", "3000"], out) == 0, out.getvalue()
    text = out.getvalue()
    for case in ("OTLP/gRPC", "OTLP/HTTP over HTTP/2", "OTLP/gRPC + zstd", "OpenTelemetry SDK"):
        assert case in text, text
    assert "otlp / official:" in text and "histogram kernel" in text, text


def test_bench_refuses_a_bad_span_count(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["bench", "--spans", "0"])
    assert exit_info.value.code == 2
    assert "--spans must be at least 1" in capsys.readouterr().err


@pytest.mark.timeout(60)
def test_serve_counts_what_arrives_over_grpc_and_http2() -> None:
    port = free_port()
    with subprocess.Popen(
        [sys.executable, "-m", "otlp", "serve", "--address", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    ) as proc:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        output = b""

        def read_until(marker: bytes, timeout: float) -> bytes:
            """serve's output so far, once ``marker`` is in it (bounded by ``timeout``)."""
            nonlocal output
            deadline = time.monotonic() + timeout
            while marker not in output:
                left = deadline - time.monotonic()
                assert left > 0, f"no {marker!r} from serve; it printed {output!r}"
                if select.select([fd], [], [], left)[0]:
                    chunk = os.read(fd, 4096)
                    assert chunk, f"serve exited; it printed {output!r}"
                    output += chunk
            return output

        try:
            first = read_until(b"\n", 15).decode()
            assert f"127.0.0.1:{port}" in first and "OTLP/HTTP over HTTP/2" in first, first
            for kw in ({"protocol": "grpc"}, {"protocol": "http/protobuf", "http_version": "2"}):
                with otlp.Exporter(f"http://127.0.0.1:{port}", **kw) as exp:  # type: ignore[arg-type]
                    tracer = exp.tracer("cli")
                    for _ in range(10):
                        tracer.start_span("op").end()
                    assert exp.force_flush(timeout=10.0)
            # serve prints the counts when they change, checking once a second.
            text = read_until(b"spans 20 ", 15).decode()
            last = text[text.index("spans 20 ") :].splitlines()[0]
            assert "errors 0" in last, text
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
