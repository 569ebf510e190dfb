//! The query bus over real stores: a command's position passed to a query makes the query
//! read its own write; a query of a projection not started here, a wait that cannot be met
//! and a panicking query are typed errors; one projection type runs once per application.

mod common;
mod services;

use std::collections::HashMap;
use std::time::Duration;

use eventsmith::projection::{QueryError, RunnerError, WaitError};
use eventsmith::{App, EventStore, InMemoryStore, RecordedEvent, SqliteStore, projection};

use common::{AccountOpened, Deposit, MoneyDeposited, MoneyWithdrawn, OpenAccount, Withdraw};

#[derive(Default)]
struct Balances {
    by_account: HashMap<String, i64>,
    owners: HashMap<String, String>,
}

/// The balance of one account, `None` when it was never opened.
struct Balance {
    account: String,
}

/// Every account's owner, sorted.
struct Owners;

/// Its answer panics.
struct Broken;

#[projection(name = "balances")]
impl Balances {
    #[on]
    fn opened(&mut self, event: &AccountOpened, envelope: &RecordedEvent) {
        let account = account_of(envelope);
        self.owners.insert(account.clone(), event.owner.clone());
        self.by_account.insert(account, 0);
    }

    #[on]
    fn deposited(&mut self, event: &MoneyDeposited, envelope: &RecordedEvent) {
        *self.by_account.entry(account_of(envelope)).or_default() +=
            i64::try_from(event.amount).unwrap();
    }

    #[on]
    fn withdrawn(&mut self, event: &MoneyWithdrawn, envelope: &RecordedEvent) {
        *self.by_account.entry(account_of(envelope)).or_default() -=
            i64::try_from(event.amount).unwrap();
    }

    #[query]
    fn balance(&self, query: Balance) -> Option<i64> {
        self.by_account.get(&query.account).copied()
    }

    #[query]
    fn owners(&self, _query: Owners) -> Vec<String> {
        let mut owners: Vec<String> = self.owners.values().cloned().collect();
        owners.sort();
        owners
    }

    #[query]
    fn broken(&self, _query: Broken) -> u8 {
        panic!("this query is broken on purpose")
    }
}

/// The account id from the stream id `BankAccount-<id>`.
fn account_of(envelope: &RecordedEvent) -> String {
    envelope
        .stream_id
        .split_once('-')
        .map_or_else(|| envelope.stream_id.to_string(), |(_, id)| id.to_owned())
}

/// The balance of `a-1` once the projection has handled `position`.
async fn balance_of_a1<S: EventStore>(app: &App<S>, position: Option<u64>) -> Option<i64> {
    app.query(Balance {
        account: "a-1".into(),
    })
    .after(position)
    .await
    .unwrap()
}

async fn read_your_writes<S: EventStore>(store: S) {
    let app = App::new(store).unwrap();
    let err = app
        .query(Balance {
            account: "a-1".into(),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            QueryError::NotStarted {
                projection: "balances"
            }
        ),
        "{err}"
    );
    let running = app.start_projection(Balances::default()).await.unwrap();
    let again = app.start_projection(Balances::default()).await.unwrap_err();
    assert!(
        matches!(again, RunnerError::AlreadyStarted { .. }),
        "{again}"
    );

    app.execute(OpenAccount {
        account: "a-1".into(),
        owner: "Ada".into(),
    })
    .await
    .unwrap();
    for round in 1..=20u64 {
        let done = app
            .execute(Deposit {
                account: "a-1".into(),
                amount: round,
                key: None,
            })
            .await
            .unwrap();
        let balance = balance_of_a1(&app, done.position).await;
        let expected = i64::try_from((1..=round).sum::<u64>()).unwrap();
        assert_eq!(balance, Some(expected), "round {round} reads its own write");
    }
    let done = app
        .execute(Withdraw {
            account: "a-1".into(),
            amount: 10,
        })
        .await
        .unwrap();
    assert_eq!(balance_of_a1(&app, done.position).await, Some(200));
    assert_eq!(app.query(Owners).await.unwrap(), ["Ada"]);
    assert_eq!(
        app.query(Balance {
            account: "nobody".into()
        })
        .await
        .unwrap(),
        None
    );

    let err = app
        .query(Owners)
        .after(done.position.unwrap() + 1_000)
        .timeout(Duration::from_millis(30))
        .await
        .unwrap_err();
    assert!(
        matches!(err, QueryError::NotCaughtUp(WaitError::Timeout { .. })),
        "{err}"
    );
    let err = app.query(Broken).await.unwrap_err();
    assert!(
        err.to_string().contains("broken on purpose"),
        "a panicking query is an error: {err}"
    );

    running.stop().await.unwrap();
    let err = app
        .query(Owners)
        .after(done.position.unwrap() + 1)
        .await
        .unwrap_err();
    assert!(
        matches!(err, QueryError::NotCaughtUp(WaitError::Stopped { .. })),
        "a stopped projection fails the wait at once: {err}"
    );
    // A stopped projection can be started again.
    let restarted = app.start_projection(Balances::default()).await.unwrap();
    assert_eq!(
        balance_of_a1(&app, done.position).await,
        Some(200),
        "rebuilt from the log"
    );
    restarted.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_bus_on_the_memory_store() {
    read_your_writes(InMemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_bus_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    read_your_writes(SqliteStore::open(dir.path().join("q.db")).unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_bus_on_postgres() {
    if let Some(store) = services::pg_store("query_bus").await {
        read_your_writes(store).await;
    }
}
