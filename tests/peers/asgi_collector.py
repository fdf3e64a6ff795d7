"""An OTLP collector written as a small ASGI app, served by hypercorn in another process.

Why: rotel and grpcio refuse zstd, and neither lets a test choose the HTTP version.
This collector decodes every transport our exporter speaks with code that shares
nothing with our Rust core (hypercorn + h11/h2 for HTTP, the ``zstandard`` package and
stdlib ``gzip`` for compression, the official protobuf classes and
``tests/otlp_json_reader.py`` for the payload).

Child side (``python -m peers.asgi_collector --relay HOST:PORT --record FILE ...``, run
with ``tests/`` on ``PYTHONPATH``):
    Binds a socket on 127.0.0.1:0 itself and hands it to hypercorn (``fd://``), so the
    port is known before serving and never raced for; prints ``PORT <n>`` as the first
    line of stdout once the relay channel is up, then serves until SIGTERM/SIGINT or
    until its stdin is closed (it never outlives the test process; PDEATHSIG as well).

    * OTLP/HTTP: ``POST /v1/traces|metrics|logs`` with ``Content-Type``
      ``application/x-protobuf`` or ``application/json`` and ``Content-Encoding`` absent,
      ``identity``, ``gzip`` or ``zstd``. Answers 200 with an empty
      ``Export*ServiceResponse`` in the request's content type; an undecodable body is
      400, an unknown content type or encoding 415, another path 404, another method 405.
      JSON is read strictly (``otlp_json_reader``): unknown keys are refused, where a
      real receiver ignores them, because the encoder under test must not write any.
    * OTLP/gRPC: ``POST /opentelemetry.proto.collector.<signal>.v1.<Signal>Service/Export``
      with ``content-type: application/grpc``; one length-prefixed message whose
      compressed flag is honoured per ``grpc-encoding`` (identity, gzip, zstd). Answers
      a framed empty response and the trailers ``grpc-status: 0`` (ASGI
      ``http.response.trailers`` extension, HTTP/2 only). Errors: unknown encoding is
      UNIMPLEMENTED (12), bad framing / compression / protobuf INTERNAL (13), a
      failed relay UNAVAILABLE (14). gRPC over HTTP/1.1 is refused with HTTP 505.
    * ``GET /healthz`` answers 200 (the parent's readiness probe; not recorded).
    * TLS with ``--certfile/--keyfile``; ALPN offers ``--alpn`` (default ``h2`` then
      ``http/1.1``; ``--alpn http/1.1`` makes a server that only speaks HTTP/1.1 after
      the handshake, to test fallback). Plain ``http://`` takes both HTTP/1.1 and
      HTTP/2 with prior knowledge (h2c): hypercorn's HTTP/1.1 parser sees the
      ``PRI * HTTP/2.0`` preface and switches the connection to HTTP/2.

    Decoded requests are *relayed*, not kept: each is sent as the official
    ``Export*ServiceRequest`` (protobuf bodies byte for byte as they arrived after
    decompression; JSON bodies parsed with ``otlp_json_reader.read`` and re-serialized)
    to the grpcio reference sink (``peers/sink.py``) with the metadata
    ``x-collector-seq: <n>``. So tests keep using the sink's readers, and the sink
    parses every payload once more with upb. The answer to the exporter is sent only
    after the sink acknowledged the relay, so an exporter that saw success finds its
    data in the sink.

    Every OTLP request (accepted or not) appends one JSON line to the record file
    (one ``write`` on an ``O_APPEND`` descriptor): ``seq``, ``t_start`` and ``t`` (wall
    clock ns when the request head arrived and when it was decided), ``transport``
    (``"http"``/``"grpc"``), ``signal``, ``http_version`` (``scope["http_version"]``:
    ``"1.1"``, ``"2"``), ``scheme``, ``method``, ``path``, ``client`` (peer
    ``[host, port]``: one port per connection), ``content_type``, ``encoding``
    (``Content-Encoding`` or ``grpc-encoding`` as sent, ``null`` when absent),
    ``compressed_flag`` (gRPC frame flag, else ``null``), ``wire_size`` and ``wire_head``
    (size and first 4 bytes, hex, of the body or gRPC message as received, before
    decompression: a zstd frame starts ``28b52ffd``, gzip ``1f8b``), ``decoded_size``,
    ``items`` (spans, data points or log records), ``status`` (HTTP status answered),
    ``grpc_status`` (gRPC only) and ``error`` (why it was refused, else ``null``).

Parent side: :class:`AsgiCollector` (context manager) starts/stops the child; it reads
the record file and joins it with the sink's records (:meth:`AsgiCollector.received`).
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import socket
import ssl
import struct
import sys
import threading
import time
import urllib.parse
import zlib
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from pathlib import Path
from typing import Any, Optional

from .process import PeerProcess, child_env, on_stdin_eof, poll_until, report_port
from .sink import count_data_points

SIGNALS = ("traces", "metrics", "logs")
HTTP_PATHS = {"/v1/traces": "traces", "/v1/metrics": "metrics", "/v1/logs": "logs"}
GRPC_PATHS = {
    "/opentelemetry.proto.collector.trace.v1.TraceService/Export": "traces",
    "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export": "metrics",
    "/opentelemetry.proto.collector.logs.v1.LogsService/Export": "logs",
}
GRPC_PATH_BY_SIGNAL = {v: k for k, v in GRPC_PATHS.items()}
CONTENT_TYPES = {"application/x-protobuf": "protobuf", "application/json": "json"}
MAX_BODY = 64 * 1024 * 1024
SEQ_METADATA = "x-collector-seq"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


# --------------------------------------------------------------------------
# decoding (shared by both transports)
# --------------------------------------------------------------------------


class BadRequest(ValueError):
    """The request cannot be decoded; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400, grpc_status: int = 13) -> None:
        super().__init__(message)
        self.status = status
        self.grpc_status = grpc_status


def decompress(data: bytes, encoding: Optional[str]) -> bytes:
    """Undo ``encoding`` (``None``/identity, gzip, zstd) with libraries independent of ours."""
    if encoding in (None, "", "identity"):
        return data
    if encoding == "gzip":
        try:
            return gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise BadRequest(f"bad gzip body: {e}") from None
    if encoding == "zstd":
        import zstandard

        if not data:
            raise BadRequest("empty zstd body")
        out = []
        rest = data
        # A zstd stream may hold several frames (RFC 8878, 3.1); each must be complete.
        for _ in range(len(data)):
            if not rest:
                break
            obj = zstandard.ZstdDecompressor().decompressobj()
            try:
                out.append(obj.decompress(rest))
            except zstandard.ZstdError as e:
                raise BadRequest(f"bad zstd body: {e}") from None
            if not obj.eof:
                raise BadRequest("truncated zstd frame")
            rest = obj.unused_data
        return b"".join(out)
    raise BadRequest(f"unsupported encoding {encoding!r}", status=415, grpc_status=12)


def request_class(signal_name: str) -> Any:
    if signal_name == "traces":
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest as C
    elif signal_name == "metrics":
        from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
            ExportMetricsServiceRequest as C,
        )
    elif signal_name == "logs":
        from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest as C
    else:
        raise ValueError(signal_name)
    return C


def count_items(signal_name: str, req: Any) -> int:
    """Spans, metric data points or log records in one request."""
    if signal_name == "traces":
        return sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans)
    if signal_name == "logs":
        return sum(len(sl.log_records) for rl in req.resource_logs for sl in rl.scope_logs)
    return count_data_points(req)


def parse(signal_name: str, payload: bytes, fmt: str) -> tuple[Any, bytes]:
    """(message, protobuf bytes to relay) from a decompressed body in ``fmt``."""
    from google.protobuf import json_format
    from google.protobuf.message import DecodeError

    cls = request_class(signal_name)
    if fmt == "protobuf":
        try:
            return cls.FromString(payload), payload
        except DecodeError as e:
            raise BadRequest(f"bad protobuf {cls.__name__}: {e}") from None
    import otlp_json_reader

    try:
        msg = otlp_json_reader.read(payload, cls)
    except (json_format.ParseError, ValueError, TypeError, KeyError) as e:
        raise BadRequest(f"bad OTLP/JSON {cls.__name__}: {e}") from None
    return msg, msg.SerializeToString()


# --------------------------------------------------------------------------
# child process: the ASGI app
# --------------------------------------------------------------------------


class _Disconnected(Exception):
    pass


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    # Each message carries >= 0 bytes; stop at the end of the body or past MAX_BODY.
    for _ in range(MAX_BODY + 2):
        msg = await receive()
        if msg["type"] == "http.disconnect":
            raise _Disconnected
        chunk = msg.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise BadRequest(f"body larger than {MAX_BODY} bytes", status=413, grpc_status=8)
        chunks.append(chunk)
        if not msg.get("more_body", False):
            break
    return b"".join(chunks)


class CollectorApp:
    """The ASGI application (one per child process)."""

    def __init__(self, record_path: str, relay: Callable[[str, bytes, int], Awaitable[None]]) -> None:
        self._record_fd = os.open(record_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._relay = relay
        self._seq = 0
        self.on_startup: Callable[[], None] = lambda: None

    def _record(self, rec: dict[str, Any]) -> None:
        rec["t"] = time.time_ns()
        os.write(self._record_fd, (json.dumps(rec) + "\n").encode())

    def close(self) -> None:
        os.close(self._record_fd)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return  # websockets: not offered (the connection is refused by hypercorn)
        path = scope["path"]
        try:
            if path == "/healthz" and scope["method"] == "GET":
                await _plain(send, 200, b"ok")
            elif path in GRPC_PATHS:
                await self._grpc(scope, receive, send, GRPC_PATHS[path])
            elif path in HTTP_PATHS:
                await self._http(scope, receive, send, HTTP_PATHS[path])
            else:
                await _plain(send, 404, b"no such path")
        except _Disconnected:
            return

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        for _ in range(2):  # startup, then shutdown
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                self.on_startup()
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _base_record(self, scope: Scope, transport: str, signal_name: str) -> dict[str, Any]:
        self._seq += 1
        client = scope.get("client")
        return {
            "seq": self._seq,
            "t_start": time.time_ns(),
            "t": None,
            "transport": transport,
            "signal": signal_name,
            "http_version": scope["http_version"],
            "scheme": scope["scheme"],
            "method": scope["method"],
            "path": scope["path"],
            "client": list(client) if client else None,
            "content_type": None,
            "encoding": None,
            "compressed_flag": None,
            "wire_size": None,
            "wire_head": None,
            "decoded_size": None,
            "items": None,
            "status": None,
            "grpc_status": None,
            "error": None,
        }

    # -- OTLP/HTTP ----------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send, signal_name: str) -> None:
        rec = self._base_record(scope, "http", signal_name)
        headers = _headers(scope)
        rec["content_type"] = headers.get("content-type")
        rec["encoding"] = headers.get("content-encoding")
        fmt = CONTENT_TYPES.get((rec["content_type"] or "").split(";")[0].strip().lower())
        answer_type = "application/json" if fmt == "json" else "application/x-protobuf"
        try:
            if scope["method"] != "POST":
                raise BadRequest(f"method {scope['method']} not allowed", status=405)
            body = await _read_body(receive)
            rec["wire_size"], rec["wire_head"] = len(body), body[:4].hex()
            if fmt is None:
                raise BadRequest(f"unsupported content type {rec['content_type']!r}", status=415)
            payload = decompress(body, (rec["encoding"] or "").strip().lower() or None)
            rec["decoded_size"] = len(payload)
            msg, raw = parse(signal_name, payload, fmt)
            rec["items"] = count_items(signal_name, msg)
        except BadRequest as e:
            rec["status"], rec["error"] = e.status, str(e)
            self._record(rec)
            await _plain(send, e.status, str(e).encode())
            return
        try:
            await self._relay(signal_name, raw, rec["seq"])
        except RelayError as e:
            rec["status"], rec["error"] = 503, f"relay failed: {e}"
            self._record(rec)
            await _plain(send, 503, b"relay to the sink failed")
            return
        rec["status"] = 200
        self._record(rec)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", answer_type.encode()),
                    (b"content-length", b"2" if fmt == "json" else b"0"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b"{}" if fmt == "json" else b""})

    # -- OTLP/gRPC ----------------------------------------------------------

    async def _grpc(self, scope: Scope, receive: Receive, send: Send, signal_name: str) -> None:
        rec = self._base_record(scope, "grpc", signal_name)
        headers = _headers(scope)
        rec["content_type"] = headers.get("content-type")
        rec["encoding"] = headers.get("grpc-encoding")
        if scope["http_version"] != "2" or "http.response.trailers" not in scope.get("extensions", {}):
            rec["status"], rec["error"] = 505, f"gRPC over HTTP/{scope['http_version']}"
            self._record(rec)
            await _plain(send, 505, b"gRPC needs HTTP/2")
            return
        try:
            if scope["method"] != "POST":
                raise BadRequest(f"method {scope['method']} not allowed", status=405)
            if not (rec["content_type"] or "").startswith("application/grpc"):
                raise BadRequest(f"content-type {rec['content_type']!r} is not gRPC", status=415)
            body = await _read_body(receive)
            if len(body) < 5:
                raise BadRequest(f"gRPC message of {len(body)} bytes is shorter than its prefix")
            flag, length = struct.unpack_from(">BI", body)
            message = body[5:]
            rec["compressed_flag"] = flag
            rec["wire_size"], rec["wire_head"] = len(message), message[:4].hex()
            if length != len(message):
                raise BadRequest(
                    f"length prefix {length} but {len(message)} bytes follow (unary: one message)"
                )
            if flag == 0:
                payload = message
            elif flag == 1:
                enc = (rec["encoding"] or "identity").strip().lower()
                if enc == "identity":
                    raise BadRequest("compressed flag set without grpc-encoding")
                payload = decompress(message, enc)
            else:
                raise BadRequest(f"compressed flag {flag}")
            rec["decoded_size"] = len(payload)
            msg, raw = parse(signal_name, payload, "protobuf")
            rec["items"] = count_items(signal_name, msg)
        except BadRequest as e:
            if e.status in (405, 415):  # not a gRPC call at all: a plain HTTP answer
                rec["status"], rec["error"] = e.status, str(e)
                self._record(rec)
                await _plain(send, e.status, str(e).encode())
                return
            rec["status"], rec["grpc_status"], rec["error"] = 200, e.grpc_status, str(e)
            self._record(rec)
            await _grpc_answer(send, e.grpc_status, str(e))
            return
        try:
            await self._relay(signal_name, raw, rec["seq"])
        except RelayError as e:
            rec["status"], rec["grpc_status"], rec["error"] = 200, 14, f"relay failed: {e}"
            self._record(rec)
            await _grpc_answer(send, 14, "relay to the sink failed")
            return
        rec["status"], rec["grpc_status"] = 200, 0
        self._record(rec)
        await _grpc_answer(send, 0, "")


def _headers(scope: Scope) -> dict[str, str]:
    """Request headers, lower-case names, last value wins."""
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


async def _plain(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _grpc_answer(send: Send, code: int, message: str) -> None:
    """Response head, one empty framed message if OK, then trailers with the status.

    Hypercorn sends the trailers only when the request carried ``te: trailers`` (as gRPC
    clients must); without it the stream simply ends after the body."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/grpc"),
                (b"grpc-accept-encoding", b"identity,gzip,zstd"),
            ],
            "trailers": True,
        }
    )
    await send({"type": "http.response.body", "body": b"\x00\x00\x00\x00\x00" if code == 0 else b""})
    trailers = [(b"grpc-status", str(code).encode())]
    if message:
        trailers.append((b"grpc-message", urllib.parse.quote(message, safe=" ").encode()))
    await send({"type": "http.response.trailers", "headers": trailers, "more_trailers": False})


class RelayError(RuntimeError):
    pass


def _serve(argv: list[str]) -> int:
    import argparse
    import asyncio

    import grpc
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    ap = argparse.ArgumentParser(prog="asgi_collector")
    ap.add_argument("--relay", required=True, help="host:port of the reference sink (gRPC)")
    ap.add_argument("--record", required=True, help="JSON-lines file to append request records to")
    ap.add_argument("--certfile")
    ap.add_argument("--keyfile")
    ap.add_argument("--alpn", action="append", help="ALPN protocols offered over TLS, in order")
    args = ap.parse_args(argv)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]

    config = Config()
    config.bind = [f"fd://{sock.detach()}"]
    config.accesslog = None
    config.errorlog = "-"
    config.loglevel = "WARNING"
    config.keep_alive_timeout = 60  # no idle-connection churn in the middle of a test
    config.graceful_timeout = 1
    if args.certfile:
        config.certfile, config.keyfile = args.certfile, args.keyfile
        config.alpn_protocols = args.alpn or ["h2", "http/1.1"]
        config.create_ssl_context()  # fail now (before PORT) on unusable certificates

    async def main() -> None:
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, done.set)

        channel = grpc.aio.insecure_channel(args.relay, options=[("grpc.max_send_message_length", MAX_BODY)])
        await asyncio.wait_for(channel.channel_ready(), 20)
        calls = {s: channel.unary_unary(GRPC_PATH_BY_SIGNAL[s]) for s in SIGNALS}  # bytes in, bytes out

        async def relay(signal_name: str, raw: bytes, seq: int) -> None:
            try:
                await calls[signal_name](raw, metadata=((SEQ_METADATA, str(seq)),), timeout=20)
            except grpc.aio.AioRpcError as e:
                raise RelayError(f"{e.code().name}: {e.details()}") from None

        app = CollectorApp(args.record, relay)

        app.on_startup = lambda: report_port(port)
        on_stdin_eof(lambda: loop.call_soon_threadsafe(done.set))
        try:
            await serve(app, config, shutdown_trigger=done.wait, mode="asgi")  # type: ignore[arg-type]
        finally:
            await channel.close()
            app.close()

    asyncio.run(main())
    return 0


# --------------------------------------------------------------------------
# parent side
# --------------------------------------------------------------------------


class CollectorError(RuntimeError):
    pass


class AsgiCollector(PeerProcess):
    """Runs the collector child; relays into ``sink`` (a started :class:`peers.Sink`).

    Parameters:
        sink: the reference sink every decoded request is relayed to.
        certfile, keyfile: PEM server certificate and key: serve ``https://``.
        alpn: ALPN protocols offered over TLS (default ``("h2", "http/1.1")``).
    """

    label = "collector"
    error_type = CollectorError

    def __init__(
        self,
        sink: Any,
        *,
        certfile: Optional[os.PathLike[str] | str] = None,
        keyfile: Optional[os.PathLike[str] | str] = None,
        alpn: Iterable[str] = ("h2", "http/1.1"),
        workdir: Optional[os.PathLike[str] | str] = None,
        startup_timeout: float = 20.0,
    ) -> None:
        if (certfile is None) != (keyfile is None):
            raise ValueError("certfile and keyfile go together")
        super().__init__(workdir, stderr_name="collector.stderr", tmp_prefix="otlp-asgi-")
        self.sink = sink
        self.certfile = certfile
        self.keyfile = keyfile
        self.alpn = tuple(alpn)
        self.startup_timeout = startup_timeout
        self.record_path = self.workdir / "requests.jsonl"
        self.port: Optional[int] = None
        self._offset = 0
        self._records: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    @property
    def tls(self) -> bool:
        return self.certfile is not None

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:PORT`` or ``https://...``: gRPC endpoint and OTLP/HTTP base URL."""
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> AsgiCollector:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.record_path.write_bytes(b"")
        tests_dir = str(Path(__file__).resolve().parent.parent)
        cmd = [
            sys.executable,
            "-u",
            "-m",
            "peers.asgi_collector",
            "--relay",
            self.sink.address,
            "--record",
            str(self.record_path),
        ]
        if self.tls:
            cmd += ["--certfile", str(self.certfile), "--keyfile", str(self.keyfile)]
            for p in self.alpn:
                cmd += ["--alpn", p]
        python_path = os.pathsep.join([tests_dir, *filter(None, [os.environ.get("PYTHONPATH")])])
        self._spawn(cmd, env=child_env(PYTHONPATH=python_path), cwd=tests_dir)
        with self._stop_on_error():
            self.port = self._read_port(self.startup_timeout)
            self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        """``GET /healthz`` (HTTP/1.1, certificate unchecked) until it answers 200."""
        import http.client

        last: Exception | None = None

        def healthy() -> bool:
            nonlocal last
            if not self.alive():
                raise CollectorError(f"collector exited during start-up; stderr:\n{self.stderr_tail()}")
            if self.tls:
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
                conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                    "127.0.0.1", self.port, timeout=2, context=ctx
                )
            else:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            try:
                conn.request("GET", "/healthz")
                return conn.getresponse().status == 200
            except (OSError, http.client.HTTPException) as e:
                last = e
                return False
            finally:
                conn.close()

        poll_until(
            healthy,
            self.startup_timeout,
            lambda: CollectorError(
                f"collector not ready in {self.startup_timeout}s ({last}); stderr:\n{self.stderr_tail()}"
            ),
            interval=0.005,
            max_interval=0.1,
        )

    # -- reading what was received ------------------------------------------

    def records(self, signal_name: Optional[str] = None) -> list[dict[str, Any]]:
        """Every request record so far (see the module docstring), in arrival order."""
        with self._lock:
            try:
                with open(self.record_path, "rb") as f:
                    f.seek(self._offset)
                    data = f.read()
            except FileNotFoundError:
                data = b""
            end = data.rfind(b"\n") + 1  # a line still being written is read next time
            for line in data[:end].splitlines():
                self._records.append(json.loads(line))
            self._offset += end
            return [r for r in self._records if signal_name is None or r["signal"] == signal_name]

    def received(self, signal_name: str) -> list[tuple[dict[str, Any], Any]]:
        """(collector record, decoded request as the sink got it) per relayed request of a signal."""
        by_seq = {r["seq"]: r for r in self.records(signal_name)}
        out = []
        for (_, head, _), req in zip(
            self.sink.records(signal_name), self.sink.requests(signal_name), strict=False
        ):
            seq = next((v for k, v in head["metadata"] if k == SEQ_METADATA), None)
            if seq is None:
                continue  # not relayed by this collector (the sink may be shared)
            rec = by_seq.get(int(seq))
            if rec is None:  # sink has it, our record line is written just before answering
                rec = {r["seq"]: r for r in self.records(signal_name)}.get(int(seq))
            if rec is not None:
                out.append((rec, req))
        return out


if __name__ == "__main__":
    sys.exit(_serve(sys.argv[1:]))
