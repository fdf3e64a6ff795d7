use std::sync::Arc;

use super::{KeyValue, Resource, Scope, SpanId, TraceId};

/// `AggregationTemporality` on the wire.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Temporality {
    Unspecified,
    Delta,
    #[default]
    Cumulative,
    /// Any other enum value (the SDK adapter passes through what it is given).
    Other(i32),
}

impl Temporality {
    pub fn wire(self) -> i32 {
        match self {
            Temporality::Unspecified => 0,
            Temporality::Delta => 1,
            Temporality::Cumulative => 2,
            Temporality::Other(v) => v,
        }
    }
}

/// A measured number: OTLP keeps integers and doubles apart.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Number {
    Int(i64),
    Double(f64),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Exemplar {
    pub filtered_attributes: Vec<KeyValue>,
    pub time_unix_nano: u64,
    pub value: Number,
    /// Both ids, or neither.
    pub ids: Option<(TraceId, SpanId)>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NumberPoint {
    pub attributes: Vec<KeyValue>,
    pub start_time_unix_nano: u64,
    pub time_unix_nano: u64,
    pub value: Number,
    pub exemplars: Vec<Exemplar>,
    pub flags: u32,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct HistogramPoint {
    pub attributes: Vec<KeyValue>,
    pub start_time_unix_nano: u64,
    pub time_unix_nano: u64,
    pub count: u64,
    /// Proto3 `optional`: `Some(0.0)` is written.
    pub sum: Option<f64>,
    pub bucket_counts: Vec<u64>,
    pub explicit_bounds: Vec<f64>,
    pub exemplars: Vec<Exemplar>,
    pub flags: u32,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Buckets {
    pub offset: i32,
    pub bucket_counts: Vec<u64>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExponentialHistogramPoint {
    pub attributes: Vec<KeyValue>,
    pub start_time_unix_nano: u64,
    pub time_unix_nano: u64,
    pub count: u64,
    pub sum: Option<f64>,
    pub scale: i32,
    pub zero_count: u64,
    pub positive: Option<Buckets>,
    pub negative: Option<Buckets>,
    pub flags: u32,
    pub exemplars: Vec<Exemplar>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub zero_threshold: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub enum MetricData {
    Gauge(Vec<NumberPoint>),
    Sum {
        points: Vec<NumberPoint>,
        temporality: Temporality,
        monotonic: bool,
    },
    Histogram {
        points: Vec<HistogramPoint>,
        temporality: Temporality,
    },
    ExponentialHistogram {
        points: Vec<ExponentialHistogramPoint>,
        temporality: Temporality,
    },
}

impl MetricData {
    pub fn point_count(&self) -> usize {
        match self {
            MetricData::Gauge(p) => p.len(),
            MetricData::Sum { points, .. } => points.len(),
            MetricData::Histogram { points, .. } => points.len(),
            MetricData::ExponentialHistogram { points, .. } => points.len(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Metric {
    pub name: String,
    pub description: String,
    pub unit: String,
    /// `None` writes no data field (a metric with no points, as upstream does).
    pub data: Option<MetricData>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ScopeMetrics {
    /// The scope's `schema_url` is the `ScopeMetrics.schema_url`.
    pub scope: Arc<Scope>,
    pub metrics: Vec<Metric>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ResourceMetrics {
    /// The resource's `schema_url` is the `ResourceMetrics.schema_url`.
    pub resource: Arc<Resource>,
    pub scope_metrics: Vec<ScopeMetrics>,
}

impl ResourceMetrics {
    pub fn point_count(&self) -> usize {
        self.scope_metrics
            .iter()
            .flat_map(|s| &s.metrics)
            .map(|m| m.data.as_ref().map_or(0, MetricData::point_count))
            .sum()
    }
}
