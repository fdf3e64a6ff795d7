"""SDK exporters and batch processors backed by an ``otlp.Exporter``.

They implement the OpenTelemetry SDK's interfaces, so they plug into its
``TracerProvider``, ``MeterProvider`` and ``LoggerProvider``. What they are given is
converted to the model at once, with the GIL held, and queued in the exporter's Rust
pipelines: batching, encoding, retries and delivery happen on its threads, never in
a Python thread. The processors hand each ended span or emitted record straight to
that pipeline, so there is no second queue and no Python export thread.

Exports are asynchronous, as with the processors: ``export()`` returns once the items
are queued, and what is later lost (queue full, collector down past the retries) is
counted in ``exporter.stats()`` and reported on the ``otlp`` logger, not returned.
``export()`` fails only for items that cannot be read, or after ``shutdown()``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, Optional

from opentelemetry.context import Context
from opentelemetry.sdk._logs import LogRecordProcessor, ReadableLogRecord, ReadWriteLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    UpDownCounter,
)
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricExportResult,
    MetricsData,
)
from opentelemetry.sdk.metrics.export import (
    MetricExporter as _SdkMetricExporter,
)
from opentelemetry.sdk.metrics.view import (
    Aggregation,
    ExplicitBucketHistogramAggregation,
    ExponentialBucketHistogramAggregation,
)
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter as _SdkSpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult

from otlp import _env, _native
from otlp._config import _DEFAULTS, BatchConfig
from otlp._exporter import Exporter
from otlp.errors import ConfigError
from otlp.sdk._exporter import Connection, Headers, Signal, build

__all__ = [
    "BatchLogRecordProcessor",
    "BatchSpanProcessor",
    "LogExporter",
    "MetricExporter",
    "SpanExporter",
]


class _Sender:
    """The ``otlp.Exporter`` of one SDK exporter and the bridge into its pipelines."""

    def __init__(self, signal: Signal, connection: Connection, exporter: Optional[Exporter]) -> None:
        self.signal = signal
        self.connection = connection
        self.exporter, self.owned = build(signal, connection, exporter)
        self.bridge = _native.SdkBridge(self.exporter)
        self.shut_down = False
        self.attached = False

    def attach(self, batch: Optional[BatchConfig]) -> Any:
        """The bridge a processor queues into, the exporter rebuilt first with the
        processor's batch settings if it gives any."""
        if self.attached:
            raise TypeError("this exporter already belongs to a batch processor")
        if batch is not None:
            self.rebatch(batch)
        self.attached = True
        return self.bridge

    def rebatch(self, batch: BatchConfig) -> None:
        if not self.owned:
            raise TypeError(
                "batch settings cannot be given for an exporter built on a shared otlp.Exporter: "
                "set them on that otlp.Exporter (batch=otlp.BatchConfig(...))"
            )
        fresh, _ = build(self.signal, self.connection, None, batch=batch)
        old, self.exporter = self.exporter, fresh
        self.bridge = _native.SdkBridge(fresh)
        old.shutdown(0.0)

    def force_flush(self, timeout_millis: float) -> bool:
        return self.exporter.force_flush(max(timeout_millis, 0) / 1000)

    def shutdown(self, timeout_millis: float = 30_000) -> None:
        if self.shut_down:
            return
        self.shut_down = True
        if self.owned:
            self.exporter.shutdown(max(timeout_millis, 0) / 1000)


def _connection(
    endpoint: Optional[str],
    insecure: Optional[bool],
    headers: Optional[Headers],
    timeout: Optional[float],
    compression: object,
    certificate_file: Optional[str],
    client_key_file: Optional[str],
    client_certificate_file: Optional[str],
    protocol: Optional[str],
) -> Connection:
    return Connection(
        endpoint=endpoint,
        insecure=insecure,
        headers=headers,
        timeout=timeout,
        compression=compression,
        certificate_file=certificate_file,
        client_key_file=client_key_file,
        client_certificate_file=client_certificate_file,
        protocol=protocol,
    )


_CONNECTION_ARGS = """
    Args:
        endpoint: the collector, as the official exporters take it (for gRPC
            ``host:port`` or ``http(s)://host:port``; for OTLP/HTTP the signal's
            whole URL). Default: ``OTEL_EXPORTER_OTLP_{SIGNAL}_ENDPOINT``, then
            ``OTEL_EXPORTER_OTLP_ENDPOINT``, then the specification's default.
        insecure: plain-text gRPC for an endpoint without a scheme.
        headers: a mapping, ``(key, value)`` pairs or ``"k=v,k2=v2"``.
        timeout: seconds allowed for one export attempt.
        compression: ``"gzip"``, ``"zstd"``, ``"none"`` or the official exporters'
            ``Compression`` enums.
        certificate_file, client_key_file, client_certificate_file: PEM files for TLS
            (``OTEL_EXPORTER_OTLP_CERTIFICATE`` etc. by default).
        protocol: ``"grpc"`` (the default, as ``OTEL_TRACES_EXPORTER=otlp`` picks),
            ``"http/protobuf"`` or ``"http/json"``; ``OTEL_EXPORTER_OTLP_PROTOCOL``
            when set.
        exporter: an ``otlp.Exporter`` to send through instead (shared, with its own
            settings: then give no connection argument). Its owner shuts it down.

    Every argument is optional: with none, the ``OTEL_EXPORTER_OTLP_*`` environment
    configures it, as it does the official exporters. All but ``endpoint`` are
    keyword-only (the official gRPC and HTTP exporters order them differently).
    ``credentials`` and ``channel_options`` (grpcio objects) and ``session``
    (``requests``) have no counterpart: give certificate files instead.

    Raises:
        otlp.errors.ConfigError: an argument or variable is invalid (the message names it).
        TypeError: an argument has the wrong type.
"""


class SpanExporter(_SdkSpanExporter):
    """The SDK's ``SpanExporter`` sending through ``otlp``: a drop-in for
    ``opentelemetry.exporter.otlp.proto.grpc.trace_exporter.OTLPSpanExporter`` (and
    its OTLP/HTTP twin). Pair it with :class:`otlp.sdk.BatchSpanProcessor` to skip
    the SDK's Python export thread as well.
    """

    __doc__ = (__doc__ or "") + _CONNECTION_ARGS

    def __init__(
        self,
        endpoint: Optional[str] = None,
        *,
        insecure: Optional[bool] = None,
        headers: Optional[Headers] = None,
        timeout: Optional[float] = None,
        compression: object = None,
        certificate_file: Optional[str] = None,
        client_key_file: Optional[str] = None,
        client_certificate_file: Optional[str] = None,
        protocol: Optional[str] = None,
        exporter: Optional[Exporter] = None,
    ) -> None:
        connection = _connection(
            endpoint,
            insecure,
            headers,
            timeout,
            compression,
            certificate_file,
            client_key_file,
            client_certificate_file,
            protocol,
        )
        self._sender = _Sender("traces", connection, exporter)

    @property
    def exporter(self) -> Exporter:
        """The ``otlp.Exporter`` behind it (for ``stats()``)."""
        return self._sender.exporter

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._sender.shut_down:
            return SpanExportResult.FAILURE
        unreadable = self._sender.bridge.export_spans(spans)
        return SpanExportResult.FAILURE if unreadable else SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._sender.force_flush(timeout_millis)

    def shutdown(self) -> None:
        self._sender.shutdown()


def _temporality(
    preferred: Optional[Mapping[type, AggregationTemporality]], env: Mapping[str, str]
) -> dict[type, AggregationTemporality]:
    """The official OTLP metric exporters' rule: the
    ``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`` table, then ``preferred``."""
    name = "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"
    choice = _env._choice(env, name, ("cumulative", "delta", "lowmemory")) or "cumulative"
    cumulative, delta = AggregationTemporality.CUMULATIVE, AggregationTemporality.DELTA
    table: dict[type, AggregationTemporality] = {
        Counter: cumulative,
        UpDownCounter: cumulative,
        Histogram: cumulative,
        ObservableCounter: cumulative,
        ObservableUpDownCounter: cumulative,
        ObservableGauge: cumulative,
    }
    if choice in ("delta", "lowmemory"):
        table[Counter] = table[Histogram] = delta
    if choice == "delta":
        table[ObservableCounter] = delta
    table.update(preferred or {})
    return table


def _aggregation(
    preferred: Optional[Mapping[type, Aggregation]], env: Mapping[str, str]
) -> dict[type, Aggregation]:
    """``OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION``, then ``preferred``."""
    name = "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION"
    choice = _env._choice(env, name, ("explicit_bucket_histogram", "base2_exponential_bucket_histogram"))
    histogram: Aggregation = (
        ExponentialBucketHistogramAggregation()
        if choice == "base2_exponential_bucket_histogram"
        else ExplicitBucketHistogramAggregation()
    )
    table: dict[type, Aggregation] = {Histogram: histogram}
    table.update(preferred or {})
    return table


class MetricExporter(_SdkMetricExporter):
    """The SDK's ``MetricExporter`` sending through ``otlp``: a drop-in for the official
    ``OTLPMetricExporter``, for a ``PeriodicExportingMetricReader``.

    ``preferred_temporality`` and ``preferred_aggregation`` override, per instrument
    class, what ``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`` (``cumulative``,
    ``delta``, ``lowmemory``) and ``OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION``
    choose, as for the official exporter; the SDK's reader aggregates accordingly and
    each collection is sent as one request (split if larger than the exporter's
    ``max_request_size``).
    """

    __doc__ = (__doc__ or "") + _CONNECTION_ARGS

    def __init__(
        self,
        endpoint: Optional[str] = None,
        *,
        insecure: Optional[bool] = None,
        headers: Optional[Headers] = None,
        timeout: Optional[float] = None,
        compression: object = None,
        preferred_temporality: Optional[dict[type, AggregationTemporality]] = None,
        preferred_aggregation: Optional[dict[type, Aggregation]] = None,
        certificate_file: Optional[str] = None,
        client_key_file: Optional[str] = None,
        client_certificate_file: Optional[str] = None,
        protocol: Optional[str] = None,
        exporter: Optional[Exporter] = None,
    ) -> None:
        connection = _connection(
            endpoint,
            insecure,
            headers,
            timeout,
            compression,
            certificate_file,
            client_key_file,
            client_certificate_file,
            protocol,
        )
        super().__init__(
            preferred_temporality=_temporality(preferred_temporality, os.environ),
            preferred_aggregation=_aggregation(preferred_aggregation, os.environ),
        )
        self._sender = _Sender("metrics", connection, exporter)

    @property
    def exporter(self) -> Exporter:
        """The ``otlp.Exporter`` behind it (for ``stats()``)."""
        return self._sender.exporter

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        if self._sender.shut_down:
            return MetricExportResult.FAILURE
        read = self._sender.bridge.export_metrics(metrics_data)
        return MetricExportResult.SUCCESS if read else MetricExportResult.FAILURE

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self._sender.force_flush(timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self._sender.shutdown(timeout_millis)


class LogExporter(LogRecordExporter):
    """The SDK's ``LogRecordExporter`` sending through ``otlp``: a drop-in for the
    official ``OTLPLogExporter``. Pair it with :class:`otlp.sdk.BatchLogRecordProcessor`
    to skip the SDK's Python export thread as well.
    """

    __doc__ = (__doc__ or "") + _CONNECTION_ARGS

    def __init__(
        self,
        endpoint: Optional[str] = None,
        *,
        insecure: Optional[bool] = None,
        headers: Optional[Headers] = None,
        timeout: Optional[float] = None,
        compression: object = None,
        certificate_file: Optional[str] = None,
        client_key_file: Optional[str] = None,
        client_certificate_file: Optional[str] = None,
        protocol: Optional[str] = None,
        exporter: Optional[Exporter] = None,
    ) -> None:
        connection = _connection(
            endpoint,
            insecure,
            headers,
            timeout,
            compression,
            certificate_file,
            client_key_file,
            client_certificate_file,
            protocol,
        )
        self._sender = _Sender("logs", connection, exporter)

    @property
    def exporter(self) -> Exporter:
        """The ``otlp.Exporter`` behind it (for ``stats()``)."""
        return self._sender.exporter

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        if self._sender.shut_down:
            return LogRecordExportResult.FAILURE
        unreadable = self._sender.bridge.export_logs(batch)
        return LogRecordExportResult.FAILURE if unreadable else LogRecordExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._sender.force_flush(timeout_millis)

    def shutdown(self) -> None:
        self._sender.shutdown()


def _batch(
    prefix: str,
    defaults: BatchConfig,
    max_queue_size: Optional[int],
    schedule_delay_millis: Optional[float],
    max_export_batch_size: Optional[int],
) -> Optional[BatchConfig]:
    """A processor's arguments over ``OTEL_BSP_*`` / ``OTEL_BLRP_*``; None when no
    argument is given (the exporter already read the environment)."""
    if max_queue_size is None and schedule_delay_millis is None and max_export_batch_size is None:
        return None
    base = _env._batch(os.environ, prefix, defaults) or defaults
    try:
        return BatchConfig(
            max_queue_size=base.max_queue_size if max_queue_size is None else max_queue_size,
            max_export_batch_size=(
                base.max_export_batch_size if max_export_batch_size is None else max_export_batch_size
            ),
            schedule_delay=base.schedule_delay
            if schedule_delay_millis is None
            else schedule_delay_millis / 1000,
            max_concurrent_exports=base.max_concurrent_exports,
        )
    except ConfigError as e:
        message = str(e).replace("`schedule_delay`", "`schedule_delay_millis` (in seconds)")
        raise ConfigError(message) from None


_PROCESSOR_ARGS = """
    The batch arguments (``max_queue_size``, ``schedule_delay_millis``,
    ``max_export_batch_size``; by default the ``{prefix}*`` variables) become the
    exporter's pipeline settings. ``export_timeout_millis`` is accepted for
    compatibility: each export attempt is bounded by the exporter's ``timeout``, and
    all of a batch's retries by its retry policy.
"""


class BatchSpanProcessor(SpanProcessor):
    """The SDK's ``BatchSpanProcessor`` without its Python thread: ``on_end`` converts
    the ended span and queues it in the Rust pipeline of ``span_exporter`` (an
    :class:`otlp.sdk.SpanExporter`), which batches, encodes and delivers it.
    Sampled-out spans are skipped, as the SDK's processor skips them.
    """

    __doc__ = (__doc__ or "") + _PROCESSOR_ARGS.format(prefix="OTEL_BSP_")

    def __init__(
        self,
        span_exporter: SpanExporter,
        max_queue_size: Optional[int] = None,
        schedule_delay_millis: Optional[float] = None,
        max_export_batch_size: Optional[int] = None,
        export_timeout_millis: Optional[float] = None,
    ) -> None:
        if not isinstance(span_exporter, SpanExporter):
            raise TypeError(
                "otlp.sdk.BatchSpanProcessor needs an otlp.sdk.SpanExporter; "
                f"got {type(span_exporter).__name__} (use the SDK's BatchSpanProcessor for other exporters)"
            )
        batch = _batch(
            "OTEL_BSP_", BatchConfig(), max_queue_size, schedule_delay_millis, max_export_batch_size
        )
        self._exporter = span_exporter
        self._on_end = span_exporter._sender.attach(batch).on_end

    def on_start(self, span: Span, parent_context: Optional[Context] = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        self._on_end(span)

    def shutdown(self) -> None:
        self._exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._exporter.force_flush(timeout_millis)


class BatchLogRecordProcessor(LogRecordProcessor):
    """The SDK's ``BatchLogRecordProcessor`` without its Python thread: ``on_emit``
    converts the record and queues it in the Rust pipeline of ``exporter`` (an
    :class:`otlp.sdk.LogExporter`).
    """

    __doc__ = (__doc__ or "") + _PROCESSOR_ARGS.format(prefix="OTEL_BLRP_")

    def __init__(
        self,
        exporter: LogExporter,
        schedule_delay_millis: Optional[float] = None,
        max_export_batch_size: Optional[int] = None,
        export_timeout_millis: Optional[float] = None,
        max_queue_size: Optional[int] = None,
    ) -> None:
        if not isinstance(exporter, LogExporter):
            raise TypeError(
                "otlp.sdk.BatchLogRecordProcessor needs an otlp.sdk.LogExporter; "
                f"got {type(exporter).__name__} (use the SDK's BatchLogRecordProcessor for other exporters)"
            )
        defaults = BatchConfig(**_DEFAULTS["logs_batch"])
        batch = _batch("OTEL_BLRP_", defaults, max_queue_size, schedule_delay_millis, max_export_batch_size)
        self._exporter = exporter
        self._on_emit = exporter._sender.attach(batch).on_emit

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        self._on_emit(log_record)

    def shutdown(self) -> None:
        self._exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._exporter.force_flush(timeout_millis)
