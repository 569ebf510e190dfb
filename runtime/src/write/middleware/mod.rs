//! [`CommandMiddleware`]: the steps around every command an [`App`](crate::App) executes,
//! whoever sends it (a user, a saga), statically dispatched and composed by pairs.
//!
//! The order of one execution: each middleware's [`before`](CommandMiddleware::before),
//! outermost first (authorization, rate limiting, enrichment of the context; any of them may
//! refuse), then the command's own validation (`#[handle(validate = path)]`), then loading,
//! deciding and appending, then each middleware's [`after`](CommandMiddleware::after),
//! innermost first (logging, timing). Nothing is read from the store before the last
//! `before` and the validation have passed.

mod authorize;
mod logging;
#[cfg(feature = "rate-limit")]
mod rate_limit;

use std::borrow::Cow;
use std::future::{Future, ready};
use std::time::Duration;

pub use authorize::{Authorize, Enrich};
pub use logging::Logging;
#[cfg(feature = "rate-limit")]
pub use rate_limit::{RateKey, RateLimit};

use crate::model::aggregate::Aggregate;
use crate::model::command::HandledCommand;
use crate::model::envelope::CommandContext;
pub use crate::write::error::{Refusal, RefusalKind};
use crate::write::execute::ExecuteResult;

/// Steps an [`App`](crate::App) takes around each command. Both methods have defaults that
/// do nothing; `()` is the empty pipeline and a pair `(A, B)` runs `A` outside `B`. Install
/// them with [`AppBuilder::middleware`](crate::command::AppBuilder::middleware).
///
/// The methods are generic over the command, so a middleware sees it typed (its name, its
/// aggregate, its fields through a trait of your own) and no command is boxed.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use eventsmith::CommandContext;
/// use eventsmith::command::{CommandMiddleware, HandledCommand, Refusal, Report};
///
/// /// Refuses commands without an actor, and counts the ones that failed.
/// #[derive(Default)]
/// struct SignedInOnly { failed: AtomicU64 }
///
/// impl CommandMiddleware for SignedInOnly {
///     async fn before<C: HandledCommand>(
///         &self,
///         _command: &C,
///         context: &mut CommandContext,
///     ) -> Result<(), Refusal> {
///         match context.actor {
///             Some(_) => Ok(()),
///             None => Err(Refusal::unauthorized("sign in first")),
///         }
///     }
///
///     fn after<C: HandledCommand>(&self, report: &Report<'_, C>) {
///         if report.outcome.is_err() {
///             self.failed.fetch_add(1, Ordering::Relaxed);
///         }
///     }
/// }
/// ```
pub trait CommandMiddleware: Send + Sync + 'static {
    /// Runs before the command loads anything: may change the context (its metadata goes on
    /// every event the command appends) or refuse the command.
    ///
    /// # Errors
    /// A [`Refusal`]: the command is not executed and [`App::execute`](crate::App::execute)
    /// answers [`CommandError::Refused`](crate::CommandError::Refused).
    fn before<C: HandledCommand>(
        &self,
        command: &C,
        context: &mut CommandContext,
    ) -> impl Future<Output = Result<(), Refusal>> + Send {
        let _ = (command, context);
        ready(Ok(()))
    }

    /// Runs once the command's outcome is known, refusals included. It is synchronous, as
    /// logging and timing are: work that must wait (an audit write) is spawned from here.
    fn after<C: HandledCommand>(&self, report: &Report<'_, C>) {
        let _ = report;
    }
}

impl CommandMiddleware for () {}

impl<A: CommandMiddleware, B: CommandMiddleware> CommandMiddleware for (A, B) {
    async fn before<C: HandledCommand>(
        &self,
        command: &C,
        context: &mut CommandContext,
    ) -> Result<(), Refusal> {
        self.0.before(command, context).await?;
        self.1.before(command, context).await
    }

    fn after<C: HandledCommand>(&self, report: &Report<'_, C>) {
        self.1.after(report);
        self.0.after(report);
    }
}

/// What [`CommandMiddleware::after`] learns of one execution.
#[derive(Debug)]
#[non_exhaustive]
pub struct Report<'a, C: HandledCommand> {
    /// The command.
    pub command: &'a C,
    /// The context it ran with, as the middleware left it.
    pub context: &'a CommandContext,
    /// What [`App::execute`](crate::App::execute) answers.
    pub outcome: &'a ExecuteResult<C>,
    /// The time from the first `before` to the outcome.
    pub elapsed: Duration,
}

impl<C: HandledCommand> Report<'_, C> {
    /// The command's name, its aggregate and the aggregate's id.
    #[must_use]
    pub fn info(&self) -> CommandInfo<'_> {
        CommandInfo::of(self.command)
    }
}

/// The names of a command, for middleware that decides on them without the command's type
/// ([`Authorize`], [`Enrich`], [`Logging`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommandInfo<'a> {
    /// The command's name.
    pub name: &'static str,
    /// The type name of the aggregate that handles it.
    pub aggregate: &'static str,
    /// The id of the aggregate instance it targets.
    pub aggregate_id: Cow<'a, str>,
}

impl<'a> CommandInfo<'a> {
    /// The names of `command`.
    pub fn of<C: HandledCommand>(command: &'a C) -> Self {
        Self {
            name: C::NAME,
            aggregate: <C::Aggregate as Aggregate>::TYPE,
            aggregate_id: command.aggregate_id(),
        }
    }
}
