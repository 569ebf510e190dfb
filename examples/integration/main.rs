//! Two services and a broker: the orders service publishes integration messages to NATS
//! JetStream through a relay that reads its event log (the log is the outbox); the shipping
//! service consumes them into its own SQLite read model with two members of one consumer
//! group, and books each parcel with the carrier by a command from a second group (a
//! consumer that sends commands), each message's effect once.
//!
//! Run with `cargo run --example integration` against NATS with JetStream at
//! `EVENTSMITH_NATS_URL` (default `nats://127.0.0.1:4222`);
//! `EVENTSMITH_INTEGRATION_BROKER=redis` runs it on Redis Streams (`EVENTSMITH_REDIS_URL`,
//! default `redis://127.0.0.1:6379`), `EVENTSMITH_INTEGRATION_BROKER=kafka` on Kafka
//! (`EVENTSMITH_KAFKA_BROKERS`, default `127.0.0.1:9092`; two partitions, a member each). The two services keep their
//! files (`integration-orders.db`, `integration-shipping.db`, or in
//! `EVENTSMITH_INTEGRATION_DIR`); run it again and both resume where they were. The orders
//! service writes its contract as JSON Schema beside them (`integration-orders.schema.json`).

mod orders;
mod shipping;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use eventsmith::outbox::{
    Consumer, KafkaTransport, NatsTransport, RedisTransport, Relay, Subscription, Transport,
    contract_schema,
};
use eventsmith::rusqlite::Connection;
use eventsmith::store::EventLog as _;
use eventsmith::{App, SqliteStore, Uuid};

use crate::orders::{OrdersContract, PlaceOrder, ShipOrder};
use crate::shipping::{Booking, Dispatch, Shipping, TABLES};

type Error = Box<dyn std::error::Error>;

fn var(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let dir = PathBuf::from(var("EVENTSMITH_INTEGRATION_DIR", "."));
    // The broker, and the two members of the consumer group `shipping` on it.
    match var("EVENTSMITH_INTEGRATION_BROKER", "nats").as_str() {
        "nats" => {
            let nats = NatsTransport::connect(&var("EVENTSMITH_NATS_URL", "nats://127.0.0.1:4222"))
                .await?;
            // The stream keeps the messages; an id seen in the last two minutes is dropped.
            let window = Duration::from_secs(120);
            nats.ensure_stream("EXAMPLE_ORDERS", &["example.orders.>"], window)
                .await?;
            let member = async || {
                let ack_wait = Duration::from_secs(30);
                nats.subscribe("EXAMPLE_ORDERS", "shipping", "example.orders.>", ack_wait)
                    .await
                    .map(|s| s.wait(Duration::from_millis(200)))
            };
            let members = [member().await?, member().await?];
            let dispatch = nats
                .subscribe(
                    "EXAMPLE_ORDERS",
                    "dispatch",
                    "example.orders.*.shipped",
                    Duration::from_secs(30),
                )
                .await?
                .wait(Duration::from_millis(200));
            services(&dir, nats.clone(), members, dispatch).await
        }
        "redis" => {
            let url = var("EVENTSMITH_REDIS_URL", "redis://127.0.0.1:6379");
            let redis = RedisTransport::connect(&url, "example:orders").await?;
            let member = async |name: &str| {
                let idle = Duration::from_secs(30);
                redis
                    .subscribe("shipping", name, "example.orders.>", idle)
                    .await
                    .map(|s| s.wait(Duration::from_millis(200)))
            };
            let members = [member("shipping-1").await?, member("shipping-2").await?];
            let dispatch = redis
                .subscribe(
                    "dispatch",
                    "dispatch-1",
                    "example.orders.*.shipped",
                    Duration::from_secs(30),
                )
                .await?
                .wait(Duration::from_millis(200));
            services(&dir, redis.clone(), members, dispatch).await
        }
        "kafka" => {
            let brokers = var("EVENTSMITH_KAFKA_BROKERS", "127.0.0.1:9092");
            let kafka = KafkaTransport::connect(&brokers, "example-orders", 2).await?;
            let member = async |index: usize| {
                kafka
                    .subscribe("shipping", "example.orders.>")
                    .await
                    .map(|s| s.member(index, 2).wait(Duration::from_millis(50)))
            };
            let members = [member(0).await?, member(1).await?];
            let dispatch = kafka
                .subscribe("dispatch", "example.orders.*.shipped")
                .await?
                .wait(Duration::from_millis(50));
            services(&dir, kafka.clone(), members, dispatch).await
        }
        other => Err(format!(
            "EVENTSMITH_INTEGRATION_BROKER=`{other}`: say `nats`, `redis` or `kafka`"
        )
        .into()),
    }
}

/// The two services on `broker`; the shipping service's group has `members`, its dispatch
/// desk reads `dispatch`.
async fn services<T: Transport, S: Subscription>(
    dir: &Path,
    broker: T,
    members: [S; 2],
    dispatch: S,
) -> Result<(), Error> {
    // The orders service: commands, its log, and the relay that publishes from it.
    let orders = SqliteStore::open(dir.join("integration-orders.db"))?;
    let app = App::new(orders.clone())?;
    let relay = Relay::new(orders.clone(), OrdersContract, broker)
        .start()
        .await?;
    let run = Uuid::now_v7().simple().to_string();
    let mut parcels = 0;
    let mut placed = Vec::new();
    for (i, region) in ["north", "south", "east"].into_iter().enumerate() {
        let order = format!("{}-{i}", &run[24..]);
        placed.push(order.clone());
        app.execute(PlaceOrder {
            order: order.clone(),
            region: region.into(),
            card: "4111 1111 1111 1111".into(),
        })
        .await?;
        let count = 1 + i as u32;
        app.execute(ShipOrder {
            order,
            parcels: count,
        })
        .await?;
        parcels += count;
    }
    relay
        .wait_for(orders.current_head().await?, Duration::from_secs(30))
        .await?;
    println!(
        "orders: 3 orders placed and shipped, {} messages published",
        relay.progress().published
    );

    // The contract, for services not written in Rust.
    let contract = dir.join("integration-orders.schema.json");
    std::fs::write(
        &contract,
        serde_json::to_string_pretty(&contract_schema::<OrdersContract>()?)?,
    )?;
    println!(
        "orders: the contract's JSON Schema is in {}",
        contract.display()
    );

    // The shipping service: its own file, two members of the consumer group `shipping`.
    let shipping_path = dir.join("integration-shipping.db");
    let shipping = SqliteStore::open(&shipping_path)?;
    Connection::open(&shipping_path)?.execute_batch(TABLES)?;
    let mut running = Vec::new();
    for subscription in members {
        running.push(
            Consumer::new(shipping.clone(), Shipping, subscription)
                .start()
                .await?,
        );
    }
    // Its dispatch desk: commands on its own aggregates, in the same file.
    let desk = App::new(shipping.clone())?;
    let dispatch = Consumer::new(desk.clone(), Dispatch, dispatch)
        .start()
        .await?;

    // Wait until this run's parcels are in the shipping service's tables.
    let db = Connection::open(&shipping_path)?;
    let prefix = format!("{}-%", &run[24..]);
    let give_up = Instant::now() + Duration::from_secs(30);
    let arrived = loop {
        let arrived: u32 = db.query_row(
            "SELECT count(*) FROM parcels WHERE order_id LIKE ?1",
            [&prefix],
            |row| row.get(0),
        )?;
        if arrived >= parcels || Instant::now() > give_up {
            break arrived;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut regions = db
        .prepare("SELECT order_id, region FROM to_ship WHERE order_id LIKE ?1 ORDER BY order_id")?;
    for row in regions.query_map([&prefix], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
    })? {
        let (order, region) = row?;
        println!("shipping: order {order} to ship in the {region}");
    }
    for (i, member) in running.into_iter().enumerate() {
        let progress = member.progress();
        println!(
            "shipping: member {} handled {} messages ({} already in its inbox)",
            i + 1,
            progress.handled,
            progress.duplicates
        );
        member.stop().await?;
    }
    // Wait until this run's parcels are booked with the carrier.
    let give_up = Instant::now() + Duration::from_secs(30);
    let booked = loop {
        let mut booked = 0;
        for order in &placed {
            booked += desk.load::<Booking>(order).await?.0.parcels;
        }
        if booked >= parcels || Instant::now() > give_up {
            break booked;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let progress = dispatch.progress();
    println!(
        "dispatch: {booked} parcels booked with the carrier from {} messages ({} repeats recognised by their keys)",
        progress.handled, progress.duplicates
    );
    dispatch.stop().await?;
    relay.stop().await?;
    if arrived != parcels {
        return Err(format!("{arrived} of {parcels} parcels arrived").into());
    }
    if booked != parcels {
        return Err(format!("{booked} of {parcels} parcels booked").into());
    }
    println!("shipping: all {parcels} parcels of this run arrived and were booked, each once");
    Ok(())
}
