"""The embedded receiver (``_native.Receiver``) against real clients and hostile ones.

Real peers: the official OpenTelemetry OTLP exporters (gRPC, and HTTP/protobuf, which
speaks HTTP/1.1) and ``otlp``'s own exporter over every protocol and compression; what
they send must be what ``take()`` gives back. Hostile peers are raw sockets: garbage,
truncated and oversized requests get the right status and the receiver keeps serving;
connections that send nothing, or too slowly, are closed within the limits; a
decompression bomb is refused with the process's peak memory under a stated bound.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import random
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import grpc
import h2.connection
import h2.events
import pytest
import requests
import zstandard
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

import otlp
from otlp import _native

TRACE_PATH = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


@pytest.fixture
def receiver() -> Iterator[_native.Receiver]:
    rx = _native.Receiver("127.0.0.1:0", "127.0.0.1:0", keep=1000)
    try:
        yield rx
    finally:
        rx.stop()


def trace_request(*names: str) -> bytes:
    req = ExportTraceServiceRequest()
    spans = req.resource_spans.add().scope_spans.add()
    for i, name in enumerate(names):
        span = spans.spans.add()
        span.name = name
        span.trace_id = bytes([i + 1]) * 16
        span.span_id = bytes([i + 1]) * 8
    return req.SerializeToString()


def span_names(signal: str, fmt: str, body: bytes) -> list[str]:
    assert signal == "traces"
    if fmt == "json":
        doc = json.loads(body)
        return [s["name"] for rs in doc["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]]
    req = ExportTraceServiceRequest.FromString(body)
    return [s.name for rs in req.resource_spans for ss in rs.scope_spans for s in ss.spans]


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def address(endpoint: str) -> tuple[str, int]:
    host, port = endpoint.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def raw_http(endpoint: str, request: bytes, timeout: float = 10.0) -> tuple[int, bytes]:
    """Send ``request`` bytes as they are; the status and everything read until close."""
    with socket.create_connection(address(endpoint), timeout=timeout) as s:
        # The receiver may answer and close before it has read everything.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, OSError):
            s.sendall(request)
            s.shutdown(socket.SHUT_WR)
        data = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := s.recv(65536):
                data += chunk
    assert data.startswith(b"HTTP/1.1 "), data[:100]
    return int(data[9:12]), data


def raw_grpc(endpoint: str, body: bytes, encoding: str, timeout: float = 30.0) -> int:
    """One gRPC call to the trace service over HTTP/2 (h2c) whose message is ``body``
    as it is, flagged compressed with ``encoding``; the grpc-status answered."""
    message = b"\x01" + len(body).to_bytes(4, "big") + body
    with socket.create_connection(address(endpoint), timeout=timeout) as sock:
        conn = h2.connection.H2Connection()
        conn.initiate_connection()
        conn.send_headers(
            1,
            [
                (":method", "POST"),
                (":scheme", "http"),
                (":path", TRACE_PATH),
                (":authority", "x"),
                ("content-type", "application/grpc"),
                ("te", "trailers"),
                ("grpc-encoding", encoding),
            ],
        )
        sock.sendall(conn.data_to_send())
        sent, status = 0, None
        deadline = time.monotonic() + timeout
        while status is None:
            assert time.monotonic() < deadline, "no grpc-status in time"
            # Send what flow control allows, then read what the receiver says.
            window = min(conn.local_flow_control_window(1), conn.max_outbound_frame_size)
            if sent < len(message) and window > 0:
                chunk = message[sent : sent + window]
                sent += len(chunk)
                conn.send_data(1, chunk, end_stream=sent == len(message))
                sock.sendall(conn.data_to_send())
                continue
            data = sock.recv(65536)
            assert data, "connection closed without a grpc-status"
            for event in conn.receive_data(data):
                headers = getattr(event, "headers", None) or []
                for k, v in headers:
                    if k in (b"grpc-status", "grpc-status"):
                        status = int(v)
                if isinstance(event, h2.events.StreamReset) and status is None:
                    raise AssertionError(f"stream reset with no grpc-status: {event}")
            sock.sendall(conn.data_to_send())
        return status


def post(path: str, body: bytes, **headers: str) -> bytes:
    head = "".join(f"{k.replace('_', '-')}: {v}\r\n" for k, v in headers.items())
    return f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-length: {len(body)}\r\n{head}\r\n".encode() + body


# Real peers


@pytest.mark.timeout(60)
def test_official_exporters_deliver_over_grpc_and_http1(receiver) -> None:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpans
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogs
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetrics
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpans
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    exporters = {
        "grpc": GrpcSpans(endpoint=receiver.endpoint, insecure=True),
        "http": HttpSpans(endpoint=receiver.http_endpoint + "/v1/traces"),
        "http-gzip": HttpSpans(
            endpoint=receiver.http_endpoint + "/v1/traces",
            compression=Compression.Gzip,
        ),
    }
    for name, exporter in exporters.items():
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        for i in range(3):
            provider.get_tracer("t").start_span(f"{name}-{i}").end()
        provider.shutdown()
    meters = MeterProvider(
        metric_readers=[
            PeriodicExportingMetricReader(
                HttpMetrics(endpoint=receiver.http_endpoint + "/v1/metrics"), export_interval_millis=3_600_000
            )
        ]
    )
    meters.get_meter("m").create_counter("requests.served").add(3)
    meters.shutdown()
    logs = LoggerProvider()
    logs.add_log_record_processor(
        SimpleLogRecordProcessor(HttpLogs(endpoint=receiver.http_endpoint + "/v1/logs"))
    )
    logs.get_logger("l").emit(body="hello from the official exporter")
    logs.shutdown()

    taken = receiver.take()
    names = sorted(n for sig, fmt, body in taken if sig == "traces" for n in span_names(sig, fmt, body))
    assert names == sorted(f"{e}-{i}" for e in exporters for i in range(3))
    [log] = [ExportLogsServiceRequest.FromString(b) for sig, _, b in taken if sig == "logs"]
    assert (
        log.resource_logs[0].scope_logs[0].log_records[0].body.string_value
        == "hello from the official exporter"
    )
    [metrics] = [ExportMetricsServiceRequest.FromString(b) for sig, _, b in taken if sig == "metrics"]
    [metric] = metrics.resource_metrics[0].scope_metrics[0].metrics
    assert (metric.name, metric.sum.data_points[0].as_int) == ("requests.served", 3)
    counts = receiver.counts()
    assert (counts["spans"], counts["metrics"], counts["log_records"], counts["errors"]) == (9, 1, 1, 0), (
        counts
    )


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("protocol", "http_version"),
    [
        ("grpc", "auto"),
        ("http/protobuf", "1.1"),
        ("http/protobuf", "2"),
        ("http/json", "1.1"),
        ("http/json", "2"),
    ],
)
@pytest.mark.parametrize("compression", ["none", "gzip", "zstd"])
def test_otlp_exporter_delivers_over_every_protocol_and_compression(
    receiver, protocol, http_version, compression
) -> None:
    endpoint = receiver.endpoint if protocol == "grpc" else receiver.http_endpoint
    with otlp.Exporter(
        endpoint, protocol=protocol, compression=compression, http_version=http_version
    ) as exp:
        tracer = exp.tracer("t")
        for i in range(50):
            tracer.start_span(f"op-{i}").end()
        assert exp.force_flush(timeout=10.0)
    taken = receiver.take()
    fmt = "json" if protocol == "http/json" else "protobuf"
    assert {f for _, f, _ in taken} == {fmt}
    names = sorted(n for sig, f, body in taken for n in span_names(sig, f, body))
    assert names == sorted(f"op-{i}" for i in range(50))
    counts = receiver.counts()
    assert counts["errors"] == 0 and counts["spans"] == 50
    # Told apart, as the benchmarks need to check the HTTP version a cell used.
    assert counts["http1_requests"] == (counts["requests"] if http_version == "1.1" else 0)


def test_take_keeps_at_most_keep_requests_and_counts_the_rest() -> None:
    rx = _native.Receiver("127.0.0.1:0", keep=2)
    try:
        for i in range(3):
            assert (
                raw_http(
                    rx.endpoint,
                    post("/v1/traces", trace_request(f"s{i}"), content_type="application/x-protobuf"),
                )[0]
                == 200
            )
        taken = rx.take()
        assert [span_names(*t) for t in taken] == [["s0"], ["s1"]]
        assert rx.counts()["dropped"] == 1 and rx.counts()["spans"] == 3
        assert rx.take() == []
    finally:
        rx.stop()


# Hostile clients


def test_malformed_http_requests_get_the_right_status_and_the_receiver_keeps_serving(receiver) -> None:
    ep = receiver.http_endpoint
    good = trace_request("ok")
    pb = {"content_type": "application/x-protobuf"}
    cases = [
        (b"\x16\x03\x01\x02\x00garbage that is not HTTP at all\r\n\r\n", 400),
        (b"GET /v1/traces HTTP/1.1\r\nhost: x\r\n\r\n", 405),
        (post("/v1/nothing", good, **pb), 404),
        (post("/v1/traces", good, content_type="text/plain"), 415),
        (post("/v1/traces", good, content_encoding="br", **pb), 415),
        (post("/v1/traces", b"\xff\xff\xff\xff", **pb), 400),
        (post("/v1/traces", gzip.compress(good)[:-9], content_encoding="gzip", **pb), 400),
        (post("/v1/traces", b"not zstd", content_encoding="zstd", **pb), 400),
        (b"POST /v1/traces HTTP/1.1\r\nhost: x\r\ncontent-length: 99999999999\r\n\r\n", 413),
        (b"POST /v1/traces HTTP/1.1\r\nhost: x\r\n\r\n", 411),
        (b"POST /v1/traces HTTP/1.1\r\ntransfer-encoding: gzip\r\n\r\n", 400),
        (
            b"POST /v1/traces HTTP/1.1\r\ntransfer-encoding: chunked\r\ncontent-length: 5\r\n\r\n0\r\n\r\n",
            400,
        ),
        (b"POST /v1/traces HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n", 400),
        (b"POST /v1/traces HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n", 400),
        (b"POST /v1/traces HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n1000001\r\n", 413),
        (b"POST /v1/traces HTTP/1.1\r\n" + b"x-pad: " + b"a" * 20000 + b"\r\n\r\n", 431),
    ]
    for request, status in cases:
        got, answer = raw_http(ep, request)
        assert got == status, (request[:60], answer)
    # JSON requests get JSON errors; a body cut short by the client is never answered 200.
    got, answer = raw_http(
        ep, post("/v1/traces", b"\xff", content_type="application/json", content_encoding="gzip")
    )
    assert got == 400 and json.loads(answer.split(b"\r\n\r\n", 1)[1])["code"] == 3
    # A JSON body that is not an export request is refused, as a protobuf one is.
    for body in (
        b"{",
        b'{"resourceSpans": 7}',
        b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":"x"}]}]}]}',
    ):
        got, answer = raw_http(ep, post("/v1/traces", body, content_type="application/json"))
        assert got == 400 and json.loads(answer.split(b"\r\n\r\n", 1)[1])["code"] == 3, body
    assert raw_http(ep, post("/v1/traces", good, **pb)[:-3])[0] != 200
    # A chunked body is read chunk by chunk, trailers and all.
    chunked = b"".join(
        b"%x;ext=1\r\n%s\r\n" % (len(good[i : i + 7]), good[i : i + 7]) for i in range(0, len(good), 7)
    )
    head = b"POST /v1/traces HTTP/1.1\r\ncontent-type: application/x-protobuf\r\ntransfer-encoding: chunked\r\n\r\n"
    assert raw_http(ep, head + chunked + b"0\r\nx-trailer: 1\r\n\r\n")[0] == 200
    # as requests sends a body it is given piece by piece.
    pieces = iter([good[:10], good[10:]])
    assert requests.post(
        ep + "/v1/traces", data=pieces, headers={"content-type": "application/x-protobuf"}
    ).ok
    # Still serving, on both listeners, over a keep-alive connection.
    session = requests.Session()
    for url in (receiver.endpoint, ep):
        for _ in range(3):
            assert (
                session.post(
                    url + "/v1/traces", data=good, headers={"content-type": "application/x-protobuf"}
                ).status_code
                == 200
            )
    assert receiver.counts()["spans"] == 8


def test_garbage_after_the_http2_preface_closes_only_that_connection(receiver) -> None:
    with socket.create_connection(address(receiver.endpoint), timeout=10) as s:
        # A frame header of a 16 MiB "DATA" frame on stream 0 where SETTINGS must come.
        s.sendall(
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\xff\xff\xff\x00\x00\x00\x00\x00\x00" + b"\xab" * 4096
        )
        with contextlib.suppress(ConnectionResetError):
            while s.recv(65536):
                pass
    ok = post("/v1/traces", trace_request("after"), content_type="application/x-protobuf")
    assert raw_http(receiver.endpoint, ok)[0] == 200


@pytest.mark.timeout(120)
def test_fuzzed_http_requests_get_an_error_status_never_a_crash(receiver) -> None:
    """A bounded fuzz run: valid requests with their body cut, bytes flipped, or their
    compression claimed wrongly, and random bytes; every answer is a status the
    request deserves, and the receiver serves a good request after each."""
    rng = random.Random(13)
    good = trace_request("a", "b", "c")
    encoded = {
        "gzip": gzip.compress(good),
        "zstd": zstandard.ZstdCompressor().compress(good),
        "identity": good,
    }
    for _ in range(200):
        encoding = rng.choice(list(encoded))
        body = bytearray(encoded[encoding])
        mutation = rng.choice(["cut", "flip", "claim", "random"])
        if mutation == "cut":
            del body[rng.randrange(len(body)) :]
        elif mutation == "flip":
            for _ in range(rng.randint(1, 4)):
                body[rng.randrange(len(body))] ^= 1 << rng.randrange(8)
        elif mutation == "claim":
            encoding = rng.choice([e for e in encoded if e != encoding])
        if mutation == "random":
            request = rng.randbytes(rng.randint(1, 300))
            allowed = {400, 404, 405, 411, 413, 415, 431, None}
        else:
            request = post(
                "/v1/traces", bytes(body), content_type="application/x-protobuf", content_encoding=encoding
            )
            allowed = {200, 400}
        try:
            status: int | None = raw_http(receiver.http_endpoint, request, timeout=5)[0]
        except AssertionError:
            status = None  # closed without an answer: random bytes that never end a head
        except TimeoutError:
            status = None if mutation == "random" else -1
        assert status in allowed, (mutation, encoding, request[:80])
    assert (
        raw_http(receiver.http_endpoint, post("/v1/traces", good, content_type="application/x-protobuf"))[0]
        == 200
    )


@pytest.mark.timeout(120)
def test_fuzzed_grpc_messages_get_a_grpc_status_never_a_crash(receiver) -> None:
    """The same over gRPC: compressed messages cut, with bytes flipped, or decompressed
    with the wrong algorithm; each answer is OK or INVALID_ARGUMENT, then a good call
    is still served."""
    rng = random.Random(17)
    good = trace_request("a", "b", "c")
    compress = {"gzip": gzip.compress, "zstd": zstandard.ZstdCompressor().compress}
    answered: dict[int, int] = {}
    for _ in range(100):
        encoding = rng.choice(list(compress))
        body = bytearray(compress[encoding](good))
        mutation = rng.choice(["cut", "flip", "claim"])
        if mutation == "cut":
            del body[rng.randrange(len(body)) :]
        elif mutation == "flip":
            for _ in range(rng.randint(1, 4)):
                body[rng.randrange(len(body))] ^= 1 << rng.randrange(8)
        else:
            encoding = "zstd" if encoding == "gzip" else "gzip"
        status = raw_grpc(receiver.endpoint, bytes(body), encoding, timeout=10)
        assert status in (0, grpc.StatusCode.INVALID_ARGUMENT.value[0]), (mutation, encoding, status)
        answered[status] = answered.get(status, 0) + 1
    assert answered.get(grpc.StatusCode.INVALID_ARGUMENT.value[0], 0) > 50, answered
    assert raw_grpc(receiver.endpoint, gzip.compress(good), "gzip") == 0


def test_malformed_grpc_calls_get_the_right_status(receiver) -> None:
    with grpc.insecure_channel(receiver.endpoint.removeprefix("http://")) as channel:
        call = channel.unary_unary(TRACE_PATH, request_serializer=None, response_deserializer=None)
        for message, code in [
            (b"\xff\xff\xff", grpc.StatusCode.INVALID_ARGUMENT),
            (trace_request("a") + b"\x0a", grpc.StatusCode.INVALID_ARGUMENT),
        ]:
            with pytest.raises(grpc.RpcError) as e:
                call(message, timeout=10)
            assert e.value.code() == code
        unknown = channel.unary_unary(
            "/opentelemetry.Nothing/Export", request_serializer=None, response_deserializer=None
        )
        with pytest.raises(grpc.RpcError) as e:
            unknown(b"", timeout=10)
        assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
        assert call(trace_request("fine"), timeout=10) == b""
    assert receiver.counts()["spans"] == 1


@pytest.mark.timeout(60)
def test_held_open_and_slow_connections_are_closed_within_the_limits() -> None:
    rx = _native.Receiver("127.0.0.1:0", handshake_timeout=0.5, idle_timeout=0.5, request_timeout=0.5)
    with contextlib.ExitStack() as stack:
        stack.callback(rx.stop)

        def connect(first: bytes) -> socket.socket:
            sock = stack.enter_context(socket.create_connection(address(rx.endpoint)))
            sock.sendall(first)
            return sock

        def read_to_close(sock: socket.socket) -> bytes:
            """What the receiver sent before closing (a timeout, failing the test, after 5 s)."""
            sock.settimeout(5.0)
            data = b""
            with contextlib.suppress(ConnectionResetError):
                while chunk := sock.recv(65536):
                    data += chunk
            return data

        # Silent, a head that never ends, a body that stalls, idle after a request;
        # HTTP/2: half a preface, and a preface and empty SETTINGS then half a frame
        # header. Each is closed in about its timeout (the stalled body answered 408).
        silent = connect(b"")
        head = connect(b"POST /v1/traces HTTP/1.1\r\nhost: x\r\n")
        stalled = connect(b"POST /v1/traces HTTP/1.1\r\ncontent-length: 100\r\n\r\nabc")
        idle = connect(post("/v1/traces", trace_request("x"), content_type="application/x-protobuf"))
        half_preface = connect(b"PRI * HTTP/2.0\r\n")
        half_frame = connect(
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0]) + b"\x00\x00"
        )
        for sock in (silent, head, idle, half_preface, half_frame):
            read_to_close(sock)
        assert read_to_close(stalled).startswith(b"HTTP/1.1 408")


def test_connections_beyond_max_connections_are_closed_at_once_and_slots_come_back() -> None:
    rx = _native.Receiver("127.0.0.1:0", max_connections=4, handshake_timeout=5.0)
    try:
        addr = address(rx.endpoint)
        held = [socket.create_connection(addr) for _ in range(4)]
        extra = socket.create_connection(addr)
        extra.settimeout(5.0)
        start = time.monotonic()
        try:
            while extra.recv(65536):
                pass
        except ConnectionResetError:
            pass
        # Not kept waiting for the 5 s a held connection has to say something.
        assert time.monotonic() - start < 2.5
        for sock in [*held, extra]:
            sock.close()
        deadline = time.monotonic() + 10
        while True:
            try:
                status = raw_http(
                    rx.endpoint, post("/v1/traces", trace_request("y"), content_type="application/x-protobuf")
                )[0]
            except (ConnectionResetError, AssertionError):
                status = 0
            if status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert status == 200
    finally:
        rx.stop()


# A server process of its own, so that its peak memory is its own.
_BOMB_SERVER = textwrap.dedent(
    """
    import sys
    from otlp import _native
    rx = _native.Receiver("127.0.0.1:0", "127.0.0.1:0")
    print(rx.endpoint, rx.http_endpoint, flush=True)
    sys.stdin.read()
    print(rx.counts(), flush=True)
    """
)


def peak_rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@pytest.mark.timeout(120)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/PID/status")
def test_a_decompression_bomb_is_refused_with_memory_bounded() -> None:
    # 4 GiB of zeros as zstd: 64 copies of a frame of 64 MiB (a zstd body may hold
    # many frames), 2 KiB compressed each; and 1 GiB of zeros as gzip (about 1 MiB).
    frame = zstandard.ZstdCompressor(level=3).compress(bytes(64 << 20))
    zstd_bomb = frame * 64
    z = __import__("zlib").compressobj(9, wbits=31)
    chunk = bytes(1 << 20)
    gzip_bomb = b"".join(z.compress(chunk) for _ in range(1024)) + z.flush()
    assert len(zstd_bomb) < 1 << 20 and len(gzip_bomb) < 2 << 20
    with subprocess.Popen(
        [sys.executable, "-c", _BOMB_SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as proc:
        try:
            assert proc.stdout is not None and proc.stdin is not None
            grpc_ep, http_ep = proc.stdout.readline().split()
            baseline = peak_rss_mib(proc.pid)
            pb = {"content_type": "application/x-protobuf"}
            # Over and over, on both listeners (the gRPC bomb is a test of the crate).
            for _ in range(3):
                for bomb, encoding in [(zstd_bomb, "zstd"), (gzip_bomb, "gzip")]:
                    for ep in (http_ep, grpc_ep):
                        status, answer = raw_http(
                            ep, post("/v1/traces", bomb, content_encoding=encoding, **pb)
                        )
                        assert status == 413, answer
                    # And as a gRPC message flagged compressed: RESOURCE_EXHAUSTED.
                    assert raw_grpc(grpc_ep, bomb, encoding) == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
            # Still serving afterwards.
            assert raw_http(http_ep, post("/v1/traces", trace_request("after"), **pb))[0] == 200
            assert raw_grpc(grpc_ep, gzip.compress(trace_request("after")), "gzip") == 0
            peak = peak_rss_mib(proc.pid)
        finally:
            if proc.stdin is not None:
                proc.stdin.close()
            proc.wait(10)
    # The bound: the 64 MiB decompressed-size limit once (one runtime thread decodes),
    # plus the bodies as received (2 MiB each), far below the 4 GiB the bombs expand to.
    print(f"peak RSS {peak:.0f} MiB, {baseline:.0f} MiB before the bombs")
    assert peak < baseline + 100, f"peak RSS {peak:.0f} MiB, {baseline:.0f} MiB before the bombs"
