//! The start-up registry: what the macros registered, and the clashes the compiler cannot
//! see: two crates storing events under one name and version (within one crate that is a
//! compile error, `tests/ui/event/fail/same_name_and_version_twice.rs`), and a previous name
//! of one type that another type uses.
//!
//! A test binary of its own: the clash is linked in on purpose, so every `App::new` in this
//! binary fails, as the first test checks; in the shared binary (`tests/it`) it would fail
//! all the others.

use eventsmith::registry::{Registry, RegistryError};
use eventsmith::{App, InMemoryStore};

mod accounts {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Serialize, Deserialize, eventsmith::Event)]
    #[event(name = "Opened", version = 1)]
    pub(crate) struct AccountOpened;
}

mod shops {
    pub(crate) use eventsmith_test_shop_events::{ShopClosed, ShopOpened};
    use serde::{Deserialize, Serialize};

    /// Renamed from `Closed`, which the other crate's `ShopClosed` still uses.
    #[derive(Debug, Serialize, Deserialize, eventsmith::Event)]
    #[event(name = "Shut", renamed_from = ["Closed"])]
    pub(crate) struct ShopShut;
}

#[test]
fn a_name_stored_by_two_types_is_an_error_naming_both() {
    let err = Registry::from_inventory().unwrap_err();
    assert_eq!(
        err,
        RegistryError::DuplicateEvent {
            name: "Opened",
            version: 1,
            first: "eventsmith_test_shop_events::ShopOpened",
            second: "registry::accounts::AccountOpened",
        }
    );
    let app_err = App::new(InMemoryStore::new()).unwrap_err();
    assert!(app_err.to_string().contains(
        "`eventsmith_test_shop_events::ShopOpened` and `registry::accounts::AccountOpened`"
    ));
}

#[test]
fn a_registry_built_by_hand_is_validated_the_same_way() {
    let ok = Registry::builder()
        .event::<accounts::AccountOpened>()
        .build()
        .unwrap();
    assert_eq!(
        ok.events()[0].rust_type,
        "registry::accounts::AccountOpened"
    );
    let app = App::builder(InMemoryStore::new()).registry(ok).build();
    assert!(app.is_ok());
    let clash = Registry::builder()
        .event::<shops::ShopOpened>()
        .event::<accounts::AccountOpened>()
        .build();
    assert!(matches!(clash, Err(RegistryError::DuplicateEvent { .. })));
}

#[test]
fn a_previous_name_that_another_type_uses_is_an_error_naming_both() {
    let err = Registry::builder()
        .event::<shops::ShopClosed>()
        .event::<shops::ShopShut>()
        .build()
        .unwrap_err();
    assert_eq!(
        err,
        RegistryError::RenamedOnto {
            name: "Closed",
            renamed: "registry::shops::ShopShut",
            other: "eventsmith_test_shop_events::ShopClosed",
        }
    );
}

mod contracts {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Serialize, Deserialize, eventsmith::Event)]
    #[event(name = "registry.ping")]
    pub(crate) struct Ping;

    pub(crate) struct Orders;

    #[eventsmith::publication(name = "orders.public")]
    impl Orders {
        #[publish(subject = "pings")]
        fn ping(&self, _event: &Ping) -> Option<Ping> {
            None
        }
    }

    pub(crate) mod billing {
        pub(crate) struct Orders;

        #[eventsmith::publication(name = "orders.public")]
        impl Orders {
            #[publish(subject = "pings")]
            fn ping(&self, _event: &super::Ping) -> Option<super::Ping> {
                None
            }
        }
    }
}

#[test]
fn two_publications_of_one_name_are_an_error_naming_both() {
    use eventsmith::registry::PublicationRegistration;

    let err = Registry::builder()
        .publication(PublicationRegistration::of::<contracts::Orders>())
        .publication(PublicationRegistration::of::<contracts::billing::Orders>())
        .build()
        .unwrap_err();
    assert_eq!(
        err,
        RegistryError::DuplicatePublication {
            name: "orders.public",
            first: "registry::contracts::Orders",
            second: "registry::contracts::billing::Orders",
        }
    );
}
