//! The quick start: a bank account aggregate on a SQLite file.
//!
//! Run with `cargo run --example bank`. It opens two accounts, deposits, withdraws, shows a
//! rejected withdrawal with its domain error, shows an idempotent retry, reads its own write
//! through a projection's query, and prints every stored event with its envelope.
//!
//! The domain (events, commands, the `BankAccount` aggregate) is the crate
//! `eventsmith-test-bank` in `tests/support/bank-domain`, shared with the integration tests
//! and the benchmark; its events' shapes are locked in `tests/support/bank-domain/events.lock`.

mod balances;

use eventsmith::store::EventLog;
use eventsmith::{App, CommandContext, CommandError, SqliteStore};
use eventsmith_test_bank::{BankAccount, BankError, Deposit, OpenAccount, Withdraw};

use crate::balances::{Balances, GetBalance, ListAccounts};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::var("EVENTSMITH_BANK_DB").unwrap_or_else(|_| "bank.db".to_owned());
    let store = SqliteStore::open(&path)?;
    let earlier = store.read_all(1, usize::MAX).await?.events.len();
    println!("store {path}: {earlier} events from earlier runs");
    let app = App::new(store)?;
    // The read side: rebuilt from the log, then kept up to date as commands append.
    app.start_projection(Balances::default()).await?;
    let ctx = CommandContext::new().actor("alice").source("bank-example");

    for (account, owner) in [("acc-1", "Alice"), ("acc-2", "Bob")] {
        let open = OpenAccount {
            account: account.into(),
            owner: owner.into(),
        };
        match app.execute_with(open, &ctx).await {
            Ok(opened) => println!("opened {} at version {}", opened.stream_id, opened.version),
            Err(CommandError::Rejected(BankError::AlreadyOpen)) => {
                println!("{account} is already open (an earlier run opened it)");
            }
            Err(other) => return Err(other.into()),
        }
    }

    // A client request with an idempotency key: only the first run ever applies it.
    let deposit = Deposit {
        account: "acc-1".into(),
        amount: 100,
        request_id: Some("req-42".into()),
    };
    let done = app.execute_with(deposit.clone(), &ctx).await?;
    println!(
        "request req-42 (deposit 100): version {}, position {:?}, replayed = {}",
        done.version, done.position, done.replayed
    );
    let again = app.execute_with(deposit, &ctx).await?;
    println!(
        "request req-42 retried: replayed = {}, version still {}",
        again.replayed, again.version
    );

    // Without a key, every run deposits.
    app.execute_with(
        Deposit {
            account: "acc-1".into(),
            amount: 50,
            request_id: None,
        },
        &ctx,
    )
    .await?;
    let withdrawn = app
        .execute_with(
            Withdraw {
                account: "acc-1".into(),
                amount: 30,
            },
            &ctx,
        )
        .await?;
    println!("deposited 50 and withdrew 30 on acc-1");
    // Read your own write: the query waits until the projection has handled the withdrawal.
    let balance = app
        .query(GetBalance {
            account: "acc-1".into(),
        })
        .after(withdrawn.position)
        .await?;
    println!("the balances projection says acc-1 has {balance:?}");

    match app
        .execute_with(
            Withdraw {
                account: "acc-1".into(),
                amount: 10_000,
            },
            &ctx,
        )
        .await
    {
        Err(CommandError::Rejected(error)) => println!("withdrawal of 10000 rejected: {error}"),
        other => return Err(format!("expected a rejection, got {other:?}").into()),
    }

    let (account, version) = app.load::<BankAccount>("acc-1").await?;
    println!("acc-1 balance {} at version {version}", account.balance);
    for (id, entry) in app.query(ListAccounts).await? {
        println!("  {id}: {} has {}", entry.owner, entry.balance);
    }

    println!("\nstored events:");
    for event in app.store().read_all(1, usize::MAX).await?.events {
        let meta = &event.metadata;
        println!(
            "  #{} {} v{} {} {} at {}\n      id {} correlation {} causation {} actor {}",
            event.global_position,
            event.stream_id,
            event.stream_version,
            event.event_type,
            String::from_utf8_lossy(&event.payload),
            event.timestamp,
            event.event_id,
            meta.correlation_id
                .map(|id| id.to_string())
                .unwrap_or_default(),
            meta.causation_id
                .map(|id| id.to_string())
                .unwrap_or_default(),
            meta.actor.as_deref().unwrap_or("-"),
        );
    }
    Ok(())
}
