use std::time::Duration;

/// Errors the core reports. The binding maps each variant to `otlp.errors`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting is invalid: the message names it and says how to fix it.
    #[error("{0}")]
    Config(String),
    /// The collector could not be reached or the connection broke.
    #[error("transport error: {0}")]
    Transport(String),
    /// An export attempt did not finish in time.
    #[error("export timed out after {0:?}")]
    Timeout(Duration),
    /// The collector answered with an error status.
    #[error("export failed: {0}")]
    Export(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
