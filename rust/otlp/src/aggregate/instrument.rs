//! Instruments and their per-series aggregation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::attributes::{AttributeSet, FxBuild};
use super::kernels::{bucket_of, Summary};
use super::measurement::{check_finite, Increments, Refused};
use crate::error::{Error, Result};
use crate::model::{
    AnyValue, HistogramPoint, KeyValue, Metric, MetricData, Number, NumberPoint, Temporality,
};

/// The kinds of instrument of the OpenTelemetry metrics API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InstrumentKind {
    /// A monotonic sum of non-negative increments.
    Counter,
    /// A sum of increments that may be negative.
    UpDownCounter,
    /// A distribution of values in explicit buckets.
    Histogram,
    /// The last value set.
    Gauge,
    /// A monotonic total observed by callbacks.
    ObservableCounter,
    /// A total observed by callbacks.
    ObservableUpDownCounter,
    /// A value observed by callbacks.
    ObservableGauge,
}

impl InstrumentKind {
    /// Whether callbacks observe it (rather than the application recording it).
    pub fn is_observable(self) -> bool {
        matches!(
            self,
            Self::ObservableCounter | Self::ObservableUpDownCounter | Self::ObservableGauge
        )
    }
}

/// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TemporalityPreference {
    /// Every instrument reports totals since it started.
    #[default]
    Cumulative,
    /// Counters, histograms and observable counters report changes since the last
    /// collection; up-down counters stay cumulative.
    Delta,
    /// Synchronous counters and histograms report changes; the rest stay cumulative.
    LowMemory,
}

impl TemporalityPreference {
    /// Every preference, in the order messages list them.
    pub const ALL: [Self; 3] = [Self::Cumulative, Self::Delta, Self::LowMemory];

    /// The preference's name, as `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`
    /// spells it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cumulative => "cumulative",
            Self::Delta => "delta",
            Self::LowMemory => "lowmemory",
        }
    }

    /// Parse the setting `temporality` (any case).
    pub fn parse(s: &str) -> crate::Result<Self> {
        let lower = s.trim().to_ascii_lowercase();
        // The message quotes what was written, not its canonical form.
        match Self::ALL.iter().copied().find(|t| t.name() == lower) {
            Some(t) => Ok(t),
            None => crate::one_of("temporality", &Self::ALL, Self::name, s),
        }
    }

    /// The temporality an instrument kind gets under this preference (OTLP exporter
    /// spec, "Additional Configuration").
    pub fn for_kind(self, kind: InstrumentKind) -> Temporality {
        use InstrumentKind::*;
        match (self, kind) {
            (Self::Cumulative, _) => Temporality::Cumulative,
            (Self::Delta, Counter | Histogram | ObservableCounter) => Temporality::Delta,
            (Self::LowMemory, Counter | Histogram) => Temporality::Delta,
            _ => Temporality::Cumulative,
        }
    }
}

/// Default explicit bucket boundaries of the OTel SDK spec.
pub const DEFAULT_BOUNDARIES: [f64; 15] = [
    0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0,
    10000.0,
];

/// What an instrument is: its name, unit, kind and, for histograms, buckets.
#[derive(Clone, Debug, PartialEq)]
pub struct Descriptor {
    /// The metric's name.
    pub name: String,
    /// The metric's description.
    pub description: String,
    /// The metric's unit (UCUM, e.g. `ms`).
    pub unit: String,
    /// The kind of instrument.
    pub kind: InstrumentKind,
    /// Histogram bucket boundaries (sorted, finite, distinct).
    pub boundaries: Vec<f64>,
}

/// Longest instrument name.
const MAX_NAME_LEN: usize = 255;

impl Descriptor {
    /// A checked descriptor: a name of 1 to 255 bytes, and for a histogram
    /// `boundaries` that are finite and strictly increasing ([`DEFAULT_BOUNDARIES`]
    /// when `None`; other kinds have none).
    pub fn new(
        name: &str,
        unit: &str,
        description: &str,
        kind: InstrumentKind,
        boundaries: Option<Vec<f64>>,
    ) -> Result<Self> {
        let boundaries = match (kind, boundaries) {
            (InstrumentKind::Histogram, None) => DEFAULT_BOUNDARIES.to_vec(),
            (InstrumentKind::Histogram, Some(b)) => {
                if b.iter().any(|x| !x.is_finite()) || b.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(Error::Config(
                        "`boundaries` must be finite and strictly increasing".into(),
                    ));
                }
                b
            }
            _ => Vec::new(),
        };
        if name.is_empty() || name.len() > MAX_NAME_LEN {
            return Err(Error::Config(format!(
                "instrument name must be 1 to {MAX_NAME_LEN} characters; got {name:?}"
            )));
        }
        Ok(Self {
            name: name.to_owned(),
            description: description.to_owned(),
            unit: unit.to_owned(),
            kind,
            boundaries,
        })
    }
}

/// Longest unit under the OpenTelemetry API's rules.
const MAX_API_UNIT_LEN: usize = 63;

impl Descriptor {
    /// A descriptor by the OpenTelemetry API's rules ("Instrument name syntax", and
    /// what the official Python SDK checks): a name of 1 to 255 characters, an ASCII
    /// letter then letters, digits, `_`, `.`, `-` or `/`, kept in lower case as that
    /// SDK exports it; a unit of at most 63 ASCII characters. `boundaries` as for
    /// [`Descriptor::new`].
    pub fn opentelemetry(
        name: &str,
        unit: &str,
        description: &str,
        kind: InstrumentKind,
        boundaries: Option<Vec<f64>>,
    ) -> Result<Self> {
        let valid = name.len() <= MAX_NAME_LEN
            && name.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'/'));
        if !valid {
            return Err(Error::Config(format!(
                "instrument name {name:?} is invalid: it must be 1 to {MAX_NAME_LEN} \
                 characters, an ASCII letter followed by letters, digits, '_', '.', '-' or '/'"
            )));
        }
        if unit.len() > MAX_API_UNIT_LEN || !unit.is_ascii() {
            return Err(Error::Config(format!(
                "instrument unit {unit:?} is invalid: it must be at most {MAX_API_UNIT_LEN} \
                 ASCII characters"
            )));
        }
        Self::new(
            &name.to_ascii_lowercase(),
            unit,
            description,
            kind,
            boundaries,
        )
    }
}

/// Running state of one series.
#[derive(Clone, Debug)]
enum Agg {
    Sum(Number),
    Last(Number),
    Histogram { counts: Vec<u64>, summary: Summary },
}

#[derive(Clone, Debug)]
struct Series {
    agg: Agg,
    start: u64,
    /// Previous cumulative observation (observable counters reported as delta).
    previous: Option<Number>,
    touched: bool,
}

fn add(a: Number, b: Number) -> Number {
    match (a, b) {
        (Number::Int(x), Number::Int(y)) => match x.checked_add(y) {
            Some(v) => Number::Int(v),
            None => Number::Double(x as f64 + y as f64),
        },
        (x, y) => Number::Double(as_f64(x) + as_f64(y)),
    }
}

fn sub(a: Number, b: Number) -> Number {
    match (a, b) {
        (Number::Int(x), Number::Int(y)) => match x.checked_sub(y) {
            Some(v) => Number::Int(v),
            None => Number::Double(x as f64 - y as f64),
        },
        (x, y) => Number::Double(as_f64(x) - as_f64(y)),
    }
}

fn as_f64(n: Number) -> f64 {
    match n {
        Number::Int(i) => i as f64,
        Number::Double(d) => d,
    }
}

struct State {
    series: HashMap<AttributeSet, Series, FxBuild>,
    last_collect: u64,
}

/// One instrument's series, bounded by a cardinality limit.
pub struct Instrument {
    /// What it is.
    pub descriptor: Descriptor,
    temporality: Temporality,
    limit: usize,
    state: Mutex<State>,
}

/// The series that absorbs measurements beyond the cardinality limit.
fn overflow_set() -> AttributeSet {
    AttributeSet::new(vec![KeyValue::new(
        "otel.metric.overflow",
        AnyValue::Bool(true),
    )])
}

impl Instrument {
    /// An instrument with no series yet, keeping at most `limit` series (one of them
    /// the overflow series), its temporality chosen by `preference`.
    pub fn new(
        descriptor: Descriptor,
        preference: TemporalityPreference,
        limit: usize,
        now: u64,
    ) -> Self {
        let temporality = match descriptor.kind {
            InstrumentKind::Gauge | InstrumentKind::ObservableGauge => Temporality::Unspecified,
            kind => preference.for_kind(kind),
        };
        Self {
            descriptor,
            temporality,
            limit: limit.max(2),
            state: Mutex::new(State {
                series: HashMap::default(),
                last_collect: now,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn empty_agg(&self) -> Agg {
        match self.descriptor.kind {
            InstrumentKind::Histogram => Agg::Histogram {
                counts: vec![0; self.descriptor.boundaries.len() + 1],
                summary: Summary::default(),
            },
            InstrumentKind::Gauge | InstrumentKind::ObservableGauge => Agg::Last(Number::Int(0)),
            _ => Agg::Sum(Number::Int(0)),
        }
    }

    /// Run `f` on the series of `attrs`, creating it (or using the overflow series
    /// once `limit - 1` series exist).
    fn with_series(&self, attrs: AttributeSet, now: u64, f: impl FnOnce(&mut Series)) {
        let mut st = self.lock();
        let start = match self.temporality {
            Temporality::Delta => st.last_collect,
            _ => now,
        };
        let key = if st.series.contains_key(&attrs) || st.series.len() < self.limit - 1 {
            attrs
        } else {
            overflow_set()
        };
        let empty = self.empty_agg();
        let series = st.series.entry(key).or_insert_with(|| Series {
            agg: empty,
            start,
            previous: None,
            touched: false,
        });
        series.touched = true;
        f(series);
    }

    /// Check one measurement against this instrument's rules (see
    /// [`InstrumentKind::check`]) without recording it.
    pub fn check(&self, value: Number) -> Result<Number, Refused> {
        self.descriptor.kind.check(value)
    }

    /// Record one measurement: a counter's increment, a histogram's value, a gauge's
    /// current value (an observable's observation, as [`Self::observe`]).
    pub fn record(&self, value: Number, attrs: AttributeSet, now: u64) -> Result<(), Refused> {
        let value = self.check(value)?;
        match self.descriptor.kind {
            InstrumentKind::Counter | InstrumentKind::UpDownCounter => self.add(value, attrs, now),
            InstrumentKind::Histogram => self.record_one(as_f64(value), attrs, now),
            _ => self.observe(value, attrs, now),
        }
        Ok(())
    }

    /// Add the increments of one call to a counter or up-down counter: all of them, or
    /// none when one is refused.
    pub fn add_many(
        &self,
        increments: Increments<'_>,
        attrs: AttributeSet,
        now: u64,
    ) -> Result<(), Refused> {
        if let Some(total) = self.descriptor.kind.total(increments)? {
            self.add(total, attrs, now);
        }
        Ok(())
    }

    /// Record the values of one call to a histogram, aggregated by the kernels into
    /// `counts` (one per bucket) and `summary`: all of them, or none when one is NaN or
    /// infinite.
    pub fn record_many(
        &self,
        counts: &[u64],
        summary: &Summary,
        attrs: AttributeSet,
        now: u64,
    ) -> Result<(), Refused> {
        if summary.count > 0 {
            check_finite(summary)?;
            self.merge_histogram(counts, summary, attrs, now);
        }
        Ok(())
    }

    fn add(&self, value: Number, attrs: AttributeSet, now: u64) {
        self.with_series(attrs, now, |s| {
            if let Agg::Sum(total) = &mut s.agg {
                *total = add(*total, value);
            }
        });
    }

    fn record_one(&self, v: f64, attrs: AttributeSet, now: u64) {
        self.with_series(attrs, now, |s| {
            if let Agg::Histogram { counts, summary } = &mut s.agg {
                if let Some(c) = counts.get_mut(bucket_of(v, &self.descriptor.boundaries)) {
                    *c += 1;
                }
                summary.merge(&Summary {
                    count: 1,
                    sum: v,
                    min: v,
                    max: v,
                    nan_count: 0,
                });
            }
        });
    }

    fn merge_histogram(&self, counts: &[u64], summary: &Summary, attrs: AttributeSet, now: u64) {
        self.with_series(attrs, now, |s| {
            if let Agg::Histogram {
                counts: c,
                summary: sm,
            } = &mut s.agg
            {
                for (a, b) in c.iter_mut().zip(counts) {
                    *a += b;
                }
                sm.merge(summary);
            }
        });
    }

    /// Observations from a callback, for observable instruments: each replaces the
    /// series' value (a cumulative total for counters, the current value for gauges).
    pub fn observe(&self, value: Number, attrs: AttributeSet, now: u64) {
        self.with_series(attrs, now, |s| match &mut s.agg {
            Agg::Sum(v) | Agg::Last(v) => *v = value,
            Agg::Histogram { .. } => {}
        });
    }

    /// Points since the last collection (delta) or since the start (cumulative).
    pub fn collect(&self, now: u64) -> Option<Metric> {
        let mut st = self.lock();
        let delta = self.temporality == Temporality::Delta;
        let observable = self.descriptor.kind.is_observable();
        let mut numbers = Vec::new();
        let mut histograms = Vec::new();
        let last_collect = st.last_collect;
        for (attrs, s) in st.series.iter_mut() {
            // Observable series report only what this round observed; synchronous
            // delta series only what changed.
            if !s.touched && (observable || delta) {
                continue;
            }
            let start = if delta {
                last_collect.max(s.start)
            } else {
                s.start
            };
            match &s.agg {
                Agg::Sum(v) => {
                    let value = match (observable && delta, s.previous) {
                        (true, Some(prev)) => sub(*v, prev),
                        _ => *v,
                    };
                    numbers.push(NumberPoint {
                        attributes: attrs.to_vec(),
                        start_time_unix_nano: start,
                        time_unix_nano: now,
                        value,
                        exemplars: Vec::new(),
                        flags: 0,
                    });
                }
                Agg::Last(v) => numbers.push(NumberPoint {
                    attributes: attrs.to_vec(),
                    start_time_unix_nano: start,
                    time_unix_nano: now,
                    value: *v,
                    exemplars: Vec::new(),
                    flags: 0,
                }),
                Agg::Histogram { counts, summary } => histograms.push(HistogramPoint {
                    attributes: attrs.to_vec(),
                    start_time_unix_nano: start,
                    time_unix_nano: now,
                    count: summary.count,
                    sum: Some(summary.sum),
                    bucket_counts: counts.clone(),
                    explicit_bounds: self.descriptor.boundaries.clone(),
                    exemplars: Vec::new(),
                    flags: 0,
                    min: (summary.count > 0).then_some(summary.min),
                    max: (summary.count > 0).then_some(summary.max),
                }),
            }
        }
        // Reset what the next round must not see again.
        if delta && !observable {
            st.series.clear();
        } else {
            let keep_previous = observable && delta;
            st.series.retain(|_, s| !observable || s.touched);
            for s in st.series.values_mut() {
                if keep_previous {
                    if let Agg::Sum(v) = s.agg {
                        s.previous = Some(v);
                    }
                }
                s.touched = false;
            }
        }
        st.last_collect = now;
        drop(st);
        let data = match self.descriptor.kind {
            _ if !histograms.is_empty() => MetricData::Histogram {
                points: histograms,
                temporality: self.temporality,
            },
            _ if numbers.is_empty() => return None,
            InstrumentKind::Gauge | InstrumentKind::ObservableGauge => MetricData::Gauge(numbers),
            kind => MetricData::Sum {
                points: numbers,
                temporality: self.temporality,
                monotonic: matches!(
                    kind,
                    InstrumentKind::Counter | InstrumentKind::ObservableCounter
                ),
            },
        };
        Some(Metric {
            name: self.descriptor.name.clone(),
            description: self.descriptor.description.clone(),
            unit: self.descriptor.unit.clone(),
            data: Some(data),
            metadata: Vec::new(),
        })
    }

    /// Forget every series (in a forked child: they belong to the parent).
    pub fn reset(&self, now: u64) {
        let mut st = self.lock();
        st.series.clear();
        st.last_collect = now;
    }

    /// Number of live series (for tests and stats).
    pub fn series_count(&self) -> usize {
        self.lock().series.len()
    }
}

/// The instruments of one scope, shared with the exporter's reader.
pub type SharedInstrument = Arc<Instrument>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::{Increments, Refused};

    fn desc(kind: InstrumentKind) -> Descriptor {
        Descriptor {
            name: "m".into(),
            description: String::new(),
            unit: String::new(),
            kind,
            boundaries: DEFAULT_BOUNDARIES.to_vec(),
        }
    }

    fn attrs(v: i64) -> AttributeSet {
        AttributeSet::new(vec![KeyValue::new("k", AnyValue::Int(v))])
    }

    fn sum_points(m: Metric) -> Vec<(Vec<KeyValue>, u64, Number)> {
        match m.data {
            Some(MetricData::Sum { points, .. }) | Some(MetricData::Gauge(points)) => points
                .into_iter()
                .map(|p| (p.attributes, p.start_time_unix_nano, p.value))
                .collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn cumulative_counter_keeps_totals_and_start() {
        let c = Instrument::new(
            desc(InstrumentKind::Counter),
            TemporalityPreference::Cumulative,
            2000,
            10,
        );
        c.add(Number::Int(2), attrs(1), 11);
        c.add(Number::Int(3), attrs(1), 12);
        let p = sum_points(c.collect(20).unwrap());
        assert_eq!(p, vec![(attrs(1).to_vec(), 11, Number::Int(5))]);
        c.add(Number::Double(0.5), attrs(1), 21);
        let p = sum_points(c.collect(30).unwrap());
        assert_eq!(p, vec![(attrs(1).to_vec(), 11, Number::Double(5.5))]);
    }

    #[test]
    fn delta_counter_resets_and_starts_at_the_last_collection() {
        let c = Instrument::new(
            desc(InstrumentKind::Counter),
            TemporalityPreference::Delta,
            2000,
            10,
        );
        c.add(Number::Int(2), attrs(1), 11);
        assert_eq!(
            sum_points(c.collect(20).unwrap()),
            vec![(attrs(1).to_vec(), 10, Number::Int(2))]
        );
        assert!(c.collect(30).is_none());
        c.add(Number::Int(4), attrs(1), 31);
        assert_eq!(
            sum_points(c.collect(40).unwrap()),
            vec![(attrs(1).to_vec(), 30, Number::Int(4))]
        );
    }

    #[test]
    fn up_down_counter_stays_cumulative_under_delta_preference() {
        let c = Instrument::new(
            desc(InstrumentKind::UpDownCounter),
            TemporalityPreference::Delta,
            2000,
            0,
        );
        c.add(Number::Int(-2), attrs(1), 1);
        let m = c.collect(5).unwrap();
        assert!(matches!(
            m.data,
            Some(MetricData::Sum {
                temporality: Temporality::Cumulative,
                monotonic: false,
                ..
            })
        ));
    }

    #[test]
    fn cardinality_limit_overflows_into_one_series() {
        let c = Instrument::new(
            desc(InstrumentKind::Counter),
            TemporalityPreference::Cumulative,
            10,
            0,
        );
        for i in 0..100 {
            c.add(Number::Int(1), attrs(i), 1);
        }
        assert_eq!(c.series_count(), 10);
        let points = sum_points(c.collect(2).unwrap());
        let overflow = points
            .iter()
            .find(|(a, _, _)| a == &overflow_set().to_vec())
            .expect("overflow series");
        assert_eq!(overflow.2, Number::Int(91));
        let total: i64 = points
            .iter()
            .map(|(_, _, v)| match v {
                Number::Int(i) => *i,
                _ => 0,
            })
            .sum();
        assert_eq!(total, 100);
    }

    #[test]
    fn observable_counter_delta_reports_differences() {
        let c = Instrument::new(
            desc(InstrumentKind::ObservableCounter),
            TemporalityPreference::Delta,
            2000,
            0,
        );
        c.observe(Number::Int(10), attrs(1), 1);
        assert_eq!(sum_points(c.collect(2).unwrap())[0].2, Number::Int(10));
        c.observe(Number::Int(15), attrs(1), 3);
        assert_eq!(sum_points(c.collect(4).unwrap())[0].2, Number::Int(5));
        // Not observed this round: no point.
        assert!(c.collect(5).is_none());
    }

    #[test]
    fn descriptors_are_checked() {
        let d = Descriptor::new("h", "ms", "", InstrumentKind::Histogram, None).unwrap();
        assert_eq!(d.boundaries, DEFAULT_BOUNDARIES);
        let d = Descriptor::new("c", "", "", InstrumentKind::Counter, Some(vec![1.0])).unwrap();
        assert!(d.boundaries.is_empty());
        let custom = Descriptor::new(
            "h",
            "",
            "",
            InstrumentKind::Histogram,
            Some(vec![-1.0, 2.0]),
        );
        assert_eq!(custom.unwrap().boundaries, [-1.0, 2.0]);
        for bad in [
            vec![1.0, 1.0],
            vec![2.0, 1.0],
            vec![0.0, f64::NAN],
            vec![f64::INFINITY],
        ] {
            let e = Descriptor::new("h", "", "", InstrumentKind::Histogram, Some(bad)).unwrap_err();
            assert_eq!(
                e.to_string(),
                "`boundaries` must be finite and strictly increasing"
            );
        }
        for name in [String::new(), "x".repeat(256)] {
            let e = Descriptor::new(&name, "", "", InstrumentKind::Gauge, None).unwrap_err();
            assert!(e
                .to_string()
                .starts_with("instrument name must be 1 to 255 characters; got \""));
        }
        assert!(Descriptor::new(&"x".repeat(255), "", "", InstrumentKind::Gauge, None).is_ok());
    }

    #[test]
    fn api_descriptors_follow_the_instrument_name_syntax() {
        let api = |name: &str, unit: &str| {
            Descriptor::opentelemetry(name, unit, "", InstrumentKind::Counter, None)
        };
        assert_eq!(
            api("HTTP.Server/Duration_x-1", "ms").unwrap().name,
            "http.server/duration_x-1"
        );
        assert!(api(&format!("a{}", "b".repeat(254)), "").is_ok());
        for bad in [
            "",
            "1a",
            "_a",
            "a b",
            "a*",
            "é",
            &format!("a{}", "b".repeat(255)),
        ] {
            let e = api(bad, "").unwrap_err().to_string();
            assert!(e.starts_with("instrument name "), "{e}");
        }
        assert!(api("a", &"u".repeat(63)).is_ok());
        for bad in ["u".repeat(64), "µs".to_owned()] {
            let e = api("a", &bad).unwrap_err().to_string();
            assert!(e.starts_with("instrument unit "), "{e}");
        }
        let e =
            Descriptor::opentelemetry("h", "", "", InstrumentKind::Histogram, Some(vec![2.0, 1.0]));
        assert!(e.is_err());
    }

    #[test]
    fn refused_measurements_record_nothing() {
        let c = Instrument::new(
            desc(InstrumentKind::Counter),
            TemporalityPreference::Cumulative,
            2000,
            0,
        );
        assert_eq!(
            c.record(Number::Int(-1), attrs(1), 1),
            Err(Refused::Negative)
        );
        let s = crate::aggregate::Kernels::Scalar.summarize(&[1.0, f64::NAN]);
        assert_eq!(
            c.add_many(Increments::Floats(&s), attrs(1), 1),
            Err(Refused::NotFiniteMany)
        );
        assert!(c.collect(2).is_none());
        let ints = Increments::Ints {
            count: 2,
            sum: 7,
            min: 3,
        };
        c.add_many(ints, attrs(1), 3).unwrap();
        c.record(Number::Int(1), attrs(1), 3).unwrap();
        assert_eq!(sum_points(c.collect(4).unwrap())[0].2, Number::Int(8));

        let g = Instrument::new(
            desc(InstrumentKind::Gauge),
            TemporalityPreference::Cumulative,
            2000,
            0,
        );
        assert_eq!(
            g.record(Number::Double(f64::NAN), attrs(1), 1),
            Err(Refused::NaN)
        );
        g.record(Number::Int(4), attrs(1), 1).unwrap();
        g.record(Number::Double(2.5), attrs(1), 1).unwrap();
        assert_eq!(sum_points(g.collect(2).unwrap())[0].2, Number::Double(2.5));
    }

    #[test]
    fn one_histogram_value_lands_in_the_bucket_the_kernels_choose() {
        let h = Instrument::new(
            desc(InstrumentKind::Histogram),
            TemporalityPreference::Cumulative,
            2000,
            0,
        );
        let values = [0.0, 5.0, 5.5, -3.0, 10000.0, 10000.5];
        let mut expected = vec![0; 16];
        let s = crate::aggregate::Kernels::Scalar.histogram(
            &values,
            &DEFAULT_BOUNDARIES,
            &mut expected,
        );
        for v in values {
            h.record(Number::Double(v), AttributeSet::empty(), 1)
                .unwrap();
        }
        h.record(Number::Int(7), AttributeSet::empty(), 1).unwrap();
        expected[2] += 1;
        assert_eq!(
            h.record(Number::Double(f64::INFINITY), AttributeSet::empty(), 1),
            Err(Refused::NotFinite(f64::INFINITY))
        );
        let m = h.collect(2).unwrap();
        let Some(MetricData::Histogram { points, .. }) = m.data else {
            panic!()
        };
        assert_eq!(points[0].bucket_counts, expected);
        assert_eq!(points[0].count, 7);
        assert_eq!(points[0].sum, Some(s.sum + 7.0));
        assert_eq!((points[0].min, points[0].max), (Some(-3.0), Some(10000.5)));
        let bad = crate::aggregate::Kernels::Scalar.summarize(&[f64::NAN]);
        assert_eq!(
            h.record_many(&[1; 16], &bad, AttributeSet::empty(), 3),
            Err(Refused::NotFiniteMany)
        );
    }

    #[test]
    fn histogram_merges_summaries() {
        let h = Instrument::new(
            desc(InstrumentKind::Histogram),
            TemporalityPreference::Cumulative,
            2000,
            0,
        );
        let mut counts = vec![0; 16];
        let s = crate::aggregate::Kernels::Scalar.histogram(
            &[1.0, 7.0, 20000.0],
            &DEFAULT_BOUNDARIES,
            &mut counts,
        );
        h.merge_histogram(&counts, &s, AttributeSet::empty(), 1);
        let m = h.collect(2).unwrap();
        let Some(MetricData::Histogram { points, .. }) = m.data else {
            panic!()
        };
        assert_eq!(points[0].count, 3);
        assert_eq!(points[0].sum, Some(20008.0));
        assert_eq!((points[0].min, points[0].max), (Some(1.0), Some(20000.0)));
        assert_eq!(points[0].bucket_counts[1], 1);
        assert_eq!(points[0].bucket_counts[2], 1);
        assert_eq!(points[0].bucket_counts[15], 1);
    }
}
