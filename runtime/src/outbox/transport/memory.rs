//! [`MemoryTransport`]: a broker in the process, for tests: it keeps every message it is
//! given, and like JetStream drops one whose id it already holds.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;
use uuid::Uuid;

use super::{Transport, TransportError};
use crate::outbox::message::Outgoing;

/// An in-memory broker. Clones share the messages.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use eventsmith::outbox::{MemoryTransport, Transport as _};
///
/// let broker = MemoryTransport::new();
/// broker.publish(&[]).await.unwrap();
/// assert!(broker.messages().is_empty());
/// # });
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryTransport {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    state: Mutex<State>,
    count: watch::Sender<usize>,
}

#[derive(Debug, Default)]
struct State {
    messages: Vec<Outgoing>,
    ids: HashSet<Uuid>,
    duplicates: usize,
}

impl MemoryTransport {
    /// An empty broker.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The messages held, in the order they were published; a repeated id only once.
    #[must_use]
    pub fn messages(&self) -> Vec<Outgoing> {
        self.lock().messages.clone()
    }

    /// How many publications repeated a message already held (and were dropped).
    #[must_use]
    pub fn duplicates(&self) -> usize {
        self.lock().duplicates
    }

    /// Waits until at least `count` messages are held.
    pub async fn wait_for(&self, count: usize) {
        let mut held = self.inner.count.subscribe();
        // The sender lives as long as `self`.
        held.wait_for(|held| *held >= count).await.ok();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Transport for MemoryTransport {
    const NAME: &'static str = "memory";

    async fn publish(&self, messages: &[Outgoing]) -> Result<(), TransportError> {
        let held = {
            let mut state = self.lock();
            for message in messages {
                if state.ids.insert(message.id) {
                    state.messages.push(message.clone());
                } else {
                    state.duplicates += 1;
                }
            }
            state.messages.len()
        };
        self.inner.count.send_replace(held);
        Ok(())
    }
}
