//! The relay into NATS JetStream: every message stored once with its headers, in the order of
//! its key's events, and a relay that lost its checkpoint deduplicated by `Nats-Msg-Id`.

use std::collections::BTreeMap;
use std::time::Duration;

use async_nats::jetstream;
use eventsmith::outbox::{NatsTransport, Relay, header};
use eventsmith::prelude::*;
use eventsmith::{App, SqliteStore, Uuid};
use futures_util::StreamExt as _;

use crate::outbox_relay::domain::OrdersContract;
use crate::outbox_relay::{expected_messages, place_and_ship};
use crate::services::nats_client;

const WAIT: Duration = Duration::from_secs(30);

/// Every message of `stream`, in the stream's order.
async fn read_back(
    js: &jetstream::Context,
    stream: &str,
    expected: usize,
) -> Vec<async_nats::Message> {
    let stream = js.get_stream(stream).await.unwrap();
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::Config {
            ack_policy: jetstream::consumer::AckPolicy::None,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut messages = Vec::new();
    let mut batch = consumer
        .batch()
        .max_messages(expected + 1)
        .expires(Duration::from_secs(2))
        .messages()
        .await
        .unwrap();
    while let Some(message) = batch.next().await {
        messages.push(message.unwrap().split().0);
    }
    messages
}

#[tokio::test]
async fn a_relay_into_jetstream_stores_each_message_once_in_key_order() {
    let test = "a_relay_into_jetstream_stores_each_message_once_in_key_order";
    let Some(client) = nats_client(test).await else {
        return;
    };
    let unique = Uuid::now_v7().simple().to_string();
    let (stream, prefix) = (format!("IT_{unique}"), format!("it{unique}."));
    let nats = NatsTransport::new(client.clone()).subject_prefix(&prefix);
    nats.ensure_stream(&stream, &[">"], Duration::from_secs(120))
        .await
        .unwrap();
    let js = nats.jetstream().clone();

    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("outbox-nats.db")).unwrap();
    let app = App::new(store.clone()).unwrap();
    place_and_ship(&app, 0..50).await;
    let relay = Relay::new(store.clone(), OrdersContract, nats.clone())
        .batch_size(16)
        .start()
        .await
        .unwrap();
    let head = store.current_head().await.unwrap();
    relay.wait_for(head, WAIT).await.unwrap();
    relay.stop().await.unwrap();

    let expected = expected_messages(50);
    let messages = read_back(&js, &stream, expected).await;
    assert_eq!(messages.len(), expected);
    let positions: BTreeMap<Uuid, u64> = store
        .read_all(1, usize::MAX)
        .await
        .unwrap()
        .events
        .iter()
        .map(|e| (e.event_id, e.global_position))
        .collect();
    let mut last = BTreeMap::<String, u64>::new();
    for message in &messages {
        let headers = message.headers.as_ref().unwrap();
        let get = |name: &str| headers.get(name).unwrap().as_str().to_owned();
        assert_eq!(get("Nats-Msg-Id"), get(header::ID));
        assert!(message.subject.starts_with(&prefix), "{}", message.subject);
        assert!(get(header::TRACEPARENT).starts_with("00-"));
        let causation: Uuid = get(header::CAUSATION_ID).parse().unwrap();
        let position = positions[&causation];
        let key = last.entry(get(header::KEY)).or_default();
        assert!(*key <= position, "{} out of order", message.subject);
        *key = position;
        let body: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
        assert!(body.get("card").is_none());
    }

    // Published again from the start: the stream recognises every id.
    store
        .save_checkpoint("outbox:it.orders.public", 0)
        .await
        .unwrap();
    let relay = Relay::new(store.clone(), OrdersContract, nats.clone())
        .start()
        .await
        .unwrap();
    relay.wait_for(head, WAIT).await.unwrap();
    relay.stop().await.unwrap();
    let info = js
        .get_stream(&stream)
        .await
        .unwrap()
        .get_info()
        .await
        .unwrap();
    assert_eq!(info.state.messages as usize, expected);
    js.delete_stream(&stream).await.unwrap();
}
