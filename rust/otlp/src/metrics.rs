//! The metrics exporter: instrument registry, periodic reader, delivery.
//!
//! Every `interval` (and on `force_flush`) the reader runs the observable callbacks,
//! collects every instrument and hands one `ResourceMetrics` to a pipeline of batch
//! size one, which encodes it and delivers it with the same retry, flush and shutdown
//! rules as spans. Stats count data points.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::aggregate::{AttributeSet, Descriptor, Instrument, TemporalityPreference};
use crate::encode::{encode_metrics_json, encode_metrics_request};
use crate::error::{Error, Result};
use crate::ids::now_unix_nano;
use crate::model::{Number, Resource, ResourceMetrics, Scope, ScopeMetrics};
use crate::pipeline::{BatchConfig, ExportSettings, Pipeline, Weighted};
use crate::stats::{Stats, StatsSnapshot};
use crate::trace::ExporterConfig;
use crate::transport::{Endpoint, Paths};

pub const METRICS_GRPC_PATH: &str =
    "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";

/// One collection: what the reader hands to the pipeline.
pub struct Collection {
    pub data: Vec<ResourceMetrics>,
    points: u64,
}

impl Weighted for Box<Collection> {
    fn weight(&self) -> u64 {
        self.points
    }
}

fn encode_collections(items: &[Box<Collection>], buf: &mut Vec<u8>) {
    // Batches hold one collection; several would be separate ResourceMetrics.
    match items {
        [one] => encode_metrics_request(&one.data, buf),
        _ => {
            let data: Vec<ResourceMetrics> =
                items.iter().flat_map(|c| c.data.iter().cloned()).collect();
            encode_metrics_request(&data, buf);
        }
    }
}

fn encode_collections_json(items: &[Box<Collection>], buf: &mut Vec<u8>) {
    let data: Vec<ResourceMetrics> = items.iter().flat_map(|c| c.data.iter().cloned()).collect();
    encode_metrics_json(&data, buf);
}

/// Observations of an observable instrument, produced on demand.
pub trait Callback: Send + Sync {
    /// Report each observation through `observe`; an error is counted and reported,
    /// and does not stop other callbacks.
    fn call(
        &self,
        observe: &mut dyn FnMut(Number, AttributeSet),
    ) -> std::result::Result<(), String>;
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MetricsConfig {
    pub interval: Duration,
    pub timeout: Duration,
    pub temporality: TemporalityPreference,
    pub cardinality_limit: usize,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(60),
            timeout: Duration::from_secs(30),
            temporality: TemporalityPreference::Cumulative,
            cardinality_limit: 2000,
        }
    }
}

struct ScopeEntry {
    scope: Arc<Scope>,
    instruments: Vec<Arc<Instrument>>,
}

struct Registry {
    scopes: Vec<ScopeEntry>,
    by_name: HashMap<(usize, String, crate::aggregate::InstrumentKind), Arc<Instrument>>,
    callbacks: Vec<(Arc<Instrument>, Arc<dyn Callback>)>,
}

struct ReaderState {
    stop: bool,
}

pub struct MetricsExporter {
    resource: Arc<Resource>,
    config: MetricsConfig,
    registry: Mutex<Registry>,
    /// Serializes collections (delta state), taken without the GIL.
    collecting: Mutex<()>,
    /// Fork gate: `(paused, collecting)`; no collection runs while paused, so no
    /// instrument lock is held when the process forks.
    gate: Mutex<(bool, bool)>,
    gate_changed: Condvar,
    /// Replaced (never freed) in a child after `fork()`.
    pipeline: RwLock<Arc<Pipeline<Box<Collection>>>>,
    export_config: ExporterConfig,
    /// Shared with the reader thread, which holds no strong reference while waiting.
    reader: Arc<(Mutex<ReaderState>, Condvar)>,
    thread: Mutex<Option<JoinHandle<()>>>,
    callback_errors: AtomicU64,
    last_callback_error: Mutex<Option<String>>,
    start: u64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl MetricsExporter {
    pub fn new(
        export: &ExporterConfig,
        config: MetricsConfig,
        resource: Arc<Resource>,
    ) -> Result<Arc<Self>> {
        if config.interval.is_zero() || config.timeout.is_zero() {
            return Err(Error::Config(
                "`metrics.interval` and `metrics.timeout` must be > 0 seconds".into(),
            ));
        }
        if config.cardinality_limit < 2 {
            return Err(Error::Config(
                "`metrics.cardinality_limit` must be at least 2 (one series plus the overflow series)".into(),
            ));
        }
        let pipeline = Self::start_pipeline(export, &config)?;
        let this = Arc::new(Self {
            gate: Mutex::new((false, false)),
            gate_changed: Condvar::new(),
            export_config: export.clone(),
            resource,
            config,
            registry: Mutex::new(Registry {
                scopes: Vec::new(),
                by_name: HashMap::new(),
                callbacks: Vec::new(),
            }),
            collecting: Mutex::new(()),
            pipeline: RwLock::new(Arc::new(pipeline)),
            reader: Arc::new((Mutex::new(ReaderState { stop: false }), Condvar::new())),
            thread: Mutex::new(None),
            callback_errors: AtomicU64::new(0),
            last_callback_error: Mutex::new(None),
            start: now_unix_nano(),
        });
        this.spawn_reader()?;
        Ok(this)
    }

    fn start_pipeline(
        export: &ExporterConfig,
        config: &MetricsConfig,
    ) -> Result<Pipeline<Box<Collection>>> {
        let endpoint = Endpoint::parse(&export.endpoint)?;
        let (client, runtime) = export.client(&endpoint)?;
        Pipeline::start(
            BatchConfig {
                max_queue_size: 16,
                max_export_batch_size: 1,
                schedule_delay: Duration::from_secs(3600),
                max_concurrent_exports: 1,
            },
            ExportSettings {
                paths: Paths {
                    grpc: METRICS_GRPC_PATH,
                    http: "/v1/metrics",
                },
                encode: if export.protocol.is_json() {
                    encode_collections_json
                } else {
                    encode_collections
                },
                timeout: config.timeout,
                retry: export.retry,
                circuit: export.circuit,
                max_request_size: export.max_request_size,
            },
            client,
            runtime,
            Arc::new(Stats::default()),
        )
    }

    fn spawn_reader(self: &Arc<Self>) -> Result<()> {
        let weak = Arc::downgrade(self);
        let reader = self.reader.clone();
        let interval = self.config.interval;
        let thread = std::thread::Builder::new()
            .name("otlp-metrics".into())
            .spawn(move || reader_loop(weak, reader, interval))
            .map_err(|e| Error::Transport(format!("cannot start the metrics reader: {e}")))?;
        *lock(&self.thread) = Some(thread);
        Ok(())
    }

    /// Before `fork()`: wait for a running collection to end and hold new ones back.
    pub fn pause_for_fork(&self) {
        let mut g = lock(&self.gate);
        g.0 = true;
        while g.1 {
            g = self.gate_changed.wait(g).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// In the parent after `fork()`.
    pub fn resume_after_fork(&self) {
        lock(&self.gate).0 = false;
        self.gate_changed.notify_all();
    }

    /// In the child after `fork()`: what was recorded belongs to the parent (which
    /// still exports it), so every series starts over; a fresh pipeline and reader
    /// replace the threads that did not survive, and the old pipeline is leaked.
    pub fn after_fork_in_child(self: &Arc<Self>) -> Result<()> {
        *lock(&self.gate) = (false, false);
        let reg = lock(&self.registry);
        for s in &reg.scopes {
            for i in &s.instruments {
                i.reset(now_unix_nano());
            }
        }
        drop(reg);
        let fresh = Arc::new(Self::start_pipeline(&self.export_config, &self.config)?);
        let old = std::mem::replace(
            &mut *self.pipeline.write().unwrap_or_else(|e| e.into_inner()),
            fresh,
        );
        std::mem::forget(old);
        // The old reader thread does not exist here; its handle must not be joined.
        if let Some(old) = lock(&self.thread).take() {
            std::mem::forget(old);
        }
        lock(&self.reader.0).stop = false;
        self.spawn_reader()
    }

    pub fn config(&self) -> &MetricsConfig {
        &self.config
    }

    /// The instrument `descriptor` of `scope`, created on first use. Asking again for
    /// the same name and kind in the same scope returns the same instrument.
    pub fn instrument(&self, scope: &Arc<Scope>, descriptor: Descriptor) -> Arc<Instrument> {
        let mut reg = lock(&self.registry);
        let idx = match reg.scopes.iter().position(|s| Arc::ptr_eq(&s.scope, scope)) {
            Some(i) => i,
            None => {
                reg.scopes.push(ScopeEntry {
                    scope: scope.clone(),
                    instruments: Vec::new(),
                });
                reg.scopes.len() - 1
            }
        };
        let key = (idx, descriptor.name.to_ascii_lowercase(), descriptor.kind);
        if let Some(found) = reg.by_name.get(&key) {
            return found.clone();
        }
        let inst = Arc::new(Instrument::new(
            descriptor,
            self.config.temporality,
            self.config.cardinality_limit,
            self.start,
        ));
        reg.scopes[idx].instruments.push(inst.clone());
        reg.by_name.insert(key, inst.clone());
        inst
    }

    pub fn register_callback(&self, instrument: Arc<Instrument>, callback: Arc<dyn Callback>) {
        lock(&self.registry).callbacks.push((instrument, callback));
    }

    /// Run callbacks, collect every instrument and queue the result for export.
    /// Must be called without holding the GIL (callbacks take it).
    pub fn collect(&self) {
        {
            let mut g = lock(&self.gate);
            if g.0 {
                return; // a fork is under way
            }
            g.1 = true;
        }
        self.collect_now();
        lock(&self.gate).1 = false;
        self.gate_changed.notify_all();
    }

    fn collect_now(&self) {
        let _one_at_a_time = lock(&self.collecting);
        let (callbacks, scopes): (Vec<_>, Vec<_>) = {
            let reg = lock(&self.registry);
            (
                reg.callbacks.clone(),
                reg.scopes
                    .iter()
                    .map(|s| (s.scope.clone(), s.instruments.clone()))
                    .collect(),
            )
        };
        let now = now_unix_nano();
        for (instrument, callback) in &callbacks {
            let result = callback.call(&mut |value, attrs| instrument.observe(value, attrs, now));
            if let Err(e) = result {
                self.callback_errors.fetch_add(1, Ordering::Relaxed);
                *lock(&self.last_callback_error) = Some(format!(
                    "callback of {:?} failed: {e}",
                    instrument.descriptor.name
                ));
            }
        }
        let now = now_unix_nano();
        let mut scope_metrics = Vec::new();
        let mut points = 0;
        for (scope, instruments) in scopes {
            let metrics: Vec<_> = instruments.iter().filter_map(|i| i.collect(now)).collect();
            if metrics.is_empty() {
                continue;
            }
            points += metrics
                .iter()
                .map(|m| m.data.as_ref().map_or(0, |d| d.point_count() as u64))
                .sum::<u64>();
            scope_metrics.push(ScopeMetrics { scope, metrics });
        }
        if scope_metrics.is_empty() {
            return;
        }
        self.pipeline().push(Box::new(Collection {
            data: vec![ResourceMetrics {
                resource: self.resource.clone(),
                scope_metrics,
            }],
            points,
        }));
    }

    /// Collect now, then wait until the export settles or `until`.
    pub fn force_flush(&self, until: Instant) -> bool {
        self.collect();
        let pipeline = self.pipeline();
        let generation = pipeline.request_flush();
        pipeline.wait_flush(generation, until)
    }

    pub fn pipeline(&self) -> Arc<Pipeline<Box<Collection>>> {
        self.pipeline
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Final collection, export, and stop; returns by `until`.
    pub fn shutdown(&self, until: Instant) -> bool {
        if !self.stop_reader() {
            return true;
        }
        if let Some(t) = lock(&self.thread).take() {
            // The reader exits at once when told (or after its current collection).
            let _ = t.join();
        }
        self.collect();
        let pipeline = self.pipeline();
        pipeline.begin_shutdown();
        let clean = pipeline.wait_idle(until);
        pipeline.finish_shutdown();
        clean
    }

    /// Tell the reader to stop; false if it already was.
    fn stop_reader(&self) -> bool {
        let (state, wake) = &*self.reader;
        let mut r = lock(state);
        if r.stop {
            return false;
        }
        r.stop = true;
        drop(r);
        wake.notify_all();
        true
    }

    pub fn stats(&self) -> StatsSnapshot {
        self.pipeline().stats().snapshot()
    }

    pub fn callback_errors(&self) -> u64 {
        self.callback_errors.load(Ordering::Relaxed)
    }

    pub fn last_callback_error(&self) -> Option<String> {
        lock(&self.last_callback_error).clone()
    }
}

impl Drop for MetricsExporter {
    fn drop(&mut self) {
        self.stop_reader();
    }
}

fn reader_loop(
    this: Weak<MetricsExporter>,
    reader: Arc<(Mutex<ReaderState>, Condvar)>,
    interval: Duration,
) {
    let (state, wake) = &*reader;
    let mut next = Instant::now() + interval;
    loop {
        {
            let mut r = lock(state);
            loop {
                if r.stop {
                    return;
                }
                let now = Instant::now();
                if now >= next {
                    break;
                }
                r = wake
                    .wait_timeout(r, next - now)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        }
        let Some(exp) = this.upgrade() else { return };
        exp.collect();
        drop(exp);
        // Never run behind: skip ticks missed while collecting.
        next = (next + interval).max(Instant::now());
    }
}
