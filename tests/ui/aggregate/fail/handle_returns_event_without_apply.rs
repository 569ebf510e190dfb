use eventsmith::{Command, Event, aggregate};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
struct Opened;

#[derive(Debug, Serialize, Deserialize, Event)]
struct Closed;

#[derive(Clone, Command)]
struct Close {
    #[command(id)]
    id: String,
}

#[derive(Default)]
struct Door;

#[aggregate]
impl Door {
    #[handle]
    fn close(&self, _cmd: Close) -> Result<Closed, String> {
        Ok(Closed)
    }

    #[apply]
    fn opened(&mut self, _event: &Opened) {}
}

fn main() {}
