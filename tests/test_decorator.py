"""``@tracer.trace()``: a span per call of a function, a coroutine, a generator or an
async generator, covering the whole call (for generators, until they are exhausted or
closed), with errors recorded and raised unchanged."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

import otlp


def exported(rx, run, n: int) -> list:
    """Run ``run(tracer)`` with an exporter to ``rx``; the ``n`` spans that arrived."""
    with otlp.Exporter(rx.endpoint) as exp:
        run(exp.tracer("deco"))
        assert exp.force_flush(timeout=10.0)
    spans = rx.wait_for_spans(n, timeout=10.0)
    assert len(spans) == n, [s.name for s in spans]
    return spans


def test_functions_and_coroutines_run_in_a_span_named_after_them(otlp_receiver) -> None:
    def run(tracer: otlp.Tracer) -> None:
        @tracer.trace()
        def add(a: int, b: int = 0) -> int:
            return a + b

        @tracer.trace("fetch", kind=otlp.SpanKind.CLIENT, attributes={"peer": "db"})
        async def fetch(x: int) -> int:
            await asyncio.sleep(0)
            return x * 2

        assert add(2, b=3) == 5
        assert asyncio.run(fetch(21)) == 42
        assert add.__name__ == "add" and fetch.__name__ == "fetch"

    spans = exported(otlp_receiver, run, 2)
    by_name = {s.name: s for s in spans}
    assert set(by_name) == {
        "test_functions_and_coroutines_run_in_a_span_named_after_them.<locals>.run.<locals>.add",
        "fetch",
    }
    assert by_name["fetch"].kind == "CLIENT" and by_name["fetch"].attributes == {"peer": "db"}


def test_a_generator_is_one_span_from_first_item_to_exhaustion(otlp_receiver) -> None:
    inner_parent: list[int] = []

    def run(tracer: otlp.Tracer) -> None:
        @tracer.trace("numbers")
        def numbers(n: int) -> Iterator[int]:
            for i in range(n):
                with tracer.span(f"item {i}"):
                    pass
                yield i
            return n  # the generator's value reaches `yield from`

        def consume() -> Iterator[int]:
            got = yield from numbers(3)
            inner_parent.append(got)

        assert list(consume()) == [0, 1, 2]

    spans = exported(otlp_receiver, run, 4)
    assert inner_parent == [3]
    (gen,) = [s for s in spans if s.name == "numbers"]
    items = [s for s in spans if s.name.startswith("item")]
    assert len(items) == 3 and all(s.parent_span_id == gen.span_id for s in items)
    assert gen.status_code != "ERROR"
    assert gen.end_time_unix_nano >= max(s.end_time_unix_nano for s in items)


def test_a_generator_that_raises_records_the_error_and_raises_it(otlp_receiver) -> None:
    def run(tracer: otlp.Tracer) -> None:
        @tracer.trace("failing")
        def failing() -> Iterator[int]:
            yield 1
            raise KeyError("gone")

        it = failing()
        assert next(it) == 1
        with pytest.raises(KeyError, match="gone"):
            next(it)

    (span,) = exported(otlp_receiver, run, 1)
    assert span.status_code == "ERROR"
    assert [e.name for e in span.events] == ["exception"]
    assert span.events[0].attributes["exception.type"] == "KeyError"


def test_a_generator_closed_early_ends_its_span(otlp_receiver) -> None:
    def run(tracer: otlp.Tracer) -> None:
        @tracer.trace("endless")
        def endless() -> Iterator[int]:
            i = 0
            while True:
                yield i
                i += 1

        it = endless()
        assert [next(it) for _ in range(3)] == [0, 1, 2]
        it.close()

    (span,) = exported(otlp_receiver, run, 1)
    assert span.name == "endless" and span.end_time_unix_nano >= span.start_time_unix_nano > 0


def test_an_async_generator_is_one_span_and_errors_are_recorded(otlp_receiver) -> None:
    def run(tracer: otlp.Tracer) -> None:
        @tracer.trace("ticks")
        async def ticks(n: int) -> AsyncIterator[int]:
            for i in range(n):
                await asyncio.sleep(0)
                yield i

        @tracer.trace("broken")
        async def broken() -> AsyncIterator[int]:
            yield 0
            raise ValueError("bad tick")

        async def main() -> None:
            assert [i async for i in ticks(4)] == [0, 1, 2, 3]
            with pytest.raises(ValueError, match="bad tick"):
                async for _ in broken():
                    pass

        asyncio.run(main())

    spans = {s.name: s for s in exported(otlp_receiver, run, 2)}
    assert set(spans) == {"ticks", "broken"}
    assert spans["ticks"].status_code != "ERROR"
    assert spans["broken"].status_code == "ERROR"
    assert spans["broken"].events[0].attributes["exception.message"] == "bad tick"
