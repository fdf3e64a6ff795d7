//! Protobuf bodies, read with [`Reader`] straight from the body's bytes: nothing is
//! copied until the model's own strings and vectors are built.
//!
//! As protobuf parsers do, a field seen twice is merged (the last scalar wins, repeated
//! fields append, sub-messages merge), a known field number with an unexpected wire
//! type is skipped like an unknown field, and repeated numbers are read packed or not.

use std::sync::Arc;

use super::{Budget, DecodeError};
use crate::decode::{Field, Reader};
use crate::model::{
    AnyValue, Buckets, Event, Exemplar, ExponentialHistogramPoint, HistogramPoint, KeyValue, Link,
    LogRecord, Metric, MetricData, Number, NumberPoint, Quantile, Resource, ResourceMetrics, Scope,
    ScopeMetrics, SpanData, SpanKind, StatusCode, SummaryPoint, Temporality,
};

type R<T> = Result<T, DecodeError>;

fn malformed(what: impl Into<String>) -> DecodeError {
    DecodeError::Malformed {
        format: "protobuf",
        what: what.into(),
    }
}

/// The fields of `buf`, a `message`.
fn fields<'a>(
    buf: &'a [u8],
    message: &'static str,
) -> impl Iterator<Item = R<(u32, Field<'a>)>> + 'a {
    Reader::new(buf).map(move |f| f.map_err(|_| malformed(format!("bad field in {message}"))))
}

fn text(b: &[u8], what: &'static str) -> R<String> {
    match std::str::from_utf8(b) {
        Ok(s) => Ok(s.to_owned()),
        Err(_) => Err(malformed(format!("{what} is not valid UTF-8"))),
    }
}

/// A trace or span id: exactly `N` bytes (an empty one reads as all zeros, the
/// invalid id, as protobuf's default).
fn id<const N: usize>(b: &[u8], what: &'static str) -> R<[u8; N]> {
    if b.is_empty() {
        return Ok([0; N]);
    }
    b.try_into()
        .map_err(|_| malformed(format!("{what} must be {N} bytes, got {}", b.len())))
}

/// An optional id: empty means absent.
fn opt_id<const N: usize>(b: &[u8], what: &'static str) -> R<Option<[u8; N]>> {
    if b.is_empty() {
        return Ok(None);
    }
    id(b, what).map(Some)
}

fn zigzag32(v: u64) -> i32 {
    let v = v as u32;
    ((v >> 1) as i32) ^ -((v & 1) as i32)
}

// --- common.v1 ----------------------------------------------------------------------

fn any_value(buf: &[u8], b: &mut Budget) -> R<AnyValue> {
    let mut v = AnyValue::Empty;
    for f in fields(buf, "AnyValue") {
        v = match f? {
            (1, Field::Len(s)) => AnyValue::String(text(s, "string_value")?.into()),
            (2, Field::Varint(x)) => AnyValue::Bool(x != 0),
            (3, Field::Varint(x)) => AnyValue::Int(x as i64),
            (4, Field::Fixed64(x)) => AnyValue::Double(f64::from_bits(x)),
            (5, Field::Len(array)) => {
                b.enter()?;
                let mut items = match v {
                    AnyValue::Array(items) => items,
                    _ => Vec::new(),
                };
                for f in fields(array, "ArrayValue") {
                    if let (1, Field::Len(item)) = f? {
                        b.take::<AnyValue>()?;
                        items.push(any_value(item, b)?);
                    }
                }
                b.leave();
                AnyValue::Array(items)
            }
            (6, Field::Len(list)) => {
                b.enter()?;
                let mut kvs = match v {
                    AnyValue::KvList(kvs) => kvs,
                    _ => Vec::new(),
                };
                for f in fields(list, "KeyValueList") {
                    if let (1, Field::Len(kv)) = f? {
                        kvs.push(key_value(kv, b)?);
                    }
                }
                b.leave();
                AnyValue::KvList(kvs)
            }
            (7, Field::Len(bytes)) => AnyValue::Bytes(bytes.to_vec()),
            _ => continue,
        };
    }
    Ok(v)
}

fn key_value(buf: &[u8], b: &mut Budget) -> R<KeyValue> {
    b.take::<KeyValue>()?;
    let mut kv = KeyValue::new(String::new(), AnyValue::Empty);
    for f in fields(buf, "KeyValue") {
        match f? {
            (1, Field::Len(k)) => kv.key = text(k, "KeyValue.key")?.into(),
            (2, Field::Len(v)) => {
                let next = any_value(v, b)?;
                kv.value = merge_any(std::mem::replace(&mut kv.value, AnyValue::Empty), next);
            }
            _ => {}
        }
    }
    Ok(kv)
}

fn push_key_value(kvs: &mut Vec<KeyValue>, buf: &[u8], b: &mut Budget) -> R<()> {
    kvs.push(key_value(buf, b)?);
    Ok(())
}

fn resource(buf: &[u8], r: &mut Resource, b: &mut Budget) -> R<()> {
    for f in fields(buf, "Resource") {
        match f? {
            (1, Field::Len(kv)) => push_key_value(&mut r.attributes, kv, b)?,
            (2, Field::Varint(n)) => r.dropped_attributes_count = n as u32,
            _ => {}
        }
    }
    Ok(())
}

fn scope(buf: &[u8], s: &mut Scope, b: &mut Budget) -> R<()> {
    for f in fields(buf, "InstrumentationScope") {
        match f? {
            (1, Field::Len(n)) => s.name = text(n, "InstrumentationScope.name")?,
            (2, Field::Len(v)) => s.version = text(v, "InstrumentationScope.version")?,
            (3, Field::Len(kv)) => push_key_value(&mut s.attributes, kv, b)?,
            (4, Field::Varint(n)) => s.dropped_attributes_count = n as u32,
            _ => {}
        }
    }
    Ok(())
}

/// The shape shared by the three requests: `resource_* { resource = 1; scope_* = 2;
/// schema_url = 3 }` and `scope_* { scope = 1; items = 2; schema_url = 3 }`. Calls
/// `item` for each item with the shared resource and scope, which are read first
/// whatever the order of the fields.
fn grouped(
    body: &[u8],
    names: [&'static str; 3],
    b: &mut Budget,
    mut item: impl FnMut(&[u8], &Arc<Resource>, &Arc<Scope>, &mut Budget) -> R<()>,
) -> R<()> {
    let [request, resource_msg, scope_msg] = names;
    for f in fields(body, request) {
        let (1, Field::Len(rs)) = f? else { continue };
        let mut res = Resource::default();
        for f in fields(rs, resource_msg) {
            match f? {
                (1, Field::Len(r)) => resource(r, &mut res, b)?,
                (3, Field::Len(u)) => res.schema_url = text(u, "schema_url")?,
                _ => {}
            }
        }
        b.take::<Resource>()?;
        let res = Arc::new(res);
        for f in fields(rs, resource_msg) {
            let (2, Field::Len(ss)) = f? else { continue };
            let mut sc = Scope::default();
            for f in fields(ss, scope_msg) {
                match f? {
                    (1, Field::Len(s)) => scope(s, &mut sc, b)?,
                    (3, Field::Len(u)) => sc.schema_url = text(u, "schema_url")?,
                    _ => {}
                }
            }
            b.take::<Scope>()?;
            let sc = Arc::new(sc);
            for f in fields(ss, scope_msg) {
                if let (2, Field::Len(it)) = f? {
                    item(it, &res, &sc, b)?;
                }
            }
        }
    }
    Ok(())
}

// --- trace.v1 -----------------------------------------------------------------------

pub(super) fn traces(body: &[u8], b: &mut Budget) -> R<Vec<SpanData>> {
    let mut spans = Vec::new();
    grouped(
        body,
        ["ExportTraceServiceRequest", "ResourceSpans", "ScopeSpans"],
        b,
        |buf, r, s, b| {
            b.take::<SpanData>()?;
            spans.push(span(buf, r, s, b)?);
            Ok(())
        },
    )?;
    Ok(spans)
}

fn span(buf: &[u8], r: &Arc<Resource>, s: &Arc<Scope>, b: &mut Budget) -> R<SpanData> {
    let mut sp = SpanData::new(r.clone(), s.clone(), "");
    sp.kind = SpanKind::Unspecified;
    sp.status = None;
    for f in fields(buf, "Span") {
        match f? {
            (1, Field::Len(t)) => sp.trace_id = id(t, "Span.trace_id")?,
            (2, Field::Len(t)) => sp.span_id = id(t, "Span.span_id")?,
            (3, Field::Len(t)) => sp.trace_state = text(t, "Span.trace_state")?,
            (4, Field::Len(t)) => sp.parent_span_id = opt_id(t, "Span.parent_span_id")?,
            (5, Field::Len(t)) => sp.name = text(t, "Span.name")?.into(),
            (6, Field::Varint(k)) => {
                sp.kind = SpanKind::from_wire(k as i32)
                    .ok_or_else(|| malformed(format!("Span.kind {} is not a SpanKind", k as i32)))?
            }
            (7, Field::Fixed64(t)) => sp.start_time_unix_nano = t,
            (8, Field::Fixed64(t)) => sp.end_time_unix_nano = t,
            (9, Field::Len(kv)) => push_key_value(&mut sp.attributes, kv, b)?,
            (10, Field::Varint(n)) => sp.dropped_attributes_count = n as u32,
            (11, Field::Len(e)) => {
                b.take::<Event>()?;
                sp.events.push(event(e, b)?)
            }
            (12, Field::Varint(n)) => sp.dropped_events_count = n as u32,
            (13, Field::Len(l)) => {
                b.take::<Link>()?;
                sp.links.push(link(l, b)?)
            }
            (14, Field::Varint(n)) => sp.dropped_links_count = n as u32,
            (15, Field::Len(st)) => {
                let mut status = sp.status.take().unwrap_or_default();
                for f in fields(st, "Status") {
                    match f? {
                        (2, Field::Len(m)) => status.message = text(m, "Status.message")?,
                        (3, Field::Varint(c)) => {
                            status.code = StatusCode::from_wire(c as i32).ok_or_else(|| {
                                malformed(format!("Status.code {} is not a StatusCode", c as i32))
                            })?
                        }
                        _ => {}
                    }
                }
                sp.status = Some(status);
            }
            (16, Field::Fixed32(x)) => sp.flags = x,
            _ => {}
        }
    }
    Ok(sp)
}

fn event(buf: &[u8], b: &mut Budget) -> R<Event> {
    let mut e = Event::default();
    for f in fields(buf, "Span.Event") {
        match f? {
            (1, Field::Fixed64(t)) => e.time_unix_nano = t,
            (2, Field::Len(n)) => e.name = text(n, "Span.Event.name")?,
            (3, Field::Len(kv)) => push_key_value(&mut e.attributes, kv, b)?,
            (4, Field::Varint(n)) => e.dropped_attributes_count = n as u32,
            _ => {}
        }
    }
    Ok(e)
}

fn link(buf: &[u8], b: &mut Budget) -> R<Link> {
    let mut l = Link::default();
    for f in fields(buf, "Span.Link") {
        match f? {
            (1, Field::Len(t)) => l.trace_id = id(t, "Span.Link.trace_id")?,
            (2, Field::Len(t)) => l.span_id = id(t, "Span.Link.span_id")?,
            (3, Field::Len(t)) => l.trace_state = text(t, "Span.Link.trace_state")?,
            (4, Field::Len(kv)) => push_key_value(&mut l.attributes, kv, b)?,
            (5, Field::Varint(n)) => l.dropped_attributes_count = n as u32,
            (6, Field::Fixed32(x)) => l.flags = x,
            _ => {}
        }
    }
    Ok(l)
}

// --- logs.v1 ------------------------------------------------------------------------

pub(super) fn logs(body: &[u8], b: &mut Budget) -> R<Vec<LogRecord>> {
    let mut records = Vec::new();
    grouped(
        body,
        ["ExportLogsServiceRequest", "ResourceLogs", "ScopeLogs"],
        b,
        |buf, r, s, b| {
            b.take::<LogRecord>()?;
            records.push(log_record(buf, r, s, b)?);
            Ok(())
        },
    )?;
    Ok(records)
}

fn log_record(buf: &[u8], r: &Arc<Resource>, s: &Arc<Scope>, b: &mut Budget) -> R<LogRecord> {
    let mut l = LogRecord::new(r.clone(), s.clone(), AnyValue::Empty);
    for f in fields(buf, "LogRecord") {
        match f? {
            (1, Field::Fixed64(t)) => l.time_unix_nano = t,
            (2, Field::Varint(n)) => l.severity_number = n as i32,
            (3, Field::Len(t)) => l.severity_text = text(t, "LogRecord.severity_text")?,
            (5, Field::Len(v)) => {
                // Sub-messages merge: a second body of another kind replaces the first.
                let next = any_value(v, b)?;
                l.body = merge_any(std::mem::replace(&mut l.body, AnyValue::Empty), next);
            }
            (6, Field::Len(kv)) => push_key_value(&mut l.attributes, kv, b)?,
            (7, Field::Varint(n)) => l.dropped_attributes_count = n as u32,
            (8, Field::Fixed32(x)) => l.flags = x,
            (9, Field::Len(t)) => l.trace_id = opt_id(t, "LogRecord.trace_id")?,
            (10, Field::Len(t)) => l.span_id = opt_id(t, "LogRecord.span_id")?,
            (11, Field::Fixed64(t)) => l.observed_time_unix_nano = t,
            (12, Field::Len(t)) => l.event_name = text(t, "LogRecord.event_name")?,
            _ => {}
        }
    }
    Ok(l)
}

/// Two occurrences of one `AnyValue` field, merged as protobuf does: an empty value
/// keeps the first; arrays and lists append; otherwise the second wins.
fn merge_any(first: AnyValue, second: AnyValue) -> AnyValue {
    match (first, second) {
        (first, AnyValue::Empty) => first,
        (AnyValue::Array(mut a), AnyValue::Array(b)) => {
            a.extend(b);
            AnyValue::Array(a)
        }
        (AnyValue::KvList(mut a), AnyValue::KvList(b)) => {
            a.extend(b);
            AnyValue::KvList(a)
        }
        (_, second) => second,
    }
}

// --- metrics.v1 ---------------------------------------------------------------------

pub(super) fn metrics(body: &[u8], b: &mut Budget) -> R<Vec<ResourceMetrics>> {
    let mut out: Vec<ResourceMetrics> = Vec::new();
    grouped(
        body,
        [
            "ExportMetricsServiceRequest",
            "ResourceMetrics",
            "ScopeMetrics",
        ],
        b,
        |buf, r, s, b| {
            // Items arrive resource by resource, scope by scope: open a group when
            // either changes.
            if !out.last().is_some_and(|rm| Arc::ptr_eq(&rm.resource, r)) {
                b.take::<ResourceMetrics>()?;
                out.push(ResourceMetrics {
                    resource: r.clone(),
                    scope_metrics: Vec::new(),
                });
            }
            let rm = out.last_mut().expect("just ensured");
            if !rm
                .scope_metrics
                .last()
                .is_some_and(|sm| Arc::ptr_eq(&sm.scope, s))
            {
                b.take::<ScopeMetrics>()?;
                rm.scope_metrics.push(ScopeMetrics {
                    scope: s.clone(),
                    metrics: Vec::new(),
                });
            }
            b.take::<Metric>()?;
            let m = metric(buf, b)?;
            rm.scope_metrics
                .last_mut()
                .expect("just ensured")
                .metrics
                .push(m);
            Ok(())
        },
    )?;
    Ok(out)
}

fn metric(buf: &[u8], b: &mut Budget) -> R<Metric> {
    let mut m = Metric {
        name: String::new(),
        description: String::new(),
        unit: String::new(),
        data: None,
        metadata: Vec::new(),
    };
    for f in fields(buf, "Metric") {
        match f? {
            (1, Field::Len(t)) => m.name = text(t, "Metric.name")?,
            (2, Field::Len(t)) => m.description = text(t, "Metric.description")?,
            (3, Field::Len(t)) => m.unit = text(t, "Metric.unit")?,
            (n @ (5 | 7 | 9 | 10 | 11), Field::Len(d)) => {
                m.data = Some(data(n, d, m.data.take(), b)?);
            }
            (12, Field::Len(kv)) => push_key_value(&mut m.metadata, kv, b)?,
            _ => {}
        }
    }
    Ok(m)
}

/// The data message `field` of a metric; `prev` is the data already read, merged into
/// when of the same kind (a repeated oneof field).
fn data(field: u32, buf: &[u8], prev: Option<MetricData>, b: &mut Budget) -> R<MetricData> {
    let mut d = match (field, prev) {
        (5, Some(d @ MetricData::Gauge(_)))
        | (7, Some(d @ MetricData::Sum { .. }))
        | (9, Some(d @ MetricData::Histogram { .. }))
        | (10, Some(d @ MetricData::ExponentialHistogram { .. }))
        | (11, Some(d @ MetricData::Summary(_))) => d,
        (5, _) => MetricData::Gauge(Vec::new()),
        (7, _) => MetricData::Sum {
            points: Vec::new(),
            temporality: Temporality::Unspecified,
            monotonic: false,
        },
        (9, _) => MetricData::Histogram {
            points: Vec::new(),
            temporality: Temporality::Unspecified,
        },
        (10, _) => MetricData::ExponentialHistogram {
            points: Vec::new(),
            temporality: Temporality::Unspecified,
        },
        _ => MetricData::Summary(Vec::new()),
    };
    for f in fields(buf, "metric data") {
        match (&mut d, f?) {
            (MetricData::Gauge(points), (1, Field::Len(p)))
            | (MetricData::Sum { points, .. }, (1, Field::Len(p))) => {
                b.take::<NumberPoint>()?;
                points.push(number_point(p, b)?);
            }
            (MetricData::Histogram { points, .. }, (1, Field::Len(p))) => {
                b.take::<HistogramPoint>()?;
                points.push(histogram_point(p, b)?);
            }
            (MetricData::ExponentialHistogram { points, .. }, (1, Field::Len(p))) => {
                b.take::<ExponentialHistogramPoint>()?;
                points.push(exp_point(p, b)?);
            }
            (MetricData::Summary(points), (1, Field::Len(p))) => {
                b.take::<SummaryPoint>()?;
                points.push(summary_point(p, b)?);
            }
            (
                MetricData::Sum { temporality, .. }
                | MetricData::Histogram { temporality, .. }
                | MetricData::ExponentialHistogram { temporality, .. },
                (2, Field::Varint(t)),
            ) => *temporality = temporality_of(t as i32),
            (MetricData::Sum { monotonic, .. }, (3, Field::Varint(x))) => *monotonic = x != 0,
            _ => {}
        }
    }
    Ok(d)
}

fn temporality_of(v: i32) -> Temporality {
    match v {
        0 => Temporality::Unspecified,
        1 => Temporality::Delta,
        2 => Temporality::Cumulative,
        v => Temporality::Other(v),
    }
}

fn number_point(buf: &[u8], b: &mut Budget) -> R<NumberPoint> {
    let mut p = NumberPoint {
        attributes: Vec::new(),
        start_time_unix_nano: 0,
        time_unix_nano: 0,
        // An unset value oneof has no model: it reads as an integer 0.
        value: Number::Int(0),
        exemplars: Vec::new(),
        flags: 0,
    };
    for f in fields(buf, "NumberDataPoint") {
        match f? {
            (2, Field::Fixed64(t)) => p.start_time_unix_nano = t,
            (3, Field::Fixed64(t)) => p.time_unix_nano = t,
            (4, Field::Fixed64(x)) => p.value = Number::Double(f64::from_bits(x)),
            (5, Field::Len(e)) => push_exemplar(&mut p.exemplars, e, b)?,
            (6, Field::Fixed64(x)) => p.value = Number::Int(x as i64),
            (7, Field::Len(kv)) => push_key_value(&mut p.attributes, kv, b)?,
            (8, Field::Varint(x)) => p.flags = x as u32,
            _ => {}
        }
    }
    Ok(p)
}

/// Appends the values of a repeated `fixed64`/`double` field, packed or not.
fn push_fixed64(out: &mut Vec<u64>, f: Field<'_>, what: &'static str, b: &mut Budget) -> R<()> {
    match f {
        Field::Fixed64(x) => {
            b.take::<u64>()?;
            out.push(x)
        }
        Field::Len(packed) => {
            if packed.len() % 8 != 0 {
                return Err(malformed(format!(
                    "{what}: packed length not a multiple of 8"
                )));
            }
            // Packed values are at most the body's bytes: no charge.
            out.extend(
                packed
                    .chunks_exact(8)
                    .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default())),
            );
        }
        _ => {}
    }
    Ok(())
}

fn histogram_point(buf: &[u8], b: &mut Budget) -> R<HistogramPoint> {
    let mut p = HistogramPoint::default();
    let mut bounds = Vec::new();
    for f in fields(buf, "HistogramDataPoint") {
        match f? {
            (2, Field::Fixed64(t)) => p.start_time_unix_nano = t,
            (3, Field::Fixed64(t)) => p.time_unix_nano = t,
            (4, Field::Fixed64(n)) => p.count = n,
            (5, Field::Fixed64(x)) => p.sum = Some(f64::from_bits(x)),
            (6, f) => push_fixed64(&mut p.bucket_counts, f, "bucket_counts", b)?,
            (7, f) => push_fixed64(&mut bounds, f, "explicit_bounds", b)?,
            (8, Field::Len(e)) => push_exemplar(&mut p.exemplars, e, b)?,
            (9, Field::Len(kv)) => push_key_value(&mut p.attributes, kv, b)?,
            (10, Field::Varint(x)) => p.flags = x as u32,
            (11, Field::Fixed64(x)) => p.min = Some(f64::from_bits(x)),
            (12, Field::Fixed64(x)) => p.max = Some(f64::from_bits(x)),
            _ => {}
        }
    }
    p.explicit_bounds = bounds.into_iter().map(f64::from_bits).collect();
    Ok(p)
}

fn buckets(buf: &[u8], into: &mut Buckets, b: &mut Budget) -> R<()> {
    for f in fields(buf, "ExponentialHistogramDataPoint.Buckets") {
        match f? {
            (1, Field::Varint(x)) => into.offset = zigzag32(x),
            (2, Field::Varint(x)) => {
                b.take::<u64>()?;
                into.bucket_counts.push(x);
            }
            (2, Field::Len(packed)) => {
                let mut r = Reader::new(packed);
                while !r.buf.is_empty() {
                    b.take::<u64>()?;
                    let c = r
                        .varint()
                        .map_err(|_| malformed("bad packed bucket_counts"))?;
                    into.bucket_counts.push(c);
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn exp_point(buf: &[u8], b: &mut Budget) -> R<ExponentialHistogramPoint> {
    let mut p = ExponentialHistogramPoint::default();
    for f in fields(buf, "ExponentialHistogramDataPoint") {
        match f? {
            (1, Field::Len(kv)) => push_key_value(&mut p.attributes, kv, b)?,
            (2, Field::Fixed64(t)) => p.start_time_unix_nano = t,
            (3, Field::Fixed64(t)) => p.time_unix_nano = t,
            (4, Field::Fixed64(n)) => p.count = n,
            (5, Field::Fixed64(x)) => p.sum = Some(f64::from_bits(x)),
            (6, Field::Varint(x)) => p.scale = zigzag32(x),
            (7, Field::Fixed64(n)) => p.zero_count = n,
            (8, Field::Len(bk)) => buckets(bk, p.positive.get_or_insert_with(Buckets::default), b)?,
            (9, Field::Len(bk)) => buckets(bk, p.negative.get_or_insert_with(Buckets::default), b)?,
            (10, Field::Varint(x)) => p.flags = x as u32,
            (11, Field::Len(e)) => push_exemplar(&mut p.exemplars, e, b)?,
            (12, Field::Fixed64(x)) => p.min = Some(f64::from_bits(x)),
            (13, Field::Fixed64(x)) => p.max = Some(f64::from_bits(x)),
            (14, Field::Fixed64(x)) => p.zero_threshold = f64::from_bits(x),
            _ => {}
        }
    }
    Ok(p)
}

fn summary_point(buf: &[u8], b: &mut Budget) -> R<SummaryPoint> {
    let mut p = SummaryPoint::default();
    for f in fields(buf, "SummaryDataPoint") {
        match f? {
            (2, Field::Fixed64(t)) => p.start_time_unix_nano = t,
            (3, Field::Fixed64(t)) => p.time_unix_nano = t,
            (4, Field::Fixed64(n)) => p.count = n,
            (5, Field::Fixed64(x)) => p.sum = f64::from_bits(x),
            (6, Field::Len(q)) => {
                b.take::<Quantile>()?;
                let mut quantile = Quantile::default();
                for f in fields(q, "SummaryDataPoint.ValueAtQuantile") {
                    match f? {
                        (1, Field::Fixed64(x)) => quantile.quantile = f64::from_bits(x),
                        (2, Field::Fixed64(x)) => quantile.value = f64::from_bits(x),
                        _ => {}
                    }
                }
                p.quantile_values.push(quantile);
            }
            (7, Field::Len(kv)) => push_key_value(&mut p.attributes, kv, b)?,
            (8, Field::Varint(x)) => p.flags = x as u32,
            _ => {}
        }
    }
    Ok(p)
}

fn push_exemplar(out: &mut Vec<Exemplar>, buf: &[u8], b: &mut Budget) -> R<()> {
    b.take::<Exemplar>()?;
    let mut e = Exemplar {
        filtered_attributes: Vec::new(),
        time_unix_nano: 0,
        value: Number::Int(0),
        ids: None,
    };
    let (mut trace_id, mut span_id) = (None, None);
    for f in fields(buf, "Exemplar") {
        match f? {
            (2, Field::Fixed64(t)) => e.time_unix_nano = t,
            (3, Field::Fixed64(x)) => e.value = Number::Double(f64::from_bits(x)),
            (4, Field::Len(t)) => span_id = opt_id(t, "Exemplar.span_id")?,
            (5, Field::Len(t)) => trace_id = opt_id(t, "Exemplar.trace_id")?,
            (6, Field::Fixed64(x)) => e.value = Number::Int(x as i64),
            (7, Field::Len(kv)) => push_key_value(&mut e.filtered_attributes, kv, b)?,
            _ => {}
        }
    }
    // The model keeps both ids or neither.
    e.ids = trace_id.zip(span_id);
    out.push(e);
    Ok(())
}
