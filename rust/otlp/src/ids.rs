//! Random trace and span ids and wall-clock timestamps.
//!
//! Ids come from a per-thread wyrand generator seeded from the OS (through std's
//! `RandomState`). After `fork()` the child calls [`reseed_after_fork`] so that parent
//! and child never hand out the same ids.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::model::{SpanId, TraceId};

static FORK_EPOCH: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static RNG: Cell<(u64, u64)> = const { Cell::new((0, u64::MAX)) };
}

fn os_seed() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(FORK_EPOCH.load(Ordering::Relaxed));
    h.finish()
}

/// Next 64 random bits from this thread's generator.
pub fn random_u64() -> u64 {
    RNG.with(|cell| {
        let (mut state, epoch) = cell.get();
        let current = FORK_EPOCH.load(Ordering::Relaxed);
        if epoch != current {
            state = os_seed();
        }
        // wyrand (https://github.com/wangyi-fudan/wyhash)
        state = state.wrapping_add(0xa076_1d64_78bd_642f);
        let t = (state as u128).wrapping_mul((state ^ 0xe703_7ed1_a0b4_28db) as u128);
        cell.set((state, current));
        ((t >> 64) as u64) ^ (t as u64)
    })
}

/// Make every thread draw a fresh seed: call in the child after `fork()`.
pub fn reseed_after_fork() {
    FORK_EPOCH.fetch_add(1, Ordering::Relaxed);
}

/// A random, valid (non-zero) trace id.
pub fn new_trace_id() -> TraceId {
    loop {
        let hi = random_u64();
        let lo = random_u64();
        if hi | lo != 0 {
            let mut id = [0; 16];
            id[..8].copy_from_slice(&hi.to_be_bytes());
            id[8..].copy_from_slice(&lo.to_be_bytes());
            return id;
        }
    }
}

/// A random, valid (non-zero) span id.
pub fn new_span_id() -> SpanId {
    loop {
        let v = random_u64();
        if v != 0 {
            return v.to_be_bytes();
        }
    }
}

/// Nanoseconds since the Unix epoch.
pub fn now_unix_nano() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_distinct_and_nonzero() {
        let ids: HashSet<SpanId> = (0..10_000).map(|_| new_span_id()).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(!ids.contains(&[0; 8]));
        assert_ne!(new_trace_id(), new_trace_id());
    }

    #[test]
    fn reseeding_changes_the_sequence() {
        let before = random_u64();
        reseed_after_fork();
        let after = random_u64();
        assert_ne!(before, after);
    }
}
