"""``python -m otlp serve``: a local receiver a developer points their exporters at."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from peers import free_port

import otlp
from otlp import _native


class Serve:
    """A running ``python -m otlp serve`` and what it printed so far."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.output = b""

    def read_until(self, marker: bytes, timeout: float = 15.0) -> str:
        """serve's output so far, once ``marker`` is in it (bounded by ``timeout``)."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while marker not in self.output:
            left = deadline - time.monotonic()
            assert left > 0, f"no {marker!r} from serve; it printed {self.output!r}"
            if select.select([fd], [], [], left)[0]:
                chunk = os.read(fd, 65536)
                assert chunk, f"serve exited; it printed {self.output!r}"
                self.output += chunk
        return self.output.decode()


@contextmanager
def serve(*args: str) -> Iterator[Serve]:
    with subprocess.Popen(
        [sys.executable, "-m", "otlp", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    ) as proc:
        try:
            yield Serve(proc)
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def official_http_spans(endpoint: str, names: list[str]) -> dict[str, tuple[str, str]]:
    """Send spans with the official OTLP/HTTP exporter (protobuf over HTTP/1.1); each
    span's trace and span id, in hex, by name."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces")))
    ids = {}
    for name in names:
        span = provider.get_tracer("serve").start_span(name, attributes={"name.again": name})
        span.end()
        ctx = span.get_span_context()
        ids[name] = (f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}")
    provider.shutdown()
    return ids


def send_otlp(endpoint: str, names: list[str], **kw: str) -> None:
    with otlp.Exporter(endpoint, **kw) as exp:  # type: ignore[arg-type]
        tracer = exp.tracer("serve")
        for name in names:
            tracer.start_span(name, attributes={"name.again": name}).end()
        assert exp.force_flush(timeout=10.0)


@pytest.mark.timeout(60)
def test_serve_counts_what_arrives_over_grpc_http1_and_h2c() -> None:
    grpc_port, http_port = free_port(), free_port()
    with serve("--grpc", f"127.0.0.1:{grpc_port}", "--http", f"127.0.0.1:{http_port}") as s:
        first = s.read_until(b"\n")
        assert f"127.0.0.1:{grpc_port}" in first and f"127.0.0.1:{http_port}" in first, first
        assert "HTTP/1.1" in first, first
        send_otlp(f"http://127.0.0.1:{grpc_port}", ["a"] * 10, protocol="grpc")
        send_otlp(f"http://127.0.0.1:{http_port}", ["b"] * 10, protocol="http/protobuf", http_version="2")
        official_http_spans(f"http://127.0.0.1:{http_port}", ["c"] * 10)
        # serve prints the counts when they change, checking once a second.
        text = s.read_until(b"spans 30 ")
        last = text[text.index("spans 30 ") :].splitlines()[0]
        assert "errors 0" in last, text


@pytest.mark.timeout(60)
def test_serve_writes_counts_to_the_output_file(tmp_path: Path) -> None:
    out = tmp_path / "counts.txt"
    port = free_port()
    with serve("--grpc", f"127.0.0.1:{port}", "--http", "none", "--output", str(out)) as s:
        first = s.read_until(b"\n")
        assert f"127.0.0.1:{port} " in first and " and http://" not in first, first
        official_http_spans(f"http://127.0.0.1:{port}", ["x", "y"])
        deadline = time.monotonic() + 15
        while "spans 2 " not in (out.read_text() if out.exists() else ""):
            assert time.monotonic() < deadline, out.read_text() if out.exists() else "no file"
            time.sleep(0.05)


@pytest.mark.timeout(60)
def test_serve_jsonl_writes_what_was_sent_or_says_why_it_cannot(tmp_path: Path) -> None:
    grpc_port, http_port = free_port(), free_port()
    out = tmp_path / "requests.jsonl"
    args = ("--grpc", f"127.0.0.1:{grpc_port}", "--http", f"127.0.0.1:{http_port}", "--format", "jsonl")
    if not hasattr(_native, "_decode_json"):
        run = subprocess.run(
            [sys.executable, "-m", "otlp", "serve", *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert run.returncode == 2 and "--format jsonl needs the OTLP decoder" in run.stderr, run
        return
    with serve(*args, "--output", str(out)) as s:
        s.read_until(b"\n")
        send_otlp(f"http://127.0.0.1:{grpc_port}", ["g1", "g2"], protocol="grpc", compression="zstd")
        send_otlp(f"http://127.0.0.1:{http_port}", ["j1"], protocol="http/json", compression="gzip")
        official = official_http_spans(f"http://127.0.0.1:{http_port}", ["o1"])
        spans: list[dict] = []
        deadline = time.monotonic() + 15
        while len(spans) < 4:
            assert time.monotonic() < deadline, spans
            time.sleep(0.05)
            lines = out.read_text().splitlines() if out.exists() else []
            spans = [
                span
                for line in lines
                for rs in json.loads(line)["resourceSpans"]
                for ss in rs["scopeSpans"]
                for span in ss["spans"]
            ]
    assert sorted(span["name"] for span in spans) == ["g1", "g2", "j1", "o1"]
    for span in spans:
        # OTLP/JSON: attributes as AnyValue, ids in hex.
        assert span["attributes"] == [{"key": "name.again", "value": {"stringValue": span["name"]}}], span
        if span["name"] == "o1":
            assert (span["traceId"].lower(), span["spanId"].lower()) == official["o1"], span


def test_serve_refuses_an_address_it_cannot_listen_on() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "otlp", "serve", "--grpc", "not-an-address", "--http", "none"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert run.returncode == 2 and "cannot listen on" in run.stderr, run
