use std::sync::Arc;

use super::{KeyValue, Resource, Scope, SpanId, TraceId};

/// `AggregationTemporality` on the wire.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Temporality {
    /// 0: not to be sent (OTLP says it must not be used).
    Unspecified,
    /// 1: each point covers the time since the previous collection.
    Delta,
    /// 2: each point covers the time since a fixed start.
    #[default]
    Cumulative,
    /// Any other enum value (the SDK adapter passes through what it is given).
    Other(i32),
}

impl Temporality {
    /// The enum value written.
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
    /// Written as `as_int`, even when 0.
    Int(i64),
    /// Written as `as_double`, even when 0.0.
    Double(f64),
}

/// A measurement kept as an example of how a point's value came about.
#[derive(Clone, Debug, PartialEq)]
pub struct Exemplar {
    /// Attributes of the measurement that its series does not keep (dropped by a view).
    pub filtered_attributes: Vec<KeyValue>,
    /// When it was recorded, in nanoseconds since the Unix epoch.
    pub time_unix_nano: u64,
    /// The measured value.
    pub value: Number,
    /// The trace and span current when it was recorded: both ids, or neither.
    pub ids: Option<(TraceId, SpanId)>,
}

/// A data point of a [`MetricData::Gauge`] or a [`MetricData::Sum`]: one series' value.
#[derive(Clone, Debug, PartialEq)]
pub struct NumberPoint {
    /// The attributes that identify the series.
    pub attributes: Vec<KeyValue>,
    /// Start of the period the value covers, in nanoseconds since the Unix epoch; not
    /// written for gauges.
    pub start_time_unix_nano: u64,
    /// When the value was collected, in nanoseconds since the Unix epoch.
    pub time_unix_nano: u64,
    /// The series' value.
    pub value: Number,
    /// Sample measurements behind the value.
    pub exemplars: Vec<Exemplar>,
    /// `DataPointFlags`: 0x1 marks a point with no recorded value; 0 is not written.
    pub flags: u32,
}

/// A data point of a [`MetricData::Histogram`]: one series' measurements, counted in
/// buckets with explicit boundaries.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HistogramPoint {
    /// The attributes that identify the series.
    pub attributes: Vec<KeyValue>,
    /// Start of the period the point covers, in nanoseconds since the Unix epoch.
    pub start_time_unix_nano: u64,
    /// When the point was collected, in nanoseconds since the Unix epoch.
    pub time_unix_nano: u64,
    /// Number of measurements.
    pub count: u64,
    /// Sum of the measurements. Proto3 `optional`: `Some(0.0)` is written, `None` is not.
    pub sum: Option<f64>,
    /// Measurements per bucket: one more entry than `explicit_bounds`, or none at all.
    pub bucket_counts: Vec<u64>,
    /// Increasing upper bounds: bucket `i` holds values in `(bounds[i-1], bounds[i]]`,
    /// the first from -inf and the last up to +inf.
    pub explicit_bounds: Vec<f64>,
    /// Sample measurements behind the point.
    pub exemplars: Vec<Exemplar>,
    /// `DataPointFlags`: 0x1 marks a point with no recorded value; 0 is not written.
    pub flags: u32,
    /// Smallest measurement; `None` is not written, `Some` always is (±inf included).
    pub min: Option<f64>,
    /// Largest measurement; `None` is not written, `Some` always is (±inf included).
    pub max: Option<f64>,
}

/// The buckets of one sign of an [`ExponentialHistogramPoint`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Buckets {
    /// Index of the first bucket of `bucket_counts` (may be negative).
    pub offset: i32,
    /// Measurements per bucket from `offset` on: bucket `i` holds magnitudes in
    /// `(base^i, base^(i+1)]`.
    pub bucket_counts: Vec<u64>,
}

/// A data point of a [`MetricData::ExponentialHistogram`]: one series' measurements,
/// counted in buckets whose boundaries are powers of a base set by `scale`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExponentialHistogramPoint {
    /// The attributes that identify the series.
    pub attributes: Vec<KeyValue>,
    /// Start of the period the point covers, in nanoseconds since the Unix epoch.
    pub start_time_unix_nano: u64,
    /// When the point was collected, in nanoseconds since the Unix epoch.
    pub time_unix_nano: u64,
    /// Number of measurements, those in the zero bucket included.
    pub count: u64,
    /// Sum of the measurements. Proto3 `optional`: `Some(0.0)` is written, `None` is not.
    pub sum: Option<f64>,
    /// Resolution: bucket boundaries are powers of `base = 2^(2^-scale)`.
    pub scale: i32,
    /// Measurements of magnitude at most `zero_threshold` (exact zeros when it is 0).
    pub zero_count: u64,
    /// Buckets of the positive measurements; `None` is not written.
    pub positive: Option<Buckets>,
    /// Buckets of the negative measurements, by magnitude; `None` is not written.
    pub negative: Option<Buckets>,
    /// `DataPointFlags`: 0x1 marks a point with no recorded value; 0 is not written.
    pub flags: u32,
    /// Sample measurements behind the point.
    pub exemplars: Vec<Exemplar>,
    /// Smallest measurement; `None` is not written, `Some` always is.
    pub min: Option<f64>,
    /// Largest measurement; `None` is not written, `Some` always is.
    pub max: Option<f64>,
    /// Width of the zero bucket; +0.0 is not written (the SDK adapter always leaves it
    /// so: the official encoder never writes it).
    pub zero_threshold: f64,
}

/// One quantile of a [`SummaryPoint`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Quantile {
    /// The quantile, in `[0.0, 1.0]` (0.5 is the median); +0.0 is not written.
    pub quantile: f64,
    /// The measurement at that quantile; +0.0 is not written.
    pub value: f64,
}

/// A data point of a [`MetricData::Summary`]: one series' count, sum and quantiles.
/// OpenTelemetry SDKs do not produce summaries (they come from Prometheus and
/// OpenMetrics sources); the model has them so that a receiver keeps them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SummaryPoint {
    /// The attributes that identify the series.
    pub attributes: Vec<KeyValue>,
    /// Start of the period the point covers, in nanoseconds since the Unix epoch.
    pub start_time_unix_nano: u64,
    /// When the point was collected, in nanoseconds since the Unix epoch.
    pub time_unix_nano: u64,
    /// Number of measurements.
    pub count: u64,
    /// Sum of the measurements; +0.0 is not written.
    pub sum: f64,
    /// Quantiles, written in this order.
    pub quantile_values: Vec<Quantile>,
    /// `DataPointFlags`: 0x1 marks a point with no recorded value; 0 is not written.
    pub flags: u32,
}

/// A metric's kind and its data points, one per series.
#[derive(Clone, Debug, PartialEq)]
pub enum MetricData {
    /// Current values (a temperature, a queue length); no start time is written.
    Gauge(Vec<NumberPoint>),
    /// Sums of measurements over time: counters and up-down counters.
    Sum {
        /// One per series.
        points: Vec<NumberPoint>,
        /// Delta or cumulative.
        temporality: Temporality,
        /// Whether the sum only ever grows (a counter, not an up-down counter).
        monotonic: bool,
    },
    /// Distributions in buckets with explicit boundaries.
    Histogram {
        /// One per series.
        points: Vec<HistogramPoint>,
        /// Delta or cumulative.
        temporality: Temporality,
    },
    /// Distributions in exponentially growing buckets.
    ExponentialHistogram {
        /// One per series.
        points: Vec<ExponentialHistogramPoint>,
        /// Delta or cumulative.
        temporality: Temporality,
    },
    /// Precomputed quantiles (from Prometheus-style sources; no SDK instrument makes
    /// them).
    Summary(Vec<SummaryPoint>),
}

impl MetricData {
    /// Number of data points.
    pub fn point_count(&self) -> usize {
        match self {
            MetricData::Gauge(p) => p.len(),
            MetricData::Sum { points, .. } => points.len(),
            MetricData::Histogram { points, .. } => points.len(),
            MetricData::ExponentialHistogram { points, .. } => points.len(),
            MetricData::Summary(p) => p.len(),
        }
    }
}

/// One metric (an instrument's output): its identity and its data.
#[derive(Clone, Debug, PartialEq)]
pub struct Metric {
    /// The instrument's name (`http.server.request.duration`).
    pub name: String,
    /// What it measures, for people; empty when none (not written).
    pub description: String,
    /// Unit as a UCUM code (`s`, `By`, `{request}`); empty when none (not written).
    pub unit: String,
    /// `None` writes no data field (a metric with no points, as upstream does).
    pub data: Option<MetricData>,
    /// `Metric.metadata`: extra key-values from other metric sources (OpenTelemetry
    /// SDKs write none); empty when none (not written).
    pub metadata: Vec<KeyValue>,
}

/// The metrics of one instrumentation scope (meter).
#[derive(Clone, Debug, PartialEq)]
pub struct ScopeMetrics {
    /// The scope's `schema_url` is the `ScopeMetrics.schema_url`.
    pub scope: Arc<Scope>,
    /// Its metrics, written in this order.
    pub metrics: Vec<Metric>,
}

/// The metrics of one resource, by scope. Unlike spans and log records, metrics come
/// already grouped: the encoder writes them as they are.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceMetrics {
    /// The resource's `schema_url` is the `ResourceMetrics.schema_url`.
    pub resource: Arc<Resource>,
    /// Its scopes, written in this order.
    pub scope_metrics: Vec<ScopeMetrics>,
}

impl ResourceMetrics {
    /// Number of data points over all its metrics.
    pub fn point_count(&self) -> usize {
        self.scope_metrics
            .iter()
            .flat_map(|s| &s.metrics)
            .map(|m| m.data.as_ref().map_or(0, MetricData::point_count))
            .sum()
    }
}
