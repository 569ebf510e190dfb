// Handlers with and without the envelope, returning nothing or a Result; an event read under
// its previous name and at an older version; a renamed crate.
extern crate eventsmith as es;

use es::testing::ProjectionTest;
use es::upcast::json;
use es::{Projection, RecordedEvent};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, es::Event)]
#[event(crate = es, name = "Deposited", version = 2, renamed_from = ["Credited"])]
#[upcast(from = 1, typed = DepositedV1)]
struct Deposited {
    cents: u64,
}

#[derive(Deserialize)]
struct DepositedV1 {
    units: u64,
}

impl From<DepositedV1> for Deposited {
    fn from(old: DepositedV1) -> Self {
        Self { cents: old.units * 100 }
    }
}

#[derive(Debug, Serialize, Deserialize, es::Event)]
#[event(crate = es)]
struct Closed;

#[derive(Debug, thiserror::Error)]
#[error("overflow")]
struct Overflow;

#[derive(Default)]
struct Balances {
    cents: u64,
    closed_at: Vec<u64>,
}

#[es::projection(crate = es, name = "balances-v1")]
impl Balances {
    #[on]
    fn deposited(&mut self, event: &Deposited) -> Result<(), Overflow> {
        self.cents = self.cents.checked_add(event.cents).ok_or(Overflow)?;
        Ok(())
    }

    #[on]
    fn closed(&mut self, _event: &Closed, envelope: &RecordedEvent) {
        self.closed_at.push(envelope.global_position);
    }

    fn not_a_handler(&self) -> u64 {
        self.cents
    }
}

// A projection written by a `macro_rules!`: the generated locals must not be hidden from it.
macro_rules! counter {
    ($name:ident, $event:ty) => {
        #[derive(Default)]
        struct $name(u64);

        #[es::projection(crate = es)]
        impl $name {
            #[on]
            fn on(&mut self, _event: &$event) {
                self.0 += 1;
            }
        }
    };
}

counter!(Closings, Closed);

fn main() {
    ProjectionTest::new(Closings::default())
        .given("a", Closed)
        .then(|c| assert_eq!(c.0, 1));
    assert_eq!(<Balances as Projection>::NAME, "balances-v1");
    assert_eq!(
        es::projection::stored_names::<Balances>(),
        ["Deposited", "Credited", "Closed"]
    );
    let mut test = ProjectionTest::new(Balances::default())
        .given("a", Deposited { cents: 5 })
        .given_stored("a", "Credited", 1, json!({"units": 2}))
        .given("a", Closed)
        .then(|b| {
            assert_eq!(b.not_a_handler(), 205);
            assert_eq!(b.closed_at, [3]);
        });
    assert!(!test.try_given_stored("a", "Other", 1, json!({})).unwrap());
    assert!(test.try_given_stored("a", "Deposited", 2, json!({"cents": u64::MAX})).is_err());
}
