//! The checks every backend makes of the text it is asked to keep, before anything is
//! written or sent: the same refusals on every backend, so that a log written on one moves
//! to another.

#[cfg(any(feature = "sqlite", feature = "postgres"))]
use super::SagaCommit;
use super::{Append, DeadLetter, StoreError};
use crate::model::envelope::Metadata;

/// Rejects stream ids no backend can store: empty, or with a NUL byte.
pub(crate) fn check_stream_id(stream: &str) -> Result<(), StoreError> {
    if stream.is_empty() {
        return Err(StoreError::Invalid("the stream id is empty".to_owned()));
    }
    check_text(stream, || "the stream id".to_owned())
}

/// Rejects text with a NUL byte, which PostgreSQL's `text` and `jsonb` cannot hold: no
/// backend keeps one where PostgreSQL keeps text, so that a log written on one backend moves
/// to another. `field` names the field, for the message (built only when refused).
pub(crate) fn check_text(text: &str, field: impl FnOnce() -> String) -> Result<(), StoreError> {
    if text.contains('\0') {
        return Err(StoreError::Invalid(format!(
            "{} contains a NUL byte",
            field()
        )));
    }
    Ok(())
}

/// The text of an append that every backend checks before anything is written (see
/// [`check_text`]): the stream id, each event's name and metadata strings, the key.
pub(crate) fn check_append(append: &Append<'_>) -> Result<(), StoreError> {
    let Append {
        stream,
        events,
        idempotency_key,
        ..
    } = append;
    check_stream_id(stream)?;
    if let Some(key) = idempotency_key {
        check_key(key)?;
    }
    let count = events.len();
    for (i, event) in events.iter().enumerate() {
        let of = || format!("event {} of {count}", i + 1);
        check_text(&event.event_type, || format!("the name of {}", of()))?;
        // Every field named, so that a new one is not left unchecked.
        let Metadata {
            correlation_id: _,
            causation_id: _,
            actor,
            tenant,
            source,
            headers,
        } = &*event.metadata;
        for (value, field) in [(actor, "actor"), (tenant, "tenant"), (source, "source")] {
            if let Some(value) = value {
                check_text(value, || format!("the {field} in the metadata of {}", of()))?;
            }
        }
        for (name, value) in headers {
            check_text(name, || {
                format!("the name of a header in the metadata of {}", of())
            })?;
            check_text(value, || {
                format!("the header {name:?} in the metadata of {}", of())
            })?;
        }
    }
    Ok(())
}

/// The text of a dead letter (see [`check_text`]): the consumer name, the event's stream id
/// and name, the reason.
pub(crate) fn check_letter(name: &str, letter: &DeadLetter) -> Result<(), StoreError> {
    check_consumer(name)?;
    check_text(&letter.stream_id, || {
        "the stream id of the dead letter".to_owned()
    })?;
    check_text(&letter.event_type, || {
        "the event name of the dead letter".to_owned()
    })?;
    check_text(&letter.reason, || {
        "the reason of the dead letter".to_owned()
    })
}

/// An idempotency key (see [`check_text`]).
pub(crate) fn check_key(key: &str) -> Result<(), StoreError> {
    check_text(key, || "the idempotency key".to_owned())
}

/// A consumer's name (see [`check_text`]).
pub(crate) fn check_consumer(name: &str) -> Result<(), StoreError> {
    check_text(name, || "the consumer name".to_owned())
}

/// A stream id asked about (see [`check_text`]); an empty one reads as an absent stream.
pub(crate) fn check_stream(stream: &str) -> Result<(), StoreError> {
    check_text(stream, || "the stream id".to_owned())
}

/// The names of a filtered read (see [`check_text`]).
pub(crate) fn check_names(names: &[&str]) -> Result<(), StoreError> {
    for name in names {
        check_text(name, || format!("an event name asked for ({name:?})"))?;
    }
    Ok(())
}

/// A saga's name: empty is refused, as by every backend; a NUL byte too (see [`check_text`]).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn check_saga(saga: &str) -> Result<(), StoreError> {
    if saga.is_empty() {
        return Err(StoreError::Invalid("the saga name is empty".to_owned()));
    }
    check_text(saga, || "the saga name".to_owned())
}

/// The text of a saga commit that the SQL backends keep as text (see [`check_text`]): the
/// saga's name, the instance's id and keys, and the ids, instances and names of its
/// commands and deadlines.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn check_saga_commit(commit: &SagaCommit) -> Result<(), StoreError> {
    check_saga(&commit.saga)?;
    let check =
        |text: &str, field: &str| check_text(text, || format!("saga `{}`: {field}", commit.saga));
    if let Some(write) = &commit.instance {
        check(&write.id, "the instance id")?;
        for key in &write.associate {
            check(key, "an association key")?;
        }
    }
    for c in &commit.commands {
        check(&c.id, "a command's id")?;
        check(&c.instance, "a command's instance")?;
        check(&c.name, "a command's name")?;
    }
    for d in &commit.schedule {
        check(&d.id, "a deadline's id")?;
        check(&d.instance, "a deadline's instance")?;
        check(&d.name, "a deadline's name")?;
    }
    for (instance, name) in &commit.cancel {
        check(instance, "a cancelled deadline's instance")?;
        check(name, "a cancelled deadline's name")?;
    }
    if let Some(fired) = &commit.fired {
        check(fired, "the fired deadline's id")?;
    }
    if let Some(sent) = &commit.sent {
        check(sent, "the sent command's id")?;
    }
    Ok(())
}
