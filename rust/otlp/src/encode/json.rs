//! OTLP/JSON: the protobuf JSON mapping with the OTLP specification's exceptions.
//!
//! lowerCamelCase keys; trace and span ids as lowercase hex (not base64); other bytes
//! base64; enums as integers; 64-bit integers as decimal strings; fields with default
//! values left out, but sub-messages the protobuf encoder writes even when empty
//! (status, body, resource, scope, an attribute's value) written as `{}`.

use std::borrow::Borrow;

use super::grouped::{Grouped, GroupedRequest};
use crate::model::{
    AnyValue, Buckets, Event, Exemplar, ExponentialHistogramPoint, HistogramPoint, KeyValue, Link,
    LogRecord, Metric, MetricData, Number, NumberPoint, Resource, ResourceMetrics, Scope, SpanData,
    SummaryPoint,
};

/// Appends JSON to a byte buffer, tracking where commas go.
struct Writer<'a> {
    out: &'a mut Vec<u8>,
    /// Whether the innermost open object/array already has a member.
    first: Vec<bool>,
}

impl<'a> Writer<'a> {
    fn new(out: &'a mut Vec<u8>) -> Self {
        Self {
            out,
            first: Vec::new(),
        }
    }

    fn sep(&mut self) {
        if let Some(first) = self.first.last_mut() {
            if !*first {
                self.out.push(b',');
            }
            *first = false;
        }
    }

    fn open(&mut self, c: u8) {
        self.out.push(c);
        self.first.push(true);
    }

    fn close(&mut self, c: u8) {
        self.first.pop();
        self.out.push(c);
    }

    fn key(&mut self, k: &str) {
        self.sep();
        self.out.push(b'"');
        self.out.extend_from_slice(k.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    /// Start an object member `k: {`.
    fn obj(&mut self, k: &str) {
        self.key(k);
        self.open(b'{');
    }

    /// Start an array member `k: [`.
    fn arr(&mut self, k: &str) {
        self.key(k);
        self.open(b'[');
    }

    /// Start an object element of the current array.
    fn elem(&mut self) {
        self.sep();
        self.open(b'{');
    }

    fn string_value(&mut self, s: &str) {
        self.out.push(b'"');
        for &b in s.as_bytes() {
            match b {
                b'"' => self.out.extend_from_slice(b"\\\""),
                b'\\' => self.out.extend_from_slice(b"\\\\"),
                b'\n' => self.out.extend_from_slice(b"\\n"),
                b'\r' => self.out.extend_from_slice(b"\\r"),
                b'\t' => self.out.extend_from_slice(b"\\t"),
                0..=0x1f => {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    self.out.extend_from_slice(b"\\u00");
                    self.out.push(HEX[(b >> 4) as usize]);
                    self.out.push(HEX[(b & 15) as usize]);
                }
                _ => self.out.push(b),
            }
        }
        self.out.push(b'"');
    }

    fn str(&mut self, k: &str, v: &str) {
        if !v.is_empty() {
            self.key(k);
            self.string_value(v);
        }
    }

    /// A 64-bit integer (as a decimal string), left out when zero.
    fn u64(&mut self, k: &str, v: u64) {
        if v != 0 {
            self.key(k);
            self.out.push(b'"');
            self.out.extend_from_slice(v.to_string().as_bytes());
            self.out.push(b'"');
        }
    }

    /// A 32-bit integer or enum (a JSON number), left out when zero.
    fn i32(&mut self, k: &str, v: i64) {
        if v != 0 {
            self.key(k);
            self.out.extend_from_slice(v.to_string().as_bytes());
        }
    }

    fn bool(&mut self, k: &str, v: bool) {
        if v {
            self.key(k);
            self.out.extend_from_slice(b"true");
        }
    }

    fn double_value(&mut self, v: f64) {
        if v.is_nan() {
            self.out.extend_from_slice(b"\"NaN\"");
        } else if v.is_infinite() {
            self.out.extend_from_slice(if v > 0.0 {
                b"\"Infinity\""
            } else {
                b"\"-Infinity\""
            });
        } else {
            // Debug is the shortest representation that reads back exactly.
            self.out.extend_from_slice(format!("{v:?}").as_bytes());
        }
    }

    /// A double written even when zero (oneof members and `optional` fields).
    fn double(&mut self, k: &str, v: f64) {
        self.key(k);
        self.double_value(v);
    }

    fn hex(&mut self, k: &str, bytes: &[u8]) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        self.key(k);
        self.out.push(b'"');
        for b in bytes {
            self.out.push(HEX[(b >> 4) as usize]);
            self.out.push(HEX[(b & 15) as usize]);
        }
        self.out.push(b'"');
    }

    fn base64_value(&mut self, bytes: &[u8]) {
        const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        self.out.push(b'"');
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
            self.out.push(T[(n >> 18) as usize & 63]);
            self.out.push(T[(n >> 12) as usize & 63]);
            self.out.push(if chunk.len() > 1 {
                T[(n >> 6) as usize & 63]
            } else {
                b'='
            });
            self.out.push(if chunk.len() > 2 {
                T[n as usize & 63]
            } else {
                b'='
            });
        }
        self.out.push(b'"');
    }
}

// --- common ----------------------------------------------------------------------

fn any_value(w: &mut Writer<'_>, v: &AnyValue) {
    match v {
        AnyValue::Empty => {}
        AnyValue::String(s) => {
            w.key("stringValue");
            w.string_value(s);
        }
        AnyValue::Bool(b) => {
            w.key("boolValue");
            w.out.extend_from_slice(if *b { b"true" } else { b"false" });
        }
        AnyValue::Int(i) => {
            w.key("intValue");
            w.out.push(b'"');
            w.out.extend_from_slice(i.to_string().as_bytes());
            w.out.push(b'"');
        }
        AnyValue::Double(d) => w.double("doubleValue", *d),
        AnyValue::Bytes(b) => {
            w.key("bytesValue");
            w.base64_value(b);
        }
        AnyValue::Array(values) => {
            w.obj("arrayValue");
            if !values.is_empty() {
                w.arr("values");
                for v in values {
                    w.elem();
                    any_value(w, v);
                    w.close(b'}');
                }
                w.close(b']');
            }
            w.close(b'}');
        }
        AnyValue::KvList(kvs) => {
            w.obj("kvlistValue");
            key_values(w, "values", kvs);
            w.close(b'}');
        }
    }
}

fn key_values(w: &mut Writer<'_>, k: &str, kvs: &[KeyValue]) {
    if kvs.is_empty() {
        return;
    }
    w.arr(k);
    for kv in kvs {
        w.elem();
        w.str("key", &kv.key);
        w.obj("value");
        any_value(w, &kv.value);
        w.close(b'}');
        w.close(b'}');
    }
    w.close(b']');
}

fn resource(w: &mut Writer<'_>, r: &Resource) {
    w.obj("resource");
    key_values(w, "attributes", &r.attributes);
    w.i32("droppedAttributesCount", r.dropped_attributes_count as i64);
    w.close(b'}');
}

fn scope(w: &mut Writer<'_>, s: &Scope) {
    w.obj("scope");
    w.str("name", &s.name);
    w.str("version", &s.version);
    key_values(w, "attributes", &s.attributes);
    w.i32("droppedAttributesCount", s.dropped_attributes_count as i64);
    w.close(b'}');
}

/// `{"<resource_key>": [{resource, <scope_key>: [{scope, <items_key>: [...], schemaUrl}], schemaUrl}]}`
fn grouped<T: Grouped>(
    w: &mut Writer<'_>,
    req: &GroupedRequest<'_, T>,
    keys: [&str; 3],
    item: fn(&mut Writer<'_>, &T),
) {
    w.open(b'{');
    if !req.groups.is_empty() {
        w.arr(keys[0]);
        for rg in &req.groups {
            w.elem();
            resource(w, rg.resource);
            w.arr(keys[1]);
            for sg in &rg.scopes {
                w.elem();
                scope(w, sg.scope);
                w.arr(keys[2]);
                for it in &sg.items {
                    w.elem();
                    item(w, it);
                    w.close(b'}');
                }
                w.close(b']');
                w.str("schemaUrl", &sg.scope.schema_url);
                w.close(b'}');
            }
            w.close(b']');
            w.str("schemaUrl", &rg.resource.schema_url);
            w.close(b'}');
        }
        w.close(b']');
    }
    w.close(b'}');
}

// --- traces ----------------------------------------------------------------------

fn span(w: &mut Writer<'_>, s: &SpanData) {
    w.hex("traceId", &s.trace_id);
    w.hex("spanId", &s.span_id);
    w.str("traceState", &s.trace_state);
    if let Some(p) = &s.parent_span_id {
        w.hex("parentSpanId", p);
    }
    w.i32("flags", s.flags as i64);
    w.str("name", &s.name);
    w.i32("kind", s.kind as i64);
    w.u64("startTimeUnixNano", s.start_time_unix_nano);
    w.u64("endTimeUnixNano", s.end_time_unix_nano);
    key_values(w, "attributes", &s.attributes);
    w.i32("droppedAttributesCount", s.dropped_attributes_count as i64);
    if !s.events.is_empty() {
        w.arr("events");
        for e in &s.events {
            w.elem();
            event(w, e);
            w.close(b'}');
        }
        w.close(b']');
    }
    w.i32("droppedEventsCount", s.dropped_events_count as i64);
    if !s.links.is_empty() {
        w.arr("links");
        for l in &s.links {
            w.elem();
            link(w, l);
            w.close(b'}');
        }
        w.close(b']');
    }
    w.i32("droppedLinksCount", s.dropped_links_count as i64);
    if let Some(st) = &s.status {
        w.obj("status");
        w.str("message", &st.message);
        w.i32("code", st.code as i64);
        w.close(b'}');
    }
}

fn event(w: &mut Writer<'_>, e: &Event) {
    w.u64("timeUnixNano", e.time_unix_nano);
    w.str("name", &e.name);
    key_values(w, "attributes", &e.attributes);
    w.i32("droppedAttributesCount", e.dropped_attributes_count as i64);
}

fn link(w: &mut Writer<'_>, l: &Link) {
    w.hex("traceId", &l.trace_id);
    w.hex("spanId", &l.span_id);
    w.str("traceState", &l.trace_state);
    key_values(w, "attributes", &l.attributes);
    w.i32("droppedAttributesCount", l.dropped_attributes_count as i64);
    w.i32("flags", l.flags as i64);
}

/// `ExportTraceServiceRequest` as OTLP/JSON.
pub fn encode_traces_json<S: Borrow<SpanData>>(spans: &[S], out: &mut Vec<u8>) {
    let req = GroupedRequest::<SpanData>::grouped(spans);
    grouped(
        &mut Writer::new(out),
        &req,
        ["resourceSpans", "scopeSpans", "spans"],
        span,
    );
}

// --- logs ------------------------------------------------------------------------

fn log_record(w: &mut Writer<'_>, r: &LogRecord) {
    w.u64("timeUnixNano", r.time_unix_nano);
    w.u64("observedTimeUnixNano", r.observed_time_unix_nano);
    w.i32("severityNumber", r.severity_number as i64);
    w.str("severityText", &r.severity_text);
    w.obj("body");
    any_value(w, &r.body);
    w.close(b'}');
    key_values(w, "attributes", &r.attributes);
    w.i32("droppedAttributesCount", r.dropped_attributes_count as i64);
    w.i32("flags", r.flags as i64);
    if let Some(t) = &r.trace_id {
        w.hex("traceId", t);
    }
    if let Some(s) = &r.span_id {
        w.hex("spanId", s);
    }
    w.str("eventName", &r.event_name);
}

/// `ExportLogsServiceRequest` as OTLP/JSON.
pub fn encode_logs_json<S: Borrow<LogRecord>>(records: &[S], out: &mut Vec<u8>) {
    let req = GroupedRequest::<LogRecord>::grouped(records);
    grouped(
        &mut Writer::new(out),
        &req,
        ["resourceLogs", "scopeLogs", "logRecords"],
        log_record,
    );
}

// --- metrics ---------------------------------------------------------------------

fn number(w: &mut Writer<'_>, double_key: &str, v: Number) {
    match v {
        Number::Double(d) => w.double(double_key, d),
        Number::Int(i) => {
            w.key("asInt");
            w.out.push(b'"');
            w.out.extend_from_slice(i.to_string().as_bytes());
            w.out.push(b'"');
        }
    }
}

fn exemplars(w: &mut Writer<'_>, es: &[Exemplar]) {
    if es.is_empty() {
        return;
    }
    w.arr("exemplars");
    for e in es {
        w.elem();
        key_values(w, "filteredAttributes", &e.filtered_attributes);
        w.u64("timeUnixNano", e.time_unix_nano);
        number(w, "asDouble", e.value);
        if let Some((t, s)) = &e.ids {
            w.hex("spanId", s);
            w.hex("traceId", t);
        }
        w.close(b'}');
    }
    w.close(b']');
}

fn number_point(w: &mut Writer<'_>, p: &NumberPoint, with_start: bool) {
    key_values(w, "attributes", &p.attributes);
    if with_start {
        w.u64("startTimeUnixNano", p.start_time_unix_nano);
    }
    w.u64("timeUnixNano", p.time_unix_nano);
    number(w, "asDouble", p.value);
    exemplars(w, &p.exemplars);
    w.i32("flags", p.flags as i64);
}

fn u64_strings(w: &mut Writer<'_>, k: &str, vs: &[u64]) {
    if vs.is_empty() {
        return;
    }
    w.arr(k);
    for v in vs {
        w.sep();
        w.out.push(b'"');
        w.out.extend_from_slice(v.to_string().as_bytes());
        w.out.push(b'"');
    }
    w.close(b']');
}

fn histogram_point(w: &mut Writer<'_>, p: &HistogramPoint) {
    key_values(w, "attributes", &p.attributes);
    w.u64("startTimeUnixNano", p.start_time_unix_nano);
    w.u64("timeUnixNano", p.time_unix_nano);
    w.u64("count", p.count);
    if let Some(s) = p.sum {
        w.double("sum", s);
    }
    u64_strings(w, "bucketCounts", &p.bucket_counts);
    if !p.explicit_bounds.is_empty() {
        w.arr("explicitBounds");
        for b in &p.explicit_bounds {
            w.sep();
            w.double_value(*b);
        }
        w.close(b']');
    }
    exemplars(w, &p.exemplars);
    w.i32("flags", p.flags as i64);
    if let Some(m) = p.min {
        w.double("min", m);
    }
    if let Some(m) = p.max {
        w.double("max", m);
    }
}

fn buckets(w: &mut Writer<'_>, k: &str, b: &Buckets) {
    w.obj(k);
    w.i32("offset", b.offset as i64);
    u64_strings(w, "bucketCounts", &b.bucket_counts);
    w.close(b'}');
}

fn exp_point(w: &mut Writer<'_>, p: &ExponentialHistogramPoint) {
    key_values(w, "attributes", &p.attributes);
    w.u64("startTimeUnixNano", p.start_time_unix_nano);
    w.u64("timeUnixNano", p.time_unix_nano);
    w.u64("count", p.count);
    if let Some(s) = p.sum {
        w.double("sum", s);
    }
    w.i32("scale", p.scale as i64);
    w.u64("zeroCount", p.zero_count);
    if let Some(b) = &p.positive {
        buckets(w, "positive", b);
    }
    if let Some(b) = &p.negative {
        buckets(w, "negative", b);
    }
    w.i32("flags", p.flags as i64);
    exemplars(w, &p.exemplars);
    if let Some(m) = p.min {
        w.double("min", m);
    }
    if let Some(m) = p.max {
        w.double("max", m);
    }
    opt_double(w, "zeroThreshold", p.zero_threshold);
}

/// A plain proto3 double: left out when +0.0 (-0.0 is written, as protobuf does).
fn opt_double(w: &mut Writer<'_>, k: &str, v: f64) {
    if v.to_bits() != 0 {
        w.double(k, v);
    }
}

fn summary_point(w: &mut Writer<'_>, p: &SummaryPoint) {
    key_values(w, "attributes", &p.attributes);
    w.u64("startTimeUnixNano", p.start_time_unix_nano);
    w.u64("timeUnixNano", p.time_unix_nano);
    w.u64("count", p.count);
    opt_double(w, "sum", p.sum);
    if !p.quantile_values.is_empty() {
        w.arr("quantileValues");
        for q in &p.quantile_values {
            w.elem();
            opt_double(w, "quantile", q.quantile);
            opt_double(w, "value", q.value);
            w.close(b'}');
        }
        w.close(b']');
    }
    w.i32("flags", p.flags as i64);
}

fn points<T>(w: &mut Writer<'_>, ps: &[T], f: impl Fn(&mut Writer<'_>, &T)) {
    if ps.is_empty() {
        return;
    }
    w.arr("dataPoints");
    for p in ps {
        w.elem();
        f(w, p);
        w.close(b'}');
    }
    w.close(b']');
}

fn metric(w: &mut Writer<'_>, m: &Metric) {
    w.str("name", &m.name);
    w.str("description", &m.description);
    w.str("unit", &m.unit);
    match &m.data {
        None => {}
        Some(MetricData::Gauge(ps)) => {
            w.obj("gauge");
            points(w, ps, |w, p| number_point(w, p, false));
            w.close(b'}');
        }
        Some(MetricData::Sum {
            points: ps,
            temporality,
            monotonic,
        }) => {
            w.obj("sum");
            points(w, ps, |w, p| number_point(w, p, true));
            w.i32("aggregationTemporality", temporality.wire() as i64);
            w.bool("isMonotonic", *monotonic);
            w.close(b'}');
        }
        Some(MetricData::Histogram {
            points: ps,
            temporality,
        }) => {
            w.obj("histogram");
            points(w, ps, histogram_point);
            w.i32("aggregationTemporality", temporality.wire() as i64);
            w.close(b'}');
        }
        Some(MetricData::ExponentialHistogram {
            points: ps,
            temporality,
        }) => {
            w.obj("exponentialHistogram");
            points(w, ps, exp_point);
            w.i32("aggregationTemporality", temporality.wire() as i64);
            w.close(b'}');
        }
        Some(MetricData::Summary(ps)) => {
            w.obj("summary");
            points(w, ps, summary_point);
            w.close(b'}');
        }
    }
    key_values(w, "metadata", &m.metadata);
}

/// `ExportMetricsServiceRequest` as OTLP/JSON.
pub fn encode_metrics_json(data: &[ResourceMetrics], out: &mut Vec<u8>) {
    let w = &mut Writer::new(out);
    w.open(b'{');
    if !data.is_empty() {
        w.arr("resourceMetrics");
        for rm in data {
            w.elem();
            resource(w, &rm.resource);
            if !rm.scope_metrics.is_empty() {
                w.arr("scopeMetrics");
                for sm in &rm.scope_metrics {
                    w.elem();
                    scope(w, &sm.scope);
                    if !sm.metrics.is_empty() {
                        w.arr("metrics");
                        for m in &sm.metrics {
                            w.elem();
                            metric(w, m);
                            w.close(b'}');
                        }
                        w.close(b']');
                    }
                    w.str("schemaUrl", &sm.scope.schema_url);
                    w.close(b'}');
                }
                w.close(b']');
            }
            w.str("schemaUrl", &rm.resource.schema_url);
            w.close(b'}');
        }
        w.close(b']');
    }
    w.close(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn worked_example_shape() {
        let mut span = SpanData::new(
            Arc::new(Resource::default()),
            Arc::new(Scope::default()),
            "op\n\"x\"",
        );
        span.trace_id = [0xab; 16];
        span.span_id = [1; 8];
        span.start_time_unix_nano = u64::MAX;
        span.attributes = vec![
            KeyValue::new("i", AnyValue::Int(-5)),
            KeyValue::new("b", AnyValue::Bytes(vec![0xff, 0, 1, 2])),
            KeyValue::new("d", AnyValue::Double(f64::NAN)),
            KeyValue::new("e", AnyValue::Empty),
        ];
        let mut out = Vec::new();
        encode_traces_json(&[span], &mut out);
        let s = String::from_utf8(out).unwrap();
        assert_eq!(
            s,
            r#"{"resourceSpans":[{"resource":{},"scopeSpans":[{"scope":{},"spans":[{"traceId":"abababababababababababababababab","spanId":"0101010101010101","name":"op\n\"x\"","kind":1,"startTimeUnixNano":"18446744073709551615","attributes":[{"key":"i","value":{"intValue":"-5"}},{"key":"b","value":{"bytesValue":"/wABAg=="}},{"key":"d","value":{"doubleValue":"NaN"}},{"key":"e","value":{}}],"status":{}}]}]}]}"#
        );
    }

    #[test]
    fn empty_request_is_an_empty_object() {
        let mut out = Vec::new();
        encode_metrics_json(&[], &mut out);
        assert_eq!(out, b"{}");
    }
}
