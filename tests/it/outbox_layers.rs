//! The publishing layers, stacked on real transports: payloads gzipped above a threshold
//! reach a Redis consumer group and are handled as if plain; a rate limit holds the relay to
//! its quota; a lingering relay publishes what came in quick succession as one batch.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use eventsmith::outbox::{
    Compressed, Consumer, MemoryTransport, Outgoing, RateLimited, Relay, Transport, TransportError,
    header,
};
use eventsmith::prelude::*;
use eventsmith::{App, SqliteStore, Uuid};

use crate::outbox_consumer::{Shipping, rows, settle, shipping_tables};
use crate::outbox_relay::domain::OrdersContract;
use crate::outbox_relay::{expected_messages, place_and_ship, relay_all, republish_all};
use crate::services::redis_transport;

/// A transport that counts the batches it is given.
#[derive(Clone)]
struct Counting<T> {
    inner: T,
    batches: Arc<AtomicUsize>,
}

impl<T: Transport> Transport for Counting<T> {
    const NAME: &'static str = T::NAME;

    async fn publish(&self, messages: &[Outgoing]) -> Result<(), TransportError> {
        self.batches.fetch_add(1, Ordering::SeqCst);
        self.inner.publish(messages).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_payloads_are_handled_like_plain_ones() {
    let test = "compressed_payloads_are_handled_like_plain_ones";
    let key = format!("it:layers:{}", Uuid::now_v7().simple());
    let Some(redis) = redis_transport(test, &key).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let orders = SqliteStore::open(dir.path().join("orders.db")).unwrap();
    place_and_ship(&App::new(orders.clone()).unwrap(), 0..20).await;

    // What the layer hands on: every payload of 40 bytes and more gzipped and marked.
    let memory = MemoryTransport::new();
    relay_all(&orders, Compressed::new(memory.clone()).above(40)).await;
    let messages = memory.messages();
    let gzipped = messages.iter().filter(|m| m.encoding.is_some()).count();
    assert!(
        gzipped > 0 && gzipped < messages.len(),
        "{gzipped} of {}",
        messages.len()
    );
    for message in &messages {
        let marked = message
            .headers()
            .any(|(name, value)| name == header::ENCODING && value == "gzip");
        assert_eq!(marked, message.encoding.is_some());
        if marked {
            assert_eq!(&message.payload[..2], [0x1f, 0x8b], "a gzip member");
        } else {
            assert!(message.payload.len() < 40);
        }
    }

    // Through Redis to a consumer group, which inflates them.
    republish_all(&orders, Compressed::new(redis.clone()).above(40)).await;
    let path = dir.path().join("shipping.db");
    shipping_tables(&path);
    let subscription = redis
        .subscribe("shipping", "one", "orders.>", Duration::from_secs(5))
        .await
        .unwrap()
        .wait(Duration::from_millis(100));
    let consumer = Consumer::new(SqliteStore::open(&path).unwrap(), Shipping, subscription)
        .start()
        .await
        .unwrap();
    let expected = expected_messages(20);
    settle(
        std::slice::from_ref(&consumer),
        expected as u64,
        "compressed",
    )
    .await;
    let progress = consumer.progress();
    assert_eq!(progress.handled, expected as u64, "{progress:?}");
    assert_eq!(progress.parked, 0, "{progress:?}");
    assert_eq!(rows(&path), expected);
    consumer.stop().await.unwrap();
}

#[tokio::test]
async fn a_rate_limited_relay_keeps_to_its_quota() {
    let dir = tempfile::tempdir().unwrap();
    let orders = SqliteStore::open(dir.path().join("orders.db")).unwrap();
    place_and_ship(&App::new(orders.clone()).unwrap(), 0..30).await;
    let head = orders.current_head().await.unwrap();
    let memory = MemoryTransport::new();
    let (per_second, burst) = (NonZeroU32::new(100).unwrap(), NonZeroU32::new(10).unwrap());
    let started = Instant::now();
    let relay = Relay::new(
        orders.clone(),
        OrdersContract,
        RateLimited::with_burst(memory.clone(), per_second, burst),
    )
    .start()
    .await
    .unwrap();
    relay.wait_for(head, Duration::from_secs(30)).await.unwrap();
    let took = started.elapsed();
    relay.stop().await.unwrap();
    let published = memory.messages().len();
    assert_eq!(published, expected_messages(30));
    // Past the first burst, a hundred a second at most: never faster than that.
    let least = Duration::from_secs_f64((published - 10) as f64 / 100.0);
    assert!(
        took >= least.mul_f64(0.95),
        "{published} messages in {took:?}"
    );
}

#[tokio::test]
async fn a_lingering_relay_publishes_quick_appends_as_one_batch() {
    let dir = tempfile::tempdir().unwrap();
    let orders = SqliteStore::open(dir.path().join("orders.db")).unwrap();
    let app = App::new(orders.clone()).unwrap();
    let memory = MemoryTransport::new();
    let batches = Arc::new(AtomicUsize::new(0));
    let counting = Counting {
        inner: memory.clone(),
        batches: Arc::clone(&batches),
    };
    let relay = Relay::new(orders.clone(), OrdersContract, counting)
        .linger(Duration::from_millis(800))
        .start()
        .await
        .unwrap();
    // Five orders one after another, well inside the linger.
    place_and_ship(&app, 0..5).await;
    let head = orders.current_head().await.unwrap();
    relay.wait_for(head, Duration::from_secs(30)).await.unwrap();
    relay.stop().await.unwrap();
    assert_eq!(memory.messages().len(), expected_messages(5));
    let batches = batches.load(Ordering::SeqCst);
    assert!(batches <= 2, "{batches} batches");
}
