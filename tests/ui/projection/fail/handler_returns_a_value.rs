use eventsmith::{Event, projection};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
struct Opened;

#[derive(Default)]
struct Totals;

#[projection]
impl Totals {
    #[on]
    fn on(&mut self, _event: &Opened) -> u64 {
        1
    }
}

fn main() {}
