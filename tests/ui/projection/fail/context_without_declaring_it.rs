use eventsmith::{Event, projection};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
struct Opened;

struct Db;

#[derive(Default)]
struct Totals;

#[projection]
impl Totals {
    #[on]
    fn opened(&mut self, _event: &Opened, _db: &Db) {}
}

fn main() {}
