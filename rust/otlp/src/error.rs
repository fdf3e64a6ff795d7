//! The core's one error type, and the one wording of its common setting checks.

use std::time::Duration;

/// Errors the core reports. The binding maps each variant to `otlp.errors`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting is invalid: the message names it and says how to fix it.
    #[error("{0}")]
    Config(String),
    /// A setting has the wrong type: the message names it and the type expected.
    #[error("{0}")]
    Type(String),
    /// An I/O failure: the collector could not be reached or the connection broke, a
    /// message could not be decompressed, or a thread or the I/O runtime could not
    /// start.
    #[error("transport error: {0}")]
    Transport(String),
    /// An export attempt did not finish in time.
    #[error("export timed out after {0:?}")]
    Timeout(Duration),
    /// The collector answered with an error status.
    #[error("export failed: {0}")]
    Export(String),
    /// A bug in otlp (a panic caught at a boundary): never a user's mistake.
    #[error("internal error in otlp (please report it): {0}")]
    Internal(String),
}

/// Check that the integer setting `name` is in `min..=max` (the one wording of that
/// rule, wherever a setting is checked).
pub fn check_range(name: &str, value: i128, min: i128, max: i128) -> Result<()> {
    if (min..=max).contains(&value) {
        return Ok(());
    }
    Err(Error::Config(format!(
        "`{name}` must be between {min} and {max}; got {value}"
    )))
}

/// The choice of `all` named `got`, or an error listing the choices (the one wording
/// of that rule). `setting` is how the user names the setting (`protocol`).
pub fn one_of<T: Copy>(
    setting: &str,
    all: &[T],
    name: fn(T) -> &'static str,
    got: &str,
) -> Result<T> {
    if let Some(v) = all.iter().copied().find(|v| name(*v) == got) {
        return Ok(v);
    }
    let choices: Vec<String> = all.iter().map(|v| format!("'{}'", name(*v))).collect();
    Err(Error::Config(format!(
        "`{setting}` must be one of {}; got {got:?}",
        choices.join(", ")
    )))
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Transport(e.to_string())
    }
}

impl Error {
    /// The error for a panic caught by `catch_unwind`, keeping its message.
    pub fn from_panic(payload: &(dyn std::any::Any + Send)) -> Self {
        let message = if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_owned()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "panic".to_owned()
        };
        Error::Internal(message)
    }
}

/// A result whose error is the core's [`Error`] unless said otherwise.
pub type Result<T, E = Error> = std::result::Result<T, E>;
