//! Reading rows of the `events` table into [`RecordedEvent`]s, with damaged rows reported as
//! [`StoreError::Corrupt`] naming the stream and version.

use std::sync::{Arc, OnceLock};

use rusqlite::Row;
use uuid::Uuid;

use crate::model::envelope::{Metadata, RecordedEvent, Timestamp};
use crate::store::StoreError;
use crate::store::columns::{SharedNames, corrupt, non_negative};

/// The columns [`recorded`] reads, in order.
pub(crate) const COLUMNS: &str = "position, stream_id, stream_version, event_id, event_type, schema_version, recorded_at, payload, metadata";

/// One row, or the reason it is unreadable. Strings repeated across rows come from `shared`.
pub(crate) fn recorded(
    row: &Row<'_>,
    shared: &mut SharedNames,
) -> Result<RecordedEvent, StoreError> {
    let text = |i: usize| -> rusqlite::Result<&str> {
        row.get_ref(i)?.as_str().map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e.into())
        })
    };
    let blob = |i: usize| -> rusqlite::Result<&[u8]> {
        row.get_ref(i)?.as_blob().map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Blob, e.into())
        })
    };
    // Stream and version first: every later error names them.
    let stream =
        text(1).map_err(|e| corrupt("?", 0, format!("the stream id is unreadable: {e}")))?;
    let version: i64 = row
        .get(2)
        .map_err(|e| corrupt(stream, 0, format!("the stream version is unreadable: {e}")))?;
    let version: u64 = non_negative(version, "the stream version", stream, 0)?;
    let bad = |what: &str, e: rusqlite::Error| {
        corrupt(stream, version, format!("{what} is unreadable: {e}"))
    };
    let position: i64 = row.get(0).map_err(|e| bad("the position", e))?;
    let id = blob(3).map_err(|e| bad("the event id", e))?;
    let event_type = text(4).map_err(|e| bad("the event type", e))?;
    let schema_version: i64 = row.get(5).map_err(|e| bad("the schema version", e))?;
    let recorded_at: i64 = row.get(6).map_err(|e| bad("the timestamp", e))?;
    let payload = blob(7).map_err(|e| bad("the payload", e))?;
    let metadata: Option<&[u8]> = row
        .get_ref(8)
        .and_then(|v| v.as_blob_or_null().map_err(rusqlite::Error::from))
        .map_err(|e| bad("the metadata", e))?;
    Ok(RecordedEvent {
        event_id: event_id(id, stream, version)?,
        global_position: non_negative(position, "the position", stream, version)?,
        stream_version: version,
        timestamp: Timestamp::from_micros(recorded_at),
        event_type: shared.name(event_type),
        schema_version: non_negative(schema_version, "the schema version", stream, version)?,
        payload: Arc::from(payload),
        metadata: metadata_from(metadata, stream, version)?,
        stream_id: shared.stream(stream),
    })
}

/// SQLite integers are signed; positions and versions stay far below `i64::MAX`.
pub(crate) fn int(value: u64) -> rusqlite::Result<i64> {
    i64::try_from(value).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

/// Metadata as stored: `None` for the default (most events in tests and benchmarks).
pub(crate) fn metadata_bytes(metadata: &Metadata) -> Result<Option<Vec<u8>>, StoreError> {
    if *metadata == Metadata::default() {
        return Ok(None);
    }
    serde_json::to_vec(metadata)
        .map(Some)
        .map_err(|e| StoreError::Invalid(format!("metadata does not serialize: {e}")))
}

/// Metadata from its stored form; the empty default is shared.
pub(crate) fn metadata_from(
    bytes: Option<&[u8]>,
    stream: &str,
    version: u64,
) -> Result<Arc<Metadata>, StoreError> {
    static EMPTY: OnceLock<Arc<Metadata>> = OnceLock::new();
    match bytes {
        None => Ok(Arc::clone(EMPTY.get_or_init(Arc::default))),
        Some(bytes) => serde_json::from_slice(bytes)
            .map(Arc::new)
            .map_err(|e| corrupt(stream, version, format!("metadata is not valid: {e}"))),
    }
}

/// An event id from its 16 stored bytes.
pub(crate) fn event_id(bytes: &[u8], stream: &str, version: u64) -> Result<Uuid, StoreError> {
    Uuid::from_slice(bytes).map_err(|_| {
        corrupt(
            stream,
            version,
            format!("the event id has {} bytes instead of 16", bytes.len()),
        )
    })
}
