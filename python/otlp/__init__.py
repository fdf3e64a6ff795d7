"""otlp: a fast, dependable OpenTelemetry (OTLP) exporter with a Rust core.

>>> import otlp
>>> with otlp.Exporter("http://localhost:4317") as exp:          # doctest: +SKIP
...     tracer = exp.tracer("checkout", version="1.2.0")
...     with tracer.span("charge", kind=otlp.SpanKind.CLIENT) as span:
...         span.set_attribute("amount", 12.5)
"""

from __future__ import annotations

from otlp import errors, propagate
from otlp._config import (
    TLS,
    BatchConfig,
    CircuitBreaker,
    MetricsConfig,
    Observation,
    QueueConfig,
    RetryPolicy,
)
from otlp._exporter import Exporter
from otlp._native import (
    Counter,
    Gauge,
    Histogram,
    Logger,
    Meter,
    ObservableInstrument,
    Span,
    SpanContext,
    Tracer,
    UpDownCounter,
    __version__,
    current_span,
)
from otlp._types import Severity, SignalSettings, SpanKind, Stats, StatusCode

__all__ = [
    "TLS",
    "BatchConfig",
    "CircuitBreaker",
    "Counter",
    "Exporter",
    "Gauge",
    "Histogram",
    "Logger",
    "LoggingHandler",
    "Meter",
    "MetricsConfig",
    "ObservableInstrument",
    "Observation",
    "QueueConfig",
    "RetryPolicy",
    "Severity",
    "SignalSettings",
    "Span",
    "SpanContext",
    "SpanKind",
    "Stats",
    "StatusCode",
    "Tracer",
    "UpDownCounter",
    "__version__",
    "current_span",
    "errors",
    "propagate",
]

from otlp._logging import LoggingHandler
