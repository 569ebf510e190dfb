//! The relay's loop: read a batch from the checkpoint, make its messages, publish them until
//! the broker holds them all, move the checkpoint; wait for appends.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, watch};

use super::{RelayError, RelayProgress, RelayState, Settings};
use crate::model::envelope::RecordedEvent;
use crate::model::projection::names_of;
use crate::outbox::message::Outgoing;
use crate::outbox::publication::{Publication, Published};
use crate::outbox::transport::Transport;
use crate::store::{EventStore, FilteredRead, StoreError};
use crate::util::retry::Retry;
use crate::wire::codec::Codec;

/// What a relay runs on.
pub(super) struct RelayTask<S, P, T, C> {
    pub(super) store: S,
    pub(super) publication: P,
    pub(super) transport: T,
    pub(super) codec: C,
    pub(super) settings: Settings,
    /// The name its checkpoint is stored under.
    pub(super) checkpoint: String,
    /// Every event up to here is published.
    pub(super) position: u64,
    pub(super) progress: Arc<watch::Sender<RelayProgress>>,
    pub(super) stops: mpsc::Receiver<oneshot::Sender<()>>,
}

/// Why the loop ended.
enum End {
    Stopped(Option<oneshot::Sender<()>>),
    Failed(RelayError),
}

impl<S: EventStore, P: Publication, T: Transport, C: Codec> RelayTask<S, P, T, C> {
    pub(super) async fn run(mut self) {
        let (state, reply) = match self.run_loop().await {
            End::Stopped(reply) => (RelayState::Stopped, reply),
            End::Failed(error) => {
                tracing::error!(publication = P::NAME, %error, "relay stopped");
                (RelayState::Failed(Arc::new(error)), None)
            }
        };
        self.progress.send_modify(|p| p.state = state);
        if let Some(reply) = reply {
            reply.send(()).ok();
        }
    }

    async fn run_loop(&mut self) -> End {
        let names = names_of(P::HANDLES);
        let mut head = self.store.head();
        let mut messages = Vec::new();
        let mut store_retry = Retry::new(self.settings.backoff);
        let mut lingered = false;
        loop {
            if let Ok(reply) = self.stops.try_recv() {
                return End::Stopped(Some(reply));
            }
            head.borrow_and_update();
            let read = FilteredRead::new(self.position + 1, &names, self.settings.batch);
            let page = match self.store.read_all_filtered(read).await {
                Ok(page) => {
                    store_retry.succeeded();
                    page
                }
                Err(error) if error.is_retriable() => {
                    tracing::warn!(publication = P::NAME, %error, "store unavailable; trying again");
                    let pause = store_retry.failed().unwrap_or_default();
                    tokio::select! {
                        () = tokio::time::sleep(pause) => continue,
                        reply = self.stops.recv() => return End::Stopped(reply),
                    }
                }
                Err(error) => return End::Failed(self.store_error(error)),
            };
            let short = !page.events.is_empty() && page.events.len() < self.settings.batch;
            if short && !lingered && !self.settings.linger.is_zero() {
                // Batching by time: read again, with what came meanwhile, once it has passed.
                lingered = true;
                tokio::select! {
                    () = tokio::time::sleep(self.settings.linger) => continue,
                    reply = self.stops.recv() => return End::Stopped(reply),
                }
            }
            lingered = false;
            if !page.events.is_empty() {
                messages.clear();
                if let Err(error) = self.messages_of(&page.events, &mut messages) {
                    return End::Failed(error);
                }
                if let Some(end) = self.publish(&messages).await {
                    return end;
                }
            }
            let busy = page.events.len() >= self.settings.batch;
            if page.scanned_to > self.position {
                if let Some(end) = self.save(page.scanned_to).await {
                    return end;
                }
            }
            if busy {
                continue;
            }
            tokio::select! {
                _ = head.changed() => {}
                () = tokio::time::sleep(self.settings.poll) => {}
                reply = self.stops.recv() => return End::Stopped(reply),
            }
        }
    }

    /// The messages of `events`, in order.
    fn messages_of(
        &self,
        events: &[RecordedEvent],
        messages: &mut Vec<Outgoing>,
    ) -> Result<(), RelayError> {
        for event in events {
            let mut out = Published::new(P::NAME, event, messages);
            self.publication.publish(&self.codec, event, &mut out)?;
        }
        Ok(())
    }

    /// Publishes `messages` until the broker holds them all; `Some` when the relay ends.
    async fn publish(&mut self, messages: &[Outgoing]) -> Option<End> {
        if messages.is_empty() {
            return None;
        }
        let mut retry = Retry::new(self.settings.backoff);
        loop {
            match self.transport.publish(messages).await {
                Ok(()) => {
                    let count = messages.len() as u64;
                    self.progress.send_modify(|p| p.published += count);
                    return None;
                }
                Err(cause) if cause.is_retriable() => {
                    let pause = retry.failed().unwrap_or_default();
                    tracing::warn!(
                        publication = P::NAME,
                        transport = T::NAME,
                        error = %cause,
                        attempts = retry.failures(),
                        "batch not published; trying again"
                    );
                    tokio::select! {
                        () = tokio::time::sleep(pause) => {}
                        reply = self.stops.recv() => return Some(End::Stopped(reply)),
                    }
                }
                Err(cause) => {
                    return Some(End::Failed(RelayError::Transport {
                        publication: P::NAME,
                        cause,
                    }));
                }
            }
        }
    }

    /// Moves the checkpoint to `position`, trying again while the store is unavailable.
    async fn save(&mut self, position: u64) -> Option<End> {
        let mut retry = Retry::new(self.settings.backoff);
        loop {
            match self.store.save_checkpoint(&self.checkpoint, position).await {
                Ok(()) => {
                    self.position = position;
                    self.progress.send_modify(|p| p.position = position);
                    return None;
                }
                Err(error) if error.is_retriable() => {
                    let pause = retry.failed().unwrap_or_default();
                    tracing::warn!(publication = P::NAME, %error, "checkpoint not stored; trying again");
                    tokio::select! {
                        () = tokio::time::sleep(pause) => {}
                        reply = self.stops.recv() => return Some(End::Stopped(reply)),
                    }
                }
                Err(error) => return Some(End::Failed(self.store_error(error))),
            }
        }
    }

    fn store_error(&self, cause: StoreError) -> RelayError {
        RelayError::Store {
            publication: P::NAME,
            cause,
        }
    }
}
