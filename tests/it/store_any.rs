//! `AnyStore`: each backend opened by URL, appended to and read back through it; the
//! conformance suite (sagas included) through it on memory and on a SQLite file; URLs that name no store, or
//! settings the store does not know, are typed errors.

use std::sync::Arc;

use eventsmith::event::NewEvent;
use eventsmith::store::{Append, AppendOutcome, EventLog, ExpectedVersion};
use eventsmith::testing::conformance;
use eventsmith::{AnyStore, SqliteStore, StoreError};

use crate::services;

/// `url` with one more query parameter.
fn with_param(url: &str, param: &str) -> String {
    let joint = if url.contains('?') { '&' } else { '?' };
    format!("{url}{joint}{param}")
}

fn invalid(result: Result<AnyStore, StoreError>) -> String {
    match result {
        Err(StoreError::Invalid(message)) => message,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

/// Appends two events with a key to `stream` and reads them back, through the `AnyStore`.
async fn append_and_read_back(store: &AnyStore, stream: &str) {
    let events = (0..2)
        .map(|i| {
            NewEvent::new(
                "Pinged",
                1,
                format!("{{\"i\":{i}}}").into_bytes(),
                Arc::default(),
            )
        })
        .collect();
    let written = store
        .append(Append::new(stream, ExpectedVersion::NoStream, events).idempotency_key("k-1"))
        .await
        .unwrap();
    let AppendOutcome::Appended(written) = written else {
        panic!("a first append with its key is written: {written:?}")
    };
    assert_eq!((written.version, written.count), (2, 2));
    let read = store.read_stream(stream, 1, 10).await.unwrap();
    assert_eq!(read.len(), 2);
    assert_eq!(&*read[1].payload, b"{\"i\":1}");
    assert_eq!(store.stream_version(stream).await.unwrap(), 2);
    let again = store
        .append(Append::new(stream, ExpectedVersion::NoStream, Vec::new()).idempotency_key("k-1"))
        .await
        .unwrap();
    assert_eq!(again, AppendOutcome::Duplicate(written));
    let last = written.position.unwrap();
    let head = conformance::wait_for_head(store, last).await;
    let page = store.read_all(1, 100).await.unwrap();
    assert!(page.scanned_to >= head.min(last));
    assert!(page.events.iter().any(|e| e.global_position == last));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_by_url_passes_the_conformance_suite() {
    conformance::run_all(|| async {
        let store = AnyStore::open("memory:").await.unwrap();
        assert_eq!(store.backend(), "memory");
        store
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_by_url_passes_the_conformance_suite() {
    let dirs = std::sync::Mutex::new(Vec::new());
    conformance::run_all(|| {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("events.db").display());
        dirs.lock().unwrap().push(dir);
        async move {
            let store = AnyStore::open(&url).await.unwrap();
            assert_eq!(store.backend(), "sqlite");
            store
        }
    })
    .await;
}

/// The saga capability through `AnyStore`: its conformance checks on memory and on a SQLite
/// file, both opened by URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sagas_by_url_pass_the_saga_conformance_checks() {
    conformance::run_sagas(|| async { AnyStore::open("memory:").await.unwrap() }).await;
    let dirs = std::sync::Mutex::new(Vec::new());
    conformance::run_sagas(|| {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("sagas.db").display());
        dirs.lock().unwrap().push(dir);
        async move { AnyStore::open(&url).await.unwrap() }
    })
    .await;
}

#[tokio::test]
async fn memory_by_url() {
    for url in ["memory:", "memory://", "Memory:"] {
        let store = AnyStore::open(url).await.unwrap();
        assert!(matches!(store, AnyStore::Memory(_)), "{url}");
        append_and_read_back(&store, "ping-1").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_by_url_in_both_forms_and_with_settings() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    // `sqlite://` + an absolute path, with settings.
    let url = format!("sqlite://{}?readers=1&durability=normal", path.display());
    let store = AnyStore::open(&url).await.unwrap();
    append_and_read_back(&store, "ping-1").await;
    let AnyStore::Sqlite(sqlite) = &store else {
        panic!("a sqlite URL opens a SQLite store: {store:?}")
    };
    assert_eq!(sqlite.path(), path);
    assert_eq!(sqlite.read_connections(), 1, "readers=1 was applied");
    drop(store);
    // `sqlite:` + a path, percent-encoded: the same file.
    let encoded = path.display().to_string().replace('.', "%2E");
    let store = AnyStore::open(&format!("sqlite:{encoded}")).await.unwrap();
    assert_eq!(store.stream_version("ping-1").await.unwrap(), 2);
    append_and_read_back(&store, "ping-2").await;
    drop(store);
    // And the file is an ordinary store file.
    let direct = SqliteStore::open(&path).unwrap();
    assert_eq!(direct.read_all(1, 10).await.unwrap().events.len(), 4);
}

#[tokio::test]
async fn sqlite_settings_that_the_store_does_not_know_are_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let base = format!("sqlite://{}", dir.path().join("e.db").display());
    let unknown = invalid(AnyStore::open(&with_param(&base, "colour=blue")).await);
    assert!(
        unknown.contains("`colour`") && unknown.contains("`readers`"),
        "{unknown}"
    );
    let not_a_number = invalid(AnyStore::open(&with_param(&base, "readers=many")).await);
    assert!(
        not_a_number.contains("`readers` is `many`"),
        "{not_a_number}"
    );
    let durability = invalid(AnyStore::open(&with_param(&base, "durability=eventual")).await);
    assert!(durability.contains("`full` or `normal`"), "{durability}");
    let memory = invalid(AnyStore::open("sqlite::memory:").await);
    assert!(memory.contains("use `memory:`"), "{memory}");
    assert!(!dir.path().join("e.db").exists(), "nothing was opened");
}

#[tokio::test]
async fn urls_that_name_no_store_are_invalid_and_keep_their_secrets() {
    let unknown = invalid(AnyStore::open("mysql://root:hunter2@127.0.0.1/app").await);
    assert!(
        unknown.contains("unknown store URL scheme `mysql`"),
        "{unknown}"
    );
    assert!(!unknown.contains("hunter2"), "{unknown}");
    let none = invalid(AnyStore::open("/var/lib/app/events.db").await);
    assert!(none.contains("no scheme"), "{none}");
    let invalid_pg = AnyStore::open("postgres://u:hunter2@127.0.0.1/db?sslmode=sometimes").await;
    let message = invalid(invalid_pg);
    assert!(message.contains("invalid PostgreSQL URL"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_by_url_with_schema_prefix_and_pool_size() {
    let Some(probe) = services::pg_store("any_probe").await else {
        return;
    };
    probe.drop_schema().await.unwrap();
    let base = services::pg_url();
    let spellings = [
        base.clone(),
        base.replacen("postgres://", "postgresql://", 1),
    ];
    for url in spellings {
        let schema = services::unique_schema("any");
        let url = with_param(
            &url,
            &format!("schema={schema}&table_prefix=t_&pool_size=3"),
        );
        let store = AnyStore::open(&url).await.unwrap();
        assert_eq!(store.backend(), "postgres");
        append_and_read_back(&store, "ping-1").await;
        let AnyStore::Postgres(pg) = &store else {
            panic!("a postgres URL opens a PostgreSQL store: {store:?}")
        };
        assert_eq!(pg.schema(), schema);
        // The prefix was applied: the tables are `t_events`, … in the schema.
        let client = services::raw_client().await;
        let tables: i64 = client
            .query_one(
                "SELECT count(*) FROM information_schema.tables
                 WHERE table_schema = $1 AND table_name = 't_events'",
                &[&schema],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(tables, 1);
        pg.drop_schema().await.unwrap();
    }
    let bad = with_param(&base, "pool_size=lots");
    let message = invalid(AnyStore::open(&bad).await);
    assert!(message.contains("`pool_size` is `lots`"), "{message}");
}
