use eventsmith::projection::SqliteConnection;
use eventsmith::{Event, projection};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
struct Opened;

#[derive(Debug, Serialize, Deserialize, Event)]
struct Closed;

struct Accounts;

// A handler that takes the connection awaits its statements; both are reported.
#[projection(name = "fail.context_handler_is_sync", context = SqliteConnection)]
impl Accounts {
    #[on]
    fn opened(&mut self, _event: &Opened, _db: &SqliteConnection) {}

    #[on]
    fn closed(&mut self, _event: &Closed, _db: &mut SqliteConnection) {}
}

fn main() {}
