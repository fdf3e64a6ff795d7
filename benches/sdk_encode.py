#!/usr/bin/env python3
"""``otlp.sdk.encode_spans`` vs the official OTLP trace encoder, side by side.

Run from the repository root::

    python benches/sdk_encode.py                 # 512 spans per batch, best of 30
    python benches/sdk_encode.py --spans 2048 --repeat 50 --json

The same list of SDK ``ReadableSpan`` objects, made once by the official SDK, is
encoded to the bytes of an ``ExportTraceServiceRequest`` by
``trace_encoder.encode_spans(spans).SerializeToString()`` (upb protobuf) and by
``otlp.sdk.encode_spans(spans)``; the bytes are checked to be equal first. Two span
shapes:

* ``plain``: the trace benchmarks' span (5 attributes: str, str, int, int, bool);
* ``rich``: a server span and its child with an event, a link, list and float
  attributes, and every third child an exception event and an error status.

Each encoder runs ``--repeat`` times in one process, alternating; the report gives the
best and median time per span and the official/otlp ratio of the best times. The
end-to-end figure for the SDK pieces (the official SDK with
``otlp.sdk.BatchSpanProcessor`` and ``otlp.sdk.SpanExporter`` against the official
``BatchSpanProcessor`` and OTLP/gRPC exporter) is ``python benches/e2e_traces.py --only sdk``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import _harness as harness
from _harness import TIMES


def make_spans(shape: str, n: int) -> list[Any]:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import Link, SpanKind, Status, StatusCode

    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "sdk-encode-bench"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("sdk-encode-bench", "1.0.0")
    if shape == "plain":
        for _ in range(n):
            tracer.start_span(harness.SPAN_NAME, attributes=harness.SPAN_ATTRS).end()
    else:
        for i in range(n // 2):
            with tracer.start_as_current_span(harness.SPAN_NAME, kind=SpanKind.SERVER) as parent:
                parent.set_attributes(harness.SPAN_ATTRS)
                with tracer.start_as_current_span(
                    "SELECT items", links=[Link(parent.get_span_context(), {"reason": "fan-out"})]
                ) as child:
                    child.set_attributes({"db.rows": i, "db.cost": 1.5, "db.tables": ["items", "users"]})
                    child.add_event("fetched", {"rows": i})
                    if i % 3 == 0:
                        child.record_exception(ValueError("no such item"))
                        child.set_status(Status(StatusCode.ERROR, "no such item"))
    provider.shutdown()
    return list(memory.get_finished_spans())


def time_both(
    official: Callable[[], bytes], ours: Callable[[], bytes], repeat: int
) -> tuple[list[float], list[float]]:
    a: list[float] = []
    b: list[float] = []
    for _ in range(repeat):
        for fn, out in ((official, a), (ours, b)):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    return a, b


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="otlp.sdk.encode_spans vs the official OTLP trace encoder.")
    p.add_argument("--spans", type=int, default=512, help="spans per batch (default 512, the SDK's batch)")
    p.add_argument("--repeat", type=int, default=30, help="timed runs of each encoder (default 30)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    args = p.parse_args(argv)

    if not harness.otlp_extension_ok():
        return 2
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as official_encode

    import otlp.sdk

    results: dict[str, Any] = {}
    problems = []
    for shape in ("plain", "rich"):
        spans = make_spans(shape, args.spans)
        n = len(spans)

        def official(spans: list[Any] = spans) -> bytes:
            return official_encode(spans).SerializeToString()

        def ours(spans: list[Any] = spans) -> bytes:
            return otlp.sdk.encode_spans(spans)

        if official() != ours():
            problems.append(f"{shape}: otlp.sdk.encode_spans differs from the official encoder's bytes")
        a, b = time_both(official, ours, args.repeat)
        results[shape] = {
            "spans": n,
            "bytes": len(ours()),
            "official_us_per_span_best": min(a) / n * 1e6,
            "official_us_per_span_median": statistics.median(a) / n * 1e6,
            "otlp_us_per_span_best": min(b) / n * 1e6,
            "otlp_us_per_span_median": statistics.median(b) / n * 1e6,
            "ratio_best": min(a) / min(b),
            "ratio_median": statistics.median(a) / statistics.median(b),
        }

    if args.json:
        print(
            json.dumps({"python": sys.version.split()[0], "results": results, "problems": problems}, indent=2)
        )
    else:
        print(f"encode_spans benchmark: best of {args.repeat}, python {sys.version.split()[0]}")
        hdr = (
            f"{'shape':<6} {'spans':>6} {'official µs/span':>17} {'otlp µs/span':>13} "
            f"{'ratio best':>11} {'median':>8}"
        )
        print(hdr)
        print("-" * len(hdr))
        for shape, r in results.items():
            print(
                f"{shape:<6} {r['spans']:>6} {r['official_us_per_span_best']:>17.2f} "
                f"{r['otlp_us_per_span_best']:>13.2f} {r['ratio_best']:>10.1f}{TIMES} "
                f"{r['ratio_median']:>7.1f}{TIMES}"
            )
    return harness.report_problems("ENCODING PROBLEMS:", problems)


if __name__ == "__main__":
    sys.exit(main())
