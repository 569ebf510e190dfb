//! [`Publication`]: what `#[publication]` implements — the mapping of domain events to
//! integration messages, routed by a `match` on stored names — and [`Published`], where its
//! handlers' messages are collected with their subjects.

use std::fmt::{Display, Write as _};

use serde::Serialize;

use crate::model::envelope::RecordedEvent;
use crate::model::error::DecodeError;
use crate::model::event::Event;
use crate::model::projection::HandledEvent;
use crate::outbox::contract::PublishedMessage;
use crate::outbox::message::Outgoing;
use crate::wire::codec::Codec;

/// The contract a service publishes: which domain events become which integration messages,
/// on which subjects. Implemented by `#[publication(name = "...")]` on an impl block whose
/// `#[publish(subject = "...")]` handlers map an event to a message (or `None` to drop it).
///
/// Integration messages are their own types, apart from the domain events: they derive
/// `Event` for a stable name, a version and upcasters on the consumer side.
///
/// ```
/// use eventsmith::{Event, publication};
/// use eventsmith::outbox::Publication as _;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Serialize, Deserialize, Event)]
/// #[event(name = "order_placed")]
/// struct OrderPlaced { order: String, total: u64, card: String }
///
/// /// The public shape: no card number leaves the service.
/// #[derive(Debug, Serialize, Deserialize, Event)]
/// #[event(name = "orders.placed")]
/// struct OrderPlacedV1 { order: String, total: u64 }
///
/// struct OrdersContract;
///
/// #[publication(name = "orders.public")]
/// impl OrdersContract {
///     #[publish(subject = "orders.{tenant}.placed")]
///     fn placed(&self, event: &OrderPlaced) -> OrderPlacedV1 {
///         OrderPlacedV1 { order: event.order.clone(), total: event.total }
///     }
/// }
///
/// assert_eq!(OrdersContract::NAME, "orders.public");
/// ```
pub trait Publication: Send + Sync + 'static {
    /// The publication's unique name: its relay's checkpoint is stored under it, and message
    /// ids are derived from it.
    const NAME: &'static str;

    /// The event types its handlers take.
    const HANDLES: &'static [HandledEvent];

    /// The message types its handlers make, each with its subject template (see
    /// [`contract_schema`](crate::outbox::contract_schema)).
    const MESSAGES: &'static [PublishedMessage];

    /// Decodes `event` and calls its handler, pushing the messages it returns to `out`.
    /// Answers `Ok(false)` for an event of a name it does not handle.
    ///
    /// # Errors
    /// [`PublishError::Decode`] when the event does not decode through its upcasters,
    /// [`PublishError::Encode`] when a message does not encode.
    fn publish<C: Codec>(
        &self,
        codec: &C,
        event: &RecordedEvent,
        out: &mut Published<'_>,
    ) -> Result<bool, PublishError>;
}

/// A publication could not turn an event into its messages. Nothing of the event is
/// published and the relay stays before it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The event did not decode.
    #[error("publication `{publication}`: {cause}")]
    Decode {
        /// The publication's name.
        publication: &'static str,
        /// Which event and why.
        cause: Box<DecodeError>,
    },
    /// A message did not encode.
    #[error(
        "publication `{publication}`: message `{message}` of the event at position {position} does not encode: {cause}"
    )]
    Encode {
        /// The publication's name.
        publication: &'static str,
        /// The message type's stable name.
        message: &'static str,
        /// The event's global position.
        position: u64,
        /// Why.
        cause: String,
    },
}

/// The messages the handlers of one [`Publication`] made of one event, each with its subject.
#[derive(Debug)]
pub struct Published<'a> {
    publication: &'static str,
    event: &'a RecordedEvent,
    messages: &'a mut Vec<Outgoing>,
    made: u32,
}

impl<'a> Published<'a> {
    /// Collects the messages of `publication` made of `event` into `messages`.
    pub(crate) fn new(
        publication: &'static str,
        event: &'a RecordedEvent,
        messages: &'a mut Vec<Outgoing>,
    ) -> Self {
        Self {
            publication,
            event,
            messages,
            made: 0,
        }
    }

    /// The event the messages are made of.
    #[must_use]
    pub fn event(&self) -> &RecordedEvent {
        self.event
    }

    /// Adds `message` on `subject`.
    ///
    /// # Errors
    /// [`PublishError::Encode`] when it does not encode.
    pub fn push<M: Event + Serialize, C: Codec>(
        &mut self,
        codec: &C,
        subject: String,
        message: &M,
    ) -> Result<(), PublishError> {
        let payload = codec
            .encode(message)
            .map_err(|cause| PublishError::Encode {
                publication: self.publication,
                message: M::NAME,
                position: self.event.global_position,
                cause: cause.to_string(),
            })?;
        self.messages.push(Outgoing::of(
            self.publication,
            self.event,
            self.made,
            subject,
            (M::NAME, M::VERSION),
            payload,
        ));
        self.made += 1;
        Ok(())
    }
}

/// Builds a subject from its template's parts: literal text, and values put in one token
/// each (`.`, `*`, `>` and white space become `_`, an empty value `_`, so a value never
/// splits or widens a subject).
///
/// ```
/// use eventsmith::outbox::Subject;
///
/// let mut subject = Subject::new();
/// subject.text("orders.").token("eu.de").text(".placed");
/// assert_eq!(subject.finish(), "orders.eu_de.placed");
/// ```
#[derive(Debug, Default)]
pub struct Subject(String);

impl Subject {
    /// An empty subject.
    #[must_use]
    pub fn new() -> Self {
        Self(String::with_capacity(48))
    }

    /// Appends literal text of the template.
    pub fn text(&mut self, text: &str) -> &mut Self {
        self.0.push_str(text);
        self
    }

    /// Appends `value` as one token.
    pub fn token(&mut self, value: impl Display) -> &mut Self {
        let start = self.0.len();
        write!(self.0, "{value}").ok();
        if self.0.len() == start {
            self.0.push('_');
            return self;
        }
        if self.0[start..]
            .bytes()
            .any(|b| matches!(b, b'.' | b'*' | b'>') || b.is_ascii_whitespace())
        {
            let cleaned: String = self.0[start..]
                .chars()
                .map(|c| match c {
                    '.' | '*' | '>' => '_',
                    c if c.is_whitespace() => '_',
                    c => c,
                })
                .collect();
            self.0.truncate(start);
            self.0.push_str(&cleaned);
        }
        self
    }

    /// Appends the event's tenant as one token (`_` without one).
    pub fn tenant(&mut self, event: &RecordedEvent) -> &mut Self {
        self.token(event.metadata.tenant.as_deref().unwrap_or(""))
    }

    /// Appends the event's stream id as one token.
    pub fn stream(&mut self, event: &RecordedEvent) -> &mut Self {
        self.token(&*event.stream_id)
    }

    /// The subject.
    #[must_use]
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.0)
    }
}

/// Not public API. Used by generated code: decodes one handled event.
///
/// # Errors
/// [`PublishError::Decode`] naming the publication and the event.
#[doc(hidden)]
pub fn decode_for<P: Publication, E: Event, C: Codec>(
    codec: &C,
    event: &RecordedEvent,
) -> Result<E, PublishError> {
    E::decode_stored(codec, event.schema_version, &event.payload).map_err(|source| {
        PublishError::Decode {
            publication: P::NAME,
            cause: Box::new(DecodeError::new(event, source)),
        }
    })
}
