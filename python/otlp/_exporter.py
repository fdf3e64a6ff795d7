from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from otlp import _lifecycle, _native

__all__ = ["Exporter"]


class Exporter(_native.Exporter):
    """Exports telemetry to an OpenTelemetry collector over OTLP.

    Spans are batched; metrics are aggregated in Rust and exported every
    ``metrics.interval`` seconds. Both are sent by background threads written in Rust; code that
    creates spans never waits on the network and never sees export errors (they are
    counted in :meth:`stats`). Use it as a context manager, or call :meth:`shutdown`;
    exporters still alive at interpreter exit are flushed (5 s each at most).

    Args:
        endpoint: collector URL, ``http://host:port`` (default ``http://localhost:4317``).
        protocol: ``"grpc"``, ``"http/protobuf"`` or ``"http/json"``. For OTLP/HTTP the
            endpoint is the base URL; ``/v1/traces``, ``/v1/metrics`` and ``/v1/logs`` are
            appended.
        headers: extra request metadata (e.g. ``{"authorization": "..."}``); never logged.
        compression: ``"none"``, ``"gzip"`` or ``"zstd"``.
        timeout: seconds allowed for one export attempt.
        resource: attributes describing this service, e.g. ``{"service.name": "checkout"}``.
            ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES`` are applied beneath them.
        batch: an :class:`otlp.BatchConfig`.
        retry: an :class:`otlp.RetryPolicy`.
        metrics: an :class:`otlp.MetricsConfig` (used once :meth:`meter` is first called).
        circuit_breaker: an :class:`otlp.CircuitBreaker`.
        tls: an :class:`otlp.TLS` for ``https://`` endpoints (system roots by default).
        max_request_size: largest export request in bytes before compression (default
            4 MiB, the usual gRPC receiver limit); larger batches are split, and a single
            item larger than this is dropped and counted (``spans_dropped_too_large``).
        http_version: OTLP/HTTP's HTTP version. ``"auto"`` (the default) lets TLS
            negotiate HTTP/2 or HTTP/1.1 (ALPN) and uses HTTP/1.1 over plain ``http://``;
            ``"2"`` always speaks HTTP/2 (prior knowledge, "h2c", over ``http://``: the
            collector must accept it); ``"1.1"`` never does. All exports then share one
            multiplexed connection. gRPC always runs on HTTP/2.
        signals: settings for one signal that differ from the above, e.g.
            ``{"metrics": {"endpoint": "http://metrics:4318/v1/metrics", "protocol":
            "http/protobuf"}}``. Keys are
            ``"traces"``, ``"metrics"`` and ``"logs"``; each may set ``endpoint``,
            ``protocol``, ``headers``, ``compression``, ``timeout``, ``tls``,
            ``http_version``, ``queue`` and (traces and logs) ``batch``. A signal's own
            ``endpoint`` is its whole URL: OTLP/HTTP posts to it as it is.
        strict: what a bad value at run time does (an attribute of an unsupported type,
            a NaN measurement, a negative counter increment, a call after
            :meth:`shutdown`). By default it is dropped, counted in :meth:`stats` and
            reported once through the ``otlp`` logger: telemetry never raises into
            the application. ``True`` raises instead, for tests. Default: the
            ``OTLP_STRICT`` environment variable (``1``/``true``), else ``False``.
        queue: an :class:`otlp.QueueConfig`: what a full queue does (drop the newest,
            drop the oldest, or make the producer wait) and an optional crash-safe disk
            queue that keeps requests until the collector accepts them, across outages
            and restarts.

    Raises:
        otlp.errors.ConfigError: an argument is invalid (the message names it).
        TypeError: an argument has the wrong type.
    """

    __slots__ = ()

    if not TYPE_CHECKING:  # type checkers see the native constructor's signature

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            # Arguments were consumed by the native constructor.
            _lifecycle.track(self)

    def shutdown(self, timeout: float = 10.0) -> bool:
        """Flush, then stop. Returns by ``timeout`` seconds whatever the collector does;
        spans still unsent then are dropped and counted (``spans_dropped_shutdown``). If
        any telemetry was lost, a warning on the ``otlp`` logger says what, how much and
        the last error. Calling it again does nothing and returns True."""
        clean = super().shutdown(timeout)
        _lifecycle.report_losses(self, at_shutdown=True)
        return clean

    def __exit__(self, *_args: object) -> Literal[False]:
        self.shutdown()
        return False

    @classmethod
    def from_env(cls, **overrides: Any) -> Exporter:
        """An exporter configured by the OpenTelemetry environment variables.

        ``OTEL_EXPORTER_OTLP_ENDPOINT``, ``_PROTOCOL`` (default ``http/protobuf``, as the
        specification says), ``_HEADERS``, ``_COMPRESSION``, ``_TIMEOUT`` (milliseconds),
        ``_CERTIFICATE``, ``_CLIENT_CERTIFICATE``, ``_CLIENT_KEY`` and ``_INSECURE``
        (for an endpoint without a scheme, gRPC only); the same with ``TRACES_``,
        ``METRICS_`` or ``LOGS_`` after ``OTEL_EXPORTER_OTLP_`` for one signal (a
        signal's endpoint is its whole URL); ``OTEL_BSP_*`` and ``OTEL_BLRP_*`` (schedule
        delay, queue and batch sizes); ``OTEL_METRIC_EXPORT_INTERVAL`` and ``_TIMEOUT``;
        ``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE``. ``OTEL_SERVICE_NAME`` and
        ``OTEL_RESOURCE_ATTRIBUTES`` apply to every exporter, however it is made.

        Keyword arguments are passed to the constructor and win over the environment;
        ``signals`` entries are merged with the environment's per signal.

        Raises:
            otlp.errors.ConfigError: a variable's value is invalid (the message names it).
        """
        from otlp import _env  # urllib.parse and re: imported only when needed

        kwargs = _env.exporter_kwargs()
        signals: dict[str, dict[str, Any]] = kwargs.pop("signals", {})
        for name, settings in (overrides.pop("signals", None) or {}).items():
            signals[name] = {**signals.get(name, {}), **settings}
        kwargs.update(overrides)
        if "endpoint" not in kwargs:
            kwargs["endpoint"] = _env.default_endpoint(kwargs["protocol"])
        if signals:
            kwargs["signals"] = signals
        return cls(**kwargs)
