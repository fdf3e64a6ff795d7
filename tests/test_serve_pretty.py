"""``python -m otlp serve --format pretty`` on a terminal: what a person sees."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time

import pytest

import otlp

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs a pty")

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _read_until(fd: int, pattern: str, timeout: float = 30.0) -> str:
    """What the terminal showed, once ``pattern`` (a regex, colours removed) appears."""
    deadline = time.monotonic() + timeout
    seen = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
            if re.search(pattern, ANSI.sub("", seen.decode(errors="replace"))):
                return seen.decode(errors="replace")
    pytest.fail(f"no {pattern!r} on the terminal; it showed:\n{seen.decode(errors='replace')}")


@pytest.mark.timeout(90)
def test_a_small_trace_metrics_and_a_log_are_shown_as_a_tree_a_table_and_a_line() -> None:
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "otlp",
            "serve",
            "--grpc",
            "127.0.0.1:0",
            "--http",
            "none",
            "--format",
            "pretty",
        ],
        stdout=slave,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env={k: v for k, v in os.environ.items() if k != "NO_COLOR"},
    )
    os.close(slave)
    try:
        assert proc.stderr is not None
        banner = proc.stderr.readline().decode()
        endpoint = re.search(r"http://127\.0\.0\.1:\d+", banner)
        assert endpoint, banner
        with otlp.Exporter(endpoint.group(0), metrics=otlp.MetricsConfig(interval=3600.0)) as exp:
            tracer = exp.tracer("shop")
            with tracer.span(
                "GET /cart", kind=otlp.SpanKind.SERVER, attributes={"http.route": "/cart"}
            ) as root:
                root.add_event("cache.miss", {"key": "cart"})
                with tracer.span("SELECT items", kind=otlp.SpanKind.CLIENT):
                    pass
                with tracer.span("render") as span:
                    span.set_status(otlp.StatusCode.ERROR, "template missing")
            exp.meter("shop").counter("orders").add(3, {"region": "eu"})
            exp.logger("shop").emit("cart shown", severity=otlp.Severity.WARN)
            assert exp.force_flush(timeout=10.0)
        shown = _read_until(master, r"WARN\s+cart shown")
        shown += (
            _read_until(master, r"orders\s+sum\s+3", timeout=10.0)
            if "orders" not in ANSI.sub("", shown)
            else ""
        )
        plain = ANSI.sub("", shown)
        assert "\x1b[" in shown, "no colour on a terminal"
        lines = plain.splitlines()
        root_line = next(i for i, line in enumerate(lines) if "GET /cart" in line)
        assert lines[root_line].startswith("└─ GET /cart server")
        tree = "\n".join(lines[root_line : root_line + 6])
        assert re.search(r"http\.route=/cart", tree)
        assert re.search(r"• cache\.miss key=cart", tree)
        assert re.search(r"   ├─ SELECT items client [\d.]+ (µs|ms)", tree)
        assert re.search(r"   └─ render internal [\d.]+ (µs|ms) ERROR: template missing", tree)
        assert re.search(r"orders\s+sum\s+3\s+region=eu", plain)
    finally:
        proc.send_signal(signal.SIGTERM)  # stops serve as Ctrl-C does, from any parent
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        if proc.stderr is not None:
            proc.stderr.close()
        os.close(master)
