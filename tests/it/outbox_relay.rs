//! The relay of a publication over a SQLite file, into the in-memory broker: subjects,
//! headers and ids of the messages, per-key order, a restart from the checkpoint, a
//! re-publication recognised by its ids, a second relay on another handle, and an event
//! that does not decode stopping the relay before it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use eventsmith::event::NewEvent;
use eventsmith::outbox::{MemoryTransport, Relay, RelayState, Transport, header, message_id};
use eventsmith::prelude::*;
use eventsmith::store::{Append, AppendOutcome, ExpectedVersion};
use eventsmith::{App, CommandContext, SqliteStore};

#[path = "../support/outbox_orders.rs"]
pub(crate) mod domain;

use domain::{OrdersContract, PlaceOrder, ShipOrder};

const WAIT: Duration = Duration::from_secs(20);

pub(crate) async fn place_and_ship<S: EventStore>(app: &App<S>, orders: std::ops::Range<usize>) {
    for i in orders {
        let order = if i % 10 == 9 {
            format!("test-{i}")
        } else {
            format!("o-{i}")
        };
        let context = CommandContext::new().tenant(if i % 2 == 0 { "acme" } else { "eu.de" });
        app.execute_with(
            PlaceOrder {
                order: order.clone(),
                region: ["north", "south"][i % 2].into(),
                total: 10 * i as u64,
            },
            &context,
        )
        .await
        .unwrap();
        app.execute_with(
            ShipOrder {
                order,
                parcels: 1 + (i % 3) as u32,
            },
            &context,
        )
        .await
        .unwrap();
    }
}

/// The messages the first `orders` orders make: a placement unless it is a test order, and
/// one message a parcel.
/// Publishes the orders contract from `store` up to its head through `transport`, then stops
/// the relay.
pub(crate) async fn relay_all<S: EventStore + Clone, T: Transport>(store: &S, transport: T) {
    let head = store.current_head().await.unwrap();
    let relay = Relay::new(store.clone(), OrdersContract, transport)
        .start()
        .await
        .unwrap();
    relay.wait_for(head, WAIT).await.unwrap();
    relay.stop().await.unwrap();
}

/// Publishes everything again from the start of the log, as a relay whose checkpoint was
/// lost would.
pub(crate) async fn republish_all<S: EventStore + Clone, T: Transport>(store: &S, transport: T) {
    store
        .save_checkpoint("outbox:it.orders.public", 0)
        .await
        .unwrap();
    relay_all(store, transport).await;
}

pub(crate) fn expected_messages(orders: usize) -> usize {
    (0..orders)
        .map(|i| usize::from(i % 10 != 9) + 1 + i % 3)
        .sum()
}

#[tokio::test]
async fn a_relay_publishes_each_message_once_with_its_subject_headers_and_id() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("outbox.db")).unwrap();
    let app = App::new(store.clone()).unwrap();
    let broker = MemoryTransport::new();
    place_and_ship(&app, 0..20).await;
    let relay = Relay::new(store.clone(), OrdersContract, broker.clone())
        .batch_size(7)
        .start()
        .await
        .unwrap();
    // Appends after the start are published too.
    place_and_ship(&app, 20..30).await;
    let head = store.current_head().await.unwrap();
    relay.wait_for(head, WAIT).await.unwrap();
    let messages = broker.messages();
    assert_eq!(messages.len(), expected_messages(30));
    assert_eq!(broker.duplicates(), 0);

    let events = store.read_all(1, usize::MAX).await.unwrap().events;
    let by_id: BTreeMap<_, _> = events.iter().map(|e| (e.event_id, e)).collect();
    let mut last_position = BTreeMap::<Arc<str>, u64>::new();
    for message in &messages {
        let event = by_id[&message.causation_id];
        let headers: BTreeMap<_, _> = message.headers().collect();
        let tenant = event.metadata.tenant.as_deref().unwrap();
        assert_eq!(headers[header::TENANT], tenant);
        assert_eq!(message.key, event.stream_id);
        assert_eq!(message.position, event.global_position);
        assert!(message.traceparent.starts_with("00-"), "{message:?}");
        let body: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
        match message.name {
            "it.orders.placed" => {
                assert_eq!(
                    message.id,
                    message_id("it.orders.public", event.event_id, 0)
                );
                let region = body["region"].as_str().unwrap();
                // A tenant with a dot stays one token.
                let tenant = tenant.replace('.', "_");
                assert_eq!(message.subject, format!("orders.{tenant}.{region}.placed"));
                assert!(body.get("card").is_none(), "{body}");
                assert_eq!(message.version, 1);
            }
            "it.orders.parcel_shipped" => {
                let parcel = u32::try_from(body["parcel"].as_u64().unwrap()).unwrap();
                assert_eq!(
                    message.id,
                    message_id("it.orders.public", event.event_id, parcel - 1)
                );
                assert_eq!(
                    message.subject,
                    format!("orders.{}.shipped", event.stream_id)
                );
                assert_eq!(body["position"].as_u64(), Some(event.global_position));
            }
            other => panic!("unexpected message {other}"),
        }
        // Per key, in the order of the events.
        let last = last_position.entry(Arc::clone(&message.key)).or_default();
        assert!(*last <= message.position, "{message:?} after {last}");
        *last = message.position;
    }
    assert!(
        messages
            .iter()
            .all(|m| m.name != "it.orders.placed" || !m.key.contains("test-")),
        "test orders are not announced"
    );
    relay.stop().await.unwrap();

    // A restart resumes from the checkpoint: nothing again.
    let relay = Relay::new(store.clone(), OrdersContract, broker.clone())
        .start()
        .await
        .unwrap();
    place_and_ship(&app, 30..31).await;
    let head = store.current_head().await.unwrap();
    relay.wait_for(head, WAIT).await.unwrap();
    assert_eq!(broker.messages().len(), expected_messages(31));
    assert_eq!(broker.duplicates(), 0);
    relay.stop().await.unwrap();

    // A relay that lost its checkpoint publishes everything again, with the same ids.
    store
        .save_checkpoint("outbox:it.orders.public", 0)
        .await
        .unwrap();
    let relay = Relay::new(store.clone(), OrdersContract, broker.clone())
        .start()
        .await
        .unwrap();
    relay.wait_for(head, WAIT).await.unwrap();
    assert_eq!(broker.messages().len(), expected_messages(31));
    assert_eq!(broker.duplicates(), expected_messages(31));
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn two_relays_on_two_handles_publish_the_same_ids() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox-two.db");
    let (one, two) = (
        SqliteStore::open(&path).unwrap(),
        SqliteStore::open(&path).unwrap(),
    );
    let broker = MemoryTransport::new();
    let relays = [
        Relay::new(one.clone(), OrdersContract, broker.clone())
            .poll_interval(Duration::from_millis(20))
            .start()
            .await
            .unwrap(),
        Relay::new(two.clone(), OrdersContract, broker.clone())
            .poll_interval(Duration::from_millis(20))
            .start()
            .await
            .unwrap(),
    ];
    place_and_ship(&App::new(one.clone()).unwrap(), 0..40).await;
    let head = one.current_head().await.unwrap();
    for relay in &relays {
        relay.wait_for(head, WAIT).await.unwrap();
    }
    // Each message held once, however many times the two published it.
    let messages = broker.messages();
    assert_eq!(messages.len(), expected_messages(40));
    let published: u64 = relays.iter().map(|r| r.progress().published).sum();
    assert_eq!(published as usize, messages.len() + broker.duplicates());
    for relay in relays {
        relay.stop().await.unwrap();
    }
}

#[tokio::test]
async fn an_event_that_does_not_decode_stops_the_relay_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("outbox-bad.db")).unwrap();
    let app = App::new(store.clone()).unwrap();
    place_and_ship(&app, 0..3).await;
    let bad = NewEvent::new(
        "it.outbox.order_placed",
        1,
        br#"{"order":"o-x","total":"lots"}"#.to_vec(),
        Arc::default(),
    );
    let outcome = store
        .append(Append::new(
            "OutboxOrder-o-x",
            ExpectedVersion::Any,
            vec![bad],
        ))
        .await
        .unwrap();
    let AppendOutcome::Appended(appended) = outcome else {
        panic!("appended: {outcome:?}");
    };
    let bad_position = appended.position.unwrap();
    place_and_ship(&app, 3..7).await;

    let broker = MemoryTransport::new();
    let relay = Relay::new(store.clone(), OrdersContract, broker.clone())
        .batch_size(2)
        .start()
        .await
        .unwrap();
    let head = store.current_head().await.unwrap();
    let error = relay.wait_for(head, WAIT).await.unwrap_err();
    let decode = error.decode_error().expect("a decoding error");
    assert_eq!(decode.position, bad_position, "{error}");
    assert!(error.to_string().contains("it.orders.public"), "{error}");
    assert!(matches!(relay.progress().state, RelayState::Failed(_)));
    // Everything before it, nothing after it.
    assert!(relay.progress().position < bad_position);
    assert!(broker.messages().iter().all(|m| m.position < bad_position));
    let before: usize = expected_messages(3);
    assert!(broker.messages().len() <= before);
    // Started again, it stops at the same event.
    let again = Relay::new(store.clone(), OrdersContract, broker.clone())
        .start()
        .await
        .unwrap();
    let error = again.wait_for(head, WAIT).await.unwrap_err();
    assert_eq!(error.decode_error().unwrap().position, bad_position);
    assert_eq!(broker.messages().len(), before);
}
