"""Compression and HTTP versions end to end, against a collector that shares no code with ours.

The peer is ``peers/asgi_collector.py``: an OTLP collector written as an ASGI app and
served by hypercorn in another process (h11/h2 for HTTP, ``zstandard`` and ``gzip`` for
compression, the official protobuf classes and ``otlp_json_reader`` for the payload). It
relays every decoded request to the grpcio reference sink and records, per request, the
HTTP version it was served over, the scheme, the content type and the encoding.

* zstd (and gzip, none): all signals over gRPC, OTLP/HTTP protobuf and JSON arrive
  intact, and the collector saw a real zstd body (rotel and grpcio refuse zstd).
* ``http_version``: HTTP/2 with prior knowledge over ``http://``, ALPN over
  ``https://`` (h2 chosen, HTTP/1.1 kept, fallback, refusal), gRPC over h2c and TLS,
  many concurrent exports multiplexed on one HTTP/2 connection; and rotel's OTLP/HTTP
  receiver over h2c.
"""

from __future__ import annotations

import gzip
import http.client
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import zstandard
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2
from peers import Sink
from peers.asgi_collector import AsgiCollector
from peers.pki import make_pki

import otlp

PROTOCOLS = ["grpc", "http/protobuf", "http/json"]
HTTP_PROTOCOLS = ["http/protobuf", "http/json"]
COMPRESSIONS = ["none", "gzip", "zstd"]
# What the collector saw before decompressing: the first bytes of a gzip member / zstd frame.
MAGIC = {"gzip": "1f8b", "zstd": "28b52ffd"}
CONTENT_TYPE = {"http/protobuf": "application/x-protobuf", "http/json": "application/json"}
N_SPANS = 40
RESOURCE_FIELD = {"traces": "resource_spans", "metrics": "resource_metrics", "logs": "resource_logs"}


# ---------------------------------------------------------------------------
# peers (one per configuration, shared by the module)
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CA and a server certificate for 127.0.0.1 / localhost, as PEM files."""
    return make_pki(tmp_path_factory.mktemp("pki"))


def _no_server_errors(collector: AsgiCollector) -> None:
    """hypercorn logs application exceptions (answered 500) and protocol errors to stderr."""
    assert collector.alive(), f"collector died:\n{collector.stderr_tail()}"
    assert collector.stderr_tail(1 << 20).strip() == "", collector.stderr_tail()


@pytest.fixture(scope="module")
def relay_sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sink]:
    """The grpcio reference sink every collector of this module relays to."""
    with Sink(workdir=tmp_path_factory.mktemp("sink")) as s:
        yield s


def _serve(
    relay_sink: Sink, tmp_path_factory: pytest.TempPathFactory, name: str, **kw: Any
) -> Iterator[AsgiCollector]:
    """A collector relaying to ``relay_sink``, for the module; no server errors at the end."""
    with AsgiCollector(relay_sink, workdir=tmp_path_factory.mktemp(name), **kw) as c:
        yield c
        _no_server_errors(c)


@pytest.fixture(scope="module")
def collector(relay_sink: Sink, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AsgiCollector]:
    """Plain ``http://``: HTTP/1.1 and HTTP/2 with prior knowledge."""
    yield from _serve(relay_sink, tmp_path_factory, "collector")


@pytest.fixture(scope="module")
def tls_collector(
    relay_sink: Sink, pki: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AsgiCollector]:
    """``https://``, ALPN offers h2 then http/1.1."""
    yield from _serve(
        relay_sink, tmp_path_factory, "tls-collector", certfile=pki["server"], keyfile=pki["server_key"]
    )


@pytest.fixture(scope="module")
def h1_tls_collector(
    relay_sink: Sink, pki: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AsgiCollector]:
    """``https://``, ALPN offers only http/1.1."""
    yield from _serve(
        relay_sink,
        tmp_path_factory,
        "h1-tls-collector",
        certfile=pki["server"],
        keyfile=pki["server_key"],
        alpn=("http/1.1",),
    )


# ---------------------------------------------------------------------------
# sending and checking
# ---------------------------------------------------------------------------


def _value(v: common_pb2.AnyValue) -> Any:
    which = v.WhichOneof("value")
    if which is None:
        return None
    x = getattr(v, which)
    if which == "array_value":
        return [_value(i) for i in x.values]
    if which == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in x.values}
    return x


def _attrs(kvs: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in kvs}


def _exporter(endpoint: str, case: str, **kw: Any) -> otlp.Exporter:
    """An exporter whose resource carries ``test.case`` (the sink is shared by the module)."""
    kw.setdefault("batch", otlp.BatchConfig(max_export_batch_size=16, schedule_delay=0.05))
    return otlp.Exporter(
        endpoint,
        resource={"service.name": "transports", "test.case": case},
        metrics=otlp.MetricsConfig(interval=3600),
        **kw,
    )


def _send_all_signals(exp: otlp.Exporter) -> set[int]:
    """N_SPANS spans, a counter, a histogram and a log record; returns the span ids."""
    tracer = exp.tracer("transports", version="1.0")
    ids = set()
    for i in range(N_SPANS):
        with tracer.span("op", attributes={"i": i, "s": "é✓", "b": b"\x00\xff"}) as span:
            ids.add(span.context.span_id)
    meter = exp.meter("transports")
    meter.counter("requests").add(7, {"route": "/"})
    meter.histogram("latency", unit="ms").record_many([1.0, 2.0, 3.0])
    exp.logger("transports").emit({"k": [1, 2]}, severity=otlp.Severity.WARN, attributes={"a": "b"})
    return ids


def _send_all_signals_flushed(endpoint: str, case: str, **kw: Any) -> tuple[set[int], dict[str, Any]]:
    """``_send_all_signals`` through a new ``_exporter``, flushed (which must succeed) and
    shut down; returns the span ids and the stats after the flush."""
    exp = _exporter(endpoint, case, **kw)
    try:
        ids = _send_all_signals(exp)
        assert exp.force_flush(timeout=30.0), exp.stats()
        stats = exp.stats()
    finally:
        exp.shutdown(timeout=10.0)
    return ids, stats


def _mine(collector: AsgiCollector, signal: str, case: str) -> list[tuple[dict[str, Any], Any]]:
    """(collector record, request) of this test case, in arrival order."""
    out = []
    for rec, req in collector.received(signal):
        resources = [x.resource for x in getattr(req, RESOURCE_FIELD[signal])]
        if any(_attrs(res.attributes).get("test.case") == case for res in resources):
            out.append((rec, req))
    return out


def _check_all_signals(collector: AsgiCollector, case: str, ids: set[int]) -> list[dict[str, Any]]:
    """What _send_all_signals sent arrived intact, each span exactly once; returns the records."""
    got = {s: _mine(collector, s, case) for s in ("traces", "metrics", "logs")}
    spans = [
        (rs.resource, ss.scope, sp)
        for _, req in got["traces"]
        for rs in req.resource_spans
        for ss in rs.scope_spans
        for sp in ss.spans
    ]
    assert len(spans) == N_SPANS, f"{len(spans)} spans arrived, sent {N_SPANS}"
    assert {int.from_bytes(sp.span_id, "big") for _, _, sp in spans} == ids
    for resource, scope, sp in spans:
        assert _attrs(resource.attributes)["service.name"] == "transports"
        assert (scope.name, scope.version) == ("transports", "1.0")
        assert sp.name == "op"
        a = _attrs(sp.attributes)
        assert (a["s"], a["b"]) == ("é✓", b"\x00\xff") and 0 <= a["i"] < N_SPANS
    assert sorted(_attrs(sp.attributes)["i"] for _, _, sp in spans) == list(range(N_SPANS))

    assert got["metrics"], "no metrics request arrived"
    metrics = {
        m.name: m
        for rm in got["metrics"][-1][1].resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
    }
    (point,) = metrics["requests"].sum.data_points
    assert point.as_int == 7 and _attrs(point.attributes) == {"route": "/"}
    (hist,) = metrics["latency"].histogram.data_points
    assert (hist.count, hist.sum, metrics["latency"].unit) == (3, 6.0, "ms")

    logs = [
        lr
        for _, req in got["logs"]
        for rl in req.resource_logs
        for sl in rl.scope_logs
        for lr in sl.log_records
    ]
    assert len(logs) == 1
    assert _value(logs[0].body) == {"k": [1, 2]}
    assert logs[0].severity_number == int(otlp.Severity.WARN)
    assert _attrs(logs[0].attributes) == {"a": "b"}
    return [rec for recs in got.values() for rec, _ in recs]


def _export_all_signals(collector: AsgiCollector, **kw: Any) -> list[dict[str, Any]]:
    """Send every signal to ``collector`` with exporter options ``kw``; check it all arrived
    intact and was acknowledged; return the collector's records of these requests."""
    case = uuid.uuid4().hex
    ids, stats = _send_all_signals_flushed(collector.endpoint, case, **kw)
    assert stats["spans_exported"] == N_SPANS, stats
    assert stats["metric_points_exported"] == 2, stats
    assert stats["logs_exported"] == 1, stats
    assert stats["requests_failed"] == 0, stats
    records = _check_all_signals(collector, case, ids)
    assert all(r["status"] == 200 and r["error"] is None for r in records), records
    return records


# ---------------------------------------------------------------------------
# compression: zstd, gzip, none decoded by an independent stack
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("compression", COMPRESSIONS)
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_all_signals_arrive_compressed_as_asked(
    collector: AsgiCollector, protocol: str, compression: str
) -> None:
    """Spans, metrics and logs arrive intact with each compression, and the collector
    really received that encoding (header and magic bytes), decoded by zstandard/gzip."""
    records = _export_all_signals(collector, protocol=protocol, compression=compression)
    for r in records:
        if protocol == "grpc":
            assert (r["transport"], r["http_version"], r["content_type"]) == (
                "grpc",
                "2",
                "application/grpc",
            ), r
            assert r["grpc_status"] == 0
            assert r["compressed_flag"] == (0 if compression == "none" else 1), r
        else:
            assert (r["transport"], r["http_version"]) == ("http", "1.1"), r  # "auto" over http://
            assert r["content_type"] == CONTENT_TYPE[protocol], r
        if compression == "none":
            assert r["encoding"] in (None, "identity"), r
            assert r["wire_size"] == r["decoded_size"], r
        else:
            assert r["encoding"] == compression, r
            assert r["wire_head"].startswith(MAGIC[compression]), r


def _post(port: int, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_the_collector_decodes_what_independent_clients_send(collector: AsgiCollector) -> None:
    """The oracle itself: requests made with zstandard, gzip, json and grpcio (no otlp code)
    are decoded and relayed; garbage is refused; so a pass above is not our code agreeing
    with itself."""
    case = uuid.uuid4().hex
    req = trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(
                resource=resource_pb2.Resource(
                    attributes=[
                        common_pb2.KeyValue(key="test.case", value=common_pb2.AnyValue(string_value=case))
                    ]
                ),
                scope_spans=[
                    trace_pb2.ScopeSpans(
                        spans=[
                            trace_pb2.Span(
                                trace_id=b"\xab" * 16, span_id=bytes([0, 0, 0, 0, 0, 0, 0, i + 1]), name="x"
                            )
                            for i in range(3)
                        ]
                    )
                ],
            )
        ]
    )
    raw = req.SerializeToString()
    # the same request in OTLP/JSON, ids in hex (upper case: decoders accept any case)
    json_body = json.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {"attributes": [{"key": "test.case", "value": {"stringValue": case}}]},
                    "scopeSpans": [
                        {
                            "spans": [
                                {"traceId": "AB" * 16, "spanId": f"{i + 1:016X}", "name": "x"}
                                for i in range(3)
                            ]
                        }
                    ],
                }
            ]
        }
    ).encode()
    proto = {"Content-Type": "application/x-protobuf"}
    cases = [
        (zstandard.ZstdCompressor().compress(raw), {**proto, "Content-Encoding": "zstd"}),
        # two zstd frames, the second written without its content size
        (
            zstandard.ZstdCompressor().compress(raw[:10])
            + zstandard.ZstdCompressor(write_content_size=False).compress(raw[10:]),
            {**proto, "Content-Encoding": "zstd"},
        ),
        (gzip.compress(raw), {**proto, "Content-Encoding": "gzip"}),
        (raw, {**proto, "Content-Encoding": "identity"}),
        (
            zstandard.ZstdCompressor().compress(json_body),
            {"Content-Type": "application/json", "Content-Encoding": "zstd"},
        ),
    ]
    for body, headers in cases:
        status, answer = _post(collector.port, "/v1/traces", body, headers)
        assert status == 200, (headers, answer)
    bad = [
        (b"\xff\xff\xff", proto, 400),
        (zstandard.ZstdCompressor().compress(raw)[:-3], {**proto, "Content-Encoding": "zstd"}, 400),
        (raw, {**proto, "Content-Encoding": "br"}, 415),
        (raw, {"Content-Type": "text/plain"}, 415),
        # unknown keys: refused here (a real receiver ignores them; an encoder must not write any)
        (b'{"resourceSpans": [{"bogus": 1}]}', {"Content-Type": "application/json"}, 400),
    ]
    for body, headers, expected in bad:
        status, answer = _post(collector.port, "/v1/traces", body, headers)
        assert status == expected, (headers, status, answer)
    # grpcio as the client: gzip-compressed message, status in trailers
    with grpc.insecure_channel(collector.endpoint.removeprefix("http://")) as channel:
        trace_service_pb2_grpc.TraceServiceStub(channel).Export(
            req, compression=grpc.Compression.Gzip, timeout=10
        )

    got = _mine(collector, "traces", case)
    assert [r for _, r in got] == [req] * (len(cases) + 1)
    assert [rec["encoding"] for rec, _ in got] == ["zstd", "zstd", "gzip", "identity", "zstd", "gzip"]
    assert [rec["http_version"] for rec, _ in got] == ["1.1"] * len(cases) + ["2"]


# ---------------------------------------------------------------------------
# HTTP versions
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", HTTP_PROTOCOLS)
def test_http2_with_prior_knowledge_over_plain_http(collector: AsgiCollector, protocol: str) -> None:
    """http_version="2" on http:// speaks HTTP/2 from the first byte (h2c): all signals
    arrive intact and the server served every request over HTTP/2."""
    records = _export_all_signals(collector, protocol=protocol, compression="zstd", http_version="2")
    assert {(r["http_version"], r["scheme"], r["encoding"]) for r in records} == {("2", "http", "zstd")}


@pytest.mark.parametrize("http_version", ["auto", "1.1"])
def test_plain_http_stays_on_http1_unless_asked(collector: AsgiCollector, http_version: str) -> None:
    """On http:// "auto" (the default) and "1.1" use HTTP/1.1: no h2c guessing."""
    records = _export_all_signals(collector, protocol="http/protobuf", http_version=http_version)
    assert {(r["http_version"], r["scheme"]) for r in records} == {("1.1", "http")}


@pytest.mark.parametrize(
    ("server", "http_version", "served_over"),
    [
        ("tls_collector", "auto", "2"),  # ALPN h2 offered first and chosen
        ("tls_collector", "1.1", "1.1"),  # only http/1.1 offered
        ("tls_collector", "2", "2"),
        ("h1_tls_collector", "auto", "1.1"),  # server picks http/1.1: fall back
        ("h1_tls_collector", "1.1", "1.1"),
    ],
)
@pytest.mark.parametrize("protocol", HTTP_PROTOCOLS)
def test_https_negotiates_the_http_version_with_alpn(
    request: pytest.FixtureRequest,
    pki: dict[str, Path],
    protocol: str,
    server: str,
    http_version: str,
    served_over: str,
) -> None:
    """Over https:// the version is what ALPN agreed on, within what http_version allows."""
    collector: AsgiCollector = request.getfixturevalue(server)
    records = _export_all_signals(
        collector, protocol=protocol, http_version=http_version, tls=otlp.TLS(ca_file=str(pki["ca"]))
    )
    assert {(r["http_version"], r["scheme"]) for r in records} == {(served_over, "https")}


def test_http2_required_but_refused_by_alpn_fails_and_counts(
    h1_tls_collector: AsgiCollector, pki: dict[str, Path]
) -> None:
    """http_version="2" to a server that only agrees to http/1.1: nothing is sent (not even
    as HTTP/1.1), every item is counted as failed at once (retrying cannot help) and the
    error says why."""
    before = len(h1_tls_collector.records())
    exp = _exporter(
        h1_tls_collector.endpoint,
        uuid.uuid4().hex,
        protocol="http/protobuf",
        http_version="2",
        tls=otlp.TLS(ca_file=str(pki["ca"])),
        # A budget that would allow many attempts: none is made after the first.
        retry=otlp.RetryPolicy(initial_backoff=0.05, max_backoff=0.1, max_elapsed=30.0),
        circuit_breaker=otlp.CircuitBreaker(failure_threshold=0),
    )
    try:
        tracer = exp.tracer("transports")
        for i in range(5):
            tracer.start_span("op", attributes={"i": i}).end()
        exp.logger("transports").emit("refused")
        assert not exp.force_flush(timeout=10.0)
        stats = exp.stats()
    finally:
        exp.shutdown(timeout=5.0)
    assert stats["spans_exported"] == 0 and stats["spans_failed_non_retryable"] == 5, stats
    assert stats["spans_dropped"] == 0 and stats["spans_pending"] == 0, stats
    assert stats["requests_retried"] == 0, stats
    assert stats["logs_exported"] == 0 and stats["logs_failed"] == 1, stats
    assert "ALPN h2" in str(stats["last_error"]), stats["last_error"]
    assert "ALPN h2" in str(stats["logs_last_error"]), stats["logs_last_error"]
    assert h1_tls_collector.records()[before:] == []


@pytest.mark.parametrize("http_version", ["auto", "2"])
@pytest.mark.parametrize("server", ["collector", "tls_collector"])
def test_grpc_over_h2c_and_tls_with_zstd(
    request: pytest.FixtureRequest, pki: dict[str, Path], server: str, http_version: str
) -> None:
    """gRPC with zstd to hypercorn, over h2c and over TLS (ALPN h2); "auto" and "2" are
    the same thing for gRPC."""
    collector: AsgiCollector = request.getfixturevalue(server)
    tls = otlp.TLS(ca_file=str(pki["ca"])) if collector.tls else None
    records = _export_all_signals(
        collector, protocol="grpc", compression="zstd", tls=tls, http_version=http_version
    )
    scheme = "https" if collector.tls else "http"
    assert {(r["transport"], r["http_version"], r["scheme"], r["encoding"]) for r in records} == {
        ("grpc", "2", scheme, "zstd")
    }


def test_grpc_over_http1_is_a_config_error() -> None:
    """gRPC needs HTTP/2: asking for HTTP/1.1 fails when the exporter is created."""
    with pytest.raises(otlp.errors.ConfigError, match="http_version"):
        otlp.Exporter("http://127.0.0.1:4317", protocol="grpc", http_version="1.1")


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_concurrent_exports_share_one_http2_connection(collector: AsgiCollector, protocol: str) -> None:
    """Many small batches, 8 exports in flight: every span arrives exactly once, over HTTP/2,
    as concurrent streams of a single connection."""
    n = 1000
    case = uuid.uuid4().hex
    before = len(collector.records())
    exp = _exporter(
        collector.endpoint,
        case,
        protocol=protocol,
        http_version="2",
        batch=otlp.BatchConfig(
            max_queue_size=4096, max_export_batch_size=10, schedule_delay=0.01, max_concurrent_exports=8
        ),
    )
    try:
        tracer = exp.tracer("transports")
        for i in range(n):
            tracer.start_span("op", attributes={"i": i}).end()
        assert exp.force_flush(timeout=60.0), exp.stats()
        stats = exp.stats()
    finally:
        exp.shutdown(timeout=10.0)
    assert stats["spans_exported"] == n and stats["requests_failed"] == 0, stats
    got = _mine(collector, "traces", case)
    spans = [sp for _, req in got for rs in req.resource_spans for ss in rs.scope_spans for sp in ss.spans]
    assert len(spans) == n, f"{len(spans)} spans arrived for {n} sent"
    assert sorted(_attrs(sp.attributes)["i"] for sp in spans) == list(range(n))
    records = [r for r in collector.records()[before:] if r["signal"] == "traces"]
    assert len(records) == len(got) == stats["requests_ok"]
    assert {r["http_version"] for r in records} == {"2"}
    assert len({tuple(r["client"]) for r in records}) == 1, "more than one connection"
    # streams overlapped in time: the exports were multiplexed, not serialized
    spans_in_time = sorted((r["t_start"], r["t"]) for r in records)
    overlap = max(sum(1 for s, e in spans_in_time if s <= t < e) for t, _ in spans_in_time)
    assert overlap >= 2, "no two requests were in flight at once"


# ---------------------------------------------------------------------------
# rotel over h2c
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", HTTP_PROTOCOLS)
def test_all_signals_reach_rotel_over_h2c(rotel_relay: Any, protocol: str) -> None:
    """rotel's OTLP/HTTP receiver takes HTTP/2 with prior knowledge (http_version="2"
    cannot fall back to HTTP/1.1 on http://; the collector tests above show it is h2c)."""
    sink = rotel_relay.sink
    case = uuid.uuid4().hex
    ids, stats = _send_all_signals_flushed(
        rotel_relay.http_endpoint, case, protocol=protocol, http_version="2"
    )
    assert stats["spans_exported"] == N_SPANS and stats["logs_exported"] == 1, stats
    assert stats["metric_points_exported"] == 2 and stats["requests_failed"] == 0, stats
    spans = sink.wait_for_spans(N_SPANS, timeout=30.0)
    assert {int.from_bytes(s.span_id, "big") for _, _, s in spans} == ids
    (log,) = (lr for _, _, lr in sink.wait_for_log_records(1, timeout=30.0))
    assert _value(log.body) == {"k": [1, 2]}
    metrics = sink.wait_until(
        lambda: {m.name: m for _, _, m in sink.metrics()} if len(sink.metrics()) >= 2 else None,
        timeout=30.0,
        what="both metrics",
    )
    assert set(metrics) == {"requests", "latency"}
    if protocol == "http/protobuf":
        assert metrics["requests"].sum.data_points[0].as_int == 7
        assert metrics["latency"].histogram.data_points[0].count == 3
    # Over OTLP/JSON rotel 0.0.1a15 loses 64-bit integers written as strings, as the
    # spec requires (``"asInt": "7"`` arrives unset, a histogram arrives without data),
    # whatever the HTTP version; the asgi collector tests check our JSON values.
