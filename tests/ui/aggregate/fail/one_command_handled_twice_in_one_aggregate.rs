use eventsmith::{Command, Event, aggregate};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
struct Opened;

#[derive(Clone, Command)]
struct Open {
    #[command(id)]
    id: String,
}

#[derive(Default)]
struct Door;

#[aggregate]
impl Door {
    #[handle]
    fn open(&self, _cmd: Open) -> Opened {
        Opened
    }

    #[handle]
    fn open_again(&self, _cmd: Open) -> Opened {
        Opened
    }

    #[apply]
    fn opened(&mut self, _event: &Opened) {}

    #[apply]
    fn opened_again(&mut self, _event: &Opened) {}
}

fn main() {}
