"""Fault-injecting OTLP servers for tests/test_faults.py (loopback only).

In-process servers (plain sockets and threads, no grpcio in the test process):

* :class:`SilentServer` accepts connections, reads whatever arrives and never answers.
* :class:`HttpFaultServer` is an OTLP/HTTP (HTTP/1.1) collector for ``POST /v1/traces``
  that answers each request as its *script* says: a status (with headers such as
  ``Retry-After``), or a connection fault (``reset`` mid-request with SO_LINGER 0,
  ``garbage`` bytes, ``close`` without an answer, ``stall`` for ever).
* :class:`H2FaultServer` is a minimal OTLP/gRPC collector written on raw HTTP/2 frames
  (no HPACK decoding is needed: requests are told apart by stream id only; answers use
  literal header fields). Per request stream its script chooses: ``ok``, a gRPC status
  (trailers-only, optionally with ``grpc-status-details-bin``), a bare HTTP status
  without ``grpc-status``, ``RST_STREAM``, ``GOAWAY`` (before or after answering),
  ``garbage`` bytes, a connection ``reset`` or a ``stall``. With ``http=True`` it is an
  OTLP/HTTP collector over HTTP/2 (h2c prior knowledge) instead: plain protobuf bodies,
  answers are HTTP statuses (optionally with headers such as ``retry-after``).

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

    def __init__(self, script: list[Any] | None = None, default: Any = None, port: int = 0) -> None:
        self.script = list(script or [])
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
        return f"http://127.0.0.1:{self.port}"

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


class HttpFaultServer(_Server):
    """OTLP/HTTP collector answering ``POST /v1/...`` per its script (spans are read
    from ``/v1/traces`` requests only).

    Script entries (one per request, in arrival order; ``default`` after the script):
    an ``int`` status; ``(status, {header: value})``; a callable returning either (called
    when the request head has arrived); or ``"reset"`` (after the request head, before
    the body: RST), ``"garbage"`` (garbage bytes as the response, then close),
    ``"close"`` (close without answering), ``"stall"`` (never answer).
    A 2xx answer acknowledges the spans of the request.
    """

    def __init__(self, script: list[Any] | None = None, default: Any = 200, port: int = 0) -> None:
        super().__init__(script, default, port)

    def handle(self, conn: socket.socket, n: int) -> None:
        buf = b""
        while True:
            while b"\r\n\r\n" not in buf:
                buf += self._recv(conn)
            head, buf = buf.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
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
            status, extra = action if isinstance(action, tuple) else (action, {})
            if not path.startswith("/v1/"):
                status, extra = 404, {}
            if 200 <= status < 300:
                payload = b""  # an empty ExportTraceServiceResponse
            else:
                payload = _rpc_status(2, f"scripted HTTP {status}")
            out = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Whatever')}"]
            out.append("Content-Type: application/x-protobuf")
            out.append(f"Content-Length: {len(payload)}")
            if 300 <= status < 400:
                # Were the redirect followed it would succeed: the script answers 200 next.
                out.append(f"Location: http://127.0.0.1:{self.port}/v1/traces")
            for k, v in extra.items():
                out.append(f"{k}: {v}")
            # Recorded before answering: the client may count the answer at once.
            req.acked = 200 <= status < 300
            conn.sendall(("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + payload)


# ---------------------------------------------------------------------------
# OTLP/gRPC on raw HTTP/2 frames
# ---------------------------------------------------------------------------

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE = 0, 1, 3, 4, 6, 7, 8
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY = 0x1, 0x1, 0x4, 0x8, 0x20
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, REFUSED_STREAM, CANCEL, ENHANCE_YOUR_CALM = 0, 1, 2, 7, 8, 11


def frame(ftype: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream) + payload


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


class H2FaultServer(_Server):
    """Minimal OTLP/gRPC collector (h2c prior knowledge) answering each stream per its script.

    Script entries (per request stream, in arrival order; ``default`` after the script):
    ``"ok"``; ``("grpc", code, message, details_or_None)`` trailers-only status;
    ``("http", status)`` a response head without grpc-status; ``("rst", reason)``;
    ``"goaway"`` (GOAWAY with last_stream_id below this stream, i.e. not processed, then
    close); ``"ok+goaway"`` (answer OK, then GOAWAY with last_stream_id = this stream,
    then close); ``"garbage"`` (garbage bytes on the connection, then close); ``"reset"``
    (on the request HEADERS, before the body: RST the TCP connection); ``"stall"``.
    The request path is not decoded: every request is read as a trace export.

    ``http=True``: OTLP/HTTP over HTTP/2 (``POST /v1/traces``, protobuf) instead of gRPC.
    Request bodies are read as unprefixed ``ExportTraceServiceRequest`` protobuf;
    ``"ok"`` is ``:status 200``, ``content-type: application/x-protobuf`` and an empty
    body (END_STREAM on the HEADERS); ``("http", status)`` or ``("http", status,
    {header: value})`` answers that status with those headers (names lowercased, as
    HTTP/2 requires), a 3xx with a ``location``, any status outside 2xx with a
    ``google.rpc.Status`` body in a DATA frame. ``("grpc", ...)`` is not available; the
    other entries are as above. Any 2xx acknowledges the spans of the request.
    """

    def __init__(
        self, script: list[Any] | None = None, default: Any = "ok", port: int = 0, *, http: bool = False
    ) -> None:
        self.http = http
        super().__init__(script, default, port)

    def handle(self, conn: socket.socket, n: int) -> None:
        buf = bytearray()

        def read(k: int) -> bytes:
            while len(buf) < k:
                buf.extend(self._recv(conn))
            out = bytes(buf[:k])
            del buf[:k]
            return out

        if read(len(PREFACE)) != PREFACE:
            raise _Closed
        conn.sendall(frame(SETTINGS, 0, 0))
        streams: dict[int, tuple[Request, bytearray]] = {}
        while True:
            head = read(9)
            length = int.from_bytes(head[:3], "big")
            ftype, flags = head[3], head[4]
            sid = int.from_bytes(head[5:9], "big") & 0x7FFFFFFF
            payload = read(length)
            if ftype == SETTINGS and not flags & ACK:
                conn.sendall(frame(SETTINGS, ACK, 0))
            elif ftype == PING and not flags & ACK:
                conn.sendall(frame(PING, ACK, 0, payload))
            elif ftype == GOAWAY:
                self._finish(conn)
                raise _Closed
            elif ftype == HEADERS:
                req = self._next(n)
                if req.action == "reset":
                    _linger0_close(conn)
                    raise _Closed
                streams[sid] = (req, bytearray())
                if flags & END_STREAM:
                    self._answer(conn, sid, *streams.pop(sid))
            elif ftype == DATA and sid in streams:
                if flags & PADDED:
                    payload = payload[1 : len(payload) - payload[0]]
                if length:
                    inc = struct.pack(">I", length)
                    conn.sendall(frame(WINDOW_UPDATE, 0, 0, inc) + frame(WINDOW_UPDATE, 0, sid, inc))
                streams[sid][1].extend(payload)
                if flags & END_STREAM:
                    self._answer(conn, sid, *streams.pop(sid))
            elif ftype == RST_STREAM:
                streams.pop(sid, None)

    def _answer(self, conn: socket.socket, sid: int, req: Request, body: bytearray) -> None:
        if self.http:
            req.span_ids = span_ids_of(bytes(body))
        elif len(body) >= 5 and body[0] == 0:
            req.span_ids = span_ids_of(bytes(body[5 : 5 + int.from_bytes(body[1:5], "big")]))
        action = req.action
        kind = action[0] if isinstance(action, tuple) else action
        grpc_head = [(":status", "200"), ("content-type", "application/grpc")]
        if kind in ("ok", "ok+goaway"):
            if self.http:
                conn.sendall(self._http_answer(sid, req, 200))
            else:
                req.acked = True  # before answering: the client may count the answer at once
                conn.sendall(
                    frame(HEADERS, END_HEADERS, sid, hpack(grpc_head))
                    + frame(DATA, 0, sid, b"\x00\x00\x00\x00\x00")
                    + frame(HEADERS, END_HEADERS | END_STREAM, sid, hpack([("grpc-status", "0")]))
                )
            if kind == "ok+goaway":
                conn.sendall(frame(GOAWAY, 0, 0, struct.pack(">II", sid, NO_ERROR)))
                self._finish(conn)
                raise _Closed
        elif kind == "grpc" and not self.http:
            _, code, message, details = action
            fields = [*grpc_head, ("grpc-status", str(code)), ("grpc-message", message)]
            if details is not None:
                fields.append(("grpc-status-details-bin", base64.b64encode(details).decode().rstrip("=")))
            conn.sendall(frame(HEADERS, END_HEADERS | END_STREAM, sid, hpack(fields)))
        elif kind == "http" and self.http:
            conn.sendall(self._http_answer(sid, req, *action[1:]))
        elif kind == "http":
            fields = [(":status", str(action[1])), ("content-type", "text/plain")]
            conn.sendall(frame(HEADERS, END_HEADERS | END_STREAM, sid, hpack(fields)))
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

    def _http_answer(self, sid: int, req: Request, status: int, extra: dict[str, str] | None = None) -> bytes:
        """The frames of an OTLP/HTTP answer; a 2xx marks ``req`` acknowledged."""
        fields = [(":status", str(status)), ("content-type", "application/x-protobuf")]
        if 300 <= status < 400:
            # Were the redirect followed it would succeed: the script answers "ok" next.
            fields.append(("location", f"http://127.0.0.1:{self.port}/v1/traces"))
        fields += [(k.lower(), str(v)) for k, v in (extra or {}).items()]
        # Recorded before answering: the client may count the answer at once.
        req.acked = 200 <= status < 300
        if req.acked:  # an empty ExportTraceServiceResponse
            return frame(HEADERS, END_HEADERS | END_STREAM, sid, hpack(fields))
        payload = _rpc_status(2, f"scripted HTTP {status}")
        return frame(HEADERS, END_HEADERS, sid, hpack(fields)) + frame(DATA, END_STREAM, sid, payload)


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
