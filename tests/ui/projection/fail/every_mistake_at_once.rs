use eventsmith::{Event, projection};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
struct Opened;

#[derive(Default)]
struct Totals;

#[projection(nmae = "x", name = "a", name = "b")]
impl Totals {
    #[on(fast)]
    fn first(&mut self, _event: &Opened) {}

    #[on]
    fn second(&mut self, _event: &Opened) {}

    #[on]
    async fn asynchronous(&mut self, _event: &Opened) {}

    #[on]
    fn by_value(&mut self, _event: Opened) {}

    #[on]
    fn shared_self(&self, _event: &Opened) {}

    #[on]
    fn no_event(&mut self) {}
}

fn main() {}
