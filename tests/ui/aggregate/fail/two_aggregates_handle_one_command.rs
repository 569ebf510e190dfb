use eventsmith::{Command, Event, aggregate};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
struct Pinged;

#[derive(Clone, Command)]
struct Ping {
    #[command(id)]
    id: String,
}

#[derive(Default)]
struct First;

#[aggregate]
impl First {
    #[handle]
    fn ping(&self, _cmd: Ping) -> Pinged {
        Pinged
    }

    #[apply]
    fn pinged(&mut self, _event: &Pinged) {}
}

#[derive(Default)]
struct Second;

#[aggregate]
impl Second {
    #[handle]
    fn ping(&self, _cmd: Ping) -> Pinged {
        Pinged
    }

    #[apply]
    fn pinged(&mut self, _event: &Pinged) {}
}

fn main() {}
