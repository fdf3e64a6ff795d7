"""The OpenTelemetry API's providers on ``otlp``'s Rust core.

Instrumentation written against ``opentelemetry-api`` sends its telemetry straight into
``otlp``'s pipeline: no SDK objects, no Python export thread.

>>> from opentelemetry import trace
>>> import otlp.otel
>>> trace.set_tracer_provider(otlp.otel.TracerProvider())   # doctest: +SKIP
"""

from __future__ import annotations

from otlp.otel._logs import LoggerProvider, LoggingHandler
from otlp.otel._metrics import Meter, MeterProvider
from otlp.otel._trace import TracerProvider

__all__ = ["LoggerProvider", "LoggingHandler", "Meter", "MeterProvider", "TracerProvider"]
