"""The OpenTelemetry API providers backed by otlp's Rust core."""

from __future__ import annotations

from otlp.otel._logs import LoggerProvider, LoggingHandler
from otlp.otel._metrics import Meter, MeterProvider

__all__ = ["LoggerProvider", "LoggingHandler", "Meter", "MeterProvider"]
