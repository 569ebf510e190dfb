use std::borrow::Cow;

use eventsmith::command::AggregateId;
use eventsmith::{Command, Uuid};

#[derive(Clone)]
struct AccountNo(u32);

impl AggregateId for AccountNo {
    fn to_aggregate_id(&self) -> Cow<'_, str> {
        Cow::Owned(format!("ACC{:04}", self.0))
    }
}

#[derive(Clone, Command)]
struct ByNewtype {
    #[command(id)]
    account: AccountNo,
}

#[derive(Clone, Command)]
struct ByUuid(#[command(id)] Uuid, #[command(idempotency_key)] Option<Uuid>);

#[derive(Clone, Command)]
struct ByInt {
    #[command(id)]
    n: i64,
    #[command(idempotency_key)]
    key: String,
}

fn main() {
    assert_eq!(ByNewtype { account: AccountNo(7) }.aggregate_id(), "ACC0007");
    let by_uuid = ByUuid(Uuid::nil(), None);
    assert_eq!(by_uuid.aggregate_id(), "00000000-0000-0000-0000-000000000000");
    assert_eq!(by_uuid.idempotency_key(), None);
    let by_int = ByInt { n: -3, key: "k".into() };
    assert_eq!((by_int.aggregate_id(), by_int.idempotency_key()), ("-3".into(), Some("k".into())));
    assert_eq!(ByInt::NAME, "ByInt");
}
