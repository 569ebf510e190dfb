use eventsmith::{Event, projection};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
struct Opened;

struct Db;

#[derive(Default)]
struct Totals;

// Its checkpoint would be kept under the type's name, and a rename would orphan it.
#[projection(context = Db)]
impl Totals {
    #[on]
    async fn opened(&mut self, _event: &Opened, _db: &Db) {}
}

fn main() {}
