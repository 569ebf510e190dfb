//! What the store keeps for consumers (projections): checkpoints and dead letters, as
//! functions over a client, so that a SQL read model's runner writes them in its own
//! transaction with the same statements the store uses.

use deadpool_postgres::ClientWrapper;

use super::{Names, pg_error};
use crate::model::envelope::Timestamp;
use crate::store::columns::sql_int as int;
use crate::store::{DeadLetter, StoreError};

/// Sets the consumer's checkpoint.
pub(crate) async fn save_checkpoint(
    client: &ClientWrapper,
    names: &Names,
    name: &str,
    position: u64,
) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO {t} (name, position, updated_at) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET
             position = excluded.position,
             updated_at = excluded.updated_at",
        t = names.checkpoints
    );
    let stmt = client.prepare_cached(&sql).await.map_err(pg_error)?;
    client
        .execute(
            &stmt,
            &[&name, &int(position), &Timestamp::now().as_micros()],
        )
        .await
        .map_err(pg_error)?;
    Ok(())
}

/// The consumer's checkpoint.
pub(crate) async fn load_checkpoint(
    client: &ClientWrapper,
    names: &Names,
    name: &str,
) -> Result<Option<u64>, StoreError> {
    let sql = format!("SELECT position FROM {} WHERE name = $1", names.checkpoints);
    let stmt = client.prepare_cached(&sql).await.map_err(pg_error)?;
    let row = client.query_opt(&stmt, &[&name]).await.map_err(pg_error)?;
    Ok(row.map(|r| r.get::<_, i64>(0).unsigned_abs()))
}

/// Parks an event for the consumer, replacing its letter at the same position.
pub(crate) async fn park(
    client: &ClientWrapper,
    names: &Names,
    name: &str,
    letter: &DeadLetter,
) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO {t} (consumer, position, stream_id, stream_version, event_type, reason, attempts, parked_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (consumer, position) DO UPDATE SET
             reason = excluded.reason,
             attempts = excluded.attempts,
             parked_at = excluded.parked_at",
        t = names.dead_letters
    );
    let stmt = client.prepare_cached(&sql).await.map_err(pg_error)?;
    client
        .execute(
            &stmt,
            &[
                &name,
                &int(letter.position),
                &letter.stream_id,
                &int(letter.stream_version),
                &letter.event_type,
                &letter.reason,
                &i64::from(letter.attempts),
                &letter.parked_at.as_micros(),
            ],
        )
        .await
        .map_err(pg_error)?;
    Ok(())
}

/// The consumer's letters, in global order.
pub(crate) async fn dead_letters(
    client: &ClientWrapper,
    names: &Names,
    name: &str,
) -> Result<Vec<DeadLetter>, StoreError> {
    let sql = format!(
        "SELECT position, stream_id, stream_version, event_type, reason, attempts, parked_at
         FROM {} WHERE consumer = $1 ORDER BY position",
        names.dead_letters
    );
    let stmt = client.prepare_cached(&sql).await.map_err(pg_error)?;
    let rows = client.query(&stmt, &[&name]).await.map_err(pg_error)?;
    Ok(rows
        .iter()
        .map(|r| DeadLetter {
            position: r.get::<_, i64>(0).unsigned_abs(),
            stream_id: r.get(1),
            stream_version: r.get::<_, i64>(2).unsigned_abs(),
            event_type: r.get(3),
            reason: r.get(4),
            attempts: u32::try_from(r.get::<_, i64>(5)).unwrap_or(u32::MAX),
            parked_at: Timestamp::from_micros(r.get(6)),
        })
        .collect())
}

/// Removes the consumer's letter at `position`.
pub(crate) async fn release(
    client: &ClientWrapper,
    names: &Names,
    name: &str,
    position: u64,
) -> Result<(), StoreError> {
    let sql = format!(
        "DELETE FROM {} WHERE consumer = $1 AND position = $2",
        names.dead_letters
    );
    let stmt = client.prepare_cached(&sql).await.map_err(pg_error)?;
    client
        .execute(&stmt, &[&name, &int(position)])
        .await
        .map_err(pg_error)?;
    Ok(())
}
