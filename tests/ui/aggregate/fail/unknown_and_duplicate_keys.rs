use eventsmith::{Event, aggregate};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
struct Opened;

#[derive(Default)]
struct Door;

#[aggregate(nmae = "door", name = "a", name = "b", events = DoorEvents, colour = "red")]
impl Door {
    #[apply(fast)]
    fn opened(&mut self, _event: &Opened) {}
}

fn main() {}
