//! Spans and log records: exported item by item through a batching pipeline.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::encode::{
    encode_logs_json, encode_logs_request, encode_trace_request, encode_traces_json,
};
use crate::error::{Error, Result};
use crate::model::{LogRecord, SpanData};
use crate::pipeline::{ExportSettings, Pipeline, Weighted};
use crate::stats::{Stats, StatsSnapshot};
use crate::transport::{Endpoint, Paths};

use super::ExporterConfig;

/// A signal exported item by item through a batching pipeline.
pub trait Signal: Sized + Send + 'static {
    const PATHS: Paths;
    fn encode(items: &[Box<Self>], buf: &mut Vec<u8>);
    fn encode_json(items: &[Box<Self>], buf: &mut Vec<u8>);
}

impl Signal for SpanData {
    const PATHS: Paths = Paths::TRACES;
    fn encode(items: &[Box<Self>], buf: &mut Vec<u8>) {
        encode_trace_request(items, buf)
    }
    fn encode_json(items: &[Box<Self>], buf: &mut Vec<u8>) {
        encode_traces_json(items, buf)
    }
}

impl Signal for LogRecord {
    const PATHS: Paths = Paths::LOGS;
    fn encode(items: &[Box<Self>], buf: &mut Vec<u8>) {
        encode_logs_request(items, buf)
    }
    fn encode_json(items: &[Box<Self>], buf: &mut Vec<u8>) {
        encode_logs_json(items, buf)
    }
}

pub type TraceExporter = BatchExporter<SpanData>;
pub type LogExporter = BatchExporter<LogRecord>;

pub struct BatchExporter<T: Signal> {
    config: ExporterConfig,
    endpoint: Endpoint,
    /// Replaced (never freed) in a child process after `fork()`; see `after_fork_in_child`.
    pipeline: RwLock<Arc<Pipeline<Box<T>>>>,
}

impl<T: Signal> BatchExporter<T> {
    pub fn new(config: ExporterConfig) -> Result<Self> {
        let endpoint = Endpoint::parse(&config.endpoint)?;
        if config.timeout.is_zero() {
            return Err(Error::Config("`timeout` must be > 0 seconds".into()));
        }
        crate::time::check(config.timeout, "timeout")?;
        let pipeline = Self::start(&config, &endpoint)?;
        Ok(Self {
            config,
            endpoint,
            pipeline: RwLock::new(Arc::new(pipeline)),
        })
    }

    fn start(config: &ExporterConfig, endpoint: &Endpoint) -> Result<Pipeline<Box<T>>> {
        let (client, runtime) = config.client(endpoint)?;
        Pipeline::start(
            config.batch,
            ExportSettings {
                paths: T::PATHS,
                encode: if config.protocol.is_json() {
                    T::encode_json
                } else {
                    T::encode
                },
                timeout: config.timeout,
                retry: config.retry,
                circuit: config.circuit,
                max_request_size: config.max_request_size,
            },
            client,
            runtime,
            Arc::new(Stats::default()),
        )
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The current pipeline.
    pub fn pipeline(&self) -> Arc<Pipeline<Box<T>>> {
        self.pipeline
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Queue an item for export (boxed: the queue then moves pointers).
    #[inline]
    pub fn export(&self, span: Box<T>) {
        self.pipeline
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .push(span);
    }

    pub fn force_flush(&self, timeout: Duration) -> bool {
        self.pipeline().force_flush(timeout)
    }

    pub fn shutdown(&self, timeout: Duration) -> bool {
        self.pipeline().shutdown(timeout)
    }

    pub fn stats(&self) -> StatsSnapshot {
        self.pipeline().stats().snapshot()
    }

    /// In the child after `fork()`: the batcher and I/O threads did not survive, and
    /// their locks may be held forever. Start a fresh pipeline (empty queue: what was
    /// queued belongs to the parent, which still exports it; fresh stats) and leak the
    /// old one, whose destructor could block on those locks. Call with the runtime
    /// already forgotten (`runtime::forget_after_fork`).
    pub fn after_fork_in_child(&self) -> Result<()> {
        let fresh = Arc::new(Self::start(&self.config, &self.endpoint)?);
        let mut slot = self.pipeline.write().unwrap_or_else(|e| e.into_inner());
        let old = std::mem::replace(&mut *slot, fresh);
        std::mem::forget(old);
        Ok(())
    }
}

impl<T: Signal> Weighted for Box<T> {
    #[inline]
    fn weight(&self) -> u64 {
        1
    }
}
