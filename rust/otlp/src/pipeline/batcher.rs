//! The batching pipeline of one signal.
//!
//! Producers (application threads) push items into a bounded queue under a short lock.
//! A dedicated batcher thread takes batches when `max_export_batch_size` items are
//! waiting, when `schedule_delay` has passed, or on flush/shutdown; it encodes each
//! batch into one buffer (halving a batch until each part fits `max_request_size`)
//! and hands it to the I/O runtime, which sends it with retries.
//! Every item handed to [`Pipeline::push`] is accounted exactly once in [`Stats`]:
//! exported, rejected by the collector, dropped or failed (each with its reason).

use std::collections::VecDeque;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::runtime::Handle;
use tokio::sync::{watch, Semaphore};

use crate::error::{Error, Result};
use crate::resilience::circuit::{Admission, Circuit, CircuitConfig, SystemClock};
use crate::resilience::retry::{is_retryable, Backoff, RetryPolicy};
use crate::stats::{DropReason, Stats};
use crate::time::Done;
use crate::transport::{Client, Paths};

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
}

struct State<T> {
    /// A deque: taking a batch from the front must not move the backlog behind it.
    queue: VecDeque<T>,
    shutdown: bool,
    batcher_done: bool,
    flush_requested: u64,
    flush_done: u64,
    /// Tickets up to this id were created by the last completed flush drain.
    flush_barrier: u64,
    next_ticket: u64,
    live: Vec<Arc<Ticket>>,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    /// Wakes the batcher.
    wake: Condvar,
    /// Wakes `force_flush` / `shutdown` waiters when tickets settle.
    progress: Condvar,
    stats: Arc<Stats>,
    config: BatchConfig,
    circuit: Arc<Circuit>,
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
        }
        if left == take {
            let mut st = self.lock();
            st.live.retain(|t| t.id != ticket.id);
            drop(st);
            self.progress.notify_all();
        }
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
        let left = std::mem::take(&mut st.queue);
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
    Exported { rejected: u64 },
    Dropped(DropReason),
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
        settings: ExportSettings<T>,
        client: Arc<Client>,
        runtime: Handle,
        stats: Arc<Stats>,
    ) -> Result<Self> {
        config.validate_at("batch.")?;
        settings.retry.validate_at("retry.")?;
        settings.circuit.validate_at("circuit_breaker.")?;
        crate::time::check_positive(settings.timeout, "timeout")?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                // Grows as items arrive: a large `max_queue_size` costs nothing until used.
                queue: VecDeque::new(),
                shutdown: false,
                batcher_done: false,
                flush_requested: 0,
                flush_done: 0,
                flush_barrier: 0,
                next_ticket: 1,
                live: Vec::new(),
            }),
            wake: Condvar::new(),
            progress: Condvar::new(),
            stats,
            config,
            circuit: Arc::new(Circuit::new(settings.circuit, Arc::new(SystemClock))),
        });
        let (cancel, cancelled) = watch::channel(false);
        let batcher = Batcher {
            shared: shared.clone(),
            settings: Arc::new(settings),
            client,
            runtime,
            permits: Arc::new(Semaphore::new(config.max_concurrent_exports)),
            cancelled,
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

    /// Hand an ended item to the pipeline. Never blocks beyond a short lock; when the
    /// queue is full or the pipeline is shut down the item is dropped and counted.
    pub fn push(&self, item: T) {
        let stats = &self.shared.stats;
        let weight = item.weight();
        Stats::add(&stats.accepted, weight);
        let mut st = self.shared.lock();
        if st.shutdown {
            drop(st);
            stats.dropped(DropReason::Shutdown, weight);
            return;
        }
        if st.queue.len() >= self.shared.config.max_queue_size {
            drop(st);
            stats.dropped(DropReason::QueueFull, weight);
            return;
        }
        st.queue.push_back(item);
        let full = st.queue.len() == self.shared.config.max_export_batch_size;
        drop(st);
        if full {
            self.shared.wake.notify_one();
        }
    }

    /// Hand several items to the pipeline under one lock (an SDK exporter's batch).
    /// What the queue has no room for, or everything after shutdown, is dropped and
    /// counted as [`Self::push`] counts it; returns how many items were dropped.
    pub fn push_all(&self, mut items: Vec<T>) -> usize {
        let stats = &self.shared.stats;
        let weight = weight_of(&items);
        Stats::add(&stats.accepted, weight);
        let batch = self.shared.config.max_export_batch_size;
        let mut st = self.shared.lock();
        if st.shutdown {
            drop(st);
            stats.dropped(DropReason::Shutdown, weight);
            return items.len();
        }
        let room = self
            .shared
            .config
            .max_queue_size
            .saturating_sub(st.queue.len());
        let refused = items.split_off(items.len().min(room));
        let before = st.queue.len();
        st.queue.extend(items);
        let full = before < batch && st.queue.len() >= batch;
        drop(st);
        if !refused.is_empty() {
            stats.dropped(DropReason::QueueFull, weight_of(&refused));
        }
        if full {
            self.shared.wake.notify_one();
        }
        refused.len()
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
        let left = std::mem::take(&mut st.queue);
        let live = std::mem::take(&mut st.live);
        let idle = st.batcher_done;
        drop(st);
        if !left.is_empty() {
            // By weight: a queued metrics collection counts its data points.
            let weight = weight_of(left.as_slices().0) + weight_of(left.as_slices().1);
            self.shared.stats.dropped(DropReason::Shutdown, weight);
        }
        for t in &live {
            self.shared
                .settle(t, u64::MAX, Outcome::Dropped(DropReason::Shutdown));
        }
        let _ = self.cancel.send(true);
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
    shared: Arc<Shared<T>>,
    settings: Arc<ExportSettings<T>>,
    client: Arc<Client>,
    runtime: Handle,
    permits: Arc<Semaphore>,
    cancelled: watch::Receiver<bool>,
}

impl<T: Weighted + Send + 'static> Batcher<T> {
    fn run(self) {
        let cfg = self.shared.config;
        let mut next_export = crate::time::after(cfg.schedule_delay);
        loop {
            let mut st = self.shared.lock();
            loop {
                if st.shutdown
                    || st.flush_requested > st.flush_done
                    || st.queue.len() >= cfg.max_export_batch_size
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
            // Full batches always; a partial one on timer, flush and shutdown.
            let mut batches = Vec::new();
            while st.queue.len() >= cfg.max_export_batch_size
                || ((draining || timer) && !st.queue.is_empty())
            {
                let n = st.queue.len().min(cfg.max_export_batch_size);
                let batch: Vec<T> = st.queue.drain(..n).collect();
                let ticket = Arc::new(Ticket {
                    id: st.next_ticket,
                    remaining: AtomicU64::new(weight_of(&batch)),
                });
                st.next_ticket += 1;
                st.live.push(ticket.clone());
                batches.push((batch, ticket));
                if !draining {
                    break;
                }
            }
            let barrier = st.next_ticket - 1;
            drop(st);
            if timer || batches.is_empty() {
                next_export = crate::time::after(cfg.schedule_delay);
            }
            for (batch, ticket) in batches {
                self.export(batch, ticket);
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
        // The message is written after 5 bytes of headroom for the gRPC prefix.
        let mut buf = vec![0u8; 5];
        (settings.encode)(&batch, &mut buf);
        let len = buf.len() - 5;
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
            self.shared
                .settle(&ticket, weight, Outcome::Dropped(DropReason::Shutdown));
            return;
        };
        let task = ExportTask {
            shared: self.shared.clone(),
            settings,
            client: self.client.clone(),
            cancelled: self.cancelled.clone(),
        };
        self.runtime.spawn(async move {
            // A panic while delivering still settles the batch (as failed), so that
            // flush and shutdown are not left waiting for it.
            let outcome = CatchPanic(Box::pin(task.deliver(body)))
                .await
                .unwrap_or_else(|e| {
                    task.shared.stats.set_last_error(e.to_string());
                    Outcome::Dropped(DropReason::NonRetryable)
                });
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
    }

    fn pipeline(config: BatchConfig) -> Pipeline<Item> {
        pipeline_of(config, encode)
    }

    fn pipeline_of<T: Weighted + Send + 'static>(
        config: BatchConfig,
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
    fn push_all_queues_what_fits_and_counts_the_rest() {
        let p = pipeline_of(
            BatchConfig {
                max_queue_size: 5,
                max_export_batch_size: 5,
                schedule_delay: Duration::from_secs(3600),
                max_concurrent_exports: 1,
            },
            |_: &[Points], _: &mut Vec<u8>| {},
        );
        assert_eq!(p.push_all(vec![Points(1), Points(2)]), 0);
        assert_eq!(p.pending(), 3);
        // Room for three more items: the last two are refused, by weight.
        assert_eq!(
            p.push_all(vec![Points(1), Points(1), Points(1), Points(4), Points(5)]),
            2
        );
        let s = p.stats().snapshot();
        assert_eq!((s.accepted, s.dropped_queue_full), (15, 9), "{s:?}");
        p.shutdown(Instant::now());
        assert_eq!(p.push_all(vec![Points(3)]), 1);
        let s = p.stats().snapshot();
        assert_eq!(s.accepted, 18);
        assert_eq!(s.dropped_queue_full, 9);
        // Every point is settled once: the 6 queued whatever shutdown found, and the 3
        // pushed after it.
        assert_eq!(
            s.dropped_shutdown + s.failed_retries_exhausted + s.exported,
            9,
            "{s:?}"
        );
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
}
