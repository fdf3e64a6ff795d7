//! `ExportMetricsServiceRequest` (opentelemetry/proto/collector/metrics/v1).
//!
//! The input is already grouped (resource → scope → metric). Sizes of the grouping
//! messages are computed once, in pre-order, then the bytes are written in one pass.

use super::protobuf::*;
use crate::model::{
    Buckets, Exemplar, ExponentialHistogramPoint, HistogramPoint, Metric, MetricData, Number,
    NumberPoint, Quantile, ResourceMetrics, SummaryPoint,
};

/// A metrics request, sized and ready to be written.
pub struct MetricsRequest<'a> {
    data: &'a [ResourceMetrics],
    /// Pre-order sizes: per resource, then per scope, then per metric (metric, data).
    sizes: Vec<usize>,
    len: usize,
}

impl<'a> MetricsRequest<'a> {
    /// Size every message of `data`, which is already grouped.
    pub fn new(data: &'a [ResourceMetrics]) -> Self {
        let mut sizes = Vec::new();
        let mut len = 0;
        for rm in data {
            let rm_slot = sizes.len();
            sizes.push(0);
            let mut rm_len = len_field_len(1, resource_len(&rm.resource));
            for sm in &rm.scope_metrics {
                let sm_slot = sizes.len();
                sizes.push(0);
                let mut sm_len = len_field_len(1, scope_len(&sm.scope))
                    + opt_len_field_len(3, sm.scope.schema_url.len());
                for m in &sm.metrics {
                    let data_len = m.data.as_ref().map_or(0, data_len);
                    let m_len = metric_len(m, data_len);
                    sizes.push(m_len);
                    sizes.push(data_len);
                    sm_len += len_field_len(2, m_len);
                }
                sizes[sm_slot] = sm_len;
                rm_len += len_field_len(2, sm_len);
            }
            rm_len += opt_len_field_len(3, rm.resource.schema_url.len());
            sizes[rm_slot] = rm_len;
            len += len_field_len(1, rm_len);
        }
        Self { data, sizes, len }
    }

    /// Encoded size in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the request encodes to nothing (no resource metrics).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Append the encoded request to `buf` (exactly [`Self::len`] bytes).
    pub fn write(&self, buf: &mut Vec<u8>) {
        buf.reserve(self.len);
        let start = buf.len();
        let mut sizes = self.sizes.iter().copied();
        let mut next = || sizes.next().expect("one size per message");
        for rm in self.data {
            put_len_header(buf, 1, next());
            put_len_header(buf, 1, resource_len(&rm.resource));
            put_resource(buf, &rm.resource);
            for sm in &rm.scope_metrics {
                put_len_header(buf, 2, next());
                put_len_header(buf, 1, scope_len(&sm.scope));
                put_scope(buf, &sm.scope);
                for m in &sm.metrics {
                    let m_len = next();
                    let data_len = next();
                    put_len_header(buf, 2, m_len);
                    put_metric(buf, m, data_len);
                }
                put_opt_bytes_field(buf, 3, sm.scope.schema_url.as_bytes());
            }
            put_opt_bytes_field(buf, 3, rm.resource.schema_url.as_bytes());
        }
        debug_assert_eq!(buf.len() - start, self.len);
    }
}

/// Encode `data` as an `ExportMetricsServiceRequest`, appended to `buf`.
pub fn encode_metrics_request(data: &[ResourceMetrics], buf: &mut Vec<u8>) {
    MetricsRequest::new(data).write(buf);
}

fn data_field(data: &MetricData) -> u32 {
    match data {
        MetricData::Gauge(_) => 5,
        MetricData::Sum { .. } => 7,
        MetricData::Histogram { .. } => 9,
        MetricData::ExponentialHistogram { .. } => 10,
        MetricData::Summary(_) => 11,
    }
}

fn metric_len(m: &Metric, data_len: usize) -> usize {
    opt_len_field_len(1, m.name.len())
        + opt_len_field_len(2, m.description.len())
        + opt_len_field_len(3, m.unit.len())
        + m.data
            .as_ref()
            .map_or(0, |d| len_field_len(data_field(d), data_len))
        + key_values_len(12, &m.metadata)
}

fn put_metric(buf: &mut Vec<u8>, m: &Metric, data_len: usize) {
    put_opt_bytes_field(buf, 1, m.name.as_bytes());
    put_opt_bytes_field(buf, 2, m.description.as_bytes());
    put_opt_bytes_field(buf, 3, m.unit.as_bytes());
    if let Some(d) = &m.data {
        put_len_header(buf, data_field(d), data_len);
        put_data(buf, d);
    }
    put_key_values(buf, 12, &m.metadata);
}

/// Size of the Gauge / Sum / Histogram / ExponentialHistogram message.
fn data_len(d: &MetricData) -> usize {
    match d {
        MetricData::Gauge(points) => points
            .iter()
            .map(|p| len_field_len(1, number_point_len(p, false)))
            .sum(),
        MetricData::Sum {
            points,
            temporality,
            monotonic,
        } => {
            points
                .iter()
                .map(|p| len_field_len(1, number_point_len(p, true)))
                .sum::<usize>()
                + opt_varint_field_len(2, temporality.wire() as i64 as u64)
                + opt_varint_field_len(3, *monotonic as u64)
        }
        MetricData::Histogram {
            points,
            temporality,
        } => {
            points
                .iter()
                .map(|p| len_field_len(1, histogram_point_len(p)))
                .sum::<usize>()
                + opt_varint_field_len(2, temporality.wire() as i64 as u64)
        }
        MetricData::ExponentialHistogram {
            points,
            temporality,
        } => {
            points
                .iter()
                .map(|p| len_field_len(1, exp_point_len(p)))
                .sum::<usize>()
                + opt_varint_field_len(2, temporality.wire() as i64 as u64)
        }
        MetricData::Summary(points) => points
            .iter()
            .map(|p| len_field_len(1, summary_point_len(p)))
            .sum(),
    }
}

fn put_data(buf: &mut Vec<u8>, d: &MetricData) {
    match d {
        MetricData::Gauge(points) => {
            for p in points {
                put_len_header(buf, 1, number_point_len(p, false));
                put_number_point(buf, p, false);
            }
        }
        MetricData::Sum {
            points,
            temporality,
            monotonic,
        } => {
            for p in points {
                put_len_header(buf, 1, number_point_len(p, true));
                put_number_point(buf, p, true);
            }
            put_opt_varint_field(buf, 2, temporality.wire() as i64 as u64);
            put_opt_varint_field(buf, 3, *monotonic as u64);
        }
        MetricData::Histogram {
            points,
            temporality,
        } => {
            for p in points {
                put_len_header(buf, 1, histogram_point_len(p));
                put_histogram_point(buf, p);
            }
            put_opt_varint_field(buf, 2, temporality.wire() as i64 as u64);
        }
        MetricData::ExponentialHistogram {
            points,
            temporality,
        } => {
            for p in points {
                put_len_header(buf, 1, exp_point_len(p));
                put_exp_point(buf, p);
            }
            put_opt_varint_field(buf, 2, temporality.wire() as i64 as u64);
        }
        MetricData::Summary(points) => {
            for p in points {
                put_len_header(buf, 1, summary_point_len(p));
                put_summary_point(buf, p);
            }
        }
    }
}

// --- points ---------------------------------------------------------------------

/// A oneof `as_double` / `as_int` value (always written, even zero).
const fn number_len() -> usize {
    9
}

fn put_number(buf: &mut Vec<u8>, double_field: u32, int_field: u32, v: Number) {
    match v {
        Number::Double(d) => {
            put_tag(buf, double_field, WIRE_FIXED64);
            buf.extend_from_slice(&d.to_le_bytes());
        }
        Number::Int(i) => {
            put_tag(buf, int_field, WIRE_FIXED64);
            buf.extend_from_slice(&i.to_le_bytes());
        }
    }
}

/// `NumberDataPoint`: gauge points carry no start time.
fn number_point_len(p: &NumberPoint, with_start: bool) -> usize {
    (if with_start {
        opt_fixed64_field_len(2, p.start_time_unix_nano)
    } else {
        0
    }) + opt_fixed64_field_len(3, p.time_unix_nano)
        + number_len()
        + exemplars_len(5, &p.exemplars)
        + key_values_len(7, &p.attributes)
        + opt_varint_field_len(8, p.flags as u64)
}

fn put_number_point(buf: &mut Vec<u8>, p: &NumberPoint, with_start: bool) {
    if with_start {
        put_opt_fixed64_field(buf, 2, p.start_time_unix_nano);
    }
    put_opt_fixed64_field(buf, 3, p.time_unix_nano);
    // Field order: as_double (4), exemplars (5), as_int (6), attributes (7), flags (8).
    if let Number::Double(_) = p.value {
        put_number(buf, 4, 6, p.value);
    }
    put_exemplars(buf, 5, &p.exemplars);
    if let Number::Int(_) = p.value {
        put_number(buf, 4, 6, p.value);
    }
    put_key_values(buf, 7, &p.attributes);
    put_opt_varint_field(buf, 8, p.flags as u64);
}

fn opt_double_len(field: u32, v: Option<f64>) -> usize {
    v.map_or(0, |_| tag_len(field) + 8)
}

fn put_opt_double(buf: &mut Vec<u8>, field: u32, v: Option<f64>) {
    if let Some(v) = v {
        put_tag(buf, field, WIRE_FIXED64);
        buf.extend_from_slice(&v.to_le_bytes());
    }
}

fn packed_fixed_len(field: u32, n: usize) -> usize {
    opt_len_field_len(field, 8 * n)
}

fn histogram_point_len(p: &HistogramPoint) -> usize {
    opt_fixed64_field_len(2, p.start_time_unix_nano)
        + opt_fixed64_field_len(3, p.time_unix_nano)
        + opt_fixed64_field_len(4, p.count)
        + opt_double_len(5, p.sum)
        + packed_fixed_len(6, p.bucket_counts.len())
        + packed_fixed_len(7, p.explicit_bounds.len())
        + exemplars_len(8, &p.exemplars)
        + key_values_len(9, &p.attributes)
        + opt_varint_field_len(10, p.flags as u64)
        + opt_double_len(11, p.min)
        + opt_double_len(12, p.max)
}

fn put_histogram_point(buf: &mut Vec<u8>, p: &HistogramPoint) {
    put_opt_fixed64_field(buf, 2, p.start_time_unix_nano);
    put_opt_fixed64_field(buf, 3, p.time_unix_nano);
    put_opt_fixed64_field(buf, 4, p.count);
    put_opt_double(buf, 5, p.sum);
    if !p.bucket_counts.is_empty() {
        put_len_header(buf, 6, 8 * p.bucket_counts.len());
        for c in &p.bucket_counts {
            buf.extend_from_slice(&c.to_le_bytes());
        }
    }
    if !p.explicit_bounds.is_empty() {
        put_len_header(buf, 7, 8 * p.explicit_bounds.len());
        for b in &p.explicit_bounds {
            buf.extend_from_slice(&b.to_le_bytes());
        }
    }
    put_exemplars(buf, 8, &p.exemplars);
    put_key_values(buf, 9, &p.attributes);
    put_opt_varint_field(buf, 10, p.flags as u64);
    put_opt_double(buf, 11, p.min);
    put_opt_double(buf, 12, p.max);
}

#[inline]
fn zigzag(v: i32) -> u64 {
    ((v << 1) ^ (v >> 31)) as u32 as u64
}

fn buckets_len(b: &Buckets) -> usize {
    let counts: usize = b.bucket_counts.iter().map(|c| varint_len(*c)).sum();
    opt_varint_field_len(1, zigzag(b.offset)) + opt_len_field_len(2, counts)
}

fn put_buckets(buf: &mut Vec<u8>, b: &Buckets) {
    put_opt_varint_field(buf, 1, zigzag(b.offset));
    let counts: usize = b.bucket_counts.iter().map(|c| varint_len(*c)).sum();
    if counts > 0 {
        put_len_header(buf, 2, counts);
        for c in &b.bucket_counts {
            put_varint(buf, *c);
        }
    }
}

fn exp_point_len(p: &ExponentialHistogramPoint) -> usize {
    key_values_len(1, &p.attributes)
        + opt_fixed64_field_len(2, p.start_time_unix_nano)
        + opt_fixed64_field_len(3, p.time_unix_nano)
        + opt_fixed64_field_len(4, p.count)
        + opt_double_len(5, p.sum)
        + opt_varint_field_len(6, zigzag(p.scale))
        + opt_fixed64_field_len(7, p.zero_count)
        + p.positive
            .as_ref()
            .map_or(0, |b| len_field_len(8, buckets_len(b)))
        + p.negative
            .as_ref()
            .map_or(0, |b| len_field_len(9, buckets_len(b)))
        + opt_varint_field_len(10, p.flags as u64)
        + exemplars_len(11, &p.exemplars)
        + opt_double_len(12, p.min)
        + opt_double_len(13, p.max)
        + opt_fixed64_field_len(14, p.zero_threshold.to_bits())
}

fn put_exp_point(buf: &mut Vec<u8>, p: &ExponentialHistogramPoint) {
    put_key_values(buf, 1, &p.attributes);
    put_opt_fixed64_field(buf, 2, p.start_time_unix_nano);
    put_opt_fixed64_field(buf, 3, p.time_unix_nano);
    put_opt_fixed64_field(buf, 4, p.count);
    put_opt_double(buf, 5, p.sum);
    put_opt_varint_field(buf, 6, zigzag(p.scale));
    put_opt_fixed64_field(buf, 7, p.zero_count);
    if let Some(b) = &p.positive {
        put_len_header(buf, 8, buckets_len(b));
        put_buckets(buf, b);
    }
    if let Some(b) = &p.negative {
        put_len_header(buf, 9, buckets_len(b));
        put_buckets(buf, b);
    }
    put_opt_varint_field(buf, 10, p.flags as u64);
    put_exemplars(buf, 11, &p.exemplars);
    put_opt_double(buf, 12, p.min);
    put_opt_double(buf, 13, p.max);
    // A double field is omitted when +0.0 (proto3 default); -0.0 is written.
    put_opt_fixed64_field(buf, 14, p.zero_threshold.to_bits());
}

fn quantile_len(q: &Quantile) -> usize {
    opt_fixed64_field_len(1, q.quantile.to_bits()) + opt_fixed64_field_len(2, q.value.to_bits())
}

fn summary_point_len(p: &SummaryPoint) -> usize {
    opt_fixed64_field_len(2, p.start_time_unix_nano)
        + opt_fixed64_field_len(3, p.time_unix_nano)
        + opt_fixed64_field_len(4, p.count)
        + opt_fixed64_field_len(5, p.sum.to_bits())
        + p.quantile_values
            .iter()
            .map(|q| len_field_len(6, quantile_len(q)))
            .sum::<usize>()
        + key_values_len(7, &p.attributes)
        + opt_varint_field_len(8, p.flags as u64)
}

fn put_summary_point(buf: &mut Vec<u8>, p: &SummaryPoint) {
    put_opt_fixed64_field(buf, 2, p.start_time_unix_nano);
    put_opt_fixed64_field(buf, 3, p.time_unix_nano);
    put_opt_fixed64_field(buf, 4, p.count);
    // Plain proto3 doubles: omitted when +0.0, -0.0 written (as protobuf does).
    put_opt_fixed64_field(buf, 5, p.sum.to_bits());
    for q in &p.quantile_values {
        put_len_header(buf, 6, quantile_len(q));
        put_opt_fixed64_field(buf, 1, q.quantile.to_bits());
        put_opt_fixed64_field(buf, 2, q.value.to_bits());
    }
    put_key_values(buf, 7, &p.attributes);
    put_opt_varint_field(buf, 8, p.flags as u64);
}

fn exemplar_len(e: &Exemplar) -> usize {
    opt_fixed64_field_len(2, e.time_unix_nano)
        + number_len()
        + e.ids.map_or(0, |(t, s)| {
            len_field_len(4, s.len()) + len_field_len(5, t.len())
        })
        + key_values_len(7, &e.filtered_attributes)
}

fn exemplars_len(field: u32, es: &[Exemplar]) -> usize {
    es.iter()
        .map(|e| len_field_len(field, exemplar_len(e)))
        .sum()
}

fn put_exemplars(buf: &mut Vec<u8>, field: u32, es: &[Exemplar]) {
    for e in es {
        put_len_header(buf, field, exemplar_len(e));
        put_opt_fixed64_field(buf, 2, e.time_unix_nano);
        // as_double (3), span_id (4), trace_id (5), as_int (6), filtered_attributes (7)
        if let Number::Double(_) = e.value {
            put_number(buf, 3, 6, e.value);
        }
        if let Some((trace_id, span_id)) = &e.ids {
            put_bytes_field(buf, 4, span_id);
            put_bytes_field(buf, 5, trace_id);
        }
        if let Number::Int(_) = e.value {
            put_number(buf, 3, 6, e.value);
        }
        put_key_values(buf, 7, &e.filtered_attributes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AnyValue, KeyValue, Resource, Scope, ScopeMetrics, Temporality};
    use std::sync::Arc;

    fn request(data: MetricData) -> Vec<u8> {
        let rm = ResourceMetrics {
            resource: Arc::new(Resource::default()),
            scope_metrics: vec![ScopeMetrics {
                scope: Arc::new(Scope {
                    name: "s".into(),
                    ..Scope::default()
                }),
                metrics: vec![Metric {
                    name: "m".into(),
                    description: String::new(),
                    unit: String::new(),
                    data: Some(data),
                    metadata: Vec::new(),
                }],
            }],
        };
        let req = MetricsRequest::new(std::slice::from_ref(&rm));
        let mut buf = Vec::new();
        req.write(&mut buf);
        assert_eq!(buf.len(), req.len());
        buf
    }

    #[test]
    fn sizes_match_for_every_kind() {
        let attrs = vec![KeyValue::new("k", AnyValue::Int(1))];
        let ex = Exemplar {
            filtered_attributes: attrs.clone(),
            time_unix_nano: 5,
            value: Number::Int(-3),
            ids: Some(([1; 16], [2; 8])),
        };
        request(MetricData::Gauge(vec![NumberPoint {
            attributes: attrs.clone(),
            start_time_unix_nano: 1,
            time_unix_nano: 2,
            value: Number::Double(0.0),
            exemplars: vec![ex.clone()],
            flags: 0,
        }]));
        request(MetricData::Sum {
            points: vec![NumberPoint {
                attributes: attrs.clone(),
                start_time_unix_nano: 1,
                time_unix_nano: 2,
                value: Number::Int(i64::MIN),
                exemplars: vec![],
                flags: 1,
            }],
            temporality: Temporality::Delta,
            monotonic: true,
        });
        request(MetricData::Histogram {
            points: vec![HistogramPoint {
                count: 3,
                sum: Some(0.0),
                bucket_counts: vec![1, 2],
                explicit_bounds: vec![5.0],
                min: Some(f64::INFINITY),
                max: Some(f64::NEG_INFINITY),
                exemplars: vec![ex],
                ..HistogramPoint::default()
            }],
            temporality: Temporality::Cumulative,
        });
        request(MetricData::ExponentialHistogram {
            points: vec![ExponentialHistogramPoint {
                scale: -3,
                zero_count: 1,
                positive: Some(Buckets {
                    offset: -5,
                    bucket_counts: vec![1, 300, 0],
                }),
                negative: Some(Buckets::default()),
                zero_threshold: -0.0,
                ..ExponentialHistogramPoint::default()
            }],
            temporality: Temporality::Delta,
        });
    }

    #[test]
    fn gauge_points_have_no_start_time_and_zero_is_written() {
        let buf = request(MetricData::Gauge(vec![NumberPoint {
            attributes: vec![],
            start_time_unix_nano: 7,
            time_unix_nano: 0,
            value: Number::Int(0),
            exemplars: vec![],
            flags: 0,
        }]));
        // ... metric { name "m", gauge (5) { data_points (1) { as_int (6): 0 } } }
        assert!(buf.ends_with(&[0x2a, 0x0b, 0x0a, 0x09, 0x31, 0, 0, 0, 0, 0, 0, 0, 0]));
    }

    #[test]
    fn zigzag_matches_protobuf() {
        assert_eq!(zigzag(0), 0);
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
        assert_eq!(zigzag(i32::MIN), u32::MAX as u64);
    }
}
