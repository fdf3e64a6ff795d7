"""Acceptance tests: spans made with otlp's native API arrive, exactly as recorded, at a
real OTLP/gRPC peer (reference grpcio sink in another process, and rotel as a relay)."""

from __future__ import annotations

import asyncio
import contextvars
import math
import threading
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.proto.trace.v1 import trace_pb2
from peers import Sink
from roundtrip_helpers import exporter_factory, kvdict, sid, tid, typed

import otlp
import otlp.errors

pytestmark = pytest.mark.timeout(60)

SERVICE = {"service.name": "roundtrip-svc", "deployment.environment": "test", "svc.int": 7}
SCOPE = ("roundtrip-scope", "1.2.0")
T0 = 1_700_000_000_123_456_789  # an explicit start time, ns

# -------------------------------------------------------------------------
# helpers
# -------------------------------------------------------------------------


def assert_attrs(kvs, expected: dict):
    got = kvdict(kvs)
    assert typed(got) == typed(expected), f"\n got: {got!r}\nwant: {expected!r}"


def by_name(triples) -> dict:
    names = [sp.name for _, _, sp in triples]
    dup = {n for n in names if names.count(n) > 1}
    assert not dup, f"spans arrived more than once: {sorted(dup)}"
    return {sp.name: (res, scope, sp) for res, scope, sp in triples}


def flush_and_wait(exp, sink, n, timeout=15.0) -> dict:
    assert exp.force_flush(timeout=timeout) is True, exp.stats()
    try:
        got = sink.wait_for_spans(n, timeout)
    except TimeoutError as e:
        raise AssertionError(f"{e}; exporter stats: {exp.stats()}") from None
    return by_name(got)


def event_dict(ev):
    return {"name": ev.name, "time": ev.time_unix_nano, "attrs": kvdict(ev.attributes)}


@pytest.fixture
def make_exporter():
    yield from exporter_factory(
        lambda: {"resource": SERVICE, "timeout": 5.0, "batch": otlp.BatchConfig(schedule_delay=0.05)}
    )


@pytest.fixture
def exp(sink, make_exporter):
    return make_exporter(sink.endpoint)


@pytest.fixture
def tracer(exp):
    return exp.tracer(SCOPE[0], version=SCOPE[1])


@pytest.fixture
def strict_exp(sink, make_exporter):
    """An exporter in strict mode: a bad value raises (by default it is dropped and counted)."""
    return make_exporter(sink.endpoint, strict=True)


# Every attribute kind the API accepts, including the edge values that a "skip default
# values" encoder would lose (0, False, 0.0, "", b"", [], {}).
ATTRS = {
    "str": "hello",
    "str.unicode": "héllo wörld ✓ 🚀 中文",
    "str.empty": "",
    "bool.true": True,
    "bool.false": False,
    "int": 42,
    "int.zero": 0,
    "int.neg": -17,
    "int.max": 2**63 - 1,
    "int.min": -(2**63),
    "float": 3.25,
    "float.zero": 0.0,
    "float.neg": -1.5e-300,
    "float.inf": math.inf,
    "float.ninf": -math.inf,
    "bytes": b"\x00\x01\xfe\xff",
    "bytes.empty": b"",
    "list.str": ["a", "", "ü"],
    "list.bool": [True, False],
    "list.int": [1, -2, 2**63 - 1],
    "list.float": [0.5, -0.0, 1e300],
    "list.bytes": [b"x", b""],
    "list.empty": [],
    "list.mixed": [1, "two", 3.0, False, b"\x05", [6], {"seven": 7}],
    "dict": {"a": 1, "b": "two", "c": {"d": [True, {"e": b"f"}]}},
    "dict.empty": {},
    "": "empty key",
    "key with spaces/ünicode": "v",
}


# -------------------------------------------------------------------------
# (a) native API -> sink
# -------------------------------------------------------------------------


def test_span_fields_with_explicit_times(sink, exp, tracer):
    s = tracer.start_span("explicit ✓", kind=otlp.SpanKind.SERVER, attributes={"k": "v"}, start_time=T0)
    ctx = s.context
    s.end(end_time=T0 + 1_234_567)

    res, scope, sp = flush_and_wait(exp, sink, 1)["explicit ✓"]
    assert sp.trace_id == tid(ctx) and len(sp.trace_id) == 16 and sp.trace_id != bytes(16)
    assert sp.span_id == sid(ctx) and len(sp.span_id) == 8 and sp.span_id != bytes(8)
    assert sp.parent_span_id == b""
    assert sp.start_time_unix_nano == T0
    assert sp.end_time_unix_nano == T0 + 1_234_567
    assert sp.kind == trace_pb2.Span.SPAN_KIND_SERVER
    assert sp.flags == ctx.trace_flags | 0x100
    assert ctx.is_remote is False
    assert sp.status.code == trace_pb2.Status.STATUS_CODE_UNSET and sp.status.message == ""
    assert_attrs(sp.attributes, {"k": "v"})
    assert list(sp.events) == [] and list(sp.links) == []
    assert sp.dropped_attributes_count == sp.dropped_events_count == sp.dropped_links_count == 0
    assert (scope.name, scope.version) == SCOPE
    got_res = kvdict(res.attributes)
    for k, v in SERVICE.items():
        assert typed(got_res.get(k)) == typed(v), f"resource attribute {k}: {got_res.get(k)!r} != {v!r}"


def test_span_default_times_are_wall_clock(sink, exp, tracer):
    before = time.time_ns()
    with tracer.span("timed"):
        pass
    after = time.time_ns()
    sp = flush_and_wait(exp, sink, 1)["timed"][2]
    assert before <= sp.start_time_unix_nano <= sp.end_time_unix_nano <= after


@pytest.mark.parametrize("how", ["constructor", "set_attribute", "set_attributes"])
def test_attribute_kinds_roundtrip(sink, exp, tracer, how):
    if how == "constructor":
        s = tracer.start_span("attrs", attributes=ATTRS)
    else:
        s = tracer.start_span("attrs")
        if how == "set_attribute":
            for k, v in ATTRS.items():
                s.set_attribute(k, v)
        else:
            s.set_attributes(ATTRS)
    s.end()
    sp = flush_and_wait(exp, sink, 1)["attrs"][2]
    assert_attrs(sp.attributes, ATTRS)


def test_nan_attribute(sink, exp, tracer):
    with tracer.span("nan", attributes={"nan": math.nan, "list": [math.nan, 1.0]}):
        pass
    got = kvdict(flush_and_wait(exp, sink, 1)["nan"][2].attributes)
    assert math.isnan(got["nan"]) and isinstance(got["nan"], float)
    assert math.isnan(got["list"][0]) and got["list"][1] == 1.0


def test_attribute_overwrite_last_value_wins_once(sink, exp, tracer):
    with tracer.span("dup", attributes={"a": 1, "b": "x"}) as s:
        s.set_attribute("a", "replaced")
        s.set_attributes({"b": 2.5, "c": True})
        s.set_attribute("c", False)
    sp = flush_and_wait(exp, sink, 1)["dup"][2]
    assert_attrs(sp.attributes, {"a": "replaced", "b": 2.5, "c": False})


def test_nested_with_parents_and_current_span(sink, exp, tracer):
    assert otlp.current_span() is None
    with tracer.span("root") as root:
        assert otlp.current_span().context.span_id == root.context.span_id
        with tracer.span("child") as child:
            assert otlp.current_span().context.span_id == child.context.span_id
            with tracer.span("grandchild") as grandchild:
                pass
            assert otlp.current_span().context.span_id == child.context.span_id
        with tracer.span("child2") as child2:
            pass
        # start_span (no explicit parent) inside a with: parent is the current span
        implicit = tracer.start_span("implicit")
        implicit.end()
        assert otlp.current_span().context.span_id == root.context.span_id
    assert otlp.current_span() is None
    with tracer.span("other-root") as other_root:
        pass

    spans = flush_and_wait(exp, sink, 6)
    ids = {n: spans[n][2] for n in spans}
    assert ids["root"].parent_span_id == b""
    assert ids["child"].parent_span_id == sid(root.context)
    assert ids["grandchild"].parent_span_id == sid(child.context)
    assert ids["child2"].parent_span_id == sid(root.context)
    assert ids["implicit"].parent_span_id == sid(root.context)
    assert ids["other-root"].parent_span_id == b""
    for n in ("child", "grandchild", "child2", "implicit"):
        assert ids[n].trace_id == tid(root.context), n
    assert ids["other-root"].trace_id != tid(root.context)
    assert other_root.context.trace_id != root.context.trace_id
    # child spans carry the parent's trace flags, parent is local -> 0x100 only
    assert ids["grandchild"].flags == grandchild.context.trace_flags | 0x100
    assert len({sp.span_id for sp in ids.values()}) == 6
    assert child2.context.trace_id == root.context.trace_id


@pytest.mark.parametrize("parent_kind", ["context", "span"])
def test_start_span_with_explicit_parent(sink, exp, tracer, parent_kind):
    a = tracer.start_span("a", start_time=T0)
    b = tracer.start_span("b", start_time=T0 + 1)
    with tracer.span("current"):
        parent = a.context if parent_kind == "context" else a
        c = tracer.start_span("c", parent=parent, start_time=T0 + 2)
        c.end(end_time=T0 + 3)
    parent_b = b.context if parent_kind == "context" else b
    d = tracer.start_span("d", parent=parent_b, start_time=T0 + 4)
    d.end(end_time=T0 + 5)
    b.end(end_time=T0 + 6)
    a.end(end_time=T0 + 7)

    spans = flush_and_wait(exp, sink, 5)
    assert spans["c"][2].parent_span_id == sid(a.context)
    assert spans["c"][2].trace_id == tid(a.context)
    assert spans["d"][2].parent_span_id == sid(b.context)
    assert spans["d"][2].trace_id == tid(b.context)
    assert spans["a"][2].parent_span_id == b"" and spans["b"][2].parent_span_id == b""
    assert [spans[n][2].start_time_unix_nano - T0 for n in "abcd"] == [0, 1, 2, 4]
    assert [spans[n][2].end_time_unix_nano - T0 for n in "abcd"] == [7, 6, 3, 5]


def test_every_span_kind(sink, exp, tracer):
    kinds = list(otlp.SpanKind)
    assert [int(k) for k in kinds] == [0, 1, 2, 3, 4]
    for k in kinds:
        with tracer.span(f"kind-{k.name}", kind=k):
            pass
        s = tracer.start_span(f"start-kind-{k.name}", kind=k)
        s.end()
    with tracer.span("kind-default"):
        pass
    spans = flush_and_wait(exp, sink, 2 * len(kinds) + 1)
    for k in kinds:
        assert spans[f"kind-{k.name}"][2].kind == int(k) + 1
        assert spans[f"start-kind-{k.name}"][2].kind == int(k) + 1
    assert spans["kind-default"][2].kind == trace_pb2.Span.SPAN_KIND_INTERNAL
    assert trace_pb2.Span.SPAN_KIND_CONSUMER == int(otlp.SpanKind.CONSUMER) + 1


def test_events(sink, exp, tracer):
    s = tracer.start_span("evented", start_time=T0)
    s.add_event("first", {"n": 1, "s": "ü", "l": [1, 2], "d": {"x": b"y"}}, timestamp=T0 + 10)
    s.add_event("second", timestamp=T0 + 20)
    before = time.time_ns()
    s.add_event("third", {"flag": False})
    after = time.time_ns()
    s.add_event("", {}, timestamp=T0 + 5)  # empty name, out of order timestamp: kept as given
    s.end(end_time=after + 1)

    sp = flush_and_wait(exp, sink, 1)["evented"][2]
    evs = [event_dict(e) for e in sp.events]
    assert [e["name"] for e in evs] == ["first", "second", "third", ""]
    assert typed(evs[0]["attrs"]) == typed({"n": 1, "s": "ü", "l": [1, 2], "d": {"x": b"y"}})
    assert evs[0]["time"] == T0 + 10
    assert evs[1] == {"name": "second", "time": T0 + 20, "attrs": {}}
    assert before <= evs[2]["time"] <= after and typed(evs[2]["attrs"]) == typed({"flag": False})
    assert evs[3] == {"name": "", "time": T0 + 5, "attrs": {}}
    assert all(e.dropped_attributes_count == 0 for e in sp.events)


def test_links(sink, exp, tracer):
    with tracer.span("target1") as t1:
        pass
    with tracer.span("target2") as t2:
        pass
    with tracer.span("linking") as s:
        s.add_link(t1.context, {"why": "batch", "n": 3, "l": ["a"]})
        s.add_link(t2.context)
    spans = flush_and_wait(exp, sink, 3)
    links = list(spans["linking"][2].links)
    assert len(links) == 2
    assert links[0].trace_id == tid(t1.context) and links[0].span_id == sid(t1.context)
    assert links[1].trace_id == tid(t2.context) and links[1].span_id == sid(t2.context)
    assert_attrs(links[0].attributes, {"why": "batch", "n": 3, "l": ["a"]})
    assert_attrs(links[1].attributes, {})
    assert links[0].flags & 0xFF == t1.context.trace_flags
    # a link does not make the target a parent
    assert spans["linking"][2].parent_span_id == b""


def test_links_at_start(sink, exp, tracer):
    with tracer.span("lt1") as t1:
        pass
    with tracer.span("lt2") as t2:
        pass
    s = tracer.start_span("linked-at-start", links=[t1.context, (t2.context, {"k": [1, 2]}), t1])
    s.end()
    with tracer.span("linked-with", links=[(t2, {"via": "span"})]):
        pass
    spans = flush_and_wait(exp, sink, 4)
    links = list(spans["linked-at-start"][2].links)
    assert [(lk.trace_id, lk.span_id) for lk in links] == [
        (tid(t1.context), sid(t1.context)),
        (tid(t2.context), sid(t2.context)),
        (tid(t1.context), sid(t1.context)),
    ]
    assert [kvdict(lk.attributes) for lk in links] == [{}, {"k": [1, 2]}, {}]
    (lw,) = spans["linked-with"][2].links
    assert (lw.span_id, kvdict(lw.attributes)) == (sid(t2.context), {"via": "span"})


def test_status_error_with_message(sink, exp, tracer):
    with tracer.span("err") as s:
        s.set_status(otlp.StatusCode.ERROR, "it broke: ü")
    with tracer.span("ok") as s:
        s.set_status(otlp.StatusCode.OK)
    with tracer.span("unset") as s:
        s.set_status(otlp.StatusCode.UNSET)
    with tracer.span("err-then-ok") as s:
        s.set_status(otlp.StatusCode.ERROR, "first")
        s.set_status(otlp.StatusCode.OK)
    spans = flush_and_wait(exp, sink, 4)
    assert (spans["err"][2].status.code, spans["err"][2].status.message) == (
        trace_pb2.Status.STATUS_CODE_ERROR,
        "it broke: ü",
    )
    assert spans["ok"][2].status.code == trace_pb2.Status.STATUS_CODE_OK
    assert spans["unset"][2].status.code == trace_pb2.Status.STATUS_CODE_UNSET
    assert spans["err-then-ok"][2].status.code == trace_pb2.Status.STATUS_CODE_OK
    assert [int(c) for c in otlp.StatusCode] == [0, 1, 2]


def test_status_spec_rules(sink, exp, tracer):
    """OTel spec (trace API, Set Status): the description is only used with ERROR, and
    OK is final (later attempts to change it are ignored)."""
    with tracer.span("ok-with-description") as s:
        s.set_status(otlp.StatusCode.OK, "ignored")
    with tracer.span("ok-is-final") as s:
        s.set_status(otlp.StatusCode.OK)
        s.set_status(otlp.StatusCode.ERROR, "too late")
    spans = flush_and_wait(exp, sink, 2)
    st1 = spans["ok-with-description"][2].status
    assert (st1.code, st1.message) == (trace_pb2.Status.STATUS_CODE_OK, "")
    st2 = spans["ok-is-final"][2].status
    assert (st2.code, st2.message) == (trace_pb2.Status.STATUS_CODE_OK, "")


class RoundtripError(Exception):
    pass


def _raise_roundtrip_error():
    raise RoundtripError("kaboom ü")


def test_exception_escaping_with_block(sink, exp, tracer):
    with pytest.raises(RoundtripError), tracer.span("failing"):
        _raise_roundtrip_error()
    assert otlp.current_span() is None
    sp = flush_and_wait(exp, sink, 1)["failing"][2]
    assert sp.status.code == trace_pb2.Status.STATUS_CODE_ERROR
    exc_events = [e for e in sp.events if e.name == "exception"]
    assert len(exc_events) == 1, [e.name for e in sp.events]
    a = kvdict(exc_events[0].attributes)
    assert a["exception.type"].endswith("RoundtripError"), a["exception.type"]
    assert a["exception.message"] == "kaboom ü"
    st = a["exception.stacktrace"]
    assert isinstance(st, str) and "_raise_roundtrip_error" in st and "RoundtripError" in st
    assert sp.start_time_unix_nano <= exc_events[0].time_unix_nano <= sp.end_time_unix_nano


def test_record_exception(sink, exp, tracer):
    with tracer.span("recorded") as s:
        try:
            raise ValueError("bad value")
        except ValueError as e:
            s.record_exception(e)
    sp = flush_and_wait(exp, sink, 1)["recorded"][2]
    evs = [e for e in sp.events if e.name == "exception"]
    assert len(evs) == 1
    a = kvdict(evs[0].attributes)
    assert a["exception.type"] in ("ValueError", "builtins.ValueError")
    assert a["exception.message"] == "bad value"
    assert "ValueError" in a["exception.stacktrace"]
    # record_exception alone does not change the status (OTel spec)
    assert sp.status.code == trace_pb2.Status.STATUS_CODE_UNSET


def test_threads_each_see_their_own_parent(sink, exp, tracer):
    n = 4
    barrier = threading.Barrier(n, timeout=20)
    seen: dict[int, tuple] = {}
    errors: list[BaseException] = []

    def work(i):
        try:
            with tracer.span(f"thread-root-{i}") as root:
                barrier.wait()  # every thread holds its root span now
                with tracer.span(f"thread-child-{i}") as child:
                    barrier.wait()
                    cur = otlp.current_span()
                    seen[i] = (root.context, child.context, cur.context.span_id)
                assert otlp.current_span().context.span_id == root.context.span_id
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    with tracer.span("main-parent") as main_parent:
        threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
        # one more thread started with a copy of this context: its root's parent is main-parent
        ctx = contextvars.copy_context()
        copied = {}

        def in_copied_context():
            with tracer.span("thread-copied-ctx") as s:
                copied["ctx"] = s.context

        threads.append(threading.Thread(target=ctx.run, args=(in_copied_context,)))
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not any(t.is_alive() for t in threads)
    assert not errors, errors

    spans = flush_and_wait(exp, sink, 2 * n + 2)
    for i in range(n):
        root_ctx, child_ctx, cur_id = seen[i]
        assert cur_id == child_ctx.span_id
        root = spans[f"thread-root-{i}"][2]
        child = spans[f"thread-child-{i}"][2]
        # a new thread starts with an empty context: its spans are roots of their own trace
        assert root.parent_span_id == b""
        assert child.parent_span_id == sid(root_ctx)
        assert child.trace_id == root.trace_id == tid(root_ctx)
    assert len({seen[i][0].trace_id for i in range(n)}) == n
    assert spans["thread-copied-ctx"][2].parent_span_id == sid(main_parent.context)
    assert spans["thread-copied-ctx"][2].trace_id == tid(main_parent.context)


def test_asyncio_tasks_each_see_their_own_parent(sink, exp, tracer):
    n = 5
    contexts: dict[int, tuple] = {}

    async def task(i, entered, go):
        with tracer.span(f"task-{i}") as t:
            entered.append(i)
            if len(entered) == n:
                go.set()
            await asyncio.wait_for(go.wait(), 20)  # all tasks are inside their span now
            assert otlp.current_span().context.span_id == t.context.span_id
            with tracer.span(f"task-child-{i}") as c:
                await asyncio.sleep(0)
                assert otlp.current_span().context.span_id == c.context.span_id
            assert otlp.current_span().context.span_id == t.context.span_id
            contexts[i] = (t.context, c.context)

    async def main():
        go = asyncio.Event()
        entered: list[int] = []
        with tracer.span("async-parent") as p:
            await asyncio.gather(*(task(i, entered, go) for i in range(n)))
            assert otlp.current_span().context.span_id == p.context.span_id
        return p.context

    parent_ctx = asyncio.run(asyncio.wait_for(main(), 30))
    assert otlp.current_span() is None

    spans = flush_and_wait(exp, sink, 2 * n + 1)
    for i in range(n):
        t_ctx, _ = contexts[i]
        t = spans[f"task-{i}"][2]
        c = spans[f"task-child-{i}"][2]
        assert t.parent_span_id == sid(parent_ctx)
        assert c.parent_span_id == sid(t_ctx)
        assert t.trace_id == c.trace_id == tid(parent_ctx)


def test_scopes_group_spans(sink, exp):
    t1 = exp.tracer("scope-a", version="1.0")
    t2 = exp.tracer("scope-b")
    for i in range(3):
        with t1.span(f"a{i}"):
            pass
        with t2.span(f"b{i}"):
            pass
    spans = flush_and_wait(exp, sink, 6)
    for i in range(3):
        assert (spans[f"a{i}"][1].name, spans[f"a{i}"][1].version) == ("scope-a", "1.0")
        assert (spans[f"b{i}"][1].name, spans[f"b{i}"][1].version) == ("scope-b", "")
    # one resource, one scope_spans per scope in each request
    for req in sink.requests():
        assert len(req.resource_spans) == 1
        names = [ss.scope.name for ss in req.resource_spans[0].scope_spans]
        assert len(names) == len(set(names)), names


def test_wire_encoding_is_canonical(sink, exp, tracer):
    """What we send re-serialises byte for byte with the official (upb) encoder: no
    default-valued fields written, fields in order, no duplicates."""
    with tracer.span("canon", attributes=ATTRS) as s:
        s.add_event("e", {"x": 1}, timestamp=T0)
        s.set_status(otlp.StatusCode.ERROR, "m")
    flush_and_wait(exp, sink, 1)
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    for raw in sink.raw_requests():
        assert ExportTraceServiceRequest.FromString(raw).SerializeToString(deterministic=True) == raw


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_headers_and_compression(sink, make_exporter, compression):
    exp = make_exporter(
        sink.endpoint, headers={"x-api-key": "secret", "x-tenant": "t1"}, compression=compression
    )
    tracer = exp.tracer("h")
    with tracer.span("with-headers", attributes={"big": "x" * 5000}):
        pass
    spans = flush_and_wait(exp, sink, 1)
    assert kvdict(spans["with-headers"][2].attributes)["big"] == "x" * 5000
    for md in sink.metadata():
        assert md.get("x-api-key") == "secret" and md.get("x-tenant") == "t1"


def test_stats_count_exported(sink, exp, tracer):
    for i in range(25):
        with tracer.span(f"s{i}"):
            pass
    flush_and_wait(exp, sink, 25)
    st = exp.stats()
    for key in (
        "spans_accepted",
        "spans_exported",
        "spans_dropped",
        "spans_failed",
        "requests_sent",
        "bytes_sent",
    ):
        assert isinstance(st[key], int), key
    assert st["spans_accepted"] == 25
    assert st["spans_exported"] == 25
    assert st["spans_dropped"] == 0 and st["spans_failed"] == 0
    assert st["requests_sent"] == sink.request_count() >= 1
    assert st["bytes_sent"] > 0


def test_schedule_delay_exports_without_flush(sink, make_exporter):
    exp = make_exporter(sink.endpoint, batch=otlp.BatchConfig(schedule_delay=0.1))
    with exp.tracer("bg").span("background"):
        pass
    got = sink.wait_for_spans(1, timeout=10)  # no force_flush: the batch timer sends it
    assert got[0][2].name == "background"


def test_max_export_batch_size(sink, make_exporter):
    exp = make_exporter(sink.endpoint, batch=otlp.BatchConfig(max_export_batch_size=10, schedule_delay=5.0))
    tracer = exp.tracer("b")
    for i in range(35):
        with tracer.span(f"s{i}"):
            pass
    flush_and_wait(exp, sink, 35)
    sizes = [sum(len(ss.spans) for rs in r.resource_spans for ss in rs.scope_spans) for r in sink.requests()]
    assert sum(sizes) == 35 and max(sizes) <= 10, sizes


def test_exporter_context_manager_shuts_down_and_flushes(sink):
    with otlp.Exporter(sink.endpoint, resource=SERVICE, batch=otlp.BatchConfig(schedule_delay=30.0)) as exp:
        with exp.tracer("cm").span("in-cm"):
            pass
    # shutdown on exit exported the pending span, although schedule_delay is long
    assert sink.wait_for_spans(1, timeout=10)[0][2].name == "in-cm"


# -- property: any supported attribute value round-trips -------------------

_keys = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
_scalars = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.binary(max_size=30),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_keys, inner, max_size=4)),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def shared_sink(tmp_path_factory):
    with Sink(workdir=tmp_path_factory.mktemp("shared-sink")) as s:
        yield s


@pytest.fixture(scope="module")
def shared_exporter(shared_sink):
    exp = otlp.Exporter(shared_sink.endpoint, resource=SERVICE, batch=otlp.BatchConfig(schedule_delay=0.05))
    yield exp
    exp.shutdown(timeout=2.0)


@pytest.mark.timeout(300)
@given(attrs=st.dictionaries(_keys, _values, max_size=8))
def test_property_attributes_roundtrip(shared_sink, shared_exporter, attrs):
    tracer = shared_exporter.tracer("prop")
    s = tracer.start_span("prop", attributes=attrs)
    s.end()
    want = sid(s.context)
    assert shared_exporter.force_flush(timeout=10) is True
    found = shared_sink.wait_until(lambda: [sp for _, _, sp in shared_sink.spans() if sp.span_id == want], 10)
    assert len(found) == 1
    assert_attrs(found[0].attributes, attrs)


# -------------------------------------------------------------------------
# (b) through rotel as a relay
# -------------------------------------------------------------------------


def test_rotel_relay_nothing_lost(rotel_relay, make_exporter):
    exp = make_exporter(
        rotel_relay.endpoint, batch=otlp.BatchConfig(max_export_batch_size=100, schedule_delay=0.05)
    )
    tracer = exp.tracer(*SCOPE)
    contexts = []
    for i in range(60):
        with tracer.span(f"r{i}", attributes={"i": i}) as root:
            contexts.append(root.context)
            for j in range(4):
                s = tracer.start_span(f"r{i}.{j}", kind=otlp.SpanKind.CLIENT)
                contexts.append(s.context)
                s.end()
    assert exp.force_flush(timeout=15) is True
    got = rotel_relay.sink.wait_for_spans(300, timeout=30)
    assert len(got) == 300
    assert sorted((sp.trace_id, sp.span_id) for _, _, sp in got) == sorted((tid(c), sid(c)) for c in contexts)
    spans = by_name(got)
    res, scope, r7 = spans["r7"]
    assert_attrs(r7.attributes, {"i": 7})
    assert spans["r7.2"][2].parent_span_id == r7.span_id
    assert spans["r7.2"][2].kind == trace_pb2.Span.SPAN_KIND_CLIENT
    assert (scope.name, scope.version) == SCOPE
    assert kvdict(res.attributes)["service.name"] == SERVICE["service.name"]


def test_rotel_relay_attribute_kinds(rotel_relay, make_exporter):
    exp = make_exporter(rotel_relay.endpoint)
    with exp.tracer("r").span("relayed-attrs", attributes=ATTRS) as s:
        s.add_event("ev", {"d": {"k": [1, "x"]}}, timestamp=T0)
    assert exp.force_flush(timeout=15) is True
    sp = by_name(rotel_relay.sink.wait_for_spans(1, timeout=30))["relayed-attrs"][2]
    assert_attrs(sp.attributes, ATTRS)
    assert event_dict(sp.events[0]) == {"name": "ev", "time": T0, "attrs": {"d": {"k": [1, "x"]}}}


# -------------------------------------------------------------------------
# (c) error behaviour
# -------------------------------------------------------------------------

SLACK = 2.0  # seconds of scheduling slack on top of a documented timeout


def _make_spans(tracer, n, prefix="s"):
    for i in range(n):
        with tracer.span(f"{prefix}{i}", attributes={"i": i}) as s:
            s.add_event("e")


def test_collector_refusing_connections(unused_endpoint, make_exporter):
    exp = make_exporter(unused_endpoint, timeout=1.0)
    _make_spans(exp.tracer("refused"), 20)  # must not raise
    t = time.monotonic()
    ok = exp.force_flush(timeout=2.0)
    assert isinstance(ok, bool)
    assert time.monotonic() - t < 2.0 + SLACK
    t = time.monotonic()
    r = exp.shutdown(timeout=2.0)
    assert isinstance(r, bool)
    assert time.monotonic() - t < 2.0 + SLACK
    assert exp.stats()["spans_exported"] == 0


def test_collector_accepting_tcp_but_never_answering(make_exporter):
    """A black hole: the kernel completes the TCP handshake (listen backlog) but nothing
    ever speaks HTTP/2. Flush and shutdown must still return within their timeouts."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as hole:
        hole.bind(("127.0.0.1", 0))
        hole.listen(64)
        exp = make_exporter(f"http://127.0.0.1:{hole.getsockname()[1]}", timeout=1.0)
        _make_spans(exp.tracer("blackhole"), 5)
        t = time.monotonic()
        exp.force_flush(timeout=2.0)
        assert time.monotonic() - t < 2.0 + SLACK
        t = time.monotonic()
        exp.shutdown(timeout=2.0)
        assert time.monotonic() - t < 2.0 + SLACK
        assert exp.stats()["spans_exported"] == 0


def test_sink_answering_unavailable(sink_factory, make_exporter):
    bad = sink_factory(status="UNAVAILABLE")
    exp = make_exporter(bad.endpoint, timeout=1.0)
    _make_spans(exp.tracer("unavailable"), 20)
    t = time.monotonic()
    exp.force_flush(timeout=2.0)
    assert time.monotonic() - t < 2.0 + SLACK
    bad.wait_for_requests(1, timeout=10)  # it did try
    t = time.monotonic()
    exp.shutdown(timeout=2.0)
    assert time.monotonic() - t < 2.0 + SLACK
    assert exp.stats()["spans_exported"] == 0


def test_transient_unavailable_is_retried(sink_factory, make_exporter):
    flaky = sink_factory(status="UNAVAILABLE", status_count=1)
    exp = make_exporter(flaky.endpoint, timeout=5.0)
    _make_spans(exp.tracer("flaky"), 3)
    exp.force_flush(timeout=15.0)
    # UNAVAILABLE is retryable (OTLP spec): the same spans are sent again and accepted
    flaky.wait_for_requests(2, timeout=15)
    statuses = [h["status"] for _, h, _ in flaky.records()]
    assert statuses[0] == "UNAVAILABLE"
    accepted = [
        sp.name
        for (_, h, _), req in zip(flaky.records(), flaky.requests(), strict=False)
        if h["status"] == "OK"
        for rs in req.resource_spans
        for ss in rs.scope_spans
        for sp in ss.spans
    ]
    assert sorted(accepted) == ["s0", "s1", "s2"]


def test_slow_collector_does_not_block_span_creation(sink_factory, make_exporter):
    slow = sink_factory(delay=3.0)
    exp = make_exporter(
        slow.endpoint,
        timeout=1.0,
        batch=otlp.BatchConfig(max_queue_size=50, max_export_batch_size=10, schedule_delay=0.01),
    )
    t = time.monotonic()
    _make_spans(exp.tracer("slow"), 500)
    created = time.monotonic() - t
    assert created < 2.5, f"creating 500 spans took {created:.2f}s against a slow collector"
    t = time.monotonic()
    exp.shutdown(timeout=2.0)
    assert time.monotonic() - t < 2.0 + SLACK
    st = exp.stats()
    assert st["spans_dropped"] > 0  # queue of 50 overflowed
    assert st["spans_exported"] + st["spans_dropped"] + st["spans_failed"] <= 500


class Weird:
    pass


@pytest.mark.parametrize("bad, type_name", [(object(), "object"), (Weird(), "Weird"), ({1, 2}, "set")])
def test_unsupported_attribute_value_raises_type_error(strict_exp, bad, type_name):
    tracer = strict_exp.tracer("strict")
    with tracer.span("typed") as s:
        for call in (
            lambda: s.set_attribute("badkey", bad),
            lambda: s.set_attributes({"fine": 1, "badkey": bad}),
            lambda: tracer.start_span("x", attributes={"badkey": bad}),
            lambda: s.add_event("e", {"badkey": bad}),
        ):
            with pytest.raises(TypeError) as ei:
                call()
            msg = str(ei.value)
            assert "badkey" in msg and type_name in msg, msg


def test_unsupported_nested_attribute_value_raises_type_error(sink, strict_exp):
    exp, tracer = strict_exp, strict_exp.tracer("strict")
    with tracer.span("typed-nested") as s:
        with pytest.raises(TypeError) as ei:
            s.set_attribute("badkey", [1, object()])
        assert "badkey" in str(ei.value) and "object" in str(ei.value)
        with pytest.raises(TypeError) as ei:
            s.set_attribute("badkey", {"inner": object()})
        assert ("badkey" in str(ei.value) or "inner" in str(ei.value)) and "object" in str(ei.value)
        s.set_attribute("good", 1)
    sp = flush_and_wait(exp, sink, 1)["typed-nested"][2]
    assert "good" in kvdict(sp.attributes)


def _nested_list(depth):
    v = 1
    for _ in range(depth):
        v = [v]
    return v


_DEEP_SCRIPT = """
import sys, otlp
exp = otlp.Exporter(sys.argv[1])
tracer = exp.tracer("deep")
v = 1
for _ in range(int(sys.argv[2])):
    v = [v]
for call in (
    lambda s: s.set_attribute("deep", v),
    lambda s: s.set_attributes({"deep": {"k": v}}),
    lambda s: s.add_event("e", {"deep": v}),
):
    s = tracer.start_span("s")
    try:
        call(s)
    except (TypeError, ValueError, RecursionError) as e:
        print("raised", type(e).__name__, str(e)[:100])
    s.end()
exp.shutdown(timeout=1.0)
print("survived")
"""


@pytest.mark.parametrize("depth", [10_000, 100_000])
def test_absurdly_deep_value_does_not_crash_the_process(unused_endpoint, depth):
    """A user value nested very deep may be rejected (an exception) or dropped, but must
    never take the interpreter down (native recursion without a limit overflows the stack)."""
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "-X", "faulthandler", "-u", "-c", _DEEP_SCRIPT, unused_endpoint, str(depth)],
        capture_output=True,
        text=True,
        timeout=50,
    )
    assert r.returncode == 0 and "survived" in r.stdout, (r.returncode, r.stdout[-500:], r.stderr[-1500:])


def test_too_deep_value_does_not_poison_the_batch(sink, exp, tracer):
    """An attribute nested deeper than a collector's protobuf parser accepts (upb/Go/Java
    stop at 100 message levels; each list level is 2) must not make the whole request
    undecodable: the other spans of the batch must still arrive (the official encoder
    drops such an attribute key). Raising at set_attribute time is fine too."""
    with tracer.span("deep-neighbour-1"):
        pass
    with tracer.span("deep-carrier") as s:
        try:
            s.set_attribute("deep", _nested_list(60))
        except (TypeError, ValueError):
            pass
        s.set_attribute("shallow", 1)
    with tracer.span("deep-neighbour-2"):
        pass
    spans = flush_and_wait(exp, sink, 3)
    assert kvdict(spans["deep-carrier"][2].attributes)["shallow"] == 1
    assert exp.stats()["spans_exported"] == 3


def _nested_dict(depth):
    v = 1
    for _ in range(depth):
        v = {"k": v}
    return v


@pytest.mark.parametrize("where", ["span", "event", "link", "resource"])
@pytest.mark.parametrize("kind", ["list", "dict"])
def test_every_accepted_nesting_depth_is_decodable(sink, kind, where):
    """Around the nesting limit: a value is either refused when it is recorded
    (TypeError/ValueError) or it arrives at the reference collector. Nothing in between
    (accepted, then the whole request is rejected by the collector's parser)."""
    make = _nested_list if kind == "list" else _nested_dict
    depths = range(40, 56) if kind == "list" else range(26, 40)
    bad = []
    for d in depths:
        name = f"{kind}-{where}-{d}"
        try:
            exp = otlp.Exporter(
                sink.endpoint,
                resource={"r": make(d)} if where == "resource" else SERVICE,
                batch=otlp.BatchConfig(schedule_delay=0.05),
            )
        except (TypeError, ValueError):
            continue  # refused up front: fine
        try:
            tracer = exp.tracer("depth")
            other = tracer.start_span("link-target")
            other.end()
            with tracer.span(name) as s:
                try:
                    if where == "span":
                        s.set_attribute("k", make(d))
                    elif where == "event":
                        s.add_event("e", {"k": make(d)})
                    elif where == "link":
                        s.add_link(other.context, {"k": make(d)})
                except (TypeError, ValueError):
                    continue  # refused when recorded: fine
            exp.force_flush(timeout=5.0)
            if not any(sp.name == name for _, _, sp in sink.spans()):
                bad.append((d, exp.stats()["last_error"]))
        finally:
            exp.shutdown(timeout=2.0)
    assert not bad, f"accepted but not decodable by the collector (depth, last_error): {bad}"


@pytest.mark.parametrize("endpoint", ["not a url", "ftp://x", "http://", "", "http://127.0.0.1:99999"])
def test_malformed_endpoint_raises_config_error(endpoint):
    assert issubclass(otlp.errors.ConfigError, ValueError)
    assert issubclass(otlp.errors.ConfigError, otlp.errors.OtlpError)
    with pytest.raises(otlp.errors.ConfigError) as ei:
        otlp.Exporter(endpoint)
    assert isinstance(ei.value, ValueError)


@pytest.mark.parametrize("kw", [{"compression": "brotli-please"}, {"protocol": "carrier-pigeon"}])
def test_invalid_options_raise_config_error(unused_endpoint, kw):
    with pytest.raises(otlp.errors.ConfigError):
        otlp.Exporter(unused_endpoint, **kw)


def test_shutdown_twice_is_harmless(sink, make_exporter):
    exp = make_exporter(sink.endpoint)
    with exp.tracer("twice").span("before-shutdown"):
        pass
    exp.shutdown(timeout=5.0)
    t = time.monotonic()
    exp.shutdown(timeout=5.0)
    assert time.monotonic() - t < 5.0 + SLACK
    assert [sp.name for _, _, sp in sink.spans()] == ["before-shutdown"]


def test_spans_after_shutdown_do_not_raise(sink, make_exporter):
    exp = make_exporter(sink.endpoint)
    tracer = exp.tracer("late")
    exp.shutdown(timeout=5.0)
    with tracer.span("after-shutdown") as s:
        s.set_attribute("k", 1)
    exp.force_flush(timeout=1.0)


def test_span_used_after_end_changes_nothing(sink, exp, tracer):
    other = tracer.start_span("other", start_time=T0)
    other.end(end_time=T0 + 1)
    s = tracer.start_span("ended", start_time=T0, attributes={"a": 1})
    s.end(end_time=T0 + 100)
    # nothing below may raise or change what is exported
    s.set_attribute("a", 2)
    s.set_attribute("b", 3)
    s.set_attributes({"c": 4})
    s.add_event("late", {"x": 1})
    s.add_link(other.context)
    s.set_status(otlp.StatusCode.ERROR, "late")
    s.record_exception(ValueError("late"))
    s.end(end_time=T0 + 999)
    s.end()
    with tracer.span("reentered-ended") as w:
        pass
    w.end(end_time=T0 + 5)

    exp.shutdown(timeout=5.0)
    got = sink.spans()
    spans = by_name(got)  # asserts each span arrived once
    assert sorted(spans) == ["ended", "other", "reentered-ended"]
    sp = spans["ended"][2]
    assert_attrs(sp.attributes, {"a": 1})
    assert list(sp.events) == [] and list(sp.links) == []
    assert sp.status.code == trace_pb2.Status.STATUS_CODE_UNSET
    assert (sp.start_time_unix_nano, sp.end_time_unix_nano) == (T0, T0 + 100)
    assert spans["reentered-ended"][2].end_time_unix_nano != T0 + 5
