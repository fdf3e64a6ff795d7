"""The request decoder (``otlp::decode::request``) against the official protobuf classes.

Requests of all three signals are generated as ``opentelemetry-proto`` messages,
serialised by protobuf itself, decoded by otlp and encoded again by otlp's encoder:
the bytes must be exactly ``SerializeToString()``'s. The same requests as OTLP/JSON
(protobuf's own JSON printer, and otlp's JSON encoder) must decode to the same.
The requests come from ``strategies_requests`` (what they vary and what they leave out
is written there).
"""

from __future__ import annotations

import math
import random
from typing import Any, Literal

import pytest
from google.protobuf import json_format
from google.protobuf.message import Message
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    InstrumentationScope,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from otlp import _native
from otlp.sdk import encode_logs, encode_metrics, encode_spans

try:
    import strategies as S
    import strategies_logs as SL
    import strategies_metrics as SM
except ImportError:  # tests/ is a package
    from tests import strategies as S
    from tests import strategies_logs as SL
    from tests import strategies_metrics as SM

try:
    from strategies_requests import MESSAGES, REQUESTS, SIGNALS, Signal
except ImportError:  # tests/ is a package
    from tests.strategies_requests import MESSAGES, REQUESTS, SIGNALS, Signal


def canonical_nans(message: Message) -> Message:
    """`message` with every NaN the one NaN JSON can carry (its payload and sign are lost)."""
    for field, value in message.ListFields():
        if field.message_type is not None:
            for m in value if field.is_repeated else [value]:
                canonical_nans(m)
        elif field.type in (field.TYPE_DOUBLE, field.TYPE_FLOAT):
            if field.is_repeated:
                value[:] = [math.nan if math.isnan(v) else v for v in value]
            elif math.isnan(value):
                setattr(message, field.name, math.nan)
    return message


def check_same(signal: Signal, got: bytes, want: bytes) -> None:
    """Equal bytes; on failure, show the parsed messages (a readable difference)."""
    if got != want:
        message = MESSAGES[signal]
        assert message.FromString(got) == message.FromString(want)  # shows the difference
        assert got == want  # same messages, different bytes: order or encoding


@pytest.mark.parametrize("signal", SIGNALS)
def test_protobuf_decodes_and_reencodes_to_the_same_bytes(signal: Signal) -> None:
    @settings(max_examples=150)
    @given(REQUESTS[signal])
    def run(request: Message) -> None:
        wire = request.SerializeToString()
        check_same(signal, _native._decode(signal, wire), wire)

    run()


@pytest.mark.parametrize("signal", SIGNALS)
def test_otlp_json_decodes_to_the_same_request(signal: Signal) -> None:
    @settings(max_examples=100)
    @given(REQUESTS[signal], st.booleans(), st.booleans())
    def run(request: Message, int_enums: bool, proto_names: bool) -> None:
        wire = canonical_nans(request).SerializeToString()
        # protobuf's own JSON printer: ids as base64, enums by name unless asked,
        # keys as in the .proto when asked.
        printed = json_format.MessageToJson(
            request, use_integers_for_enums=int_enums, preserving_proto_field_name=proto_names
        )
        check_same(signal, _native._decode(signal, printed.encode(), "json"), wire)
        # otlp's own OTLP/JSON (hex ids, integer enums) reads back the same too.
        ours = _native._decode_json(signal, wire)
        check_same(signal, _native._decode(signal, ours, "json"), wire)

    run()


def _no_empty_groups(data: Any) -> bool:
    # A resource or scope with no metrics has no place in the decoded model.
    return all(
        rm.scope_metrics and all(sm.metrics for sm in rm.scope_metrics) for rm in data.resource_metrics
    )


SDK_BATCHES: dict[Signal, tuple[st.SearchStrategy[Any], Any]] = {
    "traces": (S.span_batches(), encode_spans),
    "metrics": (
        SM.metrics_data(with_exemplars=True, max_resources=2, max_scopes=2).filter(_no_empty_groups),
        encode_metrics,
    ),
    "logs": (SL.log_batches(), encode_logs),
}


@pytest.mark.parametrize("signal", SIGNALS)
def test_what_the_sdk_exporters_send_decodes_to_the_same_request(signal: Signal) -> None:
    """What otlp.sdk's encoders write (byte-identical to the official exporters')
    decodes back to the same protobuf, and to the same OTLP/JSON as otlp writes."""
    batches, encode = SDK_BATCHES[signal]

    @settings(max_examples=60)
    @given(batches)
    def run(batch: Any) -> None:
        wire = encode(batch)
        as_json = encode(batch, "json")
        check_same(signal, _native._decode(signal, wire), wire)
        assert _native._decode_json(signal, wire) == as_json
        assert _native._decode_json(signal, as_json, "json") == as_json

    run()


def test_unknown_fields_are_skipped() -> None:
    span = Span(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name="op")
    request = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(), scope_spans=[ScopeSpans(scope=InstrumentationScope(), spans=[span])]
            )
        ]
    )
    wire = request.SerializeToString()
    # Field 99 of each wire type, inside the span and at the top level.
    unknown = bytes([0x98, 0x06, 0x05, 0x99, 0x06]) + bytes(8) + bytes([0x9A, 0x06, 0x02]) + b"xy"
    unknown += bytes([0x9D, 0x06]) + bytes(4)
    span_bytes = span.SerializeToString() + unknown
    patched = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(resource=Resource(), scope_spans=[ScopeSpans(scope=InstrumentationScope())])
        ]
    )
    # Build the request around the raw span so the unknown fields reach the decoder.
    scope_spans = patched.resource_spans[0].scope_spans[0]
    scope_spans.spans.add().MergeFromString(span_bytes)
    body = patched.SerializeToString() + unknown
    assert len(body) == len(wire) + 2 * len(unknown)  # protobuf kept the span's unknown fields
    assert _native._decode("traces", body) == wire
    # And in OTLP/JSON.
    as_json = _native._decode_json("traces", wire).replace(
        b'"name":"op"', b'"name":"op","zzz":[1,{"a":null}]'
    )
    assert b"zzz" in as_json
    assert _native._decode("traces", as_json, "json") == wire


def test_otlp_json_fixture_of_the_specification() -> None:
    # The shape of opentelemetry-proto's examples/trace.json (hex ids, string int64s).
    body = b"""{"resourceSpans": [{"resource": {"attributes": [{"key": "service.name",
      "value": {"stringValue": "my.service"}}]}, "scopeSpans": [{"scope": {"name": "my.library",
      "version": "1.0.0", "attributes": [{"key": "my.scope.attribute", "value": {"stringValue":
      "some scope attribute"}}]}, "spans": [{"traceId": "5B8EFFF798038103D269B633813FC60C",
      "spanId": "EEE19B7EC3C1B174", "parentSpanId": "EEE19B7EC3C1B173", "name": "I'm a server span",
      "startTimeUnixNano": "1544712660000000000", "endTimeUnixNano": 1544712661000000000,
      "kind": 2, "attributes": [{"key": "my.span.attr", "value": {"stringValue": "some value"}}],
      "status": {"code": "STATUS_CODE_OK"}}]}]}]}"""
    got = ExportTraceServiceRequest.FromString(_native._decode("traces", body, "json"))
    span = got.resource_spans[0].scope_spans[0].spans[0]
    assert span.trace_id.hex() == "5b8efff798038103d269b633813fc60c"
    assert span.parent_span_id.hex() == "eee19b7ec3c1b173"
    assert span.end_time_unix_nano == 1544712661000000000
    assert span.kind == Span.SPAN_KIND_SERVER
    assert span.status.code == Status.STATUS_CODE_OK
    assert (
        got.resource_spans[0].scope_spans[0].scope.attributes[0].value.string_value == "some scope attribute"
    )


def test_bad_arguments_name_the_choices() -> None:
    with pytest.raises(ValueError, match="`signal` must be one of 'traces', 'metrics', 'logs'"):
        _native._decode("spans", b"")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="`format` must be one of 'protobuf', 'json'"):
        _native._decode("traces", b"", "xml")  # type: ignore[arg-type]


# --- hostile input ------------------------------------------------------------------


def test_nesting_is_bounded() -> None:
    def body(depth: int) -> bytes:
        # Serialised by hand: protobuf's own parser stops at 100 levels.
        inner = AnyValue(int_value=1).SerializeToString()
        for _ in range(depth):
            array = b"\x0a" + _varint(len(inner)) + inner
            inner = b"\x2a" + _varint(len(array)) + array
        log = b"\x2a" + _varint(len(inner)) + inner
        scope_logs = b"\x12" + _varint(len(log)) + log
        resource_logs = b"\x12" + _varint(len(scope_logs)) + scope_logs
        return b"\x0a" + _varint(len(resource_logs)) + resource_logs

    assert _native._decode("logs", body(64))
    with pytest.raises(ValueError, match="nested deeper than 64"):
        _native._decode("logs", body(65))
    with pytest.raises(ValueError, match="nested deeper than 64"):
        _native._decode("logs", body(100_000))
    deep_json = (
        b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":' + b'{"arrayValue":{"values":[' * 100_000
    )
    with pytest.raises(ValueError, match="nested deeper"):
        _native._decode("logs", deep_json, "json")


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def test_memory_is_bounded_by_the_body_size() -> None:
    # A span that is two bytes on the wire is hundreds in memory: a body of nothing
    # else is refused instead of making the decoder allocate ~150 times its size.
    spans = b"\x12\x00" * (4 << 20)
    scope_spans = b"\x12" + _varint(len(spans)) + spans
    body = b"\x0a" + _varint(len(scope_spans)) + scope_spans
    with pytest.raises(ValueError, match=r"more than \d+ bytes of memory"):
        _native._decode("traces", body)
    json_spans = b"{}," * (2 << 20) + b"{}"
    json_body = b'{"resourceSpans":[{"scopeSpans":[{"spans":[' + json_spans + b"]}]}]}"
    with pytest.raises(ValueError, match=r"more than \d+ bytes of memory"):
        _native._decode("traces", json_body, "json")


@pytest.mark.parametrize("signal", SIGNALS)
def test_truncated_mutated_and_random_bodies_give_a_clean_error(signal: Signal) -> None:
    """A bounded fuzz run: every input decodes or raises ValueError; nothing else."""
    outcomes = {"decoded": 0, "refused": 0}

    def attempt(body: bytes, fmt: Literal["protobuf", "json"]) -> None:
        try:
            _native._decode(signal, body, fmt)
            _native._decode_json(signal, body, fmt)
            outcomes["decoded"] += 1
        except ValueError:
            outcomes["refused"] += 1

    @settings(max_examples=40)
    @given(REQUESTS[signal], st.randoms(use_true_random=False), st.binary(max_size=300))
    def run(request: Message, rng: random.Random, noise: bytes) -> None:
        wire = request.SerializeToString()
        as_json = _native._decode_json(signal, wire)
        bases: list[tuple[bytes, Literal["protobuf", "json"]]] = [(wire, "protobuf"), (as_json, "json")]
        for base, fmt in bases:
            for _ in range(10):
                attempt(base[: rng.randrange(len(base) + 1)], fmt)
            for _ in range(10):
                mutated = bytearray(base)
                for _ in range(rng.randint(1, 4)):
                    if mutated:
                        mutated[rng.randrange(len(mutated))] = rng.randrange(256)
                attempt(bytes(mutated), fmt)
            attempt(noise, fmt)
            attempt(base + noise, fmt)

    run()
    # The run exercised both outcomes (else it proved little).
    assert outcomes["decoded"] > 0 and outcomes["refused"] > 0, outcomes
