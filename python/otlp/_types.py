from __future__ import annotations

import enum

__all__ = ["SpanKind", "StatusCode"]


class SpanKind(enum.IntEnum):
    """The role of a span in a trace (same values as OpenTelemetry Python)."""

    INTERNAL = 0
    SERVER = 1
    CLIENT = 2
    PRODUCER = 3
    CONSUMER = 4


class StatusCode(enum.IntEnum):
    """The status of a span's operation."""

    UNSET = 0
    OK = 1
    ERROR = 2
