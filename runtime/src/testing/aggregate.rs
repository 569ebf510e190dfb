//! Given/when/then tests of aggregates, with no store.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use eventsmith::testing::AggregateTest;
//! # use eventsmith::{Command, Event, aggregate};
//! # use serde::{Deserialize, Serialize};
//! # #[derive(Debug, Serialize, Deserialize, Event)] struct Opened;
//! # #[derive(Debug, Serialize, Deserialize, Event)] struct Closed;
//! # #[derive(Clone, Command)] struct Close { #[command(id)] id: String }
//! # #[derive(Debug, PartialEq)] enum DoorError { NotOpen }
//! # #[derive(Default)] struct Door { open: bool }
//! # #[aggregate]
//! # impl Door {
//! #     #[handle]
//! #     fn close(&self, _c: Close) -> Result<Closed, DoorError> {
//! #         if self.open { Ok(Closed) } else { Err(DoorError::NotOpen) }
//! #     }
//! #     #[apply] fn opened(&mut self, _e: &Opened) { self.open = true; }
//! #     #[apply] fn closed(&mut self, _e: &Closed) { self.open = false; }
//! # }
//! AggregateTest::<Door>::new()
//!     .given(Opened)
//!     .when(Close { id: "d".into() })
//!     .await
//!     .then_events([Closed])
//!     .then_state(|door| assert!(!door.open));
//!
//! AggregateTest::<Door>::new()
//!     .when(Close { id: "d".into() })
//!     .await
//!     .then_error(DoorError::NotOpen);
//! # });
//! ```

use std::fmt::Debug;

use crate::model::aggregate::Aggregate;
use crate::model::command::HandledCommand;
use crate::model::event::EventSet;
use crate::util::panic;
use crate::wire::codec::{Codec, JsonCodec};

/// An aggregate under test: its state after the given events.
#[derive(Debug, Default)]
pub struct AggregateTest<A> {
    state: A,
}

impl<A: Aggregate> AggregateTest<A> {
    /// An aggregate with no history.
    #[must_use]
    pub fn new() -> Self {
        Self {
            state: A::default(),
        }
    }

    /// Applies one past event.
    #[must_use]
    pub fn given(mut self, event: impl Into<A::Event>) -> Self {
        self.state.apply(&event.into());
        self
    }

    /// Applies several past events, in order.
    #[must_use]
    pub fn given_all(mut self, events: impl IntoIterator<Item = A::Event>) -> Self {
        for event in events {
            self.state.apply(&event);
        }
        self
    }

    /// Runs the command's handler against the state. A panic in the handler is caught and
    /// reported by the `then_*` methods.
    pub async fn when<C>(self, command: C) -> Then<A, C::Error>
    where
        C: HandledCommand<Aggregate = A>,
    {
        let outcome = panic::future(C::handle(&self.state, command)).await;
        let mut state = self.state;
        if let Ok(Ok(events)) = &outcome {
            for event in events {
                state.apply(event);
            }
        }
        Then { state, outcome }
    }
}

/// What a handler decided, to assert on. Every `then_*` method panics with a description of
/// the difference when the expectation fails.
#[derive(Debug)]
pub struct Then<A: Aggregate, E> {
    state: A,
    outcome: Result<Result<Vec<A::Event>, E>, String>,
}

impl<A: Aggregate, E: Debug> Then<A, E> {
    /// Asserts the handler succeeded with exactly these events (compared by name and
    /// serialized value, so events need no `PartialEq`).
    #[track_caller]
    pub fn then_events<T: Into<A::Event>>(self, expected: impl IntoIterator<Item = T>) -> Self {
        let expected: Vec<A::Event> = expected.into_iter().map(Into::into).collect();
        let actual = self.events();
        let same = actual.len() == expected.len()
            && actual.iter().zip(&expected).all(|(a, e)| same_event(a, e));
        assert!(
            same,
            "the handler decided other events\n  expected: {expected:?}\n    actual: {actual:?}"
        );
        self
    }

    /// Asserts the handler succeeded and decided no event.
    #[track_caller]
    pub fn then_no_events(self) -> Self {
        let actual = self.events();
        assert!(actual.is_empty(), "expected no events, got {actual:?}");
        self
    }

    /// Asserts the handler rejected the command with this error.
    #[track_caller]
    pub fn then_error(self, expected: E) -> Self
    where
        E: PartialEq,
    {
        let actual = self.error();
        assert!(
            *actual == expected,
            "the handler failed with another error\n  expected: {expected:?}\n    actual: {actual:?}"
        );
        self
    }

    /// Asserts the handler rejected the command with an error that satisfies `check`.
    #[track_caller]
    pub fn then_error_matches(self, check: impl FnOnce(&E) -> bool) -> Self {
        let actual = self.error();
        assert!(check(actual), "the error {actual:?} does not match");
        self
    }

    /// Asserts the handler panicked with a message containing `text`.
    #[track_caller]
    pub fn then_panics(self, text: &str) -> Self {
        match &self.outcome {
            Err(message) => assert!(
                message.contains(text),
                "the handler panicked with {message:?}, which does not contain {text:?}"
            ),
            Ok(other) => panic!("expected the handler to panic, but it returned {other:?}"),
        }
        self
    }

    /// Runs `check` on the state after the decided events were applied.
    pub fn then_state(self, check: impl FnOnce(&A)) -> Self {
        check(&self.state);
        self
    }

    /// The decided events, panicking if the handler failed.
    #[track_caller]
    pub fn events(&self) -> &[A::Event] {
        match &self.outcome {
            Ok(Ok(events)) => events,
            Ok(Err(error)) => panic!("expected events, but the handler failed with {error:?}"),
            Err(message) => panic!("expected events, but the handler panicked: {message}"),
        }
    }

    #[track_caller]
    fn error(&self) -> &E {
        match &self.outcome {
            Ok(Err(error)) => error,
            Ok(Ok(events)) => panic!("expected an error, but the handler decided {events:?}"),
            Err(message) => panic!("expected an error, but the handler panicked: {message}"),
        }
    }
}

fn same_event<Ev: EventSet>(a: &Ev, b: &Ev) -> bool {
    let value = |e: &Ev| {
        e.encode(&JsonCodec)
            .ok()
            .and_then(|bytes| JsonCodec.decode::<serde_json::Value>(&bytes).ok())
    };
    a.name() == b.name() && value(a).is_some() && value(a) == value(b)
}
