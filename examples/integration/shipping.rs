//! The shipping service: its own SQLite read model of the orders service's messages. The
//! inbox beside it makes each message's rows appear once, however often it is delivered.

use eventsmith::projection;
use eventsmith::projection::SqliteConnection;
use eventsmith::rusqlite;

use crate::orders::{ParcelShipped, Placed};

/// The tables the consumer writes.
pub(crate) const TABLES: &str = "
    CREATE TABLE IF NOT EXISTS to_ship (order_id TEXT PRIMARY KEY, region TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS parcels (order_id TEXT NOT NULL, parcel INTEGER NOT NULL);
";

#[derive(Default)]
pub(crate) struct Shipping;

#[projection(name = "shipping.from_orders", context = SqliteConnection)]
impl Shipping {
    #[on]
    async fn placed(&mut self, message: &Placed, db: &SqliteConnection) -> rusqlite::Result<()> {
        db.execute(
            "INSERT INTO to_ship (order_id, region) VALUES (?1, ?2)",
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
