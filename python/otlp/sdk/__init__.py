"""Drop-in pieces for the OpenTelemetry Python SDK.

``encode_spans`` produces exactly the bytes of the official
``opentelemetry.exporter.otlp.proto.common.trace_encoder.encode_spans(spans)
.SerializeToString()``, many times faster.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from otlp import _native

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

__all__ = ["encode_spans"]


def encode_spans(spans: Sequence[ReadableSpan]) -> bytes:
    """Encode SDK spans as a serialized ``ExportTraceServiceRequest``.

    Byte-identical to the official encoder, including its grouping by resource and
    instrumentation scope and its quirks (an UNSET status is written, span flags
    carry only the remote-parent bits).
    """
    return _native.encode_spans(spans)
