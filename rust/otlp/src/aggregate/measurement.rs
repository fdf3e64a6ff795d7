//! What a measurement must be for its instrument (OpenTelemetry metrics API and SDK):
//! finite numbers, non-negative counter increments, gauges that are numbers. A
//! measurement is checked before anything is recorded, so a refused one (or a batch
//! holding one refused value) records nothing.

use std::fmt;

use super::instrument::InstrumentKind;
use super::kernels::Summary;
use crate::model::Number;

/// Why a measurement was refused.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Refused {
    /// One value that is NaN or infinite.
    NotFinite(f64),
    /// A negative counter increment.
    Negative,
    /// A gauge value that is NaN.
    NaN,
    /// A batch holding NaN or infinity.
    NotFiniteMany,
    /// A batch of counter increments holding this negative value.
    NegativeMany(Number),
    /// A negative histogram value, under the OpenTelemetry API's rules.
    NegativeRecord,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const GO_DOWN: &str = "use an up_down_counter for values that go down";
        match self {
            Refused::NotFinite(v) => write!(f, "`value` must be a finite number; got {v}"),
            Refused::Negative => write!(f, "counter increments must be >= 0 ({GO_DOWN})"),
            Refused::NaN => write!(f, "`value` must not be NaN"),
            Refused::NegativeRecord => write!(
                f,
                "histogram values must be >= 0 (the OpenTelemetry SDK's rule; use a gauge or \
                 an up_down_counter for values that go down)"
            ),
            Refused::NotFiniteMany => write!(
                f,
                "`values` must be finite numbers (found NaN or infinity; nothing was recorded)"
            ),
            Refused::NegativeMany(n) => {
                write!(f, "counter increments must be >= 0; `values` holds ")?;
                match n {
                    Number::Int(i) => write!(f, "{i}")?,
                    Number::Double(d) => write!(f, "{d}")?,
                }
                write!(f, " (nothing was recorded; {GO_DOWN})")
            }
        }
    }
}

impl std::error::Error for Refused {}

/// Many counter increments of one call, summarised by whoever read them.
#[derive(Clone, Copy, Debug)]
pub enum Increments<'a> {
    /// Integers, summed exactly.
    Ints {
        /// How many there were.
        count: usize,
        /// Their exact sum.
        sum: i128,
        /// The smallest (`i64::MAX` when there were none).
        min: i64,
    },
    /// Numbers summarised by the kernels.
    Floats(&'a Summary),
}

impl InstrumentKind {
    /// Check one measurement for an instrument of this kind.
    pub fn check(self, value: Number) -> Result<Number, Refused> {
        use InstrumentKind::*;
        match (self, value) {
            (Counter | UpDownCounter | Histogram, Number::Double(d)) if !d.is_finite() => {
                Err(Refused::NotFinite(d))
            }
            (Counter, Number::Int(i)) if i < 0 => Err(Refused::Negative),
            (Counter, Number::Double(d)) if d < 0.0 => Err(Refused::Negative),
            (Gauge, Number::Double(d)) if d.is_nan() => Err(Refused::NaN),
            _ => Ok(value),
        }
    }

    /// Check one measurement by the rules the OpenTelemetry API leaves to its SDK, as
    /// the official Python SDK applies them: every value finite (gauges too), counter
    /// increments and histogram values non-negative.
    pub fn check_api(self, value: Number) -> Result<Number, Refused> {
        match value {
            Number::Double(d) if !d.is_finite() => Err(Refused::NotFinite(d)),
            Number::Int(i) if i < 0 && self == InstrumentKind::Histogram => {
                Err(Refused::NegativeRecord)
            }
            Number::Double(d) if d < 0.0 && self == InstrumentKind::Histogram => {
                Err(Refused::NegativeRecord)
            }
            _ => self.check(value),
        }
    }

    /// The total of `increments` for a counter (monotonic) or up-down counter; `None`
    /// when there were none.
    pub fn total(self, increments: Increments<'_>) -> Result<Option<Number>, Refused> {
        let monotonic = self == InstrumentKind::Counter;
        match increments {
            Increments::Ints { count: 0, .. } => Ok(None),
            Increments::Ints { sum, min, .. } => {
                if monotonic && min < 0 {
                    return Err(Refused::NegativeMany(Number::Int(min)));
                }
                Ok(Some(match i64::try_from(sum) {
                    Ok(s) => Number::Int(s),
                    // Beyond int64, as adding two large counts does (see `add`).
                    Err(_) => Number::Double(sum as f64),
                }))
            }
            Increments::Floats(s) => {
                if s.count == 0 {
                    return Ok(None);
                }
                check_finite(s)?;
                if monotonic && s.min < 0.0 {
                    return Err(Refused::NegativeMany(Number::Double(s.min)));
                }
                Ok(Some(Number::Double(s.sum)))
            }
        }
    }
}

/// A batch's summary holds only finite numbers.
pub(crate) fn check_finite(s: &Summary) -> Result<(), Refused> {
    if s.nan_count > 0 || !(s.min.is_finite() && s.max.is_finite()) {
        return Err(Refused::NotFiniteMany);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::Kernels;
    use InstrumentKind::*;

    #[test]
    fn single_values_are_checked_by_kind() {
        let nan = Number::Double(f64::NAN);
        let inf = Number::Double(f64::INFINITY);
        for kind in [Counter, UpDownCounter, Histogram] {
            assert_eq!(kind.check(inf), Err(Refused::NotFinite(f64::INFINITY)));
            assert!(matches!(kind.check(nan), Err(Refused::NotFinite(d)) if d.is_nan()));
        }
        assert_eq!(Counter.check(Number::Int(-1)), Err(Refused::Negative));
        assert_eq!(Counter.check(Number::Double(-0.5)), Err(Refused::Negative));
        assert_eq!(
            Counter.check(Number::Double(-0.0)),
            Ok(Number::Double(-0.0))
        );
        assert_eq!(UpDownCounter.check(Number::Int(-1)), Ok(Number::Int(-1)));
        assert_eq!(
            Histogram.check(Number::Double(-2.0)),
            Ok(Number::Double(-2.0))
        );
        assert_eq!(Gauge.check(nan), Err(Refused::NaN));
        assert_eq!(Gauge.check(inf), Ok(inf));
    }

    #[test]
    fn api_rules_refuse_what_the_official_sdk_ignores() {
        let inf = Number::Double(f64::NEG_INFINITY);
        for kind in [Counter, UpDownCounter, Histogram, Gauge] {
            assert_eq!(
                kind.check_api(inf),
                Err(Refused::NotFinite(f64::NEG_INFINITY))
            );
        }
        assert_eq!(
            Histogram.check_api(Number::Int(-1)),
            Err(Refused::NegativeRecord)
        );
        assert_eq!(
            Histogram.check_api(Number::Double(-0.5)),
            Err(Refused::NegativeRecord)
        );
        assert_eq!(Histogram.check_api(Number::Int(0)), Ok(Number::Int(0)));
        assert_eq!(Counter.check_api(Number::Int(-1)), Err(Refused::Negative));
        assert_eq!(
            UpDownCounter.check_api(Number::Int(-1)),
            Ok(Number::Int(-1))
        );
        assert_eq!(
            Gauge.check_api(Number::Double(-3.5)),
            Ok(Number::Double(-3.5))
        );
    }

    #[test]
    fn batches_are_all_or_nothing() {
        let ints = |sum, min| Increments::Ints { count: 2, sum, min };
        assert_eq!(Counter.total(ints(5, 1)), Ok(Some(Number::Int(5))));
        assert_eq!(
            Counter.total(ints(5, -1)),
            Err(Refused::NegativeMany(Number::Int(-1)))
        );
        assert_eq!(UpDownCounter.total(ints(-5, -9)), Ok(Some(Number::Int(-5))));
        let big = i128::from(i64::MAX) * 2;
        assert_eq!(
            Counter.total(ints(big, 1)),
            Ok(Some(Number::Double(big as f64)))
        );
        let empty = Increments::Ints {
            count: 0,
            sum: 0,
            min: i64::MAX,
        };
        assert_eq!(Counter.total(empty), Ok(None));

        let summary = |v: &[f64]| Kernels::Scalar.summarize(v);
        let s = summary(&[1.5, 2.0]);
        assert_eq!(
            Counter.total(Increments::Floats(&s)),
            Ok(Some(Number::Double(3.5)))
        );
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let s = summary(&[1.0, bad]);
            assert_eq!(
                UpDownCounter.total(Increments::Floats(&s)),
                Err(Refused::NotFiniteMany)
            );
        }
        let s = summary(&[1.0, -1.5]);
        assert_eq!(
            Counter.total(Increments::Floats(&s)),
            Err(Refused::NegativeMany(Number::Double(-1.5)))
        );
        assert_eq!(Counter.total(Increments::Floats(&summary(&[]))), Ok(None));
    }

    #[test]
    fn messages_say_what_was_wrong_and_what_to_do() {
        assert_eq!(
            Refused::NotFinite(f64::NAN).to_string(),
            "`value` must be a finite number; got NaN"
        );
        assert_eq!(
            Refused::Negative.to_string(),
            "counter increments must be >= 0 (use an up_down_counter for values that go down)"
        );
        assert_eq!(
            Refused::NegativeMany(Number::Double(-1.0)).to_string(),
            "counter increments must be >= 0; `values` holds -1 (nothing was recorded; use an \
             up_down_counter for values that go down)"
        );
        assert_eq!(
            Refused::NegativeMany(Number::Int(-3)).to_string(),
            "counter increments must be >= 0; `values` holds -3 (nothing was recorded; use an \
             up_down_counter for values that go down)"
        );
    }
}
