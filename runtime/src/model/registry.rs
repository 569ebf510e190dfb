//! The registry of event types and aggregates: filled at link time through `inventory` by
//! the macros, or by hand with [`RegistryBuilder`], and validated once at start-up.
//!
//! Within one crate, most wiring mistakes are compile errors. What the compiler cannot see
//! across crates (two crates storing events under the same name and version, two aggregates
//! with the same type name and thus the same streams) is checked here, with an error naming
//! both Rust types.

use std::collections::BTreeMap;

use crate::model::aggregate::Aggregate;
use crate::model::event::{Event, EventSet};
use crate::model::projection::Projection;
use crate::wire::shape::{OldVersion, ShapeFn, shape_of};

/// An event type, as registered by `#[derive(Event)]`.
#[derive(Debug, Clone, Copy)]
pub struct EventRegistration {
    /// The stored name.
    pub name: &'static str,
    /// The schema version.
    pub version: u32,
    /// Names the event was stored under before a rename.
    pub previous_names: &'static [&'static str],
    /// The Rust type's path.
    pub rust_type: &'static str,
    /// The serialized shape of the current version.
    pub shape: ShapeFn,
    /// The old structs that typed upcasters read, one per such older version.
    pub old_versions: &'static [OldVersion],
}

impl EventRegistration {
    /// The registration of `E`.
    #[must_use]
    pub fn of<E: Event>() -> Self {
        Self {
            name: E::NAME,
            version: E::VERSION,
            previous_names: E::PREVIOUS_NAMES,
            rust_type: std::any::type_name::<E>(),
            shape: shape_of::<E>,
            old_versions: E::OLD_VERSIONS,
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

/// A projection, as registered by `#[projection]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProjectionRegistration {
    /// The projection's name (the key of its checkpoint).
    pub name: &'static str,
    /// The Rust type's path.
    pub rust_type: &'static str,
}

impl ProjectionRegistration {
    /// The registration of `P`.
    #[must_use]
    pub fn of<P: Projection>() -> Self {
        Self {
            name: P::NAME,
            rust_type: std::any::type_name::<P>(),
        }
    }
}

/// A publication known to the application, registered by `#[publication]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicationRegistration {
    /// The publication's name (the key of its relay's checkpoint and of its message ids).
    pub name: &'static str,
    /// The Rust type's path.
    pub rust_type: &'static str,
}

inventory::collect!(ProjectionRegistration);
inventory::collect!(PublicationRegistration);
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
    /// A name one type was stored under before a rename is the name of another type, so
    /// stored events of that name could belong to either.
    #[error(
        "stored name `{name}` is a previous name of `{renamed}` (`renamed_from`) and the name of `{other}`; events stored under it could belong to either"
    )]
    RenamedOnto {
        /// The stored name.
        name: &'static str,
        /// The type whose `renamed_from` lists it.
        renamed: &'static str,
        /// The type that has it as its name or also as a previous name.
        other: &'static str,
    },
    /// Two projections have the same name, so they would share one checkpoint.
    #[error(
        "projection name `{name}` is used by both `{first}` and `{second}`; give one of them another `#[projection(name = \"...\")]`"
    )]
    DuplicateProjection {
        /// The projection name.
        name: &'static str,
        /// One Rust type.
        first: &'static str,
        /// The other.
        second: &'static str,
    },
    /// Two publications have the same name, so they would share one relay checkpoint and
    /// make the same message ids.
    #[error(
        "publication name `{name}` is used by both `{first}` and `{second}`; give one of them another `#[publication(name = \"...\")]`"
    )]
    DuplicatePublication {
        /// The publication name.
        name: &'static str,
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
/// let registry = eventsmith::registry::Registry::from_inventory().expect("no clashes");
/// for event in registry.events() {
///     println!("{} v{} = {}", event.name, event.version, event.rust_type);
/// }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Registry {
    events: Vec<EventRegistration>,
    aggregates: Vec<AggregateRegistration>,
    projections: Vec<ProjectionRegistration>,
    publications: Vec<PublicationRegistration>,
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
        builder
            .projections
            .extend(inventory::iter::<ProjectionRegistration>().copied());
        builder
            .publications
            .extend(inventory::iter::<PublicationRegistration>().copied());
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

    /// The projections, sorted by name.
    #[must_use]
    pub fn projections(&self) -> &[ProjectionRegistration] {
        &self.projections
    }

    /// The publications, sorted by name.
    #[must_use]
    pub fn publications(&self) -> &[PublicationRegistration] {
        &self.publications
    }
}

/// Builds a [`Registry`] by hand.
///
/// ```
/// # use eventsmith::Event;
/// # use eventsmith::registry::Registry;
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
    projections: Vec<ProjectionRegistration>,
    publications: Vec<PublicationRegistration>,
}

impl RegistryBuilder {
    /// Registers an event type.
    #[must_use]
    pub fn event<E: Event>(mut self) -> Self {
        self.events.push(EventRegistration::of::<E>());
        self
    }

    /// Registers an event type described by hand (or taken from another registry).
    #[must_use]
    pub fn event_registration(mut self, registration: EventRegistration) -> Self {
        self.events.push(registration);
        self
    }

    /// Registers a projection.
    #[must_use]
    pub fn projection<P: Projection>(mut self) -> Self {
        self.projections.push(ProjectionRegistration::of::<P>());
        self
    }

    /// Registers a publication
    /// (`PublicationRegistration::of::<P>()`).
    #[must_use]
    pub fn publication(mut self, registration: PublicationRegistration) -> Self {
        self.publications.push(registration);
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
        let events = unique(
            self.events,
            |e| ((e.name, e.version), e.rust_type),
            |e, first, second| RegistryError::DuplicateEvent {
                name: e.name,
                version: e.version,
                first,
                second,
            },
        )?;
        check_previous_names(events.values())?;
        let aggregates = unique(
            self.aggregates,
            |a| (a.name, a.rust_type),
            |a, first, second| RegistryError::DuplicateAggregate {
                name: a.name,
                first,
                second,
            },
        )?;
        let projections = unique(
            self.projections,
            |p| (p.name, p.rust_type),
            |p, first, second| RegistryError::DuplicateProjection {
                name: p.name,
                first,
                second,
            },
        )?;
        let publications = unique(
            self.publications,
            |p| (p.name, p.rust_type),
            |p, first, second| RegistryError::DuplicatePublication {
                name: p.name,
                first,
                second,
            },
        )?;
        Ok(Registry {
            events: events.into_values().collect(),
            aggregates: aggregates.into_values().collect(),
            projections: projections.into_values().collect(),
            publications: publications.into_values().collect(),
        })
    }
}

/// The registrations keyed and sorted by `key`; the same Rust type registered twice counts
/// once, two types under one key are the error `clash` builds from the later one and both
/// type names in a fixed order.
fn unique<T: Copy, K: Ord>(
    registrations: Vec<T>,
    key: impl Fn(&T) -> (K, &'static str),
    clash: impl Fn(&T, &'static str, &'static str) -> RegistryError,
) -> Result<BTreeMap<K, T>, RegistryError> {
    let mut unique = BTreeMap::new();
    for registration in registrations {
        let (k, rust_type) = key(&registration);
        if let Some(other) = unique.insert(k, registration) {
            let (_, other_type) = key(&other);
            if other_type != rust_type {
                let (first, second) = ordered(other_type, rust_type);
                return Err(clash(&registration, first, second));
            }
        }
    }
    Ok(unique)
}

/// A previous name must not be claimed by another type, as its name or as its previous name.
fn check_previous_names<'a>(
    events: impl Iterator<Item = &'a EventRegistration> + Clone,
) -> Result<(), RegistryError> {
    for renamed in events.clone() {
        for &name in renamed.previous_names {
            let other = events.clone().find(|e| {
                e.rust_type != renamed.rust_type
                    && (e.name == name || e.previous_names.contains(&name))
            });
            if let Some(other) = other {
                return Err(RegistryError::RenamedOnto {
                    name,
                    renamed: renamed.rust_type,
                    other: other.rust_type,
                });
            }
        }
    }
    Ok(())
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
            previous_names: &[],
            rust_type,
            shape: || Ok(String::new()),
            old_versions: &[],
        }
    }

    #[test]
    fn a_previous_name_taken_by_another_type_names_both() {
        let mut builder = Registry::builder();
        let mut renamed = event("MoneyDeposited", 2, "a::MoneyDeposited");
        renamed.previous_names = &["FundsDeposited"];
        builder.events = vec![renamed, event("FundsDeposited", 1, "b::FundsDeposited")];
        let err = builder.build().unwrap_err();
        assert_eq!(
            err,
            RegistryError::RenamedOnto {
                name: "FundsDeposited",
                renamed: "a::MoneyDeposited",
                other: "b::FundsDeposited"
            }
        );
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
    fn duplicate_projection_names_both_types() {
        let proj = |rust_type| ProjectionRegistration {
            name: "balances",
            rust_type,
        };
        let mut builder = Registry::builder();
        builder.projections = vec![
            proj("b::Balances"),
            proj("a::Balances"),
            proj("b::Balances"),
        ];
        assert_eq!(
            builder.build().unwrap_err(),
            RegistryError::DuplicateProjection {
                name: "balances",
                first: "a::Balances",
                second: "b::Balances"
            }
        );
    }

    #[test]
    fn duplicate_publication_names_both_types() {
        let publication = |rust_type| PublicationRegistration {
            name: "orders.public",
            rust_type,
        };
        let mut builder = Registry::builder();
        builder.publications = vec![publication("b::Orders"), publication("a::Orders")];
        assert_eq!(
            builder.build().unwrap_err(),
            RegistryError::DuplicatePublication {
                name: "orders.public",
                first: "a::Orders",
                second: "b::Orders"
            }
        );
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
