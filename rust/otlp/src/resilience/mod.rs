//! What to do when an export fails.

pub mod retry;

pub use retry::{Backoff, RetryPolicy};
