//! The aggregate cache: loaded aggregate states by stream, each behind its own async lock so
//! that commands on one aggregate in this process run one at a time and never re-read history.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use foldhash::fast::RandomState;

use crate::model::aggregate::Aggregate;

/// An aggregate's state at a known stream version.
#[derive(Debug, Default)]
pub(crate) struct Slot<A> {
    pub(crate) state: A,
    /// The stream version `state` reflects.
    pub(crate) version: u64,
    /// Whether `state` was loaded from the store; `false` forces a reload.
    pub(crate) loaded: bool,
}

impl<A: Aggregate> Slot<A> {
    /// Forgets the state (after a failed append, a panic or a conflict): the next command
    /// reloads it from the store.
    pub(crate) fn invalidate(&mut self) {
        *self = Self::default();
    }
}

pub(crate) type SharedSlot<A> = Arc<tokio::sync::Mutex<Slot<A>>>;

/// Cached slots of one aggregate type, at most `capacity` of them.
#[derive(Debug)]
pub(crate) struct AggregateCache<A> {
    capacity: usize,
    // Seeded hashing: stream ids may come from untrusted input.
    slots: Mutex<HashMap<String, SharedSlot<A>, RandomState>>,
}

impl<A: Aggregate> AggregateCache<A> {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            slots: Mutex::new(HashMap::default()),
        }
    }

    /// The slot of `stream`: the cached one, or a new unloaded one.
    pub(crate) fn slot(&self, stream: &str) -> SharedSlot<A> {
        if self.capacity == 0 {
            return SharedSlot::default();
        }
        // No user code runs under this lock, so a poisoned map is still consistent.
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = slots.get(stream) {
            return Arc::clone(slot);
        }
        if slots.len() >= self.capacity {
            evict(&mut slots, self.capacity);
        }
        Arc::clone(slots.entry(stream.to_owned()).or_default())
    }
}

/// Drops idle slots until a quarter of the capacity is free, so that eviction runs once per
/// `capacity / 4` new aggregates rather than on every miss. Slots in use are kept: their
/// holders would otherwise race with a fresh slot for the same stream.
fn evict<A, H>(slots: &mut HashMap<String, SharedSlot<A>, H>, capacity: usize) {
    let target = capacity - capacity / 4;
    let mut excess = slots.len().saturating_sub(target.max(1) - 1);
    slots.retain(|_, slot| {
        if excess > 0 && Arc::strong_count(slot) == 1 {
            excess -= 1;
            false
        } else {
            true
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eviction_keeps_slots_in_use_and_frees_a_quarter() {
        let mut slots: HashMap<String, SharedSlot<()>> = HashMap::new();
        let held: Vec<_> = (0..8)
            .map(|i| Arc::clone(slots.entry(format!("s{i}")).or_default()))
            .collect();
        evict(&mut slots, 8);
        assert_eq!(slots.len(), 8, "every slot is in use");
        drop(held);
        evict(&mut slots, 8);
        assert_eq!(
            slots.len(),
            5,
            "room for one new slot below 3/4 of capacity"
        );
    }
}
