//! The consuming service of the outbox fault tests: a row per parcel message, in the order
//! handled. Shared by the tests and the consumer process the Redis fault test kills.

use eventsmith::projection;
use eventsmith::projection::SqliteConnection;
use eventsmith::rusqlite;

use super::outbox_orders::ParcelShipped;

/// The read model's table.
pub(crate) const RECEIVED_TABLE: &str =
    "CREATE TABLE received (order_id TEXT NOT NULL, position INTEGER NOT NULL);
     CREATE INDEX received_by_order ON received (order_id);";

/// A row per parcel message, in the order handled.
#[derive(Default)]
pub(crate) struct Received;

#[projection(name = "it.fault_shipping", context = SqliteConnection)]
impl Received {
    #[on]
    async fn parcel(
        &mut self,
        message: &ParcelShipped,
        db: &SqliteConnection,
    ) -> rusqlite::Result<()> {
        db.execute(
            "INSERT INTO received (order_id, position) VALUES (?1, ?2)",
            (
                message.order.clone(),
                i64::try_from(message.position).unwrap_or(i64::MAX),
            ),
        )
        .await
        .map(drop)
    }
}
