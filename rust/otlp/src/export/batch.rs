//! Spans and log records: exported item by item through a batching pipeline.

use std::sync::Arc;
use std::time::Instant;

use crate::encode::{
    encode_logs_json, encode_logs_request, encode_trace_request, encode_traces_json,
};
use crate::error::Result;
use crate::model::{LogRecord, SpanData};
use crate::pipeline::{ExportSettings, Pipeline, Replaceable, Weighted};
use crate::stats::{Stats, StatsSnapshot};
use crate::transport::{Endpoint, Paths};

use super::ExporterConfig;

/// A signal exported item by item through a batching pipeline.
pub trait Signal: Sized + Send + 'static {
    /// Where the signal's requests go.
    const PATHS: Paths;
    /// Append the protobuf export request for `items` to `buf`.
    fn encode(items: &[Box<Self>], buf: &mut Vec<u8>);
    /// Append the OTLP/JSON export request for `items` to `buf`.
    fn encode_json(items: &[Box<Self>], buf: &mut Vec<u8>);
    /// About how many bytes of memory the item holds.
    fn approx_size(&self) -> usize;
}

impl Signal for SpanData {
    const PATHS: Paths = Paths::TRACES;
    fn encode(items: &[Box<Self>], buf: &mut Vec<u8>) {
        encode_trace_request(items, buf)
    }
    fn encode_json(items: &[Box<Self>], buf: &mut Vec<u8>) {
        encode_traces_json(items, buf)
    }
    fn approx_size(&self) -> usize {
        SpanData::approx_size(self)
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
    fn approx_size(&self) -> usize {
        LogRecord::approx_size(self)
    }
}

/// Exports spans.
pub type TraceExporter = BatchExporter<SpanData>;
/// Exports log records.
pub type LogExporter = BatchExporter<LogRecord>;

/// Exports one signal's items (spans or log records) through a batching pipeline.
pub struct BatchExporter<T: Signal> {
    endpoint: Endpoint,
    pipeline: Replaceable<Box<T>>,
}

impl<T: Signal> BatchExporter<T> {
    /// Check `config` and start the pipeline.
    pub fn new(config: ExporterConfig) -> Result<Self> {
        config.check()?;
        let endpoint = Endpoint::parse(&config.endpoint)?;
        let target = endpoint.clone();
        let pipeline = Replaceable::new(move |after_fork| {
            let (client, runtime) = config.client(&target)?;
            let mut queue = config.queue.clone();
            if after_fork {
                // The disk queue stays the parent's (it holds its lock): a forked child
                // exports from memory.
                queue.directory = None;
            }
            Pipeline::start(
                config.batch,
                queue,
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
        })?;
        Ok(Self { endpoint, pipeline })
    }

    /// Where items go.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The current pipeline.
    pub fn pipeline(&self) -> Arc<Pipeline<Box<T>>> {
        self.pipeline.get()
    }

    /// Queue an item for export (boxed: the queue then moves pointers).
    #[inline]
    pub fn export(&self, item: Box<T>) {
        self.pipeline.push(item);
    }

    /// [`Self::export`], waiting for room (`overflow="block"`) inside `release` (see
    /// [`Pipeline::push_released`]).
    #[inline]
    pub fn export_released(&self, item: Box<T>, release: impl FnOnce(&mut (dyn FnMut() + Send))) {
        self.pipeline.push_released(item, release);
    }

    /// Export what is queued and wait until `deadline`; true when all of it was
    /// delivered.
    pub fn force_flush(&self, deadline: Instant) -> bool {
        self.pipeline().force_flush(deadline)
    }

    /// Export what is queued, wait until `deadline`, then stop; true when everything
    /// was settled in time.
    pub fn shutdown(&self, deadline: Instant) -> bool {
        self.pipeline().shutdown(deadline)
    }

    /// The current pipeline's counters.
    pub fn stats(&self) -> StatsSnapshot {
        self.pipeline().stats().snapshot()
    }

    /// In the child after `fork()`: a fresh pipeline (see [`Replaceable`]).
    pub fn after_fork_in_child(&self) -> Result<()> {
        self.pipeline.replace_after_fork()
    }
}

impl<T: Signal> Weighted for Box<T> {
    #[inline]
    fn weight(&self) -> u64 {
        1
    }

    #[inline]
    fn bytes(&self) -> usize {
        self.approx_size()
    }
}
