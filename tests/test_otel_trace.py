"""``otlp.otel.TracerProvider``: the OpenTelemetry API's tracing on otlp's core.

What instrumentation relies on: the tracers and spans are the API's types; the current
span lives in ``opentelemetry.context`` (so ``get_current_span``, ``use_span``,
``attach``/``detach`` and the API's propagators work, and ``otlp.current_span()`` and
``otlp.propagate`` agree with them); it follows threads given a context and asyncio
tasks; span limits come from the environment; ``OTEL_SDK_DISABLED`` turns it off.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import threading

import pytest
from opentelemetry import baggage, propagate
from opentelemetry import context as context_api
from opentelemetry import trace as trace_api
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind

import otlp
import otlp.otel
from otlp.errors import ConfigError


@pytest.fixture
def exporter(sink):
    exp = otlp.Exporter(sink.endpoint, protocol="grpc")
    yield exp
    exp.shutdown()


@pytest.fixture
def tracer(exporter):
    return otlp.otel.TracerProvider(exporter).get_tracer("app", "2.0")


def by_name(sink, n: int) -> dict[str, object]:
    return {sp.name: sp for _, _, sp in sink.wait_for_spans(n)}


def test_tracers_and_spans_are_the_apis_types(tracer):
    assert isinstance(otlp.otel.TracerProvider(otlp.Exporter("http://127.0.0.1:9")), trace_api.TracerProvider)
    assert isinstance(tracer, trace_api.Tracer)
    span = tracer.start_span("s")
    assert isinstance(span, trace_api.Span)
    assert isinstance(span.get_span_context(), trace_api.SpanContext)
    span.end()


@pytest.mark.parametrize("kind", list(SpanKind))
def test_a_spans_kind_is_readable_before_and_after_it_ends(tracer, kind):
    # The WSGI/ASGI instrumentations read span.kind, as the SDK's span has it.
    span = tracer.start_span("s", kind=kind)
    assert span.kind is kind
    span.end()
    assert span.kind is kind
    assert tracer.start_span("default").kind is SpanKind.INTERNAL


def test_the_current_span_lives_in_the_opentelemetry_context(tracer, exporter, sink):
    assert trace_api.get_current_span() is trace_api.INVALID_SPAN
    assert otlp.current_span() is None
    with tracer.start_as_current_span("outer", kind=SpanKind.SERVER) as outer:
        assert trace_api.get_current_span() is outer
        # otlp.current_span() is the same span, seen through the native API.
        native = otlp.current_span()
        assert native is not None
        assert native.context.span_id == outer.get_span_context().span_id
        # A native span started now is a child, and is current for the API in turn.
        with exporter.tracer("native").span("native") as inner:
            assert trace_api.get_current_span().get_span_context().span_id == inner.context.span_id
            with tracer.start_as_current_span("innermost"):
                pass
        assert trace_api.get_current_span() is outer
        # use_span and attach/detach, as instrumentations use them.
        other = tracer.start_span("other")
        with trace_api.use_span(other, end_on_exit=True):
            assert trace_api.get_current_span() is other
        token = context_api.attach(trace_api.set_span_in_context(other))
        assert otlp.current_span().context.span_id == other.get_span_context().span_id
        context_api.detach(token)
        assert trace_api.get_current_span() is outer
    assert trace_api.get_current_span() is trace_api.INVALID_SPAN
    spans = by_name(sink, 4)
    assert spans["native"].parent_span_id == spans["outer"].span_id
    assert spans["innermost"].parent_span_id == spans["native"].span_id
    assert spans["other"].parent_span_id == spans["outer"].span_id


def test_an_explicit_context_is_the_only_parent(tracer, sink):
    with tracer.start_as_current_span("current"):
        root = tracer.start_span("root", context=context_api.Context())
        child = tracer.start_span("child", context=trace_api.set_span_in_context(root))
        child.end()
        root.end()
    spans = by_name(sink, 3)
    assert spans["root"].parent_span_id == b""
    assert spans["root"].trace_id != spans["current"].trace_id
    assert spans["child"].parent_span_id == spans["root"].span_id


def test_the_apis_propagators_and_otlp_propagate_agree(tracer, sink):
    with tracer.start_as_current_span("client", kind=SpanKind.CLIENT):
        ctx = baggage.set_baggage("user", "42")
        api_headers: dict[str, str] = {}
        propagate.inject(api_headers, context=ctx)
        ours: dict[str, str] = {}
        otlp.propagate.inject(ours)
    assert api_headers["traceparent"] == ours["traceparent"]
    assert api_headers["baggage"] == "user=42"
    # The receiving side: the API's extract gives the parent of the server span; the
    # baggage comes along in the same context.
    remote = propagate.extract(api_headers)
    assert (
        otlp.propagate.extract(api_headers).span_id
        == trace_api.get_current_span(remote).get_span_context().span_id
    )
    with tracer.start_as_current_span("server", context=remote, kind=SpanKind.SERVER):
        assert baggage.get_baggage("user") is None  # not attached: only the span's context
    token = context_api.attach(remote)
    try:
        with tracer.start_as_current_span("server2", kind=SpanKind.SERVER):
            assert baggage.get_baggage("user") == "42"
    finally:
        context_api.detach(token)
    spans = by_name(sink, 3)
    for name in ("server", "server2"):
        assert spans[name].parent_span_id == spans["client"].span_id
        assert spans[name].trace_id == spans["client"].trace_id
        assert spans[name].flags == 0x300, "the parent is remote"


def test_otlp_propagate_injects_the_context_of_another_sdks_current_span():
    sdk = SdkTracerProvider().get_tracer("sdk")
    with sdk.start_as_current_span("sdk-span"):
        api_headers: dict[str, str] = {}
        propagate.inject(api_headers)
        ours: dict[str, str] = {}
        otlp.propagate.inject(ours)
    assert ours == api_headers


def test_a_thread_sees_the_span_only_when_given_the_context(tracer, sink):
    seen: dict[str, object] = {}
    with tracer.start_as_current_span("main") as main:
        ctx = context_api.get_current()

        def without() -> None:
            seen["without"] = trace_api.get_current_span()

        def given() -> None:
            token = context_api.attach(ctx)
            try:
                seen["given"] = trace_api.get_current_span()
                with tracer.start_as_current_span("in-thread"):
                    pass
            finally:
                context_api.detach(token)

        for target in (without, given):
            t = threading.Thread(target=target)
            t.start()
            t.join(10)
            assert not t.is_alive()
    assert seen == {"without": trace_api.INVALID_SPAN, "given": main}
    spans = by_name(sink, 2)
    assert spans["in-thread"].parent_span_id == spans["main"].span_id


def test_asyncio_tasks_each_have_their_own_current_span(tracer, sink):
    async def handler(i: int) -> int:
        with tracer.start_as_current_span(f"request-{i}") as span:
            await asyncio.sleep(0)
            with tracer.start_as_current_span(f"db-{i}"):
                await asyncio.sleep(0)
                # Other tasks ran meanwhile: the current span is still this task's.
                assert (
                    trace_api.get_current_span().get_span_context().trace_id
                    == span.get_span_context().trace_id
                )
            return span.get_span_context().span_id

    @tracer.start_as_current_span("batch")
    async def main() -> list[int]:
        return await asyncio.gather(*(handler(i) for i in range(5)))

    asyncio.run(main())
    spans = by_name(sink, 11)
    for i in range(5):
        assert spans[f"db-{i}"].parent_span_id == spans[f"request-{i}"].span_id
        assert spans[f"request-{i}"].parent_span_id == spans["batch"].span_id
    # The decorated coroutine's span covers the whole coroutine, not its creation.
    assert spans["batch"].end_time_unix_nano >= max(
        spans[f"request-{i}"].end_time_unix_nano for i in range(5)
    )


def test_start_as_current_span_options(tracer, sink):
    with pytest.raises(ValueError, match="kept"):
        with tracer.start_as_current_span("kept-open", end_on_exit=False) as kept:
            raise ValueError("kept")
    assert kept.is_recording(), "end_on_exit=False leaves the span open"
    kept.end()
    with pytest.raises(KeyboardInterrupt):
        with tracer.start_as_current_span("interrupted"):
            raise KeyboardInterrupt
    with pytest.raises(ValueError):
        with tracer.start_as_current_span("quiet", record_exception=False, set_status_on_exception=False):
            raise ValueError("not recorded")
    spans = by_name(sink, 3)
    assert spans["kept-open"].status.code == trace_api.StatusCode.ERROR.value
    assert spans["kept-open"].status.message == "ValueError: kept"
    assert [e.name for e in spans["kept-open"].events] == ["exception"]
    # use_span records Exceptions only, not other BaseExceptions.
    assert spans["interrupted"].status.code == 0 and not spans["interrupted"].events
    assert spans["quiet"].status.code == 0 and not spans["quiet"].events


def test_span_limits_come_from_the_environment_as_the_sdk_reads_them(sink, monkeypatch):
    for name, value in {
        "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT": "2",
        "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "3",
        "OTEL_SPAN_EVENT_COUNT_LIMIT": "1",
        "OTEL_SPAN_LINK_COUNT_LIMIT": "1",
        "OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT": "1",
        "OTEL_LINK_ATTRIBUTE_COUNT_LIMIT": "1",
    }.items():
        monkeypatch.setenv(name, value)

    def program(tracer: trace_api.Tracer) -> trace_api.SpanContext:
        target = trace_api.SpanContext(1, 2, is_remote=True)
        link = trace_api.Link(target, {"a": 1, "b": 2})
        with tracer.start_as_current_span("limited", attributes={"s": "abcdef"}, links=[link]) as span:
            span.set_attribute("list", ["long", "x"])
            span.set_attribute("n", 123456)
            span.add_event("e1", {"a": "xyzw", "b": 2})
            span.add_event("e2")
            span.add_link(target)
            return span.get_span_context()

    sdk = SdkTracerProvider()
    sdk.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=sink.endpoint, insecure=True)))
    program(sdk.get_tracer("sdk"))
    sdk.shutdown()
    exporter = otlp.Exporter(sink.endpoint, protocol="grpc")
    try:
        program(otlp.otel.TracerProvider(exporter).get_tracer("ours"))
        exporter.force_flush()
    finally:
        exporter.shutdown()
    spans = {scope.name: sp for _, scope, sp in sink.wait_for_spans(2)}
    expected, got = spans["sdk"], spans["ours"]
    for field in ("dropped_attributes_count", "dropped_events_count", "dropped_links_count"):
        assert getattr(got, field) == getattr(expected, field) == 1, field
    assert len(got.attributes) == len(expected.attributes) == 2
    # Beyond a count limit the specification keeps the items already there (the SDK
    # keeps the newest instead); the dropped counts are the same.
    assert [(e.name, e.dropped_attributes_count) for e in got.events] == [("e1", 1)]
    assert [(e.name, e.dropped_attributes_count) for e in expected.events] == [("e2", 0)]
    assert [link.dropped_attributes_count for link in got.links] == [1]
    # Strings are cut to the value length limit, in lists too.
    assert got.events[0].attributes[0].value.string_value == "xyz"
    assert {kv.key: kv.value for kv in got.attributes}["s"].string_value == "abc"
    assert [kv.key for kv in got.attributes] == ["s", "list"]
    assert [v.string_value for v in got.attributes[1].value.array_value.values] == ["lon", "x"]


def test_a_bad_limit_variable_fails_at_construction(monkeypatch):
    monkeypatch.setenv("OTEL_SPAN_EVENT_COUNT_LIMIT", "many")
    with pytest.raises(ConfigError, match="OTEL_SPAN_EVENT_COUNT_LIMIT must be a non-negative integer"):
        otlp.otel.TracerProvider(otlp.Exporter("http://127.0.0.1:9"))


def test_otel_sdk_disabled_makes_every_tracer_a_no_op(sink, monkeypatch):
    monkeypatch.setenv("OTEL_SDK_DISABLED", "TRUE")
    provider = otlp.otel.TracerProvider(otlp.Exporter(sink.endpoint, protocol="grpc"))
    tracer = provider.get_tracer("t")
    assert isinstance(tracer, trace_api.NoOpTracer)
    with tracer.start_as_current_span("nothing") as span:
        assert not span.is_recording()
    assert provider.exporter is None
    assert provider.force_flush()


def test_a_provider_shut_down_hands_out_no_op_tracers_and_leaves_its_exporter_running(sink):
    exporter = otlp.Exporter(sink.endpoint, protocol="grpc")
    provider = otlp.otel.TracerProvider(exporter)
    with provider.get_tracer("t").start_as_current_span("last"):
        pass
    provider.shutdown()
    assert sink.wait_for_spans(1)[0][2].name == "last"
    assert isinstance(provider.get_tracer("t"), trace_api.NoOpTracer)
    assert exporter.stats()["spans_exported"] == 1
    # The exporter is the caller's (configure() shares one with the other providers).
    exporter.tracer("native").start_span("after").end()
    assert exporter.force_flush(timeout=10.0)
    assert exporter.stats()["dropped_after_shutdown"] == 0
    exporter.shutdown(timeout=5.0)


def test_the_global_provider_set_in_one_line_delivers_instrumentation_spans(sink):
    """``trace.set_tracer_provider(otlp.otel.TracerProvider())``, the exporter from the
    environment: what a user writes, in a process of its own (the global provider can
    be set only once)."""
    code = textwrap.dedent(
        """
        from opentelemetry import trace
        import otlp.otel

        trace.set_tracer_provider(otlp.otel.TracerProvider())
        tracer = trace.get_tracer("instrumentation.lib", "0.1")
        with tracer.start_as_current_span("GET /", kind=trace.SpanKind.SERVER) as span:
            span.set_attribute("http.route", "/")
        """
    )
    env = {
        **os.environ,
        "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_SERVICE_NAME": "one-line",
    }
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)
    [(resource, scope, span)] = sink.wait_for_spans(1)
    assert (scope.name, scope.version, span.name, span.kind) == ("instrumentation.lib", "0.1", "GET /", 2)
    assert {kv.key: kv.value.string_value for kv in resource.attributes}["service.name"] == "one-line"


def test_the_native_tracer_reads_the_same_limits(sink, monkeypatch):
    monkeypatch.setenv("OTEL_ATTRIBUTE_COUNT_LIMIT", "1")
    monkeypatch.setenv("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "2")
    exporter = otlp.Exporter(sink.endpoint, protocol="grpc")
    try:
        with exporter.tracer("native").span("s", attributes={"a": "long", "b": 1}) as span:
            span.add_event("e", {"x": "yyy", "z": 2})
    finally:
        exporter.shutdown()
    [(_, _, got)] = sink.wait_for_spans(1)
    assert [(kv.key, kv.value.string_value) for kv in got.attributes] == [("a", "lo")]
    assert got.dropped_attributes_count == 1
    assert [(kv.key, kv.value.string_value) for kv in got.events[0].attributes] == [("x", "yy")]
    assert got.events[0].dropped_attributes_count == 1


def test_the_api_imported_after_native_spans_is_found_at_the_next_span():
    """Native spans look for the OpenTelemetry API only while `sys.modules` changes;
    the API imported after some native spans must still be found at the next span."""
    code = textwrap.dedent(
        """
        import sys
        import otlp

        exp = otlp.Exporter("http://127.0.0.1:9", timeout=0.5)
        tracer = exp.tracer("late")
        for _ in range(3):
            with tracer.span("before"):
                pass
        assert "opentelemetry.trace" not in sys.modules

        from opentelemetry import trace
        from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

        parent = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(1))
        with trace.use_span(NonRecordingSpan(parent)):
            with tracer.span("after") as span:
                assert span.context.trace_id == 0xABC, hex(span.context.trace_id)
                current = trace.get_current_span().get_span_context()
                assert current.span_id == span.context.span_id
        exp.shutdown(timeout=0.5)
        print("found")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "found"
