// Version 3 with an upcaster from 2 only: events stored at version 1 could not be read.
use eventsmith::Event;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
#[event(version = 3)]
#[upcast(from = 2, typed = OpenedV2)]
struct Opened {
    owner: String,
}

#[derive(Deserialize)]
struct OpenedV2 {
    owner: String,
}

impl From<OpenedV2> for Opened {
    fn from(old: OpenedV2) -> Self {
        Self { owner: old.owner }
    }
}

fn main() {}
