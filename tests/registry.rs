//! The start-up registry: what the macros registered, and the clashes the compiler cannot
//! see within one crate (two modules storing events under one name and version).

use eventsmith::{App, InMemoryStore, Registry, RegistryError};

mod accounts {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Serialize, Deserialize, eventsmith::Event)]
    #[event(name = "Opened", version = 1)]
    pub(crate) struct AccountOpened;
}

mod shops {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Serialize, Deserialize, eventsmith::Event)]
    #[event(name = "Opened")]
    pub(crate) struct ShopOpened;
}

#[test]
fn a_name_stored_by_two_types_is_an_error_naming_both() {
    let err = Registry::from_inventory().unwrap_err();
    assert_eq!(
        err,
        RegistryError::DuplicateEvent {
            name: "Opened",
            version: 1,
            first: "registry::accounts::AccountOpened",
            second: "registry::shops::ShopOpened",
        }
    );
    let app_err = App::new(InMemoryStore::new()).unwrap_err();
    assert!(
        app_err
            .to_string()
            .contains("`registry::accounts::AccountOpened` and `registry::shops::ShopOpened`")
    );
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
