//! A shipping service consumes the orders service's messages from NATS JetStream into its
//! own SQLite read model: two members of one consumer group on two handles of its file, a
//! re-publication past the stream's duplicate window recognised by the inbox, and a message
//! that does not decode parked while the rest flows; a message whose handler keeps failing
//! parked after its deliveries and replayed once after a fix.

use std::time::{Duration, Instant};

use eventsmith::command::Backoff;
use eventsmith::outbox::{
    Consumer, NatsTransport, Replay, RunningConsumer, Subscription, Transport, header,
};
use eventsmith::prelude::*;
use eventsmith::projection::SqliteConnection;
use eventsmith::{App, SqliteStore, Uuid, projection};

use crate::outbox_relay::domain::{ParcelShipped, Placed};
use crate::outbox_relay::{expected_messages, place_and_ship, relay_all, republish_all};
use crate::services::nats_client;

/// The shipping service's read model: a row per order announced and per parcel.
#[derive(Default)]
pub(crate) struct Shipping;

#[projection(name = "it.shipping", context = SqliteConnection)]
impl Shipping {
    #[on]
    async fn placed(&mut self, message: &Placed, db: &SqliteConnection) -> rusqlite::Result<()> {
        db.execute(
            "INSERT INTO announced (order_id, region) VALUES (?1, ?2)",
            (message.order.clone(), message.region.clone()),
        )
        .await
        .map(drop)
    }

    #[on]
    async fn parcel(
        &mut self,
        message: &ParcelShipped,
        db: &SqliteConnection,
    ) -> rusqlite::Result<()> {
        db.execute(
            "INSERT INTO parcels (order_id, parcel) VALUES (?1, ?2)",
            (message.order.clone(), message.parcel),
        )
        .await
        .map(drop)
    }
}

/// The shipping service's tables, in the file at `path`.
pub(crate) fn shipping_tables(path: &std::path::Path) {
    rusqlite::Connection::open(path)
        .unwrap()
        .execute_batch(
            "CREATE TABLE announced (order_id TEXT NOT NULL, region TEXT NOT NULL);
             CREATE TABLE parcels (order_id TEXT NOT NULL, parcel INTEGER NOT NULL);",
        )
        .unwrap();
}

pub(crate) fn rows(path: &std::path::Path) -> usize {
    let db = rusqlite::Connection::open(path).unwrap();
    let count = |table: &str| -> usize {
        db.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| {
            r.get::<_, i64>(0)
        })
        .map(|n| usize::try_from(n).unwrap())
        .unwrap()
    };
    count("announced") + count("parcels")
}

/// Waits until the members together have taken `count` messages one way or another.
pub(crate) async fn settle(members: &[RunningConsumer], count: u64, what: &str) {
    let give_up = Instant::now() + Duration::from_secs(60);
    loop {
        let done: u64 = members
            .iter()
            .map(|m| {
                let p = m.progress();
                p.handled + p.duplicates + p.parked + p.ignored
            })
            .sum();
        if done >= count {
            return;
        }
        assert!(
            Instant::now() < give_up,
            "{what}: {done} of {count}: {:?}",
            members
                .iter()
                .map(RunningConsumer::progress)
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_group_applies_each_message_once_past_the_brokers_window() {
    let test = "a_consumer_group_applies_each_message_once_past_the_brokers_window";
    let Some(client) = nats_client(test).await else {
        return;
    };
    let unique = Uuid::now_v7().simple().to_string();
    let (stream, prefix) = (format!("ITC_{unique}"), format!("itc{unique}."));
    let nats = NatsTransport::new(client).subject_prefix(&prefix);
    // A window of a second: the re-publication below arrives after it.
    nats.ensure_stream(&stream, &[">"], Duration::from_secs(1))
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let orders = SqliteStore::open(dir.path().join("orders.db")).unwrap();
    place_and_ship(&App::new(orders.clone()).unwrap(), 0..40).await;
    relay_all(&orders, nats.clone()).await;

    // The shipping service: its own file, two members of the group `shipping`.
    let shipping_path = dir.path().join("shipping.db");
    let shipping = SqliteStore::open(&shipping_path).unwrap();
    shipping_tables(&shipping_path);
    let mut members = Vec::new();
    for handle in [shipping.clone(), SqliteStore::open(&shipping_path).unwrap()] {
        let subscription = nats
            .subscribe(&stream, "shipping", "orders.>", Duration::from_secs(5))
            .await
            .unwrap()
            .wait(Duration::from_millis(200));
        members.push(
            Consumer::new(handle, Shipping, subscription)
                .batch_size(8)
                .start()
                .await
                .unwrap(),
        );
    }
    let expected = expected_messages(40);
    settle(&members, expected as u64, "first delivery").await;
    assert_eq!(rows(&shipping_path), expected);

    // Published again once the window has passed: JetStream keeps the copies, the inbox
    // recognises them.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    republish_all(&orders, nats.clone()).await;
    let info = nats
        .jetstream()
        .get_stream(&stream)
        .await
        .unwrap()
        .get_info()
        .await
        .unwrap();
    assert_eq!(info.state.messages as usize, 2 * expected, "copies kept");

    // And a message that does not decode, among good ones.
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(header::ID, Uuid::now_v7().to_string().as_str());
    headers.insert(header::NAME, "it.orders.placed");
    headers.insert(header::VERSION, "1");
    nats.jetstream()
        .publish_with_headers(
            format!("{prefix}orders.acme.north.placed"),
            headers,
            r#"{"order": 7}"#.into(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    settle(&members, 2 * expected as u64 + 1, "after the copies").await;
    assert_eq!(rows(&shipping_path), expected, "each effect once");
    let progress: Vec<_> = members.iter().map(RunningConsumer::progress).collect();
    let sum = |f: fn(&eventsmith::outbox::ConsumerProgress) -> u64| -> u64 {
        progress.iter().map(f).sum()
    };
    assert_eq!(sum(|p| p.handled), expected as u64, "{progress:?}");
    assert_eq!(sum(|p| p.duplicates), expected as u64, "{progress:?}");
    assert_eq!(sum(|p| p.parked), 1, "{progress:?}");
    let letters = shipping.dead_letters("it.shipping").await.unwrap();
    assert_eq!(letters.len(), 1);
    assert!(
        letters[0].reason.contains("does not decode") && letters[0].reason.contains("orders.acme"),
        "{}",
        letters[0].reason
    );
    for member in members {
        member.stop().await.unwrap();
    }
    nats.jetstream().delete_stream(&stream).await.unwrap();
}

/// A read model that refuses the orders listed in its `refused` table: a poison message
/// until the row goes (the fix).
#[derive(Default)]
struct Picky;

#[projection(name = "it.picky_shipping", context = SqliteConnection)]
impl Picky {
    #[on]
    async fn placed(
        &mut self,
        message: &Placed,
        db: &SqliteConnection,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let order = message.order.clone();
        let refused: i64 = db
            .call(move |conn| {
                conn.query_row(
                    "SELECT count(*) FROM refused WHERE order_id = ?1",
                    [order],
                    |r| r.get(0),
                )
            })
            .await?;
        if refused > 0 {
            return Err(format!("order {} is refused", message.order).into());
        }
        db.execute(
            "INSERT INTO announced (order_id, region) VALUES (?1, ?2)",
            (message.order.clone(), message.region.clone()),
        )
        .await?;
        Ok(())
    }

    #[on]
    async fn parcel(
        &mut self,
        message: &ParcelShipped,
        db: &SqliteConnection,
    ) -> rusqlite::Result<()> {
        db.execute(
            "INSERT INTO parcels (order_id, parcel) VALUES (?1, ?2)",
            (message.order.clone(), message.parcel),
        )
        .await
        .map(drop)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_keeps_failing_is_parked_while_the_rest_flows_and_replayed_after_a_fix() {
    let test =
        "a_message_that_keeps_failing_is_parked_while_the_rest_flows_and_replayed_after_a_fix";
    let Some(client) = nats_client(test).await else {
        return;
    };
    let unique = Uuid::now_v7().simple().to_string();
    let (stream, prefix) = (format!("ITP_{unique}"), format!("itp{unique}."));
    let nats = NatsTransport::new(client).subject_prefix(&prefix);
    nats.ensure_stream(&stream, &[">"], Duration::from_secs(60))
        .await
        .unwrap();
    let subscription = nats
        .subscribe(&stream, "picky", "orders.>", Duration::from_secs(5))
        .await
        .unwrap()
        .wait(Duration::from_millis(100));
    a_poison_message_is_parked_and_replayed_after_a_fix(nats.clone(), subscription).await;
    nats.jetstream().delete_stream(&stream).await.unwrap();
}

/// The poison-message check every transport passes: ten orders published through
/// `transport`, consumed through `subscription` by a read model that refuses one order; it
/// is parked after three deliveries while the rest flows, its replay fails while the refusal
/// stands and succeeds once after the fix, and a second replay does nothing.
pub(crate) async fn a_poison_message_is_parked_and_replayed_after_a_fix<T, S>(
    transport: T,
    subscription: S,
) where
    T: Transport,
    S: Subscription,
{
    let dir = tempfile::tempdir().unwrap();
    let orders = SqliteStore::open(dir.path().join("orders.db")).unwrap();
    place_and_ship(&App::new(orders.clone()).unwrap(), 0..10).await;
    relay_all(&orders, transport).await;

    let path = dir.path().join("picky.db");
    let shipping = SqliteStore::open(&path).unwrap();
    let db = rusqlite::Connection::open(&path).unwrap();
    db.execute_batch(
        "CREATE TABLE announced (order_id TEXT NOT NULL, region TEXT NOT NULL);
         CREATE TABLE parcels (order_id TEXT NOT NULL, parcel INTEGER NOT NULL);
         CREATE TABLE refused (order_id TEXT NOT NULL);
         INSERT INTO refused VALUES ('o-3');",
    )
    .unwrap();
    let consumer = Consumer::new(shipping.clone(), Picky, subscription)
        .max_deliveries(3)
        .backoff(Backoff::fixed(Duration::from_millis(20)))
        .start()
        .await
        .unwrap();
    let expected = expected_messages(10) as u64;
    settle(std::slice::from_ref(&consumer), expected, "with the poison").await;
    let progress = consumer.progress();
    assert_eq!(progress.parked, 1, "{progress:?}");
    assert_eq!(
        progress.handled,
        expected - 1,
        "the rest flowed: {progress:?}"
    );
    assert!(progress.retried >= 2, "tried three times: {progress:?}");
    assert_eq!(rows(&path), expected as usize - 1);
    let letters = shipping.dead_letters("it.picky_shipping").await.unwrap();
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(letter.attempts, 3);
    assert!(
        letter.reason.contains("order o-3 is refused"),
        "{}",
        letter.reason
    );

    // Still refused: the replay fails and the letter stays.
    assert!(consumer.replay(letter.position).await.is_err());
    assert_eq!(
        shipping
            .dead_letters("it.picky_shipping")
            .await
            .unwrap()
            .len(),
        1
    );
    // The fix, then the replay: handled once, the letter released.
    db.execute("DELETE FROM refused", []).unwrap();
    assert_eq!(consumer.replay(letter.position).await, Ok(Replay::Handled));
    assert_eq!(rows(&path), expected as usize);
    assert!(
        shipping
            .dead_letters("it.picky_shipping")
            .await
            .unwrap()
            .is_empty()
    );
    // A second replay finds nothing to do twice.
    assert_eq!(
        consumer.replay(letter.position).await,
        Ok(Replay::AlreadyHandled)
    );
    assert_eq!(rows(&path), expected as usize);
    consumer.stop().await.unwrap();
}
