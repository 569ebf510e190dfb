use eventsmith::projection::SqliteConnection;
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

#[derive(Debug, Serialize, Deserialize, Event)]
struct Audited;

#[derive(Default)]
struct Accounts {
    audits: u32,
}

#[projection(name = "pass.sql_read_model", context = SqliteConnection)]
impl Accounts {
    /// Context only, awaited.
    #[on]
    async fn opened(
        &mut self,
        event: &Opened,
        db: &SqliteConnection,
    ) -> eventsmith::rusqlite::Result<()> {
        db.execute("INSERT INTO accounts (owner) VALUES (?1)", (event.owner.clone(),))
            .await?;
        Ok(())
    }

    /// Envelope, then a mutable context.
    #[on]
    async fn closed(
        &mut self,
        _event: &Closed,
        _envelope: &RecordedEvent,
        _db: &mut SqliteConnection,
    ) {
    }

    /// Context before the envelope.
    #[on]
    async fn renamed(&mut self, _event: &Renamed, _db: &SqliteConnection, _envelope: &RecordedEvent) {}

    /// No context at all: synchronous is fine too.
    #[on]
    fn audited(&mut self, _event: &Audited) {
        self.audits += 1;
    }
}

fn takes_a_connection<P: Projection<Context = SqliteConnection>>() {}

fn main() {
    takes_a_connection::<Accounts>();
}
