//! The batching pipeline of one signal.
//!
//! Producers (application threads) push items into a bounded queue under a short lock.
//! A dedicated batcher thread takes batches when `max_export_batch_size` items are
//! waiting, when `schedule_delay` has passed, or on flush/shutdown; it encodes each
//! batch into one buffer (halving a batch until each part fits `max_request_size`)
//! and hands it to the I/O runtime, which sends it with retries.
//! With a disk queue the batcher writes each request to disk and hands it to a
//! dispatcher task that sends requests in order as export slots free up; the batcher
//! never waits for the network, so an outage fills the disk queue, not memory.
//! Every item handed to [`Pipeline::push`] is accounted exactly once in [`Stats`]:
//! exported, rejected by the collector, dropped or failed (each with its reason).

use std::cell::Cell;
use std::collections::VecDeque;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};

use crate::error::{Error, Result};
use crate::resilience::circuit::{Admission, Circuit, CircuitConfig, SystemClock};
use crate::resilience::retry::{is_retryable, Backoff, RetryPolicy};
use crate::stats::{DropReason, Stats};
use crate::time::Done;
use crate::transport::{Client, Paths};

use super::disk::{DiskQueue, Record, Stored};
use super::queue::{Overflow, QueueConfig};

/// How often written disk-queue requests are made durable with `Fsync::Interval`.
const SYNC_INTERVAL: Duration = Duration::from_secs(1);

/// How a pipeline queues and batches items (the batch processor's settings).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchConfig {
    /// Items queued at most; an item pushed onto a full queue is dropped and counted.
    pub max_queue_size: usize,
    /// Most items in one batch; a batch is exported as soon as this many are queued.
    /// At most `max_queue_size`.
    pub max_export_batch_size: usize,
    /// Interval at which what is queued is exported, even short of a full batch.
    pub schedule_delay: Duration,
    /// Export requests allowed in flight at once.
    pub max_concurrent_exports: usize,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            max_queue_size: 2048,
            max_export_batch_size: 512,
            // Shorter than the batch span processor's 5 s: spans are visible sooner and
            // less is at risk in a crash, for at most two requests a second when idle.
            schedule_delay: Duration::from_millis(500),
            max_concurrent_exports: 2,
        }
    }
}

/// The largest `max_queue_size` (and so batch size) accepted: far beyond what fits
/// in memory for real spans, it only keeps sizes out of overflow territory.
pub const MAX_QUEUE_SIZE: usize = 100_000_000;

/// The most export requests allowed in flight at once.
pub const MAX_CONCURRENT_EXPORTS: usize = 1024;

impl BatchConfig {
    /// Check every field; errors name them as `{prefix}field` (`batch.max_queue_size`).
    pub fn validate_at(&self, prefix: &str) -> Result<()> {
        let name = |field: &str| format!("{prefix}{field}");
        crate::check_range(
            &name("max_queue_size"),
            self.max_queue_size as i128,
            1,
            MAX_QUEUE_SIZE as i128,
        )?;
        crate::check_range(
            &name("max_export_batch_size"),
            self.max_export_batch_size as i128,
            1,
            MAX_QUEUE_SIZE as i128,
        )?;
        crate::check_range(
            &name("max_concurrent_exports"),
            self.max_concurrent_exports as i128,
            1,
            MAX_CONCURRENT_EXPORTS as i128,
        )?;
        crate::time::check_positive(self.schedule_delay, &name("schedule_delay"))?;
        if self.max_export_batch_size > self.max_queue_size {
            return Err(Error::Config(format!(
                "`{}` ({}) must not exceed `{}` ({})",
                name("max_export_batch_size"),
                self.max_export_batch_size,
                name("max_queue_size"),
                self.max_queue_size
            )));
        }
        Ok(())
    }

    /// [`Self::validate_at`] with the fields' bare names.
    pub fn validate(&self) -> Result<()> {
        self.validate_at("")
    }
}

/// What an item counts for in the stats: a span is one; a metrics collection counts
/// its data points.
pub trait Weighted {
    /// What this item counts for in [`Stats`].
    fn weight(&self) -> u64;

    /// About how many bytes of memory the item holds, for the queue's byte bound.
    fn bytes(&self) -> usize;
}

fn weight_of<T: Weighted>(items: &[T]) -> u64 {
    items.iter().map(Weighted::weight).sum()
}

/// How one signal's batches are encoded and delivered.
pub struct ExportSettings<T> {
    /// Where the signal goes on each transport.
    pub paths: Paths,
    /// Appends a batch's request message (protobuf or OTLP/JSON) to the buffer, which
    /// already holds the 5 bytes reserved for the gRPC prefix.
    pub encode: fn(&[T], &mut Vec<u8>),
    /// Limit of one attempt, request and response.
    pub timeout: Duration,
    /// How failed attempts are retried.
    pub retry: RetryPolicy,
    /// When the pipeline's circuit breaker opens.
    pub circuit: CircuitConfig,
    /// Largest encoded request (before compression); larger batches are split.
    pub max_request_size: usize,
}

/// One batch in flight. Its items are settled exactly once, by the export tasks of
/// its parts (a batch too large for one request is split) or by shutdown.
struct Ticket {
    id: u64,
    /// Items (by weight) not settled yet.
    remaining: AtomicU64,
    /// Of those, items written to the disk queue: at shutdown they stay there for the
    /// next process instead of being dropped.
    stored: AtomicU64,
}

impl Ticket {
    fn new(id: u64, weight: u64) -> Arc<Self> {
        Arc::new(Self {
            id,
            remaining: AtomicU64::new(weight),
            stored: AtomicU64::new(0),
        })
    }
}

struct State<T> {
    /// A deque: taking a batch from the front must not move the backlog behind it.
    queue: VecDeque<T>,
    /// The estimated size of each queued item, in step with `queue`.
    sizes: VecDeque<usize>,
    /// Their sum, bounded by `QueueConfig::max_queue_bytes`.
    queued_bytes: usize,
    /// Producers waiting for room ([`Overflow::Block`]).
    waiting: usize,
    shutdown: bool,
    batcher_done: bool,
    flush_requested: u64,
    flush_done: u64,
    /// Tickets up to this id were created by the last completed flush drain.
    flush_barrier: u64,
    next_ticket: u64,
    live: Vec<Arc<Ticket>>,
}

impl<T> State<T> {
    fn new() -> Self {
        Self {
            // Grows as items arrive: a large `max_queue_size` costs nothing until used.
            queue: VecDeque::new(),
            sizes: VecDeque::new(),
            queued_bytes: 0,
            waiting: 0,
            shutdown: false,
            batcher_done: false,
            flush_requested: 0,
            flush_done: 0,
            flush_barrier: 0,
            next_ticket: 1,
            live: Vec::new(),
        }
    }
}

struct Shared<T> {
    state: Mutex<State<T>>,
    /// Wakes the batcher.
    wake: Condvar,
    /// Wakes `force_flush` / `shutdown` waiters when tickets settle.
    progress: Condvar,
    /// Wakes producers waiting for room.
    room: Condvar,
    stats: Arc<Stats>,
    config: BatchConfig,
    queue: QueueConfig,
    circuit: Arc<Circuit>,
    /// Where requests are kept until settled, when `queue.directory` is set.
    disk: Option<DiskQueue>,
    /// Bytes of the disk queue's requests also held in memory until sent.
    spooled_bytes: AtomicU64,
    /// A background sync of the disk queue is running.
    syncing: AtomicBool,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A panic while holding the lock cannot leave the queue inconsistent (every
        // mutation is a single push/drain), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Settle up to `items` of the ticket's remaining items with `outcome`.
    fn settle(&self, ticket: &Ticket, items: u64, outcome: Outcome) {
        let mut left = ticket.remaining.load(Ordering::Acquire);
        let take = loop {
            if left == 0 {
                return;
            }
            let take = items.min(left);
            match ticket.remaining.compare_exchange(
                left,
                left - take,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break take,
                Err(now) => left = now,
            }
        };
        match outcome {
            Outcome::Exported { rejected } => {
                let rejected = rejected.min(take);
                Stats::add(&self.stats.exported, take - rejected);
                Stats::add(&self.stats.rejected, rejected);
            }
            Outcome::Dropped(reason) => self.stats.dropped(reason, take),
            Outcome::Stored => Stats::add(&self.stats.left_on_disk, take),
        }
        if left == take {
            let mut st = self.lock();
            st.live.retain(|t| t.id != ticket.id);
            drop(st);
            self.progress.notify_all();
        }
    }
}

impl<T> Shared<T> {
    /// Whether the queued items take more than half the byte bound: time to send a
    /// partial batch rather than wait for a full one.
    fn pressed(&self, st: &State<T>) -> bool {
        !st.queue.is_empty() && st.queued_bytes * 2 > self.queue.max_queue_bytes
    }

    /// Empty the queue (at shutdown, or when the batcher died) and wake waiting
    /// producers, which then see the pipeline shut down.
    fn take_queue(&self, st: &mut State<T>) -> VecDeque<T> {
        st.sizes.clear();
        st.queued_bytes = 0;
        self.room.notify_all();
        std::mem::take(&mut st.queue)
    }
}

impl<T: Weighted> Shared<T> {
    /// The batcher died: stop accepting items and settle what it left, queued or
    /// in flight, as failed, so that no waiter is left waiting for it. (A batch
    /// still in flight settles once, whichever comes first.)
    fn abandon(&self, why: &Error) {
        self.stats.set_last_error(why.to_string());
        let mut st = self.lock();
        st.shutdown = true;
        st.batcher_done = true;
        let left = self.take_queue(&mut st);
        let live = st.live.clone();
        drop(st);
        let weight = weight_of(left.as_slices().0) + weight_of(left.as_slices().1);
        self.stats.dropped(DropReason::NonRetryable, weight);
        for t in &live {
            self.settle(t, u64::MAX, Outcome::Dropped(DropReason::NonRetryable));
        }
        self.progress.notify_all();
    }
}

#[derive(Clone, Copy, Debug)]
enum Outcome {
    Exported {
        rejected: u64,
    },
    Dropped(DropReason),
    /// Unsent at shutdown, kept in the disk queue for the next process.
    Stored,
}

/// What became of an item offered to a pipeline ([`Pipeline::offer`]).
#[derive(Debug)]
pub enum Offer<T> {
    /// It is queued.
    Queued,
    /// It was dropped, and counted.
    Dropped,
    /// The queue is full and the policy is [`Overflow::Block`]: here it is back, to be
    /// given to [`Pipeline::push_wait`].
    Full(T),
}

/// A signal's queue, batcher thread and delivery.
pub struct Pipeline<T: Weighted + Send + 'static> {
    shared: Arc<Shared<T>>,
    cancel: watch::Sender<bool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl<T: Weighted + Send + 'static> Pipeline<T> {
    /// Check the settings and start the batcher thread. Batches go to `client` on
    /// `runtime`, and every item is counted in `stats`.
    pub fn start(
        config: BatchConfig,
        queue: QueueConfig,
        settings: ExportSettings<T>,
        client: Arc<Client>,
        runtime: Handle,
        stats: Arc<Stats>,
    ) -> Result<Self> {
        config.validate_at("batch.")?;
        queue.validate_at("queue.")?;
        settings.retry.validate_at("retry.")?;
        settings.circuit.validate_at("circuit_breaker.")?;
        crate::time::check_positive(settings.timeout, "timeout")?;
        let (disk, recovered) = match &queue.directory {
            Some(root) => {
                let signal = settings.paths.http.trim_start_matches("/v1/");
                let (disk, recovered) =
                    DiskQueue::open(root, signal, queue.fsync, client.encoding())?;
                Stats::add(&stats.disk_corrupt, recovered.corrupt);
                Stats::add(&stats.disk_incompatible, recovered.incompatible);
                (Some(disk), recovered.stored)
            }
            None => (None, Vec::new()),
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new()),
            wake: Condvar::new(),
            progress: Condvar::new(),
            room: Condvar::new(),
            stats,
            config,
            queue,
            circuit: Arc::new(Circuit::new(settings.circuit, Arc::new(SystemClock))),
            disk,
            spooled_bytes: AtomicU64::new(0),
            syncing: AtomicBool::new(false),
        });
        let (cancel, cancelled) = watch::channel(false);
        let batcher = Batcher {
            recovered,
            spool: None,
            waiting: Mutex::new(VecDeque::new()),
            shared: shared.clone(),
            settings: Arc::new(settings),
            client,
            runtime,
            permits: Arc::new(Semaphore::new(config.max_concurrent_exports)),
            cancelled,
            item_bytes: Cell::new(0),
        };
        let guarded = shared.clone();
        let thread = std::thread::Builder::new()
            .name("otlp-batcher".into())
            .spawn(move || {
                // A bug must not leave flush and shutdown waiting for a batcher that
                // is gone: what it held is settled, and the pipeline stops.
                if let Err(panic) = catch_unwind(AssertUnwindSafe(|| batcher.run())) {
                    guarded.abandon(&Error::from_panic(&*panic));
                }
            })
            .map_err(|e| Error::Transport(format!("cannot start the batcher thread: {e}")))?;
        Ok(Self {
            shared,
            cancel,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// The counters every item of this pipeline is settled in.
    pub fn stats(&self) -> &Arc<Stats> {
        &self.shared.stats
    }

    /// The circuit breaker in front of this pipeline's collector.
    pub fn circuit(&self) -> &Circuit {
        &self.shared.circuit
    }

    /// Hand an ended item to the pipeline. With [`Overflow::Block`] a full queue makes
    /// this wait for room, up to `block_timeout`; otherwise it never blocks beyond a
    /// short lock. What cannot be queued is dropped and counted.
    pub fn push(&self, item: T) {
        self.push_released(item, |wait| wait());
    }

    /// [`Self::push`], with the wait for room (if any) run inside `release`: a
    /// binding releases its interpreter lock there, so that a producer blocked on a
    /// full queue does not stop the rest of the program.
    pub fn push_released(&self, item: T, release: impl FnOnce(&mut (dyn FnMut() + Send))) {
        if let Offer::Full(item) = self.offer(item) {
            self.wait_released(item, release);
        }
    }

    /// Wait up to `block_timeout` for room for an item [`Self::offer`] handed back,
    /// inside `release`; drop and count it if none comes.
    pub fn wait_released(&self, item: T, release: impl FnOnce(&mut (dyn FnMut() + Send))) {
        let until = crate::time::after(self.shared.queue.block_timeout);
        let mut item = Some(item);
        release(&mut || {
            if let Some(item) = item.take() {
                self.push_wait(item, until);
            }
        });
    }

    /// Queue an item if there is room, without waiting. When the queue is full: with
    /// [`Overflow::Block`] the item is handed back ([`Offer::Full`]) for the caller to
    /// wait with [`Self::push_wait`] (having released what it must not hold while
    /// waiting); otherwise the newest or the oldest items are dropped and counted.
    pub fn offer(&self, item: T) -> Offer<T> {
        let stats = &self.shared.stats;
        let weight = item.weight();
        Stats::add(&stats.accepted, weight);
        let bytes = item.bytes();
        let mut st = self.shared.lock();
        if st.shutdown {
            drop(st);
            stats.dropped(DropReason::Shutdown, weight);
            return Offer::Dropped;
        }
        if !self.fits(&st, bytes) {
            match self.shared.queue.overflow {
                Overflow::Block if bytes <= self.shared.queue.max_queue_bytes => {
                    return Offer::Full(item)
                }
                Overflow::DropOldest if bytes <= self.shared.queue.max_queue_bytes => {
                    let mut evicted = 0;
                    while !self.fits(&st, bytes) {
                        let (Some(old), Some(size)) = (st.queue.pop_front(), st.sizes.pop_front())
                        else {
                            break;
                        };
                        st.queued_bytes -= size;
                        evicted += old.weight();
                    }
                    stats.dropped(DropReason::Evicted, evicted);
                }
                _ => {
                    drop(st);
                    stats.dropped(DropReason::QueueFull, weight);
                    return Offer::Dropped;
                }
            }
        }
        self.enqueue(st, item, bytes);
        Offer::Queued
    }

    /// Wait for room for an item [`Self::offer`] handed back, until `until`; then it is
    /// queued, or dropped and counted (`block_timeout`, or `shutdown` when the pipeline
    /// shuts down meanwhile).
    pub fn push_wait(&self, item: T, until: Instant) {
        let bytes = item.bytes();
        let mut st = self.shared.lock();
        st.waiting += 1;
        let reason = loop {
            if st.shutdown {
                break Some(DropReason::Shutdown);
            }
            if self.fits(&st, bytes) {
                break None;
            }
            let now = Instant::now();
            if now >= until {
                break Some(DropReason::BlockTimeout);
            }
            st = self
                .shared
                .room
                .wait_timeout(st, until - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        };
        st.waiting -= 1;
        match reason {
            None => self.enqueue(st, item, bytes),
            Some(reason) => {
                drop(st);
                self.shared.stats.dropped(reason, item.weight());
            }
        }
    }

    /// Whether an item of `bytes` fits in the queue now.
    fn fits(&self, st: &State<T>, bytes: usize) -> bool {
        st.queue.len() < self.shared.config.max_queue_size
            && st.queued_bytes + bytes <= self.shared.queue.max_queue_bytes
    }

    fn enqueue(&self, mut st: MutexGuard<'_, State<T>>, item: T, bytes: usize) {
        st.queue.push_back(item);
        st.sizes.push_back(bytes);
        st.queued_bytes += bytes;
        let full = st.queue.len() == self.shared.config.max_export_batch_size
            || st.queued_bytes > self.shared.queue.max_queue_bytes / 2;
        drop(st);
        if full {
            self.shared.wake.notify_one();
        }
    }

    /// Export everything queued now and wait, through `wait` (see [`Done`]), until it is
    /// settled. True when all of it was delivered: settled in time, and nothing dropped,
    /// failed or rejected meanwhile.
    pub fn flush_with<E>(
        &self,
        wait: &mut impl FnMut(&Done<'_>) -> std::result::Result<bool, E>,
    ) -> std::result::Result<bool, E> {
        let before = self.lost();
        let generation = self.request_flush();
        if self.shared.disk.is_some() {
            // With a disk queue, flushed means durable on disk, not yet delivered.
            let failures = self
                .shared
                .stats
                .disk_write_failures
                .load(Ordering::Relaxed);
            let written = wait(&|until| self.wait_drained(generation, until))?;
            let now = self
                .shared
                .stats
                .disk_write_failures
                .load(Ordering::Relaxed);
            return Ok(written && now == failures && self.lost() == before);
        }
        let settled = wait(&|until| self.wait_flush(generation, until))?;
        Ok(settled && self.lost() == before)
    }

    /// [`Self::flush_with`], blocking until `deadline` at the most.
    pub fn force_flush(&self, deadline: Instant) -> bool {
        let Ok(flushed) = self.flush_with(&mut crate::time::until(deadline));
        flushed
    }

    /// Items dropped, failed or rejected so far.
    fn lost(&self) -> u64 {
        let s = self.shared.stats.snapshot();
        s.dropped() + s.failed() + s.rejected
    }

    /// Ask the batcher to export everything queued now; returns a generation to wait on.
    pub fn request_flush(&self) -> u64 {
        let mut st = self.shared.lock();
        st.flush_requested += 1;
        let generation = st.flush_requested;
        drop(st);
        self.shared.wake.notify_one();
        generation
    }

    /// Wait until the batcher has taken (encoded, written to disk and synced) what was
    /// queued when flush `generation` was asked for, or `until` passes.
    fn wait_drained(&self, generation: u64, until: Instant) -> bool {
        let mut st = self.shared.lock();
        loop {
            if st.flush_done >= generation || st.batcher_done {
                return true;
            }
            let now = Instant::now();
            if now >= until {
                return false;
            }
            st = self
                .shared
                .progress
                .wait_timeout(st, until - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Wait until flush `generation` is settled or `until` passes; true when settled.
    pub fn wait_flush(&self, generation: u64, until: Instant) -> bool {
        let mut st = self.shared.lock();
        loop {
            if st.flush_done >= generation && st.live.iter().all(|t| t.id > st.flush_barrier) {
                return true;
            }
            if st.batcher_done && st.live.is_empty() && st.queue.is_empty() {
                return true;
            }
            let now = Instant::now();
            if now >= until {
                return false;
            }
            st = self
                .shared
                .progress
                .wait_timeout(st, until - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Stop accepting items, export what is queued, and wait for it through `wait`;
    /// whatever is still unsent then (or when `wait` gives up with an error) is dropped
    /// with reason `shutdown`. Idempotent. True when everything was settled in time.
    pub fn shutdown_with<E>(
        &self,
        wait: &mut impl FnMut(&Done<'_>) -> std::result::Result<bool, E>,
    ) -> std::result::Result<bool, E> {
        self.begin_shutdown();
        let idle = wait(&|until| self.wait_idle(until));
        self.finish_shutdown();
        idle
    }

    /// [`Self::shutdown_with`], blocking until `deadline` at the most.
    pub fn shutdown(&self, deadline: Instant) -> bool {
        let Ok(idle) = self.shutdown_with(&mut crate::time::until(deadline));
        idle
    }

    /// Stop accepting items; the batcher exports what is queued, then exits.
    pub fn begin_shutdown(&self) {
        let mut st = self.shared.lock();
        st.shutdown = true;
        drop(st);
        self.shared.wake.notify_one();
        // Producers waiting for room give up: nothing more is accepted.
        self.shared.room.notify_all();
    }

    /// Wait until the queue is empty, nothing is in flight and the batcher has exited,
    /// or until `until`; true when idle.
    pub fn wait_idle(&self, until: Instant) -> bool {
        let mut st = self.shared.lock();
        loop {
            if st.batcher_done && st.live.is_empty() && st.queue.is_empty() {
                return true;
            }
            let now = Instant::now();
            if now >= until {
                return false;
            }
            st = self
                .shared
                .progress
                .wait_timeout(st, until - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// End of shutdown: drop (and count) whatever is still queued or in flight, cancel
    /// retries, and release the batcher thread. Never blocks on the network.
    pub fn finish_shutdown(&self) {
        let mut st = self.shared.lock();
        st.shutdown = true;
        let left = self.shared.take_queue(&mut st);
        let live = std::mem::take(&mut st.live);
        let idle = st.batcher_done;
        drop(st);
        if !left.is_empty() {
            // By weight: a queued metrics collection counts its data points.
            let weight = weight_of(left.as_slices().0) + weight_of(left.as_slices().1);
            self.shared.stats.dropped(DropReason::Shutdown, weight);
        }
        for t in &live {
            let stored = t.stored.load(Ordering::Acquire);
            self.shared.settle(t, stored, Outcome::Stored);
            self.shared
                .settle(t, u64::MAX, Outcome::Dropped(DropReason::Shutdown));
        }
        let _ = self.cancel.send(true);
        if let Some(disk) = &self.shared.disk {
            disk.sync();
            disk.release();
        }
        self.shared.wake.notify_all();
        self.shared.progress.notify_all();
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = thread {
            if idle || thread.is_finished() {
                let _ = thread.join();
            }
            // Otherwise the thread is finishing an encode; it holds only its own data
            // and exits on its own. Shutdown never waits past its deadline.
        }
    }

    /// Items accepted but not yet settled.
    pub fn pending(&self) -> u64 {
        let st = self.shared.lock();
        weight_of(st.queue.as_slices().0)
            + weight_of(st.queue.as_slices().1)
            + st.live
                .iter()
                .map(|t| t.remaining.load(Ordering::Acquire))
                .sum::<u64>()
    }
}

impl<T: Weighted + Send + 'static> Drop for Pipeline<T> {
    fn drop(&mut self) {
        // Dropped without shutdown: the batcher still exports what is queued, then
        // exits; in-flight exports finish under their retry policy.
        self.begin_shutdown();
    }
}

struct Batcher<T> {
    /// Requests a previous process left in the disk queue: sent first, in order.
    recovered: Vec<Stored>,
    /// With a disk queue: requests written to it, in order, for the dispatcher (see
    /// [`Batcher::spool`]).
    spool: Option<mpsc::UnboundedSender<Spooled>>,
    /// The spooled requests the dispatcher has not taken yet, oldest first: what
    /// `drop_oldest` evicts when the disk queue is at `max_bytes`.
    waiting: Mutex<VecDeque<Waiting>>,
    shared: Arc<Shared<T>>,
    settings: Arc<ExportSettings<T>>,
    client: Arc<Client>,
    runtime: Handle,
    permits: Arc<Semaphore>,
    cancelled: watch::Receiver<bool>,
    /// Bytes per item of the last request written: the next request's buffer is
    /// reserved from it, so that it is not grown (and copied) a few times while written.
    item_bytes: Cell<usize>,
}

/// Where the batcher takes a batch to: two empty deques, with room for a batch.
///
/// Producers take the queue's lock for every item, so the batcher must hold it briefly.
/// Moving a batch's items out of the queue under the lock reads every slot the producer
/// has just written on another core (a few microseconds for 512 items, in which the
/// producer gives up spinning and sleeps). When what stays behind the batch is no more
/// than the batch, it is moved here instead, and the two deques are swapped: the queue
/// keeps its room and the items behind, and the batch is here, to be read after the lock
/// is released. The deques come back empty and are used again for the next batch.
struct Spare<T> {
    items: VecDeque<T>,
    sizes: VecDeque<usize>,
}

impl<T> Spare<T> {
    /// Room for a batch of `batch` items (up to 4,096 at first; the deques swapped in
    /// later bring the queue's room with them).
    fn new(batch: usize) -> Self {
        let room = batch.min(4096);
        Self {
            items: VecDeque::with_capacity(room),
            sizes: VecDeque::with_capacity(room),
        }
    }

    /// Whether taking the first `n` queued items this way moves no more items than it
    /// takes, and moves them without allocating under the lock.
    fn fits(&self, st: &State<T>, n: usize) -> bool {
        let behind = st.queue.len() - n;
        behind <= n && behind <= self.items.capacity() && behind <= self.sizes.capacity()
    }

    /// Give back the room a backlog left in these (now empty) deques: what swapped in
    /// after one would otherwise be kept, beside the queue's own, for good.
    fn trim(&mut self, batch: usize) {
        // A batch and as much behind it: what a swap needs.
        let room = 2 * batch.min(4096);
        if self.items.capacity() > 4 * room {
            self.items.shrink_to(room);
        }
        if self.sizes.capacity() > 4 * room {
            self.sizes.shrink_to(room);
        }
    }

    /// Take the first `n` queued items (and their sizes) into these deques; see [`Self::fits`].
    fn take(&mut self, st: &mut State<T>, n: usize) {
        debug_assert!(self.items.is_empty() && self.sizes.is_empty());
        self.items.extend(st.queue.drain(n..));
        self.sizes.extend(st.sizes.drain(n..));
        let behind: usize = self.sizes.iter().sum();
        std::mem::swap(&mut st.queue, &mut self.items);
        std::mem::swap(&mut st.sizes, &mut self.sizes);
        st.queued_bytes = behind;
    }
}

impl<T: Weighted + Send + 'static> Batcher<T> {
    fn run(mut self) {
        let cfg = self.shared.config;
        if self.shared.disk.is_some() {
            let (tx, rx) = mpsc::unbounded_channel();
            self.spool = Some(tx);
            let dispatcher = Dispatcher {
                delivery: self.delivery(),
                permits: self.permits.clone(),
            };
            self.runtime.spawn(dispatcher.run(rx));
        }
        self.replay();
        let mut next_export = crate::time::after(cfg.schedule_delay);
        let mut next_sync = crate::time::after(SYNC_INTERVAL);
        // Where a batch is taken to (see `Spare`), kept from one batch to the next.
        let mut spare = Spare::new(cfg.max_export_batch_size);
        loop {
            let mut st = self.shared.lock();
            loop {
                if st.shutdown
                    || st.flush_requested > st.flush_done
                    || st.queue.len() >= cfg.max_export_batch_size
                    || self.shared.pressed(&st)
                {
                    break;
                }
                let now = Instant::now();
                if now >= next_export {
                    break;
                }
                st = self
                    .shared
                    .wake
                    .wait_timeout(st, next_export - now)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            let shutdown = st.shutdown;
            let flush = st.flush_requested;
            let draining = shutdown || flush > st.flush_done;
            let timer = Instant::now() >= next_export;
            // Full batches always; a partial one on timer, flush and shutdown, and when
            // the queued items take more than half the byte bound.
            let mut batches = Vec::new();
            let mut swapped = None;
            while st.queue.len() >= cfg.max_export_batch_size
                || self.shared.pressed(&st)
                || ((draining || timer) && !st.queue.is_empty())
            {
                let n = st.queue.len().min(cfg.max_export_batch_size);
                let (batch, weight) = if !draining && spare.fits(&st, n) {
                    // Taken without touching its items; made a Vec below, once the
                    // producers have the lock back.
                    spare.take(&mut st, n);
                    (None, spare.items.iter().map(Weighted::weight).sum())
                } else {
                    let batch: Vec<T> = st.queue.drain(..n).collect();
                    let freed: usize = st.sizes.drain(..n).sum();
                    st.queued_bytes -= freed;
                    let weight = weight_of(&batch);
                    (Some(batch), weight)
                };
                if st.waiting > 0 {
                    self.shared.room.notify_all();
                }
                let ticket = Ticket::new(st.next_ticket, weight);
                st.next_ticket += 1;
                st.live.push(ticket.clone());
                match batch {
                    Some(batch) => batches.push((batch, ticket)),
                    None => swapped = Some(ticket),
                }
                if !draining {
                    break;
                }
            }
            let barrier = st.next_ticket - 1;
            drop(st);
            if let Some(ticket) = swapped {
                batches.push((spare.items.drain(..).collect(), ticket));
                spare.sizes.clear();
                spare.trim(cfg.max_export_batch_size);
            }
            if timer || batches.is_empty() {
                next_export = crate::time::after(cfg.schedule_delay);
            }
            for (batch, ticket) in batches {
                self.export(batch, ticket);
            }
            if let Some(disk) = &self.shared.disk {
                // A flush (and shutdown) makes what it wrote durable before it returns.
                // Otherwise a background sync runs at least once per SYNC_INTERVAL:
                // syncing a second of requests can take longer than the queue takes
                // to fill, so the batcher does not wait for it.
                if draining {
                    disk.sync();
                    next_sync = crate::time::after(SYNC_INTERVAL);
                } else if Instant::now() >= next_sync {
                    next_sync = crate::time::after(SYNC_INTERVAL);
                    if !self.shared.syncing.swap(true, Ordering::AcqRel) {
                        let shared = self.shared.clone();
                        self.runtime.spawn_blocking(move || {
                            if let Some(disk) = &shared.disk {
                                disk.sync();
                            }
                            shared.syncing.store(false, Ordering::Release);
                        });
                    }
                }
            }
            let mut st = self.shared.lock();
            if draining {
                st.flush_done = st.flush_done.max(flush);
                st.flush_barrier = st.flush_barrier.max(barrier);
            }
            let exit = st.shutdown && st.queue.is_empty();
            if exit {
                st.batcher_done = true;
            }
            drop(st);
            self.shared.progress.notify_all();
            if exit || *self.cancelled.borrow() {
                let mut st = self.shared.lock();
                st.batcher_done = true;
                drop(st);
                self.shared.progress.notify_all();
                return;
            }
        }
    }

    fn export(&self, batch: Vec<T>, ticket: Arc<Ticket>) {
        let settings = self.settings.clone();
        // The message is written after 5 bytes of headroom for the gRPC prefix, in room
        // for what the last request took per item and an eighth more (within the
        // request limit).
        let expected = self.item_bytes.get().saturating_mul(batch.len());
        let room = expected.saturating_add(expected / 8);
        let mut buf = Vec::with_capacity(5 + room.min(settings.max_request_size));
        buf.extend_from_slice(&[0; 5]);
        (settings.encode)(&batch, &mut buf);
        let len = buf.len() - 5;
        self.item_bytes.set(len.div_ceil(batch.len().max(1)));
        if len > settings.max_request_size {
            drop(buf);
            if batch.len() > 1 {
                // Too large for one request: send it in halves (recursively).
                let mut first = batch;
                let second = first.split_off(first.len() / 2);
                self.export(first, ticket.clone());
                self.export(second, ticket);
            } else {
                // One item larger than a request may be: retrying cannot help.
                self.shared.stats.set_last_error(format!(
                    "an item larger than the {}-byte request limit was dropped",
                    settings.max_request_size
                ));
                self.shared.settle(
                    &ticket,
                    weight_of(&batch),
                    Outcome::Dropped(DropReason::TooLarge),
                );
            }
            return;
        }
        let weight = weight_of(&batch);
        drop(batch);
        let body = self.client.body(buf);
        let record = match &self.shared.disk {
            Some(disk) => match self.persist(disk, weight, &body, &ticket) {
                Ok(record) => record,
                Err(reason) => {
                    self.shared
                        .settle(&ticket, weight, Outcome::Dropped(reason));
                    return;
                }
            },
            None => None,
        };
        match (record, &self.spool) {
            (Some(record), Some(spool)) => self.spool(spool, body, weight, ticket, record),
            (record, _) => self.send(body, weight, ticket, record),
        }
    }

    /// Hand a request written to the disk queue to the dispatcher, which sends it when
    /// an export slot is free. The batcher goes on meanwhile: while the collector is
    /// slow or down, the memory queue drains to disk (up to `max_bytes`) instead of
    /// filling up. Bodies are kept in memory up to an eighth of `max_queue_bytes`
    /// (plenty for the few requests waiting while the collector keeps up); beyond it
    /// they are read back from disk when their turn comes, so an outage costs disk,
    /// not memory.
    fn spool(
        &self,
        spool: &mpsc::UnboundedSender<Spooled>,
        body: Bytes,
        weight: u64,
        ticket: Arc<Ticket>,
        record: Record,
    ) {
        let len = body.len() as u64;
        let held = &self.shared.spooled_bytes;
        let budget = self.shared.queue.max_queue_bytes as u64 / 8;
        let keep = held.load(Ordering::Relaxed) + len <= budget;
        if keep {
            held.fetch_add(len, Ordering::Relaxed);
        }
        let body = keep.then_some(body);
        self.send_to_dispatcher(spool, body, weight, ticket, record);
    }

    /// Queue a request for the dispatcher, and keep track of it until it is taken.
    fn send_to_dispatcher(
        &self,
        spool: &mpsc::UnboundedSender<Spooled>,
        body: Option<Bytes>,
        weight: u64,
        ticket: Arc<Ticket>,
        record: Record,
    ) {
        let state = Arc::new(AtomicU8::new(WAITING));
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        // The dispatcher takes requests in order: the taken ones are at the front.
        while waiting
            .front()
            .is_some_and(|w| w.state.load(Ordering::Acquire) != WAITING)
        {
            waiting.pop_front();
        }
        waiting.push_back(Waiting {
            state: state.clone(),
            record,
            weight,
            ticket: ticket.clone(),
        });
        drop(waiting);
        // The dispatcher only stops when the pipeline is cancelled; whatever it did not
        // take is then settled by shutdown (kept on disk).
        let _ = spool.send(Spooled {
            body,
            weight,
            ticket,
            record,
            state,
        });
    }

    /// `drop_oldest` at the disk queue's `max_bytes`: remove the oldest request the
    /// dispatcher has not taken yet, settled as evicted. False when there is none (all
    /// of them are being sent).
    fn evict_oldest(&self, disk: &DiskQueue) -> bool {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(w) = waiting.pop_front() {
            if w.state
                .compare_exchange(WAITING, EVICTED, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                drop(waiting);
                disk.remove(&w.record);
                let _ = w
                    .ticket
                    .stored
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
                        Some(s.saturating_sub(w.weight))
                    });
                self.shared
                    .settle(&w.ticket, w.weight, Outcome::Dropped(DropReason::Evicted));
                return true;
            }
        }
        false
    }

    /// Send the requests a previous process left in the disk queue, in order, before
    /// anything new.
    fn replay(&mut self) {
        for stored in std::mem::take(&mut self.recovered) {
            let mut st = self.shared.lock();
            let ticket = Ticket::new(st.next_ticket, stored.weight);
            st.next_ticket += 1;
            st.live.push(ticket.clone());
            drop(st);
            Stats::add(&self.shared.stats.accepted, stored.weight);
            ticket.stored.store(stored.weight, Ordering::Release);
            if let Some(spool) = &self.spool {
                self.send_to_dispatcher(spool, None, stored.weight, ticket, stored.record);
            }
        }
    }

    /// Write a request to the disk queue before it is sent. When the queue is at
    /// `max_bytes`: `block` waits for room (up to `block_timeout`), `drop_newest`
    /// refuses the new request, `drop_oldest` evicts the oldest requests not being
    /// sent yet. A write that fails is counted and the request is sent
    /// anyway: it is only not crash-safe.
    fn persist(
        &self,
        disk: &DiskQueue,
        weight: u64,
        body: &Bytes,
        ticket: &Ticket,
    ) -> std::result::Result<Option<Record>, DropReason> {
        let size = DiskQueue::size_of(body.len());
        let cap = self.shared.queue.max_bytes as u64;
        if disk.bytes() + size > cap {
            match self.shared.queue.overflow {
                Overflow::DropNewest => return Err(DropReason::QueueFull),
                Overflow::DropOldest => {
                    while disk.bytes() + size > cap {
                        if !self.evict_oldest(disk) {
                            return Err(DropReason::QueueFull);
                        }
                    }
                }
                Overflow::Block => {
                    let until = crate::time::after(self.shared.queue.block_timeout);
                    let mut st = self.shared.lock();
                    while disk.bytes() + size > cap {
                        let now = Instant::now();
                        if now >= until || st.shutdown {
                            return Err(DropReason::BlockTimeout);
                        }
                        // Settled requests free their files and notify `progress`.
                        st = self
                            .shared
                            .progress
                            .wait_timeout(st, (until - now).min(SYNC_INTERVAL))
                            .unwrap_or_else(|e| e.into_inner())
                            .0;
                    }
                }
            }
        }
        match disk.write(weight, body) {
            Ok(record) => {
                ticket.stored.fetch_add(weight, Ordering::AcqRel);
                Ok(Some(record))
            }
            Err(e) => {
                Stats::add(&self.shared.stats.disk_write_failures, 1);
                self.shared
                    .stats
                    .set_last_error(format!("disk queue: cannot write a request: {e}"));
                Ok(None)
            }
        }
    }

    /// Send one request (written to the disk queue as `record`, if it is), waiting
    /// here for an export slot.
    fn send(&self, body: Bytes, weight: u64, ticket: Arc<Ticket>, record: Option<Record>) {
        // Wait for an in-flight slot; give up if the pipeline is cancelled meanwhile.
        let mut cancelled = self.cancelled.clone();
        let permits = self.permits.clone();
        let permit = self.runtime.block_on(async move {
            tokio::select! {
                p = permits.acquire_owned() => p.ok(),
                _ = cancelled.wait_for(|c| *c) => None,
            }
        });
        let Some(permit) = permit else {
            let outcome = match record {
                Some(_) => Outcome::Stored,
                None => Outcome::Dropped(DropReason::Shutdown),
            };
            self.shared.settle(&ticket, weight, outcome);
            return;
        };
        self.delivery().spawn(body, weight, ticket, record, permit);
    }

    fn delivery(&self) -> Delivery<T> {
        Delivery {
            task: ExportTask {
                shared: self.shared.clone(),
                settings: self.settings.clone(),
                client: self.client.clone(),
                cancelled: self.cancelled.clone(),
            },
            runtime: self.runtime.clone(),
        }
    }
}

/// A spooled request's state: waiting for the dispatcher, taken by it (being sent), or
/// evicted before it was (`drop_oldest` at the disk queue's `max_bytes`). Whoever
/// moves it from `WAITING` first decides.
const WAITING: u8 = 0;
const TAKEN: u8 = 1;
const EVICTED: u8 = 2;

/// A request written to the disk queue, waiting for an export slot.
struct Spooled {
    /// The request, unless it was left on disk only (read back when sent).
    body: Option<Bytes>,
    weight: u64,
    ticket: Arc<Ticket>,
    record: Record,
    state: Arc<AtomicU8>,
}

/// The batcher's handle on a spooled request, to evict it.
struct Waiting {
    state: Arc<AtomicU8>,
    record: Record,
    weight: u64,
    ticket: Arc<Ticket>,
}

/// Sends the requests of the disk queue in order, as export slots free up.
struct Dispatcher<T> {
    delivery: Delivery<T>,
    permits: Arc<Semaphore>,
}

impl<T: Send + 'static> Dispatcher<T> {
    async fn run(self, mut spool: mpsc::UnboundedReceiver<Spooled>) {
        let mut cancelled = self.delivery.task.cancelled.clone();
        let shared = self.delivery.task.shared.clone();
        loop {
            // Once cancelled (shutdown's deadline passed), what is left here stays on
            // disk: shutdown settles it as such.
            let next = tokio::select! {
                next = spool.recv() => next,
                _ = cancelled.wait_for(|c| *c) => None,
            };
            let Some(next) = next else { return };
            let permit = tokio::select! {
                p = self.permits.clone().acquire_owned() => p.ok(),
                _ = cancelled.wait_for(|c| *c) => None,
            };
            let Some(permit) = permit else { return };
            let taken = next
                .state
                .compare_exchange(WAITING, TAKEN, Ordering::AcqRel, Ordering::Acquire)
                .is_ok();
            if !taken {
                // Evicted (and settled) while it waited.
                if let Some(body) = &next.body {
                    shared
                        .spooled_bytes
                        .fetch_sub(body.len() as u64, Ordering::Relaxed);
                }
                continue;
            }
            let body = match next.body {
                Some(body) => {
                    shared
                        .spooled_bytes
                        .fetch_sub(body.len() as u64, Ordering::Relaxed);
                    body
                }
                None => {
                    let Some(disk) = &shared.disk else { return };
                    match disk.load(&next.record) {
                        Ok(body) => body,
                        Err(e) => {
                            // Damaged since it was written (or by another hand): it
                            // cannot be sent.
                            Stats::add(&shared.stats.disk_corrupt, 1);
                            shared.stats.set_last_error(format!(
                                "disk queue: a request is unreadable: {e}"
                            ));
                            disk.remove(&next.record);
                            shared.settle(
                                &next.ticket,
                                next.weight,
                                Outcome::Dropped(DropReason::NonRetryable),
                            );
                            continue;
                        }
                    }
                }
            };
            self.delivery
                .spawn(body, next.weight, next.ticket, Some(next.record), permit);
        }
    }
}

/// Starts export tasks on the I/O runtime.
struct Delivery<T> {
    task: ExportTask<T>,
    runtime: Handle,
}

impl<T: Send + 'static> Delivery<T> {
    /// Deliver one request in a task holding `permit`, then settle its ticket and
    /// remove it from the disk queue (unless shutdown cancelled it: then it stays).
    fn spawn(
        &self,
        body: Bytes,
        weight: u64,
        ticket: Arc<Ticket>,
        record: Option<Record>,
        permit: OwnedSemaphorePermit,
    ) {
        let task = self.task.clone();
        self.runtime.spawn(async move {
            // A panic while delivering still settles the batch (as failed), so that
            // flush and shutdown are not left waiting for it.
            let mut outcome = CatchPanic(Box::pin(task.deliver(body)))
                .await
                .unwrap_or_else(|e| {
                    task.shared.stats.set_last_error(e.to_string());
                    Outcome::Dropped(DropReason::NonRetryable)
                });
            if let (Some(record), Some(disk)) = (&record, &task.shared.disk) {
                match outcome {
                    // Cancelled by shutdown: the next process sends it.
                    Outcome::Dropped(DropReason::Shutdown) => outcome = Outcome::Stored,
                    _ => disk.remove(record),
                }
                let _ = ticket
                    .stored
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
                        Some(s.saturating_sub(weight))
                    });
            }
            task.shared.settle(&ticket, weight, outcome);
            drop(permit);
        });
    }
}

/// A future whose panic becomes an [`Error::Internal`] instead of unwinding.
struct CatchPanic<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchPanic<F> {
    type Output = Result<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.0.as_mut();
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(panic) => Poll::Ready(Err(Error::from_panic(&*panic))),
        }
    }
}

struct ExportTask<T> {
    shared: Arc<Shared<T>>,
    settings: Arc<ExportSettings<T>>,
    client: Arc<Client>,
    cancelled: watch::Receiver<bool>,
}

impl<T> Clone for ExportTask<T> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            settings: self.settings.clone(),
            client: self.client.clone(),
            cancelled: self.cancelled.clone(),
        }
    }
}

impl<T> ExportTask<T> {
    /// Send `body` until it is accepted, fails for good, or the retry budget is spent.
    async fn deliver(&self, body: Bytes) -> Outcome {
        let stats = &self.shared.stats;
        let start = tokio::time::Instant::now();
        let mut backoff = Backoff::new(self.settings.retry);
        let mut cancelled = self.cancelled.clone();
        let circuit = &self.shared.circuit;
        loop {
            // An open circuit holds attempts back (the wait counts against the budget).
            let probe = loop {
                match circuit.admit() {
                    Admission::Go { probe } => break probe,
                    Admission::Wait(d) => {
                        if start.elapsed().saturating_add(d) > self.settings.retry.max_elapsed {
                            stats.set_last_error(circuit.open_reason());
                            return Outcome::Dropped(DropReason::RetriesExhausted);
                        }
                        tokio::select! {
                            _ = tokio::time::sleep(d) => {}
                            _ = cancelled.wait_for(|c| *c) => return Outcome::Dropped(DropReason::Shutdown),
                        }
                    }
                }
            };
            let attempt =
                self.client
                    .send(self.settings.paths, body.clone(), self.settings.timeout);
            let (result, sent) = tokio::select! {
                r = attempt => r,
                _ = cancelled.wait_for(|c| *c) => {
                    circuit.record(None, probe);
                    return Outcome::Dropped(DropReason::Shutdown);
                }
            };
            // Only "unreachable or not coping" failures count against the collector.
            let counted = match &result {
                Err(status) if is_retryable(status) => Some(status.to_string()),
                _ => None,
            };
            circuit.record(counted.as_deref(), probe);
            if sent {
                Stats::add(&stats.bytes_sent, body.len() as u64);
            }
            let status = match result {
                Ok(accepted) => {
                    Stats::add(&stats.requests_ok, 1);
                    if let Some(warning) = accepted.warning {
                        stats.set_last_error(warning);
                    }
                    return Outcome::Exported {
                        rejected: accepted.rejected,
                    };
                }
                Err(status) => status,
            };
            Stats::add(&stats.requests_failed, 1);
            stats.set_last_error(status.to_string());
            if !is_retryable(&status) {
                return Outcome::Dropped(DropReason::NonRetryable);
            }
            let Some(delay) = backoff.next_delay(start.elapsed(), status.retry_delay) else {
                return Outcome::Dropped(DropReason::RetriesExhausted);
            };
            Stats::add(&stats.requests_retried, 1);
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = cancelled.wait_for(|c| *c) => return Outcome::Dropped(DropReason::Shutdown),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::grpc::{GrpcClient, GrpcConfig};
    use crate::transport::{Compression, Endpoint};

    struct Item(bool);

    impl Weighted for Item {
        fn weight(&self) -> u64 {
            1
        }

        fn bytes(&self) -> usize {
            100
        }
    }

    /// Encodes nothing, and panics on an item marked `true`: a stand-in for a bug.
    fn encode(items: &[Item], _buf: &mut Vec<u8>) {
        assert!(!items.iter().any(|i| i.0), "an encoder bug");
    }

    /// A collection of `.0` metric points: it weighs what it holds.
    struct Points(u64);

    impl Weighted for Points {
        fn weight(&self) -> u64 {
            self.0
        }

        fn bytes(&self) -> usize {
            self.0 as usize * 10
        }
    }

    /// An item of `bytes` whose encoding waits until its gate opens: a stuck export.
    struct Held {
        bytes: usize,
        gate: Arc<(Mutex<bool>, Condvar)>,
    }

    impl Weighted for Held {
        fn weight(&self) -> u64 {
            1
        }

        fn bytes(&self) -> usize {
            self.bytes
        }
    }

    fn wait_for_gate(items: &[Held], _buf: &mut Vec<u8>) {
        for item in items {
            let (open, changed) = &*item.gate;
            let mut open = open.lock().unwrap();
            while !*open {
                open = changed.wait(open).unwrap();
            }
        }
    }

    fn gate() -> Arc<(Mutex<bool>, Condvar)> {
        Arc::new((Mutex::new(false), Condvar::new()))
    }

    fn open(gate: &(Mutex<bool>, Condvar)) {
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
    }

    #[test]
    fn a_batch_taken_by_swapping_deques_leaves_what_is_behind_it_queued_in_order() {
        let mut st = State::new();
        let push = |st: &mut State<u64>, items: std::ops::Range<u64>| {
            for i in items {
                st.queue.push_back(i);
                st.sizes.push_back(i as usize + 1);
                st.queued_bytes += i as usize + 1;
            }
        };
        let mut spare = Spare::new(512);
        push(&mut st, 0..700);
        assert!(spare.fits(&st, 512));
        spare.take(&mut st, 512);
        assert!(spare.items.iter().copied().eq(0..512));
        assert!(spare.sizes.iter().copied().eq(1..513));
        assert!(st.queue.iter().copied().eq(512..700));
        assert!(st.sizes.iter().copied().eq(513..701));
        assert_eq!(st.queued_bytes, (513..701).sum::<usize>());
        // The deques come back empty and serve again; the queue keeps its order.
        spare.items.clear();
        spare.sizes.clear();
        push(&mut st, 700..1100);
        assert!(spare.fits(&st, 512));
        spare.take(&mut st, 512);
        assert!(spare.items.iter().copied().eq(512..1024));
        assert!(st.queue.iter().copied().eq(1024..1100));
        assert_eq!(st.queued_bytes, (1025..1101).sum::<usize>());
        assert_eq!(st.queued_bytes, st.sizes.iter().sum::<usize>());
        // More behind the batch than in it: the batch is moved out instead.
        spare.items.clear();
        spare.sizes.clear();
        push(&mut st, 1100..2100);
        assert!(!spare.fits(&st, 512));
        // A smaller batch (a partial one) fits when as much is behind it.
        let mut st = State::new();
        push(&mut st, 0..10);
        assert!(spare.fits(&st, 5) && !spare.fits(&st, 4));
        // After a backlog, the deques give back what a batch and its followers do not need.
        let mut spare = Spare::<u64>::new(512);
        spare.items.reserve(100_000);
        spare.sizes.reserve(100_000);
        spare.trim(512);
        assert!(spare.items.capacity() < 8 * 512 && spare.items.capacity() >= 1024);
        assert!(spare.sizes.capacity() < 8 * 512 && spare.sizes.capacity() >= 1024);
    }

    fn pipeline(config: BatchConfig) -> Pipeline<Item> {
        pipeline_of(config, QueueConfig::default(), encode)
    }

    fn pipeline_of<T: Weighted + Send + 'static>(
        config: BatchConfig,
        queue: QueueConfig,
        encode: fn(&[T], &mut Vec<u8>),
    ) -> Pipeline<T> {
        let client = GrpcClient::new(GrpcConfig {
            // Nothing listens on port 9 of loopback: every attempt is refused.
            endpoint: Endpoint::parse("http://127.0.0.1:9").unwrap(),
            headers: Default::default(),
            compression: Compression::None,
            user_agent: "test".into(),
            tls: None,
        })
        .unwrap();
        Pipeline::start(
            config,
            queue,
            ExportSettings {
                paths: Paths {
                    grpc: "/x",
                    http: "/x",
                },
                encode,
                timeout: Duration::from_secs(1),
                retry: RetryPolicy {
                    max_elapsed: Duration::ZERO,
                    ..RetryPolicy::default()
                },
                circuit: CircuitConfig {
                    failure_threshold: 0,
                    ..CircuitConfig::default()
                },
                max_request_size: 1 << 20,
            },
            Arc::new(Client::Grpc(client)),
            crate::runtime::handle().unwrap(),
            Arc::new(Stats::default()),
        )
        .unwrap()
    }

    #[test]
    fn a_panicking_batcher_settles_what_it_held_and_flush_returns() {
        let p = pipeline(BatchConfig::default());
        p.push(Item(true));
        p.push(Item(false));
        let start = Instant::now();
        // It returns at once, and says that not everything was delivered.
        assert!(!p.force_flush(crate::time::after(Duration::from_secs(30))));
        assert!(start.elapsed() < Duration::from_secs(10));
        let s = p.stats().snapshot();
        assert_eq!(s.failed_non_retryable, 2, "{s:?}");
        assert!(
            s.last_error
                .as_deref()
                .unwrap_or("")
                .contains("an encoder bug"),
            "{s:?}"
        );
        // Later items are counted, not queued for a batcher that is gone.
        p.push(Item(false));
        assert_eq!(p.pending(), 0);
        assert!(p.shutdown(crate::time::after(Duration::from_secs(1))));
    }

    #[test]
    fn what_shutdown_drops_from_the_queue_is_counted_by_weight() {
        let p = pipeline_of(
            BatchConfig {
                max_export_batch_size: 1,
                max_concurrent_exports: 1,
                ..BatchConfig::default()
            },
            QueueConfig::default(),
            |_: &[Points], _: &mut Vec<u8>| {},
        );
        for _ in 0..4 {
            p.push(Points(7));
        }
        p.shutdown(Instant::now());
        let s = p.stats().snapshot();
        assert_eq!(s.accepted, 28);
        // Queued, in flight or already failed: every point is counted once.
        assert_eq!(s.dropped_shutdown + s.failed_retries_exhausted, 28, "{s:?}");
    }

    #[test]
    fn absurd_durations_never_overflow_a_deadline() {
        let p = pipeline(BatchConfig {
            schedule_delay: crate::time::MAX_DURATION,
            ..BatchConfig::default()
        });
        p.push(Item(false));
        p.force_flush(crate::time::after(Duration::MAX));
        assert_eq!(p.stats().snapshot().failed_retries_exhausted, 1);
        assert!(p.shutdown(crate::time::after(Duration::MAX)));
        let err = BatchConfig {
            schedule_delay: Duration::MAX,
            ..BatchConfig::default()
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(err.contains("`schedule_delay` must be at most"), "{err}");
        let err = BatchConfig {
            max_queue_size: 1 << 61,
            ..BatchConfig::default()
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("`max_queue_size` must be between 1 and"),
            "{err}"
        );
    }

    #[test]
    fn a_panicking_future_becomes_an_internal_error() {
        let rt = crate::runtime::handle().unwrap();
        let out = rt.block_on(CatchPanic(Box::pin(async {
            if std::hint::black_box(true) {
                panic!("boom");
            }
            1
        })));
        let err = out.unwrap_err().to_string();
        assert!(
            err.contains("internal error") && err.contains("boom"),
            "{err}"
        );
    }

    /// A pipeline whose batcher is stuck on its first batch (of one item) until `gate`
    /// opens, with room for `queue` items of 100 bytes behind it.
    fn stuck(queue: usize, overflow: Overflow) -> (Pipeline<Held>, Arc<(Mutex<bool>, Condvar)>) {
        stuck_with(queue, overflow, QueueConfig::default().max_queue_bytes)
    }

    fn stuck_with(
        queue: usize,
        overflow: Overflow,
        max_queue_bytes: usize,
    ) -> (Pipeline<Held>, Arc<(Mutex<bool>, Condvar)>) {
        let g = gate();
        let p = pipeline_of(
            BatchConfig {
                max_queue_size: queue,
                max_export_batch_size: 1,
                max_concurrent_exports: 1,
                ..BatchConfig::default()
            },
            QueueConfig {
                overflow,
                block_timeout: Duration::from_millis(200),
                max_queue_bytes,
                ..QueueConfig::default()
            },
            wait_for_gate,
        );
        p.push(Held {
            bytes: 100,
            gate: g.clone(),
        });
        // The batcher holds the first item once the queue is empty again.
        let until = crate::time::after(Duration::from_secs(10));
        while p.shared.lock().queue.len() == 1 && Instant::now() < until {
            std::thread::yield_now();
        }
        (p, g)
    }

    fn held(g: &Arc<(Mutex<bool>, Condvar)>) -> Held {
        Held {
            bytes: 100,
            gate: g.clone(),
        }
    }

    #[test]
    fn drop_oldest_evicts_to_make_room_and_counts_it() {
        let (p, g) = stuck(4, Overflow::DropOldest);
        for _ in 0..10 {
            assert!(matches!(p.offer(held(&g)), Offer::Queued));
        }
        let s = p.stats().snapshot();
        assert_eq!((s.accepted, s.dropped_evicted), (11, 6), "{s:?}");
        assert_eq!(p.shared.lock().queue.len(), 4);
        open(&g);
        p.shutdown(crate::time::after(Duration::from_secs(10)));
        let s = p.stats().snapshot();
        assert_eq!(s.dropped() + s.failed() + s.exported, 11, "{s:?}");
    }

    #[test]
    fn block_hands_the_item_back_and_waits_for_room_until_its_timeout() {
        let (p, g) = stuck(2, Overflow::Block);
        p.push(held(&g));
        p.push(held(&g));
        let Offer::Full(item) = p.offer(held(&g)) else {
            panic!("a full queue under `block` hands the item back");
        };
        let started = Instant::now();
        p.push_wait(item, crate::time::after(Duration::from_millis(200)));
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert_eq!(p.stats().snapshot().dropped_block_timeout, 1);
        // Room made while a producer waits lets it in.
        let waiter = {
            let p = Arc::new(p);
            let (p2, g2) = (p.clone(), g.clone());
            let t = std::thread::spawn(move || p2.push(held(&g2)));
            (p, t)
        };
        let (p, t) = waiter;
        open(&g);
        t.join().unwrap();
        p.shutdown(crate::time::after(Duration::from_secs(10)));
        let s = p.stats().snapshot();
        assert_eq!(s.dropped_block_timeout, 1, "{s:?}");
        assert_eq!(s.accepted, 5, "{s:?}");
    }

    #[test]
    fn shutdown_releases_blocked_producers() {
        let (p, g) = stuck(1, Overflow::Block);
        p.push(held(&g));
        let p = Arc::new(p);
        let producers: Vec<_> = (0..4)
            .map(|_| {
                let (p, g) = (p.clone(), g.clone());
                std::thread::spawn(move || {
                    if let Offer::Full(item) = p.offer(held(&g)) {
                        p.push_wait(item, crate::time::after(Duration::from_secs(60)));
                    }
                })
            })
            .collect();
        let until = crate::time::after(Duration::from_secs(10));
        while p.shared.lock().waiting < 4 && Instant::now() < until {
            std::thread::yield_now();
        }
        let started = Instant::now();
        p.begin_shutdown();
        for t in producers {
            t.join().unwrap();
        }
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(p.stats().snapshot().dropped_shutdown, 4);
        open(&g);
        p.shutdown(crate::time::after(Duration::from_secs(5)));
    }

    #[test]
    fn the_byte_bound_holds_whatever_the_item_count() {
        // Room for 1,000 items, but only for 4 KiB of them: 40 items of 100 bytes.
        let cap = 4096;
        let (p, g) = stuck_with(1000, Overflow::DropNewest, cap);
        for _ in 0..100 {
            p.offer(held(&g));
        }
        assert_eq!(p.shared.lock().queue.len(), 40);
        assert!(p.shared.lock().queued_bytes <= cap);
        let huge = Held {
            bytes: cap + 1,
            gate: g.clone(),
        };
        assert!(matches!(p.offer(huge), Offer::Dropped));
        assert_eq!(p.stats().snapshot().dropped_queue_full, 61);
        open(&g);
        p.shutdown(crate::time::after(Duration::from_secs(10)));
    }
}
