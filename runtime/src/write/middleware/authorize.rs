//! [`Authorize`] and [`Enrich`]: middleware made of one function of the command's names and
//! its context.

use std::future::{Future, ready};

use super::{CommandInfo, CommandMiddleware, Refusal};
use crate::model::command::HandledCommand;
use crate::model::envelope::CommandContext;

/// Lets a command through when `allow` answers `Ok`; refuses it as
/// [`RefusalKind::Unauthorized`](super::RefusalKind::Unauthorized) with the reason `allow`
/// gives otherwise. The decision sees the command's names and the context (actor, tenant,
/// source, headers).
///
/// ```
/// use eventsmith::command::{Authorize, CommandInfo};
/// use eventsmith::CommandContext;
///
/// // Only back-office staff close accounts; everyone acts within a tenant.
/// let rules = Authorize::new(|command: &CommandInfo<'_>, context: &CommandContext| {
///     if context.tenant.is_none() {
///         return Err("a command needs a tenant".to_owned());
///     }
///     let staff = context.actor.as_deref().is_some_and(|a| a.starts_with("staff:"));
///     if command.name == "CloseAccount" && !staff {
///         return Err(format!("{:?} may not close accounts", context.actor));
///     }
///     Ok(())
/// });
/// # let _ = rules;
/// ```
#[derive(Debug, Clone)]
pub struct Authorize<F> {
    allow: F,
}

impl<F> Authorize<F>
where
    F: Fn(&CommandInfo<'_>, &CommandContext) -> Result<(), String> + Send + Sync + 'static,
{
    /// Authorization by `allow`.
    pub fn new(allow: F) -> Self {
        Self { allow }
    }
}

impl<F> CommandMiddleware for Authorize<F>
where
    F: Fn(&CommandInfo<'_>, &CommandContext) -> Result<(), String> + Send + Sync + 'static,
{
    fn before<C: HandledCommand>(
        &self,
        command: &C,
        context: &mut CommandContext,
    ) -> impl Future<Output = Result<(), Refusal>> + Send {
        ready((self.allow)(&CommandInfo::of(command), context).map_err(Refusal::unauthorized))
    }
}

/// Changes the context of every command before it runs: headers, the source, a tenant taken
/// from elsewhere. What it sets goes on every event the command appends.
///
/// ```
/// use eventsmith::command::{CommandInfo, Enrich};
/// use eventsmith::CommandContext;
///
/// let stamp = Enrich::new(|_: &CommandInfo<'_>, context: &mut CommandContext| {
///     context.source.get_or_insert_with(|| "billing-api".to_owned());
///     context.headers.insert("region".into(), "eu-west".into());
/// });
/// # let _ = stamp;
/// ```
#[derive(Debug, Clone)]
pub struct Enrich<F> {
    enrich: F,
}

impl<F> Enrich<F>
where
    F: Fn(&CommandInfo<'_>, &mut CommandContext) + Send + Sync + 'static,
{
    /// Enrichment by `enrich`.
    pub fn new(enrich: F) -> Self {
        Self { enrich }
    }
}

impl<F> CommandMiddleware for Enrich<F>
where
    F: Fn(&CommandInfo<'_>, &mut CommandContext) + Send + Sync + 'static,
{
    fn before<C: HandledCommand>(
        &self,
        command: &C,
        context: &mut CommandContext,
    ) -> impl Future<Output = Result<(), Refusal>> + Send {
        (self.enrich)(&CommandInfo::of(command), context);
        ready(Ok(()))
    }
}
