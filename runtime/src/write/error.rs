//! [`CommandError`]: what `App::execute` answers when a command does not succeed.

use crate::model::error::DecodeError;
use crate::store::StoreError;

/// Executing a command failed. `E` is the handler's domain error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError<E> {
    /// The handler rejected the command with its domain error. Nothing was appended.
    #[error("command rejected: {0:?}")]
    Rejected(E),
    /// Other writers kept appending to the stream; the decision was retried and conflicted
    /// every time. Nothing was appended.
    #[error("command `{command}` on stream `{stream}` conflicted {attempts} times: {source}")]
    Conflict {
        /// The command's name.
        command: &'static str,
        /// The stream.
        stream: String,
        /// How many decisions were tried.
        attempts: u32,
        /// The last conflict.
        #[source]
        source: StoreError,
    },
    /// User code (a handler, an `apply` method or a serializer) panicked. Nothing was appended.
    #[error("command `{command}` on stream `{stream}` panicked in {during}: {message}")]
    Panicked {
        /// The command's name.
        command: &'static str,
        /// The stream.
        stream: String,
        /// Which step panicked.
        during: &'static str,
        /// The panic message.
        message: String,
    },
    /// An event could not be serialized. Nothing was appended.
    #[error(
        "command `{command}` produced an event `{event_type}` that does not serialize: {source}"
    )]
    Encode {
        /// The command's name.
        command: &'static str,
        /// The event's stored name.
        event_type: &'static str,
        /// The codec's error.
        #[source]
        source: crate::wire::codec::CodecError,
    },
    /// A stored event of the aggregate could not be decoded.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl<E> CommandError<E> {
    /// Whether sending the same command again may succeed (conflicts and an unavailable
    /// store). Give the command an idempotency key so that a retry cannot apply it twice.
    #[must_use]
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::Conflict { .. } => true,
            Self::Store(e) => e.is_retriable(),
            _ => false,
        }
    }

    /// The domain error, if the handler rejected the command.
    pub fn rejection(&self) -> Option<&E> {
        match self {
            Self::Rejected(e) => Some(e),
            _ => None,
        }
    }
}
