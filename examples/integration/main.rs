//! Two services and a broker: the orders service publishes integration messages to NATS
//! JetStream through a relay that reads its event log (the log is the outbox); the shipping
//! service consumes them into its own SQLite read model with two members of one consumer
//! group, each message's effect once.
//!
//! Run with `cargo run --example integration` against NATS with JetStream at
//! `EVENTSMITH_NATS_URL` (default `nats://127.0.0.1:4222`). The two services keep their
//! files (`integration-orders.db`, `integration-shipping.db`, or in
//! `EVENTSMITH_INTEGRATION_DIR`); run it again and both resume where they were. The orders
//! service writes its contract as JSON Schema beside them (`integration-orders.schema.json`).

mod orders;
mod shipping;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use eventsmith::outbox::{Consumer, NatsTransport, Relay, contract_schema};
use eventsmith::rusqlite::Connection;
use eventsmith::store::EventLog as _;
use eventsmith::{App, SqliteStore, Uuid};

use crate::orders::{OrdersContract, PlaceOrder, ShipOrder};
use crate::shipping::{Shipping, TABLES};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir =
        PathBuf::from(std::env::var("EVENTSMITH_INTEGRATION_DIR").unwrap_or_else(|_| ".".into()));
    let url =
        std::env::var("EVENTSMITH_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let nats = NatsTransport::connect(&url).await?;
    // The stream keeps the messages; a message id seen in the last two minutes is dropped.
    nats.ensure_stream(
        "EXAMPLE_ORDERS",
        &["example.orders.>"],
        Duration::from_secs(120),
    )
    .await?;

    // The orders service: commands, its log, and the relay that publishes from it.
    let orders = SqliteStore::open(dir.join("integration-orders.db"))?;
    let app = App::new(orders.clone())?;
    let relay = Relay::new(orders.clone(), OrdersContract, nats.clone())
        .start()
        .await?;
    let run = Uuid::now_v7().simple().to_string();
    let mut parcels = 0;
    for (i, region) in ["north", "south", "east"].into_iter().enumerate() {
        let order = format!("{}-{i}", &run[24..]);
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
    let mut members = Vec::new();
    for _ in 0..2 {
        let subscription = nats
            .subscribe(
                "EXAMPLE_ORDERS",
                "shipping",
                "example.orders.>",
                Duration::from_secs(30),
            )
            .await?
            .wait(Duration::from_millis(200));
        members.push(
            Consumer::new(shipping.clone(), Shipping, subscription)
                .start()
                .await?,
        );
    }

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
    for (i, member) in members.into_iter().enumerate() {
        let progress = member.progress();
        println!(
            "shipping: member {} handled {} messages ({} already in its inbox)",
            i + 1,
            progress.handled,
            progress.duplicates
        );
        member.stop().await?;
    }
    relay.stop().await?;
    if arrived != parcels {
        return Err(format!("{arrived} of {parcels} parcels arrived").into());
    }
    println!("shipping: all {parcels} parcels of this run arrived, each once");
    Ok(())
}
