//! What to do when an export attempt fails: retry with backoff ([`retry`]), and stop
//! sending to a collector that keeps failing ([`circuit`]).

pub mod circuit;
pub mod retry;

pub use circuit::{Circuit, CircuitConfig, CircuitState};
pub use retry::{Backoff, RetryPolicy};
