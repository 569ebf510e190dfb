//! The [`App`] as a saga's [`CommandBus`]: each command executes with its stored id as the
//! idempotency key, so a command sent again after a crash has no second effect.

use super::saga::{CommandBus, SendError};
use crate::model::command::HandledCommand;
use crate::model::envelope::CommandContext;
use crate::store::EventStore;
use crate::wire::codec::Codec;
use crate::write::app::App;
use crate::write::error::CommandError;
use crate::write::middleware::CommandMiddleware;

/// A saga's commands pass through the application's middleware like any other; a refusal
/// (a rate limit, say) is a failure the saga's error policy retries.
impl<S: EventStore, C: Codec, M: CommandMiddleware> CommandBus for App<S, C, M> {
    async fn send<Cmd: HandledCommand>(
        &self,
        command: Cmd,
        key: &str,
        saga: &'static str,
    ) -> Result<(), SendError<Cmd::Error>> {
        let context = CommandContext::new()
            .source(format!("saga {saga}"))
            .idempotency_key(key);
        match self.execute_with(command, &context).await {
            Ok(_) => Ok(()),
            Err(CommandError::Rejected(error)) => Err(SendError::Rejected(error)),
            Err(other) => Err(SendError::Failed(other.to_string())),
        }
    }
}
