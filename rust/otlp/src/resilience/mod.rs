//! What to do when an export fails.

pub mod circuit;
pub mod retry;

pub use circuit::{Circuit, CircuitConfig, CircuitState};
pub use retry::{Backoff, RetryPolicy};
