"""``Tracer.trace()``: run each call of a function in a span."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def make_decorator(
    tracer: Any, name: str | None, kind: Any, attributes: Mapping[str, Any] | None
) -> Callable[[F], F]:
    def decorate(func: F) -> F:
        span_name = name or getattr(func, "__qualname__", None) or repr(func)

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with tracer.start_span(span_name, kind=kind, attributes=attributes):
                    return await func(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        if inspect.isasyncgenfunction(func):

            @functools.wraps(func)
            async def agen_wrapper(*args: Any, **kwargs: Any) -> Any:
                with tracer.start_span(span_name, kind=kind, attributes=attributes):
                    async for item in func(*args, **kwargs):
                        yield item

            return agen_wrapper  # type: ignore[return-value]

        if inspect.isgeneratorfunction(func):

            @functools.wraps(func)
            def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
                with tracer.start_span(span_name, kind=kind, attributes=attributes):
                    return (yield from func(*args, **kwargs))

            return gen_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with tracer.start_span(span_name, kind=kind, attributes=attributes):
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
