// Every form a `#[publish]` handler takes: one message, an optional one, several; with and
// without the envelope; subjects with each kind of placeholder.
use eventsmith::outbox::Publication;
use eventsmith::{Event, RecordedEvent, publication};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
#[event(name = "pass.order_placed")]
struct OrderPlaced {
    order: String,
    region: String,
}

#[derive(Debug, Serialize, Deserialize, Event)]
#[event(name = "pass.order_paid")]
struct OrderPaid {
    order: String,
}

#[derive(Debug, Serialize, Deserialize, Event)]
#[event(name = "pass.order_shipped")]
struct OrderShipped {
    parcels: u32,
}

#[derive(Debug, Serialize, Deserialize, Event)]
#[event(name = "pass.orders.placed")]
struct Placed {
    order: String,
    region: String,
}

#[derive(Debug, Serialize, Deserialize, Event)]
#[event(name = "pass.orders.paid")]
struct Paid {
    order: String,
}

#[derive(Debug, Serialize, Deserialize, Event)]
#[event(name = "pass.orders.parcel")]
struct Parcel {
    number: u32,
}

struct Contract;

#[publication(name = "pass.orders", crate = ::eventsmith)]
impl Contract {
    #[publish(subject = "orders.{tenant}.{region}.placed")]
    fn placed(&self, event: &OrderPlaced) -> Placed {
        Placed {
            order: event.order.clone(),
            region: event.region.clone(),
        }
    }

    #[publish(subject = "orders.paid")]
    fn paid(&self, event: &OrderPaid, envelope: &RecordedEvent) -> Option<Paid> {
        (envelope.stream_version > 1).then(|| Paid {
            order: event.order.clone(),
        })
    }

    #[eventsmith::publish(subject = "orders.{stream}.parcels.{number}")]
    fn shipped(&self, event: &OrderShipped) -> Vec<Parcel> {
        (1..=event.parcels).map(|number| Parcel { number }).collect()
    }

    /// Not a handler: left as it is.
    fn helper(&self) -> u32 {
        1
    }
}

fn main() {
    assert_eq!(<Contract as Publication>::NAME, "pass.orders");
    assert_eq!(Contract::HANDLES.len(), 3);
    assert_eq!(Contract.helper(), 1);
}
