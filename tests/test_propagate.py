"""W3C Trace Context propagation (``otlp.propagate``), checked against OpenTelemetry's own
``TraceContextTextMapPropagator`` and end to end through the reference sink."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry import trace as otel_trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.trace.span import NonRecordingSpan, TraceState
from opentelemetry.trace.span import SpanContext as OtelSpanContext

import otlp

OFFICIAL = TraceContextTextMapPropagator()
TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

# tracestate members the W3C grammar allows (simple and multi-tenant keys).
_key = st.from_regex(r"\A[a-z][a-z0-9_\-*/]{0,15}(@[a-z][a-z0-9_\-*/]{0,8})?\Z")
_value = st.from_regex(r"\A[!-+\--<>-~]([ -+\--<>-~]{0,14}[!-+\--<>-~])?\Z")
tracestates = st.dictionaries(_key, _value, max_size=5).map(
    lambda d: ",".join(f"{k}={v}" for k, v in d.items())
)
contexts = st.builds(
    lambda t, s, f, ts: otlp.SpanContext(t, s, trace_flags=f, trace_state=ts),
    st.integers(1, 2**128 - 1),
    st.integers(1, 2**64 - 1),
    st.sampled_from([0, 1]),
    tracestates,
)


def official_inject(ctx: otlp.SpanContext) -> dict[str, str]:
    span_context = OtelSpanContext(
        ctx.trace_id,
        ctx.span_id,
        is_remote=False,
        trace_flags=otel_trace.TraceFlags(ctx.trace_flags),
        trace_state=TraceState.from_header([ctx.trace_state]) if ctx.trace_state else None,
    )
    carrier: dict[str, str] = {}
    OFFICIAL.inject(carrier, otel_trace.set_span_in_context(NonRecordingSpan(span_context)))
    return carrier


def official_extract(carrier: dict[str, str]) -> tuple[int, int, int, str] | None:
    span_context = otel_trace.get_current_span(OFFICIAL.extract(carrier)).get_span_context()
    if not span_context.is_valid:
        return None
    return (
        span_context.trace_id,
        span_context.span_id,
        int(span_context.trace_flags),
        span_context.trace_state.to_header(),
    )


def ours(carrier: dict[str, str]) -> tuple[int, int, int, str] | None:
    ctx = otlp.propagate.extract(carrier)
    if ctx is None:
        return None
    assert ctx.is_remote
    return ctx.trace_id, ctx.span_id, ctx.trace_flags, ctx.trace_state


@given(contexts)
def test_inject_writes_what_opentelemetry_writes_and_extract_reads_it_back(ctx: otlp.SpanContext) -> None:
    carrier: dict[str, str] = {}
    otlp.propagate.inject(carrier, ctx)
    assert carrier == official_inject(ctx)
    assert ours(carrier) == (ctx.trace_id, ctx.span_id, ctx.trace_flags, ctx.trace_state)
    assert official_extract(carrier) == ours(carrier)


@pytest.mark.parametrize(
    "traceparent",
    [
        TP,
        TP.replace("-01", "-00"),
        TP.replace("-01", "-09"),  # unknown flags are kept
        "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds",
        " " + TP + "\t",
        # invalid: each must be ignored
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",
        TP + "-extra",  # version 00 has exactly four parts
        TP[:-1],
        TP.replace("-", "_"),
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
        "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
        "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01.future",
        "",
        "garbage",
    ],
)
def test_traceparent_is_read_as_opentelemetry_reads_it(traceparent: str) -> None:
    carrier = {"traceparent": traceparent}
    assert ours(carrier) == official_extract(carrier)


def test_extract_accepts_any_header_case_and_single_entry_lists() -> None:
    assert otlp.propagate.extract({"TraceParent": TP}) is not None
    assert otlp.propagate.extract({"traceparent": [TP]}) is not None
    assert otlp.propagate.extract({"traceparent": [TP, TP]}) is None  # ambiguous
    ctx = otlp.propagate.extract({"traceparent": TP, "Tracestate": ["a=1", "b=2"]})
    assert ctx is not None and ctx.trace_state == "a=1,b=2"
    assert otlp.propagate.extract({}) is None


@pytest.mark.parametrize(
    ("tracestate", "kept"),
    [
        ("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7", "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"),
        ("  a=1 , ,b=2  ", "a=1,b=2"),
        ("tenant@vendor=x", "tenant@vendor=x"),
        ("Upper=1", ""),  # keys are lower case
        ("a=1,a=2", ""),  # a repeated key
        ("a=1,noequals", ""),
        ("a=has,comma", ""),
        (",".join(f"k{i}=v" for i in range(33)), ""),  # more than 32 members
    ],
)
def test_an_invalid_tracestate_is_dropped_but_the_parent_kept(tracestate: str, kept: str) -> None:
    ctx = otlp.propagate.extract({"traceparent": TP, "tracestate": tracestate})
    assert ctx is not None and ctx.trace_id == 0x4BF92F3577B34DA6A3CE929D0E0E4736
    assert ctx.trace_state == kept


def test_inject_defaults_to_the_current_span_and_writes_nothing_without_one() -> None:
    with otlp.Exporter("http://127.0.0.1:9", protocol="http/protobuf") as exp:
        tracer = exp.tracer("propagate")
        carrier: dict[str, str] = {}
        otlp.propagate.inject(carrier)
        assert carrier == {}
        with tracer.span("outgoing") as span:
            otlp.propagate.inject(carrier)
        # Sampled, with a random trace id (W3C Trace Context Level 2), as the SDK writes.
        assert carrier == {"traceparent": f"00-{span.context.trace_id_hex}-{span.context.span_id_hex}-03"}
        exp.shutdown(timeout=0.1)
    invalid = otlp.SpanContext(0, 0)
    otlp.propagate.inject(carrier := {}, invalid)
    assert carrier == {}
    with pytest.raises(TypeError, match="`context` must be a Span or SpanContext"):
        otlp.propagate.inject({}, "00-abc")  # type: ignore[arg-type]


@pytest.mark.timeout(60)
def test_a_span_continuing_a_remote_trace_is_exported_under_it(sink: Any) -> None:
    """What a server does with an incoming request: the exported span carries the
    caller's trace id, its parent span id and tracestate, and is marked as having a
    remote parent."""
    incoming = {"traceparent": TP, "tracestate": "congo=t61rcWkgMzE"}
    exp = otlp.Exporter(sink.endpoint, batch=otlp.BatchConfig(schedule_delay=0.05))
    try:
        tracer = exp.tracer("propagate")
        with tracer.span("handle", kind=otlp.SpanKind.SERVER, parent=otlp.propagate.extract(incoming)):
            outgoing: dict[str, str] = {}
            otlp.propagate.inject(outgoing)
        assert exp.force_flush(timeout=10.0)
    finally:
        exp.shutdown(timeout=5.0)
    sink.wait_for_spans(1, timeout=10.0)
    [(_, _, span)] = sink.spans()
    assert span.trace_id.hex() == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert span.parent_span_id.hex() == "00f067aa0ba902b7"
    assert span.trace_state == "congo=t61rcWkgMzE"
    assert span.flags & 0x300 == 0x300  # the parent is known, and remote
    # The next hop continues the same trace, with this span as its parent.
    assert outgoing == {
        "traceparent": f"00-4bf92f3577b34da6a3ce929d0e0e4736-{span.span_id.hex()}-01",
        "tracestate": "congo=t61rcWkgMzE",
    }
