//! Retry with exponential backoff and jitter, per the OTLP specification
//! (opentelemetry-proto `docs/specification.md`, "Failures").

use std::time::Duration;

use crate::error::{Error, Result};
use crate::ids::random_u64;
use crate::status::{Code, Status};

/// How failed exports are retried: exponential backoff with jitter (each delay is
/// drawn between half the computed delay and all of it), within a time budget.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Delay before the first retry, before jitter.
    pub initial_backoff: Duration,
    /// Upper bound of one delay, before jitter.
    pub max_backoff: Duration,
    /// Growth of the delay per attempt (at least 1).
    pub multiplier: f64,
    /// Give up once this much time has passed since the first attempt
    /// (`Duration::ZERO` disables retries).
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            multiplier: 1.5,
            max_elapsed: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// Check every field; errors name them as `{prefix}field` (`retry.max_backoff`).
    pub fn validate_at(&self, prefix: &str) -> Result<()> {
        let name = |field: &str| format!("{prefix}{field}");
        crate::time::check_positive(self.initial_backoff, &name("initial_backoff"))?;
        crate::time::check_positive(self.max_backoff, &name("max_backoff"))?;
        crate::time::check(self.max_elapsed, &name("max_elapsed"))?;
        if !(self.multiplier >= 1.0 && self.multiplier.is_finite()) {
            return Err(Error::Config(format!(
                "`{}` must be a finite number >= 1; got {}",
                name("multiplier"),
                self.multiplier
            )));
        }
        if self.max_backoff < self.initial_backoff {
            return Err(Error::Config(format!(
                "`{}` ({}) must be >= `{}` ({})",
                name("max_backoff"),
                self.max_backoff.as_secs_f64(),
                name("initial_backoff"),
                self.initial_backoff.as_secs_f64()
            )));
        }
        Ok(())
    }

    /// [`Self::validate_at`] with the fields' bare names.
    pub fn validate(&self) -> Result<()> {
        self.validate_at("")
    }
}

/// Whether the OTLP spec allows retrying a call that ended with `status`.
pub fn is_retryable(status: &Status) -> bool {
    match status.code {
        Code::Cancelled
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::OutOfRange
        | Code::Unavailable
        | Code::DataLoss => true,
        // Only when the server says when to come back.
        Code::ResourceExhausted => status.retry_delay.is_some(),
        _ => false,
    }
}

/// The delays of one export's retries.
#[derive(Debug)]
pub struct Backoff {
    policy: RetryPolicy,
    next: Duration,
}

impl Backoff {
    /// The delays of a new export, starting at `policy.initial_backoff`.
    pub fn new(policy: RetryPolicy) -> Self {
        Self {
            policy,
            next: policy.initial_backoff,
        }
    }

    /// The delay before the next attempt, or `None` when the retry budget is spent.
    /// `server_delay` (RetryInfo / Retry-After) replaces the computed delay, as the
    /// specification asks; a server delay that does not fit in what is left of
    /// `max_elapsed` ends the retries at once (as the Collector's exporterhelper does)
    /// instead of holding the batch past its budget. `spent` is the time already used
    /// by attempts, which counts against `max_elapsed`. Any durations, however large,
    /// are handled without overflow.
    pub fn next_delay(
        &mut self,
        spent: Duration,
        server_delay: Option<Duration>,
    ) -> Option<Duration> {
        let delay = match server_delay {
            // A zero server delay would retry in a tight loop: back off as usual.
            Some(d) if !d.is_zero() => d.min(crate::time::MAX_DURATION),
            // Jitter in [next/2, next]: spreads reconnecting exporters apart.
            _ => {
                let base = self.next.as_secs_f64();
                let frac = (random_u64() >> 11) as f64 / (1u64 << 53) as f64;
                Duration::try_from_secs_f64(base * (0.5 + 0.5 * frac)).unwrap_or(self.next)
            }
        };
        let grown = Duration::try_from_secs_f64(self.next.as_secs_f64() * self.policy.multiplier)
            .unwrap_or(Duration::MAX);
        self.next = self.policy.max_backoff.min(grown);
        if spent.saturating_add(delay) > self.policy.max_elapsed {
            return None;
        }
        Some(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: Code, delay: Option<Duration>) -> Status {
        Status {
            code,
            message: String::new(),
            retry_delay: delay,
        }
    }

    #[test]
    fn retryable_codes_follow_the_spec() {
        for c in 0..=16 {
            let code = Code::from_u32(c);
            let want = matches!(c, 1 | 4 | 10 | 11 | 14 | 15);
            assert_eq!(is_retryable(&status(code, None)), want, "{code:?}");
        }
        assert!(is_retryable(&status(
            Code::ResourceExhausted,
            Some(Duration::from_secs(1))
        )));
    }

    #[test]
    fn delays_grow_with_jitter_and_stop_at_max_elapsed() {
        let policy = RetryPolicy {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(4),
            multiplier: 2.0,
            max_elapsed: Duration::from_secs(20),
        };
        let mut b = Backoff::new(policy);
        let mut spent = Duration::ZERO;
        let mut delays = Vec::new();
        while let Some(d) = b.next_delay(spent, None) {
            delays.push(d);
            spent += d;
        }
        assert!(spent <= policy.max_elapsed);
        let bounds = [1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0];
        for (d, hi) in delays.iter().zip(bounds) {
            let d = d.as_secs_f64();
            assert!(d >= hi / 2.0 && d <= hi, "{d} not in [{}, {hi}]", hi / 2.0);
        }
        assert!(delays.len() >= 5, "{delays:?}");
    }

    #[test]
    fn absurd_server_delays_and_policies_end_the_retries_without_overflow() {
        let mut b = Backoff::new(RetryPolicy::default());
        for huge in [
            Duration::MAX,
            Duration::from_secs(u64::MAX),
            Duration::from_secs(1 << 40),
        ] {
            assert_eq!(b.next_delay(Duration::from_secs(1), Some(huge)), None);
            assert_eq!(b.next_delay(Duration::MAX, None), None);
        }
        let mut wild = Backoff::new(RetryPolicy {
            initial_backoff: crate::time::MAX_DURATION,
            max_backoff: crate::time::MAX_DURATION,
            multiplier: f64::MAX,
            max_elapsed: crate::time::MAX_DURATION,
        });
        for _ in 0..3 {
            let _ = wild.next_delay(Duration::ZERO, None);
        }
        let err = RetryPolicy {
            max_elapsed: Duration::MAX,
            ..RetryPolicy::default()
        }
        .validate_at("retry.")
        .unwrap_err()
        .to_string();
        assert!(err.contains("`retry.max_elapsed` must be at most"), "{err}");
    }

    #[test]
    fn server_delay_wins_but_respects_the_budget() {
        let mut b = Backoff::new(RetryPolicy {
            max_elapsed: Duration::from_secs(10),
            ..RetryPolicy::default()
        });
        assert_eq!(
            b.next_delay(Duration::ZERO, Some(Duration::from_secs(7))),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            b.next_delay(Duration::from_secs(7), Some(Duration::from_secs(7))),
            None
        );
    }
}
