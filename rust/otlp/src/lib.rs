//! `otlp`: the core of a fast, dependable OpenTelemetry (OTLP) exporter.
//!
//! Pure Rust, no Python. [`Exporter`] exports spans, metrics and log records to an
//! OTLP collector over gRPC or OTLP/HTTP (protobuf or JSON; HTTP/1.1 or HTTP/2; TLS;
//! gzip or zstd), batching off the application's threads, retrying as the
//! specification says, and never blocking or raising into the application.
//!
//! Layers, bottom up: [`model`] (telemetry), [`encode`] / [`decode`] (OTLP protobuf
//! and JSON), [`transport`] and [`resilience`] (delivery), [`pipeline`] (queue and
//! batcher), [`aggregate`] and [`metrics`] (metric series, measurement rules and the
//! reader), [`trace`] and [`logs`] (the rules spans and log records follow, with
//! [`sampling`], [`limits`] and [`exception`]), [`export`] (the exporter, its settings and stats).
//! [`receiver`] is a small embedded collector for demos and tests. See
//! `examples/three_signals.rs`.

#![warn(missing_docs)]

pub mod aggregate;
pub mod decode;
pub mod encode;
mod error;
pub mod exception;
pub mod export;
#[doc(hidden)]
pub mod fuzz;
pub mod ids;
pub mod limits;
pub mod logs;
pub mod metrics;
pub mod model;
pub mod pipeline;
pub mod receiver;
pub mod resilience;
pub mod runtime;
pub mod sampling;
pub mod stats;
pub mod status;
pub mod time;
pub mod trace;
pub mod transport;

pub use error::{check_range, one_of, Error, Result};
pub use export::Exporter;

/// Version of this crate, sent in the `user-agent`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
