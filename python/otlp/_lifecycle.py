"""Process lifecycle: flush live exporters at interpreter exit, recover after fork."""

from __future__ import annotations

import atexit
import logging
import os
import signal
import sys
import threading
import time
import weakref
from typing import Any

from otlp import _native

_live: weakref.WeakSet[Any] = weakref.WeakSet()

#: Seconds each exporter gets to flush when the interpreter exits.
EXIT_TIMEOUT = 5.0

#: Seconds between diagnostics reports (``OTLP_DIAGNOSTICS_INTERVAL``; 0 disables).
DIAGNOSTICS_INTERVAL = float(os.environ.get("OTLP_DIAGNOSTICS_INTERVAL", "10") or 0)

#: otlp's own diagnostics. ``otlp.LoggingHandler`` never exports records of this
#: logger (or its children), so a failing collector cannot feed its own failures back.
logger = logging.getLogger("otlp")

# Counters whose growth is worth a warning: telemetry that was lost.
_LOSSES = (
    ("spans_dropped", "spans dropped"),
    ("spans_failed", "spans failed to export"),
    ("spans_rejected", "spans rejected by the collector"),
    ("metric_points_dropped", "metric points dropped"),
    ("metric_points_failed", "metric points failed to export"),
    ("metric_callback_errors", "metric callbacks raised"),
    ("metric_collections_late", "metric collections ended after shutdown and were dropped"),
    ("logs_dropped", "log records dropped"),
    ("logs_failed", "log records failed to export"),
)

_stop = threading.Event()
_watcher: threading.Thread | None = None
_watcher_lock = threading.Lock()

# Per exporter, its stats when losses were last reported: each loss is reported once,
# by the periodic report or by the one at shutdown, whichever sees it first.
_reported: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()
_reported_lock = threading.Lock()


def report_losses(exporter: Any, *, at_shutdown: bool = False) -> None:
    """Warn through the ``otlp`` logger about telemetry ``exporter`` lost since the last
    report: what, how many, and the last error."""
    try:
        stats = exporter.stats()
    except Exception:  # noqa: BLE001 - a broken exporter: nothing to report
        return
    with _reported_lock:
        before = _reported.get(exporter, {})
        _reported[exporter] = stats
    lost = [(stats.get(key, 0) - before.get(key, 0), what) for key, what in _LOSSES]
    lost = [(n, what) for n, what in lost if n > 0]
    if not lost:
        return
    error = stats.get("last_error") or stats.get("logs_last_error") or stats.get("metric_last_error")
    logger.warning(
        "%s (exporter %s%s; last error: %s)",
        ", ".join(f"{n:,} {what}" for n, what in lost),
        exporter.endpoint,
        ", at shutdown" if at_shutdown else "",
        error,
    )


def _watch() -> None:
    while not _stop.wait(DIAGNOSTICS_INTERVAL):
        for exporter in list(_live):
            report_losses(exporter)


def _start_watcher() -> None:
    global _watcher
    if DIAGNOSTICS_INTERVAL <= 0:
        return
    with _watcher_lock:
        if _watcher is None or not _watcher.is_alive():
            _watcher = threading.Thread(target=_watch, name="otlp-diagnostics", daemon=True)
            _watcher.start()


def track(exporter: Any) -> None:
    _live.add(exporter)
    _start_watcher()


# Set once exit has begun shutting exporters down. The hooks below run in the main
# thread, and a signal handler can interrupt them there: it must not start a second
# shutdown inside the first (their locks are not reentrant).
_exiting = False
_exited = False
_terminate_when_done = False


@atexit.register
def _shutdown_all() -> None:
    global _exiting, _exited
    if _exiting:
        return
    _exiting = True
    # One deadline for all exporters, so exit takes at most EXIT_TIMEOUT however many
    # there are.
    _stop.set()
    deadline = time.monotonic() + EXIT_TIMEOUT
    for exporter in list(_live):
        try:
            exporter.shutdown(timeout=max(0.0, deadline - time.monotonic()))
        except Exception:  # noqa: BLE001 - never fail interpreter exit
            pass
    _exited = True
    if _terminate_when_done:
        _die_of_sigterm()


# multiprocessing children end through os._exit(), so atexit never runs in them:
# a Process that returns without force_flush() and a Pool's workers would lose what
# they queued. multiprocessing runs its own finalizers before os._exit(), and a Pool
# ends its workers with SIGTERM, whose default action runs nothing at all. In a
# forked multiprocessing child (and only there) otlp therefore registers a finalizer,
# and, when SIGTERM still has its default action, a handler that shuts the exporters
# down within EXIT_TIMEOUT and then dies of SIGTERM as before. SIGKILL cannot be
# caught: a disk queue (QueueConfig(directory=...)) keeps what it had accepted.
class _MultiprocessingChild:
    """The key multiprocessing's after-fork registry holds (it keeps weak references)."""


_mp_key = _MultiprocessingChild()
_mp_registered = False


def _die_of_sigterm() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def _on_sigterm(signum: int, frame: Any) -> None:
    global _terminate_when_done
    if _exiting and not _exited:
        # SIGTERM interrupted the exit's own shutdown (a Pool sends it while its
        # workers run their finalizers): let that finish within its deadline, then die.
        _terminate_when_done = True
        return
    _shutdown_all()
    _die_of_sigterm()


def _in_multiprocessing_child(_key: object) -> None:
    from multiprocessing import util

    util.Finalize(None, _shutdown_all, exitpriority=0)
    try:
        if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread: keep the default action
        pass


def _after_fork_in_child() -> None:
    # Threads do not survive fork(): reseed ids, drop the I/O runtime, and give every
    # live exporter a fresh pipeline. The parent keeps exporting what it had queued.
    global _watcher
    _native._after_fork_in_child()
    _watcher = None
    if _live:
        _start_watcher()
    for exporter in list(_live):
        try:
            exporter._after_fork_in_child()
        except Exception:  # noqa: BLE001 - never break the child over telemetry
            pass


def _before_fork() -> None:
    # A multiprocessing child clears its finalizers after fork() and then runs the
    # after-fork callbacks it inherited: one of ours registers the exit flush there.
    global _mp_registered
    mp_util = sys.modules.get("multiprocessing.util")
    if mp_util is not None and not _mp_registered:
        _mp_registered = True
        mp_util.register_after_fork(_mp_key, _in_multiprocessing_child)
    # No background collection may hold a lock across fork().
    for exporter in list(_live):
        try:
            exporter._before_fork()
        except Exception:  # noqa: BLE001 - never break fork() over telemetry
            pass


def _after_fork_in_parent() -> None:
    for exporter in list(_live):
        try:
            exporter._after_fork_in_parent()
        except Exception:  # noqa: BLE001
            pass


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )
