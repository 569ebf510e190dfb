//! [`Subscription`]: catch-up from a global position, then live, over any store.

use std::collections::VecDeque;

use tokio::sync::watch;

use super::{EventLog, StoreError};
use crate::model::envelope::RecordedEvent;

const BATCH: usize = 512;

/// Follows a store's global log: first the stored events from a position, then new ones as
/// they arrive.
///
/// Reading is in batches from the store; waiting for new events uses the store's
/// [`head`](EventLog::head) signal, so an idle subscription costs nothing.
#[derive(Debug)]
pub struct Subscription<S> {
    store: S,
    next_position: u64,
    buffer: VecDeque<RecordedEvent>,
    head: watch::Receiver<u64>,
}

impl<S: EventLog> Subscription<S> {
    pub(crate) fn new(store: S, from_position: u64) -> Self {
        let head = store.head();
        Self {
            store,
            next_position: from_position.max(1),
            buffer: VecDeque::new(),
            head,
        }
    }

    /// The position the next event will be read from.
    #[must_use]
    pub fn next_position(&self) -> u64 {
        self.buffer
            .front()
            .map_or(self.next_position, |e| e.global_position)
    }

    /// The next event in global order, waiting for one to be appended if need be.
    ///
    /// # Errors
    /// From the store; the subscription stays where it was and may be polled again.
    pub async fn next(&mut self) -> Result<RecordedEvent, StoreError> {
        loop {
            if let Some(event) = self.buffer.pop_front() {
                return Ok(event);
            }
            // Mark the head as seen before reading, so an append after the read wakes us.
            // Stores raise the head only after the events below it are readable.
            self.head.borrow_and_update();
            let page = self.store.read_all(self.next_position, BATCH).await?;
            // Past the page's events, and past the gaps up to what the store could see.
            self.next_position = self.next_position.max(page.scanned_to + 1);
            if !page.events.is_empty() {
                self.buffer.extend(page.events);
                continue;
            }
            if self.head.changed().await.is_err() {
                return Err(StoreError::Invalid("the store was closed".to_owned()));
            }
        }
    }
}
