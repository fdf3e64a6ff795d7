//! Metric aggregation: kernels over arrays, and per-series aggregators.

pub mod kernels;

pub use kernels::{Kernels, Summary};
