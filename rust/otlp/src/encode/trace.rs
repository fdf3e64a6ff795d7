//! `ExportTraceServiceRequest` (opentelemetry/proto/collector/trace/v1).
//!
//! Spans are grouped by resource, then by scope, both in order of first appearance,
//! and keep their input order inside a group — as the official Python encoder does.
//! Groups are keyed by `Arc` identity: producers share one `Arc` per distinct resource
//! and scope.

use std::borrow::Borrow;
use std::sync::Arc;

use super::grouped::{write_grouped, Grouped, GroupedRequest};
use super::protobuf::*;
use crate::model::{Event, Link, Resource, Scope, SpanData, Status};

/// A batch of spans, grouped and sized, ready to be written.
pub type TraceRequest<'a> = GroupedRequest<'a, SpanData>;

impl Grouped for SpanData {
    fn resource(&self) -> &Arc<Resource> {
        &self.resource
    }

    fn scope(&self) -> &Arc<Scope> {
        &self.scope
    }

    fn encoded_len(&self) -> usize {
        span_len(self)
    }

    fn write(&self, buf: &mut Vec<u8>) {
        put_span(buf, self)
    }
}

/// Encoded size of the `ExportTraceServiceRequest` for `spans`.
pub fn trace_request_len<S: Borrow<SpanData>>(spans: &[S]) -> usize {
    TraceRequest::new(spans).len()
}

/// Encode `spans` as an `ExportTraceServiceRequest`, appended to `buf`.
pub fn encode_trace_request<S: Borrow<SpanData>>(spans: &[S], buf: &mut Vec<u8>) {
    write_grouped::<SpanData, S>(spans, buf);
}

fn span_len(s: &SpanData) -> usize {
    len_field_len(1, s.trace_id.len())
        + len_field_len(2, s.span_id.len())
        + opt_len_field_len(3, s.trace_state.len())
        + s.parent_span_id.map_or(0, |p| len_field_len(4, p.len()))
        + opt_len_field_len(5, s.name.len())
        + opt_varint_field_len(6, s.kind as i32 as u64)
        + opt_fixed64_field_len(7, s.start_time_unix_nano)
        + opt_fixed64_field_len(8, s.end_time_unix_nano)
        + key_values_len(9, &s.attributes)
        + opt_varint_field_len(10, s.dropped_attributes_count as u64)
        + s.events
            .iter()
            .map(|e| len_field_len(11, event_len(e)))
            .sum::<usize>()
        + opt_varint_field_len(12, s.dropped_events_count as u64)
        + s.links
            .iter()
            .map(|l| len_field_len(13, link_len(l)))
            .sum::<usize>()
        + opt_varint_field_len(14, s.dropped_links_count as u64)
        + s.status
            .as_ref()
            .map_or(0, |st| len_field_len(15, status_len(st)))
        + opt_fixed32_field_len(16, s.flags)
}

fn put_span(buf: &mut Vec<u8>, s: &SpanData) {
    put_bytes_field(buf, 1, &s.trace_id);
    put_bytes_field(buf, 2, &s.span_id);
    put_opt_bytes_field(buf, 3, s.trace_state.as_bytes());
    if let Some(parent) = &s.parent_span_id {
        put_bytes_field(buf, 4, parent);
    }
    put_opt_bytes_field(buf, 5, s.name.as_bytes());
    put_opt_varint_field(buf, 6, s.kind as i32 as u64);
    put_opt_fixed64_field(buf, 7, s.start_time_unix_nano);
    put_opt_fixed64_field(buf, 8, s.end_time_unix_nano);
    put_key_values(buf, 9, &s.attributes);
    put_opt_varint_field(buf, 10, s.dropped_attributes_count as u64);
    for e in &s.events {
        put_len_header(buf, 11, event_len(e));
        put_event(buf, e);
    }
    put_opt_varint_field(buf, 12, s.dropped_events_count as u64);
    for l in &s.links {
        put_len_header(buf, 13, link_len(l));
        put_link(buf, l);
    }
    put_opt_varint_field(buf, 14, s.dropped_links_count as u64);
    if let Some(st) = &s.status {
        put_len_header(buf, 15, status_len(st));
        put_status(buf, st);
    }
    put_opt_fixed32_field(buf, 16, s.flags);
}

fn event_len(e: &Event) -> usize {
    opt_fixed64_field_len(1, e.time_unix_nano)
        + opt_len_field_len(2, e.name.len())
        + key_values_len(3, &e.attributes)
        + opt_varint_field_len(4, e.dropped_attributes_count as u64)
}

fn put_event(buf: &mut Vec<u8>, e: &Event) {
    put_opt_fixed64_field(buf, 1, e.time_unix_nano);
    put_opt_bytes_field(buf, 2, e.name.as_bytes());
    put_key_values(buf, 3, &e.attributes);
    put_opt_varint_field(buf, 4, e.dropped_attributes_count as u64);
}

fn link_len(l: &Link) -> usize {
    len_field_len(1, l.trace_id.len())
        + len_field_len(2, l.span_id.len())
        + opt_len_field_len(3, l.trace_state.len())
        + key_values_len(4, &l.attributes)
        + opt_varint_field_len(5, l.dropped_attributes_count as u64)
        + opt_fixed32_field_len(6, l.flags)
}

fn put_link(buf: &mut Vec<u8>, l: &Link) {
    put_bytes_field(buf, 1, &l.trace_id);
    put_bytes_field(buf, 2, &l.span_id);
    put_opt_bytes_field(buf, 3, l.trace_state.as_bytes());
    put_key_values(buf, 4, &l.attributes);
    put_opt_varint_field(buf, 5, l.dropped_attributes_count as u64);
    put_opt_fixed32_field(buf, 6, l.flags);
}

fn status_len(st: &Status) -> usize {
    opt_len_field_len(2, st.message.len()) + opt_varint_field_len(3, st.code as i32 as u64)
}

fn put_status(buf: &mut Vec<u8>, st: &Status) {
    put_opt_bytes_field(buf, 2, st.message.as_bytes());
    put_opt_varint_field(buf, 3, st.code as i32 as u64);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AnyValue, KeyValue, SpanKind};

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// The worked example of the official encoder's output (112 bytes).
    #[test]
    fn matches_the_official_encoder_on_the_worked_example() {
        let resource = Arc::new(Resource {
            attributes: vec![KeyValue::new("service.name", AnyValue::from("svc"))],
            ..Resource::default()
        });
        let scope = Arc::new(Scope {
            name: "lib".into(),
            version: "1.0".into(),
            ..Scope::default()
        });
        let mut span = SpanData::new(resource, scope, "op");
        span.trace_id = core::array::from_fn(|i| i as u8 + 1);
        span.span_id = core::array::from_fn(|i| i as u8 + 0x11);
        span.trace_state = "a=1,b=2".into();
        span.kind = SpanKind::Internal;
        span.start_time_unix_nano = 1;
        span.end_time_unix_nano = 2;
        span.flags = 0x100;
        let mut buf = Vec::new();
        encode_trace_request(std::slice::from_ref(&span), &mut buf);
        let want = hex(
            "0a6e0a170a150a0c736572766963652e6e616d6512050a0373766312530a0a0a036c69621203312e3012450a10
             0102030405060708090a0b0c0d0e0f10120811121314151617181a07613d312c623d322a026f70300139010000
             00000000004102000000000000007a00850100010000",
        );
        assert_eq!(buf, want);
        assert_eq!(trace_request_len(&[span]), 112);
    }

    #[test]
    fn groups_by_resource_then_scope_in_first_appearance_order() {
        let r1 = Arc::new(Resource::default());
        let r2 = Arc::new(Resource {
            schema_url: "s".into(),
            ..Resource::default()
        });
        let a = Arc::new(Scope {
            name: "a".into(),
            ..Scope::default()
        });
        let b = Arc::new(Scope {
            name: "b".into(),
            ..Scope::default()
        });
        let spans = vec![
            SpanData::new(r1.clone(), a.clone(), "1"),
            SpanData::new(r2.clone(), a.clone(), "2"),
            SpanData::new(r1.clone(), b.clone(), "3"),
            SpanData::new(r1.clone(), a.clone(), "4"),
        ];
        let req = TraceRequest::new(&spans);
        let names: Vec<Vec<Vec<&str>>> = req
            .groups
            .iter()
            .map(|g| {
                g.scopes
                    .iter()
                    .map(|s| s.items.iter().map(|s| s.name.as_ref()).collect())
                    .collect()
            })
            .collect();
        assert_eq!(
            names,
            vec![vec![vec!["1", "4"], vec!["3"]], vec![vec!["2"]]]
        );
        let mut buf = Vec::new();
        req.write(&mut buf);
        assert_eq!(buf.len(), req.len());
    }

    /// The one-pass writer keeps two bytes for a span's length and three for a group's:
    /// spans and groups on both sides of every varint width it could guess wrong.
    #[test]
    fn one_pass_requests_are_the_sized_bytes_at_every_length() {
        let resource = Arc::new(Resource::default());
        let other = Arc::new(Resource {
            attributes: vec![KeyValue::new("r", AnyValue::from("x".repeat(200)))],
            schema_url: "s".into(),
            ..Resource::default()
        });
        let scope = Arc::new(Scope {
            name: "lib".into(),
            ..Scope::default()
        });
        let span = |resource: &Arc<Resource>, name_len: usize| {
            let mut s = SpanData::new(resource.clone(), scope.clone(), "n".repeat(name_len));
            s.trace_id = [1; 16];
            s.span_id = [2; 8];
            s
        };
        // A span without its name is 34 bytes, its name's header 2 to 4 more.
        let names = [
            0usize,
            80,
            88,
            89,
            90,
            91,
            200,
            16_300,
            16_340,
            16_346,
            16_400,
            2 << 20,
        ];
        for n in names {
            for count in [1usize, 3] {
                let mut spans: Vec<SpanData> = (0..count).map(|_| span(&resource, n)).collect();
                spans.push(span(&other, n / 2));
                let sized = TraceRequest::new(&spans);
                let mut want = vec![0xee];
                sized.write(&mut want);
                let mut got = vec![0xee];
                encode_trace_request(&spans, &mut got);
                assert_eq!(got.len(), want.len(), "name of {n} bytes, {count} spans");
                assert!(got == want, "name of {n} bytes, {count} spans");
            }
        }
    }

    #[test]
    fn empty_batch_is_an_empty_message() {
        let mut buf = Vec::new();
        encode_trace_request::<SpanData>(&[], &mut buf);
        assert!(buf.is_empty());
    }
}
