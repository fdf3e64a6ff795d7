//! A circuit breaker, one per pipeline: after `failure_threshold` consecutive failed
//! attempts the pipeline stops sending for `cool_down`, then lets one probe through;
//! its success closes the circuit, its failure opens it again. Attempts held back
//! wait, and the wait counts against their retry budget.
//!
//! Only failures that say "the collector is not reachable or not coping" count
//! (connection errors, timeouts, UNAVAILABLE and the other retryable codes); an
//! answer such as INVALID_ARGUMENT proves the collector is up and resets the count.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Time source, injectable for tests.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> Instant;
}

/// The real clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// When a [`Circuit`] opens and how long it stays open.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CircuitConfig {
    /// Consecutive failures that open the circuit (0 disables the breaker).
    pub failure_threshold: u32,
    /// How long the circuit stays open before one probe is allowed.
    pub cool_down: Duration,
}

impl CircuitConfig {
    /// Check every field; errors name them as `{prefix}field`.
    pub fn validate_at(&self, prefix: &str) -> crate::Result<()> {
        crate::time::check_positive(self.cool_down, &format!("{prefix}cool_down"))
    }
}

impl Default for CircuitConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            cool_down: Duration::from_secs(5),
        }
    }
}

/// Where a [`Circuit`] is in its cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CircuitState {
    /// Attempts go through; consecutive failures count towards `failure_threshold`.
    Closed,
    /// Attempts wait until `cool_down` has passed since the circuit opened.
    Open,
    /// One probe attempt may go (or is in flight); the others wait for its outcome.
    HalfOpen,
}

impl CircuitState {
    /// The state's name in stats (`closed`, `open`, `half_open`).
    pub fn name(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half_open",
        }
    }
}

/// Whether an attempt may go now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Go ahead.
    Go {
        /// This is the one attempt of a half-open circuit: pass it on to
        /// [`Circuit::record`].
        probe: bool,
    },
    /// Wait this long, then ask again.
    Wait(Duration),
}

struct Inner {
    state: CircuitState,
    consecutive_failures: u32,
    open_until: Instant,
    probe_in_flight: bool,
    times_opened: u64,
    /// What the last counted failure was, so that "circuit open" keeps its cause.
    last_failure: Option<String>,
}

/// A circuit breaker, shared by every export task of one pipeline.
pub struct Circuit {
    config: CircuitConfig,
    clock: Arc<dyn Clock>,
    inner: Mutex<Inner>,
}

impl Circuit {
    /// A closed circuit, timed by `clock`.
    pub fn new(config: CircuitConfig, clock: Arc<dyn Clock>) -> Self {
        let now = clock.now();
        Self {
            config,
            clock,
            inner: Mutex::new(Inner {
                state: CircuitState::Closed,
                consecutive_failures: 0,
                open_until: now,
                probe_in_flight: false,
                times_opened: 0,
                last_failure: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether an attempt may go now; always [`Admission::Go`] when the breaker is
    /// disabled (`failure_threshold` 0). An open circuit whose `cool_down` has passed
    /// becomes half-open and admits this attempt as its probe.
    pub fn admit(&self) -> Admission {
        if self.config.failure_threshold == 0 {
            return Admission::Go { probe: false };
        }
        let now = self.clock.now();
        let mut c = self.lock();
        match c.state {
            CircuitState::Closed => Admission::Go { probe: false },
            CircuitState::Open if now >= c.open_until => {
                c.state = CircuitState::HalfOpen;
                c.probe_in_flight = true;
                Admission::Go { probe: true }
            }
            CircuitState::Open => Admission::Wait(c.open_until - now),
            CircuitState::HalfOpen if !c.probe_in_flight => {
                c.probe_in_flight = true;
                Admission::Go { probe: true }
            }
            // Others wait for the probe's verdict.
            CircuitState::HalfOpen => {
                Admission::Wait(self.config.cool_down.min(Duration::from_millis(100)))
            }
        }
    }

    /// Report an attempt's outcome: `failure` is the cause of a failure that counts,
    /// `None` for a healthy answer.
    pub fn record(&self, failure: Option<&str>, probe: bool) {
        if self.config.failure_threshold == 0 {
            return;
        }
        let now = self.clock.now();
        let mut c = self.lock();
        if probe {
            c.probe_in_flight = false;
        }
        let Some(cause) = failure else {
            if c.state == CircuitState::HalfOpen && !probe {
                return; // a late answer from before the circuit opened decides nothing
            }
            c.state = CircuitState::Closed;
            c.consecutive_failures = 0;
            return;
        };
        c.last_failure = Some(cause.to_owned());
        c.consecutive_failures = c.consecutive_failures.saturating_add(1);
        let trip = match c.state {
            CircuitState::Closed => c.consecutive_failures >= self.config.failure_threshold,
            CircuitState::HalfOpen => probe,
            CircuitState::Open => false,
        };
        if trip {
            c.state = CircuitState::Open;
            c.open_until = crate::time::at(now, self.config.cool_down);
            c.times_opened += 1;
        }
    }

    /// The current state.
    pub fn state(&self) -> CircuitState {
        self.lock().state
    }

    /// How many times the circuit has opened, failed probes included.
    pub fn times_opened(&self) -> u64 {
        self.lock().times_opened
    }

    /// Why the circuit is open, for messages: `circuit open after N consecutive
    /// failures; last: {the last counted failure}`.
    pub fn open_reason(&self) -> String {
        let c = self.lock();
        let mut out = format!(
            "circuit open after {} consecutive failures",
            c.consecutive_failures
        );
        if let Some(cause) = &c.last_failure {
            out.push_str("; last: ");
            out.push_str(cause);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex as StdMutex;

    struct FakeClock(StdMutex<Instant>);

    impl FakeClock {
        fn advance(&self, d: Duration) {
            *self.0.lock().unwrap() += d;
        }
    }

    impl Clock for FakeClock {
        fn now(&self) -> Instant {
            *self.0.lock().unwrap()
        }
    }

    fn circuit(threshold: u32) -> (Circuit, Arc<FakeClock>) {
        let clock = Arc::new(FakeClock(StdMutex::new(Instant::now())));
        let c = Circuit::new(
            CircuitConfig {
                failure_threshold: threshold,
                cool_down: Duration::from_secs(10),
            },
            clock.clone(),
        );
        (c, clock)
    }

    #[test]
    fn opens_after_the_threshold_stays_open_then_probes_and_closes() {
        let (c, clock) = circuit(3);
        for _ in 0..2 {
            assert_eq!(c.admit(), Admission::Go { probe: false });
            c.record(Some("refused"), false);
        }
        assert_eq!(c.state(), CircuitState::Closed);
        c.record(Some("refused"), false);
        assert_eq!(c.state(), CircuitState::Open);
        assert_eq!(c.times_opened(), 1);
        assert_eq!(
            c.open_reason(),
            "circuit open after 3 consecutive failures; last: refused"
        );
        assert_eq!(c.admit(), Admission::Wait(Duration::from_secs(10)));
        clock.advance(Duration::from_secs(4));
        assert_eq!(c.admit(), Admission::Wait(Duration::from_secs(6)));
        clock.advance(Duration::from_secs(6));
        // One probe, the others wait for it.
        assert_eq!(c.admit(), Admission::Go { probe: true });
        assert_eq!(c.state(), CircuitState::HalfOpen);
        assert!(matches!(c.admit(), Admission::Wait(_)));
        c.record(None, true);
        assert_eq!(c.state(), CircuitState::Closed);
        assert_eq!(c.admit(), Admission::Go { probe: false });
    }

    #[test]
    fn a_failed_probe_opens_again_for_a_full_cool_down() {
        let (c, clock) = circuit(1);
        c.record(Some("refused"), false);
        clock.advance(Duration::from_secs(10));
        assert_eq!(c.admit(), Admission::Go { probe: true });
        c.record(Some("refused"), true);
        assert_eq!(c.state(), CircuitState::Open);
        assert_eq!(c.times_opened(), 2);
        assert_eq!(c.admit(), Admission::Wait(Duration::from_secs(10)));
    }

    #[test]
    fn a_success_resets_the_count_and_zero_disables() {
        let (c, _) = circuit(2);
        c.record(Some("refused"), false);
        c.record(None, false);
        c.record(Some("refused"), false);
        assert_eq!(c.state(), CircuitState::Closed);
        let (off, _) = circuit(0);
        for _ in 0..100 {
            off.record(Some("refused"), false);
        }
        assert_eq!(off.admit(), Admission::Go { probe: false });
    }
}
