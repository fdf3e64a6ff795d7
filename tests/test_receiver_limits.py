"""The embedded receiver (``otlp._native.Receiver``) against hostile clients.

Whatever a client does on the wire, the receiver's memory, connections and descriptors
stay bounded and a well-behaved client is still served. The receiver runs in a child
process so that its resident memory and CPU time can be read from ``/proc``; the
hostile clients speak HTTP/2 frame by frame over plain sockets (they obey flow control,
which the receiver enforces, and nothing else).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import select
import selectors
import socket
import struct
import sys
import time
from collections.abc import Callable, Iterator

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.trace.v1 import trace_pb2
from peers.process import PeerProcess, child_env

from otlp import _native
from otlp.errors import ConfigError

MiB = 1 << 20
TRACES = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

# Limits the receiver documents (rust/otlp/src/receiver/limits.rs, docs/ARCHITECTURE.md).
MAX_MESSAGE = 16 * MiB
MAX_BUFFERED = 128 * MiB
MAX_CONNECTION_BUFFERED = 32 * MiB
CONNECTION_WINDOW = 1 * MiB
# Allocator and HTTP/2 bookkeeping on top of the bytes the receiver accounts for.
SLACK = 16 * MiB
# An attack is stopped once the receiver has grown this much: far above any bound it
# keeps, far below what the machine can give (unbounded, 46 such calls took 2.78 GB and
# the process aborted).
CEILING = 640 * MiB


# ---------------------------------------------------------------------------
# the receiver in a child process
# ---------------------------------------------------------------------------

_CHILD = """
import json, resource, sys
options = json.loads(sys.argv[1])
nofile = options.pop("nofile", None)
if nofile is not None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
from otlp import _native
from otlp.errors import ConfigError
receiver = _native.Receiver("127.0.0.1:0", **options)
print("PORT", receiver.port, flush=True)
for _ in sys.stdin:
    print(json.dumps(receiver.counts()), flush=True)
"""


class ReceiverProcess(PeerProcess):
    """``otlp._native.Receiver(**options)`` alone in a child process. ``nofile`` lowers
    the child's descriptor limit first. Each line written to its stdin is answered with
    its counts as JSON; closing stdin stops it."""

    label = "receiver"

    def __init__(self, **options: float | int) -> None:
        super().__init__(None, stderr_name="receiver.err", tmp_prefix="otlp-receiver-")
        self.options = options
        self.port = 0

    def start(self) -> ReceiverProcess:
        with self._stop_on_error():
            self._spawn([sys.executable, "-c", _CHILD, json.dumps(self.options)], env=child_env())
            self.port = self._read_port(30.0)
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def counts(self) -> dict[str, int]:
        assert self.proc is not None and self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(b"\n")
        self.proc.stdin.flush()
        fd, line, deadline = self.proc.stdout.fileno(), b"", time.monotonic() + 10.0
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            assert left > 0, f"no counts from the receiver; stderr:\n{self.stderr_tail()}"
            if select.select([fd], [], [], left)[0]:
                chunk = os.read(fd, 1)
                assert chunk, f"receiver exited; stderr:\n{self.stderr_tail()}"
                line += chunk
        counts: dict[str, int] = json.loads(line)
        return counts

    def memory(self, field: str = "VmRSS") -> int:
        """``VmRSS`` (resident now) or ``VmHWM`` (resident at its peak), in bytes."""
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
        raise AssertionError(f"no {field} in /proc/{self.pid}/status")

    def cpu_seconds(self) -> float:
        """User plus system CPU time the child has used so far."""
        with open(f"/proc/{self.pid}/stat") as f:
            # Fields after the parenthesised command name; utime and stime are 14 and 15.
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def open_descriptors(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))


# ---------------------------------------------------------------------------
# well-behaved client: grpcio with the official generated classes
# ---------------------------------------------------------------------------


def _request() -> trace_service_pb2.ExportTraceServiceRequest:
    span = trace_pb2.Span(name="ok", trace_id=b"\x01" * 16, span_id=b"\x02" * 8)
    return trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[trace_pb2.ResourceSpans(scope_spans=[trace_pb2.ScopeSpans(spans=[span])])]
    )


def export_one_span(port: int, within: float = 5.0) -> None:
    """One Export call from grpcio; retried while the receiver answers UNAVAILABLE or is
    unreachable (as an OTLP client does), for at most ``within`` seconds."""
    deadline = time.monotonic() + within
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)
        while True:
            left = deadline - time.monotonic()
            try:
                stub.Export(_request(), timeout=max(left, 0.1))
                return
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.UNAVAILABLE or left <= 0:
                    raise
            time.sleep(0.05)  # pacing retries inside a deadline-bounded loop


# ---------------------------------------------------------------------------
# hostile client: HTTP/2 frames by hand
# ---------------------------------------------------------------------------

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE = 0, 1, 3, 4, 6, 7, 8
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
FRAME = 16384  # SETTINGS_MAX_FRAME_SIZE's default, which the receiver keeps
PAYLOAD = b"\xab" * FRAME


def frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes((kind, flags)) + struct.pack(">I", stream) + payload


def literal(name: bytes, value: bytes) -> bytes:
    """An HPACK literal header field without indexing and without Huffman coding."""
    return b"\x00" + bytes((len(name),)) + name + bytes((len(value),)) + value


class RawH2:
    """An HTTP/2 client connection that opens gRPC calls and sends their bodies as fast
    as the peer's flow-control windows allow, never ending them unless asked."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10.0)
        self.sock.sendall(PREFACE + frame(SETTINGS, 0, 0))
        self.buf = b""
        self.connection_window = 65535
        self.initial_window = 65535
        self.windows: dict[int, int] = {}
        self.prefixes: dict[int, bytes] = {}  # gRPC length prefixes not sent yet
        self.sent: dict[int, int] = {}
        self.closed: set[int] = set()  # streams the receiver ended (answer or RST_STREAM)
        self.next_stream = 1
        self.max_streams = 1 << 31  # SETTINGS_MAX_CONCURRENT_STREAMS; unlimited until said
        self.settings = False
        self.eof = False
        self.goaway: int | None = None  # the error code of the receiver's GOAWAY
        while not self.settings:
            assert self.read(10.0), "the receiver closed the connection before its SETTINGS"

    def fileno(self) -> int:
        return self.sock.fileno()

    def open(self, path: str, body_length: int) -> int:
        """Open a call whose body will be ``body_length`` bytes; for gRPC, the body is
        one message whose length prefix says so."""
        stream, self.next_stream = self.next_stream, self.next_stream + 2
        block = b"".join(
            literal(n, v)
            for n, v in (
                (b":method", b"POST"),
                (b":scheme", b"http"),
                (b":path", path.encode()),
                (b":authority", b"127.0.0.1"),
            )
        )
        if path == TRACES:
            block += literal(b"content-type", b"application/grpc") + literal(b"te", b"trailers")
            self.prefixes[stream] = b"\x00" + struct.pack(">I", body_length - 5)
        else:
            block += literal(b"content-type", b"application/x-protobuf")
        self.sock.sendall(frame(HEADERS, END_HEADERS, stream, block))
        self.windows[stream] = self.initial_window
        self.sent[stream] = 0
        return stream

    def send(self, stream: int, limit: int) -> int:
        """One DATA frame on ``stream`` (never past ``limit`` body bytes), as large as
        the windows allow; the number of bytes sent."""
        n = min(FRAME, self.connection_window, self.windows[stream], limit - self.sent[stream])
        if n <= 0 or stream in self.closed or self.eof:
            return 0
        prefix = self.prefixes.pop(stream, b"")
        if len(prefix) > n:  # a window too small for the whole prefix
            self.prefixes[stream] = prefix[n:]
        try:
            self.sock.sendall(frame(DATA, 0, stream, (prefix + PAYLOAD[:n])[:n]))
        except OSError:  # the receiver closed the connection
            self.eof = True
            return 0
        self.connection_window -= n
        self.windows[stream] -= n
        self.sent[stream] += n
        return n

    def read(self, timeout: float) -> bool:
        """Handle the frames that arrive within ``timeout`` s; False once the connection is closed."""
        if self.eof:
            return False
        if not select.select([self.sock], [], [], timeout)[0]:
            return True
        try:
            chunk = self.sock.recv(1 << 16)
        except OSError:
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        while len(self.buf) >= 9:
            length = int.from_bytes(self.buf[:3], "big")
            if len(self.buf) < 9 + length:
                break
            kind, flags = self.buf[3], self.buf[4]
            stream = int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF
            payload, self.buf = self.buf[9 : 9 + length], self.buf[9 + length :]
            self._handle(kind, flags, stream, payload)
        return True

    def _handle(self, kind: int, flags: int, stream: int, payload: bytes) -> None:
        if kind == SETTINGS and not flags & ACK:
            for i in range(0, len(payload), 6):
                key, value = struct.unpack(">HI", payload[i : i + 6])
                if key == 3:
                    self.max_streams = value
                elif key == 4:  # SETTINGS_INITIAL_WINDOW_SIZE applies to open streams too
                    for s in self.windows:
                        self.windows[s] += value - self.initial_window
                    self.initial_window = value
            self.sock.sendall(frame(SETTINGS, ACK, 0))
            self.settings = True
        elif kind == WINDOW_UPDATE:
            increment = int.from_bytes(payload, "big") & 0x7FFFFFFF
            if stream == 0:
                self.connection_window += increment
            elif stream in self.windows:
                self.windows[stream] += increment
        elif kind == RST_STREAM or (kind in (HEADERS, DATA) and flags & END_STREAM):
            self.closed.add(stream)
        elif kind == PING and not flags & ACK:
            self.sock.sendall(frame(PING, ACK, 0, payload))
        elif kind == GOAWAY:
            self.eof = True
            self.goaway = int.from_bytes(payload[4:8], "big")

    def close(self) -> None:
        self.sock.close()


def flood(
    clients: list[RawH2],
    streams: int,
    per_stream: int,
    check: Callable[[], None],
    timeout: float,
    path: str = TRACES,
) -> None:
    """Open ``streams`` calls to ``path`` on every client (as many as the receiver allows
    at once: excess ones it would refuse, and data on those would get the connection
    closed, ending the attack too early to tell anything) and send each up to
    ``per_stream`` body bytes without ever ending one, round-robin, as fast as flow
    control allows. Returns once every call has either been ended by the receiver or
    sent ``per_stream`` bytes. ``check()`` runs between rounds (it raises to stop the
    attack)."""
    for c in clients:
        for _ in range(min(streams, c.max_streams)):
            c.open(path, per_stream)
    deadline = time.monotonic() + timeout
    while True:
        check()
        moved = sum(c.send(s, per_stream) for c in clients for s in list(c.windows))
        busy = [
            c
            for c in clients
            if not c.eof and any(s not in c.closed and c.sent[s] < per_stream for s in c.windows)
        ]
        if not busy:
            return
        left = deadline - time.monotonic()
        assert left > 0, f"the attack did not finish in {timeout}s"
        # Nothing could be sent: wait for the receiver to open a window or end a call.
        ready = select.select(busy, [], [], 0 if moved else min(left, 1.0))[0]
        for c in ready:
            c.read(0)


@contextlib.contextmanager
def descriptors(n: int) -> Iterator[None]:
    """Raise this process's soft descriptor limit to ``n`` (skip if the hard limit is lower)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= n:
        yield
        return
    if hard != resource.RLIM_INFINITY and hard < n:
        pytest.skip(f"needs {n} file descriptors; the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (n, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def connect_all(port: int, n: int, timeout: float, in_flight: int = 64) -> list[socket.socket]:
    """``n`` connections to ``port``, ``in_flight`` being set up at a time: so that a
    SYN the kernel happens to drop (retried a second later) does not hold up the others,
    while the receiver's accept queue does not overflow (the kernel would then keep a
    connection the client believes established but the receiver never saw)."""
    socks: list[socket.socket] = []
    sel = selectors.DefaultSelector()
    deadline = time.monotonic() + timeout
    try:
        while len(socks) < n or sel.get_map():
            while len(socks) < n and len(sel.get_map()) < in_flight:
                s = socket.socket()
                socks.append(s)
                s.setblocking(False)
                s.connect_ex(("127.0.0.1", port))
                sel.register(s, selectors.EVENT_WRITE)
            left = deadline - time.monotonic()
            assert left > 0, (
                f"{n - len(socks) + len(sel.get_map())} of {n} connections not made in {timeout}s"
            )
            for key, _ in sel.select(left):
                s = key.fileobj
                assert isinstance(s, socket.socket)
                error = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                assert error == 0, f"connecting failed: {os.strerror(error)}"
                sel.unregister(s)
        return socks
    except BaseException:
        for s in socks:
            s.close()
        raise
    finally:
        sel.close()


def wait_closed_by_peer(socks: list[socket.socket], timeout: float) -> list[socket.socket]:
    """Read every socket until the receiver closes it (EOF or reset); the sockets still
    open after ``timeout`` s."""
    sel = selectors.DefaultSelector()
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    try:
        while sel.get_map() and (left := deadline - time.monotonic()) > 0:
            for key, _ in sel.select(left):
                s = key.fileobj
                assert isinstance(s, socket.socket)
                try:
                    if s.recv(1 << 16):
                        continue
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:  # reset by the receiver
                    pass
                sel.unregister(s)
        return [key.fileobj for key in sel.get_map().values()]
    finally:
        sel.close()


# ---------------------------------------------------------------------------
# memory
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "per_stream"),
    [(TRACES, 60 * MiB), ("/v1/traces", 60 * MiB), (TRACES, MAX_MESSAGE)],
    ids=["grpc-60MiB", "http-60MiB", "grpc-at-the-message-limit"],
)
def test_many_streams_on_one_connection_stay_within_the_connection_budget(path: str, per_stream: int) -> None:
    """One connection, many calls, each sending tens of MiB and never
    ending (or as much as one message may hold, and then holding on). The receiver
    holds at most one connection's share of the buffer budget and its HTTP/2 window; a
    client on another connection is served meanwhile."""
    with ReceiverProcess() as rx:
        base = rx.memory()

        def ceiling() -> None:
            grown = rx.memory() - base
            assert grown < CEILING, f"the receiver grew by {grown / MiB:.0f} MiB under the attack"

        attacker = RawH2(rx.port)
        try:
            flood([attacker], streams=128, per_stream=per_stream, check=ceiling, timeout=12.0, path=path)
            peak = rx.memory("VmHWM") - base
            bound = MAX_CONNECTION_BUFFERED + CONNECTION_WINDOW + SLACK
            assert peak < bound, f"peak RSS grew by {peak / MiB:.0f} MiB (bound {bound / MiB:.0f} MiB)"
            # The attacker's connection is still open, its calls unfinished or refused.
            export_one_span(rx.port)
            assert rx.counts()["spans"] == 1
        finally:
            attacker.close()


def test_many_connections_stay_within_the_global_budget_until_their_calls_time_out() -> None:
    """Many connections, each with many calls as large as one message may be and never
    ending: together they hold at most the global buffer budget (plus each
    connection's window). A well-behaved client is served, at the latest once the
    request timeout has answered the stalled calls; the attackers stay connected."""
    with ReceiverProcess(request_timeout=2.0) as rx:
        base = rx.memory()

        def ceiling() -> None:
            grown = rx.memory() - base
            assert grown < CEILING, f"the receiver grew by {grown / MiB:.0f} MiB under the attack"

        attackers = [RawH2(rx.port) for _ in range(8)]
        try:
            flood(attackers, streams=16, per_stream=MAX_MESSAGE, check=ceiling, timeout=12.0)
            peak = rx.memory("VmHWM") - base
            bound = MAX_BUFFERED + len(attackers) * CONNECTION_WINDOW + SLACK
            assert peak < bound, f"peak RSS grew by {peak / MiB:.0f} MiB (bound {bound / MiB:.0f} MiB)"
            export_one_span(rx.port, within=10.0)
            assert rx.counts()["spans"] == 1
            assert not any(a.eof for a in attackers), "an attacker's connection was closed"
        finally:
            for a in attackers:
                a.close()


# ---------------------------------------------------------------------------
# connections and descriptors
# ---------------------------------------------------------------------------


def test_idle_and_half_open_connections_are_closed_and_a_new_client_is_served() -> None:
    """2,000 connections that send nothing, half the HTTP/2 preface, or the preface and
    then nothing: the receiver closes every one (beyond its connection limit at once,
    the others after the handshake or idle timeout) and then serves a new client."""
    with descriptors(2300), ReceiverProcess(handshake_timeout=0.5, idle_timeout=0.5) as rx:
        base = rx.memory()
        socks = connect_all(rx.port, 2000, timeout=10.0)
        try:
            for i, s in enumerate(socks):
                if i % 3 == 1:
                    s.send(PREFACE[:10])
                elif i % 3 == 2:
                    s.send(PREFACE + frame(SETTINGS, 0, 0))
            still_open = wait_closed_by_peer(socks, timeout=10.0)
            assert len(still_open) == 0, f"{len(still_open)} of 2000 idle connections still open"
            grown = rx.memory("VmHWM") - base
            assert grown < 64 * MiB, f"2,000 idle connections grew the receiver by {grown / MiB:.0f} MiB"
            export_one_span(rx.port)
            assert rx.counts()["spans"] == 1
        finally:
            for s in socks:
                s.close()


def test_connections_beyond_the_limit_are_closed_at_once() -> None:
    """With ``max_connections=8``, a ninth connection is closed straight away while the
    eight stay open; once one of them goes, a new client is served."""
    with ReceiverProcess(max_connections=8, handshake_timeout=30.0, idle_timeout=30.0) as rx:
        held = [RawH2(rx.port) for _ in range(8)]  # each has had the receiver's SETTINGS
        try:
            extra = socket.create_connection(("127.0.0.1", rx.port), timeout=10.0)
            extra.sendall(PREFACE + frame(SETTINGS, 0, 0))
            assert len(wait_closed_by_peer([extra], timeout=5.0)) == 0, "a ninth connection was kept"
            extra.close()
            assert all(h.read(0) for h in held), "a connection within the limit was closed"
            held.pop().close()
            export_one_span(rx.port, within=10.0)
            assert rx.counts()["spans"] == 1
        finally:
            for h in held:
                h.close()


def test_running_out_of_descriptors_does_not_spin_and_the_receiver_recovers() -> None:
    """More connections than the receiver's process has descriptors: accept() fails
    with EMFILE. The receiver backs off instead of retrying in a busy loop, and serves a
    new client once descriptors are free again."""
    nofile = 128
    with ReceiverProcess(nofile=nofile, handshake_timeout=60.0, idle_timeout=60.0) as rx:
        socks = [socket.create_connection(("127.0.0.1", rx.port), timeout=10.0) for _ in range(nofile + 64)]
        try:
            rx.wait_until(
                lambda: rx.open_descriptors() >= nofile, timeout=10.0, what="all descriptors in use"
            )
            cpu, start = rx.cpu_seconds(), time.monotonic()
            time.sleep(1.0)  # the measurement window, not a synchronisation
            busy = (rx.cpu_seconds() - cpu) / (time.monotonic() - start)
            assert busy < 0.2, f"the receiver used {busy:.0%} of a core while out of descriptors"
        finally:
            for s in socks:
                s.close()
        export_one_span(rx.port, within=10.0)
        assert rx.counts()["spans"] == 1


# ---------------------------------------------------------------------------
# one message per unary call
# ---------------------------------------------------------------------------


def test_a_body_with_two_grpc_messages_is_refused_and_not_counted() -> None:
    """A client-streaming call on the unary Export method puts two length-prefixed
    messages in one body: the receiver refuses it (INVALID_ARGUMENT) instead of counting
    the first and ignoring the second."""
    receiver = _native.Receiver()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{receiver.port}") as channel:
            two = channel.stream_unary(
                TRACES,
                request_serializer=trace_service_pb2.ExportTraceServiceRequest.SerializeToString,
                response_deserializer=trace_service_pb2.ExportTraceServiceResponse.FromString,
            )
            with pytest.raises(grpc.RpcError) as refused:
                two(iter([_request(), _request()]), timeout=5.0)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert receiver.counts()["spans"] == 0
            assert receiver.counts()["errors"] == 1
            # One message is a well-formed call and counts.
            two(iter([_request()]), timeout=5.0)
            assert receiver.counts()["spans"] == 1
    finally:
        receiver.stop()


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("max_connections", 0),
        ("idle_timeout", 0.0),
        ("request_timeout", -1.0),
        ("handshake_timeout", float("nan")),
    ],
)
def test_a_bad_limit_is_refused_naming_it(option: str, value: float) -> None:
    with pytest.raises(ConfigError, match=option):
        _native.Receiver(**{option: value})
