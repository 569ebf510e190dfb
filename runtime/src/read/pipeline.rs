//! [`Pipeline`]: the steps around a projection's handlers: filters, transformers and
//! middleware, statically dispatched (no boxed closures on the per-event path).

use std::borrow::Cow;

use crate::model::envelope::RecordedEvent;
use crate::model::projection::ProjectionError;

/// Steps a runner takes around each handler call, in order: [`filter`](Self::filter) (an
/// event it refuses counts as handled), [`transform`](Self::transform) (what the handler
/// sees), then [`around`](Self::around) the handler (logging, timing, enrichment of what it
/// returns). Every method has a default that does nothing; `()` is the empty pipeline and a
/// pair `(A, B)` runs `A` outside `B`.
///
/// `around` is async, so that it can wrap the handlers of a SQL read model, which await
/// their statements. It runs while the runner holds the read model's lock: what it awaits,
/// queries of the model wait for.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use eventsmith::RecordedEvent;
/// use eventsmith::projection::{Pipeline, ProjectionError};
///
/// /// Leaves out the events of test accounts and counts the handler calls.
/// #[derive(Default)]
/// struct NoTestAccounts { calls: AtomicU64 }
///
/// impl Pipeline for NoTestAccounts {
///     fn filter(&self, event: &RecordedEvent) -> bool {
///         !event.stream_id.contains("-test-")
///     }
///
///     async fn around<F>(&self, _event: &RecordedEvent, handler: F) -> Result<bool, ProjectionError>
///     where
///         F: Future<Output = Result<bool, ProjectionError>> + Send,
///     {
///         self.calls.fetch_add(1, Ordering::Relaxed);
///         handler.await
///     }
/// }
/// ```
pub trait Pipeline: Send + Sync + 'static {
    /// Whether `event` goes on to the handler.
    fn filter(&self, event: &RecordedEvent) -> bool {
        let _ = event;
        true
    }

    /// The event the handler sees: the same one, or a changed copy (metadata added, a
    /// payload redacted).
    fn transform<'e>(&self, event: &'e RecordedEvent) -> Cow<'e, RecordedEvent> {
        Cow::Borrowed(event)
    }

    /// Runs `handler` (the projection's handling of `event`), with whatever it does around.
    ///
    /// # Errors
    /// The handler's, or the middleware's own.
    fn around<F>(
        &self,
        event: &RecordedEvent,
        handler: F,
    ) -> impl Future<Output = Result<bool, ProjectionError>> + Send
    where
        F: Future<Output = Result<bool, ProjectionError>> + Send,
    {
        let _ = event;
        handler
    }
}

impl Pipeline for () {}

impl<A: Pipeline, B: Pipeline> Pipeline for (A, B) {
    fn filter(&self, event: &RecordedEvent) -> bool {
        self.0.filter(event) && self.1.filter(event)
    }

    fn transform<'e>(&self, event: &'e RecordedEvent) -> Cow<'e, RecordedEvent> {
        match self.0.transform(event) {
            Cow::Borrowed(event) => self.1.transform(event),
            Cow::Owned(event) => Cow::Owned(self.1.transform(&event).into_owned()),
        }
    }

    fn around<F>(
        &self,
        event: &RecordedEvent,
        handler: F,
    ) -> impl Future<Output = Result<bool, ProjectionError>> + Send
    where
        F: Future<Output = Result<bool, ProjectionError>> + Send,
    {
        self.0.around(event, self.1.around(event, handler))
    }
}
