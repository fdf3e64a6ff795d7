"""What the test peers that run as child processes share (sink, ASGI collector, gRPC
fault server, rotel).

* :func:`child_env`: the test process's environment without the variables that would
  change how a peer talks (``OTEL_*``, ``GRPC_*``, proxies, ...).
* :func:`die_with_parent`: ``preexec_fn`` that has Linux kill the child with its parent.
* :func:`poll_until`: a bounded wait with a growing poll interval.
* :class:`PeerProcess`: base class owning the child: start (stderr to a file in the
  work directory), the ``PORT <n>`` first line of stdout, ``stop()`` / ``close()``,
  ``alive()``, ``stderr_tail()``, ``wait_until()`` and the context manager.
* In the child: :func:`stop_requested` / :func:`on_stdin_eof` (stop when the parent
  asks, by SIGTERM or by closing stdin, or dies), :func:`report_port`, and
  :func:`serve_grpc` (all of it for a ``grpc.Server``).

In the sink and fault-server children (run as scripts, ``python tests/peers/sink.py``)
this module is imported as the top-level ``process``: it imports nothing from the package.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar, Optional, TypeVar

__all__ = [
    "PROXY_VARIABLES",
    "PeerProcess",
    "child_env",
    "die_with_parent",
    "on_stdin_eof",
    "poll_until",
    "report_port",
    "serve_grpc",
    "stop_requested",
]

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")

_T = TypeVar("_T")
_P = TypeVar("_P", bound="PeerProcess")


def child_env(strip_prefixes: tuple[str, ...] = ("OTEL_", "GRPC_"), **overrides: str) -> dict[str, str]:
    """``os.environ`` without the variables starting with one of ``strip_prefixes`` and
    without the proxy variables (any case), then ``overrides`` set: a peer must not
    inherit the OTel / gRPC / proxy settings of the test process."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(strip_prefixes) and k.lower() not in PROXY_VARIABLES
    }
    env.update(overrides)
    return env


def die_with_parent() -> None:
    """preexec_fn: ask Linux to SIGKILL the child when the parent dies.

    Linux ties PDEATHSIG to the *thread* that forked: start peers from the main thread
    (pytest fixtures do), not from a short-lived worker thread."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def poll_until(
    done: Callable[[], bool],
    timeout: float,
    expired: Callable[[], BaseException],
    *,
    interval: float = 0.002,
    max_interval: float = 0.05,
) -> None:
    """Call ``done()`` until it returns True; raise ``expired()`` once ``timeout``
    seconds have passed without. ``done`` is called at least once; the pause between
    calls doubles from ``interval`` up to ``max_interval``. Whatever ``done`` raises
    (e.g. "the peer died") ends the wait."""
    deadline = time.monotonic() + timeout
    while True:
        if done():
            return
        left = deadline - time.monotonic()
        if left <= 0:
            raise expired()
        time.sleep(min(interval, left))  # polling inside a deadline-bounded wait
        interval = min(interval * 2, max_interval)


class PeerProcess:
    """A test peer run as a child process; subclasses write ``start()``.

    The child's stderr is appended to ``stderr_path`` (``stderr_name`` in ``workdir``;
    a temporary directory, removed by ``close()``, when ``workdir`` is None). A child
    that reports its port prints ``PORT <n>`` as the first line of stdout and exits
    when its stdin is closed or on SIGTERM. Failures are raised as ``error_type``,
    their messages start with ``label``.
    """

    label: ClassVar[str] = "peer"
    error_type: ClassVar[type[Exception]] = RuntimeError

    def __init__(
        self, workdir: str | os.PathLike[str] | None, *, stderr_name: str, tmp_prefix: str = "otlp-peer-"
    ) -> None:
        self._own_dir: Optional[tempfile.TemporaryDirectory[str]] = None
        if workdir is None:
            self._own_dir = tempfile.TemporaryDirectory(prefix=tmp_prefix)
            workdir = self._own_dir.name
        self.workdir = Path(workdir)
        self.stderr_path = self.workdir / stderr_name
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self._stderr: Any = None  # the open stderr_path while a child runs

    # -- lifecycle ---------------------------------------------------------

    def start(self: _P) -> _P:
        raise NotImplementedError

    def _spawn(
        self,
        cmd: Sequence[str],
        *,
        env: dict[str, str],
        cwd: str | os.PathLike[str] | None = None,
        stdin: int = subprocess.PIPE,
        merge_stdout: bool = False,
    ) -> subprocess.Popen[bytes]:
        """Start ``cmd`` as ``self.proc`` (dies with this process). stdout is a pipe for
        :meth:`_read_port`, or with ``merge_stdout`` goes to ``stderr_path`` as well."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._stderr = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(
            list(cmd),
            stdin=stdin,
            stdout=self._stderr if merge_stdout else subprocess.PIPE,
            stderr=subprocess.STDOUT if merge_stdout else self._stderr,
            env=env,
            cwd=cwd,
            preexec_fn=die_with_parent,
        )
        return self.proc

    @contextlib.contextmanager
    def _stop_on_error(self) -> Iterator[None]:
        """Stop the child if the block raises (a start-up that failed half way)."""
        try:
            yield
        except BaseException:
            self.stop()
            raise

    def _read_port(self, timeout: float) -> int:
        """The ``n`` of the child's first stdout line ``PORT <n>``, within ``timeout`` s."""
        assert self.proc is not None and self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        buf = b""
        fd = self.proc.stdout.fileno()
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise self.error_type(
                    f"{self.label} did not report its port in {timeout}s; stderr:\n{self.stderr_tail()}"
                )
            r, _, _ = select.select([fd], [], [], min(left, 0.2))
            if r:
                chunk = os.read(fd, 4096)
                if not chunk:
                    raise self.error_type(
                        f"{self.label} exited (rc={self.proc.poll()}) before reporting its port; "
                        f"stderr:\n{self.stderr_tail()}"
                    )
                buf += chunk
        line = buf.split(b"\n", 1)[0].decode()
        if not line.startswith("PORT "):
            raise self.error_type(
                f"unexpected first line from {self.label}: {line!r}; stderr:\n{self.stderr_tail()}"
            )
        return int(line.split()[1])

    def stop(self, timeout: float = 5.0) -> None:
        """Close the child's stdin, SIGTERM it, wait ``timeout`` s, then SIGKILL it."""
        proc, self.proc = self.proc, None
        if proc is not None:
            try:
                if proc.stdin:
                    proc.stdin.close()
            except OSError:
                pass
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout)
            if proc.stdout:
                proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def close(self) -> None:
        """``stop()``, and remove the work directory if it is our temporary one."""
        self.stop()
        if self._own_dir is not None:
            self._own_dir.cleanup()
            self._own_dir = None

    def __enter__(self: _P) -> _P:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stderr_tail(self, n: int = 4000) -> str:
        """The last ``n`` bytes the child wrote to stderr (decoded leniently)."""
        try:
            return self.stderr_path.read_bytes()[-n:].decode(errors="replace")
        except OSError:
            return ""

    # -- waiting -------------------------------------------------------------

    def wait_until(self, predicate: Callable[[], _T], timeout: float = 10.0, what: str = "condition") -> _T:
        """Poll ``predicate()`` until it returns a truthy value (returned) or the deadline passes."""
        result: list[_T] = []

        def met() -> bool:
            v = predicate()
            if v:
                result.append(v)
            return bool(v)

        self._poll_alive(
            met, timeout, lambda: what, lambda: TimeoutError(f"{what} not met within {timeout}s")
        )
        return result[0]

    def _poll_alive(
        self,
        done: Callable[[], bool],
        timeout: float,
        what: Callable[[], str],
        expired: Callable[[], BaseException],
    ) -> None:
        """:func:`poll_until` that also fails (``error_type``, naming ``what()``) as soon
        as the child is found dead while ``done()`` is still False."""

        def check() -> bool:
            if done():
                return True
            if not self.alive():
                raise self.error_type(
                    f"{self.label} died while waiting for {what()}; stderr:\n{self.stderr_tail()}"
                )
            return False

        poll_until(check, timeout, expired)


# ---------------------------------------------------------------------------
# child side
# ---------------------------------------------------------------------------


def on_stdin_eof(callback: Callable[[], object]) -> None:
    """Call ``callback`` (from a daemon thread) once stdin reaches EOF: the parent closed
    it (:meth:`PeerProcess.stop`) or died."""

    def watch() -> None:
        try:
            while sys.stdin.buffer.read(1):
                pass
        except OSError:
            pass
        callback()

    threading.Thread(target=watch, name="stdin-watch", daemon=True).start()


def stop_requested() -> threading.Event:
    """An Event set on SIGTERM or SIGINT (handlers installed now) or at EOF of stdin."""
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: done.set())
    on_stdin_eof(done.set)
    return done


def report_port(port: int) -> None:
    """Write the ``PORT <n>`` line :meth:`PeerProcess._read_port` waits for."""
    sys.stdout.write(f"PORT {port}\n")
    sys.stdout.flush()


def serve_grpc(server: Any, address: str, grace: float) -> bool:
    """Bind the ``grpc.Server`` to ``address``, start it, report its port, serve until
    :func:`stop_requested`, then stop it, answering calls in flight for up to ``grace``
    seconds. False (and an ``ERROR`` line instead of ``PORT``) if it could not bind."""
    port = server.add_insecure_port(address)
    if port == 0:
        print("ERROR could not bind", flush=True)
        return False
    server.start()
    done = stop_requested()
    report_port(port)
    while not done.wait(0.2):
        pass
    server.stop(grace).wait(grace + 3)
    return True
