//! The eventsmith half of each coexistence check, shared by the binaries: a store on a
//! temporary file appends an event and reads it back.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use eventsmith::SqliteStore;
use eventsmith::event::NewEvent;
use eventsmith::store::{Append, AppendOutcome, EventLog, ExpectedVersion};

pub(crate) type Res<T> = Result<T, Box<dyn Error>>;

/// A directory of its own under the system's temporary directory, removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(tag: &str) -> Res<Self> {
        let dir = std::env::temp_dir().join(format!("eventsmith-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(Self(dir))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Fails with `what` unless `ok`.
pub(crate) fn check(ok: bool, what: impl Into<String>) -> Res<()> {
    if ok { Ok(()) } else { Err(what.into().into()) }
}

/// Opens an eventsmith store at `path`, appends one event to `ping-1` and reads it back.
/// The store is returned open, so that the other driver works beside it.
pub(crate) async fn eventsmith_round_trip(path: &Path) -> Res<SqliteStore> {
    let store = SqliteStore::open(path)?;
    let event = NewEvent::new("Pinged", 1, br#"{"n":1}"#.to_vec(), Arc::default());
    let outcome = store
        .append(Append::new(
            "ping-1",
            ExpectedVersion::NoStream,
            vec![event],
        ))
        .await?;
    check(
        matches!(outcome, AppendOutcome::Appended(_)),
        "the append was not written",
    )?;
    let read = store.read_stream("ping-1", 1, 10).await?;
    check(
        read.len() == 1,
        format!("read {} events, not 1", read.len()),
    )?;
    check(
        &*read[0].event_type == "Pinged" && &*read[0].payload == br#"{"n":1}"#,
        "the event read back differs from the one appended",
    )?;
    Ok(store)
}

/// The SQLite library version that the store's rusqlite links.
pub(crate) fn eventsmith_sqlite_version() -> &'static str {
    eventsmith::rusqlite::version()
}

/// The one line each binary prints on success.
pub(crate) fn report(driver: &str, sqlite: &str) {
    println!("eventsmith and {driver} share one SQLite {sqlite} in one binary: ok");
}
