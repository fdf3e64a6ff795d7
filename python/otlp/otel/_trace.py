"""``opentelemetry.trace.TracerProvider`` on ``otlp``'s Rust core.

The tracers and spans are native (``otlp._native.OtelTracer`` / ``OtelSpan``): starting,
changing and ending a span never runs Python code of ours, and a span the sampler drops
records nothing. Their current span lives in ``opentelemetry.context``, so the API's
``get_current_span``, ``use_span`` and propagators, and ``otlp.current_span()`` and
``otlp.propagate``, all see the same span.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from opentelemetry import trace as trace_api
from opentelemetry.util.types import Attributes

from otlp import _native
from otlp._exporter import Exporter
from otlp.otel import _config

__all__ = ["TracerProvider"]

F = TypeVar("F", bound=Callable[..., Any])


class TracerProvider(trace_api.TracerProvider):
    """Tracers whose spans go to ``exporter`` (default: one ``otlp.Exporter.from_env()``
    shared by the providers of this process).

    ``sampler`` is an ``otlp.Sampler`` or a sampler's name (``"always_on"``,
    ``"always_off"``, ``"traceidratio"``, ``"parentbased_always_on"``,
    ``"parentbased_always_off"``, ``"parentbased_traceidratio"``); by default the one
    ``OTEL_TRACES_SAMPLER`` / ``OTEL_TRACES_SAMPLER_ARG`` name, else
    ``parentbased_always_on``. Span limits are read from the ``OTEL_SPAN_*``,
    ``OTEL_EVENT_*``, ``OTEL_LINK_*`` and ``OTEL_ATTRIBUTE_*`` variables. With
    ``OTEL_SDK_DISABLED=true`` every tracer is the API's no-op tracer.

    Raises:
        otlp.errors.ConfigError: the sampler or a limit variable is invalid.
    """

    def __init__(
        self,
        exporter: Exporter | None = None,
        *,
        sampler: _native.Sampler | str | None = None,
        sampler_ratio: float | None = None,
    ) -> None:
        self._disabled = _config.sdk_disabled()
        self._lock = threading.Lock()
        self._shut_down = False
        if isinstance(sampler, str):
            sampler = _native.Sampler(sampler, sampler_ratio)
        elif sampler is None:
            if sampler_ratio is not None:
                raise TypeError("`sampler_ratio` needs `sampler`")
            sampler = _native.Sampler.from_env() or _native.Sampler()
        elif not isinstance(sampler, _native.Sampler):
            raise TypeError(
                f"`sampler` must be an otlp.Sampler or a sampler's name; got {type(sampler).__name__}"
            )
        self._sampler: _native.Sampler = sampler
        self._exporter: Exporter | None = None
        if not self._disabled:
            self._exporter = exporter if exporter is not None else _config.shared_exporter()
            # The span limits are read now, so a bad variable fails here, not in a tracer.
            self._exporter.tracer("otlp.otel", sampler=sampler)

    @property
    def sampler(self) -> _native.Sampler:
        """Which spans this provider's tracers record and export."""
        return self._sampler

    @property
    def exporter(self) -> Exporter | None:
        """Where the spans go (None when the SDK is disabled)."""
        return self._exporter

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Attributes | None = None,
    ) -> trace_api.Tracer:
        if self._disabled or self._shut_down or self._exporter is None:
            return trace_api.NoOpTracer()
        native = self._exporter.tracer(
            instrumenting_module_name or "",
            instrumenting_library_version or None,
            schema_url=schema_url or None,
            attributes=attributes,  # type: ignore[arg-type]
            sampler=self._sampler,
        )
        return _native.OtelTracer(native)  # type: ignore[return-value]  # registered as one

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Deliver every ended span; wait up to ``timeout_millis``."""
        if self._exporter is None:
            return True
        return self._exporter.force_flush(timeout_millis / 1000)

    def shutdown(self) -> None:
        """Flush; new tracers are no-ops from now on. The exporter keeps running: one
        given to the provider belongs to its caller (and may serve the meter and logger
        providers too, as ``otlp.otel.distro.configure()`` shares one), and the shared
        default one is shut down at exit."""
        with self._lock:
            if self._shut_down or self._exporter is None:
                self._shut_down = True
                return
            self._shut_down = True
        self._exporter.force_flush()


def _decorate(manager: Any, func: F) -> F:
    """``start_as_current_span(...)`` as a decorator, as the API's does: each call runs
    in a new span; a coroutine function's span lasts until its coroutine finishes."""
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            with manager._recreate():
                return await func(*args, **kwargs)

        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with manager._recreate():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
