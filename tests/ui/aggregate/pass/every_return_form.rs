use eventsmith::command::HandledCommand;
use eventsmith::{Command, Event, aggregate};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
struct A;
#[derive(Debug, Serialize, Deserialize, Event)]
struct B;

macro_rules! commands {
    ($($name:ident),*) => {$(
        #[derive(Clone, Command)]
        struct $name {
            #[command(id)]
            id: String,
        }
    )*};
}
commands!(One, Two, Maybe, Many, Nothing, Implicit, Fallible, Aliased, Enum, Later);

#[derive(Debug)]
struct Rejected;

type Outcome<T> = std::result::Result<T, Rejected>;

#[derive(Default)]
struct Agg;

#[aggregate]
impl Agg {
    #[handle]
    fn one(&self, _c: One) -> A {
        A
    }
    #[handle]
    fn two(&self, _c: Two) -> (A, B) {
        (A, B)
    }
    #[handle]
    fn maybe(&self, _c: Maybe) -> Option<B> {
        None
    }
    #[handle]
    fn many(&self, _c: Many) -> Vec<A> {
        vec![A, A]
    }
    #[handle]
    fn nothing(&self, _c: Nothing) -> () {}
    #[handle]
    fn implicit(&self, _c: Implicit) {}
    #[handle]
    fn fallible(&self, _c: Fallible) -> Result<(A, Option<B>), Rejected> {
        Err(Rejected)
    }
    #[handle]
    fn aliased(&self, _c: Aliased) -> Outcome<B> {
        Ok(B)
    }
    #[handle]
    fn enumerated(&self, _c: Enum) -> Vec<AggEvent> {
        vec![AggEvent::A(A), B.into()]
    }
    #[handle]
    async fn later(&self, _c: Later) -> Result<A, Rejected> {
        std::future::ready(()).await;
        Ok(A)
    }

    #[apply]
    fn a(&mut self, _e: &A) {}
    #[apply]
    fn b(&mut self, _e: &B) {}

    // Other items pass through untouched.
    const LIMIT: u32 = 3;
    fn helper(&self) -> u32 {
        Self::LIMIT
    }
}

fn error_of<C: HandledCommand>() -> &'static str {
    std::any::type_name::<C::Error>()
}

fn main() {
    assert_eq!(Agg.helper(), 3);
    assert_eq!(error_of::<One>(), "core::convert::Infallible");
    assert!(error_of::<Aliased>().ends_with("Rejected"));
    assert!(error_of::<Fallible>().ends_with("Rejected"));
}
