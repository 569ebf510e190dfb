//! [`CommandError`]: what `App::execute` answers when a command does not succeed.

use std::time::Duration;

use crate::model::error::DecodeError;
use crate::store::StoreError;

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

/// Why a middleware refused a command. Nothing was loaded or appended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
#[non_exhaustive]
pub struct Refusal {
    /// What kind of refusal it is.
    pub kind: RefusalKind,
    /// Why, in words.
    pub reason: String,
}

/// The kinds of [`Refusal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RefusalKind {
    /// The actor or tenant may not send this command.
    Unauthorized,
    /// Too many commands; the same command may pass after `retry_after`.
    RateLimited {
        /// How long until the limit lets the next command through.
        retry_after: Duration,
    },
    /// The command or its context is not acceptable.
    Invalid,
}

impl Refusal {
    /// A refusal of `kind` for `reason`.
    pub fn new(kind: RefusalKind, reason: impl Into<String>) -> Self {
        Self {
            kind,
            reason: reason.into(),
        }
    }

    /// The actor or tenant may not send the command.
    pub fn unauthorized(reason: impl Into<String>) -> Self {
        Self::new(RefusalKind::Unauthorized, reason)
    }

    /// The command or its context is not acceptable.
    pub fn invalid(reason: impl Into<String>) -> Self {
        Self::new(RefusalKind::Invalid, reason)
    }

    /// Too many commands: try again after `retry_after`.
    #[must_use]
    pub fn rate_limited(retry_after: Duration) -> Self {
        // Shown in whole milliseconds: "try again in 12ms", not "12ms 345us 678ns".
        let millis = u64::try_from(retry_after.as_millis()).unwrap_or(u64::MAX);
        let shown = Duration::from_millis(millis.max(1));
        Self::new(
            RefusalKind::RateLimited { retry_after },
            format!(
                "rate limited; try again in {}",
                humantime::format_duration(shown)
            ),
        )
    }

    /// Whether the same command may pass later (a rate limit).
    #[must_use]
    pub fn is_retriable(&self) -> bool {
        matches!(self.kind, RefusalKind::RateLimited { .. })
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
