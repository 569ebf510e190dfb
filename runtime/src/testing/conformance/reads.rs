//! Reading in global order: followers, pages, subscriptions, filtered scans and the head.

use std::collections::HashSet;
use std::time::Duration;

use crate::model::envelope::RecordedEvent;

use crate::store::{EventStore, ExpectedVersion};

use uuid::Uuid;

use super::{append, event, events, head_covering};
use crate::store::FilteredRead;

/// 16 writers on distinct streams while a subscriber follows the global order: it sees every
/// event exactly once, positions strictly increasing.
pub async fn concurrent_writers_with_global_reader<S: EventStore>(store: S) {
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
    let all = store.read_all(1, total + 10).await.unwrap().events;
    assert_eq!(all.len(), total, "nothing extra stored");
    assert!(
        all.iter().all(|e| ids.contains(&e.event_id)),
        "nothing skipped"
    );
}

/// Reading the global log page by page returns each event once, in order, up to the head
/// that covers the appends. A short or empty page is not taken for the end of the log: on
/// PostgreSQL a transaction open anywhere on the server hides appends until it ends, and
/// each page says how far the store could see.
pub async fn read_all_pagination<S: EventStore>(store: S) {
    let mut last = 0;
    for s in 0..7 {
        let written = append(
            &store,
            &format!("p-{s}"),
            ExpectedVersion::NoStream,
            events(13, "p"),
        )
        .await
        .unwrap();
        last = written.position.expect("events written");
    }
    let head = head_covering(&store, last).await;
    let mut from = 1;
    let mut pages = Vec::new();
    loop {
        let page = store.read_all(from, 10).await.unwrap();
        assert!(page.events.len() <= 10);
        assert!(
            !page.events.is_empty(),
            "a page from {from} short of the head {head} has events: scanned to {}",
            page.scanned_to
        );
        let reached = page.events.last().unwrap().global_position;
        if page.events.len() == 10 {
            assert_eq!(
                page.scanned_to, reached,
                "a full page claims its last event"
            );
        } else {
            assert_eq!(page.scanned_to, head, "a short page scanned to the head");
        }
        from = page.scanned_to + 1;
        pages.extend(page.events);
        if page.scanned_to >= head {
            break;
        }
    }
    assert_eq!(pages.len(), 91);
    assert!(
        pages
            .windows(2)
            .all(|w| w[0].global_position < w[1].global_position)
    );
    let beyond = store.read_all(head + 1, 10).await.unwrap();
    assert!(beyond.events.is_empty());
    assert_eq!(beyond.scanned_to, head, "nothing beyond the head");
    let all = store.read_all(1, 1000).await.unwrap();
    assert_eq!((all.events, all.scanned_to), (pages.clone(), head));
    let mid = pages[40].global_position;
    assert_eq!(store.read_all(mid, 5).await.unwrap().events, pages[40..45]);
    let none = store.read_all(mid, 0).await.unwrap();
    assert!(none.events.is_empty());
    assert_eq!(
        none.scanned_to,
        mid - 1,
        "a page of none claims what comes before it"
    );
}

/// A subscription reads what is stored, then what arrives, with no gap and no duplicate at
/// the hand-over.
pub async fn subscription_catch_up_then_live<S: EventStore>(store: S) {
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

/// A filtered read returns only the named events, in order, and says how far it scanned: up
/// to the last match of a full page, else to the head (once it covers the appends), past
/// events of other names.
pub async fn filtered_reads<S: EventStore>(store: S) {
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
    head_covering(&store, p[7]).await;
    let wanted = ["Opened", hostile, "Closed"];
    let names = |read: &crate::store::Page| -> Vec<(u64, String)> {
        read.events
            .iter()
            .map(|e| (e.global_position, e.event_type.to_string()))
            .collect()
    };

    let page = store
        .read_all_filtered(FilteredRead::new(1, &wanted, 2))
        .await
        .unwrap();
    assert_eq!(
        names(&page),
        [(p[1], "Opened".to_owned()), (p[3], hostile.to_owned())]
    );
    assert_eq!(
        page.scanned_to, p[3],
        "a full page claims only up to its last match"
    );

    let rest = store
        .read_all_filtered(FilteredRead::new(p[3] + 1, &wanted, 10))
        .await
        .unwrap();
    assert_eq!(
        names(&rest),
        [(p[4], "Opened".to_owned()), (p[6], "Closed".to_owned())]
    );
    assert_eq!(rest.scanned_to, p[7], "a short page scanned to the head");

    let none = store
        .read_all_filtered(FilteredRead::new(1, &["Missing"], 10))
        .await
        .unwrap();
    assert!(none.events.is_empty());
    assert_eq!(
        none.scanned_to, p[7],
        "nothing matched, yet all was scanned"
    );
    let nothing_asked = store
        .read_all_filtered(FilteredRead::new(1, &[], 10))
        .await
        .unwrap();
    assert!(nothing_asked.events.is_empty());

    let beyond = store
        .read_all_filtered(FilteredRead::new(p[7] + 1, &wanted, 10))
        .await
        .unwrap();
    assert!(beyond.events.is_empty());
    assert_eq!(beyond.scanned_to, p[7]);
    let read = store
        .read_all_filtered(FilteredRead::new(1, &["Noise"], 10))
        .await
        .unwrap();
    assert!(
        read.events
            .iter()
            .all(|e| &*e.stream_id == "f-2" && &*e.event_type == "Noise"),
        "every field comes back: {:?}",
        read.events
    );
    assert_eq!(read.events.len(), 3);
}

/// `current_head` reaches every append that returned before it was asked (at once, or on
/// PostgreSQL once transactions that began earlier anywhere on the server have ended), never
/// passes the last one, and the head's receivers are raised to it.
pub async fn current_head_reaches_returned_appends<S: EventStore>(store: S) {
    assert_eq!(store.current_head().await.unwrap(), 0);
    for i in 0..20u64 {
        let written = append(&store, "head", ExpectedVersion::Exact(i), events(1, "head"))
            .await
            .unwrap();
        let last = written.position.expect("one event written");
        let reached = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let head = store.current_head().await.unwrap();
                assert!(head <= last, "head {head} passed the last append at {last}");
                if head == last {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        reached.await.expect("the current head reaches the append");
    }
    let current = store.current_head().await.unwrap();
    let mut head = store.head();
    tokio::time::timeout(Duration::from_secs(10), head.wait_for(|h| *h >= current))
        .await
        .expect("a receiver reaches the current head")
        .unwrap();
}
