//! What the schema lock reports: an unlocked event, a shape changed under the same version,
//! an old struct edited after the bump, a locked name nothing reads any more, a shape that
//! cannot be traced; and what blessing keeps.

use eventsmith::Event;
use eventsmith::registry::{EventRegistration, Registry};
use eventsmith::testing::{LockMismatch, LockProblem, SchemaLock, shape_of};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
#[event(name = "Opened")]
struct Opened {
    owner: String,
}

/// `Opened` after a shape change at the same version (registered by hand: within one crate
/// the compiler refuses two types with one stored name and version).
#[derive(Debug, Serialize, Deserialize)]
struct OpenedChanged {
    owner: String,
    branch: u16,
}

/// `Opened` after a proper bump: version 2 with the version-1 struct kept for decoding.
#[derive(Debug, Serialize, Deserialize, Event)]
#[event(name = "Opened", version = 2)]
#[upcast(from = 1, typed = OpenedV1)]
struct OpenedBumped {
    owner: String,
    branch: u16,
}

#[derive(Deserialize)]
struct OpenedV1 {
    #[allow(dead_code, reason = "read by the upcaster only through its shape here")]
    owner: String,
}

impl From<OpenedV1> for OpenedBumped {
    fn from(old: OpenedV1) -> Self {
        Self {
            owner: old.owner,
            branch: 0,
        }
    }
}

/// The version-1 struct edited after the bump: it no longer reads what was stored.
#[derive(Debug, Serialize, Deserialize, Event)]
#[event(name = "Closed", version = 2)]
#[upcast(from = 1, typed = ClosedV1Edited)]
struct Closed {
    at: u64,
}

#[derive(Deserialize)]
struct ClosedV1Edited {
    at: u64,
}

impl From<ClosedV1Edited> for Closed {
    fn from(old: ClosedV1Edited) -> Self {
        Self { at: old.at }
    }
}

#[derive(Debug, Serialize, Deserialize, Event)]
#[serde(tag = "kind")]
enum Tagged {
    A { x: u8 },
}

fn lock(registry: Registry, path: &std::path::Path) -> SchemaLock {
    SchemaLock::new(path).registry(registry)
}

fn problems(check: Result<(), Box<dyn std::error::Error + Send + Sync>>) -> Vec<LockProblem> {
    let err = check.expect_err("the lock must not match");
    err.downcast::<LockMismatch>().expect("a mismatch").problems
}

#[test]
fn a_new_event_must_be_blessed_then_matches() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.lock");
    let registry = Registry::builder().event::<Opened>().build().unwrap();
    let found = problems(lock(registry.clone(), &path).verify());
    assert!(
        matches!(&found[..], [LockProblem::New { name, version: 1, .. }] if name == "Opened"),
        "{found:?}"
    );
    lock(registry.clone(), &path).bless().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(r#"["Opened",1,"{owner: str}"]"#), "{text}");
    lock(registry, &path).verify().unwrap();
}

#[test]
fn a_shape_changed_without_a_bump_is_reported_with_both_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.lock");
    let before = Registry::builder().event::<Opened>().build().unwrap();
    lock(before, &path).bless().unwrap();
    let mut changed = EventRegistration::of::<Opened>();
    changed.shape = shape_of::<OpenedChanged>;
    let after = Registry::builder()
        .event_registration(changed)
        .build()
        .unwrap();
    let err = lock(after, &path).verify().unwrap_err();
    let message = err.to_string();
    assert!(message.contains("locked: {owner: str}"), "{message}");
    assert!(
        message.contains("now:    {branch: u16, owner: str}"),
        "{message}"
    );
    assert!(message.contains("#[event(version = 2)]"), "{message}");
    assert!(message.contains("EVENTSMITH_BLESS=1"), "{message}");
}

#[test]
fn a_bump_keeps_the_old_version_whose_struct_must_still_match() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.lock");
    lock(
        Registry::builder().event::<Opened>().build().unwrap(),
        &path,
    )
    .bless()
    .unwrap();
    // The bumped type: version 2 is new, version 1 is read by the old struct, which matches.
    let bumped = Registry::builder().event::<OpenedBumped>().build().unwrap();
    let found = problems(lock(bumped.clone(), &path).verify());
    assert!(
        matches!(&found[..], [LockProblem::New { version: 2, .. }]),
        "{found:?}"
    );
    lock(bumped.clone(), &path).bless().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(r#"["Opened",1,"#), "{text}");
    assert!(text.contains(r#"["Opened",2,"#), "{text}");
    lock(bumped, &path).verify().unwrap();

    // An old struct that no longer has the shape locked for its version.
    std::fs::write(&path, "[\"Closed\",1,\"{at: str}\"]\n").unwrap();
    let closed = Registry::builder().event::<Closed>().build().unwrap();
    let found = problems(lock(closed, &path).verify());
    assert!(
        found.iter().any(|p| matches!(p, LockProblem::Changed { version: 1, rust_type, .. } if rust_type == "ClosedV1Edited")),
        "{found:?}"
    );
}

#[test]
fn a_locked_name_nothing_reads_is_reported_and_blessing_drops_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.lock");
    std::fs::write(
        &path,
        "[\"Gone\",3,\"{}\"]\n[\"Opened\",1,\"{owner: str}\"]\n",
    )
    .unwrap();
    let registry = Registry::builder().event::<Opened>().build().unwrap();
    let found = problems(lock(registry.clone(), &path).verify());
    assert_eq!(
        found,
        [LockProblem::Orphaned {
            name: "Gone".into(),
            version: 3
        }]
    );
    lock(registry.clone(), &path).bless().unwrap();
    assert!(!std::fs::read_to_string(&path).unwrap().contains("Gone"));
    lock(registry, &path).verify().unwrap();
}

#[test]
fn an_untraceable_shape_is_an_error_unless_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.lock");
    let registry = Registry::builder().event::<Tagged>().build().unwrap();
    let found = problems(lock(registry.clone(), &path).verify());
    assert!(
        matches!(&found[..], [LockProblem::Untraceable { .. }]),
        "{found:?}"
    );
    assert!(lock(registry.clone(), &path).bless().is_err());
    lock(registry, &path).skip("Tagged").verify().unwrap();
}

#[test]
fn a_malformed_lock_line_is_an_error_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.lock");
    std::fs::write(&path, "# comment\nOpened 1 {owner: str}\n").unwrap();
    let registry = Registry::builder().event::<Opened>().build().unwrap();
    let err = lock(registry.clone(), &path).verify().unwrap_err();
    assert!(err.to_string().contains("line 2"), "{err}");
    // Blessing over it would drop what it records: refused, the file left as it was.
    let err = lock(registry, &path).bless().unwrap_err();
    assert!(err.to_string().contains("line 2"), "{err}");
    assert!(std::fs::read_to_string(&path).unwrap().contains("Opened 1"));
}

/// An aggregate whose streams are stored as `Ledger-<id>`.
#[derive(Default)]
struct Ledger;

#[eventsmith::aggregate]
impl Ledger {
    #[eventsmith::apply]
    fn opened(&mut self, _event: &Opened) {}
}

/// The same aggregate after a rename of the type, without keeping the stored name.
#[derive(Default)]
struct Journal;

#[eventsmith::aggregate(events = JournalEvent)]
impl Journal {
    #[eventsmith::apply]
    fn opened(&mut self, _event: &Opened) {}
}

#[derive(Default)]
struct Totals;

#[eventsmith::projection(name = "totals")]
impl Totals {
    #[eventsmith::on]
    fn opened(&mut self, _event: &Opened) {}
}

#[derive(Default)]
struct Sums;

#[eventsmith::projection(name = "sums")]
impl Sums {
    #[eventsmith::on]
    fn opened(&mut self, _event: &Opened) {}
}

#[test]
fn aggregate_and_projection_names_are_locked_and_a_rename_is_reported() {
    use eventsmith::testing::NameKind;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.lock");
    let before = Registry::builder()
        .event::<Opened>()
        .aggregate::<Ledger>()
        .projection::<Totals>()
        .build()
        .unwrap();
    let found = problems(lock(before.clone(), &path).verify());
    assert!(
        found.contains(&LockProblem::NewName {
            kind: NameKind::Aggregate,
            name: "Ledger".into(),
            rust_type: std::any::type_name::<Ledger>().into(),
        }) && found.contains(&LockProblem::NewName {
            kind: NameKind::Projection,
            name: "totals".into(),
            rust_type: std::any::type_name::<Totals>().into(),
        }),
        "{found:?}"
    );
    lock(before.clone(), &path).bless().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains(r#"["aggregate","Ledger"]"#) && text.contains(r#"["projection","totals"]"#),
        "{text}"
    );
    lock(before, &path).verify().unwrap();

    // The aggregate type renamed and the projection's name changed: their data would be
    // orphaned, and the report says how to keep the stored names.
    let after = Registry::builder()
        .event::<Opened>()
        .aggregate::<Journal>()
        .projection::<Sums>()
        .build()
        .unwrap();
    let check = lock(after.clone(), &path).verify();
    let message = check.as_ref().unwrap_err().to_string();
    assert!(
        message.contains("aggregate `Ledger` is locked, but no aggregate has that name any more")
            && message.contains(r#"#[aggregate(name = \"Ledger\")]"#.replace('\\', "").as_str())
            && message.contains(r#"#[projection(name = "totals")]"#),
        "{message}"
    );
    let found = problems(check);
    for gone in [
        (NameKind::Aggregate, "Ledger"),
        (NameKind::Projection, "totals"),
    ] {
        assert!(
            found.contains(&LockProblem::NameGone {
                kind: gone.0,
                name: gone.1.into(),
            }),
            "{gone:?} in {found:?}"
        );
    }
    assert_eq!(found.len(), 4, "two gone, two new: {found:?}");
    // Blessing is the deliberate choice: the old names go, the new ones are kept.
    lock(after.clone(), &path).bless().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        !text.contains("Ledger") && text.contains(r#"["aggregate","Journal"]"#),
        "{text}"
    );
    lock(after, &path).verify().unwrap();
}
