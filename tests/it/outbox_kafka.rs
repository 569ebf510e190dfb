//! The relay into Kafka (a broker of the test's own) and a consumer group on it: two members
//! dividing the partitions apply every message once, each order's messages in order; a
//! record that does not decode is parked; members that restart resume where the group was
//! (nothing delivered twice), and a re-publication is recognised by the inbox; a poison
//! message is parked and replayed like on every transport.

use std::time::{Duration, Instant};

use eventsmith::outbox::{
    Consumer, ConsumerProgress, KafkaTransport, RunningConsumer, Subscription as _,
};
use eventsmith::prelude::*;
use eventsmith::{App, SqliteStore, Uuid};
use rskafka::client::partition::{Compression, UnknownTopicHandling};

use crate::outbox_consumer::{
    Shipping, a_poison_message_is_parked_and_replayed_after_a_fix, rows, settle, shipping_tables,
};
use crate::outbox_relay::{expected_messages, place_and_ship, relay_all, republish_all};
use crate::services::kafka_broker;
use crate::support::kafka_broker::KafkaBroker;

const PARTITIONS: u16 = 4;

async fn topic(broker: &KafkaBroker) -> KafkaTransport {
    let name = format!("it-orders-{}", Uuid::now_v7().simple());
    KafkaTransport::connect(broker.brokers(), name, PARTITIONS)
        .await
        .unwrap()
}

/// Both members of the group `shipping`, on two handles of the file at `path`.
async fn members(kafka: &KafkaTransport, path: &std::path::Path) -> Vec<RunningConsumer> {
    let mut members = Vec::new();
    let mut partitions = Vec::new();
    for index in 0..2 {
        let subscription = kafka
            .subscribe("shipping", "orders.>")
            .await
            .unwrap()
            .member(index, 2)
            .wait(Duration::from_millis(100))
            .commit_every(Duration::from_millis(50));
        partitions.extend(subscription.partitions());
        members.push(
            Consumer::new(SqliteStore::open(path).unwrap(), Shipping, subscription)
                .batch_size(8)
                .start()
                .await
                .unwrap(),
        );
    }
    partitions.sort_unstable();
    assert_eq!(
        partitions,
        [0, 1, 2, 3],
        "the members divide the partitions"
    );
    members
}

fn sum(members: &[RunningConsumer], f: fn(&ConsumerProgress) -> u64) -> u64 {
    members.iter().map(|m| f(&m.progress())).sum()
}

/// The parcels of each order, in the order they were handled.
fn parcels_in_order(path: &std::path::Path) {
    let db = rusqlite::Connection::open(path).unwrap();
    let mut rows = db
        .prepare("SELECT order_id, parcel FROM parcels ORDER BY rowid")
        .unwrap();
    let mut last = std::collections::HashMap::<String, i64>::new();
    for row in rows
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
        .unwrap()
    {
        let (order, parcel) = row.unwrap();
        let before = last.insert(order.clone(), parcel).unwrap_or(0);
        assert_eq!(
            parcel,
            before + 1,
            "order {order}: parcel {parcel} after {before}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kafka_group_applies_each_message_once_in_order_and_resumes_where_it_was() {
    let test = "a_kafka_group_applies_each_message_once_in_order_and_resumes_where_it_was";
    let Some(broker) = kafka_broker(test) else {
        return;
    };
    let kafka = topic(&broker).await;
    let dir = tempfile::tempdir().unwrap();
    let orders = SqliteStore::open(dir.path().join("orders.db")).unwrap();
    place_and_ship(&App::new(orders.clone()).unwrap(), 0..40).await;
    relay_all(&orders, kafka.clone()).await;

    // A record that does not decode, among the good ones.
    let client = rskafka::client::ClientBuilder::new(vec![broker.brokers().to_owned()])
        .build()
        .await
        .unwrap();
    let partition = client
        .partition_client(kafka.topic(), 0, UnknownTopicHandling::Retry)
        .await
        .unwrap();
    let headers = [
        ("es-id", Uuid::now_v7().to_string()),
        ("es-name", "it.orders.placed".to_owned()),
        ("es-version", "1".to_owned()),
        ("es-subject", "orders.acme.north.placed".to_owned()),
    ];
    partition
        .produce(
            vec![rskafka::record::Record {
                key: Some(b"o-7".to_vec()),
                value: Some(br#"{"order": 7}"#.to_vec()),
                headers: headers
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v.into_bytes()))
                    .collect(),
                timestamp: rskafka::chrono::DateTime::UNIX_EPOCH,
            }],
            Compression::NoCompression,
        )
        .await
        .unwrap();

    // A member beyond the partitions has nothing to read, and says so without failing.
    let mut spare = kafka
        .subscribe("spare", "orders.>")
        .await
        .unwrap()
        .member(4, 5)
        .wait(Duration::from_millis(50));
    assert!(spare.partitions().is_empty());
    assert!(spare.receive(10).await.unwrap().is_empty());

    let path = dir.path().join("shipping.db");
    let shipping = SqliteStore::open(&path).unwrap();
    shipping_tables(&path);
    let expected = expected_messages(40);
    let group = members(&kafka, &path).await;
    settle(&group, expected as u64 + 1, "first delivery").await;
    assert_eq!(rows(&path), expected);
    parcels_in_order(&path);
    assert_eq!(sum(&group, |p| p.handled), expected as u64);
    assert_eq!(sum(&group, |p| p.parked), 1);
    let letters = shipping.dead_letters("it.shipping").await.unwrap();
    assert_eq!(letters.len(), 1);
    assert!(
        letters[0].reason.contains("does not decode")
            && letters[0].reason.contains("orders.acme.north.placed"),
        "{}",
        letters[0].reason
    );
    // Long enough for the progress to be recorded, then both stop.
    tokio::time::sleep(Duration::from_millis(400)).await;
    for member in group {
        member.stop().await.unwrap();
    }

    // Restarted: they resume where the group was, so nothing comes again.
    let group = members(&kafka, &path).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle: Vec<_> = group.iter().map(RunningConsumer::progress).collect();
    assert!(
        idle.iter()
            .all(|p| p.handled + p.duplicates + p.parked + p.ignored == 0),
        "{idle:?}"
    );

    // Published again: new records, recognised by the inbox.
    republish_all(&orders, kafka.clone()).await;
    let give_up = Instant::now() + Duration::from_secs(30);
    while sum(&group, |p| p.duplicates) < expected as u64 {
        assert!(Instant::now() < give_up, "{:?}", group[0].progress());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sum(&group, |p| p.duplicates), expected as u64);
    assert_eq!(sum(&group, |p| p.handled), 0);
    assert_eq!(rows(&path), expected, "each effect once");
    for member in group {
        member.stop().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kafka_poison_message_is_parked_while_the_rest_flows_and_replayed_after_a_fix() {
    let test = "a_kafka_poison_message_is_parked_while_the_rest_flows_and_replayed_after_a_fix";
    let Some(broker) = kafka_broker(test) else {
        return;
    };
    let kafka = topic(&broker).await;
    let subscription = kafka
        .subscribe("picky", "orders.>")
        .await
        .unwrap()
        .wait(Duration::from_millis(100));
    a_poison_message_is_parked_and_replayed_after_a_fix(kafka, subscription).await;
}
