//! Column encodings shared by the SQL backends, and the checks that turn a damaged row into
//! [`StoreError::Corrupt`].

use std::sync::Arc;

use super::{Appended, StoreError};

/// A stored integer that must fit the target type.
pub(crate) fn non_negative<T: TryFrom<i64>>(
    value: i64,
    what: &str,
    stream: &str,
    version: u64,
) -> Result<T, StoreError> {
    T::try_from(value)
        .map_err(|_| corrupt(stream, version, format!("{what} is out of range: {value}")))
}

pub(crate) fn corrupt(stream: &str, version: u64, reason: String) -> StoreError {
    StoreError::Corrupt {
        stream: stream.to_owned(),
        version,
        reason,
    }
}

/// An idempotency record from its stored columns (SQL integers are signed).
pub(crate) fn appended(version: i64, count: i64, position: Option<i64>) -> Appended {
    Appended {
        version: version.unsigned_abs(),
        count: count.unsigned_abs(),
        position: position.map(i64::unsigned_abs),
    }
}

/// A position, version or limit as an SQL integer (signed), saturating far beyond any real
/// value so that "from here on" queries stay valid.
pub(crate) fn sql_int(value: impl TryInto<i64>) -> i64 {
    value.try_into().unwrap_or(i64::MAX)
}

/// A saga's stored integer (a position, a version) that must fit `u64`: a damaged row is
/// [`StoreError::Corrupt`], naming the saga where an event's error names its stream.
pub(crate) fn saga_u64(value: i64, what: &str, saga: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| {
        corrupt(
            saga,
            0,
            format!("saga `{saga}`: {what} is out of range: {value}"),
        )
    })
}

/// A saga's position or version as an SQL integer: one beyond `i64::MAX` cannot be stored
/// and is refused as [`StoreError::Invalid`] before anything is written.
pub(crate) fn saga_int(value: u64, what: &str, saga: &str) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| {
        StoreError::Invalid(format!(
            "saga `{saga}`: {what} {value} is beyond what the store can keep"
        ))
    })
}

/// Shares the `Arc<str>`s of stream ids and event names between the rows of one read: a
/// read of one stream allocates its id once and each event name once, instead of twice per
/// row. Only the last stream and the first few names are kept (a read of a stream, or of
/// a few event types, is what repeats); anything else is allocated as before.
#[derive(Debug, Default)]
pub(crate) struct SharedNames {
    stream: Option<Arc<str>>,
    names: Vec<Arc<str>>,
}

impl SharedNames {
    /// The most event names kept.
    const NAMES: usize = 16;

    pub(crate) fn stream(&mut self, stream: &str) -> Arc<str> {
        match &self.stream {
            Some(last) if **last == *stream => Arc::clone(last),
            _ => Arc::clone(self.stream.insert(Arc::from(stream))),
        }
    }

    pub(crate) fn name(&mut self, name: &str) -> Arc<str> {
        if let Some(known) = self.names.iter().find(|known| ***known == *name) {
            return Arc::clone(known);
        }
        let name: Arc<str> = Arc::from(name);
        if self.names.len() < Self::NAMES {
            self.names.push(Arc::clone(&name));
        }
        name
    }
}
