"""``otlp.testing.Receiver``: a local OTLP receiver for tests that collects what
arrives as typed objects."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any, Literal, Optional, TypeVar, cast

from otlp import _native
from otlp.testing._items import LogRecord, MetricPoint, Span, log_records_of, metric_points_of, spans_of

_T = TypeVar("_T")


class Receiver:
    """An OTLP receiver on loopback (OTLP/gRPC on :attr:`endpoint`, OTLP/HTTP over
    HTTP/1.1 or h2c on :attr:`http_endpoint`) that decodes every request with otlp's
    own decoder and keeps its spans, metric points and log records.

    Works with ``otlp.Exporter``, the ``otlp.otel`` providers and the official
    OpenTelemetry SDK exporters alike::

        with otlp.testing.Receiver() as rx:
            exporter = otlp.Exporter(rx.endpoint)
            ...
            exporter.force_flush()
            (span,) = rx.wait_for_spans(1)

    Args:
        grpc: address of the gRPC listener (``host:port``; port 0 picks a free one).
        http: address of the OTLP/HTTP listener, or None for none.
        keep: requests kept between reads at the most (beyond it they are dropped
            and counted in :meth:`counts`).
    """

    def __init__(
        self, *, grpc: str = "127.0.0.1:0", http: Optional[str] = "127.0.0.1:0", keep: int = 100_000
    ):
        self._native = _native.Receiver(grpc, http=http, keep=keep)
        self._lock = threading.Lock()
        self._spans: list[Span] = []
        self._points: list[MetricPoint] = []
        self._logs: list[LogRecord] = []
        self._requests: list[tuple[str, dict[str, Any]]] = []

    @property
    def endpoint(self) -> str:
        """The OTLP/gRPC endpoint, ``http://127.0.0.1:PORT``."""
        return str(self._native.endpoint)

    @property
    def http_endpoint(self) -> Optional[str]:
        """The OTLP/HTTP base endpoint (``/v1/traces`` etc. are appended by exporters)."""
        endpoint = self._native.http_endpoint
        return None if endpoint is None else str(endpoint)

    def __enter__(self) -> Receiver:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop listening."""
        self._native.stop()

    def counts(self) -> dict[str, int]:
        """The receiver's counters (requests, items, errors, dropped)."""
        return dict(self._native.counts())

    def _drain(self) -> None:
        with self._lock:
            for signal, fmt, body in self._native.take():
                kind = cast("Literal['traces', 'metrics', 'logs']", signal)
                encoding = cast("Literal['protobuf', 'json']", fmt)
                doc = json.loads(_native._decode_json(kind, body, encoding))
                self._requests.append((signal, doc))
                if signal == "traces":
                    self._spans.extend(spans_of(doc))
                elif signal == "metrics":
                    self._points.extend(metric_points_of(doc))
                else:
                    self._logs.extend(log_records_of(doc))

    def clear(self) -> None:
        """Forget everything received so far."""
        self._drain()
        with self._lock:
            self._spans.clear()
            self._points.clear()
            self._logs.clear()
            self._requests.clear()

    def requests(self, signal: Optional[Literal["traces", "metrics", "logs"]] = None) -> list[dict[str, Any]]:
        """The requests received so far (only those of ``signal``), in arrival order, each
        as its OTLP/JSON document (``{"resourceSpans": [...]}`` and so on: ids in hex,
        64-bit integers as strings), whatever format and compression it came in."""
        self._drain()
        with self._lock:
            return [doc for s, doc in self._requests if signal is None or s == signal]

    def spans(self, name: Optional[str] = None) -> list[Span]:
        """The spans received so far, in arrival order (only those called ``name``)."""
        self._drain()
        with self._lock:
            return [s for s in self._spans if name is None or s.name == name]

    def span(self, name: str) -> Span:
        """The one span called ``name``; AssertionError if there is none or several."""
        found = self.spans(name)
        assert len(found) == 1, f"expected one span named {name!r}, found {len(found)}"
        return found[0]

    def children(self, parent: Span) -> list[Span]:
        """The spans whose parent is ``parent``."""
        return [
            s for s in self.spans() if s.trace_id == parent.trace_id and s.parent_span_id == parent.span_id
        ]

    def roots(self) -> list[Span]:
        """The spans without a parent received here."""
        return [s for s in self.spans() if s.parent_span_id is None]

    def tree(self, root: Span) -> dict[str, object]:
        """``{"name": ..., "children": [...]}`` below ``root``, children by start time."""
        kids = sorted(self.children(root), key=lambda s: s.start_time_unix_nano)
        return {"name": root.name, "children": [self.tree(k) for k in kids]}

    def metric_points(self, name: Optional[str] = None) -> list[MetricPoint]:
        """The metric data points received so far (only those of metric ``name``)."""
        self._drain()
        with self._lock:
            return [p for p in self._points if name is None or p.name == name]

    def log_records(self) -> list[LogRecord]:
        """The log records received so far."""
        self._drain()
        with self._lock:
            return list(self._logs)

    def wait_for_spans(self, n: int, timeout: float = 10.0) -> list[Span]:
        """Wait until at least ``n`` spans arrived; AssertionError after ``timeout``."""
        return self._wait(self.spans, n, timeout, "spans")

    def wait_for_metric_points(self, n: int, timeout: float = 10.0) -> list[MetricPoint]:
        """Wait until at least ``n`` metric data points arrived."""
        return self._wait(self.metric_points, n, timeout, "metric points")

    def wait_for_log_records(self, n: int, timeout: float = 10.0) -> list[LogRecord]:
        """Wait until at least ``n`` log records arrived."""
        return self._wait(self.log_records, n, timeout, "log records")

    @staticmethod
    def _wait(get: Callable[[], list[_T]], n: int, timeout: float, what: str) -> list[_T]:
        deadline = time.monotonic() + timeout
        while True:
            items = get()
            if len(items) >= n:
                return items
            left = deadline - time.monotonic()
            assert left > 0, f"received {len(items)} {what}, expected {n} within {timeout}s"
            time.sleep(min(0.01, left))
