from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from otlp.errors import ConfigError

__all__ = ["BatchConfig", "CircuitBreaker", "MetricsConfig", "Observation", "RetryPolicy"]


def _int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"`{name}` must be an int; got {type(value).__name__}")
    if value < minimum:
        raise ConfigError(f"`{name}` must be >= {minimum}; got {value}")


def _seconds(name: str, value: object, *, allow_zero: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"`{name}` must be a number of seconds; got {type(value).__name__}")
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"`{name}` must be a finite number of seconds {bound}; got {value}")


@dataclass(frozen=True)
class BatchConfig:
    """How ended spans are batched before export.

    Attributes:
        max_queue_size: spans held in memory; beyond it new spans are dropped and
            counted (``spans_dropped_queue_full`` in ``Exporter.stats()``).
        max_export_batch_size: spans per export request; reaching it triggers an export.
        schedule_delay: seconds after which a partial batch is exported anyway.
        max_concurrent_exports: export requests in flight at once.
    """

    max_queue_size: int = 2048
    max_export_batch_size: int = 512
    schedule_delay: float = 0.5
    max_concurrent_exports: int = 2

    def __post_init__(self) -> None:
        _int("max_queue_size", self.max_queue_size, 1)
        _int("max_export_batch_size", self.max_export_batch_size, 1)
        _int("max_concurrent_exports", self.max_concurrent_exports, 1)
        _seconds("schedule_delay", self.schedule_delay)
        if self.max_export_batch_size > self.max_queue_size:
            raise ConfigError(
                f"`max_export_batch_size` ({self.max_export_batch_size}) must not exceed "
                f"`max_queue_size` ({self.max_queue_size})"
            )


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of failed exports, as the OTLP specification prescribes.

    Retryable failures (UNAVAILABLE and the other transient gRPC codes, connection
    errors) are retried with exponential backoff and jitter; a delay the server asks
    for (``RetryInfo``) is honoured. After ``max_elapsed`` seconds the batch is
    dropped and counted (``spans_failed_retries_exhausted``).
    """

    initial_backoff: float = 1.0
    max_backoff: float = 30.0
    max_elapsed: float = 300.0
    multiplier: float = 1.5

    def __post_init__(self) -> None:
        _seconds("initial_backoff", self.initial_backoff)
        _seconds("max_backoff", self.max_backoff)
        _seconds("max_elapsed", self.max_elapsed, allow_zero=True)
        if isinstance(self.multiplier, bool) or not isinstance(self.multiplier, (int, float)):
            raise TypeError(f"`multiplier` must be a number; got {type(self.multiplier).__name__}")
        if not (math.isfinite(self.multiplier) and self.multiplier >= 1):
            raise ConfigError(f"`multiplier` must be a finite number >= 1; got {self.multiplier}")
        if self.max_backoff < self.initial_backoff:
            raise ConfigError(
                f"`max_backoff` ({self.max_backoff}) must be >= `initial_backoff` ({self.initial_backoff})"
            )


_TEMPORALITIES = ("cumulative", "delta", "lowmemory")


@dataclass(frozen=True)
class MetricsConfig:
    """How metrics are collected and exported.

    Attributes:
        interval: seconds between collections (each is one export).
        timeout: seconds allowed for one export.
        temporality: ``"cumulative"`` (default), ``"delta"`` or ``"lowmemory"``, with the
            meaning of ``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE``: delta makes
            counters, histograms and observable counters report changes since the last
            collection; lowmemory does so for synchronous counters and histograms only.
        cardinality_limit: series kept per instrument; measurements with new
            attributes beyond it go to the ``otel.metric.overflow=true`` series.
    """

    interval: float = 60.0
    timeout: float = 30.0
    temporality: str = "cumulative"
    cardinality_limit: int = 2000

    def __post_init__(self) -> None:
        _seconds("interval", self.interval)
        _seconds("timeout", self.timeout)
        if self.temporality not in _TEMPORALITIES:
            raise ConfigError(
                f"`temporality` must be one of 'cumulative', 'delta', 'lowmemory'; got {self.temporality!r}"
            )
        _int("cardinality_limit", self.cardinality_limit, 2)


@dataclass(frozen=True)
class Observation:
    """One value reported by an observable instrument's callback."""

    value: Union[int, float]
    attributes: Optional[Mapping[str, Any]] = field(default=None)


@dataclass(frozen=True)
class CircuitBreaker:
    """Stop sending to a collector that keeps failing, then probe it.

    After ``failure_threshold`` consecutive failed attempts (connection errors,
    timeouts, UNAVAILABLE and the other retryable answers) the exporter sends nothing
    for ``cool_down`` seconds, then lets one request through: its success closes the
    circuit, its failure opens it again. Batches wait meanwhile (within their
    ``RetryPolicy.max_elapsed``). ``failure_threshold=0`` disables the breaker. The
    state is ``circuit_state`` in ``Exporter.stats()``.
    """

    failure_threshold: int = 5
    cool_down: float = 5.0

    def __post_init__(self) -> None:
        _int("failure_threshold", self.failure_threshold, 0)
        _seconds("cool_down", self.cool_down)
