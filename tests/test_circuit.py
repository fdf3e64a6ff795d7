"""The circuit breaker, end to end against a collector that fails, then recovers."""

from __future__ import annotations

import time

import pytest

import otlp


def _wait(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


@pytest.mark.timeout(60)
def test_circuit_opens_waits_probes_and_closes(sink_factory) -> None:
    # The first 4 exports are answered UNAVAILABLE, then the collector is healthy.
    sink = sink_factory(status="UNAVAILABLE", status_count=4)
    exp = otlp.Exporter(
        sink.endpoint,
        batch=otlp.BatchConfig(max_export_batch_size=10, schedule_delay=0.05, max_concurrent_exports=1),
        retry=otlp.RetryPolicy(initial_backoff=0.01, max_backoff=0.02, max_elapsed=30.0),
        circuit_breaker=otlp.CircuitBreaker(failure_threshold=2, cool_down=1.0),
    )
    tracer = exp.tracer("circuit")
    started = time.monotonic()
    for i in range(10):
        tracer.start_span("s", attributes={"i": i}).end()
    # Two failures open the circuit.
    assert _wait(lambda: exp.stats()["circuit_state"] == "open", 10.0)
    opened_at = time.monotonic()
    requests_when_opened = exp.stats()["requests_sent"]
    # While open nothing is sent.
    assert not _wait(lambda: exp.stats()["requests_sent"] > requests_when_opened, 0.5)
    # After the cool-down one probe goes (and fails: the sink still has failures to
    # give), the circuit opens again, then a later probe succeeds and closes it.
    assert exp.force_flush(timeout=20.0)
    stats = exp.stats()
    assert stats["circuit_state"] == "closed"
    assert stats["circuit_opened"] >= 2
    assert stats["spans_exported"] == 10
    assert stats["requests_failed"] == 4
    # Two cool-downs passed before delivery.
    assert time.monotonic() - opened_at >= 1.0
    assert time.monotonic() - started >= 2.0
    sink.wait_for_spans(10, timeout=10.0)
    exp.shutdown(timeout=5.0)


def test_circuit_breaker_config_is_validated() -> None:
    with pytest.raises(otlp.errors.ConfigError):
        otlp.CircuitBreaker(cool_down=0)
    with pytest.raises(TypeError):
        otlp.CircuitBreaker(failure_threshold=1.5)  # type: ignore[arg-type]
    assert otlp.CircuitBreaker(failure_threshold=0).failure_threshold == 0


@pytest.mark.timeout(60)
def test_an_open_circuit_keeps_the_cause_of_the_failures(unused_endpoint: str) -> None:
    # It used to say only "circuit open: the collector kept failing".
    exp = otlp.Exporter(
        unused_endpoint,
        batch=otlp.BatchConfig(max_export_batch_size=10, schedule_delay=0.05),
        retry=otlp.RetryPolicy(initial_backoff=0.01, max_backoff=0.02, max_elapsed=1.0),
        circuit_breaker=otlp.CircuitBreaker(failure_threshold=2, cool_down=30.0),
    )
    try:
        exp.tracer("circuit").start_span("s").end()
        assert not exp.force_flush(timeout=20.0)
        stats = exp.stats()
        assert stats["circuit_state"] == "open" and stats["spans_failed_retries_exhausted"] == 1, stats
        error = stats["last_error"]
        assert error.startswith("circuit open after 2 consecutive failures; last: UNAVAILABLE"), error
        assert "Connection refused" in error and unused_endpoint in error, error
    finally:
        exp.shutdown(timeout=1.0)
