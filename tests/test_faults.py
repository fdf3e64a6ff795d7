"""Fault matrix: what the exporter retries, how long it waits, and that every span ends
up delivered or counted with its reason, whatever the collector does.

Peers: the grpcio reference sink (status codes 1..16), a grpcio collector of our own for
``RetryInfo`` and restarts on the same port, and socket-level servers (``peers/faults.py``)
for HTTP statuses, ``Retry-After``, bare HTTP/2 answers, RST_STREAM, GOAWAY, connection
resets, garbage bytes and stalls. OTLP/HTTP runs over HTTP/1.1 and, as protocol id
``"http/protobuf+h2"`` (``http_version="2"``), over HTTP/2 with prior knowledge. Retry
rules: /work/shared/PROTOCOL.md (OTLP spec, "Failures"; gRPC
``doc/http-grpc-status-mapping.md``).

"Received" means acknowledged by the server (answered with success): a request the
server read but did not acknowledge is the exporter's to retry or count.
"""

from __future__ import annotations

import threading
import time
from email.utils import formatdate

import pytest
from peers.faults import (
    CANCEL,
    ENHANCE_YOUR_CALM,
    INTERNAL_ERROR,
    REFUSED_STREAM,
    GrpcFaultServer,
    H2FaultServer,
    HttpFaultServer,
    SilentServer,
    grpc_retry_info_status,
)

import otlp

# Scheduling slack allowed when checking that a server-requested delay was honoured.
TOL = 0.05
N = 12  # spans per scenario

# gRPC status codes 1..16 and whether the OTLP spec allows retrying them
# (RESOURCE_EXHAUSTED only with RetryInfo, which the reference sink never sends).
GRPC_CODES = [
    ("CANCELLED", True),
    ("UNKNOWN", False),
    ("INVALID_ARGUMENT", False),
    ("DEADLINE_EXCEEDED", True),
    ("NOT_FOUND", False),
    ("ALREADY_EXISTS", False),
    ("PERMISSION_DENIED", False),
    ("RESOURCE_EXHAUSTED", False),
    ("FAILED_PRECONDITION", False),
    ("ABORTED", True),
    ("OUT_OF_RANGE", True),
    ("UNIMPLEMENTED", False),
    ("INTERNAL", False),
    ("UNAVAILABLE", True),
    ("DATA_LOSS", True),
    ("UNAUTHENTICATED", False),
]

RETRYABLE_HTTP = {429, 502, 503, 504}

# Protocol ids of this file: an exporter ``protocol``, or OTLP/HTTP (protobuf) over
# HTTP/2 with prior knowledge (h2c), answered by ``H2FaultServer(http=True)``.
H2 = "http/protobuf+h2"


def exporter_args(protocol: str) -> dict:
    """``otlp.Exporter`` keywords for a protocol id."""
    if protocol == H2:
        return {"protocol": "http/protobuf", "http_version": "2"}
    return {"protocol": protocol}


def fault_server(servers, protocol: str, script: list, **kwargs):
    """The in-process fault server speaking ``protocol`` (``servers`` is the fixture)."""
    if protocol == "grpc":
        return servers(H2FaultServer, script, **kwargs)
    if protocol == H2:
        return servers(H2FaultServer, script, http=True, **kwargs)
    return servers(HttpFaultServer, script, **kwargs)


def http_answer(protocol: str, status: int, headers: dict | None = None):
    """A script entry answering HTTP ``status`` (with ``headers``) in ``protocol``'s server."""
    if protocol == H2:
        return ("http", status, headers or {})
    return (status, headers) if headers else status


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


@pytest.fixture
def exporter():
    """``exporter(endpoint, protocol_id, ...)``: short retries, no circuit breaker; shut down
    at teardown."""
    made: list[otlp.Exporter] = []

    def make(
        endpoint: str,
        protocol: str = "grpc",
        *,
        timeout: float = 2.0,
        max_elapsed: float = 5.0,
        batch: int = 100,
        concurrent: int = 1,
        queue: int = 2048,
        retry: otlp.RetryPolicy | None = None,
    ) -> otlp.Exporter:
        exp = otlp.Exporter(
            endpoint,
            **exporter_args(protocol),
            timeout=timeout,
            batch=otlp.BatchConfig(
                max_queue_size=queue,
                max_export_batch_size=batch,
                schedule_delay=0.02,
                max_concurrent_exports=concurrent,
            ),
            retry=retry or otlp.RetryPolicy(initial_backoff=0.05, max_backoff=0.2, max_elapsed=max_elapsed),
            circuit_breaker=otlp.CircuitBreaker(failure_threshold=0),
        )
        made.append(exp)
        return exp

    yield make
    for exp in made:
        exp.shutdown(timeout=1.0)


@pytest.fixture
def servers():
    """``servers(cls, *args)`` starts an in-process fault server; all are closed at teardown."""
    started: list = []

    def make(cls, *args, **kwargs):
        srv = cls(*args, **kwargs)
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.close()
    for srv in started:
        assert not srv.errors, f"{type(srv).__name__} failed: {srv.errors!r}"


def send(exp: otlp.Exporter, n: int = N) -> list[int]:
    """End n spans; return their span ids."""
    tracer = exp.tracer("faults")
    ids = []
    for i in range(n):
        span = tracer.start_span("op", attributes={"i": i})
        ids.append(span.context.span_id)
        span.end()
    return ids


def settled(stats: dict) -> dict:
    """Every accepted span is counted exactly once: exported, rejected, dropped or failed."""
    assert stats["spans_pending"] == 0, stats
    assert stats["spans_dropped"] == (
        stats["spans_dropped_queue_full"] + stats["spans_dropped_shutdown"] + stats["spans_dropped_too_large"]
    ), stats
    assert stats["spans_failed"] == (
        stats["spans_failed_non_retryable"] + stats["spans_failed_retries_exhausted"]
    ), stats
    accounted = (
        stats["spans_exported"] + stats["spans_rejected"] + stats["spans_dropped"] + stats["spans_failed"]
    )
    assert stats["spans_accepted"] == accounted, stats
    return stats


def check_outcome(
    exp: otlp.Exporter, flushed: bool, retried: bool, sent: list[int], acked: list[int]
) -> dict:
    """One batch of ``sent`` whose first attempt failed: retried then delivered, or final."""
    stats = settled(exp.stats())
    if retried:
        assert flushed, stats
        assert stats["spans_exported"] == len(sent), stats
        assert stats["requests_failed"] == 1 and stats["requests_retried"] == 1, stats
        assert stats["requests_ok"] == 1, stats
        assert sorted(acked) == sorted(sent)
    else:
        assert not flushed, stats
        assert stats["spans_failed_non_retryable"] == len(sent), stats
        assert stats["spans_exported"] == 0, stats
        assert stats["requests_failed"] == 1 and stats["requests_retried"] == 0, stats
        assert acked == []
    return stats


# ---------------------------------------------------------------------------
# gRPC status codes (reference grpcio sink)
# ---------------------------------------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("code", "retryable"), GRPC_CODES, ids=[c for c, _ in GRPC_CODES])
def test_grpc_status_is_retried_exactly_per_spec(sink_factory, exporter, code: str, retryable: bool) -> None:
    sink = sink_factory(status=code, status_count=1)
    exp = exporter(sink.endpoint)
    sent = send(exp)
    flushed = exp.force_flush(timeout=10.0)
    answers = [head["status"] for _, head, _ in sink.records("traces")]
    acked = [
        int.from_bytes(sp.span_id, "big")
        for (_, head, _), req in zip(sink.records("traces"), sink.requests("traces"), strict=False)
        if head["status"] == "OK"
        for rs in req.resource_spans
        for ss in rs.scope_spans
        for sp in ss.spans
    ]
    stats = check_outcome(exp, flushed, retryable, sent, acked)
    assert answers == ([code, "OK"] if retryable else [code])
    assert stats["last_error"].startswith(code), stats["last_error"]


# ---------------------------------------------------------------------------
# gRPC answers the reference sink cannot give (raw HTTP/2 server)
# ---------------------------------------------------------------------------

H2_ANSWERS = [
    # grpc-status values outside 0..16 and unparsable ones are UNKNOWN: final.
    pytest.param(("grpc", 17, "seventeen", None), False, "UNKNOWN", id="grpc-status-17"),
    pytest.param(("grpc", 99, "ninety-nine", None), False, "UNKNOWN", id="grpc-status-99"),
    pytest.param(("grpc", "abc", "not a number", None), False, "UNKNOWN", id="grpc-status-abc"),
    # RetryInfo makes RESOURCE_EXHAUSTED retryable (unpadded base64, as grpc sends it).
    pytest.param(
        ("grpc", 8, "slow down", grpc_retry_info_status(8, 0.2)),
        True,
        "RESOURCE_EXHAUSTED",
        id="resource-exhausted-with-retry-info",
    ),
    # Status details without a RetryInfo: still final.
    pytest.param(
        ("grpc", 8, "no retry info", b"\x08\x08\x12\x02no"),
        False,
        "RESOURCE_EXHAUSTED",
        id="resource-exhausted-details-without-retry-info",
    ),
    # No grpc-status: synthesized from the HTTP status (http-grpc-status-mapping.md).
    *(
        pytest.param(("http", status), retried, code, id=f"http-{status}-without-grpc-status")
        for status, retried, code in [
            (400, False, "INTERNAL"),
            (401, False, "UNAUTHENTICATED"),
            (403, False, "PERMISSION_DENIED"),
            (404, False, "UNIMPLEMENTED"),
            (429, True, "UNAVAILABLE"),
            (500, False, "UNKNOWN"),
            (502, True, "UNAVAILABLE"),
            (503, True, "UNAVAILABLE"),
            (504, True, "UNAVAILABLE"),
            (200, False, "INTERNAL"),
        ]
    ),
    # RST_STREAM: REFUSED_STREAM -> UNAVAILABLE, CANCEL -> CANCELLED,
    # ENHANCE_YOUR_CALM -> RESOURCE_EXHAUSTED (no RetryInfo: final), others -> INTERNAL.
    pytest.param(("rst", REFUSED_STREAM), True, "UNAVAILABLE", id="rst-refused-stream"),
    pytest.param(("rst", CANCEL), True, "CANCELLED", id="rst-cancel"),
    pytest.param(("rst", ENHANCE_YOUR_CALM), False, "RESOURCE_EXHAUSTED", id="rst-enhance-your-calm"),
    pytest.param(("rst", INTERNAL_ERROR), False, "INTERNAL", id="rst-internal-error"),
]


@pytest.mark.timeout(30)
@pytest.mark.parametrize(("answer", "retryable", "code"), H2_ANSWERS)
def test_grpc_raw_answer_is_retried_exactly_per_spec(servers, exporter, answer, retryable, code) -> None:
    srv = servers(H2FaultServer, [answer])
    exp = exporter(srv.endpoint)
    sent = send(exp)
    flushed = exp.force_flush(timeout=10.0)
    stats = check_outcome(exp, flushed, retryable, sent, srv.acked_ids())
    assert stats["last_error"].startswith(code), stats["last_error"]
    assert len(srv.snapshot()) == (2 if retryable else 1), srv.snapshot()


# ---------------------------------------------------------------------------
# RetryInfo (grpcio collector sending grpc-status-details-bin)
# ---------------------------------------------------------------------------


@pytest.mark.timeout(30)
@pytest.mark.parametrize(("code", "delay"), [("RESOURCE_EXHAUSTED", 0.8), ("UNAVAILABLE", 0.8)])
def test_grpc_retry_info_delay_is_honoured(tmp_path, exporter, code: str, delay: float) -> None:
    with GrpcFaultServer(tmp_path, script=[(code, delay)]) as srv:
        exp = exporter(srv.endpoint)
        sent = send(exp)
        flushed = exp.force_flush(timeout=10.0)
        records = srv.wait_records(2)
        check_outcome(exp, flushed, True, sent, srv.acked_ids())
        assert [r["answer"] for r in records] == [code, "OK"]
        waited = records[1]["t"] - records[0]["t"]
        # The backoff alone would be <= 0.05 s: the server's delay replaced it.
        assert delay - TOL <= waited <= delay + 1.0, waited


@pytest.mark.timeout(30)
def test_grpc_retry_info_beyond_the_retry_budget_gives_up_at_once(tmp_path, exporter) -> None:
    with GrpcFaultServer(tmp_path, script=[("RESOURCE_EXHAUSTED", 30.0)]) as srv:
        exp = exporter(srv.endpoint, max_elapsed=3.0)
        send(exp)
        started = time.monotonic()
        assert not exp.force_flush(timeout=10.0)
        assert time.monotonic() - started < 2.0
        stats = settled(exp.stats())
        assert stats["spans_failed_retries_exhausted"] == N, stats
        assert stats["requests_retried"] == 0, stats
        assert len(srv.records()) == 1


# ---------------------------------------------------------------------------
# OTLP/HTTP statuses and Retry-After
# ---------------------------------------------------------------------------

HTTP_STATUSES = [200, 202, 301, 302, 400, 401, 403, 404, 408, 413, 418, 429, 500, 501, 502, 503, 504]
HTTP_PROTOCOLS = ["http/protobuf", H2]  # OTLP/HTTP over HTTP/1.1 and over HTTP/2


@pytest.mark.timeout(30)
@pytest.mark.parametrize("status", HTTP_STATUSES)
@pytest.mark.parametrize("protocol", HTTP_PROTOCOLS)
def test_http_status_is_retried_exactly_per_spec(servers, exporter, protocol: str, status: int) -> None:
    srv = fault_server(servers, protocol, [http_answer(protocol, status)])
    exp = exporter(srv.endpoint, protocol)
    sent = send(exp)
    flushed = exp.force_flush(timeout=10.0)
    stats = settled(exp.stats())
    requests = srv.snapshot()
    if 200 <= status < 300:
        assert flushed, stats
        assert stats["spans_exported"] == N and stats["requests_failed"] == 0, stats
        assert len(requests) == 1
    else:
        # Redirects are not followed (the Location would have answered 200).
        check_outcome(exp, flushed, status in RETRYABLE_HTTP, sent, srv.acked_ids())
        assert len(requests) == (2 if status in RETRYABLE_HTTP else 1), requests
        assert f"HTTP {status}" in stats["last_error"], stats["last_error"]
        if not 300 <= status < 400:  # the message of the google.rpc.Status body is reported
            assert f"scripted HTTP {status}" in stats["last_error"], stats["last_error"]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("protocol", HTTP_PROTOCOLS)
def test_http_retry_after_seconds_is_honoured(servers, exporter, protocol: str) -> None:
    srv = fault_server(servers, protocol, [http_answer(protocol, 429, {"Retry-After": "1"})])
    exp = exporter(srv.endpoint, protocol)
    sent = send(exp)
    flushed = exp.force_flush(timeout=10.0)
    check_outcome(exp, flushed, True, sent, srv.acked_ids())
    first, retry = srv.snapshot()
    assert 1.0 - TOL <= retry.t - first.t <= 2.0, retry.t - first.t


@pytest.mark.timeout(30)
@pytest.mark.parametrize("protocol", HTTP_PROTOCOLS)
def test_http_retry_after_date_is_honoured(servers, exporter, protocol: str) -> None:
    # The date is fixed before the exporter starts, 1 to 2 s ahead (whole seconds): the
    # first attempt follows within milliseconds.
    retry_at = [int(time.time()) + 2]
    answer = http_answer(protocol, 503, {"Retry-After": formatdate(retry_at[0], usegmt=True)})
    srv = fault_server(servers, protocol, [answer])
    exp = exporter(srv.endpoint, protocol)
    sent = send(exp)
    flushed = exp.force_flush(timeout=10.0)
    check_outcome(exp, flushed, True, sent, srv.acked_ids())
    first, retry = srv.snapshot()
    # Not before the date (1-second resolution), and not much after it.
    assert retry.wall >= retry_at[0] - TOL, (retry.wall, retry_at[0])
    assert retry.t - first.t <= 3.0, retry.t - first.t


@pytest.mark.timeout(30)
@pytest.mark.parametrize("protocol", HTTP_PROTOCOLS)
def test_http_retry_after_beyond_the_retry_budget_gives_up_at_once(servers, exporter, protocol: str) -> None:
    srv = fault_server(servers, protocol, [http_answer(protocol, 503, {"Retry-After": "30"})])
    exp = exporter(srv.endpoint, protocol, max_elapsed=3.0)
    send(exp)
    started = time.monotonic()
    assert not exp.force_flush(timeout=10.0)
    assert time.monotonic() - started < 2.0
    stats = settled(exp.stats())
    assert stats["spans_failed_retries_exhausted"] == N and stats["requests_retried"] == 0, stats
    assert len(srv.snapshot()) == 1


@pytest.mark.timeout(30)
@pytest.mark.parametrize("protocol", HTTP_PROTOCOLS)
def test_http_retry_after_does_not_make_a_final_status_retryable(servers, exporter, protocol: str) -> None:
    srv = fault_server(servers, protocol, [http_answer(protocol, 400, {"Retry-After": "0"})])
    exp = exporter(srv.endpoint, protocol)
    sent = send(exp)
    flushed = exp.force_flush(timeout=10.0)
    check_outcome(exp, flushed, False, sent, srv.acked_ids())
    assert len(srv.snapshot()) == 1


# ---------------------------------------------------------------------------
# Connection-level faults: retried on a (new) connection, then delivered
# ---------------------------------------------------------------------------

CONNECTION_FAULTS = [
    ("grpc", "reset"),  # RST of the TCP connection on the request HEADERS (mid-request)
    ("grpc", "garbage"),  # bytes that are not HTTP/2 instead of an answer
    ("grpc", "goaway"),  # GOAWAY with last_stream_id below the request: not processed
    ("grpc", "stall"),  # no answer: the exporter's deadline fires
    ("http/protobuf", "reset"),  # RST after the request head, before the body
    ("http/protobuf", "garbage"),  # bytes that are not HTTP/1.1 instead of an answer
    ("http/protobuf", "close"),  # FIN without an answer
    ("http/protobuf", "stall"),
    # OTLP/HTTP over HTTP/2: any of these makes the client drop the shared connection.
    (H2, "reset"),
    (H2, "garbage"),
    (H2, "goaway"),
    (H2, "rst-refused-stream"),  # RST_STREAM(REFUSED_STREAM): not processed
    (H2, "rst-internal-error"),  # RST_STREAM(INTERNAL_ERROR)
    (H2, "stall"),  # the connection that let a request time out is abandoned
]
H2_RST = {"rst-refused-stream": ("rst", REFUSED_STREAM), "rst-internal-error": ("rst", INTERNAL_ERROR)}


@pytest.mark.timeout(30)
@pytest.mark.parametrize(("protocol", "fault"), CONNECTION_FAULTS)
def test_connection_fault_is_retried_and_delivered(servers, exporter, protocol: str, fault: str) -> None:
    srv = fault_server(servers, protocol, [H2_RST.get(fault, fault)])
    exp = exporter(srv.endpoint, protocol, timeout=0.5)
    sent = send(exp)
    flushed = exp.force_flush(timeout=10.0)
    stats = check_outcome(exp, flushed, True, sent, srv.acked_ids())
    expected = "DEADLINE_EXCEEDED" if fault == "stall" else "UNAVAILABLE"
    assert stats["last_error"].startswith(expected), stats["last_error"]
    if fault != "stall" or protocol != "grpc":
        # the broken (or abandoned) connection is not reused
        first, retry = srv.snapshot()
        assert retry.conn == first.conn + 1, srv.snapshot()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("protocol", ["grpc", H2])
def test_graceful_goaway_moves_to_a_new_connection_without_failing(servers, exporter, protocol: str) -> None:
    # The server answers the first request, then sends GOAWAY(last_stream_id = it) and
    # closes: the next export must go on a new connection, and nothing fails.
    srv = fault_server(servers, protocol, ["ok+goaway"])
    exp = exporter(srv.endpoint, protocol)
    sent = send(exp, 5)
    assert exp.force_flush(timeout=10.0)
    srv.wait_requests(1)
    time.sleep(0.1)  # let the GOAWAY and the close arrive
    sent += send(exp, 5)
    assert exp.force_flush(timeout=10.0), exp.stats()
    stats = settled(exp.stats())
    assert stats["spans_exported"] == 10 and stats["requests_failed"] == 0, stats
    assert sorted(srv.acked_ids()) == sorted(sent)
    assert [r.conn for r in srv.snapshot()] == [0, 1]
    assert srv.connections == 2


@pytest.mark.timeout(30)
@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf", H2])
def test_stalled_server_exhausts_the_retry_budget(servers, exporter, protocol: str) -> None:
    srv = fault_server(servers, protocol, [], default="stall")
    exp = exporter(srv.endpoint, protocol, timeout=0.5, max_elapsed=2.0)
    send(exp)
    started = time.monotonic()
    assert not exp.force_flush(timeout=10.0)
    elapsed = time.monotonic() - started
    stats = settled(exp.stats())
    assert stats["spans_failed_retries_exhausted"] == N and stats["spans_exported"] == 0, stats
    assert stats["requests_ok"] == 0 and stats["requests_retried"] >= 2, stats
    assert stats["requests_failed"] == stats["requests_retried"] + 1, stats
    assert stats["last_error"].startswith("DEADLINE_EXCEEDED"), stats["last_error"]
    # Each attempt waits out the timeout: budget (2 s) plus at most one attempt.
    assert 1.5 <= elapsed <= 2.0 + 0.5 + 0.5, elapsed
    assert len(srv.snapshot()) == stats["requests_failed"]
    assert srv.acked_ids() == []
    if protocol != "grpc":
        # every timed-out attempt abandoned its connection: the next one opened another
        assert [r.conn for r in srv.snapshot()] == list(range(len(srv.snapshot()))), srv.snapshot()


class _FirstConnectionBlackHole(H2FaultServer):
    """The first connection is accepted and never answered (not even HTTP/2 SETTINGS);
    later connections are a healthy collector."""

    def handle(self, conn, n):
        if n == 0:
            self._hold(conn)
        super().handle(conn, n)


class _HttpFirstConnectionBlackHole(HttpFaultServer):
    def handle(self, conn, n):
        if n == 0:
            self._hold(conn)
        super().handle(conn, n)


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "protocol",
    ["grpc", "http/protobuf", H2],
)
def test_black_holed_connection_is_abandoned_after_a_timeout(servers, exporter, protocol: str) -> None:
    if protocol == "http/protobuf":
        srv = servers(_HttpFirstConnectionBlackHole, [])
    else:
        srv = servers(_FirstConnectionBlackHole, [], http=protocol == H2)
    exp = exporter(srv.endpoint, protocol, timeout=0.5, max_elapsed=4.0)
    sent = send(exp)
    started = time.monotonic()
    flushed = exp.force_flush(timeout=10.0)
    elapsed = time.monotonic() - started
    stats = settled(exp.stats())
    assert flushed and stats["spans_exported"] == N, stats
    assert sorted(srv.acked_ids()) == sorted(sent)
    if protocol == H2:
        # One attempt timed out on the black hole, the retry went to a new connection.
        assert stats["requests_failed"] == 1 and stats["requests_ok"] == 1, stats
        assert stats["last_error"].startswith("DEADLINE_EXCEEDED"), stats["last_error"]
        assert srv.connections == 2 and [r.conn for r in srv.snapshot()] == [1], srv.snapshot()
        assert 0.5 - TOL <= elapsed <= 0.5 + 0.5, elapsed


@pytest.mark.timeout(60)
@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf", H2])
def test_every_span_is_delivered_or_counted_under_mixed_faults(servers, exporter, protocol: str) -> None:
    """Many batches through a server cycling through faults: sent = received + lost, exactly."""
    if protocol == "grpc":
        cycle = [
            "ok",
            "reset",
            ("grpc", 14, "unavailable", None),
            "garbage",
            "ok",
            "goaway",
            ("rst", REFUSED_STREAM),
            "stall",
            ("grpc", 3, "invalid argument", None),  # final: counted non-retryable
            ("http", 503),
            "ok+goaway",
            ("grpc", 8, "slow down", grpc_retry_info_status(8, 0.05)),
        ]
    elif protocol == H2:
        cycle = [
            "ok",
            "reset",
            ("http", 503),
            "garbage",
            "ok",
            "goaway",
            ("rst", REFUSED_STREAM),
            "stall",
            ("http", 400),  # final: counted non-retryable
            ("http", 502),
            "ok+goaway",
            ("http", 429, {"retry-after": "0"}),
        ]
    else:
        cycle = [200, "reset", 503, "garbage", 200, "close", 429, "stall", 400, 502, 200, 504]
    srv = fault_server(servers, protocol, cycle * 8)
    # One request in flight at a time: a connection fault never hits an answered request.
    exp = exporter(srv.endpoint, protocol, timeout=0.5, max_elapsed=3.0, batch=10)
    sent = send(exp, 400)
    exp.force_flush(timeout=40.0)
    stats = settled(exp.stats())
    acked = srv.acked_ids()
    assert len(acked) == len(set(acked)), "a span was acknowledged twice"
    assert set(acked) <= set(sent)
    assert stats["spans_accepted"] == len(sent)
    assert stats["spans_exported"] == len(acked), stats
    assert stats["spans_failed_non_retryable"] > 0, stats  # the final answers in the cycle
    assert stats["spans_exported"] + stats["spans_failed"] == len(sent), stats
    assert stats["spans_dropped"] == 0, stats


# ---------------------------------------------------------------------------
# A collector restarted mid-run (same port)
# ---------------------------------------------------------------------------


@pytest.mark.timeout(90)
def test_grpc_collector_restarted_mid_run(tmp_path, exporter) -> None:
    first = GrpcFaultServer(tmp_path / "first").start()
    second = GrpcFaultServer(tmp_path / "second", port=first.port)
    produced: list[int] = []
    stop = threading.Event()
    try:
        exp = exporter(first.endpoint, max_elapsed=20.0, batch=20, concurrent=2, queue=100_000)
        tracer = exp.tracer("restart")

        def produce() -> None:
            while not stop.is_set():
                for _ in range(10):
                    span = tracer.start_span("op")
                    produced.append(span.context.span_id)
                    span.end()
                time.sleep(0.005)

        producer = threading.Thread(target=produce, name="span-producer")
        producer.start()
        try:
            first.wait_records(5, timeout=20.0)
            first.stop()  # graceful: calls in flight are answered, then the port closes
            time.sleep(0.3)  # collector down: connections are refused meanwhile
            second.start()
            assert second.port == first.port
            second.wait_records(5, timeout=20.0)
        finally:
            stop.set()
            producer.join(10)
        assert exp.force_flush(timeout=30.0), exp.stats()
        stats = settled(exp.stats())
        received = first.acked_ids() + second.acked_ids()
        assert len(received) == len(set(received)), "a span was received twice"
        assert set(received) <= set(produced)
        assert stats["spans_accepted"] == len(produced)
        assert stats["spans_exported"] == len(received), stats
        # An outage of well under a second within a 20 s retry budget loses nothing.
        assert stats["spans_exported"] == len(produced), stats
        assert first.acked_ids() and second.acked_ids()
        assert stats["requests_retried"] >= 1, stats
    finally:
        second.stop()
        first.stop()


# ---------------------------------------------------------------------------
# Deadlines of force_flush / shutdown against a collector that never answers
# ---------------------------------------------------------------------------


@pytest.mark.timeout(30)
@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf", H2])
@pytest.mark.parametrize("server", ["silent", "always-unavailable"])
def test_flush_and_shutdown_meet_their_deadline(servers, protocol: str, server: str) -> None:
    if server == "silent":
        srv = servers(SilentServer)
    elif protocol == "grpc":
        srv = servers(H2FaultServer, [], default=("grpc", 14, "down", None))
    else:
        srv = fault_server(servers, protocol, [], default=http_answer(protocol, 503))
    # Library defaults (10 s timeout, 5 min retry budget, circuit breaker on).
    exp = otlp.Exporter(srv.endpoint, **exporter_args(protocol))
    try:
        sent = send(exp)
        exp.logger("faults").emit("a log record")
        started = time.monotonic()
        assert exp.force_flush(timeout=1) is False
        took = time.monotonic() - started
        assert 0.9 <= took <= 1.2, took
        started = time.monotonic()
        assert exp.shutdown(timeout=1) is False
        took = time.monotonic() - started
        assert took <= 1.2, took
    finally:
        exp.shutdown(timeout=1)
    stats = settled(exp.stats())
    assert stats["spans_dropped_shutdown"] == len(sent) and stats["spans_exported"] == 0, stats
    assert stats["logs_accepted"] == 1 and stats["logs_dropped"] == 1, stats
    assert srv.connections >= 1


# ---------------------------------------------------------------------------
# What a collector answers: an accepted export stays accepted, and what a server
# says is kept to a bounded size
# ---------------------------------------------------------------------------

MiB = 1 << 20
# What a user is shown of a server's text: a few hundred characters, then how much was cut.
MAX_LAST_ERROR = 1200


def partial_success(rejected: int, message: str) -> bytes:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTracePartialSuccess,
        ExportTraceServiceResponse,
    )

    ps = ExportTracePartialSuccess(rejected_spans=rejected, error_message=message)
    return ExportTraceServiceResponse(partial_success=ps).SerializeToString()


def grpc_message(payload: bytes, flag: int = 0) -> bytes:
    return bytes([flag]) + len(payload).to_bytes(4, "big") + payload


def accepted_answer(protocol: str, body: bytes, headers: dict | None = None):
    """A script entry accepting the export with ``body`` (a raw HTTP body, or a framed
    gRPC message) and response ``headers``."""
    if protocol == "grpc":
        return ("ok", body, headers or {})
    if protocol == H2:
        return ("http", 200, headers or {}, body)
    return (200, headers or {}, body)


def assert_bounded(last_error: str) -> None:
    assert len(last_error) < MAX_LAST_ERROR, len(last_error)
    assert "more bytes)" in last_error, last_error[-200:]


ALL_PROTOCOLS = ["grpc", "http/protobuf", H2]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("protocol", ALL_PROTOCOLS)
def test_an_accepted_export_with_a_5_mib_body_is_exported_once(servers, exporter, protocol: str) -> None:
    # A 5 MiB partial success (3 spans rejected, the rest accepted): the count comes
    # first and is read; the message is cut to a few hundred characters.
    body = partial_success(3, "r" * (5 * MiB))
    if protocol == "grpc":
        body = grpc_message(body)
    srv = fault_server(servers, protocol, [accepted_answer(protocol, body)])
    exp = exporter(srv.endpoint, protocol)
    send(exp)
    exp.force_flush(timeout=10.0)  # False: not every span was exported
    stats = settled(exp.stats())
    assert len(srv.snapshot()) == 1, srv.snapshot()
    assert stats["spans_exported"] == N - 3 and stats["spans_rejected"] == 3, stats
    assert stats["requests_ok"] == 1 and stats["requests_failed"] == 0, stats
    assert stats["last_error"].startswith("partial success: 3 rejected: rrr"), stats["last_error"][:100]
    assert_bounded(stats["last_error"])


UNREADABLE = {
    # A body announced as gzip that is not.
    "bad-gzip": ({"content-encoding": "gzip"}, b"\x1f\x8b this is not gzip"),
    # 5 MiB that is not a protobuf message at all (an HTML page, say).
    "huge-junk": ({}, b"<html>" + b"x" * (5 * MiB)),
}
GRPC_UNREADABLE = {
    "bad-gzip": ({"grpc-encoding": "gzip"}, grpc_message(b"this is not gzip", flag=1)),
    "huge-junk": ({}, grpc_message(b"\xff" * (5 * MiB))),
}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("body", list(UNREADABLE))
@pytest.mark.parametrize("protocol", ALL_PROTOCOLS)
def test_an_accepted_export_with_an_unreadable_body_is_exported(
    servers, exporter, protocol: str, body
) -> None:
    headers, payload = (GRPC_UNREADABLE if protocol == "grpc" else UNREADABLE)[body]
    srv = fault_server(servers, protocol, [accepted_answer(protocol, payload, headers)])
    exp = exporter(srv.endpoint, protocol)
    sent = send(exp)
    assert exp.force_flush(timeout=10.0), exp.stats()
    stats = settled(exp.stats())
    assert len(srv.snapshot()) == 1 and sorted(srv.acked_ids()) == sorted(sent), srv.snapshot()
    assert stats["spans_exported"] == N and stats["requests_failed"] == 0, stats
    # Not a failure, but the user is told that the partial success could not be read.
    assert stats["last_error"].startswith("partial success unreadable: "), stats["last_error"]
    assert srv.endpoint in stats["last_error"], stats["last_error"]
    assert len(stats["last_error"]) < MAX_LAST_ERROR, len(stats["last_error"])


@pytest.mark.timeout(30)
@pytest.mark.parametrize("protocol", HTTP_PROTOCOLS)
def test_an_accepted_export_whose_body_never_ends_is_exported(servers, exporter, protocol: str) -> None:
    if protocol == H2:
        answer = ("http", 200, {}, b"", "stall")
    else:
        answer = (200, {"Content-Length": "100"}, b"", "stall")
    srv = fault_server(servers, protocol, [answer])
    exp = exporter(srv.endpoint, protocol, timeout=0.5)
    sent = send(exp)
    assert exp.force_flush(timeout=10.0), exp.stats()
    stats = settled(exp.stats())
    assert len(srv.snapshot()) == 1 and sorted(srv.acked_ids()) == sorted(sent), srv.snapshot()
    assert stats["spans_exported"] == N and stats["requests_failed"] == 0, stats
    assert stats["last_error"].startswith("partial success unreadable: "), stats["last_error"]
    assert "in time" in stats["last_error"], stats["last_error"]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("protocol", HTTP_PROTOCOLS)
def test_a_response_head_too_large_to_read_is_not_retried(servers, exporter, protocol: str) -> None:
    # Over what the client reads of a head (HTTP/1.1: a 400 KiB buffer; HTTP/2: a
    # 400 KiB header list): the answer cannot be known, and retrying would deliver the
    # batch again if it was accepted, to get the same answer. It fails at once.
    srv = fault_server(servers, protocol, [], default=accepted_answer(protocol, b"", {"x-big": "b" * MiB}))
    exp = exporter(srv.endpoint, protocol)
    send(exp)
    assert not exp.force_flush(timeout=10.0)
    stats = settled(exp.stats())
    assert len(srv.snapshot()) == 1, srv.snapshot()
    assert stats["spans_failed_non_retryable"] == N and stats["requests_retried"] == 0, stats
    assert stats["last_error"].startswith("INTERNAL"), stats["last_error"]
    assert "cannot be read" in stats["last_error"], stats["last_error"]


@pytest.mark.timeout(30)
def test_an_8_mib_grpc_message_is_kept_to_a_few_hundred_characters(servers, exporter) -> None:
    srv = servers(H2FaultServer, [("grpc", 3, "m" * (8 * MiB), None)])
    exp = exporter(srv.endpoint)
    send(exp)
    assert not exp.force_flush(timeout=10.0)
    stats = settled(exp.stats())
    assert stats["spans_failed_non_retryable"] == N, stats
    assert stats["last_error"].startswith("INVALID_ARGUMENT: mmm"), stats["last_error"][:100]
    assert_bounded(stats["last_error"])


@pytest.mark.timeout(30)
@pytest.mark.parametrize("content_type", ["application/x-protobuf", "text/html"])
@pytest.mark.parametrize("protocol", HTTP_PROTOCOLS)
def test_an_http_error_body_is_kept_to_a_few_hundred_characters(
    servers, exporter, protocol: str, content_type: str
) -> None:
    if content_type == "text/html":
        body = b"<html>" + b"e" * (2 * MiB)
    else:
        from google.rpc import status_pb2

        body = status_pb2.Status(code=3, message="e" * (2 * MiB)).SerializeToString()
    headers = {"content-type": content_type}
    answer = ("http", 400, headers, body) if protocol == H2 else (400, headers, body)
    srv = fault_server(servers, protocol, [answer])
    exp = exporter(srv.endpoint, protocol)
    send(exp)
    assert not exp.force_flush(timeout=10.0)
    stats = settled(exp.stats())
    assert stats["spans_failed_non_retryable"] == N, stats
    assert "HTTP 400" in stats["last_error"] and "eee" in stats["last_error"], stats["last_error"][:200]
    assert_bounded(stats["last_error"])


@pytest.mark.timeout(30)
def test_an_http_error_names_the_url_it_was_sent_to(servers, exporter) -> None:
    # A generic endpoint already ending in /v1/traces gets /v1/traces appended: the
    # collector answers 404, and the message says where the request went.
    srv = servers(HttpFaultServer, [])
    exp = exporter(srv.endpoint + "/v1/traces", "http/protobuf")
    send(exp)
    assert not exp.force_flush(timeout=10.0)
    stats = settled(exp.stats())
    assert stats["spans_failed_non_retryable"] == N, stats
    expected = f"HTTP 404 from {srv.endpoint}/v1/traces/v1/traces"
    assert expected in stats["last_error"], stats["last_error"]


# ---------------------------------------------------------------------------
# The other protocol's port: said in words, and not retried
# ---------------------------------------------------------------------------


def fails_at_once(exp: otlp.Exporter) -> dict:
    """The spans sent to ``exp`` fail after one attempt, well within its retry budget."""
    send(exp)
    started = time.monotonic()
    assert not exp.force_flush(timeout=10.0)
    assert time.monotonic() - started < 3.0
    stats = settled(exp.stats())
    assert stats["spans_failed_non_retryable"] == N and stats["requests_retried"] == 0, stats
    return stats


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("protocol", "says"),
    [("grpc", ["HTTP/1.1", "protocol='http/protobuf'"]), (H2, ["HTTP/1.1", "http_version='1.1'"])],
)
def test_http2_to_an_http1_only_port_says_so(servers, exporter, protocol: str, says: list[str]) -> None:
    srv = servers(HttpFaultServer, [])
    stats = fails_at_once(exporter(srv.endpoint, protocol, max_elapsed=20.0))
    for words in says:
        assert words in stats["last_error"], stats["last_error"]
    assert srv.snapshot() == []


@pytest.mark.timeout(60)
def test_http1_to_a_grpc_port_says_so(sink, exporter) -> None:
    # The reference sink is a grpcio server: HTTP/2 only.
    stats = fails_at_once(exporter(sink.endpoint, "http/protobuf", max_elapsed=20.0))
    assert "OTLP/gRPC port" in stats["last_error"], stats["last_error"]
    assert "protocol='grpc'" in stats["last_error"], stats["last_error"]
    assert "/v1/traces" in stats["last_error"], stats["last_error"]
    assert sink.records("traces") == []
