//! The registry of event types and aggregates: filled at link time through `inventory` by
//! the macros, or by hand with [`RegistryBuilder`], and validated once at start-up.
//!
//! Within one crate, most wiring mistakes are compile errors. What the compiler cannot see
//! across crates (two crates storing events under the same name and version, two aggregates
//! with the same type name and thus the same streams) is checked here, with an error naming
//! both Rust types.

use std::collections::BTreeMap;

use crate::aggregate::Aggregate;
use crate::event::{Event, EventSet};

/// An event type, as registered by `#[derive(Event)]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventRegistration {
    /// The stored name.
    pub name: &'static str,
    /// The schema version.
    pub version: u32,
    /// The Rust type's path.
    pub rust_type: &'static str,
}

impl EventRegistration {
    /// The registration of `E`.
    #[must_use]
    pub fn of<E: Event>() -> Self {
        Self {
            name: E::NAME,
            version: E::VERSION,
            rust_type: std::any::type_name::<E>(),
        }
    }
}

/// An aggregate, as registered by `#[aggregate]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AggregateRegistration {
    /// The aggregate's type name (the prefix of its stream ids).
    pub name: &'static str,
    /// The Rust type's path.
    pub rust_type: &'static str,
    /// The stored names of the events it applies.
    pub events: &'static [&'static str],
    /// The names of the commands it handles.
    pub commands: &'static [&'static str],
}

impl AggregateRegistration {
    /// The registration of `A`.
    #[must_use]
    pub fn of<A: Aggregate>() -> Self {
        Self {
            name: A::TYPE,
            rust_type: std::any::type_name::<A>(),
            events: <A::Event as EventSet>::NAMES,
            commands: A::COMMANDS,
        }
    }
}

inventory::collect!(EventRegistration);
inventory::collect!(AggregateRegistration);

/// Two registrations clash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// Two Rust types store events under the same name and version, so neither could be
    /// decoded safely.
    #[error(
        "event name `{name}` version {version} is used by both `{first}` and `{second}`; give one of them another `#[event(name = \"...\")]`"
    )]
    DuplicateEvent {
        /// The stored name.
        name: &'static str,
        /// The version.
        version: u32,
        /// One Rust type.
        first: &'static str,
        /// The other.
        second: &'static str,
    },
    /// Two aggregates have the same type name, so they would write to the same streams.
    #[error(
        "aggregate name `{name}` is used by both `{first}` and `{second}`; give one of them another `#[aggregate(name = \"...\")]`"
    )]
    DuplicateAggregate {
        /// The aggregate type name.
        name: &'static str,
        /// One Rust type.
        first: &'static str,
        /// The other.
        second: &'static str,
    },
}

/// The validated set of event types and aggregates known to an application.
///
/// ```rust,standalone_crate
/// let registry = eventsmith::Registry::from_inventory().expect("no clashes");
/// for event in registry.events() {
///     println!("{} v{} = {}", event.name, event.version, event.rust_type);
/// }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Registry {
    events: Vec<EventRegistration>,
    aggregates: Vec<AggregateRegistration>,
}

impl Registry {
    /// Everything the macros registered in the linked crates, validated.
    ///
    /// # Errors
    /// [`RegistryError`] naming both Rust types of the first clash.
    pub fn from_inventory() -> Result<Self, RegistryError> {
        let mut builder = Self::builder();
        builder
            .events
            .extend(inventory::iter::<EventRegistration>().copied());
        builder
            .aggregates
            .extend(inventory::iter::<AggregateRegistration>().copied());
        builder.build()
    }

    /// A registry filled by hand, for builds whose linker drops `inventory` registrations
    /// (static libraries, some wasm targets).
    #[must_use]
    pub fn builder() -> RegistryBuilder {
        RegistryBuilder::default()
    }

    /// The event types, sorted by name and version.
    #[must_use]
    pub fn events(&self) -> &[EventRegistration] {
        &self.events
    }

    /// The aggregates, sorted by name.
    #[must_use]
    pub fn aggregates(&self) -> &[AggregateRegistration] {
        &self.aggregates
    }
}

/// Builds a [`Registry`] by hand.
///
/// ```
/// # use eventsmith::{Event, Registry};
/// # use serde::{Deserialize, Serialize};
/// #[derive(Debug, Serialize, Deserialize, Event)]
/// struct Pinged;
///
/// let registry = Registry::builder().event::<Pinged>().build().unwrap();
/// assert_eq!(registry.events()[0].name, "Pinged");
/// ```
#[derive(Debug, Clone, Default)]
pub struct RegistryBuilder {
    events: Vec<EventRegistration>,
    aggregates: Vec<AggregateRegistration>,
}

impl RegistryBuilder {
    /// Registers an event type.
    #[must_use]
    pub fn event<E: Event>(mut self) -> Self {
        self.events.push(EventRegistration::of::<E>());
        self
    }

    /// Registers an aggregate.
    #[must_use]
    pub fn aggregate<A: Aggregate>(mut self) -> Self {
        self.aggregates.push(AggregateRegistration::of::<A>());
        self
    }

    /// Sorts and validates the registrations. The same type registered twice counts once.
    ///
    /// # Errors
    /// [`RegistryError`] naming both Rust types of the first clash in sorted order.
    pub fn build(self) -> Result<Registry, RegistryError> {
        let mut events = BTreeMap::new();
        for e in self.events {
            match events.insert((e.name, e.version), e) {
                Some(other) if other.rust_type != e.rust_type => {
                    let (first, second) = ordered(other.rust_type, e.rust_type);
                    return Err(RegistryError::DuplicateEvent {
                        name: e.name,
                        version: e.version,
                        first,
                        second,
                    });
                }
                _ => {}
            }
        }
        let mut aggregates = BTreeMap::new();
        for a in self.aggregates {
            match aggregates.insert(a.name, a) {
                Some(other) if other.rust_type != a.rust_type => {
                    let (first, second) = ordered(other.rust_type, a.rust_type);
                    return Err(RegistryError::DuplicateAggregate {
                        name: a.name,
                        first,
                        second,
                    });
                }
                _ => {}
            }
        }
        Ok(Registry {
            events: events.into_values().collect(),
            aggregates: aggregates.into_values().collect(),
        })
    }
}

/// The two names in a fixed order, so the error does not depend on link order.
fn ordered(a: &'static str, b: &'static str) -> (&'static str, &'static str) {
    if a <= b { (a, b) } else { (b, a) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &'static str, version: u32, rust_type: &'static str) -> EventRegistration {
        EventRegistration {
            name,
            version,
            rust_type,
        }
    }

    #[test]
    fn duplicate_event_names_both_types() {
        let mut builder = Registry::builder();
        builder.events = vec![
            event("Opened", 1, "b::Opened"),
            event("Closed", 1, "a::Closed"),
            event("Opened", 1, "a::Opened"),
        ];
        assert_eq!(
            builder.build().unwrap_err(),
            RegistryError::DuplicateEvent {
                name: "Opened",
                version: 1,
                first: "a::Opened",
                second: "b::Opened"
            }
        );
    }

    #[test]
    fn same_name_at_other_versions_and_same_type_twice_are_fine() {
        let mut builder = Registry::builder();
        builder.events = vec![
            event("Opened", 2, "a::OpenedV2"),
            event("Opened", 1, "a::OpenedV1"),
            event("Opened", 1, "a::OpenedV1"),
        ];
        let registry = builder.build().unwrap();
        let versions: Vec<_> = registry.events().iter().map(|e| e.version).collect();
        assert_eq!(versions, [1, 2]);
    }

    #[test]
    fn duplicate_aggregate_names_both_types() {
        let agg = |rust_type| AggregateRegistration {
            name: "Account",
            rust_type,
            events: &[],
            commands: &[],
        };
        let mut builder = Registry::builder();
        builder.aggregates = vec![agg("x::Account"), agg("y::Account")];
        let err = builder.build().unwrap_err();
        assert!(
            err.to_string().contains("`x::Account` and `y::Account`"),
            "{err}"
        );
    }
}
