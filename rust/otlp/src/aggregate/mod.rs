//! Metric aggregation: kernels over arrays, and per-series aggregators.

pub mod attributes;
pub mod instrument;
pub mod kernels;
pub mod measurement;

pub use attributes::AttributeSet;
pub use instrument::{
    Descriptor, Instrument, InstrumentKind, TemporalityPreference, DEFAULT_BOUNDARIES,
};
pub use kernels::{Kernels, Summary};
pub use measurement::{Increments, Refused};
