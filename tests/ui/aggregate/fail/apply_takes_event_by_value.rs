use eventsmith::{Event, aggregate};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
struct Opened;

#[derive(Default)]
struct Door;

#[aggregate]
impl Door {
    #[apply]
    fn opened(&mut self, _event: Opened) {}
}

fn main() {}
