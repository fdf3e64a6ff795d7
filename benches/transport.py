#!/usr/bin/env python3
"""Transport benchmark: bytes on the wire and throughput of trace export for
every protocol (gRPC, HTTP/protobuf, HTTP/JSON), compression (none, gzip, zstd)
and, for OTLP/HTTP, HTTP version (1.1, 2), ``otlp`` next to the official
OpenTelemetry exporters where they support the same setting.

Run from the repository root::

    python benches/transport.py                          # every cell, 3 repeats
    python benches/transport.py --only official          # no extension needed
    python benches/transport.py --protocols grpc --compressions none,gzip --json
    python benches/transport.py --http-receiver hypercorn  # HTTP/1.1 on hypercorn too
    python benches/transport.py --http-versions 1.1      # no HTTP/2 cells
    python benches/transport.py --h2-receiver otlp       # HTTP/2 cells on otlp.Receiver
    python benches/transport.py --only otlp --protocols grpc,http/protobuf --http-versions 2 \
        --grpc-receiver otlp --h2-receiver otlp          # gRPC vs HTTP/2, one receiver

Workload (identical for both exporters, as in e2e_traces.py): on a single
thread, create and end N spans with 5 attributes each, flush the exporter, then
wait until the receiver has all N spans.

HTTP versions (``--http-versions``, default ``1.1,2``; OTLP/HTTP only, gRPC
always runs on HTTP/2): an HTTP/1.1 cell runs both exporters, ``otlp`` with
``http_version="1.1"`` and the official exporter (requests, HTTP/1.1 only). An
HTTP/2 cell runs ``otlp`` with ``http_version="2"`` (h2c with prior knowledge on
the ``http://`` endpoint, every export multiplexed on one connection); the
official exporter has no HTTP/2. HTTP/2 cells go to ``hypercorn`` by default
(``--h2-receiver hypercorn``): without it they are skipped, and the table says
so. ``--h2-receiver otlp`` sends them to ``otlp.Receiver`` instead (protobuf
only: the http/json HTTP/2 cells are then skipped, with the reason).

Receivers (each run gets a fresh one, in its own subprocess, on 127.0.0.1):

* gRPC, none/gzip: a grpcio server with the official opentelemetry-proto
  ``TraceService`` method handler (grpcio undoes gzip); every request is parsed
  with the generated ``ExportTraceServiceRequest`` class.
* gRPC, zstd: grpcio (and the rotel collector) refuse ``grpc-encoding: zstd``,
  so this cell uses ``otlp.Receiver`` (the extension's own Rust receiver), which
  decodes zstd and counts spans. Only ``otlp`` runs it.
* HTTP/1.1 (``--http-receiver http.server``, the default): a ``http.server``
  server that accepts ``POST /v1/traces``.
* HTTP/2 (``--h2-receiver hypercorn``, the default), and HTTP/1.1 with
  ``--http-receiver hypercorn``: an ASGI app served by ``hypercorn`` (asyncio,
  plain TCP). It speaks HTTP/1.1 and, when a connection opens with the HTTP/2
  preface, HTTP/2 (h2c prior knowledge) on the same port, so HTTP/1.1 and HTTP/2
  can be compared on one receiver.

  These two Python HTTP receivers hand the request to the same decode-and-count
  function (built by ``handle_http_export``): it undoes gzip or deflate (zstd too
  when the ``zstandard`` package is installed), parses protobuf with
  ``ExportTraceServiceRequest`` or JSON with ``json``, counts spans, and answers
  200 with an empty response. They also count the requests that came over
  HTTP/2.
* HTTP/2 with ``--h2-receiver otlp``: ``otlp.Receiver``, which also takes
  OTLP/HTTP over HTTP/2 with prior knowledge on its gRPC port (``POST
  /v1/traces``, ``application/x-protobuf``, none/gzip/zstd; 200; it takes JSON
  but counts only protobuf spans). It counts the requests that came over
  HTTP/1.1 apart, so the others came over HTTP/2.

A run whose OTLP/HTTP requests did not all use the cell's HTTP version is
reported as a problem.

HTTP/2 speed is the receiver's (measured on the 2-core machine; benches/README.md
has the commands and numbers): hypercorn's HTTP/2 stack is slower than its
HTTP/1.1 one (otlp HTTP/2 / HTTP/1.1 on hypercorn alone: 0.72-0.87x spans/s), and
so is rotel's (0.4-0.9x uncompressed, measured ad hoc with its blackhole exporter). Against the
Rust receiver, otlp's HTTP/2 path runs like its gRPC path (``--grpc-receiver otlp
--h2-receiver otlp``: HTTP/2 / gRPC 0.99-1.10x spans/s, same bytes per span).

Wire bytes: every exporter connects to a counting TCP proxy (threads in this
parent process) that forwards to the receiver and adds up the TCP payload bytes
in each direction. It sees exactly what the exporter puts on the socket:
compressed bodies, HTTP/1.1 headers, HTTP/2 frames and HPACK, connection setup.
The same proxy sits in front of both exporters. ``--no-proxy`` removes it.

The receivers and the proxy live in benches/ on purpose (this file, and the
harness it shares with the other benches in ``_harness.py``): benches do not
depend on tests/.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

import _harness as harness
from _harness import TIMES, ratio

HERE = os.path.abspath(__file__)

PROTOCOLS = ("grpc", "http/protobuf", "http/json")
COMPRESSIONS = ("none", "gzip", "zstd")
# OTLP/HTTP's HTTP version (otlp.Exporter(http_version=...)); gRPC always runs on HTTP/2
# and its cells carry "2".
HTTP_VERSIONS = ("1.1", "2")
HTTP_RECEIVERS = ("http.server", "hypercorn")
# Receivers of the HTTP/2 OTLP/HTTP cells (--h2-receiver): hypercorn, or otlp.Receiver
# (the extension's Rust receiver, which also takes OTLP/HTTP protobuf over h2c).
H2_RECEIVERS = ("hypercorn", "otlp")
# Why http/json HTTP/2 cells are skipped with --h2-receiver otlp.
H2_OTLP_NO_JSON = "skipped: otlp.Receiver does not count JSON spans; --h2-receiver hypercorn runs it"
HYPERCORN_PIP = "pip install hypercorn"
# What the official Python exporters can do (opentelemetry-exporter-otlp-proto-grpc
# and -proto-http 1.45): no zstd anywhere, no JSON encoding at all.
OFFICIAL_SUPPORTS = {
    ("grpc", "none"),
    ("grpc", "gzip"),
    ("http/protobuf", "none"),
    ("http/protobuf", "gzip"),
}
OFFICIAL_PIP = {
    "grpc": "opentelemetry-exporter-otlp-proto-grpc==1.45.2",
    "http/protobuf": "opentelemetry-exporter-otlp-proto-http==1.45.2",
}
OFFICIAL_IMPORT = {
    "grpc": "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
    "http/protobuf": "opentelemetry.exporter.otlp.proto.http.trace_exporter",
}

# The counter file's slots (written by the receiver): the harness's base slots, then these.
SLOTS = (
    *harness.BASE_SLOTS,
    "body_bytes",  # request body bytes as received (compressed); 0 where unknown (grpcio)
    "payload_bytes",  # decoded request bytes (serialized protobuf or JSON text)
    "errors",  # requests the receiver refused
    "undecoded",  # requests accepted without decoding (zstd without `zstandard`)
    "zstd_ok",  # 1 if this receiver can decode zstd
    # Requests that arrived over HTTP/2: the Python HTTP receivers count them per request;
    # otlp.Receiver speaks nothing else, so for it this is every request it counted.
    "h2_requests",
)
SLOT_BODY = SLOTS.index("body_bytes")
SLOT_ERRORS = SLOTS.index("errors")
SLOT_ZSTD_OK = SLOTS.index("zstd_ok")
SLOT_H2_REQUESTS = SLOTS.index("h2_requests")

SERVICE_NAME = "transport-bench"
GRPC_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"

DEFAULT_SPANS_OFFICIAL = 20_000
DEFAULT_SPANS_OTLP = 200_000


def record_request(
    tally: harness.Tally,
    t0: int,
    spans: int,
    body: int,
    payload: int,
    *,
    error: bool,
    undecoded: bool,
    h2: bool = False,
) -> None:
    """One export request handled by a receiver, into its tally (and the counter file)."""
    tally.record(
        t0,
        spans,
        body_bytes=body,
        payload_bytes=payload,
        errors=int(error),
        undecoded=int(undecoded),
        h2_requests=int(h2),
    )


def count_pb_spans(request: Any) -> int:
    n = 0
    for rs in request.resource_spans:
        for ss in rs.scope_spans:
            n += len(ss.spans)
    return n


def count_json_spans(doc: Any) -> int:
    # OTLP/JSON uses the lowerCamelCase field names of the proto3 JSON mapping.
    n = 0
    for rs in doc.get("resourceSpans", ()):
        for ss in rs.get("scopeSpans", ()):
            n += len(ss.get("spans", ()))
    return n


# --------------------------------------------------------------------------
# Receiver subprocess: grpcio, otlp.Receiver or http.server
# --------------------------------------------------------------------------
def start_grpcio(tally: harness.Tally) -> tuple[int, Callable[[], None]]:
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

    def on_request(request: Any, nbytes: int, t0: int) -> None:
        # grpcio has already undone any gzip: nbytes is the decoded message.
        record_request(tally, t0, count_pb_spans(request), 0, nbytes, error=False, undecoded=False)

    # The handler add_TraceServiceServicer_to_server would build, with our own
    # deserializer so the byte count and the parse timing come for free.
    return harness.start_grpc_sink(
        GRPC_SERVICE,
        trace_service_pb2.ExportTraceServiceRequest,
        trace_service_pb2.ExportTraceServiceResponse,
        on_request,
    )


# Answers one OTLP/HTTP export: (path, Content-Type, Content-Encoding, body, over HTTP/2?)
# -> (status, response Content-Type, response body).
ExportHandler = Callable[[str, str, str, bytes, bool], tuple[int, str, bytes]]
AsgiMessage = dict[str, Any]  # ASGI scopes and events


def handle_http_export(
    tally: harness.Tally, zstd_decompress: Callable[[bytes], bytes] | None
) -> ExportHandler:
    """The OTLP/HTTP receive path shared by the http.server and hypercorn receivers:
    undo the Content-Encoding, parse, count the spans into `tally`, and pick the answer.
    The receivers only move bytes (HTTP/1.1 or HTTP/2 framing) in and out."""
    import gzip
    import zlib

    from google.protobuf.message import DecodeError  # type: ignore[import-untyped,unused-ignore]
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

    Request = trace_service_pb2.ExportTraceServiceRequest
    bad_body: tuple[type[BaseException], ...] = (ValueError, OSError, EOFError, zlib.error, DecodeError)
    if zstd_decompress is not None:
        import zstandard  # type: ignore[import-not-found,unused-ignore]

        bad_body = (*bad_body, zstandard.ZstdError)

    def handle(
        path: str, content_type: str, content_encoding: str, body: bytes, h2: bool
    ) -> tuple[int, str, bytes]:
        t0 = time.monotonic_ns()  # the body is in: time decoding only
        if path.split("?")[0] != "/v1/traces":
            record_request(tally, t0, 0, len(body), 0, error=True, undecoded=False, h2=h2)
            return 404, "text/plain", b"not found"
        encoding = (content_encoding or "identity").strip().lower()
        ctype = content_type.split(";")[0].strip().lower()
        data: bytes | None
        try:
            if encoding in ("identity", ""):
                data = body
            elif encoding == "gzip":
                data = gzip.decompress(body)
            elif encoding == "deflate":
                data = zlib.decompress(body)
            elif encoding == "zstd":
                data = zstd_decompress(body) if zstd_decompress is not None else None
            else:
                raise ValueError(f"unknown Content-Encoding {encoding!r}")
            if data is None:
                n = 0  # accepted unread: the worker checks the exporter's own counts
            elif ctype == "application/x-protobuf":
                n = count_pb_spans(Request.FromString(data))
            elif ctype == "application/json":
                n = count_json_spans(json.loads(data))
            else:
                raise ValueError(f"unexpected Content-Type {ctype!r}")
        except bad_body as e:
            record_request(tally, t0, 0, len(body), 0, error=True, undecoded=False, h2=h2)
            return 400, "text/plain", f"{type(e).__name__}: {e}".encode()[:500]
        record_request(tally, t0, n, len(body), len(data or b""), error=False, undecoded=data is None, h2=h2)
        # An empty ExportTraceServiceResponse: no bytes in protobuf, {} in JSON.
        if ctype == "application/json":
            return 200, "application/json", b"{}"
        return 200, "application/x-protobuf", b""

    return handle


def start_http(
    tally: harness.Tally, zstd_decompress: Callable[[bytes], bytes] | None
) -> tuple[int, Callable[[], None]]:
    """HTTP/1.1 only: http.server, one thread per connection."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    handle = handle_http_export(tally, zstd_decompress)

    def read_chunked(rfile: Any) -> bytes:
        parts: list[bytes] = []
        while True:
            size = int(rfile.readline().split(b";")[0].strip(), 16)
            if size == 0:
                while rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            parts.append(rfile.read(size))
            rfile.readline()  # CRLF after the chunk

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as both clients expect

        def setup(self) -> None:
            super().setup()
            # The response goes out as headers + body writes: no Nagle stalls.
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def reply(self, code: int, ctype: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body:
                self.wfile.write(body)

        def do_POST(self) -> None:
            length = self.headers.get("Content-Length")
            if length is not None:
                body = self.rfile.read(int(length))
            elif "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                body = read_chunked(self.rfile)
            else:
                self.reply(411, "text/plain", b"length required")
                return
            self.reply(
                *handle(
                    self.path,
                    self.headers.get("Content-Type") or "",
                    self.headers.get("Content-Encoding") or "",
                    body,
                    False,
                )
            )

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 64

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(2)

    return server.server_address[1], stop


def start_hypercorn(
    tally: harness.Tally, zstd_decompress: Callable[[bytes], bytes] | None
) -> tuple[int, Callable[[], None]]:
    """HTTP/1.1 and HTTP/2: an ASGI app served by hypercorn on an asyncio loop in a thread.

    Plain TCP, no TLS: hypercorn starts every connection as HTTP/1.1 and switches it to
    HTTP/2 when it opens with the HTTP/2 preface (``PRI * HTTP/2.0``), i.e. h2c with
    prior knowledge. Decoding runs on the event loop (one request at a time, like the
    GIL-bound http.server threads)."""
    import asyncio

    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    handle = handle_http_export(tally, zstd_decompress)
    started = threading.Event()

    async def app(
        scope: AsgiMessage,
        receive: Callable[[], Awaitable[AsgiMessage]],
        send: Callable[[AsgiMessage], Awaitable[None]],
    ) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                    started.set()
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        if scope["method"] != "POST":
            status, ctype, out = 405, "text/plain", b"method not allowed"
        else:
            # ASGI header names are lower-case bytes.
            headers: dict[bytes, bytes] = dict(scope["headers"])
            status, ctype, out = handle(
                scope["path"],
                headers.get(b"content-type", b"").decode("latin-1"),
                headers.get(b"content-encoding", b"").decode("latin-1"),
                b"".join(chunks),
                scope["http_version"] == "2",
            )
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", ctype.encode()), (b"content-length", str(len(out)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": out})

    # Bind here, so the port is known before serving; hypercorn takes the socket over.
    sock = socket.create_server(("127.0.0.1", 0), backlog=64)
    port: int = sock.getsockname()[1]
    config = Config()
    config.bind = [f"fd://{sock.detach()}"]
    config.backlog = 64  # as http.server's request_queue_size
    config.keep_alive_max_requests = 2**62  # http.server never closes a keep-alive connection
    config.graceful_timeout = 1.0
    config.accesslog = None
    config.loglevel = "WARNING"  # errors still reach the sink's stderr file

    box: dict[str, Any] = {}

    async def main() -> None:
        box["loop"] = asyncio.get_running_loop()
        box["shutdown"] = shutdown = asyncio.Event()
        await serve(cast(Any, app), config, shutdown_trigger=shutdown.wait, mode="asgi")

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as e:  # reported by start_hypercorn or in the sink's stderr
            box["error"] = e
            started.set()
            raise

    thread = threading.Thread(target=run, name="hypercorn", daemon=True)
    thread.start()
    # Started = lifespan startup done. The socket is already listening: a connection made
    # before hypercorn accepts waits in the backlog.
    if not started.wait(20) or "error" in box:
        raise RuntimeError(f"hypercorn did not start: {box.get('error')!r}")

    def stop() -> None:
        try:
            box["loop"].call_soon_threadsafe(box["shutdown"].set)
        except RuntimeError:
            pass  # the loop is already closed
        thread.join(5)

    return port, stop


def zstd_decoder() -> Callable[[bytes], bytes] | None:
    """zstd decompression from the `zstandard` package, or None if it is not installed."""
    try:
        import zstandard
    except ImportError:
        return None

    def decompress(data: bytes) -> bytes:
        # decompressobj handles frames that do not state their content size.
        out: bytes = zstandard.ZstdDecompressor().decompressobj().decompress(data)
        return out

    return decompress


def sink_main(counter_path: str, kind: str) -> int:
    counters = harness.Counters(counter_path, SLOTS, writable=True)
    tally = harness.Tally(counters)
    poll: Callable[[], None] | None = None
    if kind == "grpcio":
        port, stop_server = start_grpcio(tally)
    elif kind in ("http", "hypercorn"):
        decoder = zstd_decoder()
        start = start_http if kind == "http" else start_hypercorn
        port, stop_server = start(tally, decoder)
        counters.set(SLOT_ZSTD_OK, int(decoder is not None))
    elif kind == "receiver":
        from otlp._native import Receiver

        rx = Receiver("127.0.0.1:0")
        port, stop_server = rx.port, rx.stop
        counters.set(SLOT_ZSTD_OK, 1)
        seen: list[tuple[int, ...]] = [(0, 0, 0, 0)]

        def poll() -> None:
            # otlp.Receiver counts in Rust; mirror its counters into the file. The
            # timestamp is taken when a change is first seen: at most ~1 ms late.
            # It bumps `requests` before `spans`, so watch all of them. Those not counted
            # as `http1_requests` came over HTTP/2. `bytes` is the request bodies as received
            # (gRPC: with the 5-byte message prefix); it does not report decoded bytes.
            c = rx.counts()
            now_seen = (c["requests"], c["spans"], c["bytes"], c["errors"])
            if now_seen == seen[0]:
                return
            seen[0] = now_seen
            now = time.monotonic_ns()
            if not counters.get(harness.SLOT_FIRST_NS):
                counters.set(harness.SLOT_FIRST_NS, now)
            counters.set(harness.SLOT_LAST_NS, now)
            counters.set(harness.SLOT_REQUESTS, c["requests"])
            counters.set(SLOT_H2_REQUESTS, c["requests"] - c["http1_requests"])
            counters.set(SLOT_BODY, c["bytes"])
            counters.set(SLOT_ERRORS, c["errors"])
            counters.set(harness.SLOT_COUNT, c["spans"])

    else:
        print(f"sink: unknown kind {kind!r}", file=sys.stderr)
        return 2
    return harness.serve_sink(counters, port, stop_server, poll)


# --------------------------------------------------------------------------
# Counting TCP proxy (threads in the parent process)
# --------------------------------------------------------------------------
class CountingProxy:
    """Listens on 127.0.0.1:0 and forwards every connection to 127.0.0.1:upstream,
    counting the TCP payload bytes in each direction."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.up = 0  # client -> server
        self.down = 0  # server -> client
        self.connections = 0
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._socks: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self._listener.settimeout(0.1)  # the accept loop checks _closed
        self.port: int = self._listener.getsockname()[1]
        t = threading.Thread(target=self._accept_loop, name="proxy-accept", daemon=True)
        t.start()
        self._threads.append(t)

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=10)
            except OSError as e:
                with self._lock:
                    self.errors.append(f"connect upstream: {e}")
                client.close()
                continue
            for s in (client, upstream):
                s.settimeout(None)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self.connections += 1
                self._socks += [client, upstream]
            for src, dst, up in ((client, upstream, True), (upstream, client, False)):
                t = threading.Thread(target=self._pump, args=(src, dst, up), name="proxy-pump", daemon=True)
                t.start()
                self._threads.append(t)

    def _pump(self, src: socket.socket, dst: socket.socket, up: bool) -> None:
        buf = bytearray(256 * 1024)
        view = memoryview(buf)
        try:
            while True:
                n = src.recv_into(buf)
                if not n:
                    break
                dst.sendall(view[:n])
                with self._lock:
                    if up:
                        self.up += n
                    else:
                        self.down += n
        except OSError:
            pass  # the other side went away; the peer pump sees it too
        finally:
            try:
                dst.shutdown(socket.SHUT_WR)  # pass the half-close on
            except OSError:
                pass

    def close(self) -> dict[str, Any]:
        self._closed.set()
        self._listener.close()
        with self._lock:
            socks = list(self._socks)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        deadline = time.monotonic() + 3
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        for s in socks:
            s.close()
        with self._lock:
            return {
                "up": self.up,
                "down": self.down,
                "connections": self.connections,
                "errors": list(self.errors),
            }


# --------------------------------------------------------------------------
# Worker subprocess: runs one exporter once
# --------------------------------------------------------------------------
def setup_official(args: argparse.Namespace, n: int) -> harness.ExportHooks:
    exporter: Any
    if (args.protocol, args.compression) not in OFFICIAL_SUPPORTS:
        raise SystemExit(f"the official exporter has no {args.protocol} + {args.compression}")
    if args.protocol != "grpc" and args.http_version != "1.1":
        raise SystemExit("the official OTLP/HTTP exporter (requests) speaks HTTP/1.1 only")
    if args.protocol == "grpc":
        import grpc  # type: ignore[import-untyped]
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        gcomp = {"none": grpc.Compression.NoCompression, "gzip": grpc.Compression.Gzip}
        exporter = OTLPSpanExporter(
            endpoint=args.endpoint, insecure=True, compression=gcomp[args.compression]
        )
    else:
        from opentelemetry.exporter.otlp.proto.http import Compression
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as HTTPSpanExporter,
        )

        hcomp = {"none": Compression.NoCompression, "gzip": Compression.Gzip}
        exporter = HTTPSpanExporter(
            endpoint=args.endpoint + "/v1/traces", compression=hcomp[args.compression]
        )

    return harness.official_trace_hooks(exporter, SERVICE_NAME, n, args.batch_size, args.timeout)


def setup_otlp(args: argparse.Namespace, n: int) -> harness.ExportHooks:
    # OTLP/HTTP: the HTTP version is always explicit ("1.1" is what "auto" does on http://);
    # gRPC is HTTP/2 whatever http_version says, so it keeps the default.
    http: dict[str, Any] = {} if args.protocol == "grpc" else {"http_version": args.http_version}
    exp = harness.otlp_exporter(
        args.endpoint,
        SERVICE_NAME,
        n,
        args.batch_size,
        protocol=args.protocol,
        compression=args.compression,
        **http,
    )
    return harness.otlp_trace_hooks(exp, SERVICE_NAME, n, args.timeout)


def worker_main(args: argparse.Namespace) -> int:
    n: int = args.spans
    counters = harness.Counters(args.counter, SLOTS)
    setup = {"official": setup_official, "otlp": setup_otlp}[args.exporter]
    run, flush, shutdown, stats = setup(args, n)
    # Can the receiver count the spans of this encoding? If not (zstd over HTTP
    # without `zstandard`), completion is judged from the exporter's own stats.
    verified = "sink" if args.compression != "zstd" or counters.get(SLOT_ZSTD_OK) else "stats"
    if verified == "stats" and args.exporter != "otlp":
        raise SystemExit("only otlp reports its own counts")

    def wait_for_stats(deadline: float) -> bool:
        while True:
            st = stats()
            done = st["spans_exported"] + st["spans_failed"] + st["spans_dropped"] + st["spans_rejected"]
            if done >= n or time.monotonic() > deadline:
                break
            time.sleep(0.001)
        exported: bool = st["spans_exported"] == n
        return exported

    def wait_for_sink(deadline: float) -> bool:
        return harness.wait_for_count(counters, n, deadline)

    timing = harness.time_export(
        run, flush, wait_for_sink if verified == "sink" else wait_for_stats, counters, args.timeout
    )
    st_before = stats()
    shutdown()
    harness.emit_result(
        {
            "exporter": args.exporter,
            "protocol": args.protocol,
            "compression": args.compression,
            "http_version": args.http_version,
            "spans": n,
            "verified": verified,
            "complete": timing.complete,
            "flush_ok": timing.flush_ok,
            "create_s": timing.create_s,
            "e2e_s": timing.e2e_s,
            "sink_at_done": timing.snapshot,
            "stats_before_shutdown": st_before,
        }
    )
    counters.close()
    return 0 if timing.complete else harness.RC_INCOMPLETE


# --------------------------------------------------------------------------
# Parent: orchestration, reporting
# --------------------------------------------------------------------------
# One row of the tables: (protocol, compression, HTTP version, exporter). gRPC rows
# carry HTTP version "2" (gRPC always runs on HTTP/2; --http-versions does not apply).
Key = tuple[str, str, str, str]


def cell_label(protocol: str, compression: str, http_version: str) -> str:
    """grpc+gzip, http/protobuf+gzip HTTP/1.1, http/json+zstd HTTP/2, ..."""
    base = f"{protocol}+{compression}"
    return base if protocol == "grpc" else f"{base} HTTP/{http_version}"


def sink_kind(protocol: str, compression: str, http_version: str, args: argparse.Namespace) -> str:
    if protocol != "grpc":
        if http_version == "2":
            # http.server cannot speak HTTP/2; otlp.Receiver speaks nothing else.
            return "receiver" if args.h2_receiver == "otlp" else "hypercorn"
        return "hypercorn" if args.http_receiver == "hypercorn" else "http"
    return "receiver" if compression == "zstd" or args.grpc_receiver == "otlp" else "grpcio"


RECEIVER_LABEL = {
    "grpcio": "grpcio",
    "http": "http.server",
    "hypercorn": "hypercorn",
    "receiver": "otlp.Receiver",
}


def run_once(key: Key, n: int, args: argparse.Namespace, tmp: str, tag: str) -> dict[str, Any]:
    protocol, compression, http_version, exporter = key
    base = {
        "exporter": exporter,
        "protocol": protocol,
        "compression": compression,
        "http_version": http_version,
        "spans": n,
    }
    kind = sink_kind(protocol, compression, http_version, args)
    try:
        sink = harness.SinkProcess(HERE, tmp, tag, SLOTS, args=[kind], env=harness.clean_env())
    except RuntimeError as e:
        return {**base, "receiver": kind, "error": str(e)}
    proxy = None if args.no_proxy else CountingProxy(sink.port)
    try:
        port = proxy.port if proxy is not None else sink.port
        result = run_worker(key, n, args, sink, kind, port)
    finally:
        wire = proxy.close() if proxy is not None else None
        sink.close()
    result = {**base, **result}
    if wire is not None:
        result["wire"] = wire
    return result


def run_worker(
    key: Key, n: int, args: argparse.Namespace, sink: harness.SinkProcess, kind: str, port: int
) -> dict[str, Any]:
    protocol, compression, http_version, exporter = key
    cmd = harness.worker_cmd(
        HERE,
        exporter=exporter,
        protocol=protocol,
        compression=compression,
        http_version=http_version,
        endpoint=f"http://127.0.0.1:{port}",
        counter=sink.counter_path,
        spans=n,
        batch_size=args.batch_size,
        timeout=args.timeout,
    )
    w = harness.run_worker(cmd, args.timeout + 60, harness.clean_env())
    if w.result is None:
        error = "worker timed out (killed)" if w.timed_out else w.failure()
        return {"error": error, "receiver": kind, "sink": sink.counters.snapshot()}
    result = w.result
    # Let any stragglers/duplicates land, then read the final counts.
    time.sleep(0.2)
    result["receiver"] = kind
    result["sink"] = sink.counters.snapshot()
    result["received"] = result["sink"]["count"]
    rc_error = w.rc_error()
    if rc_error:
        result["error"] = rc_error
    harness.keep_stderr(result, w, args.verbose)
    return result


def body_bytes(r: dict[str, Any]) -> int | None:
    """Request body bytes as sent (after compression), where known."""
    if r["exporter"] == "otlp":
        b: int = r["stats_before_shutdown"]["bytes_sent"]
        return b
    s: dict[str, int] = r["sink"]
    if r["receiver"] in ("http", "hypercorn", "receiver"):
        return s["body_bytes"]  # as received, still compressed
    if r["receiver"] == "grpcio" and r["compression"] == "none":
        # grpcio hands over the message without its 5-byte length prefix.
        return s["payload_bytes"] + 5 * s["requests"]
    return None  # grpcio undid the gzip: the compressed size is not visible there


def http_version_problem(r: dict[str, Any]) -> str | None:
    """Did every request of an OTLP/HTTP cell reach the receiver over the cell's HTTP
    version? (otlp.Receiver reports all its requests as HTTP/2: it speaks nothing else.)"""
    if r["protocol"] == "grpc" or r.get("receiver") not in ("http", "hypercorn", "receiver"):
        return None
    s = r["sink"]
    want = s["requests"] if r["http_version"] == "2" else 0
    if s["h2_requests"] == want:
        return None
    return (
        f"{s['h2_requests']} of {s['requests']} requests arrived over HTTP/2, "
        f"expected {'all' if r['http_version'] == '2' else 'none'}"
    )


def run_ok(r: dict[str, Any]) -> bool:
    if "error" in r or not r.get("complete") or http_version_problem(r):
        return False
    if r["verified"] == "sink":
        ok: bool = r.get("received") == r["spans"]
        return ok
    exported: bool = r["stats_before_shutdown"].get("spans_exported") == r["spans"]
    return exported


def check_run(r: dict[str, Any], i: int) -> list[str]:
    label = f"{r['exporter']} {cell_label(r['protocol'], r['compression'], r['http_version'])} run {i + 1}"
    if "error" in r:
        return [f"{label}: {r['error']}"]
    problems = []
    st = r.get("stats_before_shutdown", {})
    if r["verified"] == "sink" and r.get("received") != r["spans"]:
        problems.append(f"{label}: receiver counted {r.get('received')} spans, expected exactly {r['spans']}")
    if r["verified"] == "stats" and st.get("spans_exported") != r["spans"]:
        problems.append(
            f"{label}: exporter reports {st.get('spans_exported')} spans exported, expected {r['spans']}"
        )
    if not r.get("complete") and not problems:
        problems.append(f"{label}: not complete before the deadline")
    for key in ("spans_dropped", "spans_failed", "spans_rejected"):
        if st.get(key):
            problems.append(
                f"{label}: exporter reports {key}={st[key]} (last_error {st.get('last_error')!r})"
            )
    if r["sink"]["errors"]:
        problems.append(f"{label}: the receiver refused {r['sink']['errors']} requests")
    wrong_version = http_version_problem(r)
    if wrong_version:
        problems.append(f"{label}: {wrong_version}")
    if r.get("wire", {}).get("errors"):
        problems.append(f"{label}: proxy errors {r['wire']['errors']}")
    if not r.get("flush_ok", True):
        problems.append(f"{label}: force_flush returned False")
    return problems


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in runs if run_ok(r)]
    out: dict[str, Any] = {"runs": len(runs), "ok_runs": len(ok)}
    if not ok:
        return out
    rates = [r["spans"] / r["e2e_s"] for r in ok]
    best = min(ok, key=lambda r: r["e2e_s"] / r["spans"])

    def per_span(get: Callable[[dict[str, Any]], int | None]) -> float | None:
        vals = [(get(r), r["spans"]) for r in ok]
        return harness.median_or_none([None if b is None else b / n for b, n in vals])

    out.update(
        spans=ok[0]["spans"],
        receiver=ok[0]["receiver"],
        verified=ok[0]["verified"],
        best_e2e_s=best["e2e_s"],
        best_rate=max(rates),
        median_rate=statistics.median(rates),
        median_create_rate=statistics.median(r["spans"] / r["create_s"] for r in ok),
        wire_up_per_span=per_span(lambda r: r["wire"]["up"] if "wire" in r else None),
        wire_down_per_span=per_span(lambda r: r["wire"]["down"] if "wire" in r else None),
        body_per_span=per_span(body_bytes),
        payload_per_span=per_span(lambda r: r["sink"]["payload_bytes"] or None),
        requests=best["sink"]["requests"],
        h2_requests=best["sink"]["h2_requests"],
        connections=best.get("wire", {}).get("connections"),
        sink_busy_s_median=statistics.median(r["sink"]["busy_ns"] / 1e9 for r in ok),
    )
    return out


def fmt_num(x: float | None, spec: str = ",.0f") -> str:
    return "-" if x is None else format(x, spec)


def fmt_ratio(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}{TIMES}"


def precheck(exporters: list[str], protocols: list[str]) -> tuple[list[str], dict[str, str]]:
    """Exporters that can run here, and the official protocols that cannot (with the reason)."""
    missing: dict[str, str] = {}
    if "otlp" in exporters and not harness.otlp_extension_ok():
        exporters = [e for e in exporters if e != "otlp"]
    if "official" in exporters:
        for p in protocols:
            if p in OFFICIAL_IMPORT and harness.python_error(f"import {OFFICIAL_IMPORT[p]}") is not None:
                missing[p] = f"not installed: pip install {OFFICIAL_PIP[p]}"
    return exporters, missing


def hypercorn_version() -> str | None:
    """hypercorn's version if the receivers' interpreter can import it, else None."""
    r = harness.run_python("import hypercorn.asyncio, importlib.metadata as m; print(m.version('hypercorn'))")
    return (r.stdout.strip() or "?") if r.returncode == 0 else None


def parent_main(args: argparse.Namespace) -> int:
    exporters = ["official", "otlp"] if args.only == "both" else [args.only]
    protocols = args.protocols
    compressions = args.compressions
    http_versions = args.http_versions
    n_for = {
        "official": args.spans_official or args.spans or DEFAULT_SPANS_OFFICIAL,
        "otlp": args.spans_otlp or args.spans or DEFAULT_SPANS_OTLP,
    }
    runnable, official_missing = precheck(exporters, protocols)
    if not runnable:
        return 2
    zstd_http = zstd_decoder() is not None
    out = harness.progress_stream(args.json)

    # (protocol, compression, HTTP version); gRPC has one, HTTP/2.
    cells = [
        (p, c, h) for p in protocols for c in compressions for h in (("2",) if p == "grpc" else http_versions)
    ]
    plan: list[Key] = []
    skipped: dict[Key, str] = {}
    for p, c, h in cells:
        for e in exporters:
            k = (p, c, h, e)
            if e not in runnable:
                skipped[k] = "extension not importable"
            elif e == "official" and (p, c) not in OFFICIAL_SUPPORTS:
                skipped[k] = "n/a"
            elif e == "official" and p != "grpc" and h != "1.1":
                skipped[k] = "n/a (requests: HTTP/1.1 only)"
            elif e == "official" and p in official_missing:
                skipped[k] = official_missing[p]
            elif p == "http/json" and sink_kind(p, c, h, args) == "receiver":
                skipped[k] = H2_OTLP_NO_JSON
            else:
                plan.append(k)

    # hypercorn serves the HTTP/2 cells unless --h2-receiver otlp (and HTTP/1.1 with
    # --http-receiver hypercorn).
    hypercorn: str | None = None
    if any(sink_kind(p, c, h, args) == "hypercorn" for p, c, h, _ in plan):
        hypercorn = hypercorn_version()
        if hypercorn is None:
            if args.http_receiver == "hypercorn":
                print(f"ERROR: --http-receiver hypercorn needs hypercorn ({HYPERCORN_PIP})", file=sys.stderr)
                return 2
            why = f"skipped: hypercorn not installed ({HYPERCORN_PIP})"
            print(f"hypercorn is not installed: the HTTP/2 cells are skipped ({HYPERCORN_PIP})", file=out)
            skipped.update((k, why) for k in plan if sink_kind(*k[:3], args) == "hypercorn")
            plan = [k for k in plan if k not in skipped]

    runs: dict[Key, list[dict[str, Any]]] = {k: [] for k in plan}
    t_start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="otlp-bench-") as tmp:
        # Interleave cells and exporters so slow drift of the machine hits all alike.
        for rep in range(args.repeat):
            for k in plan:
                p, c, h, e = k
                tag = f"{e}-{p.replace('/', '_')}-{c}-h{h}-{rep}"
                res = run_once(k, n_for[e], args, tmp, tag)
                runs[k].append(res)
                head = f"  [{e} {cell_label(p, c, h)} #{rep + 1}]"
                if "error" in res:
                    print(f"{head} ERROR: {res['error']}", file=sys.stderr, flush=True)
                    continue
                wire = res.get("wire")
                wire_txt = (
                    f"wire {wire['up'] / res['spans']:,.1f} B/span up, "
                    f"{wire['down'] / res['spans']:,.1f} down ({wire['connections']} conn)"
                    if wire
                    else "no proxy"
                )
                sink = res["sink"]
                got = (
                    f"{RECEIVER_LABEL[res['receiver']]} counted {res['received']:,}"
                    if res["verified"] == "sink"
                    else f"exporter says {res['stats_before_shutdown']['spans_exported']:,} exported"
                )
                over_h2 = (
                    f" ({sink['h2_requests']} over HTTP/2)"
                    if res["receiver"] == "hypercorn" or (res["receiver"] == "receiver" and p != "grpc")
                    else ""
                )
                # otlp.Receiver decodes in Rust, off the Python clock: no busy time to show.
                busy = "" if res["receiver"] == "receiver" else f" (sink busy {sink['busy_ns'] / 1e9:.3f}s)"
                print(
                    f"{head} {res['spans']:,} spans: e2e {res['e2e_s']:.3f}s "
                    f"({res['spans'] / res['e2e_s']:,.0f}/s), {got} in {sink['requests']} "
                    f"requests{over_h2}, {wire_txt}{busy}",
                    file=out,
                    flush=True,
                )
    elapsed = time.monotonic() - t_start

    summary = {k: summarize(v) for k, v in runs.items()}
    problems = [p for v in runs.values() for i, r in enumerate(v) for p in check_run(r, i)]

    def ok(k: Key) -> bool:
        return bool(summary.get(k, {}).get("ok_runs"))

    # ours / official, per cell the official exporter can be in (no HTTP/2)
    cell_ratios: dict[str, Any] = {}
    if len(exporters) == 2:
        for p, c, h in cells:
            if p != "grpc" and h != "1.1":
                continue
            ko, kn = (p, c, h, "official"), (p, c, h, "otlp")
            if ok(ko) and ok(kn):
                so, sn = summary[ko], summary[kn]
                cell_ratios[cell_label(p, c, h)] = {
                    "throughput_best": ratio(sn["best_rate"], so["best_rate"]),
                    "throughput_median": ratio(sn["median_rate"], so["median_rate"]),
                    "wire_up": ratio(sn["wire_up_per_span"], so["wire_up_per_span"]),
                    "body": ratio(sn["body_per_span"], so["body_per_span"]),
                }
            else:
                reason = skipped.get(ko) or skipped.get(kn)
                cell_ratios[cell_label(p, c, h)] = {"n/a": reason or "no successful run"}

    # otlp over HTTP/2 / otlp over HTTP/1.1, per OTLP/HTTP protocol and compression
    h2_ratios: dict[str, Any] = {}
    if "otlp" in exporters and set(HTTP_VERSIONS) <= set(http_versions):
        for p in protocols:
            if p == "grpc":
                continue
            for c in compressions:
                k1, k2 = (p, c, "1.1", "otlp"), (p, c, "2", "otlp")
                if ok(k1) and ok(k2):
                    s1, s2 = summary[k1], summary[k2]
                    h2_ratios[f"{p}+{c}"] = {
                        "receivers": {"1.1": s1["receiver"], "2": s2["receiver"]},
                        "throughput_best": ratio(s2["best_rate"], s1["best_rate"]),
                        "throughput_median": ratio(s2["median_rate"], s1["median_rate"]),
                        "wire_up": ratio(s2["wire_up_per_span"], s1["wire_up_per_span"]),
                        "wire_down": ratio(s2["wire_down_per_span"], s1["wire_down_per_span"]),
                        "connections": {"1.1": s1["connections"], "2": s2["connections"]},
                    }
                else:
                    reason = skipped.get(k2) or skipped.get(k1)
                    h2_ratios[f"{p}+{c}"] = {"n/a": reason or "no successful run"}

    # each exporter across settings, relative to its own first cell (grpc+none by default)
    across: dict[str, dict[str, Any]] = {}
    for e in exporters:
        ref_key = next(((p, c, h, e) for p, c, h in cells if ok((p, c, h, e))), None)
        if ref_key is None:
            continue
        ref = summary[ref_key]
        across[e] = {"reference": cell_label(*ref_key[:3])}
        for p, c, h in cells:
            if ok((p, c, h, e)):
                s = summary[(p, c, h, e)]
                across[e][cell_label(p, c, h)] = {
                    "throughput_best": ratio(s["best_rate"], ref["best_rate"]),
                    "wire_up": ratio(s["wire_up_per_span"], ref["wire_up_per_span"]),
                }

    meta = {
        "python": sys.version.split()[0],
        "batch_size": args.batch_size,
        "repeat": args.repeat,
        "spans": n_for,
        "proxy": not args.no_proxy,
        "grpc_receiver": args.grpc_receiver,
        "http_versions": http_versions,
        "http_receiver": args.http_receiver,
        "h2_receiver": args.h2_receiver,
        "hypercorn": hypercorn,
        "zstd_http_decoding": zstd_http,
        "elapsed_s": elapsed,
    }
    if args.json:
        print(
            json.dumps(
                {
                    "meta": meta,
                    "summary": [
                        {"protocol": p, "compression": c, "http_version": h, "exporter": e, **summary[k]}
                        for p, c, h in cells
                        for e in exporters
                        if (k := (p, c, h, e)) in summary
                    ],
                    "skipped": [
                        {"protocol": p, "compression": c, "http_version": h, "exporter": e, "reason": why}
                        for (p, c, h, e), why in skipped.items()
                    ],
                    "ratios_otlp_over_official": cell_ratios,
                    "ratios_otlp_http2_over_http11": h2_ratios,
                    "across_settings": across,
                    "problems": problems,
                    "runs": [r for v in runs.values() for r in v],
                },
                indent=2,
            )
        )
    else:
        print_report(args, meta, cells, exporters, summary, skipped, cell_ratios, h2_ratios, across)

    return harness.report_problems(
        "COUNT / RUN PROBLEMS (failed runs are left out of the summary):", problems
    )


def variant_label(protocol: str, http_version: str) -> str:
    return protocol if protocol == "grpc" else f"{protocol} HTTP/{http_version}"


def print_report(
    args: argparse.Namespace,
    meta: dict[str, Any],
    cells: list[tuple[str, str, str]],
    exporters: list[str],
    summary: dict[Key, dict[str, Any]],
    skipped: dict[Key, str],
    cell_ratios: dict[str, Any],
    h2_ratios: dict[str, Any],
    across: dict[str, dict[str, Any]],
) -> None:
    print()
    print(
        f"transport benchmark: 5 attributes/span, batch={args.batch_size}, repeat={args.repeat}, "
        f"python {meta['python']}, {meta['elapsed_s']:.0f}s"
    )
    print(
        "wire = TCP payload bytes through the counting proxy (client->server; 'down' = server->client)"
        if meta["proxy"]
        else "no proxy (--no-proxy): wire bytes not measured"
    )
    print("body = request bodies as sent (compressed); payload = decoded request (protobuf or JSON)")
    if any(p != "grpc" for p, _, _ in cells):
        h2_rx = RECEIVER_LABEL["receiver" if args.h2_receiver == "otlp" else "hypercorn"]
        print(
            f"http = HTTP version (gRPC: always 2); OTLP/HTTP receivers: HTTP/1.1 on {args.http_receiver} "
            f"(--http-receiver), HTTP/2 on {h2_rx} (--h2-receiver; h2c, prior knowledge)"
        )
    hdr = (
        f"{'protocol':<13} {'http':<4} {'compr':<5} {'exporter':<8} {'receiver':<13} {'spans':>7} "
        f"{'spans/s best':>12} {'spans/s med':>11} {'wire B/span':>11} {'down':>6} "
        f"{'body B/span':>11} {'payload':>7} {'req':>4} {'conn':>4} {'sink busy':>9}  counted by"
    )
    print(hdr)
    print("-" * len(hdr))
    for p, c, h in cells:
        for e in exporters:
            k = (p, c, h, e)
            head = f"{p:<13} {h:<4} {c:<5} {e:<8}"
            if k in skipped:
                print(f"{head} {skipped[k]}")
                continue
            s = summary.get(k, {})
            if not s.get("ok_runs"):
                print(f"{head} (no successful run)")
                continue
            # otlp.Receiver decodes in Rust, off the Python clock: no busy time to show.
            busy = "-" if s["receiver"] == "receiver" else f"{s['sink_busy_s_median']:.2f}s"
            print(
                f"{head} {RECEIVER_LABEL[s['receiver']]:<13} {s['spans']:>7,} "
                f"{fmt_num(s['best_rate']):>12} {fmt_num(s['median_rate']):>11} "
                f"{fmt_num(s['wire_up_per_span'], ',.1f'):>11} {fmt_num(s['wire_down_per_span'], ',.1f'):>6} "
                f"{fmt_num(s['body_per_span'], ',.1f'):>11} {fmt_num(s['payload_per_span'], ',.0f'):>7} "
                f"{s['requests']:>4} {fmt_num(s['connections'], 'd'):>4} {busy:>9}  "
                + ("receiver" if s["verified"] == "sink" else "exporter stats (no zstd decoder)")
            )

    if cell_ratios:
        print_ratios(cell_ratios)
    if h2_ratios:
        print_h2_ratios(h2_ratios)
    for e, table in across.items():
        if len(table) <= 2:  # the reference alone: nothing to compare
            continue
        print()
        print(
            f"{e} across settings, relative to its own {table['reference']}: "
            f"spans/s best {TIMES} / wire B/span {TIMES}"
        )
        comps = list(dict.fromkeys(c for _, c, _ in cells))
        print(f"{'protocol':<22} " + " ".join(f"{c:>17}" for c in comps))
        for p, h in dict.fromkeys((p, h) for p, _, h in cells):
            row = []
            for c in comps:
                v = table.get(cell_label(p, c, h))
                row.append(
                    "-" if v is None else f"{fmt_ratio(v['throughput_best'])} / {fmt_ratio(v['wire_up'])}"
                )
            if any(x != "-" for x in row):
                print(f"{variant_label(p, h):<22} " + " ".join(f"{x:>17}" for x in row))

    notes = []
    on_receiver = {k[0] for k, s in summary.items() if s.get("receiver") == "receiver"}
    if args.grpc_receiver == "grpcio" and "grpc" in on_receiver:
        notes.append(
            "grpc+zstd goes to otlp.Receiver (Rust; grpcio and rotel refuse zstd), so its spans/s "
            "is not comparable with the grpcio rows (--grpc-receiver otlp puts every gRPC cell on it)."
        )
    if "http/protobuf" in on_receiver:
        notes.append(
            "the HTTP/2 OTLP/HTTP rows ran on otlp.Receiver (Rust, --h2-receiver otlp): their spans/s "
            "is not comparable with the rows on Python receivers (http.server, hypercorn, grpcio)"
            + (
                "; the gRPC rows are on otlp.Receiver too, so gRPC vs HTTP/2 is like-for-like here."
                if args.grpc_receiver == "otlp"
                else ". --grpc-receiver otlp puts gRPC on it too, for a like-for-like gRPC vs HTTP/2."
            )
        )
    python_zstd = [
        (p, c, h)
        for p, c, h in cells
        if c == "zstd" and p != "grpc" and sink_kind(p, c, h, args) in ("http", "hypercorn")
    ]
    if not meta["zstd_http_decoding"] and python_zstd:
        notes.append(
            "http+zstd bodies are counted but not decoded (pip install zstandard to decode them): "
            "spans are checked against otlp's stats()['spans_exported'], and the receiver does no "
            "decoding work there, which flatters spans/s."
        )
    for note in notes:
        print("note: " + note)


def print_ratios(cell_ratios: dict[str, Any]) -> None:
    print()
    print("ratios otlp/official (spans/s: higher is better; bytes: lower is fewer bytes for otlp)")
    rh = f"{'cell':<30} {'spans/s best':>12} {'spans/s med':>11} {'wire B/span':>11} {'body':>7}"
    print(rh)
    print("-" * len(rh))
    for label, r in cell_ratios.items():
        if "n/a" in r:
            why = r["n/a"]
            print(
                f"{label:<30} " + ("n/a (the official exporter has no such setting)" if why == "n/a" else why)
            )
            continue
        print(
            f"{label:<30} {fmt_ratio(r['throughput_best']):>12} {fmt_ratio(r['throughput_median']):>11} "
            f"{fmt_ratio(r['wire_up']):>11} {fmt_ratio(r['body']):>7}"
        )


def print_h2_ratios(h2_ratios: dict[str, Any]) -> None:
    print()
    print(
        "ratios otlp HTTP/2 / otlp HTTP/1.1 (spans/s: higher is better for HTTP/2; "
        "bytes per span: lower is fewer bytes with HTTP/2)"
    )
    rh = (
        f"{'cell':<22} {'receivers 1.1 / 2':<27} {'spans/s best':>12} {'spans/s med':>11} "
        f"{'wire B/span':>11} {'down':>7} {'conn 1.1 / 2':>12}"
    )
    print(rh)
    print("-" * len(rh))
    mixed = False
    for label, r in h2_ratios.items():
        if "n/a" in r:
            print(f"{label:<22} {r['n/a']}")
            continue
        rx = r["receivers"]
        mixed |= rx["1.1"] != rx["2"]
        conn = r["connections"]
        print(
            f"{label:<22} {RECEIVER_LABEL[rx['1.1']] + ' / ' + RECEIVER_LABEL[rx['2']]:<27} "
            f"{fmt_ratio(r['throughput_best']):>12} {fmt_ratio(r['throughput_median']):>11} "
            f"{fmt_ratio(r['wire_up']):>11} {fmt_ratio(r['wire_down']):>7} "
            f"{fmt_num(conn['1.1'], 'd') + ' / ' + fmt_num(conn['2'], 'd'):>12}"
        )
    if mixed:
        pairs = sorted(
            {
                (RECEIVER_LABEL[r["receivers"]["1.1"]], RECEIVER_LABEL[r["receivers"]["2"]])
                for r in h2_ratios.values()
                if "receivers" in r and r["receivers"]["1.1"] != r["receivers"]["2"]
            }
        )
        ran = ", ".join(f"HTTP/1.1 on {a} and HTTP/2 on {b}" for a, b in pairs)
        hint = (
            "--http-receiver hypercorn --h2-receiver hypercorn puts both on hypercorn."
            if any(b != "hypercorn" for _, b in pairs)
            else "--http-receiver hypercorn puts HTTP/1.1 on hypercorn as well."
        )
        print(
            f"note: {ran}: spans/s and down bytes (response headers, HTTP/2 WINDOW_UPDATEs) compare the "
            f"receivers too; up bytes hardly depend on them. {hint}"
        )


def csv_choice(allowed: tuple[str, ...]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        items = [x.strip() for x in text.split(",") if x.strip()]
        bad = [x for x in items if x not in allowed]
        if bad or not items:
            raise argparse.ArgumentTypeError(f"choose from {', '.join(allowed)} (comma-separated)")
        return list(dict.fromkeys(items))

    return parse


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_sink"]:
        return sink_main(argv[1], argv[2])  # counter file, receiver kind
    if argv[:1] == ["_worker"]:
        p = argparse.ArgumentParser(prog="transport.py _worker")
        p.add_argument("--exporter", required=True, choices=["official", "otlp"])
        p.add_argument("--protocol", required=True, choices=PROTOCOLS)
        p.add_argument("--compression", required=True, choices=COMPRESSIONS)
        p.add_argument("--http-version", choices=HTTP_VERSIONS, default="1.1")
        p.add_argument("--endpoint", required=True)
        p.add_argument("--counter", required=True)
        p.add_argument("--spans", type=int, required=True)
        p.add_argument("--batch-size", type=int, default=512)
        p.add_argument("--timeout", type=float, default=120.0)
        return worker_main(p.parse_args(argv[1:]))

    p = argparse.ArgumentParser(
        description="OTLP trace export over every protocol, compression and HTTP version: wire bytes "
        "and throughput, otlp vs the official exporters."
    )
    p.add_argument("--only", choices=["both", "official", "otlp"], default="both")
    p.add_argument(
        "--protocols",
        type=csv_choice(PROTOCOLS),
        default=list(PROTOCOLS),
        help="comma-separated (default grpc,http/protobuf,http/json)",
    )
    p.add_argument(
        "--compressions",
        type=csv_choice(COMPRESSIONS),
        default=list(COMPRESSIONS),
        help="comma-separated (default none,gzip,zstd)",
    )
    p.add_argument(
        "--http-versions",
        type=csv_choice(HTTP_VERSIONS),
        default=list(HTTP_VERSIONS),
        help="HTTP versions of the http/* cells, comma-separated (default 1.1,2). HTTP/2 runs otlp only "
        "(http_version='2', h2c) on the --h2-receiver; on hypercorn it is skipped if hypercorn is not "
        "installed. gRPC always runs on HTTP/2",
    )
    p.add_argument(
        "--http-receiver",
        choices=HTTP_RECEIVERS,
        default="http.server",
        help="receiver for the HTTP/1.1 cells, both exporters: http.server (default) or hypercorn, "
        "the default HTTP/2 receiver, for a like-for-like HTTP/1.1 vs HTTP/2 comparison",
    )
    p.add_argument(
        "--h2-receiver",
        choices=H2_RECEIVERS,
        default="hypercorn",
        help="receiver for the HTTP/2 cells: hypercorn (default; Python h2 stack) or otlp "
        "(otlp.Receiver, Rust, counts protobuf only: http/json HTTP/2 is then skipped). With "
        "--grpc-receiver otlp, gRPC and OTLP/HTTP over HTTP/2 run on the same receiver",
    )
    p.add_argument("--spans", type=int, default=None, help="spans per run for both exporters")
    p.add_argument(
        "--spans-official",
        type=int,
        default=None,
        help=f"spans per run for the official exporters (default {DEFAULT_SPANS_OFFICIAL:,})",
    )
    p.add_argument(
        "--spans-otlp",
        type=int,
        default=None,
        help=f"spans per run for otlp (default {DEFAULT_SPANS_OTLP:,})",
    )
    p.add_argument("--repeat", type=int, default=3, help="runs per exporter and cell (default 3)")
    p.add_argument("--batch-size", type=int, default=512, help="max_export_batch_size (default 512)")
    p.add_argument("--timeout", type=float, default=120.0, help="deadline per run, seconds (default 120)")
    p.add_argument(
        "--grpc-receiver",
        choices=["grpcio", "otlp"],
        default="grpcio",
        help="receiver for gRPC none/gzip: grpcio (default) or otlp.Receiver, which zstd always uses",
    )
    p.add_argument("--no-proxy", action="store_true", help="connect straight to the receiver (no wire bytes)")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of the tables")
    p.add_argument("-v", "--verbose", action="store_true", help="keep worker stderr in the JSON runs")
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error("--repeat must be >= 1")
    return parent_main(args)


if __name__ == "__main__":
    sys.exit(main())
