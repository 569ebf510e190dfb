use std::time::Duration;

use eventsmith::process::Steps;
use eventsmith::{Event, saga};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
struct Opened {
    ticket: String,
}

#[derive(Serialize, Deserialize)]
struct Forgotten;

#[derive(Default, Serialize, Deserialize)]
struct Support;

#[saga(name = "fail.deadline")]
impl Support {
    #[start(key = ticket)]
    fn opened(&mut self, _event: &Opened, steps: &mut Steps<Self>) {
        steps.schedule(Duration::from_secs(1), Forgotten);
    }
}

fn main() {}
