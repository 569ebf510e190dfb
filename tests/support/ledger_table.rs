#![allow(
    dead_code,
    reason = "the PostgreSQL tests use only the event and the error"
)]

//! A SQL read model shared by the SQL read-model tests and the process they kill: every
//! handled event is a row of `applied`, and `totals` sums the amounts per stream, so an event
//! applied twice or never shows in the tables. The rule `refuse-13` in `rules` makes it
//! refuse an amount of 13 (a poison event, fixed by deleting the rule).

use eventsmith::projection::SqliteConnection;
use eventsmith::rusqlite::{self, Connection};
use eventsmith::{Event, RecordedEvent, projection};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
pub(crate) struct Credited {
    pub(crate) amount: i64,
}

/// The read model's tables; nothing in memory.
pub(crate) struct LedgerTable;

/// Creates the tables (no unique keys: a duplicate must be visible, not refused).
pub(crate) fn create_tables(db: &Connection) -> rusqlite::Result<()> {
    db.execute_batch(
        "CREATE TABLE IF NOT EXISTS applied (position INTEGER NOT NULL, stream TEXT NOT NULL, version INTEGER NOT NULL);
         CREATE TABLE IF NOT EXISTS totals (stream TEXT PRIMARY KEY, total INTEGER NOT NULL);
         CREATE TABLE IF NOT EXISTS rules (name TEXT NOT NULL);",
    )
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum LedgerError {
    #[error("the amount 13 is refused (rule `refuse-13`)")]
    Unlucky,
    #[error(transparent)]
    Sql(#[from] rusqlite::Error),
}

#[projection(name = "ledger-table", context = SqliteConnection)]
impl LedgerTable {
    #[on]
    async fn credited(
        &mut self,
        event: &Credited,
        envelope: &RecordedEvent,
        db: &mut SqliteConnection,
    ) -> Result<(), LedgerError> {
        let stream = envelope.stream_id.to_string();
        db.execute(
            "INSERT INTO applied (position, stream, version) VALUES (?1, ?2, ?3)",
            (
                i64::try_from(envelope.global_position).unwrap_or(i64::MAX),
                stream.clone(),
                i64::try_from(envelope.stream_version).unwrap_or(i64::MAX),
            ),
        )
        .await?;
        // Written before the check, so a refused event proves its transaction was undone.
        let amount = event.amount;
        let refused = db
            .call(move |db| {
                db.execute(
                    "INSERT INTO totals (stream, total) VALUES (?1, ?2)
                     ON CONFLICT (stream) DO UPDATE SET total = total + excluded.total",
                    rusqlite::params![stream, amount],
                )?;
                db.query_row(
                    "SELECT count(*) FROM rules WHERE name = 'refuse-13'",
                    [],
                    |r| r.get::<_, i64>(0),
                )
            })
            .await?;
        if amount == 13 && refused > 0 {
            return Err(LedgerError::Unlucky);
        }
        Ok(())
    }
}
