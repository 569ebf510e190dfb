//! The orders service: an `Order` aggregate whose domain events stay inside, and the
//! contract it publishes — versioned integration messages on subjects, without the card.

use eventsmith::{Command, Event, RecordedEvent, aggregate, publication};
use serde::{Deserialize, Serialize};

// Domain events: the service's own, free to change.

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "orders.order_placed")]
pub(crate) struct OrderPlaced {
    pub(crate) order: String,
    pub(crate) region: String,
    pub(crate) card: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "orders.order_shipped")]
pub(crate) struct OrderShipped {
    pub(crate) order: String,
    pub(crate) parcels: u32,
}

#[derive(Debug, Clone, Command)]
pub(crate) struct PlaceOrder {
    #[command(id)]
    pub(crate) order: String,
    pub(crate) region: String,
    pub(crate) card: String,
}

#[derive(Debug, Clone, Command)]
pub(crate) struct ShipOrder {
    #[command(id)]
    pub(crate) order: String,
    pub(crate) parcels: u32,
}

#[derive(Debug, Default)]
pub(crate) struct Order {
    placed: bool,
}

#[aggregate]
impl Order {
    #[handle]
    fn place(&self, cmd: PlaceOrder) -> OrderPlaced {
        OrderPlaced {
            order: cmd.order,
            region: cmd.region,
            card: cmd.card,
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
    fn placed(&mut self, _event: &OrderPlaced) {
        self.placed = true;
    }

    #[apply]
    fn shipped(&mut self, _event: &OrderShipped) {}
}

// Integration messages: the public contract, versioned; other services depend on it.

/// An order was placed (no card number leaves the service).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "orders.placed")]
pub(crate) struct Placed {
    pub(crate) order: String,
    pub(crate) region: String,
}

/// One parcel of an order left the warehouse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "orders.parcel_shipped")]
pub(crate) struct ParcelShipped {
    pub(crate) order: String,
    pub(crate) parcel: u32,
}

/// What the orders service publishes, and where.
pub(crate) struct OrdersContract;

#[publication(name = "orders.public")]
impl OrdersContract {
    #[publish(subject = "example.orders.{region}.placed")]
    fn placed(&self, event: &OrderPlaced) -> Placed {
        Placed {
            order: event.order.clone(),
            region: event.region.clone(),
        }
    }

    #[publish(subject = "example.orders.{stream}.shipped")]
    fn shipped(&self, event: &OrderShipped, _envelope: &RecordedEvent) -> Vec<ParcelShipped> {
        (1..=event.parcels)
            .map(|parcel| ParcelShipped {
                order: event.order.clone(),
                parcel,
            })
            .collect()
    }
}
