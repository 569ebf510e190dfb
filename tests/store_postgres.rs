//! The conformance suite on PostgreSQL, plus what only PostgreSQL can show: events whose
//! transactions commit out of position order are never skipped by a follower, and damaged
//! rows are typed errors.

mod conformance;
mod services;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use eventsmith::{EventStore, ExpectedVersion, NewEvent, PgStore, StoreError};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_store_passes_the_conformance_suite() {
    let Some(probe) = services::pg_store("conformance").await else {
        return;
    };
    probe.drop_schema().await.unwrap();
    let stores = std::sync::Mutex::new(Vec::new());
    conformance::run_all(|| async {
        let store = services::pg_store("conformance")
            .await
            .expect("reachable a moment ago");
        stores.lock().unwrap().push(store.clone());
        store
    })
    .await;
    for store in stores.into_inner().unwrap() {
        store.drop_schema().await.unwrap();
    }
}

/// A transaction that takes a position and then waits before committing: a follower must not
/// pass its position while later positions are already committed and readable.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_late_commit_is_never_skipped_by_a_follower() {
    let Some(store) = services::pg_store("late_commit").await else {
        return;
    };
    let schema = store_schema(&store).await;
    let url = services::pg_url();
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let mut subscription = store.subscribe(1);
    // A raw transaction in the same way appends take positions, left open.
    client.batch_execute("BEGIN").await.unwrap();
    client
        .batch_execute(&format!(
            "SELECT pg_advisory_lock(hashtextextended('\"{schema}\".\"events\"', 1));
             INSERT INTO \"{schema}\".events (stream_id, stream_version, event_id, event_type, schema_version, recorded_at, payload)
             VALUES ('slow', 1, gen_random_uuid(), 'Slow', 1, 0, '\\x7b7d');
             SELECT pg_advisory_unlock(hashtextextended('\"{schema}\".\"events\"', 1));"
        ))
        .await
        .unwrap();
    // Later appends commit first.
    for i in 0..5u64 {
        let e = NewEvent::new("Fast", 1, b"{}".to_vec(), Arc::default());
        store
            .append("fast", ExpectedVersion::Exact(i), vec![e], None)
            .await
            .unwrap();
    }
    // The follower sees nothing yet: the open transaction holds everything after it back.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), subscription.next())
            .await
            .is_err()
    );
    assert!(store.read_all(1, 100).await.unwrap().is_empty());
    client.batch_execute("COMMIT").await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 6 {
        let e = tokio::time::timeout(Duration::from_secs(10), subscription.next())
            .await
            .unwrap()
            .unwrap();
        seen.push(e);
    }
    assert_eq!(
        &*seen[0].stream_id, "slow",
        "the late commit comes first, by position"
    );
    assert!(
        seen.windows(2)
            .all(|w| w[0].global_position < w[1].global_position)
    );
    let ids: HashSet<_> = seen.iter().map(|e| e.event_id).collect();
    assert_eq!(ids.len(), 6);
    store.drop_schema().await.unwrap();
}

#[tokio::test]
async fn a_damaged_row_is_a_typed_error_naming_stream_and_version() {
    let Some(store) = services::pg_store("damaged").await else {
        return;
    };
    let schema = store_schema(&store).await;
    let events = (0..3)
        .map(|i| conformance::event("Tested", &format!("{{\"i\":{i}}}")))
        .collect();
    store
        .append("dmg", ExpectedVersion::NoStream, events, None)
        .await
        .unwrap();
    let (client, connection) = tokio_postgres::connect(&services::pg_url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .batch_execute(&format!(
            "UPDATE \"{schema}\".events SET metadata = '{{\"headers\": 5}}' WHERE stream_version = 2"
        ))
        .await
        .unwrap();
    let err = store.read_stream("dmg", 1, 10).await.unwrap_err();
    match &err {
        StoreError::Corrupt {
            stream,
            version,
            reason,
        } => {
            assert_eq!((stream.as_str(), *version), ("dmg", 2));
            assert!(reason.contains("metadata"), "{reason}");
        }
        other => panic!("expected a corrupt-row error, got {other:?}"),
    }
    client
        .batch_execute(&format!("UPDATE \"{schema}\".events SET metadata = NULL, schema_version = -4 WHERE stream_version = 2"))
        .await
        .unwrap();
    // `read_all` holds back while any transaction in the cluster is older than the rows (a
    // test running beside this one may hold one open): wait for the horizon to pass.
    let err = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match store.read_all(1, 10).await {
                Err(e) => return e,
                Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    })
    .await
    .expect("the damaged row becomes visible");
    assert!(err.to_string().contains("`dmg` at version 2"), "{err}");
    store.drop_schema().await.unwrap();
}

#[tokio::test]
async fn schema_and_table_prefix_are_configurable_and_isolated() {
    let schema = services::unique_schema("prefix");
    let options = |prefix: &str| {
        eventsmith::PgOptions::default()
            .schema(schema.clone())
            .table_prefix(prefix)
    };
    let Some(a) = services::pg_store_with("prefix", options("a_")).await else {
        return;
    };
    let b = services::pg_store_with("prefix", options("b_"))
        .await
        .unwrap();
    let e = || vec![conformance::event("X", "{}")];
    a.append("s", ExpectedVersion::NoStream, e(), None)
        .await
        .unwrap();
    b.append("s", ExpectedVersion::NoStream, e(), None)
        .await
        .unwrap();
    b.append("s", ExpectedVersion::Exact(1), e(), None)
        .await
        .unwrap();
    assert_eq!(a.stream_version("s").await.unwrap(), 1);
    assert_eq!(b.stream_version("s").await.unwrap(), 2);
    a.drop_schema().await.unwrap();
}

async fn store_schema(store: &PgStore) -> String {
    store.schema().to_owned()
}
