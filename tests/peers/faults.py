"""Fault-injecting OTLP servers for tests/test_faults.py (loopback only).

In-process servers (plain sockets and threads, no grpcio in the test process):

* :class:`SilentServer` accepts connections, reads whatever arrives and never answers.
* :class:`HttpFaultServer` is an OTLP/HTTP (HTTP/1.1 only, optionally over TLS)
  collector for ``POST /v1/traces`` that answers each request as its *script* says: a
  status (with headers such as ``Retry-After``, and a body of the script's choosing), or
  a connection fault (``reset`` mid-request with SO_LINGER 0, ``garbage`` bytes,
  ``close`` without an answer, ``stall`` for ever). Like any HTTP/1.1-only server it
  answers the HTTP/2 preface with ``400 Bad Request``.
* :class:`H2FaultServer` is a minimal OTLP/gRPC collector written on raw HTTP/2 frames
  (no HPACK decoding is needed: requests are told apart by stream id only; answers use
  literal header fields). Per request stream its script chooses: ``ok``, a gRPC status
  (trailers-only, optionally with ``grpc-status-details-bin``), a bare HTTP status
  without ``grpc-status``, ``RST_STREAM``, ``GOAWAY`` (before or after answering),
  ``garbage`` bytes, a connection ``reset`` or a ``stall``. With ``http=True`` it is an
  OTLP/HTTP collector over HTTP/2 (h2c prior knowledge) instead: plain protobuf bodies,
  answers are HTTP statuses (optionally with headers such as ``retry-after``). Header
  blocks of any size go out as HEADERS + CONTINUATION frames, and bodies of any size
  within the client's flow-control windows.

Every server records each request (arrival time, the action taken, the span ids it
carried) and which of them it *acknowledged* (answered with success): a span counts as
received only when its request was acknowledged.

Another process: :class:`GrpcFaultServer` runs a real grpcio server (this file, run as
``python faults.py grpc ...``) on a chosen port, answering each Export per its script
(``OK``, or a status code name, optionally with a ``google.rpc.RetryInfo`` delay in the
``grpc-status-details-bin`` trailer). It can be stopped and started again on the same
port (a collector restart).
"""

from __future__ import annotations

import base64
import json
import socket
import ssl
import struct
import sys
import threading
import time
from pathlib import Path
from typing import Any

try:
    from .process import PeerProcess, child_env, poll_until, serve_grpc
except ImportError:  # the child: run as a script, ``python tests/peers/faults.py grpc ...``
    from process import PeerProcess, child_env, poll_until, serve_grpc

__all__ = [
    "GrpcFaultServer",
    "H2FaultServer",
    "HttpFaultServer",
    "Request",
    "SilentServer",
    "grpc_retry_info_status",
]


class Request:
    """One request as a fault server saw it."""

    __slots__ = ("acked", "action", "conn", "index", "span_ids", "t", "wall")

    def __init__(self, index: int, conn: int, action: Any) -> None:
        self.index = index
        self.conn = conn  # connection number (0 = first accepted connection)
        self.action = action
        self.t = time.monotonic()
        self.wall = time.time()
        self.span_ids: list[int] | None = None  # None: the body was not read
        self.acked = False  # answered with success

    def __repr__(self) -> str:
        n = None if self.span_ids is None else len(self.span_ids)
        return f"Request(#{self.index} conn={self.conn} action={self.action!r} spans={n} acked={self.acked})"


def span_ids_of(raw: bytes) -> list[int]:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    req = ExportTraceServiceRequest.FromString(raw)
    return [
        int.from_bytes(sp.span_id, "big")
        for rs in req.resource_spans
        for ss in rs.scope_spans
        for sp in ss.spans
    ]


class _Closed(Exception):
    """The peer closed the connection, or the server is stopping."""


def _linger0_close(conn: socket.socket) -> None:
    """Close so that the kernel sends RST instead of FIN."""
    try:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    conn.close()


class _Server:
    """A TCP listener on 127.0.0.1 with one thread per connection; ``close()`` ends them all."""

    def __init__(
        self,
        script: list[Any] | None = None,
        default: Any = None,
        port: int = 0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.script = list(script or [])
        self._tls = tls
        self.default = default
        self.requests: list[Request] = []
        self.errors: list[BaseException] = []
        self.connections = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", port))
        self._listener.listen(64)
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        self._acceptor = threading.Thread(
            target=self._accept_loop, name=f"{type(self).__name__}-accept", daemon=True
        )
        self._acceptor.start()

    @property
    def endpoint(self) -> str:
        return f"{'https' if self._tls else 'http'}://127.0.0.1:{self.port}"

    def __enter__(self) -> _Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        self._acceptor.join(5)
        self._listener.close()
        with self._lock:
            conns = list(self._conns)
            threads = list(self._threads)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in threads:
            t.join(5)

    # -- script -------------------------------------------------------------

    def _next(self, conn: int) -> Request:
        with self._lock:
            i = len(self.requests)
            action = self.script[i] if i < len(self.script) else self.default
            req = Request(i, conn, action)
            self.requests.append(req)
            return req

    def snapshot(self) -> list[Request]:
        with self._lock:
            return list(self.requests)

    def acked_ids(self) -> list[int]:
        """Span ids of every acknowledged request (duplicates kept)."""
        return [i for r in self.snapshot() if r.acked for i in (r.span_ids or ())]

    def wait_requests(self, n: int, timeout: float = 10.0) -> list[Request]:
        poll_until(
            lambda: len(self.snapshot()) >= n,
            timeout,
            lambda: TimeoutError(f"{len(self.snapshot())} requests arrived, expected {n}: {self.snapshot()}"),
        )
        return self.snapshot()

    # -- connections ----------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(0.05)
            with self._lock:
                n = self.connections
                self.connections += 1
                self._conns.append(conn)
                t = threading.Thread(
                    target=self._run, args=(conn, n), name=f"{type(self).__name__}-{n}", daemon=True
                )
                self._threads.append(t)
            t.start()

    def _run(self, conn: socket.socket, n: int) -> None:
        try:
            if self._tls is not None:
                conn.settimeout(5.0)
                raw, conn = conn, self._tls.wrap_socket(conn, server_side=True)
                conn.settimeout(0.05)
                with self._lock:
                    self._conns[self._conns.index(raw)] = conn
            self.handle(conn, n)
        except _Closed:
            pass
        except OSError:
            pass  # the client went away
        except Exception as e:  # noqa: BLE001 - surfaced to the test through .errors
            self.errors.append(e)
        finally:
            with self._lock:
                if conn in self._conns:
                    self._conns.remove(conn)
            if conn.fileno() != -1:
                conn.close()

    def handle(self, conn: socket.socket, n: int) -> None:
        raise NotImplementedError

    def _recv(self, conn: socket.socket) -> bytes:
        while True:
            if self._stop.is_set():
                raise _Closed
            try:
                data = conn.recv(65536)
            except TimeoutError:
                continue
            if not data:
                raise _Closed
            return data

    def _hold(self, conn: socket.socket) -> None:
        """Never answer: read and discard until the peer closes or the server stops."""
        while True:
            self._recv(conn)

    def _finish(self, conn: socket.socket, grace: float = 2.0) -> None:
        """Half-close, drain what the peer still sends (so no RST), then close."""
        try:
            conn.shutdown(socket.SHUT_WR)
        except OSError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            try:
                self._recv(conn)
            except (_Closed, OSError):
                return


class SilentServer(_Server):
    """Accepts connections and never answers (a collector that hangs)."""

    def handle(self, conn: socket.socket, n: int) -> None:
        self._hold(conn)


# ---------------------------------------------------------------------------
# OTLP/HTTP over HTTP/1.1
# ---------------------------------------------------------------------------

_REASONS = {
    200: "OK",
    202: "Accepted",
    301: "Moved Permanently",
    302: "Found",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    413: "Content Too Large",
    418: "I'm a teapot",
    429: "Too Many Requests",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

GARBAGE = b"\x00\xff\xfe garbage \x17\x03\x03\x00\x10" + bytes(range(256)) * 4


def _rpc_status(code: int, message: str) -> bytes:
    from google.rpc import status_pb2

    return status_pb2.Status(code=code, message=message).SerializeToString()


SIGNAL_PATHS = ("/v1/traces", "/v1/metrics", "/v1/logs")


def server_tls(cert: Path, key: Path, alpn: list[str]) -> ssl.SSLContext:
    """A server-side TLS context for the fault servers."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(alpn)
    return ctx


class HttpFaultServer(_Server):
    """OTLP/HTTP collector answering ``POST /v1/{traces,metrics,logs}`` per its script
    (spans are read from ``/v1/traces`` requests only; any other path is 404).

    Script entries (one per request, in arrival order; ``default`` after the script):
    an ``int`` status; ``(status, {header: value})``; ``(status, {header: value},
    body)`` with the body's bytes (else an empty ``Export*ServiceResponse`` for a 2xx,
    a ``google.rpc.Status`` otherwise; a ``Content-Length`` header replaces the real
    one), ``(status, {header: value}, body, "stall")`` that answer, then nothing more
    (with a ``Content-Length`` beyond the body: a body that never ends); a callable
    returning any of these (called when
    the request head has arrived); or ``"reset"`` (after the request head, before the
    body: RST), ``"garbage"`` (garbage bytes as the response, then close), ``"close"``
    (close without answering), ``"stall"`` (never answer).
    A 2xx answer acknowledges the spans of the request.

    ``tls``: a server context (:func:`server_tls`): serve ``https://``.
    """

    def __init__(
        self,
        script: list[Any] | None = None,
        default: Any = 200,
        port: int = 0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(script, default, port, tls)

    def handle(self, conn: socket.socket, n: int) -> None:
        buf = b""
        while True:
            while b"\r\n\r\n" not in buf:
                buf += self._recv(conn)
            head, buf = buf.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            if method == "PRI":
                # The HTTP/2 preface: not a request this server can read.
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                self._finish(conn)
                raise _Closed
            headers = {}
            for line in lines[1:]:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
            req = self._next(n)
            action = req.action(req) if callable(req.action) else req.action
            req.action = action
            if action == "reset":
                _linger0_close(conn)
                raise _Closed
            length = int(headers.get("content-length", "0"))
            while len(buf) < length:
                buf += self._recv(conn)
            body, buf = buf[:length], buf[length:]
            if method == "POST" and path == "/v1/traces" and headers.get("content-encoding") is None:
                req.span_ids = span_ids_of(body)
            if action == "garbage":
                conn.sendall(GARBAGE)
                self._finish(conn)
                raise _Closed
            if action == "close":
                self._finish(conn)
                raise _Closed
            if action == "stall":
                self._hold(conn)
            parts = action if isinstance(action, tuple) else (action,)
            status = parts[0]
            extra = dict(parts[1]) if len(parts) > 1 else {}
            payload = parts[2] if len(parts) > 2 else None
            if path not in SIGNAL_PATHS:
                status, extra, payload = 404, {}, None
            if payload is None:
                # an empty Export*ServiceResponse, or why it failed
                payload = b"" if 200 <= status < 300 else _rpc_status(2, f"scripted HTTP {status}")
            out = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Whatever')}"]
            if not any(k.lower() == "content-type" for k in extra):
                out.append("Content-Type: application/x-protobuf")
            if not any(k.lower() == "content-length" for k in extra):
                out.append(f"Content-Length: {len(payload)}")
            if 300 <= status < 400:
                # Were the redirect followed it would succeed: the script answers 200 next.
                out.append(f"Location: http://127.0.0.1:{self.port}/v1/traces")
            for k, v in extra.items():
                out.append(f"{k}: {v}")
            # Recorded before answering: the client may count the answer at once.
            req.acked = 200 <= status < 300
            conn.sendall(("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + payload)
            if parts[3:] == ("stall",):
                self._hold(conn)


# ---------------------------------------------------------------------------
# OTLP/gRPC on raw HTTP/2 frames
# ---------------------------------------------------------------------------

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0, 1, 3, 4, 6, 7, 8, 9
SETTINGS_INITIAL_WINDOW_SIZE, SETTINGS_MAX_FRAME_SIZE = 4, 5
MAX_FRAME = 16384  # the default SETTINGS_MAX_FRAME_SIZE, which the clients keep
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY = 0x1, 0x1, 0x4, 0x8, 0x20
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, REFUSED_STREAM, CANCEL, ENHANCE_YOUR_CALM = 0, 1, 2, 7, 8, 11


def frame(ftype: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream) + payload


def header_frames(sid: int, block: bytes, end_stream: bool) -> bytes:
    """A header block as one HEADERS frame and as many CONTINUATION frames as it needs."""
    chunks = [block[i : i + MAX_FRAME] for i in range(0, len(block), MAX_FRAME)] or [b""]
    out = bytearray()
    for i, chunk in enumerate(chunks):
        flags = END_HEADERS if i == len(chunks) - 1 else 0
        if i == 0:
            out += frame(HEADERS, flags | (END_STREAM if end_stream else 0), sid, chunk)
        else:
            out += frame(CONTINUATION, flags, sid, chunk)
    return bytes(out)


def _hpack_int(value: int, prefix_bits: int, first: int = 0) -> bytes:
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = bytearray([first | limit])
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _hpack_str(s: bytes) -> bytes:
    return _hpack_int(len(s), 7) + s


def hpack(headers: list[tuple[str, str]]) -> bytes:
    """Literal header fields without indexing (no dynamic table, no Huffman)."""
    out = bytearray()
    for name, value in headers:
        if name == ":status":
            out += _hpack_int(8, 4) + _hpack_str(value.encode())  # static index 8 = :status
        else:
            out += b"\x00" + _hpack_str(name.encode()) + _hpack_str(value.encode())
    return bytes(out)


def grpc_retry_info_status(code: int, delay: float, message: str = "slow down") -> bytes:
    """A serialized ``google.rpc.Status`` whose details hold ``RetryInfo(retry_delay=delay)``."""
    from google.rpc import error_details_pb2, status_pb2

    info = error_details_pb2.RetryInfo()
    info.retry_delay.seconds = int(delay)
    info.retry_delay.nanos = round((delay - int(delay)) * 1e9)
    st = status_pb2.Status(code=code, message=message)
    st.details.add().Pack(info)
    return st.SerializeToString()


class _H2Connection:
    """One connection of :class:`H2FaultServer`: frames in, and DATA out within the
    client's flow-control windows (frames that arrive while waiting for window are
    kept for the main loop)."""

    def __init__(self, server: _Server, conn: socket.socket) -> None:
        self.server = server
        self.conn = conn
        self.buf = bytearray()
        self.pending: list[tuple[int, int, int, bytes]] = []
        self.initial_window = 65535  # the client's SETTINGS_INITIAL_WINDOW_SIZE
        self.window = 65535  # the connection's send window
        self.stream_windows: dict[int, int] = {}

    def read(self, k: int) -> bytes:
        while len(self.buf) < k:
            self.buf.extend(self.server._recv(self.conn))
        out = bytes(self.buf[:k])
        del self.buf[:k]
        return out

    def next_frame(self) -> tuple[int, int, int, bytes]:
        """The next frame that is not flow control, SETTINGS or PING (those are handled)."""
        while True:
            if self.pending:
                return self.pending.pop(0)
            f = self._read_frame()
            if not self._control(*f):
                return f

    def _read_frame(self) -> tuple[int, int, int, bytes]:
        head = self.read(9)
        length = int.from_bytes(head[:3], "big")
        sid = int.from_bytes(head[5:9], "big") & 0x7FFFFFFF
        return head[3], head[4], sid, self.read(length)

    def _control(self, ftype: int, flags: int, sid: int, payload: bytes) -> bool:
        if ftype == SETTINGS and not flags & ACK:
            for i in range(0, len(payload) - 5, 6):
                key, value = struct.unpack(">HI", payload[i : i + 6])
                if key == SETTINGS_INITIAL_WINDOW_SIZE:
                    for s in self.stream_windows:
                        self.stream_windows[s] += value - self.initial_window
                    self.initial_window = value
            self.conn.sendall(frame(SETTINGS, ACK, 0))
        elif ftype == SETTINGS:
            pass
        elif ftype == PING and not flags & ACK:
            self.conn.sendall(frame(PING, ACK, 0, payload))
        elif ftype == WINDOW_UPDATE:
            inc = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
            if sid == 0:
                self.window += inc
            else:
                self.stream_windows[sid] = self.stream_windows.get(sid, self.initial_window) + inc
        else:
            return False
        return True

    def send_data(self, sid: int, data: bytes, end_stream: bool) -> bool:
        """Send ``data`` on stream ``sid`` as the windows allow; False if the client reset
        the stream first."""
        self.stream_windows.setdefault(sid, self.initial_window)
        view = memoryview(data)
        while True:
            n = min(len(view), MAX_FRAME, self.window, self.stream_windows[sid])
            if n > 0 or not view:
                last = n == len(view)
                self.conn.sendall(frame(DATA, END_STREAM if last and end_stream else 0, sid, bytes(view[:n])))
                self.window -= n
                self.stream_windows[sid] -= n
                view = view[n:]
                if last:
                    return True
                continue
            f = self._read_frame()
            if self._control(*f):
                continue
            if f[0] == RST_STREAM and f[2] == sid:
                return False
            self.pending.append(f)


class H2FaultServer(_Server):
    """Minimal OTLP/gRPC collector (h2c prior knowledge) answering each stream per its script.

    Script entries (per request stream, in arrival order; ``default`` after the script):
    ``"ok"``; ``("ok", body)`` answers ``grpc-status: 0`` after the DATA ``body`` (raw
    bytes: the test frames the message), ``("ok", body, {header: value})`` with those
    response headers too (such as ``grpc-encoding``); ``("grpc", code, message,
    details_or_None)`` trailers-only status; ``("http", status)`` a response head without
    grpc-status; ``("rst", reason)``;
    ``"goaway"`` (GOAWAY with last_stream_id below this stream, i.e. not processed, then
    close); ``"ok+goaway"`` (answer OK, then GOAWAY with last_stream_id = this stream,
    then close); ``"garbage"`` (garbage bytes on the connection, then close); ``"reset"``
    (on the request HEADERS, before the body: RST the TCP connection); ``"stall"``.
    The request path is not decoded: every request is read as a trace export.

    ``http=True``: OTLP/HTTP over HTTP/2 (``POST /v1/traces``, protobuf) instead of gRPC.
    Request bodies are read as unprefixed ``ExportTraceServiceRequest`` protobuf;
    ``"ok"`` is ``:status 200``, ``content-type: application/x-protobuf`` and an empty
    body (END_STREAM on the HEADERS); ``("http", status)``, ``("http", status,
    {header: value})`` or ``("http", status, {header: value}, body)`` answers that
    status with those headers (names lowercased, as HTTP/2 requires) and that body
    (else a 3xx gets a ``location``, any status outside 2xx a ``google.rpc.Status``
    body); ``("http", status, {header: value}, body, "stall")`` leaves the stream open
    after the body. ``("grpc", ...)`` is not available; the other entries are as above. Any 2xx
    acknowledges the spans of the request.
    """

    def __init__(
        self, script: list[Any] | None = None, default: Any = "ok", port: int = 0, *, http: bool = False
    ) -> None:
        self.http = http
        super().__init__(script, default, port)

    def handle(self, conn: socket.socket, n: int) -> None:
        h2 = _H2Connection(self, conn)
        if h2.read(len(PREFACE)) != PREFACE:
            raise _Closed
        conn.sendall(frame(SETTINGS, 0, 0))
        streams: dict[int, tuple[Request, bytearray]] = {}
        while True:
            ftype, flags, sid, payload = h2.next_frame()
            length = len(payload)
            if ftype == GOAWAY:
                self._finish(conn)
                raise _Closed
            elif ftype == HEADERS:
                req = self._next(n)
                if req.action == "reset":
                    _linger0_close(conn)
                    raise _Closed
                streams[sid] = (req, bytearray())
                if flags & END_STREAM:
                    self._answer(h2, sid, *streams.pop(sid))
            elif ftype == DATA and sid in streams:
                if flags & PADDED:
                    payload = payload[1 : len(payload) - payload[0]]
                if length:
                    inc = struct.pack(">I", length)
                    conn.sendall(frame(WINDOW_UPDATE, 0, 0, inc) + frame(WINDOW_UPDATE, 0, sid, inc))
                streams[sid][1].extend(payload)
                if flags & END_STREAM:
                    self._answer(h2, sid, *streams.pop(sid))
            elif ftype == RST_STREAM:
                streams.pop(sid, None)

    def _answer(self, h2: _H2Connection, sid: int, req: Request, body: bytearray) -> None:
        conn = h2.conn
        if self.http:
            req.span_ids = span_ids_of(bytes(body))
        elif len(body) >= 5 and body[0] == 0:
            req.span_ids = span_ids_of(bytes(body[5 : 5 + int.from_bytes(body[1:5], "big")]))
        action = req.action
        kind = action[0] if isinstance(action, tuple) else action
        grpc_head = [(":status", "200"), ("content-type", "application/grpc")]
        if kind in ("ok", "ok+goaway"):
            if self.http:
                self._http_answer(h2, sid, req, 200)
            else:
                message = action[1] if isinstance(action, tuple) else b"\x00\x00\x00\x00\x00"
                extra = list(action[2].items()) if isinstance(action, tuple) and len(action) > 2 else []
                req.acked = True  # before answering: the client may count the answer at once
                conn.sendall(header_frames(sid, hpack(grpc_head + extra), end_stream=False))
                if h2.send_data(sid, message, end_stream=False):
                    conn.sendall(header_frames(sid, hpack([("grpc-status", "0")]), end_stream=True))
            if kind == "ok+goaway":
                conn.sendall(frame(GOAWAY, 0, 0, struct.pack(">II", sid, NO_ERROR)))
                self._finish(conn)
                raise _Closed
        elif kind == "grpc" and not self.http:
            _, code, message, details = action
            fields = [*grpc_head, ("grpc-status", str(code)), ("grpc-message", message)]
            if details is not None:
                fields.append(("grpc-status-details-bin", base64.b64encode(details).decode().rstrip("=")))
            conn.sendall(header_frames(sid, hpack(fields), end_stream=True))
        elif kind == "http" and self.http:
            self._http_answer(h2, sid, req, *action[1:])
        elif kind == "http":
            fields = [(":status", str(action[1])), ("content-type", "text/plain")]
            conn.sendall(header_frames(sid, hpack(fields), end_stream=True))
        elif kind == "rst":
            conn.sendall(frame(RST_STREAM, 0, sid, struct.pack(">I", action[1])))
        elif kind == "goaway":
            conn.sendall(frame(GOAWAY, 0, 0, struct.pack(">II", max(0, sid - 2), NO_ERROR)))
            self._finish(conn)
            raise _Closed
        elif kind == "garbage":
            conn.sendall(GARBAGE)
            self._finish(conn)
            raise _Closed
        elif kind == "stall":
            pass
        else:
            raise ValueError(f"unknown action {action!r}")

    def _http_answer(
        self,
        h2: _H2Connection,
        sid: int,
        req: Request,
        status: int,
        extra: dict[str, str] | None = None,
        body: bytes | None = None,
        then: str | None = None,
    ) -> None:
        """Send an OTLP/HTTP answer; a 2xx marks ``req`` acknowledged. ``then="stall"``:
        the stream stays open after the body."""
        fields = [(k.lower(), str(v)) for k, v in (extra or {}).items()]
        if not any(k == "content-type" for k, _ in fields):
            fields.insert(0, ("content-type", "application/x-protobuf"))
        fields.insert(0, (":status", str(status)))
        if 300 <= status < 400 and body is None:
            # Were the redirect followed it would succeed: the script answers "ok" next.
            fields.append(("location", f"http://127.0.0.1:{self.port}/v1/traces"))
        # Recorded before answering: the client may count the answer at once.
        req.acked = 200 <= status < 300
        if body is None and not req.acked:
            body = _rpc_status(2, f"scripted HTTP {status}")
        end = then != "stall"
        if not body and end:  # an empty Export*ServiceResponse
            h2.conn.sendall(header_frames(sid, hpack(fields), end_stream=True))
            return
        h2.conn.sendall(header_frames(sid, hpack(fields), end_stream=False))
        h2.send_data(sid, body or b"", end_stream=end)


# ---------------------------------------------------------------------------
# grpcio collector in another process, restartable on the same port
# ---------------------------------------------------------------------------


def _grpc_child(argv: list[str]) -> int:
    import argparse
    from concurrent import futures

    import grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as tpb

    ap = argparse.ArgumentParser(prog="faults grpc")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--record", required=True)
    ap.add_argument("--script", default="[]", help='JSON list of ["OK"] or ["CODE", retry_delay_or_null]')
    args = ap.parse_args(argv)
    script = json.loads(args.script)
    lock = threading.Lock()
    seen = [0]
    record = open(args.record, "a", buffering=1, encoding="utf-8")

    def export(raw: bytes, context: Any) -> bytes:
        req = tpb.ExportTraceServiceRequest.FromString(raw)
        ids = [sp.span_id.hex() for rs in req.resource_spans for ss in rs.scope_spans for sp in ss.spans]
        with lock:
            i = seen[0]
            seen[0] += 1
            action = script[i] if i < len(script) else ["OK"]
            line = {"t": time.monotonic(), "wall": time.time(), "answer": action[0], "ids": ids}
            record.write(json.dumps(line) + "\n")
            record.flush()
        if action[0] != "OK":
            code = getattr(grpc.StatusCode, action[0])
            if len(action) > 1 and action[1] is not None:
                details = grpc_retry_info_status(code.value[0], float(action[1]))
                context.set_trailing_metadata((("grpc-status-details-bin", details),))
            context.abort(code, f"scripted {action[0]}")
        return tpb.ExportTraceServiceResponse().SerializeToString()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), options=[("grpc.so_reuseport", 0)])
    full_name = tpb.DESCRIPTOR.services_by_name["TraceService"].full_name
    handler = grpc.method_handlers_generic_handler(
        full_name, {"Export": grpc.unary_unary_rpc_method_handler(export)}
    )
    server.add_generic_rpc_handlers((handler,))
    # Graceful: calls in flight are answered before the process exits.
    if not serve_grpc(server, f"127.0.0.1:{args.port}", grace=2.0):
        return 2
    record.close()
    return 0


class GrpcFaultServer(PeerProcess):
    """A grpcio TraceService in a child process, answering per ``script``.

    ``script``: list of ``("OK",)`` or ``(code_name, retry_delay_seconds_or_None)``; OK after it.
    ``stop()`` ends it gracefully (stdin closed, then SIGTERM: in-flight calls are
    answered); ``start()`` again binds the same port and appends to the same record.
    """

    label = "grpc fault server"

    def __init__(self, workdir: Path, script: list[Any] | None = None, port: int = 0) -> None:
        super().__init__(workdir, stderr_name="grpc.stderr")
        self.script = [list(s) for s in (script or [])]
        self.port = port
        self.record_path = self.workdir / "grpc-requests.jsonl"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> GrpcFaultServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.record_path.touch()
        cmd = [sys.executable, "-u", str(Path(__file__).resolve()), "grpc", "--port", str(self.port)]
        cmd += ["--record", str(self.record_path), "--script", json.dumps(self.script)]
        self._spawn(cmd, env=child_env())
        with self._stop_on_error():
            self.port = self._read_port(timeout)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """As :meth:`PeerProcess.stop`, with time for the calls in flight to be answered."""
        super().stop(timeout)

    def records(self) -> list[dict[str, Any]]:
        text = self.record_path.read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]

    def acked_ids(self) -> list[int]:
        return [int(h, 16) for r in self.records() if r["answer"] == "OK" for h in r["ids"]]

    def wait_records(self, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        poll_until(
            lambda: len(self.records()) >= n,
            timeout,
            lambda: TimeoutError(f"{len(self.records())} requests arrived, expected {n}"),
        )
        return self.records()


if __name__ == "__main__":
    if sys.argv[1:2] == ["grpc"]:
        sys.exit(_grpc_child(sys.argv[2:]))
    sys.exit(f"usage: {sys.argv[0]} grpc --record FILE [--port N] [--script JSON]")
