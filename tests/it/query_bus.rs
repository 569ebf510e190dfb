//! The query bus over real stores: a command's position passed to a query makes the query
//! read its own write; a query of a projection not started here, a wait that cannot be met
//! and a panicking query are typed errors; one projection type runs once per application.
//! SQL read models started through the `App` answer async queries through a connection of
//! their own, reading the writes of another `App` on another handle of the store.

use std::collections::HashMap;
use std::fmt::Debug;
use std::time::Duration;

use eventsmith::projection::{
    HandledQuery, Projection, QueryError, ReadModelStore, RunnerError, WaitError,
};
use eventsmith::rusqlite;
use eventsmith::store::PgOptions;
use eventsmith::{App, EventStore, InMemoryStore, PgStore, RecordedEvent, SqliteStore, projection};
use eventsmith_test_bank::{
    AccountOpened, Deposit, MoneyDeposited, MoneyWithdrawn, OpenAccount, Withdraw,
};

use crate::services;
use crate::support::sql_queries;

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
                request_id: None,
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

/// A SQL read model started in the `reader` application answers the balance queries of
/// `balance`, reading the writes of the `writer` application (another store handle);
/// restarted, it resumes from its checkpoint and counts nothing twice.
async fn sql_read_your_writes<S, P, Q, E>(
    reader: S,
    writer: S,
    projection: impl Fn() -> P,
    balance: impl Fn(&str) -> Q,
) where
    S: ReadModelStore<P::Context>,
    P: Projection + Sync,
    Q: HandledQuery<Projection = P, Output = Result<Option<i64>, E>>,
    E: Debug,
{
    let reader = App::new(reader).unwrap();
    let writer = App::new(writer).unwrap();
    let running = reader.start_projection(projection()).await.unwrap();
    let again = reader.start_projection(projection()).await.unwrap_err();
    assert!(
        matches!(again, RunnerError::AlreadyStarted { .. }),
        "{again}"
    );
    writer
        .execute(OpenAccount {
            account: "s-1".into(),
            owner: "Ada".into(),
        })
        .await
        .unwrap();
    let ask = |account: &str, after: Option<u64>| reader.query(balance(account)).after(after);
    for round in 1..=10u64 {
        let done = writer
            .execute(Deposit {
                account: "s-1".into(),
                amount: round,
                request_id: None,
            })
            .await
            .unwrap();
        let expected = i64::try_from((1..=round).sum::<u64>()).unwrap();
        let answer = ask("s-1", done.position).await.unwrap().unwrap();
        assert_eq!(
            answer,
            Some(expected),
            "round {round} reads the other App's write"
        );
    }
    let done = writer
        .execute(Withdraw {
            account: "s-1".into(),
            amount: 5,
        })
        .await
        .unwrap();
    assert_eq!(ask("s-1", done.position).await.unwrap().unwrap(), Some(50));
    assert_eq!(ask("nobody", None).await.unwrap().unwrap(), None);
    running.stop().await.unwrap();

    // Restarted, it resumes from its checkpoint: the table is not fed the log again.
    let restarted = reader.start_projection(projection()).await.unwrap();
    let done = writer
        .execute(Deposit {
            account: "s-1".into(),
            amount: 1,
            request_id: None,
        })
        .await
        .unwrap();
    assert_eq!(ask("s-1", done.position).await.unwrap().unwrap(), Some(51));
    restarted.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_read_model_queries_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sql-q.db");
    let reader = SqliteStore::open(&path).unwrap();
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(sql_queries::SQLITE_TABLE)
        .unwrap();
    let writer = SqliteStore::open(&path).unwrap();
    sql_read_your_writes(
        reader,
        writer,
        || sql_queries::SqliteBalances,
        |account| sql_queries::SqliteBalance {
            account: account.into(),
        },
    )
    .await;
}

/// On tokio's current-thread runtime: the handlers and queries await their statements.
#[tokio::test]
async fn sql_read_model_queries_on_postgres() {
    let Some(reader) = services::pg_store("query_bus_sql").await else {
        return;
    };
    services::raw_client()
        .await
        .batch_execute(&sql_queries::pg_table(reader.schema()))
        .await
        .unwrap();
    let options = PgOptions::default().schema(reader.schema()).pool_size(4);
    let writer = PgStore::connect_with(&services::pg_url(), options)
        .await
        .unwrap();
    let schema = reader.schema().to_owned();
    sql_read_your_writes(
        reader,
        writer,
        || sql_queries::PgBalances {
            schema: schema.clone(),
        },
        |account| sql_queries::PgBalance {
            account: account.into(),
        },
    )
    .await;
}
