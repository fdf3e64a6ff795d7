"""Exceptions raised by :mod:`otlp`.

Every error is an :class:`OtlpError`; each also derives from the built-in exception a
caller would naturally catch (``ValueError`` for bad configuration, ``TimeoutError``,
``ConnectionError``).
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ExportError",
    "ExportTimeoutError",
    "OtlpError",
    "TransportError",
]


class OtlpError(Exception):
    """Base class of every error raised by otlp."""


class ConfigError(OtlpError, ValueError):
    """An argument or environment setting is invalid; the message names it and the fix."""


class ExportError(OtlpError):
    """Telemetry could not be exported."""


class ExportTimeoutError(ExportError, TimeoutError):
    """An export did not complete before its deadline."""


class TransportError(ExportError, ConnectionError):
    """The collector could not be reached, or the connection failed."""
