//! [`ConsumerStore`]: what consumers of the log (projections) keep in the store: their
//! checkpoints and the events they parked.

use std::future::Future;

use super::{DeadLetter, StoreError};

/// Checkpoints and dead letters, per consumer name. Part of every
/// [`EventStore`](super::EventStore).
pub trait ConsumerStore: Send + Sync + 'static {
    /// Records that the consumer `name` (a projection) has handled every event up to global
    /// position `position`, replacing its earlier checkpoint. Setting 0 rebuilds from the
    /// start.
    ///
    /// # Errors
    /// From the backend.
    fn save_checkpoint(
        &self,
        name: &str,
        position: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The checkpoint of the consumer `name`, if one was saved.
    ///
    /// # Errors
    /// From the backend.
    fn load_checkpoint(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<u64>, StoreError>> + Send;

    /// Parks an event for the consumer `name`, replacing a letter it parked earlier at the
    /// same position.
    ///
    /// # Errors
    /// From the backend.
    fn park(
        &self,
        name: &str,
        letter: DeadLetter,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The events the consumer `name` has parked, in global order.
    ///
    /// # Errors
    /// From the backend.
    fn dead_letters(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Vec<DeadLetter>, StoreError>> + Send;

    /// Removes the consumer's letter at `position` (nothing when there is none).
    ///
    /// # Errors
    /// From the backend.
    fn release(
        &self,
        name: &str,
        position: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}
