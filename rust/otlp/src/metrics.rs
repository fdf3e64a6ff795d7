//! The metrics exporter: instrument registry, periodic reader, delivery.
//!
//! Every `interval` (and on `force_flush`) the reader runs the observable callbacks,
//! collects every instrument and hands one `ResourceMetrics` (none when no instrument
//! has data) to a pipeline of batch size one, which encodes it and delivers it with
//! the same retry, flush and shutdown rules as spans. Stats count data points.
//!
//! Collections run only on the reader thread. `force_flush` and `shutdown` ask it for
//! one and wait with their deadline; a callback that outlives it holds up nobody but
//! the reader, and may itself call `force_flush`, `shutdown` or fork.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::{JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use crate::aggregate::{AttributeSet, Descriptor, Instrument, TemporalityPreference};
use crate::encode::{encode_metrics_json, encode_metrics_request};
use crate::error::{Error, Result};
use crate::export::ExporterConfig;
use crate::ids::now_unix_nano;
use crate::model::{Number, Resource, ResourceMetrics, Scope, ScopeMetrics};
use crate::pipeline::{
    BatchConfig, ExportSettings, Overflow, Pipeline, QueueConfig, Replaceable, Weighted,
};
use crate::stats::{Stats, StatsSnapshot};
use crate::time;
use crate::time::Done;
use crate::transport::{Endpoint, Paths};

/// One collection: what the reader hands to the pipeline.
pub struct Collection {
    /// One `ResourceMetrics`, of the exporter's resource, with every scope that has data.
    pub data: Vec<ResourceMetrics>,
    points: u64,
}

impl Weighted for Box<Collection> {
    fn weight(&self) -> u64 {
        self.points
    }

    /// Collections are few (one per interval) and bounded by their series: an
    /// estimate per point is enough.
    fn bytes(&self) -> usize {
        self.points as usize * 128
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

/// Settings of the metrics reader.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MetricsConfig {
    /// Time between collections, hence exports. Default 60 s.
    pub interval: Duration,
    /// Limit of one export attempt, request and response (for metrics, in place of the
    /// exporter's own timeout). Default 30 s.
    pub timeout: Duration,
    /// Delta or cumulative, by instrument kind.
    pub temporality: TemporalityPreference,
    /// Most series one instrument keeps, the overflow series (attribute
    /// `otel.metric.overflow=true`) included; at least 2. Default 2000.
    pub cardinality_limit: usize,
}

impl MetricsConfig {
    /// Check every field; errors name them as `{prefix}field` (`metrics.interval`).
    pub fn validate_at(&self, prefix: &str) -> Result<()> {
        let name = |field: &str| format!("{prefix}{field}");
        time::check_positive(self.interval, &name("interval"))?;
        time::check_positive(self.timeout, &name("timeout"))?;
        // One series, plus the overflow series.
        crate::check_range(
            &name("cardinality_limit"),
            self.cardinality_limit as i128,
            2,
            crate::pipeline::MAX_QUEUE_SIZE as i128,
        )
    }
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

/// The longest `pause_for_fork` waits for the reader to leave a part of a collection
/// that holds locks. Those parts run no user code, so this only guards against the
/// unforeseen: a fork must never hang on telemetry.
const FORK_PAUSE_LIMIT: Duration = Duration::from_secs(1);

/// The reader's state, shared with the reader thread. Collections run only on that
/// thread, one at a time; `force_flush` and `shutdown` ask for one and wait for it
/// with their deadline.
struct Control {
    /// Collections asked for, numbered from 1.
    requested: u64,
    /// Every collection asked for up to this number has been handed to the pipeline.
    collected: u64,
    /// The number the running collection settles, while one runs.
    running: Option<u64>,
    /// Shutdown has begun: the reader exits once collection `last` is handed over.
    stop: bool,
    last: u64,
    /// Shutdown stopped waiting for the reader: what it is collecting is late, and
    /// is dropped (and counted) instead of exported.
    abandoned: bool,
    /// Shutdown was called by a callback, on the reader thread: the reader shuts the
    /// pipeline down itself, by this deadline, once its collection is handed over.
    close_by: Option<Instant>,
    /// The current reader thread and its generation (a forked child starts anew).
    thread: Option<ThreadId>,
    epoch: u64,
    /// The reader of this epoch has ended.
    exited: bool,
    /// A fork is under way: no part of a collection that takes locks may start.
    paused: bool,
    /// The reader is in such a part (never while a callback runs).
    locking: bool,
}

impl Control {
    fn on_reader_thread(&self) -> bool {
        self.thread == Some(std::thread::current().id())
    }
}

struct Reader {
    control: Mutex<Control>,
    /// Wakes the reader: a request, shutdown, the end of a fork.
    wake: Condvar,
    /// Wakes waiters: a collection handed over, the reader gone, a locking part over.
    progress: Condvar,
}

impl Reader {
    fn lock(&self) -> MutexGuard<'_, Control> {
        lock(&self.control)
    }
}

/// The metrics side of the exporter: a registry of instruments, the reader thread that
/// collects them, and the pipeline that delivers what it collects.
pub struct MetricsExporter {
    resource: Arc<Resource>,
    config: MetricsConfig,
    registry: Mutex<Registry>,
    /// Replaced (never freed) in a child after `fork()`.
    pipeline: Replaceable<Box<Collection>>,
    /// Shared with the reader thread, which holds no strong reference while waiting.
    reader: Arc<Reader>,
    thread: Mutex<Option<JoinHandle<()>>>,
    callback_errors: AtomicU64,
    last_callback_error: Mutex<Option<String>>,
    collections_late: AtomicU64,
    start: u64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl MetricsExporter {
    /// Validate `config`, then start the pipeline to `export`'s endpoint and the reader
    /// thread, whose first collection comes one `interval` from now. Everything
    /// collected is reported as from `resource`.
    pub fn new(
        export: &ExporterConfig,
        config: MetricsConfig,
        resource: Arc<Resource>,
    ) -> Result<Arc<Self>> {
        config.validate_at("metrics.")?;
        let pipeline = Self::start_pipeline(export.clone(), config.timeout)?;
        let this = Arc::new(Self {
            resource,
            config,
            registry: Mutex::new(Registry {
                scopes: Vec::new(),
                by_name: HashMap::new(),
                callbacks: Vec::new(),
            }),
            pipeline,
            reader: Arc::new(Reader {
                control: Mutex::new(Control {
                    requested: 0,
                    collected: 0,
                    running: None,
                    stop: false,
                    last: 0,
                    abandoned: false,
                    close_by: None,
                    thread: None,
                    epoch: 0,
                    exited: false,
                    paused: false,
                    locking: false,
                }),
                wake: Condvar::new(),
                progress: Condvar::new(),
            }),
            thread: Mutex::new(None),
            callback_errors: AtomicU64::new(0),
            last_callback_error: Mutex::new(None),
            collections_late: AtomicU64::new(0),
            start: now_unix_nano(),
        });
        this.spawn_reader(0)?;
        Ok(this)
    }

    /// The collections' pipeline: one collection per request.
    fn start_pipeline(
        export: ExporterConfig,
        timeout: Duration,
    ) -> Result<Replaceable<Box<Collection>>> {
        let endpoint = Endpoint::parse(&export.endpoint)?;
        let queue = export.queue.clone();
        Replaceable::new(move |after_fork| {
            let (client, runtime) = export.client(&endpoint)?;
            Pipeline::start(
                BatchConfig {
                    max_queue_size: 16,
                    max_export_batch_size: 1,
                    schedule_delay: Duration::from_secs(3600),
                    max_concurrent_exports: 1,
                },
                // Collections never wait for room: the reader must keep its deadline.
                QueueConfig {
                    overflow: Overflow::DropNewest,
                    // A forked child does not take over the parent's disk queue.
                    directory: queue.directory.clone().filter(|_| !after_fork),
                    ..queue.clone()
                },
                ExportSettings {
                    paths: Paths::METRICS,
                    encode: if export.protocol.is_json() {
                        encode_collections_json
                    } else {
                        encode_collections
                    },
                    timeout,
                    retry: export.retry,
                    circuit: export.circuit,
                    max_request_size: export.max_request_size,
                },
                client,
                runtime,
                Arc::new(Stats::default()),
            )
        })
    }

    fn spawn_reader(self: &Arc<Self>, epoch: u64) -> Result<()> {
        let weak = Arc::downgrade(self);
        let reader = self.reader.clone();
        let interval = self.config.interval;
        let spawned = std::thread::Builder::new()
            .name("otlp-metrics".into())
            .spawn(move || reader_loop(weak, reader, interval, epoch));
        match spawned {
            Ok(thread) => {
                *lock(&self.thread) = Some(thread);
                Ok(())
            }
            Err(e) => {
                // Nobody will collect: waiters must not wait for it.
                self.reader.lock().exited = true;
                Err(Error::Transport(format!(
                    "cannot start the metrics reader: {e}"
                )))
            }
        }
    }

    /// Before `fork()`: hold collections back from their parts that take locks, and
    /// wait (briefly) for such a part to end, so that no lock is held across the fork.
    /// A callback may be running (it holds no lock of ours); when it is the callback
    /// that forks, this is the reader thread and there is nothing to wait for.
    pub fn pause_for_fork(&self) {
        let r = &*self.reader;
        let mut c = r.lock();
        c.paused = true;
        if c.on_reader_thread() {
            return;
        }
        let until = time::after(FORK_PAUSE_LIMIT);
        while c.locking {
            let now = Instant::now();
            if now >= until {
                return;
            }
            c = r
                .progress
                .wait_timeout(c, until - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// In the parent after `fork()`.
    pub fn resume_after_fork(&self) {
        self.reader.lock().paused = false;
        self.reader.wake.notify_all();
    }

    /// In the child after `fork()`: what was recorded belongs to the parent (which
    /// still exports it), so every series starts over; a fresh pipeline and reader
    /// replace the threads that did not survive, and the old pipeline is leaked. When a
    /// callback forked, this thread was the parent's reader: its collection is left
    /// unfinished here (the parent finishes and exports it).
    pub fn after_fork_in_child(self: &Arc<Self>) -> Result<()> {
        let epoch = {
            let mut c = self.reader.lock();
            c.epoch += 1;
            c.collected = c.requested;
            c.running = None;
            c.abandoned = false;
            c.close_by = None;
            c.thread = None;
            c.exited = false;
            c.paused = false;
            c.locking = false;
            c.epoch
        };
        let reg = lock(&self.registry);
        for s in &reg.scopes {
            for i in &s.instruments {
                i.reset(now_unix_nano());
            }
        }
        drop(reg);
        self.pipeline.replace_after_fork()?;
        // The old reader thread does not exist here; its handle must not be joined.
        if let Some(old) = lock(&self.thread).take() {
            std::mem::forget(old);
        }
        self.spawn_reader(epoch)
    }

    /// The settings it was created with.
    pub fn config(&self) -> &MetricsConfig {
        &self.config
    }

    /// The instrument `descriptor` of `scope`, created on first use. Asking again for
    /// the same name (whatever its case) and kind in the same scope (the same `Arc`)
    /// returns the same instrument, with its first descriptor.
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

    /// Have `callback` report observations of `instrument` at every collection;
    /// callbacks run in the order they were registered.
    pub fn register_callback(&self, instrument: Arc<Instrument>, callback: Arc<dyn Callback>) {
        lock(&self.registry).callbacks.push((instrument, callback));
    }

    /// Start a part of a collection that takes locks, once no fork is under way; false
    /// when this reader has been replaced (in a forked child).
    fn enter_locking(&self, epoch: u64) -> bool {
        let r = &*self.reader;
        let mut c = r.lock();
        while c.paused && c.epoch == epoch {
            c = r.wake.wait(c).unwrap_or_else(|e| e.into_inner());
        }
        if c.epoch != epoch {
            return false;
        }
        c.locking = true;
        true
    }

    /// Whether the running collection should stop calling callbacks: nobody will
    /// take its result.
    fn given_up(&self, epoch: u64) -> bool {
        let c = self.reader.lock();
        c.abandoned || c.epoch != epoch
    }

    /// One collection, on the reader thread: run the callbacks, collect every
    /// instrument and hand the result to the pipeline, settling requests up to `target`.
    fn collect(&self, target: u64, epoch: u64) {
        let r = &*self.reader;
        if !self.enter_locking(epoch) {
            return;
        }
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
        {
            let mut c = r.lock();
            c.locking = false;
            c.running = Some(target);
        }
        r.progress.notify_all();

        // Callbacks run with no lock of ours held: they may take as long as they like,
        // fork, or call force_flush() or shutdown().
        let now = now_unix_nano();
        let mut errors = Vec::new();
        for (instrument, callback) in &callbacks {
            if self.given_up(epoch) {
                break;
            }
            let result = callback.call(&mut |value, attrs| instrument.observe(value, attrs, now));
            if let Err(e) = result {
                errors.push(format!(
                    "callback of {:?} failed: {e}",
                    instrument.descriptor.name
                ));
            }
        }

        if !self.enter_locking(epoch) {
            return;
        }
        if let Some(last) = errors.pop() {
            self.callback_errors
                .fetch_add(errors.len() as u64 + 1, Ordering::Relaxed);
            *lock(&self.last_callback_error) = Some(last);
        }
        let collection = if self.given_up(epoch) {
            None
        } else {
            self.gather(scopes)
        };
        let mut c = r.lock();
        c.locking = false;
        c.running = None;
        let mut close_by = None;
        if c.abandoned {
            self.collections_late.fetch_add(1, Ordering::Relaxed);
        } else {
            // Under the lock: once shutdown has given up, nothing more is pushed.
            if let Some(collection) = collection {
                self.pipeline().push(collection);
            }
            c.collected = c.collected.max(target);
            if c.stop && c.collected >= c.last {
                close_by = c.close_by.take();
            }
        }
        drop(c);
        r.progress.notify_all();
        if let Some(deadline) = close_by {
            let pipeline = self.pipeline();
            pipeline.begin_shutdown();
            pipeline.wait_idle(deadline);
            pipeline.finish_shutdown();
        }
    }

    /// Collect every instrument into one `ResourceMetrics`; None when nothing has data.
    fn gather(&self, scopes: Vec<(Arc<Scope>, Vec<Arc<Instrument>>)>) -> Option<Box<Collection>> {
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
            return None;
        }
        Some(Box::new(Collection {
            data: vec![ResourceMetrics {
                resource: self.resource.clone(),
                scope_metrics,
            }],
            points,
        }))
    }

    /// Wait until collection `target` has been handed to the pipeline (true), or the
    /// reader is gone, or `until` (false).
    fn wait_collected(&self, target: u64, until: Instant) -> bool {
        let r = &*self.reader;
        let mut c = r.lock();
        loop {
            if c.collected >= target {
                return true;
            }
            if c.exited || c.abandoned {
                return false;
            }
            let now = Instant::now();
            if now >= until {
                return false;
            }
            c = r
                .progress
                .wait_timeout(c, until - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Collect now, then wait until the export settles or `until`.
    pub fn force_flush(&self, until: Instant) -> bool {
        let Ok(flushed) = self.force_flush_with(time::until(until));
        flushed
    }

    /// Have the reader collect now, and wait (through `wait`, see [`Done`]) until that
    /// collection is exported; true when it was in time. A collection that outlives the
    /// wait is still exported when it ends. Called from a callback (on the reader
    /// thread), it cannot wait for the collection it is part of: it exports what was
    /// collected before and returns false.
    pub fn force_flush_with<E>(
        &self,
        mut wait: impl FnMut(&Done<'_>) -> std::result::Result<bool, E>,
    ) -> std::result::Result<bool, E> {
        let target = {
            let mut c = self.reader.lock();
            if c.on_reader_thread() {
                None
            } else if c.stop {
                Some(c.last)
            } else {
                c.requested += 1;
                Some(c.requested)
            }
        };
        let collected = match target {
            Some(target) => {
                self.reader.wake.notify_all();
                if !wait(&|until| self.wait_collected(target, until))? {
                    return Ok(false);
                }
                true
            }
            None => false,
        };
        let flushed = self.pipeline().flush_with(&mut wait)?;
        Ok(collected && flushed)
    }

    /// The current pipeline.
    pub fn pipeline(&self) -> Arc<Pipeline<Box<Collection>>> {
        self.pipeline.get()
    }

    /// Final collection, export, and stop; returns by `until`.
    pub fn shutdown(&self, until: Instant) -> bool {
        let Ok(clean) = self.shutdown_with(until, time::until(until));
        clean
    }

    /// Have the reader make a last collection, export it and stop, waiting (through
    /// `wait`, see [`Done`]) no longer than `deadline` allows; true when all of it was
    /// delivered in time. The reader thread is never joined: one still in a callback
    /// is left to end on its own, and what it collects is dropped and counted
    /// ([`Self::collections_late`]). Called from a callback (on the reader thread), the
    /// collection it is part of is the last one and the reader shuts the pipeline down
    /// after handing it over, by `deadline`; this returns false at once. Calling it
    /// again returns true.
    pub fn shutdown_with<E>(
        &self,
        deadline: Instant,
        mut wait: impl FnMut(&Done<'_>) -> std::result::Result<bool, E>,
    ) -> std::result::Result<bool, E> {
        let last = {
            let mut c = self.reader.lock();
            if c.stop {
                return Ok(true);
            }
            c.stop = true;
            if c.on_reader_thread() {
                c.last = c.running.unwrap_or(c.collected);
                c.close_by = Some(deadline);
                return Ok(false);
            }
            c.requested += 1;
            c.last = c.requested;
            c.last
        };
        self.reader.wake.notify_all();
        let pipeline = self.pipeline();
        let result = wait(&|until| self.wait_collected(last, until)).and_then(|collected| {
            self.abandon(last);
            pipeline.begin_shutdown();
            wait(&|until| pipeline.wait_idle(until)).map(|idle| collected && idle)
        });
        // Also when the wait was interrupted: the exporter is shut down either way.
        self.abandon(last);
        pipeline.begin_shutdown();
        pipeline.finish_shutdown();
        if let Some(thread) = lock(&self.thread).take() {
            if thread.is_finished() {
                let _ = thread.join();
            }
        }
        result
    }

    /// Stop waiting for collection `last`: if it has not been handed over yet, it is
    /// late and will not be.
    fn abandon(&self, last: u64) {
        let mut c = self.reader.lock();
        if c.collected < last {
            c.abandoned = true;
        }
        drop(c);
        self.reader.wake.notify_all();
    }

    /// Delivery counts of the current pipeline, in data points (from zero again in a
    /// forked child).
    pub fn stats(&self) -> StatsSnapshot {
        self.pipeline().stats().snapshot()
    }

    /// Callback calls that have returned an error, in total.
    pub fn callback_errors(&self) -> u64 {
        self.callback_errors.load(Ordering::Relaxed)
    }

    /// The message of the latest callback error, naming its instrument; `None` if none.
    pub fn last_callback_error(&self) -> Option<String> {
        lock(&self.last_callback_error).clone()
    }

    /// Collections that ended after shutdown had stopped waiting for them (a callback
    /// that outlived the deadline): dropped, not exported.
    pub fn collections_late(&self) -> u64 {
        self.collections_late.load(Ordering::Relaxed)
    }
}

impl Drop for MetricsExporter {
    fn drop(&mut self) {
        let mut c = self.reader.lock();
        if !c.stop {
            c.stop = true;
            c.last = c.collected;
        }
        drop(c);
        self.reader.wake.notify_all();
    }
}

/// Marks the reader of `epoch` as gone when its thread ends, however it ends.
struct Exiting<'a> {
    reader: &'a Reader,
    epoch: u64,
}

impl Drop for Exiting<'_> {
    fn drop(&mut self) {
        let mut c = self.reader.lock();
        if c.epoch == self.epoch {
            c.exited = true;
            c.running = None;
            c.locking = false;
        }
        drop(c);
        self.reader.progress.notify_all();
    }
}

fn reader_loop(this: Weak<MetricsExporter>, reader: Arc<Reader>, interval: Duration, epoch: u64) {
    let _exiting = Exiting {
        reader: &reader,
        epoch,
    };
    {
        let mut c = reader.lock();
        if c.epoch != epoch {
            return;
        }
        c.thread = Some(std::thread::current().id());
    }
    let mut next = time::after(interval);
    loop {
        let target = {
            let mut c = reader.lock();
            loop {
                if c.epoch != epoch || c.abandoned || (c.stop && c.collected >= c.last) {
                    return;
                }
                if c.requested > c.collected {
                    break c.requested;
                }
                let now = Instant::now();
                if now >= next {
                    break c.requested;
                }
                c = reader
                    .wake
                    .wait_timeout(c, next - now)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        };
        let Some(exp) = this.upgrade() else { return };
        exp.collect(target, epoch);
        drop(exp);
        // A collection asked for by force_flush leaves the schedule as it is; a due
        // one sets the next, skipping ticks missed while collecting.
        let now = Instant::now();
        if now >= next {
            next = time::at(next, interval).max(now);
        }
    }
}
