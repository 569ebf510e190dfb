use eventsmith::projection::SqliteConnection;
use eventsmith::{Event, projection};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
struct Opened;

struct Count;
struct Total;
struct Mean;

struct Accounts;

// Each mistake is reported, at its token.
#[projection(name = "fail.query_context_mistakes", context = SqliteConnection)]
impl Accounts {
    #[on]
    fn opened(&mut self, _event: &Opened) {}

    // Takes the connection, but is not async.
    #[query]
    fn count(&self, _query: Count, _db: &SqliteConnection) -> u64 {
        0
    }

    // Takes the connection mutably.
    #[query]
    async fn total(&self, _query: Total, _db: &mut SqliteConnection) -> u64 {
        0
    }

    // One parameter too many.
    #[query]
    async fn mean(&self, _query: Mean, _db: &SqliteConnection, _extra: u8) -> u64 {
        0
    }
}

fn main() {}
