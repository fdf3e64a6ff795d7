//! From ended items to export requests: the bounded queue and the batcher thread
//! ([`Pipeline`]), and their replacement in a child after `fork()` ([`Replaceable`]).

mod batcher;
mod replaceable;

pub use batcher::{
    BatchConfig, ExportSettings, Pipeline, Weighted, MAX_CONCURRENT_EXPORTS, MAX_QUEUE_SIZE,
};
pub use replaceable::Replaceable;
