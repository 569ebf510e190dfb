use eventsmith::saga;
use serde::{Deserialize, Serialize};

struct NotAnEvent {
    ticket: String,
}

#[derive(Default, Serialize, Deserialize)]
struct Support;

#[saga(name = "fail.non_event")]
impl Support {
    #[start(key = ticket)]
    fn opened(&mut self, _event: &NotAnEvent) {}
}

fn main() {}
