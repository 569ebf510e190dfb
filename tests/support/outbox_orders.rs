//! The orders domain of the outbox tests: an aggregate whose events the contract turns into
//! integration messages. Shared by the tests and the relay process the crash test kills.

use eventsmith::{Command, Event, RecordedEvent, aggregate, publication};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "it.outbox.order_placed")]
pub(crate) struct OrderPlaced {
    pub(crate) order: String,
    pub(crate) region: String,
    pub(crate) total: u64,
    pub(crate) card: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "it.outbox.order_shipped")]
pub(crate) struct OrderShipped {
    pub(crate) order: String,
    pub(crate) parcels: u32,
}

/// The public shape of a placement: no card number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "it.orders.placed", version = 1)]
pub(crate) struct Placed {
    pub(crate) order: String,
    pub(crate) region: String,
    pub(crate) total: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "it.orders.parcel_shipped")]
pub(crate) struct ParcelShipped {
    pub(crate) order: String,
    pub(crate) parcel: u32,
    pub(crate) position: u64,
}

#[derive(Debug, Clone, Command)]
pub(crate) struct PlaceOrder {
    #[command(id)]
    pub(crate) order: String,
    pub(crate) region: String,
    pub(crate) total: u64,
}

#[derive(Debug, Clone, Command)]
pub(crate) struct ShipOrder {
    #[command(id)]
    pub(crate) order: String,
    pub(crate) parcels: u32,
}

#[derive(Debug, Default)]
pub(crate) struct OutboxOrder;

#[aggregate(name = "OutboxOrder")]
impl OutboxOrder {
    #[handle]
    fn place(&self, cmd: PlaceOrder) -> OrderPlaced {
        OrderPlaced {
            order: cmd.order,
            region: cmd.region,
            total: cmd.total,
            card: "4111 1111 1111 1111".into(),
        }
    }

    #[handle]
    fn ship(&self, cmd: ShipOrder) -> OrderShipped {
        OrderShipped {
            order: cmd.order,
            parcels: cmd.parcels,
        }
    }

    #[apply]
    fn placed(&mut self, _event: &OrderPlaced) {}

    #[apply]
    fn shipped(&mut self, _event: &OrderShipped) {}
}

pub(crate) struct OrdersContract;

#[publication(name = "it.orders.public")]
impl OrdersContract {
    #[publish(subject = "orders.{tenant}.{region}.placed")]
    fn placed(&self, event: &OrderPlaced) -> Option<Placed> {
        // Test orders stay inside.
        (!event.order.starts_with("test-")).then(|| Placed {
            order: event.order.clone(),
            region: event.region.clone(),
            total: event.total,
        })
    }

    #[publish(subject = "orders.{stream}.shipped")]
    fn shipped(&self, event: &OrderShipped, envelope: &RecordedEvent) -> Vec<ParcelShipped> {
        (1..=event.parcels)
            .map(|parcel| ParcelShipped {
                order: event.order.clone(),
                parcel,
                position: envelope.global_position,
            })
            .collect()
    }
}
