//! Events of another crate, stored under names that the registry tests' own events also use:
//! clashes that only the start-up registry can see.

use serde::{Deserialize, Serialize};

/// Stored as `Opened` version 1, like the test crate's `AccountOpened`.
#[derive(Debug, Serialize, Deserialize, eventsmith::Event)]
#[event(name = "Opened")]
pub struct ShopOpened;

/// Stored as `Closed`; the test crate's `ShopShut` lists `Closed` as a previous name.
#[derive(Debug, Serialize, Deserialize, eventsmith::Event)]
#[event(name = "Closed")]
pub struct ShopClosed;
