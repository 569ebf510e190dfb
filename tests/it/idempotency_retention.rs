//! Idempotency records are kept for a retention, then pruned, on every backend: a record
//! made before the cut is gone and a retry of its key is a new command, while a fresh one
//! still replays. Times are set by the cut given to `prune_idempotency`, and by retentions of
//! a fraction of a second for the stores' own pruning: no test waits for seconds.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use eventsmith::event::{NewEvent, Timestamp};
use eventsmith::store::{
    Append, AppendOutcome, Appended, EventLog, ExpectedVersion, PgOptions, SqliteOptions,
};
use eventsmith::{AnyStore, App, EventStore, InMemoryStore, SqliteStore};
use eventsmith_test_bank::*;

use crate::services;

fn event() -> Vec<NewEvent> {
    vec![NewEvent::new("Tested", 1, b"{}".to_vec(), Arc::default())]
}

async fn append_keyed<S: EventStore>(store: &S, stream: &str, key: &str) -> AppendOutcome {
    store
        .append(Append::new(stream, ExpectedVersion::Any, event()).idempotency_key(key))
        .await
        .unwrap()
}

fn written(outcome: AppendOutcome) -> Appended {
    match outcome {
        AppendOutcome::Appended(a) => a,
        AppendOutcome::Duplicate(a) => panic!("expected a new append, got a replay of {a:?}"),
    }
}

/// A moment that lies strictly between what was recorded before and what is recorded after.
async fn a_cut() -> Timestamp {
    tokio::time::sleep(Duration::from_millis(2)).await;
    let cut = Timestamp::now();
    tokio::time::sleep(Duration::from_millis(2)).await;
    cut
}

/// A record kept from before a migration that added its date is dated to the migration: a
/// cut before the migration leaves it (it still answers its key), one after prunes it.
async fn dated_to_the_migration<S: EventStore>(
    store: &S,
    first: Appended,
    before_migration: Timestamp,
    after_migration: Timestamp,
) {
    assert_eq!(store.prune_idempotency(before_migration).await.unwrap(), 0);
    assert_eq!(
        append_keyed(store, "s", "k").await,
        AppendOutcome::Duplicate(first)
    );
    assert_eq!(store.prune_idempotency(after_migration).await.unwrap(), 1);
}

/// A record made before the cut is pruned and its key appends anew; one made after it stays
/// and replays; pruning again at the same cut removes nothing.
async fn pruning_forgets_records_made_before_the_cut<S: EventStore>(store: S) {
    let old = written(append_keyed(&store, "s", "k-old").await);
    let cut = a_cut().await;
    let fresh = written(append_keyed(&store, "s", "k-fresh").await);
    assert_eq!(store.prune_idempotency(cut).await.unwrap(), 1);
    assert_eq!(store.idempotency_record("s", "k-old").await.unwrap(), None);
    assert_eq!(
        store.idempotency_record("s", "k-fresh").await.unwrap(),
        Some(fresh)
    );
    // The retry of the pruned key is a new command: it appends again.
    let again = written(append_keyed(&store, "s", "k-old").await);
    assert_eq!((old.version, fresh.version, again.version), (1, 2, 3));
    assert_eq!(
        append_keyed(&store, "s", "k-fresh").await,
        AppendOutcome::Duplicate(fresh)
    );
    assert_eq!(store.prune_idempotency(cut).await.unwrap(), 0);
    assert_eq!(store.stream_version("s").await.unwrap(), 3);
}

/// Through an `App`: a deposit whose record was pruned is decided and applied again; one
/// whose record is fresh replays.
async fn an_app_applies_a_pruned_retry_again<S: EventStore>(store: S) {
    let app = App::new(store.clone()).unwrap();
    app.execute(open("a")).await.unwrap();
    let keyed = |key: &str| Deposit {
        request_id: Some(key.to_owned()),
        ..deposit("a", 10)
    };
    assert!(!app.execute(keyed("r-old")).await.unwrap().replayed);
    let cut = a_cut().await;
    assert!(!app.execute(keyed("r-fresh")).await.unwrap().replayed);
    assert_eq!(store.prune_idempotency(cut).await.unwrap(), 1);
    assert!(app.execute(keyed("r-fresh")).await.unwrap().replayed);
    let retried = app.execute(keyed("r-old")).await.unwrap();
    assert!(
        !retried.replayed,
        "after its record is gone, a retry is a new command"
    );
    let (account, _) = app.load::<BankAccount>("a").await.unwrap();
    assert_eq!(account.balance, 30);
}

/// A store with a retention of `retention` prunes on its own, after an append with a key:
/// a record older than the retention goes (`pruned`), unless the retention is `None`.
async fn the_store_prunes_on_its_own<S, F, Fut>(make: F)
where
    S: EventStore,
    F: Fn(Option<Duration>) -> Fut,
    Fut: Future<Output = S>,
{
    for retention in [Some(Duration::from_millis(100)), None] {
        let store = make(retention).await;
        let old = written(append_keyed(&store, "s", "k-old").await);
        tokio::time::sleep(Duration::from_millis(150)).await;
        let fresh = written(append_keyed(&store, "s", "k-fresh").await);
        // The prune runs after the append, in the background on PostgreSQL; without a
        // retention there is none to wait for.
        let patience = match retention {
            Some(_) => Duration::from_secs(10),
            None => Duration::from_millis(200),
        };
        let gone = tokio::time::timeout(patience, async {
            loop {
                if store
                    .idempotency_record("s", "k-old")
                    .await
                    .unwrap()
                    .is_none()
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        match retention {
            Some(_) => {
                assert!(
                    gone.is_ok(),
                    "the record older than the retention is pruned"
                );
                let again = written(append_keyed(&store, "s", "k-old").await);
                assert_eq!(again.version, 3, "its retry is a new command");
            }
            None => {
                assert!(gone.is_err(), "without a retention nothing is pruned");
                assert_eq!(
                    append_keyed(&store, "s", "k-old").await,
                    AppendOutcome::Duplicate(old)
                );
            }
        }
        assert_eq!(
            append_keyed(&store, "s", "k-fresh").await,
            AppendOutcome::Duplicate(fresh),
            "{retention:?}: the fresh record replays"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory() {
    pruning_forgets_records_made_before_the_cut(InMemoryStore::new()).await;
    an_app_applies_a_pruned_retry_again(InMemoryStore::new()).await;
    the_store_prunes_on_its_own(|retention| async move {
        InMemoryStore::with_idempotency_retention(retention)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let n = std::sync::atomic::AtomicUsize::new(0);
    let path = || {
        let i = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        dir.path().join(format!("events-{i}.db"))
    };
    pruning_forgets_records_made_before_the_cut(SqliteStore::open(path()).unwrap()).await;
    an_app_applies_a_pruned_retry_again(SqliteStore::open(path()).unwrap()).await;
    the_store_prunes_on_its_own(|retention| {
        let options = SqliteOptions::default().idempotency_retention(retention);
        let store = SqliteStore::open_with(path(), options).unwrap();
        async move { store }
    })
    .await;
    // Through `AnyStore`, with the retention in the URL.
    let url = format!("sqlite://{}?idempotency_retention=100ms", path().display());
    let any = AnyStore::open(&url).await.unwrap();
    let old = written(append_keyed(&any, "s", "k").await);
    tokio::time::sleep(Duration::from_millis(150)).await;
    written(append_keyed(&any, "t", "k").await);
    assert_eq!(any.idempotency_record("s", "k").await.unwrap(), None);
    assert_ne!(written(append_keyed(&any, "s", "k").await), old);
}

/// A file from before records were dated: its records are dated to the migration, so
/// they are kept for a whole retention from then.
#[tokio::test]
async fn sqlite_records_from_before_the_migration_are_dated_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let store = SqliteStore::open(&path).unwrap();
    let first = written(append_keyed(&store, "s", "k").await);
    drop(store);
    // Back to what a build of schema version 3 left: records without a date, and none of
    // the saga tables of version 5 or the inbox of version 6.
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute_batch(
        "DROP INDEX idempotency_by_age;
         ALTER TABLE idempotency DROP COLUMN recorded_at;
         DROP TABLE saga_positions; DROP TABLE saga_instances; DROP TABLE saga_keys;
         DROP TABLE saga_commands; DROP TABLE saga_deadlines; DROP TABLE inbox;
         PRAGMA user_version = 3;",
    )
    .unwrap();
    drop(raw);
    let before_migration = a_cut().await;
    let store = SqliteStore::open(&path).unwrap();
    let after_migration = a_cut().await;
    dated_to_the_migration(&store, first, before_migration, after_migration).await;
    assert_eq!(store.idempotency_record("s", "k").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    let Some(probe) = services::pg_store("retention_probe").await else {
        return;
    };
    probe.drop_schema().await.unwrap();
    let connect = |retention: Option<Duration>| async move {
        let options = PgOptions::default()
            .schema(services::unique_schema("retention"))
            .pool_size(3)
            .idempotency_retention(retention);
        services::pg_store_with("retention", options)
            .await
            .expect("reachable a moment ago")
    };
    let stores = std::sync::Mutex::new(Vec::new());
    let make = |retention| {
        let store = connect(retention);
        let stores = &stores;
        async move {
            let store = store.await;
            stores.lock().unwrap().push(store.clone());
            store
        }
    };
    let default = Some(eventsmith::store::DEFAULT_IDEMPOTENCY_RETENTION);
    pruning_forgets_records_made_before_the_cut(make(default).await).await;
    an_app_applies_a_pruned_retry_again(make(default).await).await;
    the_store_prunes_on_its_own(make).await;
    // A schema from before records were dated: its records are dated to the migration.
    let store = make(default).await;
    let first = written(append_keyed(&store, "s", "k").await);
    let schema = store.schema().to_owned();
    services::raw_client()
        .await
        .batch_execute(&format!(
            "DROP INDEX \"{schema}\".idempotency_by_age;
             ALTER TABLE \"{schema}\".idempotency DROP COLUMN recorded_at;
             DROP TABLE \"{schema}\".saga_positions, \"{schema}\".saga_instances,
                 \"{schema}\".saga_keys, \"{schema}\".saga_commands, \"{schema}\".saga_deadlines,
                 \"{schema}\".inbox;
             UPDATE \"{schema}\".schema_version SET version = 4;"
        ))
        .await
        .unwrap();
    drop(store);
    let before_migration = a_cut().await;
    let options = PgOptions::default().schema(schema).pool_size(3);
    let store = services::pg_store_with("retention", options).await.unwrap();
    let after_migration = a_cut().await;
    dated_to_the_migration(&store, first, before_migration, after_migration).await;
    for store in stores.into_inner().unwrap() {
        store.drop_schema().await.unwrap();
    }
}
