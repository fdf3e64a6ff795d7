from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal, Optional, TypedDict

if TYPE_CHECKING:
    from otlp._config import TLS, BatchConfig, QueueConfig

__all__ = [
    "Compression",
    "Fsync",
    "HttpVersion",
    "Overflow",
    "Protocol",
    "Severity",
    "SignalSettings",
    "SpanKind",
    "Stats",
    "StatusCode",
    "Temporality",
]

#: OTLP transports: ``"grpc"``, ``"http/protobuf"`` or ``"http/json"``.
Protocol = Literal["grpc", "http/protobuf", "http/json"]
#: Request body compression.
Compression = Literal["none", "gzip", "zstd"]
#: OTLP/HTTP's HTTP version (gRPC always runs on HTTP/2).
HttpVersion = Literal["auto", "1.1", "2"]
#: What a full queue does (``QueueConfig.overflow``).
Overflow = Literal["drop_newest", "drop_oldest", "block"]
#: When the disk queue syncs (``QueueConfig.fsync``).
Fsync = Literal["always", "interval", "never"]
#: ``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE``'s values.
Temporality = Literal["cumulative", "delta", "lowmemory"]


class SignalSettings(TypedDict, total=False):
    """One signal's own settings in ``Exporter(signals={"logs": {...}})``."""

    endpoint: str
    protocol: Protocol
    headers: Mapping[str, str]
    compression: Compression
    timeout: float
    tls: TLS
    http_version: HttpVersion
    batch: BatchConfig
    queue: QueueConfig


class Stats(TypedDict):
    """``Exporter.stats()``: counters since the exporter was created (in a forked child:
    since the fork). Every accepted span, log record and metric point ends up counted
    exactly once: exported, rejected, dropped or failed."""

    spans_accepted: int
    spans_exported: int
    #: Refused by the collector in a partial success.
    spans_rejected: int
    #: ``queue_full`` + ``shutdown`` + ``too_large`` + ``evicted`` + ``block_timeout``.
    spans_dropped: int
    spans_dropped_queue_full: int
    #: Still unsent when ``shutdown()``'s deadline passed, or ended after it.
    spans_dropped_shutdown: int
    #: A single span larger than ``max_request_size``.
    spans_dropped_too_large: int
    #: Queued spans removed to make room (``QueueConfig(overflow="drop_oldest")``).
    spans_dropped_evicted: int
    #: Spans whose producer waited ``block_timeout`` for room in vain (``overflow="block"``).
    spans_dropped_block_timeout: int
    #: Spans unsent at shutdown but kept in the disk queue: the next process sends them.
    spans_left_on_disk: int
    #: ``non_retryable`` + ``retries_exhausted``.
    spans_failed: int
    spans_failed_non_retryable: int
    spans_failed_retries_exhausted: int
    #: Queued or in flight now.
    spans_pending: int
    requests_sent: int
    requests_ok: int
    requests_failed: int
    requests_retried: int
    bytes_sent: int
    #: The last export error of the span pipeline (server text is truncated).
    last_error: Optional[str]
    circuit_state: Literal["closed", "open", "half_open"]
    circuit_opened: int
    #: Attribute keys or values that could not be encoded (wrong type, too deep...).
    attributes_dropped_invalid: int
    #: Metric measurements that were refused (NaN, negative increments, wrong types).
    measurements_dropped_invalid: int
    #: Spans started, log records emitted and measurements made after ``shutdown()``.
    dropped_after_shutdown: int
    logs_pending: int
    logs_accepted: int
    logs_exported: int
    logs_rejected: int
    logs_dropped: int
    logs_failed: int
    logs_requests_ok: int
    logs_requests_failed: int
    logs_bytes_sent: int
    logs_left_on_disk: int
    logs_last_error: Optional[str]
    metric_points_accepted: int
    metric_points_exported: int
    metric_points_rejected: int
    metric_points_dropped: int
    metric_points_failed: int
    metric_requests_ok: int
    metric_requests_failed: int
    metric_bytes_sent: int
    metric_points_left_on_disk: int
    #: Observable-instrument callbacks that raised.
    metric_callback_errors: int
    #: Collections that ended after ``shutdown()`` stopped waiting for them (a callback
    #: outlived its timeout): dropped, not exported.
    metric_collections_late: int
    metric_last_error: Optional[str]
    #: Requests found damaged in the disk queue on start, skipped and removed.
    disk_corrupt_requests: int
    #: Requests found in the disk queue for another protocol or compression, removed.
    disk_incompatible_requests: int
    #: Requests that could not be written to the disk queue (sent without it).
    disk_write_failures: int


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
