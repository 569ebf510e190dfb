//! The consuming service of the command fault test: each parcel message becomes a command
//! on the order's tally, which records the message's position. Shared by the test and the
//! consumer process it kills.

use eventsmith::outbox::Commands;
use eventsmith::{Command, CommandError, Event, SqliteStore, aggregate, projection};
use serde::{Deserialize, Serialize};

use super::outbox_orders::ParcelShipped;

/// A parcel counted on its order's tally, with the position of the event it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "it.tally.counted")]
pub(crate) struct Counted {
    pub(crate) position: u64,
}

#[derive(Debug, Clone, Command)]
pub(crate) struct Count {
    #[command(id)]
    pub(crate) order: String,
    pub(crate) position: u64,
}

/// An order's parcels as counted.
#[derive(Debug, Default)]
pub(crate) struct Tally;

#[aggregate(name = "it.Tally")]
impl Tally {
    #[handle]
    fn count(&self, cmd: Count) -> Counted {
        Counted {
            position: cmd.position,
        }
    }

    #[apply]
    fn counted(&mut self, _event: &Counted) {}
}

/// Sends a `Count` per parcel message.
#[derive(Default)]
pub(crate) struct Tallying;

#[projection(name = "it.fault_tallying", context = Commands<SqliteStore>)]
impl Tallying {
    #[on]
    async fn parcel(
        &mut self,
        message: &ParcelShipped,
        commands: &mut Commands<SqliteStore>,
    ) -> Result<(), CommandError<std::convert::Infallible>> {
        commands
            .send(Count {
                order: message.order.clone(),
                position: message.position,
            })
            .await
            .map(drop)
    }
}
