"""Telemetry never raises into the application's code: bad values and calls after
``shutdown()`` are dropped, counted in ``stats()`` and reported once through the
``otlp`` logger (the OpenTelemetry specification's error handling, and what the official
SDK does). Strict mode (``strict=True`` or ``OTLP_STRICT=1``) raises instead, for tests.
Configuration errors still raise at construction."""

from __future__ import annotations

import datetime
import decimal
import logging
import math

import pytest

import otlp
from otlp.errors import ConfigError, OtlpError

BAD_VALUES = [None, decimal.Decimal("1.5"), datetime.datetime(2026, 1, 1), object(), 2**70, [1, object()]]


def _exporter(endpoint: str, **kw: object) -> otlp.Exporter:
    return otlp.Exporter(
        endpoint,
        batch=otlp.BatchConfig(max_export_batch_size=64, schedule_delay=0.05),
        metrics=otlp.MetricsConfig(interval=3600),
        **kw,  # type: ignore[arg-type]
    )


def _attrs(kvs) -> dict:  # type: ignore[no-untyped-def]
    return {kv.key: kv.value.WhichOneof("value") for kv in kvs}


@pytest.fixture
def otlp_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Messages otlp logs (warnings and above) during the test."""
    caplog.set_level(logging.WARNING, logger="otlp")
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    handler = Collect()
    logging.getLogger("otlp").addHandler(handler)
    yield records
    logging.getLogger("otlp").removeHandler(handler)


@pytest.mark.timeout(60)
def test_bad_span_attributes_are_dropped_counted_and_reported_once(sink, otlp_warnings) -> None:
    exp = _exporter(sink.endpoint)
    tracer = exp.tracer("t")
    for _ in range(3):  # the same keys again: still one warning each
        with tracer.span(
            "request", attributes={"ok": 1, **{f"bad{i}": v for i, v in enumerate(BAD_VALUES)}}
        ) as span:
            span.set_attribute("when", datetime.datetime.now())
            span.set_attribute(7, "int key")  # type: ignore[arg-type]
            span.set_attributes({"amount": decimal.Decimal(3), "fine": "yes"})
            span.add_event("e", {"at": datetime.date.today(), "n": 1})
            span.add_link(span.context, {"x": None, "y": 2})
    assert exp.force_flush(timeout=10.0)
    spans = sink.wait_for_spans(3)
    for _, _, sp in spans:
        assert _attrs(sp.attributes) == {"ok": "int_value", "fine": "string_value"}
        assert _attrs(sp.events[0].attributes) == {"n": "int_value"}
        assert _attrs(sp.links[0].attributes) == {"y": "int_value"}
    stats = exp.stats()
    per_span = len(BAD_VALUES) + 5  # + when, 7, amount, at, x
    assert stats["attributes_dropped_invalid"] == 3 * per_span, stats
    assert stats["spans_exported"] == 3
    warned = [m for m in otlp_warnings if "was dropped" in m]
    assert len(warned) == per_span, warned
    assert any("'datetime'" in m and '"when"' in m for m in warned), warned
    exp.shutdown(timeout=5.0)


@pytest.mark.timeout(60)
def test_bad_log_values_never_raise(sink) -> None:
    exp = _exporter(sink.endpoint)
    log = exp.logger("l")
    log.emit("hello", attributes={"bad": decimal.Decimal(1), "ok": True})
    log.emit(datetime.date(2026, 1, 2))  # a body of no OTLP type: sent as its str()
    assert exp.force_flush(timeout=10.0)
    records = sink.wait_for_log_records(2)
    assert _attrs(records[0][2].attributes) == {"ok": "bool_value"}
    assert records[1][2].body.string_value == "2026-01-02"
    assert exp.stats()["attributes_dropped_invalid"] == 1
    exp.shutdown(timeout=5.0)


@pytest.mark.timeout(60)
def test_bad_measurements_are_dropped_counted_and_reported_once(sink, otlp_warnings) -> None:
    exp = _exporter(sink.endpoint)
    meter = exp.meter("m")
    counter = meter.counter("c")
    hist = meter.histogram("h")
    gauge = meter.gauge("g")
    counter.add(-1)
    counter.add(math.nan)
    counter.add("3")  # type: ignore[arg-type]
    counter.add_many([1.0, math.inf])
    hist.record(math.inf)
    hist.record_many([1.0, math.nan])
    gauge.set(None)  # type: ignore[arg-type]
    counter.add(2, {"route": "/", "bad": None})  # recorded, without the bad attribute
    assert exp.force_flush(timeout=10.0)
    stats = exp.stats()
    assert stats["measurements_dropped_invalid"] == 7, stats
    assert stats["attributes_dropped_invalid"] == 1, stats
    (metric,) = [m for _, _, m in sink.wait_for_metrics(1)]
    (point,) = metric.sum.data_points
    assert point.as_int == 2 and _attrs(point.attributes) == {"route": "string_value"}
    warned = [m for m in otlp_warnings if "measurement was dropped" in m]
    assert len(warned) == 3, warned  # once per instrument
    exp.shutdown(timeout=5.0)


def test_strict_mode_raises_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    exp = otlp.Exporter("http://127.0.0.1:1", strict=True)
    with pytest.raises(TypeError, match="attribute \"when\" has a value of unsupported type 'datetime'"):
        exp.tracer("t").start_span("s", attributes={"when": datetime.datetime.now()})
    with pytest.raises(ValueError, match="counter increments must be >= 0"):
        exp.meter("m").counter("c").add(-1)
    with pytest.raises(TypeError, match="body"):
        exp.logger("l").emit(datetime.date.today())
    assert exp.stats()["attributes_dropped_invalid"] == 0
    exp.shutdown(timeout=0.1)
    with pytest.raises(OtlpError, match="after the exporter was shut down"):
        exp.tracer("t").start_span("late")
    # The environment variable turns it on when the argument is not given.
    monkeypatch.setenv("OTLP_STRICT", "1")
    with otlp.Exporter("http://127.0.0.1:1") as env_strict, pytest.raises(TypeError):
        env_strict.tracer("t").start_span("s", attributes={"x": None})
    with otlp.Exporter("http://127.0.0.1:1", strict=False) as lenient:
        lenient.tracer("t").start_span("s", attributes={"x": None}).end()
    monkeypatch.setenv("OTLP_STRICT", "maybe")
    with pytest.raises(ConfigError, match="OTLP_STRICT"):
        otlp.Exporter("http://127.0.0.1:1")
    with pytest.raises(TypeError, match="`strict` must be a bool"):
        otlp.Exporter("http://127.0.0.1:1", strict="yes")  # type: ignore[arg-type]


def test_configuration_errors_still_raise_at_construction() -> None:
    with pytest.raises(TypeError, match="`resource`"):
        otlp.Exporter("http://127.0.0.1:1", resource={"when": datetime.datetime.now()})
    with otlp.Exporter("http://127.0.0.1:1") as exp, pytest.raises(TypeError):
        exp.tracer("t", attributes={"scope": object()})  # type: ignore[dict-item]


@pytest.mark.timeout(60)
def test_after_shutdown_everything_is_a_counted_no_op(sink, otlp_warnings) -> None:
    exp = _exporter(sink.endpoint)
    live_tracer = exp.tracer("before")
    live_meter = exp.meter("before")
    counter = live_meter.counter("c")
    assert exp.shutdown(timeout=5.0)
    # Nothing raises, whichever object was made before or after shutdown.
    tracer = exp.tracer("after")
    for t in (tracer, live_tracer):
        with t.span("late") as span:
            assert not span.is_recording
            span.set_attribute("k", "v")
            assert span.context.is_valid
    counter.add(1)
    meter = exp.meter("after")  # used to raise ConfigError
    meter.counter("c2").add(1)
    meter.histogram("h").record(1.0)
    meter.observable_gauge("g", callbacks=[lambda: [otlp.Observation(1)]])
    logger = exp.logger("after")  # used to raise ConfigError
    logger.emit("late")
    handler = otlp.LoggingHandler(exp)
    logging.getLogger("late.app").addHandler(handler)
    try:
        logging.getLogger("late.app").warning("late record")
    finally:
        logging.getLogger("late.app").removeHandler(handler)
    stats = exp.stats()
    assert stats["dropped_after_shutdown"] == 7, stats
    assert stats["spans_accepted"] == 0, stats
    assert sink.counts()["spans"] == 0
    assert len([m for m in otlp_warnings if "after Exporter.shutdown()" in m]) == 1, otlp_warnings
    assert exp.shutdown(timeout=1.0) is True  # again: nothing to do


def test_a_span_started_after_shutdown_keeps_its_parents_trace() -> None:
    exp = otlp.Exporter("http://127.0.0.1:1")
    parent = otlp.SpanContext(0xABC, 0xDEF, trace_flags=1, is_remote=True)
    exp.shutdown(timeout=0.1)
    span = exp.tracer("t").start_span("late", parent=parent)
    assert span.context.trace_id == 0xABC and span.context.span_id != 0xDEF
    assert not span.is_recording
