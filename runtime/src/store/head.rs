//! The head position of a store and the signal that wakes subscribers when it rises.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::watch;

/// The highest global position readable in a store, with a wake-up signal that costs
/// nothing while nobody subscribes.
#[derive(Debug)]
pub(crate) struct Head {
    /// Always current.
    position: AtomicU64,
    /// Signalled only while someone listens.
    signal: watch::Sender<u64>,
}

impl Head {
    pub(crate) fn new(position: u64) -> Self {
        Self {
            position: AtomicU64::new(position),
            signal: watch::Sender::new(position),
        }
    }

    /// The current head.
    pub(crate) fn get(&self) -> u64 {
        self.position.load(Ordering::SeqCst)
    }

    /// Raises the head to `position` (once the events up to it are readable) and wakes
    /// subscribers. Appends finishing out of order never move it backwards.
    pub(crate) fn raise(&self, position: u64) {
        self.position.fetch_max(position, Ordering::SeqCst);
        self.signal();
    }

    fn signal(&self) {
        if !self.watched() {
            return;
        }
        let head = self.get();
        self.signal.send_if_modified(|signalled| {
            let raised = head > *signalled;
            *signalled = (*signalled).max(head);
            raised
        });
    }

    /// Whether anyone holds a receiver: a store may put off working out its head while
    /// nobody does.
    pub(crate) fn watched(&self) -> bool {
        self.signal.receiver_count() > 0
    }

    /// A receiver that changes when the head rises.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        let receiver = self.signal.subscribe();
        // Raises made while nobody listened did not signal; catch the value up.
        self.signal();
        receiver
    }
}
