//! [`SnapshotStore`]: aggregates' states kept at a stream version, so that loading one need
//! not replay its whole stream.

use std::future::Future;
use std::sync::Arc;

use super::StoreError;
use crate::model::envelope::Timestamp;

/// An aggregate's state at a stream version, serialized, so that loading it need not replay
/// the whole stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The stream version the state reflects.
    pub stream_version: u64,
    /// The version of the aggregate's serialized shape; a snapshot of another version is
    /// ignored when loading.
    pub snapshot_version: u32,
    /// The serialized state.
    pub payload: Arc<[u8]>,
    /// When it was taken.
    pub taken_at: Timestamp,
}

/// Keeps one snapshot per stream. Part of every [`EventStore`](super::EventStore).
pub trait SnapshotStore: Send + Sync + 'static {
    /// Keeps `snapshot` as the stream's snapshot, unless the one kept is at a later stream
    /// version.
    ///
    /// # Errors
    /// From the backend.
    fn save_snapshot(
        &self,
        stream: &str,
        snapshot: Snapshot,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The stream's snapshot, if one was saved.
    ///
    /// # Errors
    /// From the backend.
    fn load_snapshot(
        &self,
        stream: &str,
    ) -> impl Future<Output = Result<Option<Snapshot>, StoreError>> + Send;
}
