//! Reading rows of the `events` table into [`RecordedEvent`]s, with damaged rows reported as
//! [`StoreError::Corrupt`] naming the stream and version.

use std::sync::Arc;

use rusqlite::Row;

use crate::envelope::{RecordedEvent, Timestamp};
use crate::store::StoreError;
use crate::store::columns::{corrupt, event_id, metadata_from, non_negative};

/// The columns [`recorded`] reads, in order.
pub(crate) const COLUMNS: &str = "position, stream_id, stream_version, event_id, event_type, schema_version, recorded_at, payload, metadata";

/// One row, or the reason it is unreadable.
pub(crate) fn recorded(row: &Row<'_>) -> Result<RecordedEvent, StoreError> {
    let text = |i: usize| -> rusqlite::Result<String> { row.get(i) };
    // Stream and version first: every later error names them.
    let stream: String =
        text(1).map_err(|e| corrupt("?", 0, format!("the stream id is unreadable: {e}")))?;
    let version: i64 = row
        .get(2)
        .map_err(|e| corrupt(&stream, 0, format!("the stream version is unreadable: {e}")))?;
    let version: u64 = non_negative(version, "the stream version", &stream, 0)?;
    let bad = |what: &str, e: rusqlite::Error| {
        corrupt(&stream, version, format!("{what} is unreadable: {e}"))
    };
    let position: i64 = row.get(0).map_err(|e| bad("the position", e))?;
    let id: Vec<u8> = row.get(3).map_err(|e| bad("the event id", e))?;
    let event_type: String = text(4).map_err(|e| bad("the event type", e))?;
    let schema_version: i64 = row.get(5).map_err(|e| bad("the schema version", e))?;
    let recorded_at: i64 = row.get(6).map_err(|e| bad("the timestamp", e))?;
    let payload: Vec<u8> = row.get(7).map_err(|e| bad("the payload", e))?;
    let metadata: Option<Vec<u8>> = row.get(8).map_err(|e| bad("the metadata", e))?;
    Ok(RecordedEvent {
        event_id: event_id(&id, &stream, version)?,
        global_position: non_negative(position, "the position", &stream, version)?,
        stream_version: version,
        timestamp: Timestamp::from_micros(recorded_at),
        event_type: Arc::from(event_type),
        schema_version: non_negative(schema_version, "the schema version", &stream, version)?,
        payload: Arc::from(payload),
        metadata: metadata_from(metadata.as_deref(), &stream, version)?,
        stream_id: Arc::from(stream),
    })
}
