//! Exporters: configuration, transports and pipelines put together.

mod batch;
mod config;
mod exporter;
mod policy;
mod resource;
mod settings;

pub use batch::{BatchExporter, LogExporter, Signal, TraceExporter};
pub use config::{user_agent, ExporterConfig, DEFAULT_MAX_REQUEST_SIZE, MAX_REQUEST_SIZE};
pub use exporter::{Exporter, Stat};
pub use policy::{Policy, Verdict};
pub use resource::resource;
pub use settings::{check_part, defaults, logs_batch_default, Settings, SignalKind, Value};
