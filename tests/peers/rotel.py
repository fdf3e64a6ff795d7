"""The real ``rotel`` OpenTelemetry collector (Rust) as a test relay.

The ``rotel`` PyPI wheel ships the collector binary as ``rotel/rotel-agent``
inside the package (the Python ``rotel.Agent`` wrapper only starts it with
``start --daemon`` and configures it through ``ROTEL_*`` environment
variables).  We run the binary directly, in the foreground, so that we own the
process (no daemon, no pid file games) and can kill it reliably.

Command line used (``rotel-agent start --help`` documents every flag; each
has a ``ROTEL_*`` environment equivalent, which we strip from the child's
environment so nothing leaks in):

    rotel-agent start
        --otlp-grpc-endpoint 127.0.0.1:<grpc_port>   OTLP/gRPC receiver
        --otlp-http-endpoint 127.0.0.1:<http_port>   OTLP/HTTP receiver (for later)
        --exporter otlp                              single OTLP exporter ...
        --otlp-exporter-endpoint http://127.0.0.1:<sink_port>
        --otlp-exporter-protocol grpc                ... speaking gRPC to the sink
        --otlp-exporter-compression none             (rotel's default is gzip)
        --batch-timeout 20ms                         flush partial batches fast (default 200ms)
        --batch-max-size 8192                        (default; spans per outgoing batch)
        --otlp-exporter-request-timeout 5s
        --otlp-exporter-retry-initial-backoff 50ms   retry quickly if the sink hiccups
        --otlp-exporter-retry-max-backoff 500ms        (defaults 5s / 30s / 300s)
        --otlp-exporter-retry-max-elapsed-time 20s
        --pid-file <tmp>/rotel.pid --log-file <tmp>/rotel.log   (only used by --daemon;
                                                     set so nothing touches /tmp/rotel-agent.*)

Notes found by trying it (rotel 0.0.1a15, binary reports 0.0.1-alpha10):
  * port 0 is NOT supported for the receivers: the agent panics
    (``agent.rs: called Option::unwrap() on a None value``), so we pick free
    ports ourselves (bind-to-0-and-close) and retry with new ports if the
    agent exits during start-up (port stolen in between).
  * in the foreground it logs to stderr; we send stdout+stderr to
    ``<tmp>/rotel.out``.
  * SIGTERM shuts it down gracefully ("Shutdown signal received.").
"""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

from .process import PeerProcess, child_env, poll_until


def rotel_binary() -> Path:
    import rotel

    p = Path(rotel.__file__).resolve().parent / "rotel-agent"
    if not p.exists():
        raise FileNotFoundError(f"rotel collector binary not found at {p}")
    return p


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(
    port: int, timeout: float, proc: subprocess.Popen | None = None, host: str = "127.0.0.1"
) -> None:
    """Connect to host:port until it accepts or the deadline passes (RuntimeError as soon
    as ``proc`` has exited: the port may then be someone else's)."""

    def accepts() -> bool:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(
                f"process exited (rc={proc.returncode}) before {host}:{port} accepted connections"
            )
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            return False

    poll_until(
        accepts,
        timeout,
        lambda: TimeoutError(f"{host}:{port} did not accept connections within {timeout}s"),
        interval=0.005,
        max_interval=0.1,
    )


class Rotel(PeerProcess):
    """rotel collector relaying OTLP (gRPC/HTTP in) to ``sink_endpoint`` (OTLP/gRPC out)."""

    label = "rotel"

    def __init__(
        self,
        sink_endpoint: str,
        *,
        batch_timeout: str = "20ms",
        batch_max_size: int = 8192,
        compression: str = "none",
        extra_args: tuple[str, ...] = (),
        workdir: str | os.PathLike | None = None,
        startup_timeout: float = 20.0,
        attempts: int = 3,
    ):
        # rotel logs to stderr; its stdout goes to the same file
        super().__init__(workdir, stderr_name="rotel.out", tmp_prefix="otlp-rotel-")
        self.sink_endpoint = sink_endpoint
        self.batch_timeout = batch_timeout
        self.batch_max_size = batch_max_size
        self.compression = compression
        self.extra_args = tuple(extra_args)
        self.startup_timeout = startup_timeout
        self.attempts = attempts
        self.log_path = self.stderr_path
        self.grpc_port: int | None = None
        self.http_port: int | None = None
        self.args: list[str] = []

    @property
    def endpoint(self) -> str:
        """OTLP/gRPC receiver, http://127.0.0.1:PORT."""
        return f"http://127.0.0.1:{self.grpc_port}"

    @property
    def http_endpoint(self) -> str:
        """OTLP/HTTP receiver base URL (paths /v1/traces etc.)."""
        return f"http://127.0.0.1:{self.http_port}"

    def command(self, grpc_port: int, http_port: int) -> list[str]:
        return [
            str(rotel_binary()),
            "start",
            "--otlp-grpc-endpoint",
            f"127.0.0.1:{grpc_port}",
            "--otlp-http-endpoint",
            f"127.0.0.1:{http_port}",
            "--exporter",
            "otlp",
            "--otlp-exporter-endpoint",
            self.sink_endpoint,
            "--otlp-exporter-protocol",
            "grpc",
            "--otlp-exporter-compression",
            self.compression,
            "--batch-timeout",
            self.batch_timeout,
            "--batch-max-size",
            str(self.batch_max_size),
            "--otlp-exporter-request-timeout",
            "5s",
            "--otlp-exporter-retry-initial-backoff",
            "50ms",
            "--otlp-exporter-retry-max-backoff",
            "500ms",
            "--otlp-exporter-retry-max-elapsed-time",
            "20s",
            "--pid-file",
            str(self.workdir / "rotel.pid"),
            "--log-file",
            str(self.workdir / "rotel.log"),
            *self.extra_args,
        ]

    def start(self) -> Rotel:
        env = child_env(strip_prefixes=("ROTEL_", "OTEL_"))
        last_err: Exception | None = None
        for _ in range(self.attempts):
            self.grpc_port, self.http_port = free_port(), free_port()
            if self.grpc_port == self.http_port:
                continue
            self.args = self.command(self.grpc_port, self.http_port)
            proc = self._spawn(
                self.args, env=env, cwd=self.workdir, stdin=subprocess.DEVNULL, merge_stdout=True
            )
            try:
                wait_for_port(self.grpc_port, self.startup_timeout, proc)
                wait_for_port(self.http_port, self.startup_timeout, proc)
                return self
            except (RuntimeError, TimeoutError) as e:
                last_err = e
                self.stop()
        raise RuntimeError(f"rotel did not start: {last_err}\n--- rotel output ---\n{self.output_tail()}")

    def output_tail(self, n: int = 4000) -> str:
        """The last ``n`` bytes of rotel's output (stdout and stderr)."""
        return self.stderr_tail(n)
