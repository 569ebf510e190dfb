//! Rows of the events table into [`RecordedEvent`]s, with damaged rows reported as
//! [`StoreError::Corrupt`] naming the stream and version.

use std::sync::Arc;

use tokio_postgres::Row;
use tokio_postgres::types::Json;
use uuid::Uuid;

use crate::model::envelope::{Metadata, RecordedEvent, Timestamp};
use crate::store::StoreError;
use crate::store::columns::{SharedNames, corrupt, non_negative};

/// The columns [`recorded`] reads, in order.
pub(crate) const COLUMNS: &str = "position, stream_id, stream_version, event_id, event_type, schema_version, recorded_at, payload, metadata";

/// How many columns [`COLUMNS`] names: a query's next column is at this index.
pub(crate) const COLUMN_COUNT: usize = 9;

/// One row, or the reason it is unreadable. Strings repeated across rows come from `shared`.
pub(crate) fn recorded(row: &Row, shared: &mut SharedNames) -> Result<RecordedEvent, StoreError> {
    let stream: &str = row
        .try_get(1)
        .map_err(|e| corrupt("?", 0, format!("the stream id is unreadable: {e}")))?;
    let version: i64 = row
        .try_get(2)
        .map_err(|e| corrupt(stream, 0, format!("the stream version is unreadable: {e}")))?;
    let version: u64 = non_negative(version, "the stream version", stream, 0)?;
    let bad = |what: &str, e: tokio_postgres::Error| {
        corrupt(stream, version, format!("{what} is unreadable: {e}"))
    };
    let position: i64 = row.try_get(0).map_err(|e| bad("the position", e))?;
    let event_id: Uuid = row.try_get(3).map_err(|e| bad("the event id", e))?;
    let event_type: &str = row.try_get(4).map_err(|e| bad("the event type", e))?;
    let schema_version: i32 = row.try_get(5).map_err(|e| bad("the schema version", e))?;
    let recorded_at: i64 = row.try_get(6).map_err(|e| bad("the timestamp", e))?;
    let payload: &[u8] = row.try_get(7).map_err(|e| bad("the payload", e))?;
    let metadata: Option<Json<Metadata>> = row.try_get(8).map_err(|e| bad("the metadata", e))?;
    Ok(RecordedEvent {
        event_id,
        global_position: non_negative(position, "the position", stream, version)?,
        stream_version: version,
        timestamp: Timestamp::from_micros(recorded_at),
        event_type: shared.name(event_type),
        schema_version: u32::try_from(schema_version).map_err(|_| {
            corrupt(
                stream,
                version,
                format!("the schema version is out of range: {schema_version}"),
            )
        })?,
        payload: Arc::from(payload),
        metadata: metadata.map_or_else(empty_metadata, |Json(m)| Arc::new(m)),
        stream_id: shared.stream(stream),
    })
}

/// Every row, in order.
pub(crate) fn all(rows: &[Row]) -> Result<Vec<RecordedEvent>, StoreError> {
    let mut shared = SharedNames::default();
    rows.iter().map(|row| recorded(row, &mut shared)).collect()
}

fn empty_metadata() -> Arc<Metadata> {
    static EMPTY: std::sync::OnceLock<Arc<Metadata>> = std::sync::OnceLock::new();
    Arc::clone(EMPTY.get_or_init(Arc::default))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_column_count_counts_the_columns() {
        assert_eq!(super::COLUMNS.split(", ").count(), super::COLUMN_COUNT);
    }
}
