//! The `EventStore` conformance suite: one generic set of checks that every backend must
//! pass unchanged. A backend's test file calls [`run_all`] (or the single checks) with a
//! factory that makes a fresh, empty store.

#![allow(
    dead_code,
    reason = "each backend's test binary uses the checks it runs"
)]

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use eventsmith::{
    AppendOutcome, EventStore, ExpectedVersion, Metadata, NewEvent, RecordedEvent, StoreError, Uuid,
};

/// Events of test payload `body` under name `name`.
pub(crate) fn event(name: &str, body: &str) -> NewEvent {
    NewEvent::new(name.to_owned(), 1, body.as_bytes().to_vec(), Arc::default())
}

fn events(n: usize, tag: &str) -> Vec<NewEvent> {
    (0..n)
        .map(|i| event("Tested", &format!("{{\"tag\":\"{tag}\",\"i\":{i}}}")))
        .collect()
}

async fn append<S: EventStore>(
    store: &S,
    stream: &str,
    expected: ExpectedVersion,
    events: Vec<NewEvent>,
) -> Result<eventsmith::Appended, StoreError> {
    match store.append(stream, expected, events, None).await? {
        AppendOutcome::Appended(a) => Ok(a),
        AppendOutcome::Duplicate(a) => {
            panic!("no key was given, yet the store answered Duplicate({a:?})")
        }
    }
}

/// Runs every check, each on a fresh store.
pub(crate) async fn run_all<S, F, Fut>(make: F)
where
    S: EventStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    round_trip_with_metadata(make().await).await;
    expected_version_conflicts(make().await).await;
    concurrent_writers_on_one_stream(make().await).await;
    concurrent_writers_with_global_reader(make().await).await;
    read_all_pagination(make().await).await;
    subscription_catch_up_then_live(make().await).await;
    large_payloads(make().await).await;
    hostile_stream_names(make().await).await;
    idempotency_keys(make().await).await;
    snapshots(make().await).await;
    checkpoints(make().await).await;
    filtered_reads(make().await).await;
    dead_letters(make().await).await;
}

/// An appended event reads back with every envelope field intact.
pub(crate) async fn round_trip_with_metadata<S: EventStore>(store: S) {
    let metadata = Arc::new(Metadata {
        correlation_id: Some(Uuid::now_v7()),
        causation_id: Some(Uuid::now_v7()),
        actor: Some("alice \"admin\"".into()),
        tenant: Some("acme".into()),
        source: Some("tests".into()),
        headers: [("k".to_owned(), "v ü".to_owned())].into(),
    });
    let mut first = NewEvent::new("Opened", 3, b"{\"a\":1}".to_vec(), Arc::clone(&metadata));
    first.timestamp = eventsmith::Timestamp::from_micros(1_700_000_000_000_001);
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
pub(crate) async fn expected_version_conflicts<S: EventStore>(store: S) {
    let conflict = |r: Result<eventsmith::Appended, StoreError>, actual_version: u64| match r {
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
pub(crate) async fn concurrent_writers_on_one_stream<S: EventStore>(store: S) {
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

/// 16 writers on distinct streams while a subscriber follows the global order: it sees every
/// event exactly once, positions strictly increasing.
pub(crate) async fn concurrent_writers_with_global_reader<S: EventStore>(store: S) {
    const WRITERS: usize = 16;
    const BATCHES: usize = 20;
    let total = WRITERS * BATCHES * 2;
    let mut subscription = store.subscribe(1);
    let reader = tokio::spawn(async move {
        let mut seen = Vec::with_capacity(total);
        while seen.len() < total {
            let e = tokio::time::timeout(Duration::from_secs(30), subscription.next())
                .await
                .expect("the subscriber kept up")
                .unwrap();
            seen.push(e);
        }
        seen
    });
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            for b in 0..BATCHES {
                append(
                    &store,
                    &format!("s-{w}"),
                    ExpectedVersion::Exact(b as u64 * 2),
                    events(2, "x"),
                )
                .await
                .unwrap();
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    let seen: Vec<RecordedEvent> = reader.await.unwrap();
    assert!(
        seen.windows(2)
            .all(|w| w[0].global_position < w[1].global_position),
        "strictly increasing"
    );
    let ids: HashSet<Uuid> = seen.iter().map(|e| e.event_id).collect();
    assert_eq!(ids.len(), total, "nothing seen twice");
    let all = store.read_all(1, total + 10).await.unwrap();
    assert_eq!(all.len(), total, "nothing extra stored");
    assert!(
        all.iter().all(|e| ids.contains(&e.event_id)),
        "nothing skipped"
    );
}

/// Reading the global log page by page returns each event once, in order.
pub(crate) async fn read_all_pagination<S: EventStore>(store: S) {
    for s in 0..7 {
        append(
            &store,
            &format!("p-{s}"),
            ExpectedVersion::NoStream,
            events(13, "p"),
        )
        .await
        .unwrap();
    }
    let mut from = 1;
    let mut pages = Vec::new();
    loop {
        let page = store.read_all(from, 10).await.unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 10);
        from = page.last().unwrap().global_position + 1;
        pages.extend(page);
    }
    assert_eq!(pages.len(), 91);
    assert!(
        pages
            .windows(2)
            .all(|w| w[0].global_position < w[1].global_position)
    );
    assert_eq!(pages, store.read_all(1, 1000).await.unwrap());
    let mid = pages[40].global_position;
    assert_eq!(store.read_all(mid, 5).await.unwrap(), pages[40..45]);
}

/// A subscription reads what is stored, then what arrives, with no gap and no duplicate at
/// the hand-over.
pub(crate) async fn subscription_catch_up_then_live<S: EventStore>(store: S) {
    append(&store, "sub", ExpectedVersion::NoStream, events(600, "old"))
        .await
        .unwrap();
    let mut subscription = store.subscribe(1);
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for i in 0..50u64 {
                append(
                    &store,
                    "sub",
                    ExpectedVersion::Exact(600 + i),
                    events(1, "new"),
                )
                .await
                .unwrap();
                if i % 10 == 0 {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
        })
    };
    let mut versions = Vec::new();
    let mut positions = Vec::new();
    while versions.len() < 650 {
        let e = tokio::time::timeout(Duration::from_secs(30), subscription.next())
            .await
            .expect("live events arrive")
            .unwrap();
        versions.push(e.stream_version);
        positions.push(e.global_position);
    }
    writer.await.unwrap();
    assert_eq!(versions, (1..=650).collect::<Vec<_>>());
    // Nothing more arrives.
    assert!(
        tokio::time::timeout(Duration::from_millis(50), subscription.next())
            .await
            .is_err()
    );
    // A subscription from the middle starts there (positions may have gaps).
    let mut later = store.subscribe(positions[648]);
    let first = later.next().await.unwrap();
    assert_eq!(first.stream_version, 649);
}

/// A 1 MiB payload round-trips byte for byte.
pub(crate) async fn large_payloads<S: EventStore>(store: S) {
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
pub(crate) async fn hostile_stream_names<S: EventStore>(store: S) {
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

/// Stream names that break naive stores.
pub(crate) fn hostile_names() -> Vec<String> {
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
pub(crate) async fn idempotency_keys<S: EventStore>(store: S) {
    let first = store
        .append(
            "idem",
            ExpectedVersion::NoStream,
            events(2, "a"),
            Some("k1"),
        )
        .await
        .unwrap();
    let AppendOutcome::Appended(appended) = first else {
        panic!("first append: {first:?}")
    };
    let again = store
        .append(
            "idem",
            ExpectedVersion::Exact(0),
            events(2, "b"),
            Some("k1"),
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
        .append("idem", ExpectedVersion::Exact(2), Vec::new(), Some("k3"))
        .await
        .unwrap();
    assert_eq!(
        empty,
        AppendOutcome::Appended(eventsmith::Appended {
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

/// A snapshot is kept per stream; a newer one replaces it, an older one does not.
pub(crate) async fn snapshots<S: EventStore>(store: S) {
    use eventsmith::{Snapshot, Timestamp};
    let snap = |version: u64, body: &str| Snapshot {
        stream_version: version,
        snapshot_version: 3,
        payload: Arc::from(body.as_bytes()),
        taken_at: Timestamp::from_micros(1_700_000_000_000_000 + version as i64),
    };
    assert_eq!(store.load_snapshot("snap").await.unwrap(), None);
    store.save_snapshot("snap", snap(10, "ten")).await.unwrap();
    assert_eq!(
        store.load_snapshot("snap").await.unwrap(),
        Some(snap(10, "ten"))
    );
    store
        .save_snapshot("snap", snap(20, "twenty"))
        .await
        .unwrap();
    store
        .save_snapshot("snap", snap(15, "stale"))
        .await
        .unwrap();
    assert_eq!(
        store.load_snapshot("snap").await.unwrap(),
        Some(snap(20, "twenty"))
    );
    let hostile = "x'); DROP TABLE snapshots; --";
    store.save_snapshot(hostile, snap(1, "h")).await.unwrap();
    assert_eq!(
        store.load_snapshot(hostile).await.unwrap(),
        Some(snap(1, "h"))
    );
    assert_eq!(store.load_snapshot("other").await.unwrap(), None);
}

/// A checkpoint is kept per consumer name, replaced on save, reset by saving 0, and names are
/// stored verbatim.
pub(crate) async fn checkpoints<S: EventStore>(store: S) {
    let hostile = "bal'ances\"; DROP TABLE checkpoints; --ü";
    assert_eq!(store.load_checkpoint("balances").await.unwrap(), None);
    store.save_checkpoint("balances", 41).await.unwrap();
    store.save_checkpoint(hostile, 7).await.unwrap();
    store.save_checkpoint("balances", 42).await.unwrap();
    assert_eq!(store.load_checkpoint("balances").await.unwrap(), Some(42));
    assert_eq!(store.load_checkpoint(hostile).await.unwrap(), Some(7));
    store.save_checkpoint("balances", 0).await.unwrap();
    assert_eq!(store.load_checkpoint("balances").await.unwrap(), Some(0));
    assert_eq!(store.load_checkpoint("other").await.unwrap(), None);
}

/// A filtered read returns only the named events, in order, and says how far it scanned: up
/// to the last match of a full page, else to the head, past events of other names.
pub(crate) async fn filtered_reads<S: EventStore>(store: S) {
    let hostile = "Odd'Name\"; DROP TABLE events; --ü";
    // The positions of the seven events (stores may leave gaps between them).
    let mut p = vec![0];
    for (stream, name) in [
        ("f-1", "Opened"),
        ("f-2", "Noise"),
        ("f-1", hostile),
        ("f-3", "Opened"),
        ("f-2", "Noise"),
        ("f-3", "Closed"),
        ("f-2", "Noise"),
    ] {
        let appended = append(
            &store,
            stream,
            ExpectedVersion::Any,
            vec![event(name, "{}")],
        )
        .await
        .unwrap();
        p.push(appended.position.unwrap());
    }
    let wanted = ["Opened", hostile, "Closed"];
    let names = |read: &eventsmith::FilteredRead| -> Vec<(u64, String)> {
        read.events
            .iter()
            .map(|e| (e.global_position, e.event_type.to_string()))
            .collect()
    };

    let page = store.read_all_filtered(1, &wanted, 2).await.unwrap();
    assert_eq!(
        names(&page),
        [(p[1], "Opened".to_owned()), (p[3], hostile.to_owned())]
    );
    assert_eq!(
        page.scanned_to, p[3],
        "a full page claims only up to its last match"
    );

    let rest = store
        .read_all_filtered(p[3] + 1, &wanted, 10)
        .await
        .unwrap();
    assert_eq!(
        names(&rest),
        [(p[4], "Opened".to_owned()), (p[6], "Closed".to_owned())]
    );
    assert_eq!(rest.scanned_to, p[7], "a short page scanned to the head");

    let none = store.read_all_filtered(1, &["Missing"], 10).await.unwrap();
    assert!(none.events.is_empty());
    assert_eq!(
        none.scanned_to, p[7],
        "nothing matched, yet all was scanned"
    );
    let nothing_asked = store.read_all_filtered(1, &[], 10).await.unwrap();
    assert!(nothing_asked.events.is_empty());

    let beyond = store
        .read_all_filtered(p[7] + 1, &wanted, 10)
        .await
        .unwrap();
    assert!(beyond.events.is_empty());
    assert_eq!(beyond.scanned_to, p[7]);
    let read = store.read_all_filtered(1, &["Noise"], 10).await.unwrap();
    assert!(
        read.events
            .iter()
            .all(|e| &*e.stream_id == "f-2" && &*e.event_type == "Noise"),
        "every field comes back: {:?}",
        read.events
    );
    assert_eq!(read.events.len(), 3);
}

/// Parked events are kept per consumer in global order; parking the same position again
/// replaces the letter, and releasing removes it.
pub(crate) async fn dead_letters<S: EventStore>(store: S) {
    let letter = |position: u64, stream: &str, reason: &str| eventsmith::DeadLetter {
        position,
        stream_id: stream.to_owned(),
        stream_version: position * 10,
        event_type: "Deposited".to_owned(),
        reason: reason.to_owned(),
        attempts: 3,
        parked_at: eventsmith::Timestamp::from_micros(
            1_700_000_000_000_000 + i64::try_from(position).unwrap(),
        ),
    };
    let hostile = "bal'ances\"; DROP TABLE dead_letters; --ü";
    assert!(store.dead_letters("balances").await.unwrap().is_empty());
    store
        .park("balances", letter(9, "acc-2", "boom"))
        .await
        .unwrap();
    store
        .park("balances", letter(4, "acc-1", "first"))
        .await
        .unwrap();
    store
        .park(hostile, letter(4, "acc-'1", "other consumer"))
        .await
        .unwrap();
    store
        .park("balances", letter(4, "acc-1", "again"))
        .await
        .unwrap();
    assert_eq!(
        store.dead_letters("balances").await.unwrap(),
        [letter(4, "acc-1", "again"), letter(9, "acc-2", "boom")]
    );
    assert_eq!(
        store.dead_letters(hostile).await.unwrap(),
        [letter(4, "acc-'1", "other consumer")]
    );
    store.release("balances", 4).await.unwrap();
    store.release("balances", 5).await.unwrap();
    assert_eq!(
        store.dead_letters("balances").await.unwrap(),
        [letter(9, "acc-2", "boom")]
    );
    assert_eq!(store.dead_letters(hostile).await.unwrap().len(), 1);
}
