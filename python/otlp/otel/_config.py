"""What the providers share: the exporter they deliver through, and whether the SDK is
disabled (``OTEL_SDK_DISABLED``)."""

from __future__ import annotations

import os
import threading

from otlp._exporter import Exporter

_lock = threading.Lock()
_shared: Exporter | None = None


def env_flag(name: str) -> bool:
    """A boolean environment variable as the specification reads one: ``true`` in any
    case (surrounding spaces ignored) is true, anything else false."""
    return os.environ.get(name, "").strip().lower() == "true"


def sdk_disabled() -> bool:
    """``OTEL_SDK_DISABLED`` is ``true`` (in any case): every provider is a no-op, and
    no exporter is made."""
    return env_flag("OTEL_SDK_DISABLED")


def shared_exporter() -> Exporter:
    """The exporter of providers made without one: ``Exporter.from_env()``, one per
    process, so that the providers the API's loader makes (``OTEL_PYTHON_*_PROVIDER``)
    share their connections, queues and resource."""
    global _shared
    with _lock:
        if _shared is None:
            _shared = Exporter.from_env()
        return _shared
