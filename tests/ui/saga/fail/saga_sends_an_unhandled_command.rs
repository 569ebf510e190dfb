use eventsmith::{Command, Event, saga};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
struct Opened {
    ticket: String,
}

// No aggregate has a `#[handle]` method for it.
#[derive(Debug, Clone, Serialize, Deserialize, Command)]
struct Remind {
    #[command(id)]
    ticket: String,
}

#[derive(Default, Serialize, Deserialize)]
struct Support;

#[saga(name = "fail.unhandled")]
impl Support {
    #[start(key = ticket)]
    fn opened(&mut self, event: &Opened) -> Option<Remind> {
        Some(Remind {
            ticket: event.ticket.clone(),
        })
    }
}

fn main() {}
