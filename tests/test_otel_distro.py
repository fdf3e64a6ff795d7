"""Zero-code setup: the entry points otlp registers with the OpenTelemetry API, with
opentelemetry-instrument and with the official SDK's configurator.

The API's global providers can be set once per process, so everything that installs them
runs in a fresh interpreter (bounded in time, into a reference sink); the checks that set
nothing run here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from peers.process import child_env, die_with_parent, poll_until

from otlp.errors import ConfigError
from otlp.otel import distro

INSTRUMENT = Path(sys.executable).with_name("opentelemetry-instrument")
RUN_TIMEOUT = 60.0


# Emits one span, one counter increment, one log record through the logs API and one
# through ``logging``, and fills ``result`` with what the API's globals are.
EMIT = """
import json, logging
from opentelemetry import _logs, metrics, trace

def name(obj):
    return f"{type(obj).__module__}.{type(obj).__qualname__}"

with trace.get_tracer("zero").start_as_current_span("work") as span:
    metrics.get_meter("zero").create_counter("zero.items").add(3, {"k": "v"})
    _logs.get_logger("zero").emit(body="inside work", severity_number=_logs.SeverityNumber.WARN)
    logging.getLogger("zero.std").warning("from logging")
result = {
    "tracer_provider": name(trace.get_tracer_provider()),
    "meter_provider": name(metrics.get_meter_provider()),
    "logger_provider": name(_logs.get_logger_provider()),
    "trace_id": format(span.get_span_context().trace_id, "032x"),
    "root_handlers": [name(h) for h in logging.getLogger().handlers],
}
"""
# The last lines of every script; the providers flush at exit, after them.
REPORT = """
import json
print("RESULT " + json.dumps(result), flush=True)
"""


def run_python(code: str, env: dict[str, str], *, instrument: bool = False) -> dict[str, Any]:
    """Run ``code`` (under ``opentelemetry-instrument`` if asked) in a fresh interpreter
    with ``env`` on top of a clean environment; return its ``result``."""
    cmd = [sys.executable, "-c", textwrap.dedent(code) + REPORT]
    if instrument:
        cmd.insert(0, str(INSTRUMENT))
    proc = subprocess.run(
        cmd,
        env=child_env(**env),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        preexec_fn=die_with_parent,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-4000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, proc.stdout + proc.stderr
    result: dict[str, Any] = json.loads(lines[-1][len("RESULT ") :])
    return result


def sink_env(sink: Any, **extra: str) -> dict[str, str]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_SERVICE_NAME": "zero",
        **extra,
    }


def zero_records(sink: Any) -> list[Any]:
    """The log records of :data:`EMIT`'s loggers. Not all records: with a handler on the
    root logger from the start, what opentelemetry-instrument itself logs while it sets
    up (e.g. which configurator it skipped) is exported too, as the SDK's handler does."""
    return [lr for _, scope, lr in sink.log_records() if scope.name.startswith("zero")]


def delivered(sink: Any, result: dict[str, Any], logs: int) -> dict[str, Any]:
    """What reached ``sink`` from :data:`EMIT` (waiting for ``logs`` log records)."""
    spans = sink.wait_for_spans(1)
    points = sink.wait_for_metrics(1)
    poll_until(
        lambda: len(zero_records(sink)) >= logs,
        10.0,
        lambda: TimeoutError(f"fewer than {logs} log records from EMIT arrived: {zero_records(sink)}"),
    )
    records = zero_records(sink)
    return {
        "spans": [(sp.name, sp.trace_id.hex() == result["trace_id"]) for _, _, sp in spans],
        # Each metric's last collection: a flush and the exit both export the (cumulative)
        # totals.
        "metrics": list({m.name: [p.as_int for p in m.sum.data_points] for _, _, m in points}.items()),
        "logs": sorted((lr.body.string_value, lr.trace_id.hex() == result["trace_id"]) for lr in records),
        "agents": {
            md.get("user-agent", "").split("/")[0]
            for kind in ("traces", "logs")
            for md in sink.metadata(kind)
        },
    }


def test_api_loader_selects_otlp_providers_by_environment(sink: Any) -> None:
    """``OTEL_PYTHON_{TRACER,METER,LOGGER}_PROVIDER=otlp``, no other set-up: the API's own
    loader builds otlp's providers, and what the code records reaches the collector."""
    env = sink_env(
        sink,
        OTEL_PYTHON_TRACER_PROVIDER="otlp",
        OTEL_PYTHON_METER_PROVIDER="otlp",
        OTEL_PYTHON_LOGGER_PROVIDER="otlp",
    )
    result = run_python(EMIT, env)
    for provider in ("tracer_provider", "meter_provider", "logger_provider"):
        assert result[provider].startswith("otlp.otel."), result
    got = delivered(sink, result, logs=1)
    assert got["spans"] == [("work", True)]
    assert got["metrics"] == [("zero.items", [3])]
    # No logging handler was installed: only the logs API's record arrives.
    assert got["logs"] == [("inside work", True)]
    assert got["agents"] == {"otlp"}


@pytest.mark.parametrize("named_instance", [False, True])
def test_configure_installs_all_three_providers_on_one_exporter(sink: Any, named_instance: bool) -> None:
    code = (
        """
from otlp.otel import distro
exporter = distro.configure(auto_instrumentation_version="9.9b9")
"""
        + EMIT
        + """
assert exporter.force_flush(10)
result["stats"] = dict(exporter.stats())
"""
    )
    extra = {"OTEL_RESOURCE_ATTRIBUTES": "service.instance.id=zero-1,team=a"} if named_instance else {}
    result = run_python(code, sink_env(sink, **extra))
    for provider in ("tracer_provider", "meter_provider", "logger_provider"):
        assert result[provider].startswith("otlp.otel."), result
    # Everything went through the exporter configure() returned: one exporter for all.
    stats = result["stats"]
    assert (stats["spans_exported"], stats["logs_exported"]) == (1, 1), stats
    assert stats["metric_points_exported"] >= 1, stats
    got = delivered(sink, result, logs=1)
    assert got["spans"] == [("work", True)]
    assert got["metrics"] == [("zero.items", [3])]
    assert got["logs"] == [("inside work", True)]
    # The resource the SDK's configurator would build, the same on every signal: a random
    # instance id unless the environment names one.
    instance_ids = set()
    for kind, field in (
        ("traces", "resource_spans"),
        ("metrics", "resource_metrics"),
        ("logs", "resource_logs"),
    ):
        for req in sink.requests(kind):
            for group in getattr(req, field):
                attrs = {kv.key: kv.value.string_value for kv in group.resource.attributes}
                assert attrs["service.name"] == "zero"
                assert attrs["telemetry.auto.version"] == "9.9b9"
                instance_ids.add(attrs["service.instance.id"])
    (instance_id,) = instance_ids
    if named_instance:
        assert instance_id == "zero-1"
    else:
        assert uuid.UUID(instance_id).version == 4


def test_exporter_variables_choose_the_signals_none_leaves_one_to_the_no_op_api(sink: Any) -> None:
    code = """
from opentelemetry import _logs, metrics, trace
from otlp.otel import distro
distro.configure()
result = {
    "tracer": type(trace.get_tracer_provider()).__module__,
    "meter": type(metrics.get_meter_provider()).__module__,
    "logger": type(_logs.get_logger_provider()).__module__,
}
"""
    env = sink_env(
        sink, OTEL_TRACES_EXPORTER="otlp_rust", OTEL_METRICS_EXPORTER="none", OTEL_LOGS_EXPORTER="otlp"
    )
    result = run_python(code, env)
    assert result["tracer"].startswith("otlp.otel")
    assert result["meter"].startswith("opentelemetry.metrics")
    assert result["logger"].startswith("otlp.otel")


def test_sdk_disabled_sets_nothing_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "not a protocol")  # never read
    assert distro.configure() is None


def test_sdk_disabled_under_opentelemetry_instrument_leaves_the_api_a_no_op(sink: Any) -> None:
    """The application runs, instrumented, and nothing is made or sent: no provider,
    no exporter, no logging handler."""
    env = sink_env(sink, OTEL_PYTHON_DISTRO="otlp", OTEL_SDK_DISABLED="true")
    result = run_python(EMIT, env, instrument=True)
    assert result["tracer_provider"] == "opentelemetry.trace.ProxyTracerProvider"
    assert result["meter_provider"] == "opentelemetry.metrics._internal._ProxyMeterProvider"
    assert result["logger_provider"] == "opentelemetry._logs._internal.ProxyLoggerProvider"
    assert not any(h.startswith("otlp.") for h in result["root_handlers"]), result
    assert result["trace_id"] == "0" * 32
    # The process has exited: whatever it would have sent had arrived by then.
    assert set(sink.counts().values()) == {0}, sink.counts()


def test_every_signal_none_sets_nothing_up(monkeypatch: pytest.MonkeyPatch) -> None:
    for signal in ("TRACES", "METRICS", "LOGS"):
        monkeypatch.setenv(f"OTEL_{signal}_EXPORTER", "none")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "not a protocol")  # never read
    assert distro.configure() is None


@pytest.mark.parametrize("value", ["console", "otlp,console", "zipkin"])
def test_an_exporter_otlp_cannot_be_is_refused_by_name(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("OTEL_LOGS_EXPORTER", value)
    with pytest.raises(ConfigError, match="OTEL_LOGS_EXPORTER must be 'otlp', 'otlp_rust' or 'none'") as e:
        distro.configure()
    assert repr(value.split(",")[-1]) in str(e.value)


def test_a_bad_standard_variable_is_refused_before_any_provider_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from opentelemetry import trace

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon")
    before = trace.get_tracer_provider()
    with pytest.raises(ConfigError, match="OTEL_EXPORTER_OTLP_PROTOCOL"):
        distro.configure()
    assert trace.get_tracer_provider() is before


def test_distro_keeps_opentelemetry_distro_defaults_and_selects_the_configurator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_PROTOCOL", raising=False)
    monkeypatch.delenv("OTEL_PYTHON_CONFIGURATOR", raising=False)
    distro.OtlpDistro().configure()
    assert os.environ["OTEL_EXPORTER_OTLP_PROTOCOL"] == "grpc"
    assert os.environ["OTEL_PYTHON_CONFIGURATOR"] == "otlp"
    # What the user set stays.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_PYTHON_CONFIGURATOR", "configurator")
    distro.OtlpDistro().configure()
    assert os.environ["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
    assert os.environ["OTEL_PYTHON_CONFIGURATOR"] == "configurator"


def test_opentelemetry_instrument_needs_only_the_distro_named(sink: Any) -> None:
    """With opentelemetry-distro installed too, ``OTEL_PYTHON_DISTRO=otlp`` alone selects
    otlp's configurator; the logging instrumentation's handler feeds otlp's logs."""
    result = run_python(EMIT, sink_env(sink, OTEL_PYTHON_DISTRO="otlp"), instrument=True)
    for provider in ("tracer_provider", "meter_provider", "logger_provider"):
        assert result[provider].startswith("otlp.otel."), result
    got = delivered(sink, result, logs=2)
    assert got["spans"] == [("work", True)]
    assert got["logs"] == [("from logging", True), ("inside work", True)]
    assert got["agents"] == {"otlp"}


def test_logging_auto_instrumentation_variable_installs_one_handler(sink: Any) -> None:
    """``OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED=true``: otlp's handler on the root
    logger instead of the logging instrumentation's (so each record arrives once), and
    ``logging.basicConfig`` still configures the application's own logging."""
    code = (
        """
import io, logging
stream = io.StringIO()
logging.basicConfig(stream=stream, level=logging.INFO, format="%(levelname)s %(message)s")
"""
        + EMIT
        + """
result["console"] = stream.getvalue()
"""
    )
    env = sink_env(
        sink,
        OTEL_PYTHON_DISTRO="otlp",
        OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED="true",
    )
    result = run_python(code, env, instrument=True)
    assert result["console"] == "WARNING from logging\n"
    handlers = result["root_handlers"]
    assert "logging.StreamHandler" in handlers
    assert not any(h.startswith("opentelemetry.") for h in handlers), handlers
    assert any(h.startswith("otlp.") for h in handlers), handlers
    got = delivered(sink, result, logs=2)
    assert got["logs"] == [("from logging", True), ("inside work", True)]
    assert len(zero_records(sink)) == 2


@pytest.mark.parametrize(
    ("group", "name", "target"),
    [
        ("opentelemetry_tracer_provider", "otlp", "otlp.otel:TracerProvider"),
        ("opentelemetry_meter_provider", "otlp", "otlp.otel:MeterProvider"),
        ("opentelemetry_logger_provider", "otlp", "otlp.otel:LoggerProvider"),
        ("opentelemetry_distro", "otlp", "otlp.otel.distro:OtlpDistro"),
        ("opentelemetry_configurator", "otlp", "otlp.otel.distro:OtlpConfigurator"),
        ("opentelemetry_traces_exporter", "otlp_rust", "otlp.sdk:SpanExporter"),
        ("opentelemetry_metrics_exporter", "otlp_rust", "otlp.sdk:MetricExporter"),
        ("opentelemetry_logs_exporter", "otlp_rust", "otlp.sdk:LogExporter"),
    ],
)
def test_entry_points_load_what_they_name(group: str, name: str, target: str) -> None:
    (ep,) = entry_points(group=group, name=name)
    assert ep.value == target
    module, _, attr = target.partition(":")
    assert ep.load() is getattr(__import__(module, fromlist=[attr]), attr)
