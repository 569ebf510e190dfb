//! A consumer whose read model and inbox are in PostgreSQL: two members of a group on two
//! handles of one schema (as two processes would have) apply each message once, and a
//! re-publication is recognised by the inbox, which records every message once.

use std::time::{Duration, Instant};

use eventsmith::outbox::{Consumer, RunningConsumer};
use eventsmith::projection::PgConnection;
use eventsmith::store::ConsumerStore as _;
use eventsmith::{App, SqliteStore, Uuid, projection};

use crate::outbox_consumer::settle;
use crate::outbox_relay::domain::{ParcelShipped, Placed};
use crate::outbox_relay::{expected_messages, place_and_ship, relay_all, republish_all};
use crate::services::{pg_second_handle, pg_store, raw_client, redis_transport};

/// The shipping service's read model in PostgreSQL: a row per order announced and per
/// parcel, in the tables of `schema`.
struct PgShipping {
    schema: String,
}

#[projection(name = "it.pg_shipping", context = PgConnection)]
impl PgShipping {
    #[on]
    async fn placed(
        &mut self,
        message: &Placed,
        db: &PgConnection,
    ) -> Result<(), tokio_postgres::Error> {
        let sql = format!(
            "INSERT INTO \"{}\".announced (order_id, region) VALUES ($1, $2)",
            self.schema
        );
        db.execute(&sql, &[&message.order, &message.region])
            .await
            .map(drop)
    }

    #[on]
    async fn parcel(
        &mut self,
        message: &ParcelShipped,
        db: &PgConnection,
    ) -> Result<(), tokio_postgres::Error> {
        let sql = format!(
            "INSERT INTO \"{}\".parcels (order_id, parcel) VALUES ($1, $2)",
            self.schema
        );
        db.execute(&sql, &[&message.order, &i64::from(message.parcel)])
            .await
            .map(drop)
    }
}

async fn count(db: &tokio_postgres::Client, sql: &str) -> usize {
    let n: i64 = db.query_one(sql, &[]).await.unwrap().get(0);
    usize::try_from(n).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_with_its_inbox_in_postgres_applies_each_message_once() {
    let test = "a_group_with_its_inbox_in_postgres_applies_each_message_once";
    let key = format!("it:pg_inbox:{}", Uuid::now_v7().simple());
    let Some(redis) = redis_transport(test, &key).await else {
        return;
    };
    let Some(shipping) = pg_store(test).await else {
        return;
    };
    let schema = shipping.schema().to_owned();
    let db = raw_client().await;
    db.batch_execute(&format!(
        "CREATE TABLE \"{schema}\".announced (order_id text NOT NULL, region text NOT NULL);
         CREATE TABLE \"{schema}\".parcels (order_id text NOT NULL, parcel bigint NOT NULL);"
    ))
    .await
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let orders = SqliteStore::open(dir.path().join("orders.db")).unwrap();
    place_and_ship(&App::new(orders.clone()).unwrap(), 0..40).await;
    let mut members = Vec::new();
    for (member, handle) in [
        ("a", shipping.clone()),
        ("b", pg_second_handle(&shipping, test).await),
    ] {
        let subscription = redis
            .subscribe("shipping", member, "orders.>", Duration::from_secs(5))
            .await
            .unwrap()
            .wait(Duration::from_millis(100));
        let model = PgShipping {
            schema: schema.clone(),
        };
        members.push(
            Consumer::new(handle, model, subscription)
                .batch_size(8)
                .start()
                .await
                .unwrap(),
        );
    }
    // Published while both members wait, so they share it.
    relay_all(&orders, redis.clone()).await;
    let expected = expected_messages(40);
    let rows = format!(
        "SELECT (SELECT count(*) FROM \"{schema}\".announced)
              + (SELECT count(*) FROM \"{schema}\".parcels)"
    );
    settle(&members, expected as u64, "first delivery").await;
    assert_eq!(count(&db, &rows).await, expected);

    // Published again: new entries, recognised by the inbox.
    republish_all(&orders, redis.clone()).await;
    settle(&members, 2 * expected as u64, "the copies").await;
    let give_up = Instant::now() + Duration::from_secs(5);
    let progress = loop {
        let progress: Vec<_> = members.iter().map(RunningConsumer::progress).collect();
        if progress.iter().map(|p| p.duplicates).sum::<u64>() >= expected as u64
            || Instant::now() > give_up
        {
            break progress;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        progress.iter().map(|p| p.handled).sum::<u64>(),
        expected as u64,
        "{progress:?}"
    );
    assert_eq!(
        progress.iter().map(|p| p.duplicates).sum::<u64>(),
        expected as u64,
        "{progress:?}"
    );
    assert!(
        progress.iter().all(|p| p.handled > 0),
        "both members took a share: {progress:?}"
    );
    assert_eq!(count(&db, &rows).await, expected, "each effect once");
    let inbox =
        format!("SELECT count(*) FROM \"{schema}\".inbox WHERE consumer = 'it.pg_shipping'");
    assert_eq!(count(&db, &inbox).await, expected);
    // The members' progress is the broker's and the inbox's: no checkpoint row to fight over.
    assert_eq!(
        shipping.load_checkpoint("it.pg_shipping").await.unwrap(),
        None
    );
    for member in members {
        member.stop().await.unwrap();
    }
    shipping.drop_schema().await.unwrap();
}
