//! The relay into Redis Streams and a consumer group on it: every message applied once; a
//! member that read a batch and died before acknowledging it has its entries taken over and
//! applied once by another; a re-publication recognised by the inbox.

use std::time::{Duration, Instant};

use eventsmith::outbox::{Consumer, Subscription as _};
use eventsmith::{App, SqliteStore, Uuid};

use crate::outbox_consumer::{
    Shipping, a_poison_message_is_parked_and_replayed_after_a_fix, rows, shipping_tables,
};
use crate::outbox_relay::{expected_messages, place_and_ship, relay_all, republish_all};
use crate::services::redis_transport;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_members_batch_is_taken_over_and_every_message_applied_once() {
    let test = "a_dead_members_batch_is_taken_over_and_every_message_applied_once";
    let key = format!("it:outbox:{}", Uuid::now_v7().simple());
    let Some(redis) = redis_transport(test, &key).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let orders = SqliteStore::open(dir.path().join("orders.db")).unwrap();
    place_and_ship(&App::new(orders.clone()).unwrap(), 0..20).await;
    relay_all(&orders, redis.clone()).await;
    let expected = expected_messages(20);

    // A member reads a batch and dies holding it.
    let idle = Duration::from_millis(800);
    let mut dead = redis
        .subscribe("shipping", "dead", "orders.>", idle)
        .await
        .unwrap();
    let held = dead.receive(10).await.unwrap();
    assert_eq!(held.len(), 10);
    drop(dead);

    let path = dir.path().join("shipping.db");
    let shipping = SqliteStore::open(&path).unwrap();
    shipping_tables(&path);
    let subscription = redis
        .subscribe("shipping", "alive", "orders.>", idle)
        .await
        .unwrap()
        .wait(Duration::from_millis(100));
    let alive = Consumer::new(shipping, Shipping, subscription)
        .start()
        .await
        .unwrap();
    let give_up = Instant::now() + Duration::from_secs(30);
    while alive.progress().handled < expected as u64 {
        assert!(Instant::now() < give_up, "{:?}", alive.progress());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(rows(&path), expected);

    // Published again: new entries, recognised by the inbox.
    republish_all(&orders, redis.clone()).await;
    while alive.progress().duplicates < expected as u64 {
        assert!(Instant::now() < give_up, "{:?}", alive.progress());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A repeat would have had time to arrive.
    tokio::time::sleep(idle + Duration::from_millis(300)).await;
    let progress = alive.progress();
    assert_eq!(progress.handled, expected as u64, "{progress:?}");
    assert_eq!(progress.duplicates, expected as u64, "{progress:?}");
    assert_eq!(rows(&path), expected);
    alive.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_poison_message_is_parked_while_the_rest_flows_and_replayed_after_a_fix() {
    let test = "a_redis_poison_message_is_parked_while_the_rest_flows_and_replayed_after_a_fix";
    let key = format!("it:outbox:{}", Uuid::now_v7().simple());
    let Some(redis) = redis_transport(test, &key).await else {
        return;
    };
    // A failed entry comes again once idle this long.
    let subscription = redis
        .subscribe("picky", "alive", "orders.>", Duration::from_millis(200))
        .await
        .unwrap()
        .wait(Duration::from_millis(100));
    a_poison_message_is_parked_and_replayed_after_a_fix(redis, subscription).await;
}
