//! A signal's pipeline, replaced in a child process after `fork()`.

use std::sync::{Arc, RwLock};

use crate::error::Result;

use super::batcher::{Offer, Pipeline, Weighted};

type Start<T> = Box<dyn Fn(bool) -> Result<Pipeline<T>> + Send + Sync>;

/// The current pipeline of a signal and how to start another. After `fork()` the
/// child gets a fresh one (empty queue: what was queued belongs to the parent, which
/// still exports it; fresh stats) and the old one is leaked: the batcher and I/O
/// threads did not survive, their locks may be held forever, and its destructor could
/// block on them.
pub struct Replaceable<T: Weighted + Send + 'static> {
    current: RwLock<Arc<Pipeline<T>>>,
    start: Start<T>,
}

impl<T: Weighted + Send + 'static> Replaceable<T> {
    /// Start the first pipeline with `start`, which also starts the later ones; its
    /// argument says whether the pipeline is a child's after `fork()` (which must not
    /// take over the parent's disk queue).
    pub fn new(
        start: impl Fn(bool) -> Result<Pipeline<T>> + Send + Sync + 'static,
    ) -> Result<Self> {
        let first = start(false)?;
        Ok(Self {
            current: RwLock::new(Arc::new(first)),
            start: Box::new(start),
        })
    }

    /// The current pipeline.
    pub fn get(&self) -> Arc<Pipeline<T>> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Hand an item to the current pipeline.
    #[inline]
    pub fn push(&self, item: T) {
        self.push_released(item, |wait| wait());
    }

    /// Hand an item to the current pipeline; a wait for room (`overflow="block"`)
    /// runs inside `release` ([`Pipeline::push_released`]), without the read lock
    /// held: a producer may be blocked there when another thread forks, and the
    /// child must still be able to replace the pipeline.
    #[inline]
    pub fn push_released(&self, item: T, release: impl FnOnce(&mut (dyn FnMut() + Send))) {
        let (pipeline, item) = {
            let current = self.current.read().unwrap_or_else(|e| e.into_inner());
            match current.offer(item) {
                Offer::Full(item) => (Arc::clone(&current), item),
                Offer::Queued | Offer::Dropped => return,
            }
        };
        pipeline.wait_released(item, release);
    }

    /// In the child after `fork()`, with the runtime already forgotten
    /// (`runtime::forget_after_fork`): start a fresh pipeline and leak the old one.
    pub fn replace_after_fork(&self) -> Result<()> {
        let fresh = Arc::new((self.start)(true)?);
        let mut slot = self.current.write().unwrap_or_else(|e| e.into_inner());
        std::mem::forget(std::mem::replace(&mut *slot, fresh));
        Ok(())
    }
}
