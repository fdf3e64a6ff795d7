"""``otlp.otel.LoggerProvider``: the OpenTelemetry logs API on otlp's Rust log pipeline,
and the standard ``logging`` bridge for it.

``Logger.emit`` is native: an API ``LogRecord`` (or the same fields as keywords) is read
in one call and queued for export, with no SDK ``LogRecord`` in between.
"""

from __future__ import annotations

import logging
import logging.config
import threading
from collections.abc import Callable, Mapping
from typing import Any, Optional, cast

from opentelemetry import _logs
from opentelemetry.util.types import Attributes

from otlp import _native
from otlp._exporter import Exporter
from otlp._logging import RecordHandler
from otlp.otel._config import sdk_disabled

__all__ = ["LoggerProvider", "LoggingHandler"]

_logger = logging.getLogger("otlp")

# The API's isinstance() checks (e.g. the logging handlers' "not a NoOpLogger") see the
# native logger as what it is.
_logs.Logger.register(_native.OtelLogger)


class LoggerProvider(_logs.LoggerProvider):
    """An OpenTelemetry ``LoggerProvider`` whose loggers hand records straight to otlp's
    Rust log pipeline (batched and exported by an :class:`otlp.Exporter`).

    Use it where the official SDK's ``LoggerProvider`` would go::

        opentelemetry._logs.set_logger_provider(otlp.otel.LoggerProvider())

    or select it with ``OTEL_PYTHON_LOGGER_PROVIDER=otlp``. Records keep at most
    ``OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT`` attributes (else
    ``OTEL_ATTRIBUTE_COUNT_LIMIT``, else 128: the first ones, as the specification
    says) and their string values are cut to
    ``OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT`` (else
    ``OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT``) characters.

    Args:
        exporter: where records go. ``None`` (the default) makes one with
            :meth:`otlp.Exporter.from_env`, owned by the provider (its
            :meth:`shutdown` shuts it down); an exporter passed in is only flushed
            by :meth:`shutdown`, and may be shared with the other providers.

    With ``OTEL_SDK_DISABLED=true`` every logger is a no-op and no exporter is made.

    Raises:
        otlp.errors.ConfigError: a limit variable is not a whole number >= 0.
    """

    def __init__(self, exporter: Optional[Exporter] = None) -> None:
        self._disabled = sdk_disabled()
        self._owns_exporter = exporter is None
        self._exporter: Optional[Exporter] = None
        self._limits: tuple[int, Optional[int]] = (0, None)
        if not self._disabled:
            self._limits = _native._log_limits()
            self._exporter = exporter if exporter is not None else Exporter.from_env()
        self._loggers: dict[tuple[str, Optional[str], Optional[str]], _native.OtelLogger] = {}
        self._lock = threading.Lock()
        self._shut_down = False

    @property
    def exporter(self) -> Optional[Exporter]:
        """The exporter records go to (``None`` when the SDK is disabled)."""
        return self._exporter

    def get_logger(
        self,
        name: str,
        version: Optional[str] = None,
        schema_url: Optional[str] = None,
        attributes: Attributes = None,
    ) -> _logs.Logger:
        """The logger of an instrumentation scope (for the ``logging`` bridge, the
        name of the ``logging`` logger)."""
        if self._exporter is None or self._shut_down:
            return _logs.NoOpLogger(name, version=version, schema_url=schema_url, attributes=attributes)
        key = (name, version, schema_url)
        if attributes is None:
            cached = self._loggers.get(key)
            if cached is not None:
                return cached  # type: ignore[return-value]  # a registered _logs.Logger
        # The API's type allows None values, which the exporter refuses by name.
        scope_attributes = cast("Optional[Mapping[str, Any]]", attributes)
        native = self._exporter.logger(
            name or "", version, schema_url=schema_url, attributes=scope_attributes
        )
        logger = native._otel(*self._limits)
        if attributes is None:
            with self._lock:
                logger = self._loggers.setdefault(key, logger)
        return logger  # type: ignore[return-value]  # a registered _logs.Logger

    def force_flush(self, timeout_millis: float = 30_000) -> bool:
        """Export what was emitted; True when everything was delivered in time."""
        if self._exporter is None:
            return True
        return self._exporter.force_flush(timeout_millis / 1000)

    def shutdown(self) -> None:
        """Export what was emitted, then hand out only no-op loggers. The exporter is
        shut down if the provider made it (later records of its loggers are dropped and
        counted), else flushed (its loggers keep exporting until it shuts down)."""
        with self._lock:
            if self._shut_down:
                return
            self._shut_down = True
        if self._exporter is None:
            return
        if self._owns_exporter:
            self._exporter.shutdown()
        else:
            self._exporter.force_flush()


class LoggingHandler(RecordHandler):
    """The standard ``logging`` module into an :class:`otlp.otel.LoggerProvider`, as the
    OpenTelemetry SDK's ``LoggingHandler`` does it: a record goes to the logger named
    after its ``logging`` logger, with the spec's severity, ``code.*`` attributes,
    ``extra`` fields, exception attributes and the trace context of the current span
    (an ``otlp`` span, or a span current in ``opentelemetry.context``). Each record is
    read in one native call; otlp's own diagnostics are never exported.

    Args:
        level: the handler's level.
        logger_provider: an :class:`otlp.otel.LoggerProvider` (by default the global
            one, which must be).
    """

    def __init__(self, level: int = logging.NOTSET, logger_provider: Optional[LoggerProvider] = None) -> None:
        super().__init__(level)
        provider = logger_provider if logger_provider is not None else _logs.get_logger_provider()
        if not isinstance(provider, LoggerProvider):
            raise TypeError(
                "`logger_provider` must be an otlp.otel.LoggerProvider (the global one is "
                f"{type(provider).__name__})"
            )
        self._provider = provider
        self._loggers: dict[str, _native.OtelLogger] = {}

    def _logger_for(self, record: logging.LogRecord) -> Optional[_native.OtelLogger]:
        logger = self._loggers.get(record.name)
        if logger is None:
            made = self._provider.get_logger(record.name)
            # A disabled or shut down provider hands out no-op loggers: nothing to send.
            if not isinstance(made, _native.OtelLogger):
                return None
            logger = self._loggers.setdefault(record.name, made)
        return logger


def install_logging_handler(provider: LoggerProvider, level: int = logging.NOTSET) -> LoggingHandler:
    """Attach a :class:`LoggingHandler` for ``provider`` to the root logger and keep it
    there through ``logging.basicConfig``, ``logging.config.dictConfig`` and
    ``fileConfig`` (which would remove it), as the official SDK's configurator does
    with ``OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED=true``."""
    handler = LoggingHandler(level, logger_provider=provider)
    root = logging.getLogger()
    root.addHandler(handler)

    def keeping_handler(configure: Callable[..., Any]) -> Callable[..., Any]:
        def configure_around_handler(*args: Any, **kwargs: Any) -> Any:
            removed = handler in root.handlers
            if removed:
                root.removeHandler(handler)
            try:
                return configure(*args, **kwargs)
            finally:
                if removed:
                    root.addHandler(handler)

        return configure_around_handler

    logging.basicConfig = keeping_handler(logging.basicConfig)
    logging.config.dictConfig = keeping_handler(logging.config.dictConfig)
    logging.config.fileConfig = keeping_handler(logging.config.fileConfig)
    return handler
