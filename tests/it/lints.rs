//! The expansions are clean under the strictest lints a user may set: this file compiles with
//! warnings, unused qualifications and clippy's pedantic group denied, and the restriction
//! lints the expansions could trip (clippy runs over all targets in CI).
#![deny(
    warnings,
    unused_qualifications,
    missing_docs,
    clippy::pedantic,
    // `#[aggregate]` adds a hidden impl block to each handled command.
    clippy::multiple_inherent_impl
)]

use eventsmith::{Command, Event, aggregate};
use serde::{Deserialize, Serialize};

/// An event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "lint.opened", version = 3, renamed_from = ["lint.created"])]
#[upcast(from = 1, json = opened_v1_to_v2)]
#[upcast(from = 2, typed = OpenedV2)]
pub struct Opened {
    /// Who.
    pub owner: String,
}

/// Version 2 of `Opened`.
#[derive(Deserialize)]
pub struct OpenedV2 {
    /// Who.
    pub name: String,
}

impl From<OpenedV2> for Opened {
    fn from(old: OpenedV2) -> Self {
        Self { owner: old.name }
    }
}

/// Version 1 had no name at all.
///
/// # Errors
/// Never.
pub fn opened_v1_to_v2(
    _: eventsmith::upcast::Value,
) -> Result<eventsmith::upcast::Value, eventsmith::upcast::UpcastError> {
    Ok(eventsmith::upcast::json!({"name": "unknown"}))
}

/// Another event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "lint.noted")]
pub struct Noted(pub u32);

/// A command.
#[derive(Debug, Clone, Command)]
pub struct Open {
    /// The target.
    #[command(id)]
    pub id: String,
    /// The key.
    #[command(idempotency_key)]
    pub key: Option<String>,
}

impl Open {
    /// A command of its own impl block.
    #[must_use]
    pub fn new(id: &str) -> Self {
        Self {
            id: id.into(),
            key: None,
        }
    }
}

/// Another command.
#[derive(Debug, Clone, Command)]
pub struct Note(#[command(id)] pub u64);

/// A rejection.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// Already open.
    AlreadyOpen,
}

/// An aggregate.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Ledger {
    open: bool,
    notes: u32,
}

#[aggregate(
    name = "lint.ledger",
    events = LedgerHappened,
    snapshot_every = 2,
    snapshot_version = 3
)]
impl Ledger {
    /// Opens.
    ///
    /// # Errors
    /// When already open.
    #[handle]
    pub fn open(&self, cmd: Open) -> Result<Opened, Refused> {
        if self.open {
            return Err(Refused::AlreadyOpen);
        }
        Ok(Opened { owner: cmd.id })
    }

    #[handle]
    async fn note(&self, cmd: Note) -> (Noted, Option<Noted>) {
        std::future::ready(()).await;
        let n = u32::try_from(cmd.0).unwrap_or(u32::MAX);
        (Noted(n), (self.notes > 0).then_some(Noted(self.notes)))
    }

    #[apply]
    fn opened(&mut self, _event: &Opened) {
        self.open = true;
    }

    #[apply]
    fn noted(&mut self, _event: &Noted) {
        self.notes += 1;
    }
}

#[tokio::test]
async fn the_strictly_linted_aggregate_works() {
    let app = eventsmith::App::new(eventsmith::InMemoryStore::new()).unwrap();
    app.execute(Open::new("l")).await.unwrap();
    let done = app.execute(Note(7)).await.unwrap();
    assert_eq!(done.events.len(), 1);
    let done = app.execute(Note(7)).await.unwrap();
    assert_eq!(done.events.len(), 2);
    assert!(matches!(done.events[1], LedgerHappened::Noted(Noted(1))));
}

/// A strictly linted projection.
#[derive(Debug, Default)]
pub struct Openings {
    /// How many.
    pub count: u64,
    /// Where the last one was.
    pub last_position: u64,
    /// Who opened.
    pub owners: Vec<String>,
}

/// A query that its method reads only by reference, as most queries are read.
pub struct OpenedBy {
    /// Who.
    pub owner: String,
}

#[eventsmith::projection(name = "lint.openings")]
impl Openings {
    #[on]
    fn opened(&mut self, event: &Opened, envelope: &eventsmith::RecordedEvent) {
        self.count += 1;
        self.last_position = envelope.global_position;
        self.owners.push(event.owner.clone());
    }

    #[on]
    fn noted(&mut self, event: &Noted) -> Result<(), std::io::Error> {
        self.count = self
            .count
            .checked_add(u64::from(event.0))
            .ok_or_else(|| std::io::Error::other("overflow"))?;
        Ok(())
    }

    // Reads its query only by reference: the framework hands queries over by value, so
    // `needless_pass_by_value` must stay quiet on the expansion.
    #[query]
    fn opened_by(&self, query: OpenedBy) -> bool {
        self.owners.contains(&query.owner)
    }
}

#[tokio::test]
async fn the_strictly_linted_projection_works() {
    let p = eventsmith::testing::ProjectionTest::new(Openings::default())
        .given("l", Opened { owner: "o".into() })
        .given("l", Noted(2))
        .then(|p| assert_eq!((p.count, p.last_position), (3, 1)))
        .into_inner();
    let by = |owner: &str| OpenedBy {
        owner: owner.into(),
    };
    assert!(<OpenedBy as eventsmith::projection::HandledQuery>::answer(&p, by("o"), &()).await);
    assert!(!<OpenedBy as eventsmith::projection::HandledQuery>::answer(&p, by("x"), &()).await);
}
