use eventsmith::{Command, Event, aggregate};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
struct Opened;

#[derive(Clone, Command)]
struct Open {
    #[command(id)]
    id: String,
}

#[derive(Clone, Command)]
struct Shut {
    #[command(id)]
    id: String,
}

#[derive(Clone, Command)]
struct Lock {
    #[command(id)]
    id: String,
}

#[derive(Default)]
struct Door;

#[aggregate]
impl Door {
    // Three mistakes, three errors in one compile.
    #[handle]
    fn open(&self, _cmd: &Open) -> Opened {
        Opened
    }

    #[handle]
    fn shut(&mut self, _cmd: Shut) -> Opened {
        Opened
    }

    #[handle]
    fn lock(&self, _cmd: Lock, _extra: u8) -> Opened {
        Opened
    }

    #[apply]
    fn opened(&mut self, _event: &Opened) {}
}

fn main() {}
