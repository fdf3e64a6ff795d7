//! What happens to telemetry an application gets wrong, or sends too late.
//!
//! Telemetry never breaks the application (OpenTelemetry specification, "Error
//! handling"): an attribute that cannot be encoded, an unusable measurement or a call
//! after shutdown is dropped, counted, and reported once. Strict mode, meant for
//! tests, makes the caller raise instead. Configuration errors are not this module's:
//! they are reported at construction.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

/// Distinct problems reported per exporter; beyond it they are only counted (a
/// cardinality bomb must not become a log flood).
const MAX_REPORTS: usize = 100;

/// What the caller does with a bad value or a late call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Drop it (it was counted).
    Drop {
        /// Report it: the first time this topic comes up (within a limit).
        report: bool,
    },
    /// Strict mode: raise.
    Raise,
}

/// One exporter's handling of bad values and late calls.
#[derive(Debug, Default)]
pub struct Policy {
    strict: bool,
    shut_down: AtomicBool,
    attributes_dropped_invalid: AtomicU64,
    measurements_dropped_invalid: AtomicU64,
    dropped_after_shutdown: AtomicU64,
    /// Topics reported already (a key, an instrument, "shutdown").
    reported: Mutex<HashSet<String>>,
}

impl Policy {
    /// A policy, strict or not.
    pub fn new(strict: bool) -> Self {
        Self {
            strict,
            ..Self::default()
        }
    }

    /// Whether bad values raise.
    pub fn strict(&self) -> bool {
        self.strict
    }

    /// From now on every call records nothing.
    pub fn mark_shut_down(&self) {
        self.shut_down.store(true, Ordering::Release);
    }

    /// Whether the exporter is shut down.
    pub fn is_shut_down(&self) -> bool {
        self.shut_down.load(Ordering::Acquire)
    }

    /// `None` while the exporter runs; after shutdown, what to do with the call
    /// (counted in `dropped_after_shutdown` when dropped).
    #[inline]
    pub fn late(&self) -> Option<Verdict> {
        if !self.is_shut_down() {
            return None;
        }
        Some(self.verdict(&self.dropped_after_shutdown, "shutdown"))
    }

    /// An attribute `key` whose key or value cannot be encoded.
    pub fn bad_attribute(&self, key: &str) -> Verdict {
        self.verdict(
            &self.attributes_dropped_invalid,
            &format!("attribute:{key}"),
        )
    }

    /// A measurement of `instrument` that cannot be recorded.
    pub fn bad_measurement(&self, instrument: &str) -> Verdict {
        self.verdict(
            &self.measurements_dropped_invalid,
            &format!("measurement:{instrument}"),
        )
    }

    /// Whether `topic` is reported now (the first time it comes up, within the limit).
    pub fn first_time(&self, topic: &str) -> bool {
        let mut seen = self.reported.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= MAX_REPORTS || seen.contains(topic) {
            return false;
        }
        seen.insert(topic.to_owned())
    }

    fn verdict(&self, counter: &AtomicU64, topic: &str) -> Verdict {
        if self.strict {
            return Verdict::Raise;
        }
        counter.fetch_add(1, Ordering::Relaxed);
        Verdict::Drop {
            report: self.first_time(topic),
        }
    }

    /// Attributes dropped so far.
    pub fn attributes_dropped_invalid(&self) -> u64 {
        self.attributes_dropped_invalid.load(Ordering::Relaxed)
    }

    /// Measurements dropped so far.
    pub fn measurements_dropped_invalid(&self) -> u64 {
        self.measurements_dropped_invalid.load(Ordering::Relaxed)
    }

    /// Calls dropped after shutdown so far.
    pub fn dropped_after_shutdown(&self) -> u64 {
        self.dropped_after_shutdown.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_are_counted_and_reported_once_per_topic() {
        let p = Policy::new(false);
        assert_eq!(p.bad_attribute("k"), Verdict::Drop { report: true });
        assert_eq!(p.bad_attribute("k"), Verdict::Drop { report: false });
        assert_eq!(p.bad_attribute("j"), Verdict::Drop { report: true });
        assert_eq!(p.attributes_dropped_invalid(), 3);
        assert_eq!(p.late(), None);
        p.mark_shut_down();
        assert_eq!(p.late(), Some(Verdict::Drop { report: true }));
        assert_eq!(p.late(), Some(Verdict::Drop { report: false }));
        assert_eq!(p.dropped_after_shutdown(), 2);
        for i in 0..1000 {
            p.bad_measurement(&format!("m{i}"));
        }
        assert_eq!(p.measurements_dropped_invalid(), 1000);
        assert!(!p.first_time("another"), "reports are bounded");
    }

    #[test]
    fn strict_mode_raises_and_counts_nothing() {
        let p = Policy::new(true);
        assert_eq!(p.bad_attribute("k"), Verdict::Raise);
        p.mark_shut_down();
        assert_eq!(p.late(), Some(Verdict::Raise));
        assert_eq!(
            p.attributes_dropped_invalid() + p.dropped_after_shutdown(),
            0
        );
    }
}
