"""Process lifecycle: flush live exporters at interpreter exit, recover after fork."""

from __future__ import annotations

import atexit
import os
import weakref
from typing import Any

from otlp import _native

_live: weakref.WeakSet[Any] = weakref.WeakSet()

#: Seconds each exporter gets to flush when the interpreter exits.
EXIT_TIMEOUT = 5.0


def track(exporter: Any) -> None:
    _live.add(exporter)


@atexit.register
def _shutdown_all() -> None:
    for exporter in list(_live):
        try:
            exporter.shutdown(timeout=EXIT_TIMEOUT)
        except Exception:  # noqa: BLE001 - never fail interpreter exit
            pass


def _after_fork_in_child() -> None:
    # Threads do not survive fork(): reseed ids, drop the I/O runtime, and give every
    # live exporter a fresh pipeline. The parent keeps exporting what it had queued.
    _native._after_fork_in_child()
    for exporter in list(_live):
        try:
            exporter._after_fork_in_child()
        except Exception:  # noqa: BLE001 - never break the child over telemetry
            pass


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
