"""A test-side OTLP/JSON reader and rule checker, driven by the protobuf descriptors.

OTLP/JSON is the proto3 JSON mapping with the exceptions of the OTLP specification
(opentelemetry-proto ``docs/specification.md``, "JSON Protobuf Encoding"):

* ``traceId`` / ``spanId`` / ``parentSpanId`` of spans, links, log records and
  exemplars are hex strings, not base64 (decoders must accept any case);
* enums are integers only; 64-bit integers are decimal strings (decoders accept
  numbers too); keys are lowerCamelCase; unknown fields are ignored by receivers.

:func:`read` undoes the id exception (hex -> base64, only at those fields of those
messages) and hands the rest to ``google.protobuf.json_format.ParseDict``, so any other
deviation from the proto3 mapping makes it raise. :func:`rule_violations` checks what
the reader is lenient about (decoders accept more than encoders may write).
"""

from __future__ import annotations

import base64
import copy
import functools
import json
import math
import re
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

# Message full name -> {JSON key: id length in bytes}. Nothing else is hex.
ID_FIELDS: dict[str, dict[str, int]] = {
    "opentelemetry.proto.trace.v1.Span": {"traceId": 16, "spanId": 8, "parentSpanId": 8},
    "opentelemetry.proto.trace.v1.Span.Link": {"traceId": 16, "spanId": 8},
    "opentelemetry.proto.logs.v1.LogRecord": {"traceId": 16, "spanId": 8},
    "opentelemetry.proto.metrics.v1.Exemplar": {"traceId": 16, "spanId": 8},
}

_T = FieldDescriptor
_INT64_TYPES = {_T.TYPE_INT64, _T.TYPE_SINT64, _T.TYPE_SFIXED64}
_UINT64_TYPES = {_T.TYPE_UINT64, _T.TYPE_FIXED64}
_INT32_TYPES = {_T.TYPE_INT32, _T.TYPE_SINT32, _T.TYPE_SFIXED32}
_UINT32_TYPES = {_T.TYPE_UINT32, _T.TYPE_FIXED32}
_FLOAT_TYPES = {_T.TYPE_DOUBLE, _T.TYPE_FLOAT}
_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}

_DECIMAL = re.compile(r"-?(0|[1-9][0-9]*)\Z")
_LOWER_HEX = re.compile(r"[0-9a-f]*\Z")
_LOWER_CAMEL = re.compile(r"[a-z][a-zA-Z0-9]*\Z")


class JSONSyntaxError(ValueError):
    """The document is not strict JSON (RFC 8259) in UTF-8."""


def _no_constants(name: str) -> Any:
    # json.loads accepts bare NaN / Infinity / -Infinity by default; JSON does not.
    raise JSONSyntaxError(f"bare {name} is not JSON (OTLP/JSON writes the string {name!r})")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    d: dict[str, Any] = {}
    for k, v in pairs:
        if k in d:
            raise JSONSyntaxError(f"duplicate key {k!r}")
        d[k] = v
    return d


def loads(data: bytes) -> dict[str, Any]:
    """Strict JSON: UTF-8 without BOM, no bare NaN/Infinity, no duplicate keys,
    no raw control characters in strings, an object at the top."""
    if not isinstance(data, bytes):
        raise TypeError(f"expected bytes, got {type(data).__name__}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise JSONSyntaxError(f"not UTF-8: {e}") from e
    if text.startswith("\ufeff"):
        raise JSONSyntaxError("starts with a byte order mark")
    try:
        doc = json.loads(text, parse_constant=_no_constants, object_pairs_hook=_no_duplicates, strict=True)
    except json.JSONDecodeError as e:
        raise JSONSyntaxError(str(e)) from e
    if not isinstance(doc, dict):
        raise JSONSyntaxError(f"top level is a {type(doc).__name__}, not an object")
    return doc


# ---------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------


@functools.cache
def _json_fields(descriptor: Descriptor) -> dict[str, tuple[int, FieldDescriptor]]:
    """JSON name -> (declaration index, field). (upb's ``fields_by_camelcase_name`` also
    answers for the proto field name, so it cannot tell the two apart.)"""
    return {f.json_name: (i, f) for i, f in enumerate(descriptor.fields)}


def _field(descriptor: Descriptor, key: str) -> FieldDescriptor | None:
    hit = _json_fields(descriptor).get(key)
    if hit is not None:
        return hit[1]
    return descriptor.fields_by_name.get(key)  # ParseDict accepts the proto name too


def _hex_ids_to_base64(obj: Any, descriptor: Descriptor) -> None:
    """In place: hex ids -> base64 at the id fields; recurse into message fields."""
    if not isinstance(obj, dict):
        return  # ParseDict will complain with a better message
    ids = ID_FIELDS.get(descriptor.full_name, {})
    for key, value in obj.items():
        f = _field(descriptor, key)
        if f is None or value is None:
            continue  # ParseDict reports unknown keys
        if f.json_name in ids:
            if not isinstance(value, str):
                raise ValueError(
                    f"{descriptor.full_name}.{key} is a {type(value).__name__}, not a hex string"
                )
            try:
                raw = bytes.fromhex(value)  # any case, as the spec asks of decoders
            except ValueError as e:
                raise ValueError(f"{descriptor.full_name}.{key}={value!r} is not hex: {e}") from None
            obj[key] = base64.b64encode(raw).decode("ascii")
        elif f.message_type is not None:
            for item in value if (f.is_repeated and isinstance(value, list)) else [value]:
                _hex_ids_to_base64(item, f.message_type)


def to_proto3_json(doc: dict[str, Any], message_cls: type[Message]) -> dict[str, Any]:
    """A deep copy of an OTLP/JSON document in plain proto3 JSON (ids in base64)."""
    doc = copy.deepcopy(doc)
    _hex_ids_to_base64(doc, message_cls.DESCRIPTOR)
    return doc


def read(data: bytes | dict[str, Any], message_cls: type[Message]) -> Message:
    """Parse OTLP/JSON (bytes, or an already loaded document) into ``message_cls``.

    Unknown keys are an error here: receivers ignore them, but an encoder under test
    must not write any."""
    doc = loads(data) if isinstance(data, bytes) else data
    return json_format.ParseDict(to_proto3_json(doc, message_cls), message_cls(), ignore_unknown_fields=False)


# ---------------------------------------------------------------------------
# canonical forms for comparison
# ---------------------------------------------------------------------------


def canonical_nans(message: Message) -> Message:
    """A copy with every NaN double replaced by the canonical quiet NaN.

    OTLP/JSON writes any NaN as ``"NaN"``: sign and payload bits cannot survive, and a
    message holding NaN is not ``==`` to itself, so compare serialized copies of this."""
    out = type(message)()
    out.CopyFrom(message)
    _fix_nans(out)
    return out


def _fix_nans(message: Message) -> None:
    for f, value in message.ListFields():
        if f.message_type is not None:
            for m in value if f.is_repeated else [value]:
                _fix_nans(m)
        elif f.type in _FLOAT_TYPES:
            if f.is_repeated:
                for i, v in enumerate(value):
                    if math.isnan(v):
                        value[i] = math.nan
            elif math.isnan(value):
                setattr(message, f.name, math.nan)


def canonical_bytes(message: Message) -> bytes:
    return canonical_nans(message).SerializeToString(deterministic=True)


def canonical_doc(doc: Any, descriptor: Descriptor) -> Any:
    """A copy of an OTLP/JSON document where each double is replaced by
    ``("double", repr(float(value)))``.

    Two JSON texts for a double field mean the same value when they parse to the same
    double: ``1``, ``1.0`` and ``1e0`` are one value, and so are ``9007199254740993``
    and ``9007199254740992.0``. Plain JSON equality would also call ``-0.0`` equal to
    ``0.0``, which it is not. Everything else is compared as parsed."""
    if not isinstance(doc, dict):
        return doc
    out: dict[str, Any] = {}
    for key, value in doc.items():
        f = _field(descriptor, key)
        if f is None:
            out[key] = value
        elif f.message_type is not None:
            out[key] = (
                [canonical_doc(v, f.message_type) for v in value]
                if f.is_repeated and isinstance(value, list)
                else canonical_doc(value, f.message_type)
            )
        elif f.type in _FLOAT_TYPES:
            out[key] = (
                [_canonical_double(v) for v in value]
                if f.is_repeated and isinstance(value, list)
                else _canonical_double(value)
            )
        else:
            out[key] = value
    return out


def _canonical_double(v: Any) -> Any:
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        return v
    if isinstance(v, str):
        if v in _SPECIAL_FLOATS:
            return ("double", v)
        try:
            v = float(v)  # a quoted finite number is legal proto3 JSON input
        except ValueError:
            return v
    try:
        f = float(v)
    except OverflowError:
        return ("double", "overflow", v)
    if math.isnan(f):
        return ("double", "NaN")
    if math.isinf(f):
        return ("double", "Infinity" if f > 0 else "-Infinity")
    return ("double", repr(f))


def json_diff(a: Any, b: Any, path: str = "$", limit: int = 40) -> list[str]:
    """Paths where two parsed JSON documents differ (``a`` is "ours", ``b`` "theirs")."""
    out: list[str] = []
    _diff(a, b, path, out, limit)
    return out


def _short(v: Any) -> str:
    r = json.dumps(v, ensure_ascii=False, default=repr) if not isinstance(v, tuple) else repr(v)
    return r if len(r) <= 200 else r[:200] + "..."


def _diff(a: Any, b: Any, path: str, out: list[str], limit: int) -> None:
    if len(out) >= limit:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for k in a:
            if k not in b:
                out.append(f"{path}.{k}: only in ours: {_short(a[k])}")
            else:
                _diff(a[k], b[k], f"{path}.{k}", out, limit)
        for k in b:
            if k not in a:
                out.append(f"{path}.{k}: only in theirs: {_short(b[k])}")
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{path}: {len(a)} elements in ours, {len(b)} in theirs")
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            _diff(x, y, f"{path}[{i}]", out, limit)
    elif type(a) is not type(b) or a != b:
        out.append(f"{path}: ours {_short(a)} != theirs {_short(b)}")


# ---------------------------------------------------------------------------
# rules for what an encoder writes
# ---------------------------------------------------------------------------


def rule_violations(doc: Any, message_cls: type[Message]) -> list[str]:
    """Every place where ``doc`` breaks the OTLP/JSON encoding rules, as ``path: problem``.

    * keys are the lowerCamelCase JSON names of fields of the message at that place,
      in .proto declaration order, at most one member of each oneof;
    * span/link/log/exemplar ids: lowercase hex of exactly 32 (trace) / 16 (span) digits;
    * other bytes: canonical standard base64 (with padding);
    * 64-bit integers: decimal strings in range; 32-bit integers and enums: JSON
      integers in range; bools: true/false; doubles: JSON numbers, or the strings
      "NaN" / "Infinity" / "-Infinity" for the non-finite ones;
    * no field holds its default value (0, "0", "", false, []), except members of a
      oneof and proto3 ``optional`` fields (which have presence); sub-messages may be
      present and empty.
    """
    out: list[str] = []
    _check_message(doc, message_cls.DESCRIPTOR, "$", out)
    return out


def _check_message(obj: Any, descriptor: Descriptor, path: str, out: list[str]) -> None:
    if not isinstance(obj, dict):
        out.append(f"{path}: {descriptor.name} must be a JSON object, got {type(obj).__name__}")
        return
    fields = _json_fields(descriptor)
    ids = ID_FIELDS.get(descriptor.full_name, {})
    last = -1
    oneofs: dict[str, str] = {}
    for key, value in obj.items():
        p = f"{path}.{key}"
        hit = fields.get(key)
        if hit is None:
            hint = " (proto field name; JSON uses lowerCamelCase)" if key in descriptor.fields_by_name else ""
            out.append(f"{p}: no such field in {descriptor.full_name}{hint}")
            continue
        index, f = hit
        if not _LOWER_CAMEL.match(key):
            out.append(f"{p}: key is not lowerCamelCase")
        if index < last:
            out.append(f"{p}: out of .proto declaration order in {descriptor.name}")
        last = max(last, index)
        oneof = f.containing_oneof
        if oneof is not None and not oneof.name.startswith("_"):  # "_x" = synthetic (proto3 optional)
            if oneof.name in oneofs:
                out.append(f"{p}: second member of oneof {oneof.name} (first: {oneofs[oneof.name]})")
            oneofs[oneof.name] = key
        if value is None:
            out.append(f"{p}: null (leave the field out instead)")
            continue
        if f.is_repeated:
            if not isinstance(value, list):
                out.append(f"{p}: repeated field must be a JSON array, got {type(value).__name__}")
                continue
            if not value:
                out.append(f"{p}: empty array (default value; leave the field out)")
            for i, v in enumerate(value):
                _check_value(v, f, f"{p}[{i}]", out, allow_default=True, id_len=None)
        else:
            _check_value(value, f, p, out, allow_default=f.has_presence, id_len=ids.get(key))


def _check_value(
    v: Any, f: FieldDescriptor, p: str, out: list[str], *, allow_default: bool, id_len: int | None
) -> None:
    t = f.type
    if f.message_type is not None:
        _check_message(v, f.message_type, p, out)
        return
    is_default = False
    if id_len is not None:
        if not isinstance(v, str) or len(v) != 2 * id_len or not _LOWER_HEX.match(v):
            out.append(f"{p}: id must be {2 * id_len} lowercase hex digits, got {v!r}")
        return  # an all-zero id is a value (the protobuf encoder writes 16 zero bytes)
    if t == _T.TYPE_BYTES:
        if not isinstance(v, str):
            out.append(f"{p}: bytes must be a base64 string, got {type(v).__name__}")
            return
        try:
            raw = base64.b64decode(v, validate=True)
        except ValueError:
            out.append(f"{p}: not standard base64: {v!r}")
            return
        if base64.b64encode(raw).decode("ascii") != v:
            out.append(f"{p}: not canonical base64 (padding?): {v!r}")
        is_default = raw == b""
    elif t in _INT64_TYPES or t in _UINT64_TYPES:
        lo, hi = (-(2**63), 2**63 - 1) if t in _INT64_TYPES else (0, 2**64 - 1)
        if not isinstance(v, str):
            out.append(f"{p}: 64-bit integer must be a decimal string, got {_jtype(v)} {v!r}")
            return
        if not _DECIMAL.match(v) or v == "-0":
            out.append(f"{p}: not a canonical decimal integer: {v!r}")
            return
        if not lo <= int(v) <= hi:
            out.append(f"{p}: {v} out of range [{lo}, {hi}]")
        is_default = int(v) == 0
    elif t in _INT32_TYPES or t in _UINT32_TYPES or t == _T.TYPE_ENUM:
        what = "enum" if t == _T.TYPE_ENUM else "32-bit integer"
        if isinstance(v, bool) or not isinstance(v, int):
            out.append(f"{p}: {what} must be a JSON integer, got {_jtype(v)} {v!r}")
            return
        lo, hi = (0, 2**32 - 1) if t in _UINT32_TYPES else (-(2**31), 2**31 - 1)
        if not lo <= v <= hi:
            out.append(f"{p}: {v} out of range [{lo}, {hi}]")
        is_default = v == 0
    elif t in _FLOAT_TYPES:
        if isinstance(v, str):
            if v not in _SPECIAL_FLOATS:
                out.append(f"{p}: a finite double must be a JSON number, got string {v!r}")
                return
        elif isinstance(v, bool) or not isinstance(v, (int, float)):
            out.append(f"{p}: double must be a JSON number, got {_jtype(v)} {v!r}")
            return
        elif isinstance(v, float) and math.isinf(v):
            out.append(f'{p}: number literal overflows a double (write "Infinity")')
            return
        # -0.0 is not the default: its bits differ and the protobuf encoder writes it
        is_default = not isinstance(v, str) and v == 0 and math.copysign(1.0, v) > 0
    elif t == _T.TYPE_BOOL:
        if not isinstance(v, bool):
            out.append(f"{p}: bool must be true/false, got {_jtype(v)} {v!r}")
            return
        is_default = v is False
    elif t == _T.TYPE_STRING:
        if not isinstance(v, str):
            out.append(f"{p}: string expected, got {_jtype(v)} {v!r}")
            return
        is_default = v == ""
    else:  # pragma: no cover - OTLP has no other scalar types
        out.append(f"{p}: unexpected field type {t}")
        return
    if is_default and not allow_default:
        out.append(f"{p}: default value {v!r} written (proto3 JSON leaves it out)")


def _jtype(v: Any) -> str:
    return {
        bool: "boolean",
        int: "number",
        float: "number",
        str: "string",
        list: "array",
        dict: "object",
    }.get(type(v), type(v).__name__)
