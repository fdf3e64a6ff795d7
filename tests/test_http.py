"""All signals over OTLP/gRPC and OTLP/HTTP (protobuf and JSON) through the rotel
collector to the reference sink."""

from __future__ import annotations

import pytest

import otlp

PROTOCOLS = ["grpc", "http/protobuf", "http/json"]
# rotel refuses zstd (HTTP 400, gRPC UNIMPLEMENTED); zstd is covered end to end by
# test_transports.py (a hypercorn collector), the embedded receiver's tests
# (rust/otlp/tests/pipeline.rs) and the transport benchmark.
COMPRESSIONS = ["none", "gzip"]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("compression", COMPRESSIONS)
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_all_signals_arrive_through_rotel(rotel_relay, protocol: str, compression: str) -> None:
    sink = rotel_relay.sink
    exp = otlp.Exporter(
        rotel_relay.endpoint if protocol == "grpc" else rotel_relay.http_endpoint,
        protocol=protocol,
        compression=compression,
        resource={"service.name": "http-test"},
        batch=otlp.BatchConfig(max_export_batch_size=50, schedule_delay=0.05),
        metrics=otlp.MetricsConfig(interval=3600),
    )
    assert exp.protocol == protocol
    tracer = exp.tracer("http", version="1.0")
    ids = set()
    for i in range(120):
        with tracer.span("op", attributes={"i": i, "s": "é", "b": b"\x00\xff"}) as span:
            ids.add(span.context.span_id)
    exp.meter("http").counter("requests").add(7, {"route": "/"})
    exp.logger("http").emit({"k": [1, 2]}, severity=otlp.Severity.WARN)
    assert exp.force_flush(timeout=30.0), exp.stats()
    sink.wait_for_spans(120, timeout=30.0)
    received = {int.from_bytes(s.span_id, "big") for _, _, s in sink.spans()}
    assert received == ids
    stats = exp.stats()
    assert stats["spans_exported"] == 120
    assert stats["metric_points_exported"] == 1
    assert stats["logs_exported"] == 1
    exp.shutdown(timeout=10.0)


def test_unknown_protocol_is_a_config_error() -> None:
    with pytest.raises(otlp.errors.ConfigError, match="'grpc', 'http/protobuf', 'http/json'"):
        otlp.Exporter("http://127.0.0.1:4318", protocol="http/xml")
