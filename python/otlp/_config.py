from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Optional, TypeVar, Union

from otlp import _native
from otlp._types import Fsync, Overflow, Temporality

__all__ = [
    "TLS",
    "BatchConfig",
    "CircuitBreaker",
    "MetricsConfig",
    "Observation",
    "QueueConfig",
    "RetryPolicy",
]


_T = TypeVar("_T", bound=type)

if TYPE_CHECKING:
    from typing_extensions import dataclass_transform
else:

    def dataclass_transform(**_kwargs: Any) -> Callable[[_T], _T]:
        return lambda f: f


@dataclass_transform(frozen_default=True)
def _frozen(cls: _T) -> _T:
    """A small frozen record class (``dataclasses`` costs ~15 ms of import time).

    Fields are the class's annotated names, in order, with their class-level values as
    defaults; ``__post_init__`` validates. Instances are immutable, comparable and
    hashable, and their repr shows every field.
    """
    names = tuple(cls.__dict__.get("__annotations__", {}))  # noqa: RUF063 - no inspect import
    defaults = {n: cls.__dict__[n] for n in names if n in cls.__dict__}
    qualname = cls.__qualname__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if len(args) > len(names):
            raise TypeError(f"{qualname}() takes at most {len(names)} positional arguments")
        values = dict(zip(names, args, strict=False))
        for key, value in kwargs.items():
            if key not in names:
                raise TypeError(f"{qualname}() got an unexpected keyword argument {key!r}")
            if key in values:
                raise TypeError(f"{qualname}() got multiple values for argument {key!r}")
            values[key] = value
        for name in names:
            if name not in values:
                if name not in defaults:
                    raise TypeError(f"{qualname}() missing required argument: {name!r}")
                values[name] = defaults[name]
            object.__setattr__(self, name, values[name])
        post = getattr(self, "__post_init__", None)
        if post is not None:
            post()

    def __setattr__(self: Any, key: str, value: Any) -> None:
        raise AttributeError(f"{qualname} is immutable; create a new one instead of setting {key!r}")

    def __repr__(self: Any) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in names)
        return f"{qualname}({fields})"

    def __eq__(self: Any, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in names)

    def __hash__(self: Any) -> int:
        return hash((self.__class__, *(getattr(self, n) for n in names)))

    def _asdict(self: Any) -> dict[str, Any]:
        return {n: getattr(self, n) for n in names}

    for name, fn in (
        ("__init__", __init__),
        ("__setattr__", __setattr__),
        ("__repr__", __repr__),
        ("__eq__", __eq__),
        ("__hash__", __hash__),
        ("_asdict", _asdict),
    ):
        fn.__qualname__ = f"{qualname}.{name}"
        setattr(cls, name, fn)
    return cls


# Every default and every rule is the core's: the classes below read their defaults
# from it, and their values are checked by it when they are made (errors name the field).
_DEFAULTS: dict[str, Any] = _native._defaults()

#: The longest duration any setting accepts: one year (timeouts, delays, intervals).
MAX_SECONDS: int = int(_DEFAULTS["max_seconds"])


@_frozen
class BatchConfig:
    """How ended spans are batched before export.

    Attributes:
        max_queue_size: spans held in memory; beyond it new spans are dropped and
            counted (``spans_dropped_queue_full`` in ``Exporter.stats()``).
        max_export_batch_size: spans per export request; reaching it triggers an export.
        schedule_delay: seconds after which a partial batch is exported anyway.
        max_concurrent_exports: export requests in flight at once.
    """

    max_queue_size: int = _DEFAULTS["batch"]["max_queue_size"]
    max_export_batch_size: int = _DEFAULTS["batch"]["max_export_batch_size"]
    schedule_delay: float = _DEFAULTS["batch"]["schedule_delay"]
    max_concurrent_exports: int = _DEFAULTS["batch"]["max_concurrent_exports"]

    def __post_init__(self) -> None:
        _native._check("batch", self)


@_frozen
class RetryPolicy:
    """Retries of failed exports, as the OTLP specification prescribes.

    Retryable failures (UNAVAILABLE and the other transient gRPC codes, connection
    errors) are retried with exponential backoff and jitter; a delay the server asks
    for (``RetryInfo``) is honoured. After ``max_elapsed`` seconds the batch is
    dropped and counted (``spans_failed_retries_exhausted``).
    """

    initial_backoff: float = _DEFAULTS["retry"]["initial_backoff"]
    max_backoff: float = _DEFAULTS["retry"]["max_backoff"]
    max_elapsed: float = _DEFAULTS["retry"]["max_elapsed"]
    multiplier: float = _DEFAULTS["retry"]["multiplier"]

    def __post_init__(self) -> None:
        _native._check("retry", self)


@_frozen
class MetricsConfig:
    """How metrics are collected and exported.

    Attributes:
        interval: seconds between collections (each is one export).
        timeout: seconds allowed for one export.
        temporality: ``"cumulative"`` (default), ``"delta"`` or ``"lowmemory"``, with the
            meaning of ``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE``: delta makes
            counters, histograms and observable counters report changes since the last
            collection; lowmemory does so for synchronous counters and histograms only.
        cardinality_limit: series kept per instrument; measurements with new
            attributes beyond it go to the ``otel.metric.overflow=true`` series.
    """

    interval: float = _DEFAULTS["metrics"]["interval"]
    timeout: float = _DEFAULTS["metrics"]["timeout"]
    temporality: Temporality = _DEFAULTS["metrics"]["temporality"]
    cardinality_limit: int = _DEFAULTS["metrics"]["cardinality_limit"]

    def __post_init__(self) -> None:
        _native._check("metrics", self)


@_frozen
class Observation:
    """One value reported by an observable instrument's callback."""

    value: Union[int, float]
    attributes: Optional[Mapping[str, Any]] = None


@_frozen
class CircuitBreaker:
    """Stop sending to a collector that keeps failing, then probe it.

    After ``failure_threshold`` consecutive failed attempts (connection errors,
    timeouts, UNAVAILABLE and the other retryable answers) the exporter sends nothing
    for ``cool_down`` seconds, then lets one request through: its success closes the
    circuit, its failure opens it again. Batches wait meanwhile (within their
    ``RetryPolicy.max_elapsed``). ``failure_threshold=0`` disables the breaker. The
    state is ``circuit_state`` in ``Exporter.stats()``.
    """

    failure_threshold: int = _DEFAULTS["circuit_breaker"]["failure_threshold"]
    cool_down: float = _DEFAULTS["circuit_breaker"]["cool_down"]

    def __post_init__(self) -> None:
        _native._check("circuit_breaker", self)


@_frozen
class TLS:
    """TLS settings for ``https://`` endpoints.

    By default the collector's certificate is verified against the system's roots.

    Attributes:
        ca_file: PEM file of the CA certificates to trust instead.
        cert_file: PEM client certificate (chain), for mutual TLS (with ``key_file``).
        key_file: PEM private key of ``cert_file``.
        insecure: skip certificate chain and name checks (tests, private networks).

    Unreadable files, and a certificate and key that do not match, raise
    :class:`otlp.errors.ConfigError` when the exporter is created.
    """

    ca_file: Optional[str] = None
    cert_file: Optional[str] = None
    key_file: Optional[str] = None
    insecure: bool = False

    def __post_init__(self) -> None:
        _native._check("tls", self)


@_frozen
class QueueConfig:
    """What happens to telemetry that cannot be sent yet.

    Attributes:
        overflow: what a full in-memory queue does with one more item.
            ``"drop_newest"`` (default) drops it; ``"drop_oldest"`` drops the oldest
            queued item instead (``*_dropped_evicted``); ``"block"`` makes the producer
            wait, with the GIL released, up to ``block_timeout`` seconds for room, then
            drop (``*_dropped_block_timeout``). Never blocks the event loop's thread
            longer than ``block_timeout``.
        block_timeout: the longest a producer waits with ``overflow="block"``.
        max_queue_bytes: bound of the in-memory queue in bytes (an estimate of the
            encoded size), on top of ``BatchConfig.max_queue_size``.
        directory: keep every request in this directory until the collector accepts
            it. A process that crashes or whose collector is down at shutdown leaves
            its requests there; the next exporter using the directory sends them first.
            One exporter (process) uses a directory at a time; each signal gets its own
            subdirectory. ``None`` (default) keeps requests in memory only.
        max_bytes: bound of the disk queue, which follows ``overflow``: ``"block"``
            waits for room (up to ``block_timeout``), ``"drop_newest"`` refuses the new
            request, ``"drop_oldest"`` evicts the oldest requests not being sent yet.
            A request that cannot be written (a disk error) is counted in
            ``disk_write_failures`` and still sent from memory.
        fsync: ``"always"`` syncs each request before it is sent (survives power loss),
            ``"interval"`` (default) syncs at most once a second, ``"never"`` leaves it
            to the operating system (survives a crash of the process, not of the machine).
            ``force_flush()`` always syncs.
    """

    overflow: Overflow = _DEFAULTS["queue"]["overflow"]
    block_timeout: float = _DEFAULTS["queue"]["block_timeout"]
    max_queue_bytes: int = _DEFAULTS["queue"]["max_queue_bytes"]
    directory: Optional[str] = None
    max_bytes: int = _DEFAULTS["queue"]["max_bytes"]
    fsync: Fsync = _DEFAULTS["queue"]["fsync"]

    def __post_init__(self) -> None:
        if self.directory is not None and not isinstance(self.directory, str):
            try:
                object.__setattr__(self, "directory", os.fspath(self.directory))
            except TypeError:
                pass  # the core names the field and the expected type
        _native._check("queue", self)
