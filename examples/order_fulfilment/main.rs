//! Order fulfilment with a saga: for each order placed, the fulfilment saga reserves the
//! stock, asks the payment provider, and ships when it approves. When the payment is
//! declined, or the provider does not answer before the deadline, it undoes what it did in
//! reverse: the stock is released, then the order cancelled.
//!
//! Run with `cargo run --example order_fulfilment` (a SQLite file, `order_fulfilment.db`);
//! run it again and it resumes: the saga's position, instances and deadlines are in the file.

#[allow(dead_code, reason = "the example uses part of the domain")]
mod domain;

use std::time::Duration;

use eventsmith::process::SagaRunner;
use eventsmith::{App, SqliteStore};

use crate::domain::{
    AddStock, Fulfilment, Inventory, Order, PAYMENT_TIMEOUT, Payment, PlaceOrder, SettlePayment,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::var("EVENTSMITH_SAGA_EXAMPLE_DB")
        .unwrap_or_else(|_| "order_fulfilment.db".to_owned());
    let store = SqliteStore::open(&path)?;
    let app = App::new(store.clone())?;
    let running = SagaRunner::<_, Fulfilment, _>::new(store, app.clone())
        .poll_interval(Duration::from_millis(50))
        .start()
        .await?;
    println!(
        "{path}: the fulfilment saga resumes after position {}",
        running.progress().position
    );

    app.execute(AddStock {
        item: "lamp".into(),
        quantity: 10,
    })
    .await?;
    let run = eventsmith::Uuid::now_v7().simple().to_string();
    let orders: Vec<(String, &str)> = ["approved", "declined", "unanswered", "over the limit"]
        .iter()
        .enumerate()
        .map(|(i, case)| (format!("{}-{i}", &run[24..]), *case))
        .collect();
    for (order, case) in &orders {
        let amount = if *case == "over the limit" {
            50_000
        } else {
            120
        };
        app.execute(PlaceOrder {
            order: order.clone(),
            item: "lamp".into(),
            quantity: 1,
            amount,
        })
        .await?;
    }

    // The payment provider answers two of the requests it receives.
    for (order, case) in &orders {
        let approved = match *case {
            "approved" => true,
            "declined" => false,
            _ => continue,
        };
        wait_until(|| async {
            app.load::<Payment>(order)
                .await
                .is_ok_and(|(p, _)| p.pending)
        })
        .await?;
        app.execute(SettlePayment {
            order: order.clone(),
            approved,
        })
        .await?;
    }

    // Every order ends shipped or cancelled; the unanswered one after the deadline.
    for (order, case) in &orders {
        wait_until(|| async {
            app.load::<Order>(order)
                .await
                .is_ok_and(|(o, _)| o.shipped || o.cancelled)
        })
        .await?;
        let (state, _) = app.load::<Order>(order).await?;
        let outcome = if state.shipped {
            "shipped"
        } else {
            "cancelled"
        };
        println!("order {order} ({case}): {outcome}");
    }
    let (lamps, _) = app.load::<Inventory>("lamp").await?;
    println!(
        "lamps: {} available, {} reserved (each shipped order keeps one reserved)",
        lamps.available, lamps.reserved
    );
    let progress = running.progress();
    println!(
        "saga: {} started, {} ended, {} commands sent, {} rejected, {} deadlines fired",
        progress.started, progress.ended, progress.sent, progress.rejected, progress.fired
    );
    running.stop().await?;
    Ok(())
}

/// Polls `check` until it holds, for at most the payment timeout and a margin.
async fn wait_until<F, Fut>(check: F) -> Result<(), String>
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    let give_up = tokio::time::Instant::now() + PAYMENT_TIMEOUT + Duration::from_secs(10);
    while !check().await {
        if tokio::time::Instant::now() > give_up {
            return Err("the saga did not get there in time".to_owned());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}
