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
from typing import Any

import pytest
from peers import free_port

import otlp

try:
    import otlp_json_reader as reader
except ImportError:  # tests/ is a package
    from tests import otlp_json_reader as reader

canonical_bytes = reader.canonical_bytes


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


# ``python -m otlp serve`` as a terminal starts it, with Python's Ctrl-C handler, even
# when the suite runs as a background job (whose shell leaves SIGINT ignored).
SERVE = [
    sys.executable,
    "-c",
    "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "runpy.run_module('otlp', run_name='__main__')",
    "serve",
]


@contextmanager
def serve(*args: str) -> Iterator[Serve]:
    with subprocess.Popen(
        [*SERVE, *args],
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


def span_names(jsonl: str) -> list[str]:
    """The names of the spans in ``serve --format jsonl``'s output, in order."""
    return [
        span["name"]
        for line in jsonl.splitlines()
        for rs in json.loads(line)["resourceSpans"]
        for ss in rs["scopeSpans"]
        for span in ss["spans"]
    ]


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


def sdk_batches() -> dict[str, Any]:
    """One batch of each signal made by the official SDK (spans with events, links and
    an error; a counter, a histogram and a gauge; log records in a span), for every
    sender to export as it is."""
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import Link, SpanKind, Status, StatusCode

    resource = Resource.create({"service.name": "serve-test", "deployment": "ci"})
    spans, logs, reader = InMemorySpanExporter(), InMemoryLogRecordExporter(), InMemoryMetricReader()
    tp = TracerProvider(resource=resource)
    tp.add_span_processor(SimpleSpanProcessor(spans))
    lp = LoggerProvider(resource=resource)
    lp.add_log_record_processor(SimpleLogRecordProcessor(logs))
    mp = MeterProvider(resource=resource, metric_readers=[reader])
    tracer, logger, meter = tp.get_tracer("shop", "1.2"), lp.get_logger("shop.log"), mp.get_meter("shop.m")
    with tracer.start_as_current_span(
        "GET /cart", kind=SpanKind.SERVER, attributes={"http.status": 200}
    ) as root:
        root.add_event("cache.miss", {"key": "cart", "sizes": [1, 2]})
        with tracer.start_as_current_span(
            "SELECT", links=[Link(root.get_span_context(), {"why": "x"})]
        ) as db:
            db.set_attributes({"rows": 3, "ratio": 0.25, "ok": True, "raw": 'é\n"q"'})
            db.set_status(Status(StatusCode.ERROR, "timeout"))
            logger.emit(body={"order": 7, "items": ["a", "b"]}, severity_text="WARN", attributes={"n": 1})
        logger.emit(body="plain", attributes={"big": 2**62})
    meter.create_counter("requests", unit="1").add(5, {"route": "/"})
    meter.create_histogram("latency", unit="ms").record(12.5, {"route": "/"})
    meter.create_gauge("temperature").set(-3.5)
    batches = {
        "traces": spans.get_finished_spans(),
        "logs": logs.get_finished_logs(),
        "metrics": reader.get_metrics_data(),
    }
    for provider in (tp, lp, mp):
        provider.shutdown()
    return batches


def official_requests(batches: dict[str, Any]) -> dict[str, Any]:
    """What the official exporters send for those batches, as protobuf messages."""
    from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
    from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    return {
        "traces": encode_spans(batches["traces"]),
        "logs": encode_logs(batches["logs"]),
        "metrics": encode_metrics(batches["metrics"]),
    }


def export_official(batches: dict[str, Any], protocol: str, grpc_ep: str, http_ep: str) -> None:
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        kw: dict[str, Any] = {"insecure": True}
        urls = dict.fromkeys(("traces", "logs", "metrics"), grpc_ep)
    else:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import (  # type: ignore[assignment]
            OTLPLogExporter,
        )
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import (  # type: ignore[assignment]
            OTLPMetricExporter,
        )
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[assignment]
            OTLPSpanExporter,
        )

        kw = {}
        urls = {s: f"{http_ep}/v1/{s}" for s in ("traces", "logs", "metrics")}
    for what, cls in (
        ("traces", OTLPSpanExporter),
        ("logs", OTLPLogExporter),
        ("metrics", OTLPMetricExporter),
    ):
        exporter = cls(endpoint=urls[what], **kw)
        result = exporter.export(batches[what])
        exporter.shutdown()
        assert result.value == 0, (protocol, what, result)  # SUCCESS, in each result enum


def export_otlp(batches: dict[str, Any], endpoint: str, **kw: str) -> None:
    """The same batches through otlp's Rust exporter (``otlp.sdk``'s exporters on an
    ``otlp.Exporter`` with these settings)."""
    from otlp.sdk import LogExporter, MetricExporter, SpanExporter

    with otlp.Exporter(endpoint, **kw) as exp:  # type: ignore[arg-type]
        for what, cls in (("traces", SpanExporter), ("logs", LogExporter), ("metrics", MetricExporter)):
            sdk_exporter = cls(exporter=exp)
            assert sdk_exporter.export(batches[what]).value == 0, (kw, what)
        assert exp.force_flush(timeout=10.0)


OTLP_WAYS = [
    {"protocol": protocol, "compression": compression}
    for protocol in ("grpc", "http/protobuf", "http/json")
    for compression in ("none", "gzip", "zstd")
] + [{"protocol": "http/protobuf", "compression": "gzip", "http_version": "2"}]


@pytest.mark.timeout(120)
def test_serve_jsonl_lines_decode_to_exactly_what_every_exporter_sent(tmp_path: Path) -> None:
    """The official exporters (gRPC; HTTP/protobuf, which speaks HTTP/1.1) and otlp
    (every protocol and compression, and h2c) export the same SDK batches to ``serve
    --format jsonl``: each line reads back to the official encoder's request."""
    batches = sdk_batches()
    want = {signal: canonical_bytes(m) for signal, m in official_requests(batches).items()}
    grpc_port, http_port = free_port(), free_port()
    grpc_ep, http_ep = f"http://127.0.0.1:{grpc_port}", f"http://127.0.0.1:{http_port}"
    out = tmp_path / "requests.jsonl"
    args = ("--grpc", f"127.0.0.1:{grpc_port}", "--http", f"127.0.0.1:{http_port}", "--format", "jsonl")
    senders = 2 + len(OTLP_WAYS)
    with serve(*args, "--output", str(out)) as s:
        s.read_until(b"\n")
        export_official(batches, "grpc", grpc_ep, http_ep)
        export_official(batches, "http/protobuf", grpc_ep, http_ep)
        for way in OTLP_WAYS:
            export_otlp(batches, grpc_ep if way["protocol"] == "grpc" else http_ep, **way)
        deadline = time.monotonic() + 15
        lines: list[str] = []
        while len(lines) < 3 * senders:
            assert time.monotonic() < deadline, f"{len(lines)} lines of {3 * senders}"
            time.sleep(0.05)
            lines = out.read_text().splitlines() if out.exists() else []
    top = {"resourceSpans": "traces", "resourceLogs": "logs", "resourceMetrics": "metrics"}
    seen = {"traces": 0, "logs": 0, "metrics": 0}
    for line in lines:
        doc = json.loads(line)
        (key,) = doc.keys()
        signal = top[key]
        got = reader.read(doc, type(official_requests(batches)[signal]))
        assert canonical_bytes(got) == want[signal], (signal, line[:300])
        seen[signal] += 1
    assert seen == dict.fromkeys(seen, senders)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_serve_writes_everything_it_received_before_it_stops(tmp_path: Path, stop: signal.Signals) -> None:
    """Stopped by Ctrl-C, or by ``kill``/a container's stop (SIGTERM), serve writes every
    request it had acknowledged before it exits, and exits 0."""
    out = tmp_path / "requests.jsonl"
    port = free_port()
    with serve(
        "--grpc", f"127.0.0.1:{port}", "--http", "none", "--format", "jsonl", "--output", str(out)
    ) as s:
        s.read_until(b"\n")
        for batch in range(3):
            # force_flush returns once serve has acknowledged the request.
            send_otlp(f"http://127.0.0.1:{port}", [f"batch-{batch}"] * 5)
        s.proc.send_signal(stop)
        assert s.proc.wait(15) == 0, s.read_until(b"")
        names = span_names(out.read_text())
    assert sorted(names) == sorted(f"batch-{b}" for b in range(3) for _ in range(5))


@pytest.mark.timeout(60)
@pytest.mark.skipif(signal.getsignal(signal.SIGTERM) != signal.SIG_DFL, reason="SIGTERM is handled here")
def test_a_stop_while_serve_writes_what_it_took_waits_until_all_of_it_is_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """serve, in this process, takes three requests from the receiver at once; SIGTERM
    arrives as it writes the first: the other two are written too, then it stops."""
    import io
    import threading

    from otlp import cli

    real = cli._native.Receiver

    class OneTake:
        """The receiver, handing over its requests only once all three have arrived."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self.receiver = real(*args, **kwargs)

        def __getattr__(self, name: str) -> Any:
            return getattr(self.receiver, name)

        def take(self) -> Any:
            return self.receiver.take() if self.receiver.counts()["requests"] >= 3 else []

    class Out(io.StringIO):
        """Sends this process SIGTERM after the first line (serve's handler is in place)."""

        signalled = False

        def write(self, text: str) -> int:
            n = super().write(text)
            if text.startswith("{") and not self.signalled:
                self.signalled = True
                assert signal.getsignal(signal.SIGTERM) != signal.SIG_DFL, "serve set no handler"
                os.kill(os.getpid(), signal.SIGTERM)
            return n

    monkeypatch.setattr(cli._native, "Receiver", OneTake)
    port = free_port()
    sent = threading.Thread(
        target=lambda: [send_otlp(f"http://127.0.0.1:{port}", [f"request-{i}"]) for i in range(3)],
        daemon=True,
    )
    sent.start()
    out = Out()
    assert cli.main(["serve", "--grpc", f"127.0.0.1:{port}", "--http", "none", "--format", "jsonl"], out) == 0
    sent.join(10)
    names = span_names(out.getvalue())
    assert out.signalled and sorted(names) == ["request-0", "request-1", "request-2"]
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL, "serve left its handler in place"


def test_serve_refuses_an_address_it_cannot_listen_on() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "otlp", "serve", "--grpc", "not-an-address", "--http", "none"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert run.returncode == 2 and "cannot listen on" in run.stderr, run
