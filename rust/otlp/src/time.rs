//! Durations that come from users or servers, and deadlines that never overflow.
//!
//! `Instant + Duration` panics when the sum does not fit, and a `Duration` can be given
//! almost any size (`schedule_delay=1e19` from Python, `Retry-After:
//! 18446744073709551615` from a server). Configured durations are bounded by
//! [`MAX_DURATION`] when they are checked; every deadline is computed with [`after`],
//! which saturates instead of panicking, so nothing that arrives at run time can
//! overflow either.

use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// The longest configurable duration (timeouts, delays, intervals, backoffs): one
/// year. Longer values are refused when a configuration is checked; server hints
/// are clamped to it.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// The instant `d` from now, saturating as [`at`] does (a wait that long never ends
/// before something else does).
pub fn after(d: Duration) -> Instant {
    at(Instant::now(), d)
}

/// `start + d`; when that does not fit, `start` + [`MAX_DURATION`] (or `start` itself
/// if even that does not fit) instead of a panic.
pub fn at(start: Instant, d: Duration) -> Instant {
    start
        .checked_add(d)
        .or_else(|| start.checked_add(MAX_DURATION))
        .unwrap_or(start)
}

/// How a caller waits for a condition: given `done`, call `done(until)` (it blocks
/// until the condition holds, then returns true, or until `until`, then returns false)
/// until it returns true or the caller's deadline passes (then return false). A
/// binding may wait in slices, and give up with an error (Ctrl-C).
pub type Done<'a> = dyn Fn(Instant) -> bool + Sync + 'a;

/// Wait for a [`Done`] condition until `deadline`, blocking this thread.
pub fn until(
    deadline: Instant,
) -> impl FnMut(&Done<'_>) -> std::result::Result<bool, std::convert::Infallible> {
    move |done| Ok(done(deadline))
}

/// [`after`] for tokio's timers.
pub fn tokio_after(d: Duration) -> tokio::time::Instant {
    tokio::time::Instant::from_std(after(d))
}

/// The deadline of a wait of `seconds` (`force_flush`, `shutdown`): any non-negative
/// number, a wait too long to represent lasting as long as it takes.
pub fn deadline_in(seconds: f64) -> Result<Instant> {
    if seconds.is_nan() || seconds < 0.0 {
        return Err(Error::Config(format!(
            "`timeout` must be a number of seconds >= 0; got {seconds}"
        )));
    }
    Ok(after(
        Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX),
    ))
}

/// The duration of `value` seconds, for configuration: finite, at least 0, at most
/// [`MAX_DURATION`]. `name` is what the user wrote (`batch.schedule_delay`).
pub fn seconds(value: f64, name: &str) -> Result<Duration> {
    if !value.is_finite() || value < 0.0 {
        return Err(Error::Config(format!(
            "`{name}` must be a finite number of seconds >= 0; got {value}"
        )));
    }
    if value > MAX_DURATION.as_secs_f64() {
        return Err(too_long(name, &format!("{value}")));
    }
    Ok(Duration::from_secs_f64(value))
}

/// Refuse a configured duration that is zero or longer than [`MAX_DURATION`].
pub fn check_positive(d: Duration, name: &str) -> Result<()> {
    if d.is_zero() {
        return Err(Error::Config(format!(
            "`{name}` must be > 0 seconds; got 0"
        )));
    }
    check(d, name)
}

/// Refuse a configured duration longer than [`MAX_DURATION`].
pub fn check(d: Duration, name: &str) -> Result<()> {
    if d > MAX_DURATION {
        return Err(too_long(name, &format!("{}", d.as_secs_f64())));
    }
    Ok(())
}

fn too_long(name: &str, got: &str) -> Error {
    Error::Config(format!(
        "`{name}` must be at most {} seconds (one year); got {got}",
        MAX_DURATION.as_secs()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_saturate_instead_of_panicking() {
        let now = Instant::now();
        assert!(at(now, Duration::MAX) >= now + MAX_DURATION);
        assert!(after(Duration::from_secs(u64::MAX)) > now);
        let _ = tokio_after(Duration::MAX);
        assert_eq!(
            at(now, Duration::from_secs(1)),
            now + Duration::from_secs(1)
        );
    }

    #[test]
    fn configured_durations_are_bounded_with_a_message_naming_them() {
        assert_eq!(seconds(0.5, "x").unwrap(), Duration::from_millis(500));
        for bad in [
            1e19,
            f64::INFINITY,
            f64::NAN,
            -1.0,
            365.0 * 24.0 * 3600.0 + 1.0,
        ] {
            let err = seconds(bad, "batch.schedule_delay")
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("`batch.schedule_delay` must be"), "{err}");
        }
        assert!(check(MAX_DURATION, "t").is_ok());
        let err = check(Duration::MAX, "timeout").unwrap_err().to_string();
        assert!(
            err.contains("`timeout` must be at most 31536000 seconds"),
            "{err}"
        );
    }
}
