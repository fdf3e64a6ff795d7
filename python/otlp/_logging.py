"""``otlp.LoggingHandler``: the standard ``logging`` module into OTLP log records."""

from __future__ import annotations

import abc
import logging
import threading
from typing import Any, Union

from otlp import _native
from otlp._exporter import Exporter

__all__ = ["LoggingHandler"]

_state = threading.local()


class RecordHandler(logging.Handler, abc.ABC):
    """What otlp's logging handlers share: each record is read by one native call of
    the logger :meth:`_logger_for` picks, never otlp's own diagnostics (the ``otlp``
    logger), and records logged while it works on one (by anything it calls) are not
    fed back into it."""

    @abc.abstractmethod
    def _logger_for(self, record: logging.LogRecord) -> Any:
        """The native logger for ``record``, or None to drop it."""

    def handle(self, record: logging.LogRecord) -> bool:
        # The guard covers filters and formatters too: anything they log while this
        # handler works on a record is dropped here instead of recursing.
        if getattr(_state, "emitting", False):
            return False
        _state.emitting = True
        try:
            return bool(super().handle(record))
        finally:
            _state.emitting = False

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == "otlp" or record.name.startswith("otlp."):
            return  # otlp's own diagnostics (e.g. about a failing collector) never loop back
        try:
            # One native call reads the record: body (getMessage(), or a structured
            # msg kept as is), severity, extras, code.*, exception and trace context.
            logger = self._logger_for(record)
            if logger is None:
                return
            body = self.format(record) if self.formatter is not None else None
            logger._emit_record(record, body)
        except Exception:  # noqa: BLE001 - logging must never raise into the app
            self.handleError(record)

    def flush(self) -> None:
        # Records are exported in the background; Exporter.force_flush() waits for them.
        pass


class LoggingHandler(RecordHandler):
    """Send ``logging`` records to OTLP.

    Each record becomes a log record with the spec's severity, ``code.*`` attributes
    (file, line, function), ``logger.name``, the record's ``extra`` fields, exception
    attributes for ``exc_info``, and the current span's trace context. ``emit`` only
    converts and queues: it never waits on the network, and records logged while it
    runs (by anything it calls) are not fed back into it, nor are otlp's own
    diagnostics (the ``otlp`` logger).

    Args:
        exporter_or_logger: an :class:`otlp.Exporter` (a logger named ``"logging"`` is
            made from it) or an ``otlp.Logger``.
        level: the handler's level.
    """

    def __init__(
        self,
        exporter_or_logger: Union[Exporter, _native.Logger],
        level: int = logging.NOTSET,
    ) -> None:
        super().__init__(level)
        if isinstance(exporter_or_logger, _native.Exporter):
            self._logger: _native.Logger = exporter_or_logger.logger("logging")
        elif isinstance(exporter_or_logger, _native.Logger):
            self._logger = exporter_or_logger
        else:
            raise TypeError(
                "`exporter_or_logger` must be an otlp.Exporter or an otlp.Logger; "
                f"got {type(exporter_or_logger).__name__}"
            )

    def _logger_for(self, record: logging.LogRecord) -> _native.Logger:
        return self._logger
