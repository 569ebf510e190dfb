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

/// How many accounts were opened.
struct CountOpened;

/// How many audits this process handled.
struct CountAudits;

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

    /// A query through the connection, awaited.
    #[query]
    async fn count_opened(
        &self,
        _query: CountOpened,
        db: &SqliteConnection,
    ) -> eventsmith::rusqlite::Result<i64> {
        db.call(|conn| conn.query_row("SELECT count(*) FROM accounts", [], |r| r.get(0)))
            .await
    }

    /// A query of the model itself, synchronous.
    #[query]
    fn count_audits(&self, _query: CountAudits) -> u32 {
        self.audits
    }
}

fn takes_a_connection<P: Projection<Context = SqliteConnection>>() {}

fn main() {
    takes_a_connection::<Accounts>();
}
