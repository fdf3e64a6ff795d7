"""``Exporter.from_env()`` and per-signal settings (``signals=``).

The variables are the OTLP exporter specification's (PROTOCOL.md, "Exporter
environment"); the end-to-end cases send through rotel and the grpcio reference sink.
"""

from __future__ import annotations

from typing import Any

import pytest
from peers.pki import make_pki

import otlp
from otlp import _env
from otlp.errors import ConfigError

P = "OTEL_EXPORTER_OTLP_"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No OTEL_* variable from the outside leaks into a test."""
    import os

    for name in list(os.environ):
        if name.startswith(("OTEL_EXPORTER_", "OTEL_BSP_", "OTEL_BLRP_", "OTEL_METRIC_")):
            monkeypatch.delenv(name)
    return monkeypatch


# ---------------------------------------------------------------------------
# reading the variables
# ---------------------------------------------------------------------------


def test_nothing_set_means_the_specification_defaults() -> None:
    assert _env.exporter_kwargs({}) == {"protocol": "http/protobuf"}
    assert _env.default_endpoint("http/protobuf") == "http://localhost:4318"
    assert _env.default_endpoint("http/json", "logs") == "http://localhost:4318/v1/logs"
    assert _env.default_endpoint("grpc") == "http://localhost:4317"


def test_every_generic_variable_is_read() -> None:
    kw = _env.exporter_kwargs(
        {
            P + "ENDPOINT": "https://collector.example:4318/base",
            P + "PROTOCOL": "http/json",
            P + "HEADERS": "Api-Key=a%20b%2Cc, tenant = x=y ,",
            P + "COMPRESSION": "zstd",
            P + "TIMEOUT": "2500",
            P + "CERTIFICATE": "/ca.pem",
            P + "CLIENT_CERTIFICATE": "/cert.pem",
            P + "CLIENT_KEY": "/key.pem",
            "OTEL_METRIC_EXPORT_INTERVAL": "15000",
            "OTEL_METRIC_EXPORT_TIMEOUT": "5000",
            P + "METRICS_TEMPORALITY_PREFERENCE": "Delta",
        }
    )
    assert kw == {
        "protocol": "http/json",
        "endpoint": "https://collector.example:4318/base",
        # Names are lower-cased (HTTP/2 needs it); both sides are percent-decoded.
        "headers": {"api-key": "a b,c", "tenant": "x=y"},
        "compression": "zstd",
        "timeout": 2.5,
        "tls": otlp.TLS(ca_file="/ca.pem", cert_file="/cert.pem", key_file="/key.pem"),
        "metrics": otlp.MetricsConfig(interval=15.0, timeout=5.0, temporality="delta"),
    }


def test_per_signal_variables_win_and_only_for_their_signal() -> None:
    kw = _env.exporter_kwargs(
        {
            P + "ENDPOINT": "http://base:4318",
            P + "HEADERS": "a=1",
            P + "TRACES_ENDPOINT": "http://traces:9999/custom/path",
            P + "LOGS_PROTOCOL": "grpc",
            P + "LOGS_ENDPOINT": "logs:4317",
            P + "LOGS_INSECURE": "true",
            P + "METRICS_HEADERS": "b=2",
            P + "METRICS_TIMEOUT": "100",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE": "64",
        }
    )
    assert kw["endpoint"] == "http://base:4318" and kw["headers"] == {"a": "1"}
    assert kw["signals"] == {
        "traces": {
            "endpoint": "http://traces:9999/custom/path",
            "batch": otlp.BatchConfig(schedule_delay=0.2),
        },
        "metrics": {"headers": {"b": "2"}, "timeout": 0.1},
        # A schemeless gRPC endpoint takes its scheme from INSECURE.
        "logs": {
            "protocol": "grpc",
            "endpoint": "http://logs:4317",
            "batch": otlp.BatchConfig(max_export_batch_size=64, schedule_delay=1.0),
        },
    }


def test_a_signal_with_its_own_protocol_gets_that_protocols_default_endpoint() -> None:
    kw = _env.exporter_kwargs({P + "PROTOCOL": "grpc", P + "TRACES_PROTOCOL": "http/protobuf"})
    assert kw["signals"]["traces"] == {
        "protocol": "http/protobuf",
        "endpoint": "http://localhost:4318/v1/traces",
    }


def test_schemeless_grpc_endpoint_is_https_unless_insecure() -> None:
    assert _env.exporter_kwargs({P + "PROTOCOL": "grpc", P + "ENDPOINT": "c:4317"})["endpoint"] == (
        "https://c:4317"
    )
    kw = _env.exporter_kwargs({P + "PROTOCOL": "grpc", P + "ENDPOINT": "c:4317", P + "INSECURE": "TRUE"})
    assert kw["endpoint"] == "http://c:4317"
    # The scheme wins over INSECURE.
    kw = _env.exporter_kwargs(
        {P + "PROTOCOL": "grpc", P + "ENDPOINT": "https://c:4317", P + "INSECURE": "true"}
    )
    assert kw["endpoint"] == "https://c:4317"


def test_empty_variables_count_as_unset() -> None:
    env = {P + n: "" for n in ("ENDPOINT", "PROTOCOL", "HEADERS", "TIMEOUT", "TRACES_ENDPOINT")}
    assert _env.exporter_kwargs({**env, "OTEL_BSP_SCHEDULE_DELAY": "  "}) == {"protocol": "http/protobuf"}


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (P + "PROTOCOL", "http/xml", "OTEL_EXPORTER_OTLP_PROTOCOL must be one of"),
        (P + "TRACES_PROTOCOL", "thrift", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL must be one of"),
        (P + "COMPRESSION", "brotli", "OTEL_EXPORTER_OTLP_COMPRESSION must be one of"),
        (P + "TIMEOUT", "10s", "OTEL_EXPORTER_OTLP_TIMEOUT must be a number of milliseconds"),
        (P + "TIMEOUT", "0", "OTEL_EXPORTER_OTLP_TIMEOUT must be more than 0"),
        (P + "LOGS_TIMEOUT", "-5", "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT must be a number"),
        (P + "INSECURE", "yes", "OTEL_EXPORTER_OTLP_INSECURE must be 'true' or 'false'"),
        (P + "HEADERS", "a=1,broken", "OTEL_EXPORTER_OTLP_HEADERS: entry 2 is not a key=value pair"),
        (P + "TIMEOUT", "1e22", "OTEL_EXPORTER_OTLP_TIMEOUT must be at most 31536000000 milliseconds"),
        (P + "TIMEOUT", "nan", "OTEL_EXPORTER_OTLP_TIMEOUT must be a finite number of milliseconds"),
        ("OTEL_BSP_SCHEDULE_DELAY", "1e300", "OTEL_BSP_SCHEDULE_DELAY must be at most"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", str(10**12), "OTEL_BSP_MAX_QUEUE_SIZE must be between 1 and 100000000"),
        ("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "0", "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE must be between 1 and"),
        (P + "ENDPOINT", "collector:4318", "OTEL_EXPORTER_OTLP_ENDPOINT must start with http://"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "1.5", "OTEL_BSP_MAX_QUEUE_SIZE must be a whole number"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "soon", "OTEL_METRIC_EXPORT_INTERVAL must be a number"),
        (P + "METRICS_TEMPORALITY_PREFERENCE", "both", "TEMPORALITY_PREFERENCE must be one of"),
    ],
)
def test_a_bad_value_is_a_config_error_naming_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _env.exporter_kwargs({name: value})


def test_header_values_are_never_echoed() -> None:
    # A ':' typo for '=' must not print the token in a message that ends up in logs.
    for value in ("authorization:Bearer s3cr3t-token", "x-api-key s3cr3t-token", "a=1,s3cr3t-token"):
        with pytest.raises(ConfigError) as err:
            _env.exporter_kwargs({P + "HEADERS": value})
        assert "s3cr3t" not in str(err.value)
        assert "OTEL_EXPORTER_OTLP_HEADERS" in str(err.value)
    with pytest.raises(ConfigError, match="key=value, not key:value"):
        _env.exporter_kwargs({P + "TRACES_HEADERS": "authorization:Bearer s3cr3t-token"})


def test_endpoint_credentials_and_queries_are_never_echoed() -> None:
    for value in ("user:s3cr3t@collector:4318", "collector:4318/v1/traces?api_key=s3cr3t"):
        with pytest.raises(ConfigError, match="OTEL_EXPORTER_OTLP_ENDPOINT must start with") as err:
            _env.exporter_kwargs({P + "ENDPOINT": value})
        assert "s3cr3t" not in str(err.value)


def test_a_queue_smaller_than_the_default_batch_is_taken_as_the_batch_size() -> None:
    kw = _env.exporter_kwargs({"OTEL_BSP_MAX_QUEUE_SIZE": "100"})
    batch = kw["signals"]["traces"]["batch"]
    assert (batch.max_queue_size, batch.max_export_batch_size) == (100, 100)
    kw = _env.exporter_kwargs({"OTEL_BLRP_MAX_EXPORT_BATCH_SIZE": "5000"})
    batch = kw["signals"]["logs"]["batch"]
    assert (batch.max_queue_size, batch.max_export_batch_size) == (5000, 5000)
    # Both given and inconsistent: the message names both variables, not BatchConfig's fields.
    with pytest.raises(ConfigError) as err:
        _env.exporter_kwargs({"OTEL_BSP_MAX_QUEUE_SIZE": "100", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "200"})
    assert (
        str(err.value) == "OTEL_BSP_MAX_EXPORT_BATCH_SIZE (200) must not exceed OTEL_BSP_MAX_QUEUE_SIZE (100)"
    )


def test_from_env_reads_os_environ_and_overrides_win(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv(P + "PROTOCOL", "grpc")
    clean_env.setenv(P + "COMPRESSION", "gzip")
    with otlp.Exporter.from_env() as exp:
        assert (exp.endpoint, exp.protocol) == ("http://localhost:4317", "grpc")
        assert "gzip" in repr(exp)
    with otlp.Exporter.from_env(protocol="http/json", compression="none") as exp:
        # The default endpoint follows the protocol finally chosen.
        assert (exp.endpoint, exp.protocol) == ("http://localhost:4318", "http/json")
        assert "gzip" not in repr(exp)


def test_from_env_reports_unusable_values_at_once(clean_env: pytest.MonkeyPatch, tmp_path: Any) -> None:
    clean_env.setenv(P + "LOGS_CERTIFICATE", str(tmp_path / "missing.pem"))
    clean_env.setenv(P + "LOGS_ENDPOINT", "https://127.0.0.1:4318/v1/logs")
    with pytest.raises(ConfigError, match=r"signals\['logs'\].*tls.ca_file.*cannot read"):
        otlp.Exporter.from_env()


# ---------------------------------------------------------------------------
# signals= (what from_env builds on)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("signals", "error", "message"),
    [
        ({"spans": {}}, ConfigError, "unknown signal 'spans'"),
        ({"logs": {"endpiont": "x"}}, ConfigError, r"signals\['logs'\].*unknown setting 'endpiont'"),
        ({"metrics": {"batch": otlp.BatchConfig()}}, ConfigError, "unknown setting 'batch'"),
        ({"logs": {"compression": "lz4"}}, ConfigError, r"signals\['logs'\].*`compression`"),
        ({"traces": {"endpoint": "ftp://x"}}, ConfigError, r"signals\['traces'\].*endpoint"),
        ({"traces": {"timeout": -1.0}}, ConfigError, r"signals\['traces'\].*timeout"),
        ({"traces": {"protocol": "grpc", "http_version": "1.1"}}, ConfigError, "gRPC runs on HTTP/2"),
        ({"logs": {"headers": {"bad header": "v"}}}, ConfigError, r"signals\['logs'\]"),
        ({"logs": {"timeout": "fast"}}, TypeError, r"signals\['logs'\]`: `timeout` must be a number"),
        ({"logs": "http://x"}, TypeError, r"signals\['logs'\]` must be a dict"),
        (["logs"], TypeError, "`signals` must be a dict"),
    ],
)
def test_bad_signal_settings_are_refused_at_construction(signals: Any, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        otlp.Exporter("http://127.0.0.1:4318", protocol="http/protobuf", signals=signals)


def _send_all(exp: otlp.Exporter) -> set[int]:
    tracer = exp.tracer("env")
    ids = set()
    for i in range(20):
        with tracer.span("op", attributes={"i": i}) as span:
            ids.add(span.context.span_id)
    exp.meter("env").counter("requests").add(3)
    exp.logger("env").emit("hello", severity=otlp.Severity.INFO)
    return ids


@pytest.mark.timeout(120)
def test_each_signal_goes_where_the_environment_says(rotel_relay: Any, clean_env: pytest.MonkeyPatch) -> None:
    """Traces over OTLP/HTTP to rotel's base URL, metrics to rotel's exact metrics URL
    (posted to as it is: appending /v1/metrics to it would be a 404), logs over gRPC
    straight to the sink; every item arrives and is counted."""
    sink = rotel_relay.sink
    clean_env.setenv(P + "ENDPOINT", rotel_relay.http_endpoint)
    clean_env.setenv(P + "METRICS_ENDPOINT", rotel_relay.http_endpoint + "/v1/metrics")
    clean_env.setenv(P + "LOGS_PROTOCOL", "grpc")
    clean_env.setenv(P + "LOGS_ENDPOINT", sink.endpoint.removeprefix("http://"))
    clean_env.setenv(P + "LOGS_INSECURE", "true")
    clean_env.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
    exp = otlp.Exporter.from_env(metrics=otlp.MetricsConfig(interval=3600))
    try:
        ids = _send_all(exp)
        assert exp.force_flush(timeout=30.0), exp.stats()
        sink.wait_for_spans(20, timeout=30.0)
        sink.wait_for_metrics(1, timeout=30.0)
        sink.wait_for_log_records(1, timeout=30.0)
        stats = exp.stats()
    finally:
        exp.shutdown(timeout=10.0)
    assert {int.from_bytes(s.span_id, "big") for _, _, s in sink.spans()} == ids
    assert (stats["spans_exported"], stats["metric_points_exported"], stats["logs_exported"]) == (20, 1, 1)
    # The log record came over gRPC from the exporter itself, not through rotel.
    logs = [head for kind, head, _ in sink.records("logs")]
    assert logs and all("otlp" in dict(h["metadata"]).get("user-agent", "") for h in logs), logs


@pytest.mark.timeout(60)
def test_a_signal_can_have_its_own_tls(sink: Any, tmp_path: Any) -> None:
    """signals= carries TLS too: an untrusted CA for logs fails only the logs."""
    pki = make_pki(tmp_path)
    exp = otlp.Exporter(
        sink.endpoint,
        protocol="grpc",
        retry=otlp.RetryPolicy(initial_backoff=0.05, max_backoff=0.1, max_elapsed=0.3),
        signals={"logs": {"endpoint": "https://127.0.0.1:9", "tls": otlp.TLS(ca_file=str(pki["other_ca"]))}},
        metrics=otlp.MetricsConfig(interval=3600),
    )
    try:
        _send_all(exp)
        assert not exp.force_flush(timeout=10.0)
        stats = exp.stats()
    finally:
        exp.shutdown(timeout=5.0)
    assert stats["spans_exported"] == 20 and stats["metric_points_exported"] == 1, stats
    assert stats["logs_exported"] == 0 and stats["logs_failed"] == 1, stats
