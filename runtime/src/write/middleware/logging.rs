//! [`Logging`]: one tracing event per command, with its outcome and how long it took.

use super::{CommandMiddleware, Report};
use crate::model::command::HandledCommand;
use crate::write::error::CommandError;

/// Logs every command once its outcome is known, as a `tracing` event of target
/// `eventsmith::command` with the command's name, aggregate, id, correlation id, actor,
/// tenant, elapsed microseconds and outcome: at `DEBUG` when it succeeded, `INFO` when its
/// aggregate rejected it or a middleware refused it, `WARN` when it failed (a conflict that
/// outlasted every attempt, a panic, a store failure).
///
/// Install it outermost to time the whole pipeline, innermost to time the execution alone.
///
/// ```
/// use eventsmith::{App, InMemoryStore};
/// use eventsmith::command::Logging;
///
/// let app = App::builder(InMemoryStore::new()).middleware(Logging).build()?;
/// # let _ = app;
/// # Ok::<_, eventsmith::registry::RegistryError>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Logging;

impl CommandMiddleware for Logging {
    fn after<C: HandledCommand>(&self, report: &Report<'_, C>) {
        let info = report.info();
        let context = report.context;
        let elapsed_us = u64::try_from(report.elapsed.as_micros()).unwrap_or(u64::MAX);
        macro_rules! log {
            ($level:expr, $($fields:tt)*) => {
                tracing::event!(
                    target: "eventsmith::command",
                    $level,
                    command = info.name,
                    aggregate = info.aggregate,
                    id = %info.aggregate_id,
                    correlation_id = context.correlation_id.map(tracing::field::display),
                    actor = context.actor.as_deref(),
                    tenant = context.tenant.as_deref(),
                    elapsed_us,
                    $($fields)*
                )
            };
        }
        match report.outcome {
            Ok(done) => log!(
                tracing::Level::DEBUG,
                version = done.version,
                position = done.position,
                replayed = done.replayed,
                attempts = done.attempts,
                "command executed"
            ),
            Err(error @ (CommandError::Rejected(_) | CommandError::Refused { .. })) => {
                log!(tracing::Level::INFO, %error, "command not accepted");
            }
            Err(error) => log!(tracing::Level::WARN, %error, "command failed"),
        }
    }
}
