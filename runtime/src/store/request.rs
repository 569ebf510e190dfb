//! The requests and answers of the event log: expected versions, appends and what they
//! wrote, filtered reads and pages of the global log.

use std::fmt;

use super::StoreError;
use crate::model::envelope::{NewEvent, RecordedEvent};

/// The version a writer expects a stream to be at, checked atomically with the append.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExpectedVersion {
    /// No check.
    Any,
    /// The stream must not exist yet (the same as `Exact(0)`).
    NoStream,
    /// The stream must have at least one event.
    StreamExists,
    /// The stream's last event must have this version (0: the stream must not exist).
    Exact(u64),
}

impl ExpectedVersion {
    /// Whether a stream currently at `current` (0 when absent) satisfies this expectation.
    #[must_use]
    pub fn accepts(self, current: u64) -> bool {
        self.bounds().contains(&current)
    }

    /// The versions this expectation accepts, as one range (what a SQL backend checks
    /// server-side).
    pub(crate) fn bounds(self) -> std::ops::RangeInclusive<u64> {
        match self {
            Self::Any => 0..=u64::MAX,
            Self::NoStream => 0..=0,
            Self::StreamExists => 1..=u64::MAX,
            Self::Exact(v) => v..=v,
        }
    }
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("any version"),
            Self::NoStream => f.write_str("no stream"),
            Self::StreamExists => f.write_str("an existing stream"),
            Self::Exact(v) => write!(f, "version {v}"),
        }
    }
}

/// What an append wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The stream's version after the append.
    pub version: u64,
    /// How many events the append wrote (0 for an idempotency record alone).
    pub count: u64,
    /// The global position of the last event written, `None` when none was.
    pub position: Option<u64>,
}

impl Appended {
    /// The stream version of the first event written (`version + 1` when none was).
    #[must_use]
    pub fn first_version(&self) -> u64 {
        self.version + 1 - self.count
    }
}

/// The answer to an append that carries an idempotency key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendOutcome {
    /// The events were written and the key recorded.
    Appended(Appended),
    /// The key was already recorded for this stream: nothing was written; this is what the
    /// first append with the key wrote.
    Duplicate(Appended),
}

/// An append: events for one stream, the version the writer expects it at, and optionally
/// an idempotency key recorded with them. Built with [`Append::new`]; fields may be added in
/// later releases (a partition, an outbox message), so it is not built by struct literal.
///
/// ```
/// use eventsmith::event::NewEvent;
/// use eventsmith::store::{Append, ExpectedVersion};
///
/// let event = NewEvent::new("Opened", 1, b"{}".to_vec(), Default::default());
/// let append = Append::new("account-1", ExpectedVersion::NoStream, vec![event])
///     .idempotency_key("open-account-1");
/// assert_eq!(append.idempotency_key, Some("open-account-1"));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
#[must_use]
pub struct Append<'a> {
    /// The stream appended to.
    pub stream: &'a str,
    /// The version the stream must be at, checked in the same step as the write.
    pub expected: ExpectedVersion,
    /// The events, in order (none: only the key is recorded, or nothing happens).
    pub events: Vec<NewEvent>,
    /// A key recorded for the stream with the events: a second append with it writes
    /// nothing and answers the first one's outcome.
    pub idempotency_key: Option<&'a str>,
}

impl<'a> Append<'a> {
    /// `events` for `stream`, which must be at `expected`; no idempotency key.
    pub fn new(stream: &'a str, expected: ExpectedVersion, events: Vec<NewEvent>) -> Self {
        Self {
            stream,
            expected,
            events,
            idempotency_key: None,
        }
    }

    /// Records `key` with the events.
    pub fn idempotency_key(mut self, key: &'a str) -> Self {
        self.idempotency_key = Some(key);
        self
    }

    /// Records `key`, if any, with the events.
    pub fn with_idempotency_key(mut self, key: Option<&'a str>) -> Self {
        self.idempotency_key = key;
        self
    }
}

/// A read of the global log filtered by stored event names, from a position on, at most
/// `limit` events. Built with [`FilteredRead::new`]; fields may be added in later releases
/// (a partition of the streams), so it is not built by struct literal.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
#[must_use]
pub struct FilteredRead<'a> {
    /// The first global position considered.
    pub from_position: u64,
    /// The stored names wanted.
    pub names: &'a [&'a str],
    /// The most events answered.
    pub limit: usize,
}

impl<'a> FilteredRead<'a> {
    /// Up to `limit` events named one of `names`, from `from_position` on.
    pub fn new(from_position: u64, names: &'a [&'a str], limit: usize) -> Self {
        Self {
            from_position,
            names,
            limit,
        }
    }
}

/// The part of an append every backend decides the same way once it knows the stream's
/// current version: an unmet expectation is a conflict, and an append with neither events nor
/// key writes nothing and answers the current version. `Ok(None)`: go on and write.
pub(crate) fn admit(
    stream: &str,
    expected: ExpectedVersion,
    current: u64,
    events: &[NewEvent],
    key: Option<&str>,
) -> Result<Option<AppendOutcome>, StoreError> {
    if !expected.accepts(current) {
        return Err(StoreError::Conflict {
            stream: stream.to_owned(),
            expected,
            actual: current,
        });
    }
    if events.is_empty() && key.is_none() {
        return Ok(Some(AppendOutcome::Appended(Appended {
            version: current,
            count: 0,
            position: None,
        })));
    }
    Ok(None)
}

/// A page of the global log, the answer to [`EventLog::read_all`](super::EventLog::read_all) and
/// [`EventLog::read_all_filtered`](super::EventLog::read_all_filtered): the events read, and how far the store could see.
///
/// A short page (fewer events than asked) does not mean that the log ends there: on
/// PostgreSQL a transaction open anywhere on the server hides the appends made after it
/// began until it ends (see `PgStore`), and meanwhile reads stop short of
/// them. `scanned_to` tells the two cases apart: a reader waiting for a position (an
/// append's [`Appended::position`], or what [`EventLog::current_head`](super::EventLog::current_head) reported) has read
/// everything up to it once `scanned_to` reaches it, and until then an empty page only means
/// that nothing more is visible yet.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    /// The events read (only those whose name matched, for a filtered read), in global order.
    pub events: Vec<RecordedEvent>,
    /// Every position from the one asked for up to this one has been considered (0 when none
    /// has): a full page claims up to its last event, a short one up to the highest position
    /// the store could see. A reader that handled `events` may move its checkpoint here,
    /// past events of other names and gaps between positions. It never passes a position a
    /// later reader could still see appear.
    pub scanned_to: u64,
}

/// The page of a backend's read: `events` came from positions `from..=head` (at most `limit`
/// of them), `head` being the highest position it could see. A full page claims only up to
/// its last event.
pub(crate) fn page(
    events: Vec<RecordedEvent>,
    limit: usize,
    from_position: u64,
    head: u64,
) -> Page {
    let scanned_to = match events.last() {
        Some(last) if events.len() >= limit => last.global_position,
        _ if limit == 0 => from_position.saturating_sub(1).min(head),
        _ => head,
    };
    Page { events, scanned_to }
}
