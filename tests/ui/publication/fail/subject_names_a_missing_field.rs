// A placeholder names a field of the message; a field it lacks is reported at the subject.
use eventsmith::{Event, publication};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
struct Placed {
    region: String,
}

#[derive(Debug, Serialize, Deserialize, Event)]
struct PlacedV1 {
    area: String,
}

struct Contract;

#[publication(name = "fail.missing_field")]
impl Contract {
    #[publish(subject = "orders.{region}.placed")]
    fn placed(&self, event: &Placed) -> PlacedV1 {
        PlacedV1 {
            area: event.region.clone(),
        }
    }
}

fn main() {}
