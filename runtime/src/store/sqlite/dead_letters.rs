//! The `dead_letters` table: events that projections parked, per consumer and position.

use rusqlite::{Connection, params};

use super::backend_error;
use super::rows::int;
use crate::model::envelope::Timestamp;
use crate::store::{DeadLetter, StoreError};

/// Parks an event: `INSERT OR REPLACE` keeps one letter per consumer and position.
pub(crate) fn park(conn: &Connection, name: &str, letter: &DeadLetter) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO dead_letters
         (consumer, position, stream_id, stream_version, event_type, reason, attempts, parked_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .and_then(|mut s| {
        s.execute(params![
            name,
            int(letter.position)?,
            letter.stream_id,
            int(letter.stream_version)?,
            letter.event_type,
            letter.reason,
            letter.attempts,
            letter.parked_at.as_micros()
        ])
    })
    .map_err(backend_error)?;
    Ok(())
}

pub(crate) fn release(conn: &Connection, name: &str, position: u64) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM dead_letters WHERE consumer = ?1 AND position = ?2")
        .and_then(|mut s| s.execute(params![name, int(position)?]))
        .map_err(backend_error)?;
    Ok(())
}

/// The consumer's letters, in global order.
pub(crate) fn dead_letters(conn: &Connection, name: &str) -> Result<Vec<DeadLetter>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT position, stream_id, stream_version, event_type, reason, attempts, parked_at
             FROM dead_letters WHERE consumer = ?1 ORDER BY position",
        )
        .map_err(backend_error)?;
    let letters = stmt
        .query_map([name], |r| {
            Ok(DeadLetter {
                position: r.get::<_, i64>(0)?.unsigned_abs(),
                stream_id: r.get(1)?,
                stream_version: r.get::<_, i64>(2)?.unsigned_abs(),
                event_type: r.get(3)?,
                reason: r.get(4)?,
                attempts: r.get(5)?,
                parked_at: Timestamp::from_micros(r.get(6)?),
            })
        })
        .and_then(Iterator::collect)
        .map_err(backend_error)?;
    Ok(letters)
}
