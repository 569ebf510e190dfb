//! The shipping service: its own SQLite read model of the orders service's messages, and a
//! dispatch desk that books the parcels with the carrier by commands on its own aggregates.
//! The inbox beside the read model makes each message's rows appear once, however often it
//! is delivered; the commands' idempotency keys do the same for the bookings.

use eventsmith::outbox::Commands;
use eventsmith::projection::SqliteConnection;
use eventsmith::{Command, CommandError, Event, SqliteStore, aggregate, projection, rusqlite};
use serde::{Deserialize, Serialize};

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

/// A parcel booked with the carrier, in the shipping service's own log.
#[derive(Debug, Serialize, Deserialize, Event)]
#[event(name = "shipping.parcel_booked")]
pub(crate) struct ParcelBooked {
    pub(crate) parcel: u32,
}

#[derive(Debug, Clone, Command)]
pub(crate) struct BookParcel {
    #[command(id)]
    pub(crate) order: String,
    pub(crate) parcel: u32,
}

/// The carrier's bookings of one order's parcels.
#[derive(Debug, Default)]
pub(crate) struct Booking {
    pub(crate) parcels: u32,
}

#[aggregate]
impl Booking {
    #[handle]
    fn book(&self, cmd: BookParcel) -> ParcelBooked {
        ParcelBooked { parcel: cmd.parcel }
    }

    #[apply]
    fn booked(&mut self, _event: &ParcelBooked) {
        self.parcels += 1;
    }
}

/// The dispatch desk: a consumer that acts instead of recording, booking each shipped parcel
/// with the carrier. Its inbox is the idempotency keys of its commands: a message delivered
/// again books nothing twice.
pub(crate) struct Dispatch;

#[projection(name = "shipping.dispatch", context = Commands<SqliteStore>)]
impl Dispatch {
    #[on]
    async fn parcel(
        &mut self,
        message: &ParcelShipped,
        commands: &mut Commands<SqliteStore>,
    ) -> Result<(), CommandError<std::convert::Infallible>> {
        commands
            .send(BookParcel {
                order: message.order.clone(),
                parcel: message.parcel,
            })
            .await
            .map(drop)
    }
}
