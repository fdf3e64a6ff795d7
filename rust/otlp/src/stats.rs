//! Counters of one signal's pipeline, readable at any time without locking.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Why items were dropped or failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// The in-memory queue was full when the item arrived.
    QueueFull,
    /// The exporter shut down (or its deadline passed) before the item was sent.
    Shutdown,
    /// The collector answered with an error that must not be retried.
    NonRetryable,
    /// Every retry failed until the retry policy's time ran out.
    RetriesExhausted,
    /// A single item was larger than a request may be.
    TooLarge,
    /// Queued items removed to make room for newer ones (`Overflow::DropOldest`).
    Evicted,
    /// A producer waited `block_timeout` for room in vain (`Overflow::Block`).
    BlockTimeout,
}

/// One pipeline's counters, updated with relaxed atomics; read them with
/// [`Stats::snapshot`].
///
/// Items are counted by weight ([`crate::pipeline::Weighted`]): a span or a log record
/// counts one, a metrics collection its data points. Every accepted item is settled in
/// exactly one of `exported`, `rejected`, `dropped_*` and `failed_*`, and is pending
/// until then.
#[derive(Debug, Default)]
pub struct Stats {
    /// Items handed to the pipeline, whatever became of them.
    pub accepted: AtomicU64,
    /// Items delivered and not rejected by the collector.
    pub exported: AtomicU64,
    /// Items the collector reported as rejected in a partial success.
    pub rejected: AtomicU64,
    /// Items dropped because the queue was full.
    pub dropped_queue_full: AtomicU64,
    /// Items pushed after shutdown, or still queued or in flight when it ended.
    pub dropped_shutdown: AtomicU64,
    /// Items that alone exceed the largest request allowed.
    pub dropped_too_large: AtomicU64,
    /// Queued items removed to make room for newer ones.
    pub dropped_evicted: AtomicU64,
    /// Items whose producer waited for room until `block_timeout`.
    pub dropped_block_timeout: AtomicU64,
    /// Items unsent at shutdown but kept in the disk queue: the next process on the
    /// same directory sends them (not lost, so not counted as dropped).
    pub left_on_disk: AtomicU64,
    /// Requests found damaged in the disk queue on start (short, corrupted,
    /// zero-filled), skipped and removed.
    pub disk_corrupt: AtomicU64,
    /// Requests found in the disk queue encoded for another protocol or compression,
    /// skipped and removed.
    pub disk_incompatible: AtomicU64,
    /// Requests that could not be written to the disk queue (sent without it).
    pub disk_write_failures: AtomicU64,
    /// Items whose export failed with an error that must not be retried (or was lost
    /// to an internal error).
    pub failed_non_retryable: AtomicU64,
    /// Items still failing when the retry policy's `max_elapsed` ran out.
    pub failed_retries_exhausted: AtomicU64,
    /// Export requests the collector accepted.
    pub requests_ok: AtomicU64,
    /// Export attempts that failed (every attempt of a retried request counts).
    pub requests_failed: AtomicU64,
    /// Failed attempts followed by a retry.
    pub requests_retried: AtomicU64,
    /// Request bytes handed to a connection (compressed and framed), every attempt
    /// counted.
    pub bytes_sent: AtomicU64,
    last_error: Mutex<Option<String>>,
}

/// A point-in-time copy of [`Stats`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// [`Stats::accepted`].
    pub accepted: u64,
    /// [`Stats::exported`].
    pub exported: u64,
    /// [`Stats::rejected`].
    pub rejected: u64,
    /// [`Stats::dropped_queue_full`].
    pub dropped_queue_full: u64,
    /// [`Stats::dropped_shutdown`].
    pub dropped_shutdown: u64,
    /// [`Stats::dropped_too_large`].
    pub dropped_too_large: u64,
    /// [`Stats::dropped_evicted`].
    pub dropped_evicted: u64,
    /// [`Stats::dropped_block_timeout`].
    pub dropped_block_timeout: u64,
    /// [`Stats::left_on_disk`].
    pub left_on_disk: u64,
    /// [`Stats::disk_corrupt`].
    pub disk_corrupt: u64,
    /// [`Stats::disk_incompatible`].
    pub disk_incompatible: u64,
    /// [`Stats::disk_write_failures`].
    pub disk_write_failures: u64,
    /// [`Stats::failed_non_retryable`].
    pub failed_non_retryable: u64,
    /// [`Stats::failed_retries_exhausted`].
    pub failed_retries_exhausted: u64,
    /// [`Stats::requests_ok`].
    pub requests_ok: u64,
    /// [`Stats::requests_failed`].
    pub requests_failed: u64,
    /// [`Stats::requests_retried`].
    pub requests_retried: u64,
    /// [`Stats::bytes_sent`].
    pub bytes_sent: u64,
    /// The latest failure, or warning such as a partial success's message (text from
    /// the collector bounded by [`crate::decode::peer_text`]); `None` until there is one.
    pub last_error: Option<String>,
}

impl StatsSnapshot {
    /// Items dropped, for any reason: queue full, shutdown, too large.
    pub fn dropped(&self) -> u64 {
        self.dropped_queue_full
            + self.dropped_shutdown
            + self.dropped_too_large
            + self.dropped_evicted
            + self.dropped_block_timeout
    }

    /// Items whose export failed: not retryable, or retries exhausted.
    pub fn failed(&self) -> u64 {
        self.failed_non_retryable + self.failed_retries_exhausted
    }
}

impl Stats {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn dropped(&self, reason: DropReason, n: u64) {
        let counter = match reason {
            DropReason::QueueFull => &self.dropped_queue_full,
            DropReason::Shutdown => &self.dropped_shutdown,
            DropReason::NonRetryable => &self.failed_non_retryable,
            DropReason::RetriesExhausted => &self.failed_retries_exhausted,
            DropReason::TooLarge => &self.dropped_too_large,
            DropReason::Evicted => &self.dropped_evicted,
            DropReason::BlockTimeout => &self.dropped_block_timeout,
        };
        Self::add(counter, n);
    }

    pub(crate) fn set_last_error(&self, message: String) {
        if let Ok(mut slot) = self.last_error.lock() {
            *slot = Some(message);
        }
    }

    /// A copy of every counter. Each is read on its own, so a snapshot taken while
    /// items settle may be off by those items.
    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            accepted: get(&self.accepted),
            exported: get(&self.exported),
            rejected: get(&self.rejected),
            dropped_queue_full: get(&self.dropped_queue_full),
            dropped_shutdown: get(&self.dropped_shutdown),
            dropped_too_large: get(&self.dropped_too_large),
            dropped_evicted: get(&self.dropped_evicted),
            dropped_block_timeout: get(&self.dropped_block_timeout),
            left_on_disk: get(&self.left_on_disk),
            disk_corrupt: get(&self.disk_corrupt),
            disk_incompatible: get(&self.disk_incompatible),
            disk_write_failures: get(&self.disk_write_failures),
            failed_non_retryable: get(&self.failed_non_retryable),
            failed_retries_exhausted: get(&self.failed_retries_exhausted),
            requests_ok: get(&self.requests_ok),
            requests_failed: get(&self.requests_failed),
            requests_retried: get(&self.requests_retried),
            bytes_sent: get(&self.bytes_sent),
            last_error: self.last_error.lock().ok().and_then(|e| e.clone()),
        }
    }
}
