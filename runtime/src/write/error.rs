//! [`CommandError`]: what `App::execute` answers when a command does not succeed.

use crate::model::error::DecodeError;
use crate::store::StoreError;
use crate::write::middleware::Refusal;

/// Executing a command failed. `E` is the handler's domain error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError<E> {
    /// The command's validation or its handler rejected it with its domain error. Nothing
    /// was appended.
    #[error("command rejected: {0:?}")]
    Rejected(E),
    /// A middleware refused the command before it loaded anything. Nothing was appended.
    #[error("command `{command}` refused: {refusal}")]
    Refused {
        /// The command's name.
        command: &'static str,
        /// Why, and of what kind.
        refusal: Refusal,
    },
    /// Other writers kept appending to the stream; the decision was retried and conflicted
    /// every time. Nothing was appended.
    #[error("command `{command}` on stream `{stream}` conflicted {attempts} times: {cause}")]
    Conflict {
        /// The command's name.
        command: &'static str,
        /// The stream.
        stream: String,
        /// How many decisions were tried.
        attempts: u32,
        /// The last conflict.
        cause: StoreError,
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
        "command `{command}` produced an event `{event_type}` that does not serialize: {cause}"
    )]
    Encode {
        /// The command's name.
        command: &'static str,
        /// The event's stored name.
        event_type: &'static str,
        /// The codec's error.
        cause: crate::wire::codec::CodecError,
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
            Self::Refused { refusal, .. } => refusal.is_retriable(),
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

#[cfg(test)]
mod tests {
    use std::error::Error;
    use std::sync::Arc;

    use super::*;
    use crate::model::event::DecodeFailure;
    use crate::model::projection::ProjectionError;
    use crate::read::RunnerError;
    use crate::wire::codec::CodecError;

    /// What anyhow, eyre or a tracing layer print: the message, then each source's.
    fn chain(error: &dyn Error) -> String {
        let mut out = error.to_string();
        let mut next = error.source();
        while let Some(source) = next {
            out.push_str(": ");
            out.push_str(&source.to_string());
            next = source.source();
        }
        out
    }

    fn once(error: &dyn Error, cause: &str) {
        let printed = chain(error);
        assert_eq!(
            printed.matches(cause).count(),
            1,
            "the cause `{cause}` is printed once, not {}: {printed}",
            printed.matches(cause).count()
        );
    }

    #[test]
    fn no_error_prints_its_cause_twice() {
        let cause = "the disk is on fire";
        let store = || StoreError::Backend(cause.into());
        once(&store(), cause);
        once(&StoreError::Unavailable(cause.into()), cause);
        once(
            &CommandError::<()>::Conflict {
                command: "Deposit",
                stream: "account-1".into(),
                attempts: 3,
                cause: store(),
            },
            cause,
        );
        once(&CommandError::<()>::Store(store()), cause);
        let malformed = || DecodeFailure::Malformed {
            name: "Deposited",
            version: 1,
            cause: CodecError::new(std::io::Error::other(cause)),
        };
        once(&malformed(), cause);
        let decode = || DecodeError {
            stream: "account-1".into(),
            version: 1,
            position: 1,
            event_type: "Deposited".into(),
            cause: malformed(),
        };
        once(&decode(), cause);
        once(&CommandError::<()>::Decode(decode()), cause);
        let projection = || ProjectionError::Decode {
            projection: "totals",
            cause: Box::new(decode()),
        };
        once(&projection(), cause);
        let handler = RunnerError::Handler {
            cause: projection(),
            attempts: 2,
        };
        once(&handler, cause);
        once(&RunnerError::Failed(Arc::new(handler)), cause);
        once(
            &RunnerError::Store {
                projection: "totals",
                cause: store(),
            },
            cause,
        );
    }
}
