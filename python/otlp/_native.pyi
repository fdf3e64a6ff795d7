"""Type stubs of the Rust extension ``otlp._native``."""

from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, TypeVar, final

from typing_extensions import Self, disjoint_base

from otlp._config import TLS, BatchConfig, CircuitBreaker, MetricsConfig, QueueConfig, RetryPolicy
from otlp._types import (
    Compression,
    HttpVersion,
    Protocol,
    Severity,
    SignalSettings,
    SpanKind,
    Stats,
    StatusCode,
)

_F = TypeVar("_F", bound=Callable[..., Any])

_AttributeValue = str | bool | int | float | bytes | Sequence[Any] | Mapping[str, Any]
_Attributes = Mapping[str, _AttributeValue]

__all__ = [
    "Counter",
    "Exporter",
    "Gauge",
    "Histogram",
    "Logger",
    "Meter",
    "ObservableInstrument",
    "OtelCounter",
    "OtelGauge",
    "OtelHistogram",
    "OtelLogger",
    "OtelObservableCounter",
    "OtelObservableGauge",
    "OtelObservableUpDownCounter",
    "OtelSpan",
    "OtelTracer",
    "OtelUpDownCounter",
    "Receiver",
    "Sampler",
    "SdkBridge",
    "Span",
    "SpanContext",
    "Tracer",
    "UpDownCounter",
    "_AsCurrentSpan",
    "__version__",
    "_after_fork_in_child",
    "_aggregate",
    "_at_exit",
    "_check",
    "_current_span_context",
    "_current_span_var",
    "_decode",
    "_decode_json",
    "_defaults",
    "_kernel",
    "_log_limits",
    "_otel_enable",
    "current_span",
    "encode_logs",
    "encode_metrics",
    "encode_spans",
]
__version__: str

@disjoint_base
class Exporter:
    def __new__(
        cls,
        endpoint: str = "http://localhost:4317",
        *,
        protocol: Protocol = "grpc",
        headers: Mapping[str, str] | None = None,
        compression: Compression = "none",
        timeout: float = 10.0,
        resource: _Attributes | None = None,
        batch: BatchConfig | None = None,
        retry: RetryPolicy | None = None,
        metrics: MetricsConfig | None = None,
        circuit_breaker: CircuitBreaker | None = None,
        max_request_size: int = 4194304,
        tls: TLS | None = None,
        http_version: HttpVersion = "auto",
        signals: Mapping[Literal["traces", "metrics", "logs"], SignalSettings] | None = None,
        strict: bool | None = None,
        queue: QueueConfig | None = None,
    ) -> Self: ...
    def tracer(
        self,
        name: str,
        version: str | None = None,
        *,
        schema_url: str | None = None,
        attributes: _Attributes | None = None,
        sampler: Sampler | None = None,
    ) -> Tracer: ...
    def logger(
        self,
        name: str,
        version: str | None = None,
        *,
        schema_url: str | None = None,
        attributes: _Attributes | None = None,
    ) -> Logger: ...
    def meter(
        self,
        name: str,
        version: str | None = None,
        *,
        schema_url: str | None = None,
        attributes: _Attributes | None = None,
    ) -> Meter: ...
    def force_flush(self, timeout: float = 10.0) -> bool: ...
    def shutdown(self, timeout: float = 10.0) -> bool: ...
    def stats(self) -> Stats: ...
    def _before_fork(self) -> None: ...
    def _after_fork_in_parent(self) -> None: ...
    def _after_fork_in_child(self) -> None: ...
    @property
    def endpoint(self) -> str: ...
    @property
    def protocol(self) -> Protocol: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, *_args: object) -> Literal[False]: ...

@final
class Tracer:
    def start_span(
        self,
        name: str,
        *,
        kind: SpanKind | None = None,
        attributes: _Attributes | None = None,
        links: Iterable[_LinkTarget] | None = None,
        start_time: int | None = None,
        parent: Span | SpanContext | None = None,
    ) -> Span: ...
    def span(
        self,
        name: str,
        *,
        kind: SpanKind | None = None,
        attributes: _Attributes | None = None,
        links: Iterable[_LinkTarget] | None = None,
        start_time: int | None = None,
        parent: Span | SpanContext | None = None,
    ) -> Span: ...
    def trace(
        self,
        name: str | None = None,
        *,
        kind: SpanKind | None = None,
        attributes: _Attributes | None = None,
    ) -> Callable[[_F], _F]: ...
    @property
    def name(self) -> str: ...
    @property
    def version(self) -> str | None: ...
    @property
    def sampler(self) -> Sampler: ...

@final
class Sampler:
    def __new__(cls, name: str = "parentbased_always_on", ratio: float | None = None) -> Self: ...
    @staticmethod
    def from_env() -> Sampler | None: ...
    @property
    def name(self) -> str: ...
    @property
    def ratio(self) -> float | None: ...

@final
class OtelTracer:
    """``opentelemetry.trace.Tracer`` (registered as one)."""

    def __new__(cls, tracer: Tracer) -> Self: ...
    def start_span(
        self,
        name: str,
        context: Any = None,
        kind: Any = None,
        attributes: Any = None,
        links: Any = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> OtelSpan: ...
    def start_as_current_span(
        self,
        name: str,
        context: Any = None,
        kind: Any = None,
        attributes: Any = None,
        links: Any = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> _AsCurrentSpan: ...

@final
class _AsCurrentSpan:
    def __enter__(self) -> OtelSpan: ...
    def __exit__(
        self, _exc_type: object = None, exc_value: object = None, _traceback: object = None
    ) -> Literal[False]: ...
    def __call__(self, func: _F) -> _F: ...
    def _recreate(self) -> _AsCurrentSpan: ...

@final
class OtelSpan:
    """``opentelemetry.trace.Span`` (registered as one)."""

    @property
    def kind(self) -> Any: ...
    def get_span_context(self) -> Any: ...
    def is_recording(self) -> bool: ...
    def set_attribute(self, key: str, value: Any) -> None: ...
    def set_attributes(self, attributes: Mapping[str, Any]) -> None: ...
    def add_event(self, name: str, attributes: Any = None, timestamp: int | None = None) -> None: ...
    def add_link(self, context: Any, attributes: Any = None) -> None: ...
    def update_name(self, name: str) -> None: ...
    def set_status(self, status: Any, description: str | None = None) -> None: ...
    def record_exception(
        self,
        exception: BaseException,
        attributes: Any = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None: ...
    def end(self, end_time: int | None = None) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, exc_type: object = None, exc_val: object = None, exc_tb: object = None) -> None: ...

@final
class Span:
    @property
    def context(self) -> SpanContext: ...
    @property
    def is_recording(self) -> bool: ...
    def set_attribute(self, key: str, value: _AttributeValue) -> None: ...
    def set_attributes(self, attributes: _Attributes) -> None: ...
    def add_event(
        self, name: str, attributes: _Attributes | None = None, *, timestamp: int | None = None
    ) -> None: ...
    def add_link(self, context: Span | SpanContext, attributes: _Attributes | None = None) -> None: ...
    def set_status(self, code: StatusCode | int, description: str | None = None) -> None: ...
    def record_exception(
        self,
        exception: BaseException,
        attributes: _Attributes | None = None,
        *,
        timestamp: int | None = None,
    ) -> None: ...
    def update_name(self, name: str) -> None: ...
    def end(self, end_time: int | None = None) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        _exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        _traceback: TracebackType | None = None,
    ) -> bool: ...

@final
class SpanContext:
    def __new__(
        cls,
        trace_id: int,
        span_id: int,
        *,
        trace_flags: int = 1,
        is_remote: bool = False,
        trace_state: str = "",
    ) -> Self: ...
    @property
    def trace_id(self) -> int: ...
    @property
    def span_id(self) -> int: ...
    @property
    def trace_flags(self) -> int: ...
    @property
    def is_remote(self) -> bool: ...
    @property
    def trace_state(self) -> str: ...
    @property
    def trace_id_hex(self) -> str: ...
    @property
    def span_id_hex(self) -> str: ...
    @property
    def is_valid(self) -> bool: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

_Number = int | float
_Values = Sequence[_Number] | Any  # a 1-D numpy array (float64, float32, int64, int32)
_Callback = Callable[[], Iterable[Any] | None]

@final
class Logger:
    def _emit_record(self, record: Any, body: Any = None) -> None: ...
    def emit(
        self,
        body: Any,
        *,
        severity: Severity | int | None = None,
        severity_text: str | None = None,
        attributes: _Attributes | None = None,
        timestamp: int | None = None,
        observed_timestamp: int | None = None,
        event_name: str | None = None,
    ) -> None: ...
    def _otel(self, attribute_count: int, attribute_value_length: int | None = None) -> OtelLogger: ...
    @property
    def name(self) -> str: ...

@final
class OtelLogger:
    def emit(
        self,
        record: Any = None,
        *,
        timestamp: int | None = None,
        observed_timestamp: int | None = None,
        context: Any = None,
        severity_number: Any = None,
        severity_text: str | None = None,
        body: Any = None,
        attributes: Mapping[str, Any] | None = None,
        event_name: str | None = None,
        exception: BaseException | None = None,
    ) -> None: ...
    def enabled(
        self, *, context: Any = None, severity_number: Any = None, event_name: str | None = None
    ) -> bool: ...
    def _emit_record(self, record: Any, body: Any = None) -> None: ...
    @property
    def name(self) -> str: ...
    @property
    def version(self) -> str | None: ...

def _log_limits() -> tuple[int, int | None]: ...

_ApiCallbacks = Sequence[Any]  # callables taking a CallbackOptions, or generators

@final
class Meter:
    def counter(self, name: str, *, unit: str = "", description: str = "") -> Counter: ...
    def up_down_counter(self, name: str, *, unit: str = "", description: str = "") -> UpDownCounter: ...
    def histogram(
        self,
        name: str,
        *,
        unit: str = "",
        description: str = "",
        boundaries: Sequence[float] | None = None,
    ) -> Histogram: ...
    def gauge(self, name: str, *, unit: str = "", description: str = "") -> Gauge: ...
    def observable_counter(
        self,
        name: str,
        callbacks: Iterable[_Callback] | None = None,
        *,
        unit: str = "",
        description: str = "",
    ) -> ObservableInstrument: ...
    def observable_up_down_counter(
        self,
        name: str,
        callbacks: Iterable[_Callback] | None = None,
        *,
        unit: str = "",
        description: str = "",
    ) -> ObservableInstrument: ...
    def observable_gauge(
        self,
        name: str,
        callbacks: Iterable[_Callback] | None = None,
        *,
        unit: str = "",
        description: str = "",
    ) -> ObservableInstrument: ...
    def _otel_counter(self, name: str, unit: str = "", description: str = "") -> OtelCounter: ...
    def _otel_up_down_counter(
        self, name: str, unit: str = "", description: str = ""
    ) -> OtelUpDownCounter: ...
    def _otel_histogram(
        self, name: str, unit: str = "", description: str = "", boundaries: Sequence[float] | None = None
    ) -> OtelHistogram: ...
    def _otel_gauge(self, name: str, unit: str = "", description: str = "") -> OtelGauge: ...
    def _otel_observable_counter(
        self, name: str, callbacks: _ApiCallbacks | None = None, unit: str = "", description: str = ""
    ) -> OtelObservableCounter: ...
    def _otel_observable_up_down_counter(
        self, name: str, callbacks: _ApiCallbacks | None = None, unit: str = "", description: str = ""
    ) -> OtelObservableUpDownCounter: ...
    def _otel_observable_gauge(
        self, name: str, callbacks: _ApiCallbacks | None = None, unit: str = "", description: str = ""
    ) -> OtelObservableGauge: ...
    @property
    def name(self) -> str: ...

class _Instrument:
    @property
    def name(self) -> str: ...
    @property
    def unit(self) -> str: ...
    @property
    def description(self) -> str: ...

@final
class Counter(_Instrument):
    def add(self, value: _Number, attributes: _Attributes | None = None) -> None: ...
    def add_many(self, values: _Values, attributes: _Attributes | None = None) -> None: ...

@final
class UpDownCounter(_Instrument):
    def add(self, value: _Number, attributes: _Attributes | None = None) -> None: ...
    def add_many(self, values: _Values, attributes: _Attributes | None = None) -> None: ...

@final
class Histogram(_Instrument):
    def record(self, value: _Number, attributes: _Attributes | None = None) -> None: ...
    def record_many(self, values: _Values, attributes: _Attributes | None = None) -> None: ...
    @property
    def boundaries(self) -> list[float]: ...

@final
class Gauge(_Instrument):
    def set(self, value: _Number, attributes: _Attributes | None = None) -> None: ...

@final
class ObservableInstrument(_Instrument): ...

# The OpenTelemetry API's instruments (otlp.otel.Meter): `context` is accepted, and no
# exemplars are kept.
@final
class OtelCounter(_Instrument):
    def add(
        self, amount: _Number, attributes: Mapping[str, Any] | None = None, context: Any = None
    ) -> None: ...

@final
class OtelUpDownCounter(_Instrument):
    def add(
        self, amount: _Number, attributes: Mapping[str, Any] | None = None, context: Any = None
    ) -> None: ...

@final
class OtelHistogram(_Instrument):
    def record(
        self, amount: _Number, attributes: Mapping[str, Any] | None = None, context: Any = None
    ) -> None: ...
    @property
    def boundaries(self) -> list[float]: ...

@final
class OtelGauge(_Instrument):
    def set(
        self, amount: _Number, attributes: Mapping[str, Any] | None = None, context: Any = None
    ) -> None: ...

@final
class OtelObservableCounter(_Instrument): ...

@final
class OtelObservableUpDownCounter(_Instrument): ...

@final
class OtelObservableGauge(_Instrument): ...

@final
class Receiver:
    """A local OTLP receiver: OTLP/gRPC, and OTLP/HTTP over HTTP/1.1 and h2c (protobuf or
    JSON; uncompressed, gzip or zstd), on ``grpc`` and, if given, ``http`` (both serve
    every protocol). It counts what arrives (``counts()``: requests, of which
    http1_requests over HTTP/1.1; spans, metrics and log_records in protobuf requests;
    bytes as received; errors; dropped) and keeps up to ``keep`` accepted requests
    (at most 128 MiB of them; beyond, they are counted in ``counts()["dropped"]``) for
    ``take()``.

    What clients can make it hold is bounded: a request body of ``max_message_size``
    bytes (HTTP 413 / RESOURCE_EXHAUSTED beyond), ``max_decompressed_size`` bytes once
    decompressed (the same; decompression stops there, so a small "bomb" cannot expand
    in memory); ``max_connections`` served at once (further ones are closed at once);
    ``handshake_timeout`` seconds for a new connection's first bytes and for each request
    head; a connection without an open request is closed after ``idle_timeout``
    seconds; a request body must arrive within ``request_timeout`` seconds (else
    DEADLINE_EXCEEDED / 408). Fixed limits: 128 MiB of request bodies buffered at once
    (32 MiB per connection; beyond that UNAVAILABLE / 503), 100 concurrent requests per
    HTTP/2 connection.
    """

    def __new__(
        cls,
        grpc: str = "127.0.0.1:0",
        http: str | None = None,
        *,
        keep: int = 0,
        max_message_size: int = 16777216,
        max_decompressed_size: int = 67108864,
        max_connections: int = 256,
        handshake_timeout: float = 10.0,
        idle_timeout: float = 120.0,
        request_timeout: float = 30.0,
    ) -> Self: ...
    @property
    def endpoint(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def http_endpoint(self) -> str | None: ...
    def counts(self) -> dict[str, int]: ...
    def take(self) -> list[tuple[str, str, bytes]]: ...
    def stop(self) -> None: ...

def current_span() -> Span | None: ...
def _aggregate(
    values: _Values, boundaries: Sequence[float], kernel: str | None = None
) -> tuple[int, float, float, float, int, list[int]]: ...
def _kernel() -> str: ...
def encode_spans(spans: Iterable[Any], format: str = "protobuf") -> bytes: ...
def encode_metrics(metrics_data: Any, format: str = "protobuf") -> bytes: ...
def encode_logs(records: Iterable[Any], format: str = "protobuf") -> bytes: ...

@final
class SdkBridge:
    def __new__(cls, exporter: Exporter) -> Self: ...
    def export_spans(self, spans: Iterable[Any]) -> int: ...
    def on_end(self, span: Any) -> None: ...
    def export_logs(self, records: Iterable[Any]) -> int: ...
    def on_emit(self, record: Any) -> None: ...
    def export_metrics(self, metrics_data: Any) -> bool: ...
    @property
    def dropped_invalid(self) -> int: ...

def _after_fork_in_child() -> None: ...
def _at_exit() -> None: ...
def _check(kind: str, config: Any) -> None: ...
def _defaults() -> dict[str, Any]: ...
def _current_span_var() -> Any: ...
def _current_span_context() -> SpanContext | None: ...
def _otel_enable() -> None: ...

_LinkTarget = Span | SpanContext | tuple[Span | SpanContext, _Attributes]

def _decode(
    signal: Literal["traces", "metrics", "logs"],
    body: bytes,
    format: Literal["protobuf", "json"] = "protobuf",
) -> bytes: ...
def _decode_json(
    signal: Literal["traces", "metrics", "logs"],
    body: bytes,
    format: Literal["protobuf", "json"] = "protobuf",
) -> bytes: ...
