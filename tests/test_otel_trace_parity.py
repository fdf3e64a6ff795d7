"""``otlp.otel.TracerProvider`` against the official SDK: the same random sequence of
OpenTelemetry API calls runs once through the SDK (``BatchSpanProcessor`` + OTLP/gRPC
exporter) and once through ``otlp``'s provider; both deliver to the reference sink, and
the decoded spans must be equal once ids and timestamps are normalised.

A program is a forest of spans. Each span is started one of the API's ways (as the
current span, with ``use_span``, attached by hand, as a plain context manager, by a
decorator, in another thread with the context handed over, in an asyncio task, or
under a context extracted from injected headers, sampled or not), does a sequence of
span calls (attributes of every type, events, links, status, exceptions, a rename, an
early end followed by calls that must be ignored), runs its children, and ends
normally or with an exception escaping it.
"""

from __future__ import annotations

import asyncio
import contextvars
import difflib
import logging
import pprint
import threading
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry import context as context_api
from opentelemetry import propagate
from opentelemetry import trace as trace_api
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode
from peers import Sink

import otlp
import otlp.otel

# ---------------------------------------------------------------- the programs

EXPLICIT = 10**15


@dataclass
class Node:
    how: str
    name: str
    kind: SpanKind
    attributes: dict[str, Any]
    links: list[tuple[int, dict[str, Any]]]
    actions: list[tuple]
    children: list[Node] = field(default_factory=list)
    raises: bool = False
    record_exception: bool = True
    set_status_on_exception: bool = True
    sampled: bool = True  # for "remote": the flags of the extracted parent


keys = st.sampled_from(["k", "http.method", "a.b", "n", "x" * 20, "ü"])
scalars = st.one_of(
    st.text(max_size=12),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
    st.binary(max_size=8),
    # Cleaned as the SDK cleans them: None kept as an empty value, an object of
    # another type with its own __str__ as that text.
    st.none(),
    st.decimals(allow_nan=False, places=2),
)
values = st.one_of(
    scalars,
    st.lists(st.text(max_size=5), max_size=3),
    st.lists(st.booleans(), max_size=3),
    st.lists(st.integers(-(2**63), 2**63 - 1), max_size=3),
    st.lists(st.floats(allow_nan=False), max_size=3),
    st.tuples(st.integers(0, 9), st.integers(0, 9)),
)
attributes = st.dictionaries(keys, values, max_size=4)
# Explicit times are far in the past, told apart from "now" when comparing.
timestamps = st.one_of(st.none(), st.integers(1, EXPLICIT))
codes = st.sampled_from([StatusCode.UNSET, StatusCode.OK, StatusCode.ERROR])
descriptions = st.one_of(st.none(), st.text(max_size=8))

actions = st.one_of(
    st.tuples(st.just("set_attribute"), keys, values),
    st.tuples(st.just("set_attributes"), attributes),
    st.tuples(st.just("add_event"), st.text(max_size=6), attributes, timestamps),
    st.tuples(st.just("add_link"), st.integers(0, 50), attributes),
    st.tuples(st.just("update_name"), st.text(max_size=6)),
    st.tuples(st.just("set_status"), codes, descriptions, st.booleans()),
    st.tuples(st.just("record_exception"), st.text(max_size=6), attributes, st.booleans(), timestamps),
    st.tuples(st.just("end")),
)

HOWS = ["cm", "use_span", "attach", "span_cm", "decorator", "thread", "task", "remote"]
RAISING = {"cm", "use_span", "span_cm", "decorator", "task"}


@st.composite
def nodes(draw, depth: int = 0) -> Node:
    how = draw(st.sampled_from(HOWS))
    node = Node(
        how=how,
        name=draw(st.text(min_size=1, max_size=6)),
        kind=draw(st.sampled_from(list(SpanKind))),
        attributes=draw(attributes),
        links=draw(st.lists(st.tuples(st.integers(0, 50), attributes), max_size=2)),
        actions=draw(st.lists(actions, max_size=6)),
        raises=how in RAISING and draw(st.booleans()),
        record_exception=draw(st.booleans()),
        set_status_on_exception=draw(st.booleans()),
        sampled=draw(st.booleans()),
    )
    if depth < 3:
        node.children = draw(st.lists(nodes(depth + 1), max_size=3 - depth))
    return node


programs = st.lists(nodes(), min_size=1, max_size=3)


class Boom(Exception):
    pass


class Run:
    """Runs a program on one tracer; remembers each started span's context (for links
    and to name spans by the order they started) and how many spans were sampled."""

    def __init__(self, tracer: trace_api.Tracer) -> None:
        self.tracer = tracer
        self.contexts: list[trace_api.SpanContext] = []
        self.sampled = 0
        self.lock = threading.Lock()

    def started(self, span: trace_api.Span) -> None:
        with self.lock:
            self.contexts.append(span.get_span_context())
            self.sampled += span.is_recording()

    def link_target(self, i: int) -> trace_api.SpanContext:
        with self.lock:
            return self.contexts[i % len(self.contexts)] if self.contexts else trace_api.INVALID_SPAN_CONTEXT

    def links(self, node: Node) -> list[trace_api.Link]:
        return [trace_api.Link(self.link_target(i), attrs) for i, attrs in node.links]

    def body(self, node: Node, span: trace_api.Span) -> None:
        self.started(span)
        for action in node.actions:
            self.act(span, action)
        for child in node.children:
            self.node(child)
        if node.raises:
            raise Boom(f"boom in {node.name}")

    def act(self, span: trace_api.Span, action: tuple) -> None:
        match action:
            case ("set_attribute", key, value):
                span.set_attribute(key, value)
            case ("set_attributes", attrs):
                span.set_attributes(attrs)
            case ("add_event", name, attrs, ts):
                span.add_event(name, attrs, ts)
            case ("add_link", i, attrs):
                span.add_link(self.link_target(i), attrs)
            case ("update_name", name):
                span.update_name(name)
            case ("set_status", code, description, as_object):
                if as_object:
                    span.set_status(Status(code, description))
                else:
                    span.set_status(code, description)
            case ("record_exception", message, attrs, escaped, ts):
                try:
                    raise KeyError(message)
                except KeyError as e:
                    span.record_exception(e, attrs, ts, escaped)
            case ("end",):
                span.end()

    def start_args(self, node: Node) -> dict[str, Any]:
        return {
            "kind": node.kind,
            "attributes": node.attributes,
            "links": self.links(node),
            "record_exception": node.record_exception,
            "set_status_on_exception": node.set_status_on_exception,
        }

    def node(self, node: Node) -> None:
        try:
            self.start(node)
        except Boom:
            pass

    def start(self, node: Node) -> None:
        t = self.tracer
        match node.how:
            case "cm":
                with t.start_as_current_span(node.name, **self.start_args(node)) as span:
                    self.body(node, span)
            case "use_span":
                span = t.start_span(node.name, **self.start_args(node))
                with trace_api.use_span(
                    span,
                    end_on_exit=True,
                    record_exception=node.record_exception,
                    set_status_on_exception=node.set_status_on_exception,
                ):
                    self.body(node, span)
            case "attach":
                span = t.start_span(node.name, **self.start_args(node))
                token = context_api.attach(trace_api.set_span_in_context(span))
                try:
                    self.body(node, span)
                finally:
                    context_api.detach(token)
                    span.end()
            case "span_cm":
                with t.start_span(node.name, **self.start_args(node)) as span:
                    self.body(node, span)
            case "decorator":

                @t.start_as_current_span(node.name, **self.start_args(node))
                def decorated() -> None:
                    self.body(node, trace_api.get_current_span())

                decorated()
            case "thread":
                ctx = context_api.get_current()
                errors = []

                def in_thread() -> None:
                    token = context_api.attach(ctx)
                    try:
                        with t.start_as_current_span(node.name, **self.start_args(node)) as span:
                            self.body(node, span)
                    except BaseException as e:  # noqa: BLE001 - re-raised in the caller
                        errors.append(e)
                    finally:
                        context_api.detach(token)

                thread = threading.Thread(target=in_thread)
                thread.start()
                thread.join(30)
                assert not thread.is_alive()
                if errors:
                    raise errors[0]
            case "task":

                @t.start_as_current_span(node.name, **self.start_args(node))
                async def in_task() -> None:
                    await asyncio.sleep(0)
                    self.body(node, trace_api.get_current_span())

                async def main() -> None:
                    # The task copies the context current when it is created.
                    await asyncio.gather(asyncio.create_task(in_task()))

                # A loop of its own in a thread (this may run inside another task's
                # loop), in a copy of this context.
                errors = []

                def in_loop() -> None:
                    try:
                        asyncio.run(main())
                    except BaseException as e:  # noqa: BLE001 - re-raised in the caller
                        errors.append(e)

                thread = threading.Thread(target=contextvars.copy_context().run, args=(in_loop,))
                thread.start()
                thread.join(30)
                assert not thread.is_alive()
                if errors:
                    raise errors[0]
            case "remote":
                headers: dict[str, str] = {}
                propagate.inject(headers)
                if "traceparent" in headers:
                    flags = "01" if node.sampled else "00"
                    headers["traceparent"] = headers["traceparent"][:-2] + flags
                ctx = propagate.extract(headers)
                with t.start_as_current_span(node.name, context=ctx, **self.start_args(node)) as span:
                    self.body(node, span)


def run_program(tracer: trace_api.Tracer, program: list[Node]) -> Run:
    run = Run(tracer)
    for node in program:
        run.node(node)
    assert trace_api.get_current_span() is trace_api.INVALID_SPAN, "every span stopped being current"
    return run


# ---------------------------------------------------------------- normalising


def stack(trace: str) -> list[str]:
    """A stack trace's frames in this file and its last line: the frames of the API's
    and the SDK's context managers in between are not ours to match."""
    lines = trace.splitlines()
    return [line for line in lines if __file__ in line] + lines[-1:]


def normalise(spans: list[tuple], run: Run) -> list[dict]:
    """Spans as comparable dicts: ids replaced by the index of the span they belong to in
    start order (ids of no span of the run, such as a remote parent's, by the order they
    first appear), trace ids by order of appearance, times left out."""
    order = {ctx.span_id.to_bytes(8, "big"): i for i, ctx in enumerate(run.contexts)}
    traces: dict[bytes, int] = {}
    others: dict[bytes, str] = {}

    def span_ref(span_id: bytes) -> Any:
        if not span_id:
            return None
        if span_id in order:
            return order[span_id]
        return others.setdefault(span_id, f"other{len(others)}")

    def trace_ref(trace_id: bytes) -> int:
        return traces.setdefault(trace_id, len(traces))

    def attrs(kvs) -> list:
        # Attributes are a map: the SDK moves a replaced key to the end, otlp keeps it in
        # place, and neither order means anything.
        return sorted(
            (
                kv.key,
                stack(kv.value.string_value)
                if kv.key == "exception.stacktrace"
                else kv.value.SerializeToString(),
            )
            for kv in kvs
        )

    out = []
    ordered = sorted(spans, key=lambda s: order.get(s[2].span_id, 1 << 30))
    for _resource, scope, sp in ordered:
        out.append(
            {
                "index": span_ref(sp.span_id),
                "scope": (scope.name, scope.version, attrs(scope.attributes)),
                "trace": trace_ref(sp.trace_id),
                "parent": span_ref(sp.parent_span_id),
                "trace_state": sp.trace_state,
                "flags": sp.flags,
                "name": sp.name,
                "kind": sp.kind,
                "attributes": attrs(sp.attributes),
                "dropped_attributes": sp.dropped_attributes_count,
                "events": [
                    (
                        e.name,
                        attrs(e.attributes),
                        e.dropped_attributes_count,
                        min(e.time_unix_nano, EXPLICIT + 1),
                    )
                    for e in sp.events
                ],
                "dropped_events": sp.dropped_events_count,
                "links": [
                    (
                        trace_ref(link.trace_id) if any(link.trace_id) else None,
                        span_ref(link.span_id),
                        link.trace_state,
                        attrs(link.attributes),
                        link.dropped_attributes_count,
                        link.flags,
                    )
                    for link in sp.links
                ],
                "dropped_links": sp.dropped_links_count,
                "status": (sp.status.code, sp.status.message),
                "ordered_times": 0 < sp.start_time_unix_nano <= sp.end_time_unix_nano,
            }
        )
    return out


# ---------------------------------------------------------------- the comparison


@pytest.fixture(scope="module")
def module_sink(tmp_path_factory):
    with Sink(workdir=tmp_path_factory.mktemp("sink")) as s:
        yield s


@pytest.fixture(scope="module")
def exporter(module_sink):
    exp = otlp.Exporter(module_sink.endpoint, protocol="grpc")
    yield exp
    exp.shutdown()


@pytest.fixture(autouse=True)
def _quiet_sdk_logs(caplog):
    # The SDK logs a warning for each call on an ended span, each description given with
    # a non-ERROR status, ...: noise in a failure report.
    for name in ("opentelemetry.sdk.trace", "opentelemetry.trace.status", "opentelemetry.attributes"):
        caplog.set_level(logging.CRITICAL, logger=name)


def deliver(sink: Sink, run_and_flush) -> tuple[list[tuple], Run]:
    before = len(sink.spans())
    run = run_and_flush()
    spans = sink.wait_for_spans(before + run.sampled)
    return spans[before:], run


def compare(sink: Sink, exporter: otlp.Exporter, program: list[Node], sampler: str | None = None) -> None:
    def official() -> Run:
        kwargs: dict[str, Any] = {}
        if sampler is not None:
            from opentelemetry.sdk.trace.sampling import _KNOWN_SAMPLERS

            kwargs["sampler"] = _KNOWN_SAMPLERS[sampler]
        provider = SdkTracerProvider(**kwargs)
        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=sink.endpoint, insecure=True))
        )
        try:
            return run_program(provider.get_tracer("parity", "1.0"), program)
        finally:
            assert provider.force_flush(10_000)
            provider.shutdown()

    def ours() -> Run:
        provider = otlp.otel.TracerProvider(exporter, sampler=sampler)
        run = run_program(provider.get_tracer("parity", "1.0"), program)
        assert provider.force_flush(10_000)
        return run

    sdk_spans, sdk_run = deliver(sink, official)
    our_spans, our_run = deliver(sink, ours)
    assert len(our_run.contexts) == len(sdk_run.contexts)
    assert [c.trace_flags for c in our_run.contexts] == [c.trace_flags for c in sdk_run.contexts]
    assert [c.is_valid for c in our_run.contexts] == [c.is_valid for c in sdk_run.contexts]
    assert len(our_spans) == len(sdk_spans) == sdk_run.sampled
    ours_n, sdk_n = normalise(our_spans, our_run), normalise(sdk_spans, sdk_run)
    if ours_n != sdk_n:
        diff = difflib.unified_diff(
            pprint.pformat(sdk_n, width=120).splitlines(),
            pprint.pformat(ours_n, width=120).splitlines(),
            "official SDK",
            "otlp.otel",
            lineterm="",
        )
        pytest.fail("the spans differ:\n" + "\n".join(diff), pytrace=False)


@given(program=programs)
def test_random_api_call_sequences_reach_the_sink_as_the_sdks_do(module_sink, exporter, program):
    compare(module_sink, exporter, program)


@given(program=programs, sampler=st.sampled_from(["always_off", "parentbased_always_off", "always_on"]))
def test_sampled_out_spans_propagate_and_record_nothing_as_the_sdks(module_sink, exporter, program, sampler):
    compare(module_sink, exporter, program, sampler)


def test_a_worked_example_with_every_kind_of_call(module_sink, exporter):
    """One fixed program touching every construct, so that a regression shows up even
    when hypothesis draws small programs."""
    leaf = Node(
        "remote",
        "leaf",
        SpanKind.CONSUMER,
        {"b": b"\x00\xff"},
        [(0, {"l": 1})],
        [("record_exception", "gone", {"e": [1, 2]}, True, 7)],
        raises=False,
        sampled=False,
    )
    child = Node(
        "thread",
        "child",
        SpanKind.CLIENT,
        {"n": 1.5},
        [],
        [("set_status", StatusCode.ERROR, "bad", True), ("set_status", StatusCode.OK, "x", False)],
        [leaf],
    )
    program = [
        Node(
            "cm",
            "root",
            SpanKind.SERVER,
            {"s": "v", "list": ["a", "b"]},
            [],
            [("add_event", "e", {"k": True}, 5), ("update_name", "root2")],
            [child, Node("task", "t", SpanKind.INTERNAL, {}, [(1, {})], [], raises=True)],
            raises=True,
        )
    ]
    compare(module_sink, exporter, program)
