use eventsmith::{Event, saga};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
struct Opened {
    ticket: String,
}

#[derive(Debug, Serialize, Deserialize, Event)]
struct Closed {
    ticket: String,
}

#[derive(Default, Serialize, Deserialize)]
struct Support;

// No name, no `#[start]`, and each handler has a mistake: all reported in one compile.
#[saga(nmae = "x")]
impl Support {
    #[on]
    fn opened(&mut self, _event: &Opened) {}

    #[on(key = ticket, fast)]
    async fn closed(&mut self, _event: &Closed) {}

    #[end(key = ticket)]
    fn by_value(&mut self, _event: Closed) {}

    #[deadline(soon)]
    fn shared_self(&self, _deadline: &u8) {}
}

fn main() {}
