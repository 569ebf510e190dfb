#![allow(dead_code, reason = "the crash projector does not create the tables")]

//! The PostgreSQL twin of `ledger_table.rs`: every handled event is a row of `applied` and
//! `totals` sums the amounts per stream, in the store's schema; the rule `refuse-13` in
//! `rules` makes it refuse an amount of 13.

use eventsmith::projection::PgConnection;
use eventsmith::tokio_postgres;
use eventsmith::{RecordedEvent, projection};

pub(crate) use super::ledger_table::{Credited, LedgerError};

/// The read model's tables, in `schema`; nothing in memory.
pub(crate) struct LedgerPg {
    pub(crate) schema: String,
}

/// The statements that create the tables in `schema` (no unique keys on `applied`: a
/// duplicate must be visible, not refused).
pub(crate) fn create_tables_sql(schema: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS \"{schema}\".applied (position bigint NOT NULL, stream text NOT NULL, version bigint NOT NULL);
         CREATE TABLE IF NOT EXISTS \"{schema}\".totals (stream text PRIMARY KEY, total bigint NOT NULL);
         CREATE TABLE IF NOT EXISTS \"{schema}\".rules (name text NOT NULL);"
    )
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum PgLedgerError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Sql(#[from] tokio_postgres::Error),
}

#[projection(name = "ledger-pg", context = PgConnection)]
impl LedgerPg {
    #[on]
    async fn credited(
        &mut self,
        event: &Credited,
        envelope: &RecordedEvent,
        db: &mut PgConnection,
    ) -> Result<(), PgLedgerError> {
        let schema = &self.schema;
        let position = i64::try_from(envelope.global_position).unwrap_or(i64::MAX);
        let version = i64::try_from(envelope.stream_version).unwrap_or(i64::MAX);
        let stream: &str = &envelope.stream_id;
        db.execute(
            &format!(
                "INSERT INTO \"{schema}\".applied (position, stream, version) VALUES ($1, $2, $3)"
            ),
            &[&position, &stream, &version],
        )
        .await?;
        db.execute(
            &format!(
                "INSERT INTO \"{schema}\".totals (stream, total) VALUES ($1, $2)
                 ON CONFLICT (stream) DO UPDATE SET total = totals.total + excluded.total"
            ),
            &[&stream, &event.amount],
        )
        .await?;
        if event.amount == 13 {
            let rows = db
                .query(
                    &format!("SELECT 1 FROM \"{schema}\".rules WHERE name = 'refuse-13'"),
                    &[],
                )
                .await?;
            if !rows.is_empty() {
                return Err(LedgerError::Unlucky.into());
            }
        }
        Ok(())
    }
}
