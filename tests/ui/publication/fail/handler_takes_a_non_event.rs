// A handler takes a domain event: a type that derives `Event`.
use eventsmith::{Event, publication};
use serde::{Deserialize, Serialize};

struct NotAnEvent;

#[derive(Debug, Serialize, Deserialize, Event)]
struct Placed;

struct Contract;

#[publication(name = "fail.non_event")]
impl Contract {
    #[publish(subject = "orders.placed")]
    fn placed(&self, _event: &NotAnEvent) -> Placed {
        Placed
    }
}

fn main() {}
