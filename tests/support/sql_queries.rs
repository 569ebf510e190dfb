//! SQL read models started through the `App`: account balances in a table of the store's
//! database, written by async handlers and read by async `#[query]` methods through a
//! connection of their own, on SQLite and PostgreSQL.

use eventsmith::projection::{PgConnection, SqliteConnection};
use eventsmith::rusqlite::{self, OptionalExtension};
use eventsmith::{RecordedEvent, projection, tokio_postgres};
use eventsmith_test_bank::{AccountOpened, MoneyDeposited, MoneyWithdrawn};

/// The account id from the stream id `BankAccount-<id>`.
fn account_of(envelope: &RecordedEvent) -> String {
    envelope
        .stream_id
        .split_once('-')
        .map_or_else(|| envelope.stream_id.to_string(), |(_, id)| id.to_owned())
}

fn signed(amount: u64) -> i64 {
    i64::try_from(amount).unwrap_or(i64::MAX)
}

/// The balance of one account in the SQLite table, `None` when it was never opened.
pub(crate) struct SqliteBalance {
    pub(crate) account: String,
}

/// Balances in the table `sql_balances` of the store's SQLite file.
pub(crate) struct SqliteBalances;

pub(crate) const SQLITE_TABLE: &str =
    "CREATE TABLE sql_balances (account TEXT PRIMARY KEY, balance INTEGER NOT NULL)";

#[projection(name = "query-bus.sqlite-balances", context = SqliteConnection)]
impl SqliteBalances {
    #[on]
    async fn opened(
        &mut self,
        _event: &AccountOpened,
        envelope: &RecordedEvent,
        db: &SqliteConnection,
    ) -> rusqlite::Result<()> {
        let sql = "INSERT INTO sql_balances (account, balance) VALUES (?1, 0)";
        db.execute(sql, (account_of(envelope),)).await.map(drop)
    }

    #[on]
    async fn deposited(
        &mut self,
        event: &MoneyDeposited,
        envelope: &RecordedEvent,
        db: &SqliteConnection,
    ) -> rusqlite::Result<()> {
        let sql = "UPDATE sql_balances SET balance = balance + ?2 WHERE account = ?1";
        let params = (account_of(envelope), signed(event.amount));
        db.execute(sql, params).await.map(drop)
    }

    #[on]
    async fn withdrawn(
        &mut self,
        event: &MoneyWithdrawn,
        envelope: &RecordedEvent,
        db: &SqliteConnection,
    ) -> rusqlite::Result<()> {
        let sql = "UPDATE sql_balances SET balance = balance - ?2 WHERE account = ?1";
        let params = (account_of(envelope), signed(event.amount));
        db.execute(sql, params).await.map(drop)
    }

    #[query]
    async fn balance(
        &self,
        query: SqliteBalance,
        db: &SqliteConnection,
    ) -> rusqlite::Result<Option<i64>> {
        db.call(move |conn| {
            conn.query_row(
                "SELECT balance FROM sql_balances WHERE account = ?1",
                [query.account],
                |row| row.get(0),
            )
            .optional()
        })
        .await
    }
}

/// The balance of one account in the PostgreSQL table, `None` when it was never opened.
pub(crate) struct PgBalance {
    pub(crate) account: String,
}

/// Balances in the table `sql_balances` of the store's schema.
pub(crate) struct PgBalances {
    pub(crate) schema: String,
}

pub(crate) fn pg_table(schema: &str) -> String {
    format!(
        "CREATE TABLE \"{schema}\".sql_balances (account text PRIMARY KEY, balance bigint NOT NULL)"
    )
}

#[projection(name = "query-bus.pg-balances", context = PgConnection)]
impl PgBalances {
    #[on]
    async fn opened(
        &mut self,
        _event: &AccountOpened,
        envelope: &RecordedEvent,
        db: &PgConnection,
    ) -> Result<(), tokio_postgres::Error> {
        let sql = format!(
            "INSERT INTO \"{}\".sql_balances (account, balance) VALUES ($1, 0)",
            self.schema
        );
        db.execute(&sql, &[&account_of(envelope)]).await.map(drop)
    }

    #[on]
    async fn deposited(
        &mut self,
        event: &MoneyDeposited,
        envelope: &RecordedEvent,
        db: &PgConnection,
    ) -> Result<(), tokio_postgres::Error> {
        self.add(db, envelope, signed(event.amount)).await
    }

    #[on]
    async fn withdrawn(
        &mut self,
        event: &MoneyWithdrawn,
        envelope: &RecordedEvent,
        db: &PgConnection,
    ) -> Result<(), tokio_postgres::Error> {
        self.add(db, envelope, -signed(event.amount)).await
    }

    #[query]
    async fn balance(
        &self,
        query: PgBalance,
        db: &PgConnection,
    ) -> Result<Option<i64>, tokio_postgres::Error> {
        let sql = format!(
            "SELECT balance FROM \"{}\".sql_balances WHERE account = $1",
            self.schema
        );
        let rows = db.query(&sql, &[&query.account]).await?;
        Ok(rows.first().map(|row| row.get(0)))
    }
}

impl PgBalances {
    async fn add(
        &self,
        db: &PgConnection,
        envelope: &RecordedEvent,
        amount: i64,
    ) -> Result<(), tokio_postgres::Error> {
        let sql = format!(
            "UPDATE \"{}\".sql_balances SET balance = balance + $2 WHERE account = $1",
            self.schema
        );
        db.execute(&sql, &[&account_of(envelope), &amount])
            .await
            .map(drop)
    }
}
