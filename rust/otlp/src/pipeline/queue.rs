//! What a pipeline's queue holds, and what happens when it is full.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};

/// What happens to an item that arrives at a full queue (full by items or by bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Overflow {
    /// The arriving item is dropped (counted as `queue_full`), as the OpenTelemetry
    /// SDK does.
    #[default]
    DropNewest,
    /// The oldest queued items make room for it (counted as `evicted`): recent
    /// telemetry wins.
    DropOldest,
    /// The producing call waits for room (a binding releases its interpreter lock
    /// meanwhile) up to `block_timeout`, then the item is dropped (counted as
    /// `block_timeout`).
    Block,
}

impl Overflow {
    /// Every policy, in the order messages list them.
    pub const ALL: [Self; 3] = [Self::DropNewest, Self::DropOldest, Self::Block];

    /// The setting's name (`drop_newest`, `drop_oldest`, `block`).
    pub fn name(self) -> &'static str {
        match self {
            Self::DropNewest => "drop_newest",
            Self::DropOldest => "drop_oldest",
            Self::Block => "block",
        }
    }

    /// Parse the setting `overflow`.
    pub fn parse(s: &str) -> Result<Self> {
        crate::one_of("overflow", &Self::ALL, Self::name, s)
    }
}

/// When requests written to the disk queue are made durable (`fsync`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Fsync {
    /// Each request is synced before it is sent: survives a power loss.
    Always,
    /// Written requests are synced together at least once a second, and on flush.
    #[default]
    Interval,
    /// Never synced: survives the process being killed, not a power loss.
    Never,
}

impl Fsync {
    /// Every policy, in the order messages list them.
    pub const ALL: [Self; 3] = [Self::Always, Self::Interval, Self::Never];

    /// The setting's name (`always`, `interval`, `never`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Always => "always",
            Self::Interval => "interval",
            Self::Never => "never",
        }
    }

    /// Parse the setting `fsync`.
    pub fn parse(s: &str) -> Result<Self> {
        crate::one_of("fsync", &Self::ALL, Self::name, s)
    }
}

/// The largest `max_queue_bytes` and disk `max_bytes` accepted (1 TiB).
pub const MAX_QUEUE_BYTES: usize = 1 << 40;

/// How a pipeline's queue is bounded and what happens when it is full.
#[derive(Clone, Debug, PartialEq)]
pub struct QueueConfig {
    /// What happens to an item that arrives at a full queue.
    pub overflow: Overflow,
    /// How long a producing call waits for room with [`Overflow::Block`].
    pub block_timeout: Duration,
    /// Memory the queued items may take, estimated from their contents; one large item
    /// cannot make the queue take gigabytes.
    pub max_queue_bytes: usize,
    /// Where encoded requests are kept until the collector accepted them, so that
    /// they survive a crash; `None` keeps them in memory only.
    pub directory: Option<PathBuf>,
    /// Bytes the disk queue may hold; beyond it `overflow` applies.
    pub max_bytes: usize,
    /// When what is written to the disk queue is made durable.
    pub fsync: Fsync,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            overflow: Overflow::DropNewest,
            block_timeout: Duration::from_secs(5),
            max_queue_bytes: 64 << 20,
            directory: None,
            max_bytes: 1 << 30,
            fsync: Fsync::Interval,
        }
    }
}

impl QueueConfig {
    /// Check every field; errors name them as `{prefix}field` (`queue.max_bytes`).
    pub fn validate_at(&self, prefix: &str) -> Result<()> {
        let name = |field: &str| format!("{prefix}{field}");
        crate::time::check_positive(self.block_timeout, &name("block_timeout"))?;
        crate::check_range(
            &name("max_queue_bytes"),
            self.max_queue_bytes as i128,
            1024,
            MAX_QUEUE_BYTES as i128,
        )?;
        crate::check_range(
            &name("max_bytes"),
            self.max_bytes as i128,
            1 << 20,
            MAX_QUEUE_BYTES as i128,
        )?;
        if let Some(dir) = &self.directory {
            if dir.as_os_str().is_empty() {
                return Err(Error::Config(format!(
                    "`{}` must be a directory path; got an empty one",
                    name("directory")
                )));
            }
        }
        Ok(())
    }
}
