"""``otlp.LoggingHandler``: the standard ``logging`` module into OTLP log records."""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Mapping, Sequence
from typing import Any, Union

from otlp import _native
from otlp._exporter import Exporter

__all__ = ["LoggingHandler"]

# LogRecord attributes that are not user "extra" fields (as the OTel SDK handler).
_RESERVED = frozenset(
    {
        "asctime", "args", "created", "exc_info", "exc_text", "filename", "funcName",
        "getMessage", "message", "levelname", "levelno", "lineno", "module", "msecs",
        "msg", "name", "pathname", "process", "processName", "relativeCreated",
        "stack_info", "thread", "threadName", "taskName",
    }
)  # fmt: skip

# Python level -> OTel severity number, as the OTel SDK maps them: 10..53 fan out over
# the four sub-levels of DEBUG, INFO, WARN, ERROR and FATAL.
_SEVERITY = (
    [0] * 10 + [base + min(step, 3) for base in (5, 9, 13, 17) for step in range(10)] + [21, 22, 23, 24]
)

# Python level names that differ from the OTel severity text.
_TEXT = {"WARNING": "WARN", "CRITICAL": "FATAL"}

_EXPORTABLE = (type(None), bool, bytes, int, float, str, Sequence, Mapping)


def _severity(levelno: int) -> int:
    if levelno < 10:
        return 0
    if levelno > 53:
        return 24
    return _SEVERITY[levelno]


_state = threading.local()


class LoggingHandler(logging.Handler):
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

    def _attributes(self, record: logging.LogRecord) -> dict[str, Any]:
        attrs: dict[str, Any] = {
            k: v for k, v in record.__dict__.items() if k not in _RESERVED and isinstance(v, _EXPORTABLE)
        }
        attrs["code.file.path"] = record.pathname
        attrs["code.function.name"] = record.funcName
        attrs["code.line.number"] = record.lineno
        attrs["logger.name"] = record.name
        if record.exc_info:
            exc_type, exc, tb = record.exc_info
            if exc_type is not None:
                attrs["exception.type"] = exc_type.__name__
            if exc is not None:
                attrs["exception.message"] = str(exc)
            if tb is not None:
                attrs["exception.stacktrace"] = "".join(traceback.format_exception(exc_type, exc, tb))
        return attrs

    def _body(self, record: logging.LogRecord) -> Any:
        if self.formatter is not None:
            return self.format(record)
        # A non-string msg without args is kept as a structured body when exportable.
        if not record.args and not isinstance(record.msg, str):
            return record.msg if isinstance(record.msg, _EXPORTABLE) else str(record.msg)
        return record.getMessage()

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(_state, "emitting", False):
            return  # a record logged by something this handler called: drop, don't recurse
        if record.name == "otlp" or record.name.startswith("otlp."):
            return  # otlp's own diagnostics (e.g. about a failing collector) never loop back
        _state.emitting = True
        try:
            try:
                body = self._body(record)
                attributes = self._attributes(record)
                try:
                    self._logger.emit(
                        body,
                        severity=_severity(record.levelno),
                        severity_text=_TEXT.get(record.levelname, record.levelname),
                        attributes=attributes,
                        timestamp=int(record.created * 1e9),
                    )
                except (TypeError, ValueError, OverflowError):
                    # An extra field the exporter cannot encode: keep the record, drop
                    # the extras.
                    self._logger.emit(
                        body if isinstance(body, str) else str(body),
                        severity=_severity(record.levelno),
                        severity_text=_TEXT.get(record.levelname, record.levelname),
                        attributes={k: attributes[k] for k in _SAFE_KEYS if k in attributes},
                        timestamp=int(record.created * 1e9),
                    )
            except Exception:  # noqa: BLE001 - logging must never raise into the app
                self.handleError(record)
        finally:
            _state.emitting = False

    def flush(self) -> None:
        # Records are exported in the background; Exporter.force_flush() waits for them.
        pass


_SAFE_KEYS = (
    "code.file.path",
    "code.function.name",
    "code.line.number",
    "logger.name",
    "exception.type",
    "exception.message",
    "exception.stacktrace",
)
