from __future__ import annotations

import enum

__all__ = ["Severity", "SpanKind", "StatusCode"]


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


class Severity(enum.IntEnum):
    """Log severity numbers of the OpenTelemetry log data model."""

    UNSPECIFIED = 0
    TRACE = 1
    TRACE2 = 2
    TRACE3 = 3
    TRACE4 = 4
    DEBUG = 5
    DEBUG2 = 6
    DEBUG3 = 7
    DEBUG4 = 8
    INFO = 9
    INFO2 = 10
    INFO3 = 11
    INFO4 = 12
    WARN = 13
    WARN2 = 14
    WARN3 = 15
    WARN4 = 16
    ERROR = 17
    ERROR2 = 18
    ERROR3 = 19
    ERROR4 = 20
    FATAL = 21
    FATAL2 = 22
    FATAL3 = 23
    FATAL4 = 24
