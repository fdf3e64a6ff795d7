"""Test helpers: a local OTLP receiver that collects what your code emits, as plain
typed objects, and an ``otlp_receiver`` pytest fixture (registered when otlp is
installed)."""

from __future__ import annotations

from otlp.testing._items import Buckets, Event, Exemplar, Link, LogRecord, MetricPoint, Scope, Span, Value
from otlp.testing._receiver import Receiver

__all__ = [
    "Buckets",
    "Event",
    "Exemplar",
    "Link",
    "LogRecord",
    "MetricPoint",
    "Receiver",
    "Scope",
    "Span",
    "Value",
]
