"""gRPC over TLS and mutual TLS against a grpcio server with certificates made here, and
certificates the exporter must refuse at once (gRPC and OTLP/HTTP)."""

from __future__ import annotations

import threading
import time
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from peers.faults import HttpFaultServer, server_tls
from peers.pki import make_pki

import otlp


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, Path]:
    return make_pki(tmp_path_factory.mktemp("pki"))


class _Traces(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self) -> None:
        self.spans = 0
        self.lock = threading.Lock()

    def Export(self, request, context):
        n = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
        with self.lock:
            self.spans += n
        return trace_service_pb2.ExportTraceServiceResponse()


@pytest.fixture
def tls_server(pki):
    servers = []

    def start(require_client_auth: bool, cert: str = "server"):
        traces = _Traces()
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(traces, server)
        creds = grpc.ssl_server_credentials(
            [(pki["server_key"].read_bytes(), pki[cert].read_bytes())],
            root_certificates=pki["ca"].read_bytes() if require_client_auth else None,
            require_client_auth=require_client_auth,
        )
        port = server.add_secure_port("127.0.0.1:0", creds)
        server.start()
        servers.append(server)
        return f"https://127.0.0.1:{port}", traces

    yield start
    for s in servers:
        s.stop(grace=None)


def _send(endpoint: str, tls: otlp.TLS, n: int = 25) -> dict[str, object]:
    exp = otlp.Exporter(
        endpoint,
        tls=tls,
        retry=otlp.RetryPolicy(initial_backoff=0.05, max_backoff=0.1, max_elapsed=1.0),
        circuit_breaker=otlp.CircuitBreaker(failure_threshold=0),
    )
    tracer = exp.tracer("tls")
    for i in range(n):
        tracer.start_span("s", attributes={"i": i}).end()
    exp.force_flush(timeout=10.0)
    stats = exp.stats()
    exp.shutdown(timeout=2.0)
    return stats


def _wait(pred, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not pred():
        time.sleep(0.01)
    return pred()


@pytest.mark.timeout(60)
def test_tls_with_a_custom_ca(tls_server, pki) -> None:
    endpoint, traces = tls_server(require_client_auth=False)
    stats = _send(endpoint, otlp.TLS(ca_file=str(pki["ca"])))
    assert stats["spans_exported"] == 25, stats
    assert _wait(lambda: traces.spans == 25, 5.0)


@pytest.mark.timeout(60)
def test_mutual_tls(tls_server, pki) -> None:
    endpoint, traces = tls_server(require_client_auth=True)
    stats = _send(
        endpoint,
        otlp.TLS(ca_file=str(pki["ca"]), cert_file=str(pki["client"]), key_file=str(pki["client_key"])),
    )
    assert stats["spans_exported"] == 25, stats
    assert _wait(lambda: traces.spans == 25, 5.0)
    # Without a client certificate the server refuses the handshake: nothing
    # arrives, every span is counted, and the error says why.
    stats = _send(endpoint, otlp.TLS(ca_file=str(pki["ca"])), n=5)
    assert stats["spans_exported"] == 0
    assert stats["spans_failed"] == 5, stats
    assert traces.spans == 25


@pytest.mark.timeout(60)
def test_an_untrusted_server_is_refused_and_reported(tls_server, pki) -> None:
    endpoint, traces = tls_server(require_client_auth=False)
    stats = _send(endpoint, otlp.TLS(ca_file=str(pki["other_ca"])), n=5)
    assert stats["spans_failed"] == 5, stats
    assert "TLS handshake" in str(stats["last_error"])
    assert traces.spans == 0
    # insecure=True skips the chain check.
    stats = _send(endpoint, otlp.TLS(insecure=True), n=5)
    assert stats["spans_exported"] == 5, stats


def test_bad_certificate_files_fail_at_construction(pki, tmp_path) -> None:
    with pytest.raises(otlp.errors.ConfigError, match=r"tls\.ca_file"):
        otlp.Exporter("https://127.0.0.1:4317", tls=otlp.TLS(ca_file=str(tmp_path / "missing.pem")))
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(otlp.errors.ConfigError, match="no PEM certificate"):
        otlp.Exporter("https://127.0.0.1:4317", tls=otlp.TLS(ca_file=str(junk)))
    with pytest.raises(otlp.errors.ConfigError, match="do not form a usable pair"):
        otlp.Exporter(
            "https://127.0.0.1:4317",
            tls=otlp.TLS(
                ca_file=str(pki["ca"]), cert_file=str(pki["client"]), key_file=str(pki["other_key"])
            ),
        )
    with pytest.raises(otlp.errors.ConfigError, match="go together"):
        otlp.TLS(cert_file=str(pki["client"]))


# A certificate that does not verify will not verify on the next attempt either: the
# batch fails at once (not after the retry budget), saying why.
REFUSED = [
    pytest.param("expired", "certificate expired", id="expired"),
    pytest.param("wrong_name", "not valid for name", id="wrong-name"),
    pytest.param("rogue", "UnknownIssuer", id="unknown-ca"),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
@pytest.mark.parametrize(("cert", "reason"), REFUSED)
def test_a_refused_server_certificate_fails_at_once(tls_server, pki, protocol, cert, reason) -> None:
    if protocol == "grpc":
        endpoint, traces = tls_server(require_client_auth=False, cert=cert)
        received = lambda: traces.spans  # noqa: E731
    else:
        srv = HttpFaultServer(tls=server_tls(pki[cert], pki["server_key"], ["http/1.1"]))
        endpoint = srv.endpoint
        received = lambda: len(srv.acked_ids())  # noqa: E731
    exp = otlp.Exporter(
        endpoint,
        protocol=protocol,
        tls=otlp.TLS(ca_file=str(pki["ca"])),
        retry=otlp.RetryPolicy(initial_backoff=0.2, max_backoff=1.0, max_elapsed=30.0),
        circuit_breaker=otlp.CircuitBreaker(failure_threshold=0),
    )
    try:
        tracer = exp.tracer("tls")
        for i in range(5):
            tracer.start_span("s", attributes={"i": i}).end()
        started = time.monotonic()
        assert exp.force_flush(timeout=10.0) is False
        took = time.monotonic() - started
        stats = exp.stats()
    finally:
        exp.shutdown(timeout=2.0)
        if protocol != "grpc":
            srv.close()
    # One attempt, no retry, well within the 30 s budget.
    assert took < 3.0, (took, stats)
    assert stats["requests_failed"] == 1 and stats["requests_retried"] == 0, stats
    assert stats["spans_failed_non_retryable"] == 5 and stats["spans_exported"] == 0, stats
    last_error = str(stats["last_error"])
    assert reason in last_error and "certificate" in last_error, last_error
    assert received() == 0
