//! Protobuf wire primitives and the messages of `opentelemetry/proto/common/v1`.
//!
//! Every message has a `*_len` function (its encoded size) and a `put_*` function (append
//! its encoding). Encoders call the sizes first, reserve once, then write; a buffer is
//! never grown or copied while writing.

use crate::model::{AnyValue, KeyValue, Resource, Scope};

pub(crate) const WIRE_VARINT: u8 = 0;
pub(crate) const WIRE_FIXED64: u8 = 1;
pub(crate) const WIRE_LEN: u8 = 2;
pub(crate) const WIRE_FIXED32: u8 = 5;

/// Bytes needed for `v` as a base-128 varint.
#[inline]
pub(crate) const fn varint_len(v: u64) -> usize {
    // 1 byte per started group of 7 bits; 0 still takes one byte. `(bits * 9 + 64) / 64`
    // is `bits.div_ceil(7)` for 1..=64 bits (protobuf's own formula), with a shift.
    let bits = 64 - (v | 1).leading_zeros() as usize;
    (bits * 9 + 64) >> 6
}

#[inline]
pub(crate) fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Size of a field key for `field` (field numbers used here are all below 2^11).
#[inline]
pub(crate) const fn tag_len(field: u32) -> usize {
    varint_len((field as u64) << 3)
}

#[inline]
pub(crate) fn put_tag(buf: &mut Vec<u8>, field: u32, wire: u8) {
    put_varint(buf, ((field as u64) << 3) | wire as u64);
}

/// Size of a length-delimited field whose payload is `len` bytes.
#[inline]
pub(crate) const fn len_field_len(field: u32, len: usize) -> usize {
    tag_len(field) + varint_len(len as u64) + len
}

/// Size of a length-delimited field that proto3 omits when empty.
#[inline]
pub(crate) const fn opt_len_field_len(field: u32, len: usize) -> usize {
    if len == 0 {
        0
    } else {
        len_field_len(field, len)
    }
}

#[inline]
pub(crate) fn put_len_header(buf: &mut Vec<u8>, field: u32, len: usize) {
    put_tag(buf, field, WIRE_LEN);
    put_varint(buf, len as u64);
}

#[inline]
pub(crate) fn put_bytes_field(buf: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_len_header(buf, field, bytes.len());
    buf.extend_from_slice(bytes);
}

/// A `string`/`bytes` field, omitted when empty (proto3 default).
#[inline]
pub(crate) fn put_opt_bytes_field(buf: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    if !bytes.is_empty() {
        put_bytes_field(buf, field, bytes);
    }
}

/// A `uint32`/`int64`/enum field, omitted when zero.
#[inline]
pub(crate) const fn opt_varint_field_len(field: u32, v: u64) -> usize {
    if v == 0 {
        0
    } else {
        tag_len(field) + varint_len(v)
    }
}

#[inline]
pub(crate) fn put_opt_varint_field(buf: &mut Vec<u8>, field: u32, v: u64) {
    if v != 0 {
        put_tag(buf, field, WIRE_VARINT);
        put_varint(buf, v);
    }
}

#[inline]
pub(crate) const fn opt_fixed64_field_len(field: u32, v: u64) -> usize {
    if v == 0 {
        0
    } else {
        tag_len(field) + 8
    }
}

#[inline]
pub(crate) fn put_opt_fixed64_field(buf: &mut Vec<u8>, field: u32, v: u64) {
    if v != 0 {
        put_tag(buf, field, WIRE_FIXED64);
        buf.extend_from_slice(&v.to_le_bytes());
    }
}

#[inline]
pub(crate) const fn opt_fixed32_field_len(field: u32, v: u32) -> usize {
    if v == 0 {
        0
    } else {
        tag_len(field) + 4
    }
}

#[inline]
pub(crate) fn put_opt_fixed32_field(buf: &mut Vec<u8>, field: u32, v: u32) {
    if v != 0 {
        put_tag(buf, field, WIRE_FIXED32);
        buf.extend_from_slice(&v.to_le_bytes());
    }
}

// --- opentelemetry.proto.common.v1 -------------------------------------------------

/// `AnyValue` payload size. Inside the oneof a zero value is still written.
pub(crate) fn any_value_len(v: &AnyValue) -> usize {
    match v {
        AnyValue::Empty => 0,
        AnyValue::String(s) => len_field_len(1, s.len()),
        AnyValue::Bool(_) => 2,
        AnyValue::Int(i) => 1 + varint_len(*i as u64),
        AnyValue::Double(_) => 9,
        AnyValue::Array(values) => len_field_len(5, array_len(values)),
        AnyValue::KvList(kvs) => len_field_len(6, key_values_len(1, kvs)),
        AnyValue::Bytes(b) => len_field_len(7, b.len()),
    }
}

/// `ArrayValue` payload size.
fn array_len(values: &[AnyValue]) -> usize {
    values
        .iter()
        .map(|v| len_field_len(1, any_value_len(v)))
        .sum()
}

pub(crate) fn put_any_value(buf: &mut Vec<u8>, v: &AnyValue) {
    match v {
        AnyValue::Empty => {}
        AnyValue::String(s) => put_bytes_field(buf, 1, s.as_bytes()),
        AnyValue::Bool(b) => {
            put_tag(buf, 2, WIRE_VARINT);
            buf.push(*b as u8);
        }
        AnyValue::Int(i) => {
            put_tag(buf, 3, WIRE_VARINT);
            put_varint(buf, *i as u64);
        }
        AnyValue::Double(d) => {
            put_tag(buf, 4, WIRE_FIXED64);
            buf.extend_from_slice(&d.to_le_bytes());
        }
        AnyValue::Array(values) => {
            put_len_header(buf, 5, array_len(values));
            for value in values {
                put_len_header(buf, 1, any_value_len(value));
                put_any_value(buf, value);
            }
        }
        AnyValue::KvList(kvs) => {
            put_len_header(buf, 6, key_values_len(1, kvs));
            put_key_values(buf, 1, kvs);
        }
        AnyValue::Bytes(b) => put_bytes_field(buf, 7, b),
    }
}

/// `KeyValue` payload size: the value sub-message is always present.
#[inline]
pub(crate) fn key_value_len(kv: &KeyValue) -> usize {
    opt_len_field_len(1, kv.key.len()) + len_field_len(2, any_value_len(&kv.value))
}

#[inline]
pub(crate) fn put_key_value(buf: &mut Vec<u8>, kv: &KeyValue) {
    put_opt_bytes_field(buf, 1, kv.key.as_bytes());
    put_len_header(buf, 2, any_value_len(&kv.value));
    put_any_value(buf, &kv.value);
}

/// Size of a repeated `KeyValue` field `field`.
pub(crate) fn key_values_len(field: u32, kvs: &[KeyValue]) -> usize {
    kvs.iter()
        .map(|kv| len_field_len(field, key_value_len(kv)))
        .sum()
}

pub(crate) fn put_key_values(buf: &mut Vec<u8>, field: u32, kvs: &[KeyValue]) {
    for kv in kvs {
        // Written in one pass: a byte is kept for the length, which is almost always
        // below 128, and filled in after (see `patch_len`).
        put_tag(buf, field, WIRE_LEN);
        let at = keep_len(buf, 1);
        put_key_value(buf, kv);
        patch_len(buf, at, 1);
    }
}

/// Keep `n` bytes (at most 5) at the end of `buf` for the length of what is written
/// after them, to be filled in by [`patch_len`]; returns where they start.
#[inline]
pub(crate) fn keep_len(buf: &mut Vec<u8>, n: usize) -> usize {
    let at = buf.len();
    buf.extend_from_slice(&[0; 5][..n]);
    at
}

/// Write at `at`, in the `n` bytes kept there by [`keep_len`], the length of what
/// follows them. A length whose varint takes another number of bytes moves what
/// follows to fit it: the varint is always the shortest, as other encoders write it.
#[inline]
pub(crate) fn patch_len(buf: &mut Vec<u8>, at: usize, n: usize) {
    let len = buf.len() - at - n;
    if n == 1 && len < 0x80 {
        buf[at] = len as u8;
        return;
    }
    let mut head = [0u8; 10];
    let mut w = 0;
    let mut v = len as u64;
    while v >= 0x80 {
        head[w] = (v as u8) | 0x80;
        v >>= 7;
        w += 1;
    }
    head[w] = v as u8;
    w += 1;
    if w == n {
        buf[at..at + n].copy_from_slice(&head[..n]);
    } else {
        buf.splice(at..at + n, head[..w].iter().copied());
    }
}

/// `Resource` payload size (the official encoder never sets `dropped_attributes_count`,
/// and the exporter's resources leave it 0).
pub(crate) fn resource_len(r: &Resource) -> usize {
    key_values_len(1, &r.attributes) + opt_varint_field_len(2, r.dropped_attributes_count as u64)
}

pub(crate) fn put_resource(buf: &mut Vec<u8>, r: &Resource) {
    put_key_values(buf, 1, &r.attributes);
    put_opt_varint_field(buf, 2, r.dropped_attributes_count as u64);
}

/// `InstrumentationScope` payload size.
pub(crate) fn scope_len(s: &Scope) -> usize {
    opt_len_field_len(1, s.name.len())
        + opt_len_field_len(2, s.version.len())
        + key_values_len(3, &s.attributes)
        + opt_varint_field_len(4, s.dropped_attributes_count as u64)
}

pub(crate) fn put_scope(buf: &mut Vec<u8>, s: &Scope) {
    put_opt_bytes_field(buf, 1, s.name.as_bytes());
    put_opt_bytes_field(buf, 2, s.version.as_bytes());
    put_key_values(buf, 3, &s.attributes);
    put_opt_varint_field(buf, 4, s.dropped_attributes_count as u64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_len_matches_encoding() {
        let edges = (0..64).flat_map(|b| [(1u64 << b) - 1, 1u64 << b, (1u64 << b) + 1]);
        for v in [0u64, 1, 127, 128, 16383, 16384, u32::MAX as u64, u64::MAX]
            .into_iter()
            .chain(edges)
        {
            let mut buf = Vec::new();
            put_varint(&mut buf, v);
            assert_eq!(buf.len(), varint_len(v), "value {v}");
        }
    }

    #[test]
    fn key_values_of_any_length_are_written_as_sized_first() {
        let sizes = [
            0usize,
            1,
            100,
            120,
            125,
            126,
            127,
            128,
            200,
            16_300,
            16_400,
            3 << 20,
        ];
        for n in sizes {
            let kvs = vec![
                KeyValue::new("k", AnyValue::from("v".repeat(n))),
                KeyValue::new("k".repeat(n), AnyValue::Int(7)),
                KeyValue::new("after", AnyValue::Bool(true)),
            ];
            let mut one_pass = vec![0xee];
            put_key_values(&mut one_pass, 9, &kvs);
            let mut sized = vec![0xee];
            for kv in &kvs {
                put_len_header(&mut sized, 9, key_value_len(kv));
                put_key_value(&mut sized, kv);
            }
            assert_eq!(one_pass, sized, "value of {n} bytes");
            assert_eq!(one_pass.len() - 1, key_values_len(9, &kvs));
        }
    }

    #[test]
    fn zero_values_inside_any_value_are_written() {
        let cases: [(AnyValue, &[u8]); 4] = [
            (AnyValue::Int(0), &[0x18, 0x00]),
            (AnyValue::from(""), &[0x0a, 0x00]),
            (AnyValue::Bool(false), &[0x10, 0x00]),
            (AnyValue::Double(0.0), &[0x21, 0, 0, 0, 0, 0, 0, 0, 0]),
        ];
        for (value, want) in cases {
            let mut buf = Vec::new();
            put_any_value(&mut buf, &value);
            assert_eq!(buf, want, "{value:?}");
            assert_eq!(any_value_len(&value), want.len());
        }
    }

    #[test]
    fn empty_value_still_writes_the_value_field() {
        let kv = KeyValue::new("k", AnyValue::Empty);
        let mut buf = Vec::new();
        put_key_value(&mut buf, &kv);
        assert_eq!(buf, [0x0a, 0x01, b'k', 0x12, 0x00]);
    }

    #[test]
    fn negative_int_takes_ten_bytes() {
        let v = AnyValue::Int(-1);
        assert_eq!(any_value_len(&v), 11);
    }

    #[test]
    fn nested_sizes_match_written_bytes() {
        let v = AnyValue::KvList(vec![
            KeyValue::new(
                "a",
                AnyValue::Array(vec![AnyValue::Int(1), AnyValue::Empty]),
            ),
            KeyValue::new("", AnyValue::Bytes(vec![0; 200])),
        ]);
        let mut buf = Vec::new();
        put_any_value(&mut buf, &v);
        assert_eq!(buf.len(), any_value_len(&v));
    }
}
