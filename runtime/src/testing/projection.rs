//! Given/when/then for projections: events in, through the same decoding and routing a
//! projection runner uses, then assertions on the read model.

use std::sync::Arc;

use crate::model::envelope::{Metadata, RecordedEvent, Timestamp};
use crate::model::event::Event;
use crate::model::projection::{Projection, ProjectionError};
use crate::util::block::block_on;
use crate::wire::codec::{Codec, JsonCodec};
use crate::wire::upcast::Value;

/// A projection under test, fed events as if read from a store.
///
/// ```
/// use eventsmith::testing::ProjectionTest;
/// # use eventsmith::{Event, projection};
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Debug, Serialize, Deserialize, Event)] struct Deposited { amount: u64 }
/// # #[derive(Default)] struct Total { sum: u64 }
/// # #[projection] impl Total { #[on] fn on(&mut self, e: &Deposited) { self.sum += e.amount; } }
/// ProjectionTest::new(Total::default())
///     .given("acc-1", Deposited { amount: 5 })
///     .given("acc-2", Deposited { amount: 7 })
///     .then(|total| assert_eq!(total.sum, 12));
/// ```
#[derive(Debug)]
pub struct ProjectionTest<P: Projection> {
    projection: P,
    context: P::Context,
    position: u64,
    versions: std::collections::HashMap<String, u64>,
}

impl<P: Projection> ProjectionTest<P>
where
    P::Context: Default,
{
    /// A test of `projection` in its initial state.
    #[must_use]
    pub fn new(projection: P) -> Self {
        Self::with_context(projection, P::Context::default())
    }
}

impl<P: Projection> ProjectionTest<P> {
    /// A test of a projection whose handlers take a context (a database connection): each
    /// event is handled with `context`; there is no transaction around it. The handlers'
    /// futures are driven on the test's thread: a context served by tokio (`PgConnection`)
    /// needs a multi-thread runtime around the test.
    #[must_use]
    pub fn with_context(projection: P, context: P::Context) -> Self {
        Self {
            projection,
            context,
            position: 0,
            versions: std::collections::HashMap::new(),
        }
    }

    /// The context the handlers were given, to check what they wrote.
    pub fn context(&self) -> &P::Context {
        &self.context
    }

    /// Feeds one event of `stream`.
    ///
    /// # Panics
    /// When the event does not serialize or the projection fails on it.
    #[must_use]
    #[track_caller]
    pub fn given<E: Event>(mut self, stream: &str, event: E) -> Self {
        let payload = JsonCodec.encode(&event).expect("the event serializes");
        if let Err(e) = self.handle(stream, E::NAME, E::VERSION, payload) {
            panic!("the projection failed: {e}");
        }
        self
    }

    /// Feeds an event as an older release stored it: name, version and JSON payload, to test
    /// that the projection reads it through the upcasters.
    ///
    /// # Panics
    /// When the projection fails on it.
    #[must_use]
    #[track_caller]
    pub fn given_stored(mut self, stream: &str, name: &str, version: u32, payload: Value) -> Self {
        if let Err(e) = self.try_given_stored(stream, name, version, payload) {
            panic!("the projection failed: {e}");
        }
        self
    }

    /// Feeds one stored event and returns the projection's outcome instead of panicking:
    /// whether it handled the event.
    ///
    /// # Errors
    /// The projection's error.
    pub fn try_given_stored(
        &mut self,
        stream: &str,
        name: &str,
        version: u32,
        payload: Value,
    ) -> Result<bool, ProjectionError> {
        let payload = JsonCodec.encode(&payload).expect("a JSON value serializes");
        self.handle(stream, name, version, payload)
    }

    /// Runs assertions on the read model.
    #[track_caller]
    pub fn then(self, check: impl FnOnce(&P)) -> Self {
        check(&self.projection);
        self
    }

    /// The read model.
    #[must_use]
    pub fn into_inner(self) -> P {
        self.projection
    }

    /// Records the event as the next of `stream` and of the log, and hands it over.
    fn handle(
        &mut self,
        stream: &str,
        name: &str,
        version: u32,
        payload: Vec<u8>,
    ) -> Result<bool, ProjectionError> {
        let event = self.record(stream, name, version, payload);
        block_on(
            self.projection
                .handle(&JsonCodec, &event, &mut self.context),
        )
    }

    fn record(
        &mut self,
        stream: &str,
        name: &str,
        version: u32,
        payload: Vec<u8>,
    ) -> RecordedEvent {
        self.position += 1;
        let stream_version = self.versions.entry(stream.to_owned()).or_default();
        *stream_version += 1;
        RecordedEvent {
            event_id: uuid::Uuid::now_v7(),
            stream_id: Arc::from(stream),
            stream_version: *stream_version,
            global_position: self.position,
            event_type: Arc::from(name),
            schema_version: version,
            payload: Arc::from(payload),
            metadata: Arc::new(Metadata::default()),
            timestamp: Timestamp::now(),
        }
    }
}
