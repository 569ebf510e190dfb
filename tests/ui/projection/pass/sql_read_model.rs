use eventsmith::rusqlite::Connection;
use eventsmith::{Event, Projection, RecordedEvent, projection};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
struct Opened {
    owner: String,
}

#[derive(Debug, Serialize, Deserialize, Event)]
struct Closed;

#[derive(Debug, Serialize, Deserialize, Event)]
struct Renamed;

struct Accounts;

#[projection(name = "pass.sql_read_model", context = Connection)]
impl Accounts {
    /// Context only.
    #[on]
    fn opened(&mut self, event: &Opened, db: &Connection) -> eventsmith::rusqlite::Result<()> {
        db.execute("INSERT INTO accounts (owner) VALUES (?1)", [&event.owner])?;
        Ok(())
    }

    /// Envelope, then a mutable context.
    #[on]
    fn closed(&mut self, _event: &Closed, _envelope: &RecordedEvent, _db: &mut Connection) {}

    /// Context before the envelope, and no context at all are fine too.
    #[on]
    fn renamed(&mut self, _event: &Renamed, _db: &Connection, _envelope: &RecordedEvent) {}
}

fn takes_a_connection<P: Projection<Context = Connection>>() {}

fn main() {
    takes_a_connection::<Accounts>();
}
