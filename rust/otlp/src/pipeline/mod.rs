//! From ended items to export requests: the bounded queue and the batcher thread
//! ([`Pipeline`]), and their replacement in a child after `fork()` ([`Replaceable`]).

mod batcher;
pub(crate) mod disk;
mod queue;
mod replaceable;

pub use batcher::{
    BatchConfig, ExportSettings, Offer, Pipeline, Weighted, MAX_CONCURRENT_EXPORTS, MAX_QUEUE_SIZE,
};
pub use disk::Encoding;
pub use queue::{Fsync, Overflow, QueueConfig, MAX_QUEUE_BYTES};
pub use replaceable::Replaceable;
