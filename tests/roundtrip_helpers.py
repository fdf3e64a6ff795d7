"""Helpers shared by the tests that send with otlp's native API to the reference sink
(``test_roundtrip.py``, ``test_logs.py``, ``test_metrics_roundtrip.py``,
``test_metrics_api.py``): reading decoded protobuf values back as Python values,
comparing them strictly, and the body of their ``make_exporter`` fixtures."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from typing import Any

import otlp

# OTel SDK default explicit bucket boundaries (spec: "Explicit Bucket Histogram Aggregation")
DEFAULT_BOUNDS = [
    0.0,
    5.0,
    10.0,
    25.0,
    50.0,
    75.0,
    100.0,
    250.0,
    500.0,
    750.0,
    1000.0,
    2500.0,
    5000.0,
    7500.0,
    10000.0,
]


def pyval(av: Any) -> Any:
    """proto AnyValue -> Python value (None for a value-less AnyValue)."""
    which = av.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [pyval(v) for v in av.array_value.values]
    if which == "kvlist_value":
        return kvdict(av.kvlist_value.values)
    return getattr(av, which)


def kvdict(kvs: Any) -> dict[str, Any]:
    """repeated KeyValue -> dict, asserting keys are unique on the wire."""
    keys = [kv.key for kv in kvs]
    assert len(keys) == len(set(keys)), f"duplicate attribute keys on the wire: {keys}"
    return {kv.key: pyval(kv.value) for kv in kvs}


def typed(v: Any, *, str_keys: bool = False) -> tuple[Any, ...]:
    """A strictly typed, hashable form: True != 1, 1 != 1.0, -0.0 != 0.0, NaN == NaN, list vs dict.

    ``str_keys``: dict keys are taken as ``str(key)`` (so keys of any type sort)."""
    if v is None:
        return ("none",)
    if isinstance(v, bool):
        return ("bool", v)
    if isinstance(v, int):
        return ("int", v)
    if isinstance(v, float):
        return ("float", struct.pack("<d", v))
    if isinstance(v, str):
        return ("str", v)
    if isinstance(v, (bytes, bytearray)):
        return ("bytes", bytes(v))
    if isinstance(v, (list, tuple)):
        return ("list", tuple(typed(x, str_keys=str_keys) for x in v))
    if isinstance(v, dict):
        items = ((str(k) if str_keys else k, typed(x, str_keys=str_keys)) for k, x in v.items())
        return ("dict", tuple(sorted(items)))
    raise AssertionError(f"unexpected value {v!r}")


def tid(ctx: otlp.SpanContext) -> bytes:
    """The trace id of a span context as it is on the wire (16 bytes)."""
    return ctx.trace_id.to_bytes(16, "big")


def sid(ctx: otlp.SpanContext) -> bytes:
    """The span id of a span context as it is on the wire (8 bytes)."""
    return ctx.span_id.to_bytes(8, "big")


def exporter_factory(
    defaults: Callable[[], dict[str, Any]], shutdown_timeout: float = 2.0
) -> Iterator[Callable[..., otlp.Exporter]]:
    """The body of a ``make_exporter`` fixture (``yield from exporter_factory(...)``).

    Yields ``make(endpoint, **kw)``: an ``otlp.Exporter`` with the keyword arguments
    ``defaults()`` (called per exporter) overridden by ``kw``. At teardown every exporter
    made is shut down; one that fails to does not keep the others running."""
    made: list[otlp.Exporter] = []

    def make(endpoint: str, **kw: Any) -> otlp.Exporter:
        exp = otlp.Exporter(endpoint, **{**defaults(), **kw})
        made.append(exp)
        return exp

    yield make
    for exp in made:
        try:
            exp.shutdown(timeout=shutdown_timeout)
        except Exception:  # noqa: BLE001 - teardown must reach every exporter
            pass
