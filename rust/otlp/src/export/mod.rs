//! Exporters: configuration, transports and pipelines put together.

mod batch;
mod config;

pub use batch::{BatchExporter, LogExporter, Signal, TraceExporter};
pub use config::{user_agent, ExporterConfig, DEFAULT_MAX_REQUEST_SIZE, MAX_REQUEST_SIZE};
