"""Drop-in pieces for the OpenTelemetry Python SDK.

``encode_spans``, ``encode_metrics`` and ``encode_logs`` produce exactly the bytes of the official
encoders in ``opentelemetry.exporter.otlp.proto.common`` (``encode_*(...)
.SerializeToString()``), many times faster. With ``format="json"`` they produce
OTLP/JSON instead (lowerCamelCase keys, hex trace and span ids, 64-bit integers as
strings, enums as integers, default values left out).

``SpanExporter``, ``MetricExporter`` and ``LogExporter`` implement the SDK's exporter
interfaces with the official OTLP exporters' arguments, and ``BatchSpanProcessor`` and
``BatchLogRecordProcessor`` its processors without a Python export thread: switching
from the official exporter is an import change. They need ``opentelemetry-sdk``, which
is imported when one of them is first used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from otlp import _native

if TYPE_CHECKING:
    from opentelemetry.sdk._logs import ReadableLogRecord
    from opentelemetry.sdk.metrics.export import MetricsData
    from opentelemetry.sdk.trace import ReadableSpan

    from otlp.sdk._pieces import (
        BatchLogRecordProcessor,
        BatchSpanProcessor,
        LogExporter,
        MetricExporter,
        SpanExporter,
    )

__all__ = [
    "BatchLogRecordProcessor",
    "BatchSpanProcessor",
    "LogExporter",
    "MetricExporter",
    "SpanExporter",
    "encode_logs",
    "encode_metrics",
    "encode_spans",
]

_PIECES = frozenset(
    ("BatchLogRecordProcessor", "BatchSpanProcessor", "LogExporter", "MetricExporter", "SpanExporter")
)


def __getattr__(name: str) -> object:
    # The SDK pieces import opentelemetry-sdk; the encoders work without it.
    if name in _PIECES:
        from otlp.sdk import _pieces

        return getattr(_pieces, name)
    raise AttributeError(f"module 'otlp.sdk' has no attribute {name!r}")


def encode_spans(spans: Sequence[ReadableSpan], format: Literal["protobuf", "json"] = "protobuf") -> bytes:
    """Encode SDK spans as a serialized ``ExportTraceServiceRequest``.

    Byte-identical to the official encoder, including its grouping by resource and
    instrumentation scope and its quirks (an UNSET status is written, span flags
    carry only the remote-parent bits).
    """
    return _native.encode_spans(spans, format)


def encode_metrics(metrics_data: MetricsData, format: Literal["protobuf", "json"] = "protobuf") -> bytes:
    """Encode SDK ``MetricsData`` as a serialized ``ExportMetricsServiceRequest``.

    Byte-identical to the official ``encode_metrics(metrics_data).SerializeToString()``,
    including its quirks (gauge points carry no start time; histogram sum, min and max
    are always written; equal resources in separate ``ResourceMetrics`` are merged).
    """
    return _native.encode_metrics(metrics_data, format)


def encode_logs(
    records: Sequence[ReadableLogRecord], format: Literal["protobuf", "json"] = "protobuf"
) -> bytes:
    """Encode SDK log records as a serialized ``ExportLogsServiceRequest``.

    Byte-identical to the official ``_log_encoder.encode_logs(records).SerializeToString()``,
    grouping by resource and scope as it does (the body is always written; trace and span
    ids only when non-zero; flags are the full W3C trace-flags byte).
    """
    return _native.encode_logs(records, format)
