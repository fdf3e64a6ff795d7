//! Random trace and span ids and wall-clock timestamps.
//!
//! Ids come from a per-thread wyrand generator seeded from the OS (`/dev/urandom`),
//! mixed with the process id and the clock. A child of `fork()` starts with copies of
//! its parent's generators, so every fork bumps an epoch in the child and each thread
//! draws a fresh seed at its next id: siblings forked from one parent (gunicorn
//! `--preload`, uWSGI, multiprocessing) never repeat each other's ids, nor the parent's.
//! The epoch is bumped by a `pthread_atfork` handler, which sees every `fork()` made
//! through libc, including those of C extensions that run no Python at-fork hook.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::model::{SpanId, TraceId};

static FORK_EPOCH: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static RNG: Cell<(u64, u64)> = const { Cell::new((0, u64::MAX)) };
}

/// splitmix64's finaliser: spreads every input bit over the whole word.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// 128 bits from the kernel, read afresh at each call (std's `RandomState` would not
/// do: it draws its keys once per thread and then only increments them, so every
/// child forked from one parent would derive the same seed).
fn os_entropy() -> Option<u128> {
    let mut bytes = [0; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .ok()?;
    Some(u128::from_ne_bytes(bytes))
}

fn fresh_seed() -> u64 {
    watch_forks();
    let entropy = os_entropy().unwrap_or_else(|| {
        // No /dev/urandom (Windows, a sandbox, no descriptor left): std's keys, which
        // the process id and the clock below tell apart after a fork.
        let key = || u128::from(RandomState::new().build_hasher().finish());
        key() << 64 | key()
    });
    let (a, b) = (entropy as u64, (entropy >> 64) as u64);
    let clock = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let process = u64::from(std::process::id()).rotate_left(32);
    mix(a ^ mix(b ^ process ^ clock))
}

/// Have the child of every `fork()` bump the epoch. Registered once per process, the
/// first time a generator is seeded (a process that never drew an id has nothing to
/// reseed). A flag rather than `Once`: a `Once` caught mid-call by a fork would block
/// the child forever.
#[cfg(unix)]
fn watch_forks() {
    use std::sync::atomic::AtomicBool;

    static WATCHING: AtomicBool = AtomicBool::new(false);

    extern "C" {
        // POSIX, in the C library that std links on every Unix.
        fn pthread_atfork(
            prepare: Option<unsafe extern "C" fn()>,
            parent: Option<unsafe extern "C" fn()>,
            child: Option<unsafe extern "C" fn()>,
        ) -> std::ffi::c_int;
    }

    unsafe extern "C" fn in_child() {
        reseed_after_fork();
    }

    if !WATCHING.swap(true, Ordering::Relaxed) {
        // SAFETY: `in_child` only increments an atomic, which is async-signal-safe as a
        // handler running in a fork child must be, and it is a plain function that lives
        // as long as the process. The call can only fail for lack of memory; the Python
        // package's `os.register_at_fork` hook then still reseeds after `os.fork()`.
        unsafe {
            pthread_atfork(None, None, Some(in_child));
        }
    }
}

#[cfg(not(unix))]
fn watch_forks() {}

/// Next 64 random bits from this thread's generator.
pub fn random_u64() -> u64 {
    RNG.with(|cell| {
        let (mut state, epoch) = cell.get();
        let current = FORK_EPOCH.load(Ordering::Relaxed);
        if epoch != current {
            state = fresh_seed();
        }
        // wyrand (https://github.com/wangyi-fudan/wyhash)
        state = state.wrapping_add(0xa076_1d64_78bd_642f);
        let t = (state as u128).wrapping_mul((state ^ 0xe703_7ed1_a0b4_28db) as u128);
        cell.set((state, current));
        ((t >> 64) as u64) ^ (t as u64)
    })
}

/// Make every thread draw a fresh seed: called in the child after `fork()`.
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

/// Nanoseconds since the Unix epoch, by the system clock (0 if it reads before 1970).
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

    #[test]
    fn seeds_are_fresh_at_every_draw() {
        let seeds: HashSet<u64> = (0..64).map(|_| fresh_seed()).collect();
        assert_eq!(seeds.len(), 64);
    }

    /// Children forked from one parent, with no hook of ours called around the fork,
    /// each draw ids unlike their siblings' and the parent's.
    #[cfg(unix)]
    #[test]
    fn forked_siblings_draw_distinct_ids() {
        use std::fs::File;
        use std::io::Write;
        use std::os::fd::FromRawFd;

        extern "C" {
            fn fork() -> i32;
            fn pipe(fds: *mut i32) -> i32;
            fn waitpid(pid: i32, status: *mut i32, options: i32) -> i32;
            fn _exit(status: i32) -> !;
        }

        let parent_first = (new_trace_id(), new_span_id());
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors pipe() writes.
        assert_eq!(unsafe { pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: each descriptor was just opened by pipe() and is owned once.
        let (mut reader, writer) =
            unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) };
        let mut children = Vec::new();
        for _ in 0..3 {
            // SAFETY: the child only draws ids (no lock, no allocation), writes to the
            // pipe and leaves with _exit(), running nothing of the parent's threads.
            let pid = unsafe { fork() };
            assert!(pid >= 0, "fork failed");
            if pid == 0 {
                let mut record = [0u8; 24];
                record[..16].copy_from_slice(&new_trace_id());
                record[16..].copy_from_slice(&new_span_id());
                let code = i32::from((&writer).write_all(&record).is_err());
                // SAFETY: ends the child without unwinding into the test harness.
                unsafe { _exit(code) };
            }
            children.push(pid);
        }
        drop(writer);
        for pid in children {
            let mut status = 0;
            // SAFETY: waits for our own child; `status` is a valid out-pointer.
            assert_eq!(unsafe { waitpid(pid, &mut status, 0) }, pid);
            assert_eq!(status, 0, "child failed");
        }
        let mut records = Vec::new();
        reader.read_to_end(&mut records).unwrap();
        assert_eq!(records.len(), 3 * 24);
        let parent_next = (new_trace_id(), new_span_id());
        let mut traces: HashSet<TraceId> = HashSet::from([parent_first.0, parent_next.0]);
        let mut spans: HashSet<SpanId> = HashSet::from([parent_first.1, parent_next.1]);
        for record in records.chunks_exact(24) {
            traces.insert(record[..16].try_into().unwrap());
            spans.insert(record[16..].try_into().unwrap());
        }
        assert_eq!(traces.len(), 5, "trace ids repeated across forks");
        assert_eq!(spans.len(), 5, "span ids repeated across forks");
    }
}
