//! `otlp`: the core of a fast, dependable OpenTelemetry (OTLP) exporter.
//!
//! Pure Rust, no Python: [`model`] holds telemetry, [`encode`] writes OTLP protobuf,
//! [`transport`] delivers it over gRPC, [`resilience`] decides about retries,
//! [`pipeline`] batches items off the application's threads, [`receiver`] is a small
//! embedded collector for demos and tests.

pub mod aggregate;
pub mod decode;
pub mod encode;
mod error;
pub mod export;
pub mod ids;
pub mod metrics;
pub mod model;
pub mod pipeline;
pub mod receiver;
pub mod resilience;
pub mod runtime;
pub mod stats;
pub mod status;
pub mod time;
pub mod transport;

pub use error::{check_range, one_of, Error, Result};
pub use export::Exporter;

/// Version of this crate, sent in the `user-agent`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
