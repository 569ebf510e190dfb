//! A SQL read model updated transactionally: account balances in a table of the store's own
//! SQLite file, written by the projection's async handlers in the same transaction that moves
//! its checkpoint, so each event counts exactly once however the process stops; an async
//! `#[query]` reads the table through a connection of its own, after the command's write.
//!
//! Run with `cargo run --example sql_read_model`; run it again and it resumes from its
//! checkpoint (the balances grow by this run's deposits only).

use eventsmith::projection::SqliteConnection;
use eventsmith::rusqlite::{self, Connection};
use eventsmith::{App, CommandError, RecordedEvent, SqliteStore, projection};
use eventsmith_test_bank::{
    AccountOpened, BankError, Deposit, MoneyDeposited, MoneyWithdrawn, OpenAccount,
};

/// The read model lives in the table; the struct holds nothing.
struct BalanceTable;

/// An account's owner and balance.
struct AccountRow {
    account: String,
}

/// The account id of an event (streams are named `BankAccount-<id>`), owned: statement
/// parameters go to the connection's thread.
fn account(envelope: &RecordedEvent) -> String {
    let stream = &envelope.stream_id;
    stream
        .strip_prefix("BankAccount-")
        .unwrap_or(stream)
        .to_owned()
}

#[projection(name = "bank.balance_table", context = SqliteConnection)]
impl BalanceTable {
    #[on]
    async fn opened(
        &mut self,
        event: &AccountOpened,
        envelope: &RecordedEvent,
        db: &mut SqliteConnection,
    ) -> rusqlite::Result<()> {
        db.execute(
            "INSERT INTO account_balances (account, owner, balance) VALUES (?1, ?2, 0)",
            (account(envelope), event.owner.clone()),
        )
        .await?;
        Ok(())
    }

    #[on]
    async fn deposited(
        &mut self,
        event: &MoneyDeposited,
        envelope: &RecordedEvent,
        db: &mut SqliteConnection,
    ) -> rusqlite::Result<()> {
        let amount = i64::try_from(event.amount).unwrap_or(i64::MAX);
        db.execute(
            "UPDATE account_balances SET balance = balance + ?2 WHERE account = ?1",
            (account(envelope), amount),
        )
        .await?;
        Ok(())
    }

    #[on]
    async fn withdrawn(
        &mut self,
        event: &MoneyWithdrawn,
        envelope: &RecordedEvent,
        db: &mut SqliteConnection,
    ) -> rusqlite::Result<()> {
        let amount = i64::try_from(event.amount).unwrap_or(i64::MAX);
        db.execute(
            "UPDATE account_balances SET balance = balance - ?2 WHERE account = ?1",
            (account(envelope), amount),
        )
        .await?;
        Ok(())
    }

    #[query]
    async fn account_row(
        &self,
        query: AccountRow,
        db: &SqliteConnection,
    ) -> rusqlite::Result<(String, i64)> {
        db.call(move |conn| {
            conn.query_row(
                "SELECT owner, balance FROM account_balances WHERE account = ?1",
                [query.account],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
        })
        .await
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::var("EVENTSMITH_SQL_EXAMPLE_DB")
        .unwrap_or_else(|_| "sql_read_model.db".to_owned());
    let store = SqliteStore::open(&path)?;
    let db = Connection::open(store.path())?;
    db.execute_batch(
        "CREATE TABLE IF NOT EXISTS account_balances (
             account TEXT PRIMARY KEY, owner TEXT NOT NULL, balance INTEGER NOT NULL)",
    )?;
    let app = App::new(store)?;
    let running = app.start_projection(BalanceTable).await?;
    println!(
        "{path}: the read model resumes after position {}",
        running.progress().position
    );

    match app
        .execute(OpenAccount {
            account: "sql-1".into(),
            owner: "Grace".into(),
        })
        .await
    {
        Ok(_) | Err(CommandError::Rejected(BankError::AlreadyOpen)) => {}
        Err(other) => return Err(other.into()),
    }
    let mut last = None;
    for amount in [10, 20, 30] {
        let done = app
            .execute(Deposit {
                account: "sql-1".into(),
                amount,
                request_id: None,
            })
            .await?;
        last = done.position;
    }
    // Read your own write: the query waits until the table reflects the last deposit.
    let (owner, balance) = app
        .query(AccountRow {
            account: "sql-1".into(),
        })
        .after(last)
        .await??;
    println!("account sql-1 of {owner}: balance {balance} (60 more on every run)");
    running.stop().await?;
    Ok(())
}
