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
}

#[derive(Debug, Default)]
pub struct Stats {
    pub accepted: AtomicU64,
    pub exported: AtomicU64,
    /// Items the collector reported as rejected in a partial success.
    pub rejected: AtomicU64,
    pub dropped_queue_full: AtomicU64,
    pub dropped_shutdown: AtomicU64,
    pub dropped_too_large: AtomicU64,
    pub failed_non_retryable: AtomicU64,
    pub failed_retries_exhausted: AtomicU64,
    pub requests_ok: AtomicU64,
    pub requests_failed: AtomicU64,
    pub requests_retried: AtomicU64,
    pub bytes_sent: AtomicU64,
    last_error: Mutex<Option<String>>,
}

/// A point-in-time copy of [`Stats`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub accepted: u64,
    pub exported: u64,
    pub rejected: u64,
    pub dropped_queue_full: u64,
    pub dropped_shutdown: u64,
    pub dropped_too_large: u64,
    pub failed_non_retryable: u64,
    pub failed_retries_exhausted: u64,
    pub requests_ok: u64,
    pub requests_failed: u64,
    pub requests_retried: u64,
    pub bytes_sent: u64,
    pub last_error: Option<String>,
}

impl StatsSnapshot {
    pub fn dropped(&self) -> u64 {
        self.dropped_queue_full + self.dropped_shutdown + self.dropped_too_large
    }

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
        };
        Self::add(counter, n);
    }

    pub(crate) fn set_last_error(&self, message: String) {
        if let Ok(mut slot) = self.last_error.lock() {
            *slot = Some(message);
        }
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            accepted: get(&self.accepted),
            exported: get(&self.exported),
            rejected: get(&self.rejected),
            dropped_queue_full: get(&self.dropped_queue_full),
            dropped_shutdown: get(&self.dropped_shutdown),
            dropped_too_large: get(&self.dropped_too_large),
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
