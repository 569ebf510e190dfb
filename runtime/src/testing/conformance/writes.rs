//! Writing: envelopes, expectations, concurrent writers, idempotency keys, sizes and names.

use std::sync::Arc;

use crate::model::envelope::{Metadata, NewEvent};

use crate::store::{AppendOutcome, EventStore, ExpectedVersion, StoreError};

use uuid::Uuid;

use super::{append, events};
use crate::store::{Append, FilteredRead};

/// An appended event reads back with every envelope field intact.
pub async fn round_trip_with_metadata<S: EventStore>(store: S) {
    let metadata = Arc::new(Metadata {
        correlation_id: Some(Uuid::now_v7()),
        causation_id: Some(Uuid::now_v7()),
        actor: Some("alice \"admin\"".into()),
        tenant: Some("acme".into()),
        source: Some("tests".into()),
        headers: [("k".to_owned(), "v ü".to_owned())].into(),
    });
    let mut first = NewEvent::new("Opened", 3, b"{\"a\":1}".to_vec(), Arc::clone(&metadata));
    first.timestamp = crate::model::envelope::Timestamp::from_micros(1_700_000_000_000_001);
    let second = NewEvent::new("Closed", 1, b"{}".to_vec(), Arc::clone(&metadata));
    let ids = [first.event_id, second.event_id];
    let appended = append(
        &store,
        "rt-1",
        ExpectedVersion::NoStream,
        vec![first, second],
    )
    .await
    .unwrap();
    assert_eq!((appended.version, appended.count), (2, 2));
    assert_eq!(appended.first_version(), 1);
    let read = store.read_stream("rt-1", 1, 100).await.unwrap();
    assert_eq!(read.len(), 2);
    let e = &read[0];
    assert_eq!(e.event_id, ids[0]);
    assert_eq!(&*e.stream_id, "rt-1");
    assert_eq!(e.stream_version, 1);
    assert_eq!(&*e.event_type, "Opened");
    assert_eq!(e.schema_version, 3);
    assert_eq!(&*e.payload, b"{\"a\":1}");
    assert_eq!(*e.metadata, *metadata);
    assert_eq!(e.timestamp.as_micros(), 1_700_000_000_000_001);
    assert_eq!(read[1].event_id, ids[1]);
    assert_eq!(read[1].stream_version, 2);
    assert!(read[1].global_position > e.global_position);
    assert_eq!(Some(read[1].global_position), appended.position);
    assert_eq!(store.stream_version("rt-1").await.unwrap(), 2);
    assert_eq!(store.stream_version("absent").await.unwrap(), 0);
    assert!(store.read_stream("absent", 1, 10).await.unwrap().is_empty());
    let tail = store.read_stream("rt-1", 2, 10).await.unwrap();
    assert_eq!(tail.len(), 1);
    assert_eq!(tail[0].event_id, ids[1]);
}

/// Every kind of expectation is checked, and a failed append writes nothing.
pub async fn expected_version_conflicts<S: EventStore>(store: S) {
    let conflict = |r: Result<crate::store::Appended, StoreError>, actual_version: u64| match r {
        Err(StoreError::Conflict { stream, actual, .. }) => {
            assert_eq!(stream, "cv");
            assert_eq!(actual, actual_version);
        }
        other => panic!("expected a conflict, got {other:?}"),
    };
    conflict(
        append(&store, "cv", ExpectedVersion::StreamExists, events(1, "a")).await,
        0,
    );
    conflict(
        append(&store, "cv", ExpectedVersion::Exact(1), events(1, "a")).await,
        0,
    );
    append(&store, "cv", ExpectedVersion::Exact(0), events(2, "a"))
        .await
        .unwrap();
    conflict(
        append(&store, "cv", ExpectedVersion::NoStream, events(1, "b")).await,
        2,
    );
    conflict(
        append(&store, "cv", ExpectedVersion::Exact(1), events(3, "b")).await,
        2,
    );
    conflict(
        append(&store, "cv", ExpectedVersion::Exact(3), events(1, "b")).await,
        2,
    );
    append(&store, "cv", ExpectedVersion::Exact(2), events(1, "c"))
        .await
        .unwrap();
    append(&store, "cv", ExpectedVersion::StreamExists, events(1, "c"))
        .await
        .unwrap();
    append(&store, "cv", ExpectedVersion::Any, events(1, "c"))
        .await
        .unwrap();
    let read = store.read_stream("cv", 1, 100).await.unwrap();
    let versions: Vec<u64> = read.iter().map(|e| e.stream_version).collect();
    assert_eq!(versions, [1, 2, 3, 4, 5], "failed appends wrote nothing");
    assert!(
        read.iter()
            .all(|e| !String::from_utf8_lossy(&e.payload).contains("\"b\""))
    );
}

/// 16 writers race on one stream with exact expectations, retrying on conflict: every
/// acknowledged batch is there once, whole and in a contiguous run of versions.
pub async fn concurrent_writers_on_one_stream<S: EventStore>(store: S) {
    let mut tasks = Vec::new();
    for writer in 0..16 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for batch in 0..10 {
                let tag = format!("w{writer}b{batch}");
                loop {
                    let version = store.stream_version("hot").await.unwrap();
                    match append(
                        &store,
                        "hot",
                        ExpectedVersion::Exact(version),
                        events(3, &tag),
                    )
                    .await
                    {
                        Ok(a) => {
                            acknowledged.push((tag, a.first_version()));
                            break;
                        }
                        Err(StoreError::Conflict { .. }) => tokio::task::yield_now().await,
                        Err(e) => panic!("append failed: {e}"),
                    }
                }
            }
            acknowledged
        }));
    }
    let mut acknowledged = Vec::new();
    for task in tasks {
        acknowledged.extend(task.await.unwrap());
    }
    let read = store.read_stream("hot", 1, 10_000).await.unwrap();
    assert_eq!(read.len(), 16 * 10 * 3, "no lost or duplicated events");
    for (i, e) in read.iter().enumerate() {
        assert_eq!(e.stream_version, i as u64 + 1, "versions are contiguous");
    }
    assert!(
        read.windows(2)
            .all(|w| w[0].global_position < w[1].global_position)
    );
    for (tag, first) in acknowledged {
        for offset in 0..3 {
            let e = &read[(first - 1 + offset) as usize];
            let body = String::from_utf8_lossy(&e.payload).into_owned();
            assert!(
                body.contains(&format!("\"{tag}\"")) && body.contains(&format!("\"i\":{offset}")),
                "batch {tag} is whole and in order: {body}"
            );
        }
    }
}

/// A 1 MiB payload round-trips byte for byte.
pub async fn large_payloads<S: EventStore>(store: S) {
    let body: String = (0..(1 << 20))
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let payload = format!("\"{body}\"").into_bytes();
    let e = NewEvent::new("Big", 1, payload.clone(), Arc::default());
    append(&store, "big", ExpectedVersion::NoStream, vec![e])
        .await
        .unwrap();
    let read = store.read_stream("big", 1, 1).await.unwrap();
    assert_eq!(&*read[0].payload, &payload[..]);
}

/// Stream ids with quotes, SQL, unicode, control characters and 4 KiB of text are kept
/// verbatim and never confused with one another.
pub async fn hostile_stream_names<S: EventStore>(store: S) {
    let names = hostile_names();
    for (i, name) in names.iter().enumerate() {
        append(
            &store,
            name,
            ExpectedVersion::NoStream,
            events(i % 3 + 1, "h"),
        )
        .await
        .unwrap();
    }
    for (i, name) in names.iter().enumerate() {
        let read = store.read_stream(name, 1, 10).await.unwrap();
        assert_eq!(read.len(), i % 3 + 1, "stream {name:?}");
        assert!(read.iter().all(|e| &*e.stream_id == name.as_str()));
    }
}

/// A NUL byte cannot be kept in PostgreSQL's text or jsonb, so no backend keeps one where
/// PostgreSQL stores text: a stream id, an event name, an idempotency key, a metadata string,
/// a consumer name or a dead letter's fields with one is an invalid request that names the
/// field, on every backend alike (a log written on one moves to another), and nothing is
/// written. Payloads are bytes and keep theirs.
pub async fn nul_bytes_are_refused<S: EventStore>(store: S) {
    fn invalid<T: std::fmt::Debug>(result: Result<T, StoreError>, field: &str) {
        match result {
            Err(StoreError::Invalid(message)) => assert!(
                message.contains(field) && message.contains("NUL byte"),
                "the message names {field:?}: {message}"
            ),
            other => panic!("expected an invalid request naming {field:?}, got {other:?}"),
        }
    }
    let with = |metadata: Metadata| NewEvent::new("Tested", 1, b"{}".to_vec(), Arc::new(metadata));
    let plain = || with(Metadata::default());
    let append = |stream: &'static str, events: Vec<NewEvent>, key: Option<&'static str>| {
        store.append(Append::new(stream, ExpectedVersion::Any, events).with_idempotency_key(key))
    };

    invalid(
        append("nul\0stream", vec![plain()], None).await,
        "the stream id",
    );
    let mut named = plain();
    named.event_type = "Test\0ed".into();
    invalid(
        append("nul", vec![plain(), named], None).await,
        "the name of event 2",
    );
    for (metadata, field) in [
        (
            Metadata {
                actor: Some("al\0ice".into()),
                ..Metadata::default()
            },
            "the actor",
        ),
        (
            Metadata {
                tenant: Some("\0".into()),
                ..Metadata::default()
            },
            "the tenant",
        ),
        (
            Metadata {
                source: Some("tests\0".into()),
                ..Metadata::default()
            },
            "the source",
        ),
        (
            Metadata {
                headers: [("k\0".to_owned(), "v".to_owned())].into(),
                ..Metadata::default()
            },
            "the name of a header",
        ),
        (
            Metadata {
                headers: [("k".to_owned(), "v\0".to_owned())].into(),
                ..Metadata::default()
            },
            "the header \"k\"",
        ),
    ] {
        invalid(append("nul", vec![with(metadata)], None).await, field);
    }
    invalid(
        append("nul", vec![plain()], Some("key\0")).await,
        "the idempotency key",
    );
    invalid(
        append("nul", Vec::new(), Some("\0")).await,
        "the idempotency key",
    );
    assert_eq!(
        store.stream_version("nul").await.unwrap(),
        0,
        "nothing written"
    );
    assert_eq!(store.current_head().await.unwrap(), 0, "nothing written");

    // Asking about what cannot be stored is refused the same way.
    let stream = "nul\0stream";
    invalid(store.read_stream(stream, 1, 10).await, "the stream id");
    invalid(store.stream_version(stream).await, "the stream id");
    invalid(store.idempotency_record(stream, "k").await, "the stream id");
    invalid(
        store.idempotency_record("nul", "k\0").await,
        "the idempotency key",
    );
    invalid(store.load_snapshot(stream).await, "the stream id");
    let snapshot = crate::store::Snapshot {
        stream_version: 1,
        snapshot_version: 1,
        payload: Arc::from(&b"{}"[..]),
        taken_at: crate::model::envelope::Timestamp::from_micros(0),
    };
    invalid(store.save_snapshot(stream, snapshot).await, "the stream id");
    invalid(
        store
            .read_all_filtered(FilteredRead::new(1, &["Tested", "Test\0ed"], 10))
            .await,
        "an event name",
    );
    invalid(
        store.save_checkpoint("con\0sumer", 1).await,
        "the consumer name",
    );
    invalid(
        store.load_checkpoint("con\0sumer").await,
        "the consumer name",
    );
    invalid(store.dead_letters("con\0sumer").await, "the consumer name");
    invalid(store.release("con\0sumer", 1).await, "the consumer name");
    let letter = crate::store::DeadLetter {
        position: 1,
        stream_id: "acc-1".to_owned(),
        stream_version: 1,
        event_type: "Tested".to_owned(),
        reason: "boom".to_owned(),
        attempts: 1,
        parked_at: crate::model::envelope::Timestamp::from_micros(0),
    };
    invalid(
        store.park("con\0sumer", letter.clone()).await,
        "the consumer name",
    );
    for (letter, field) in [
        (
            crate::store::DeadLetter {
                stream_id: "acc\0".to_owned(),
                ..letter.clone()
            },
            "the stream id",
        ),
        (
            crate::store::DeadLetter {
                event_type: "\0".to_owned(),
                ..letter.clone()
            },
            "the event name",
        ),
        (
            crate::store::DeadLetter {
                reason: "bo\0om".to_owned(),
                ..letter.clone()
            },
            "the reason",
        ),
    ] {
        invalid(store.park("balances", letter).await, field);
    }
    assert!(store.dead_letters("balances").await.unwrap().is_empty());

    // A payload is bytes: NUL bytes in it round-trip.
    let payload = b"\0{\"a\":\"\\u0000\"}\0".to_vec();
    let e = NewEvent::new("Tested", 1, payload.clone(), Arc::default());
    append("nul", vec![e], None).await.unwrap();
    let read = store.read_stream("nul", 1, 10).await.unwrap();
    assert_eq!(&*read[0].payload, &payload[..]);
}

/// Stream names that break naive stores.
pub fn hostile_names() -> Vec<String> {
    vec![
        "it's".to_owned(),
        "\"quoted\"".to_owned(),
        "x'); DROP TABLE events; --".to_owned(),
        "Robert\\'); --".to_owned(),
        "ünïcødé-流-🚀".to_owned(),
        "tab\tnew\nline".to_owned(),
        "%_*?[".to_owned(),
        "a".repeat(4096),
        "é".repeat(2048),
    ]
}

/// A key is recorded with its append; a second append with the key writes nothing and answers
/// the first outcome, whatever its expectation.
pub async fn idempotency_keys<S: EventStore>(store: S) {
    let first = store
        .append(
            Append::new("idem", ExpectedVersion::NoStream, events(2, "a")).idempotency_key("k1"),
        )
        .await
        .unwrap();
    let AppendOutcome::Appended(appended) = first else {
        panic!("first append: {first:?}")
    };
    let again = store
        .append(
            Append::new("idem", ExpectedVersion::Exact(0), events(2, "b")).idempotency_key("k1"),
        )
        .await
        .unwrap();
    assert_eq!(again, AppendOutcome::Duplicate(appended));
    assert_eq!(
        store.idempotency_record("idem", "k1").await.unwrap(),
        Some(appended)
    );
    assert_eq!(store.idempotency_record("idem", "k2").await.unwrap(), None);
    assert_eq!(
        store.idempotency_record("other", "k1").await.unwrap(),
        None,
        "keys are per stream"
    );
    // A key with no events is recorded too.
    let empty = store
        .append(Append::new("idem", ExpectedVersion::Exact(2), Vec::new()).idempotency_key("k3"))
        .await
        .unwrap();
    assert_eq!(
        empty,
        AppendOutcome::Appended(crate::store::Appended {
            version: 2,
            count: 0,
            position: None
        })
    );
    assert_eq!(
        store
            .idempotency_record("idem", "k3")
            .await
            .unwrap()
            .map(|a| a.count),
        Some(0)
    );
    assert_eq!(store.stream_version("idem").await.unwrap(), 2);
}
