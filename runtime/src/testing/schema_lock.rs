//! The schema lock: a committed file recording, for each stored event name and version, the
//! shape of its serialized form, so that a shape change without a version bump fails a test;
//! and the names under which aggregates (the prefix of their stream ids) and projections
//! (the key of their checkpoints) keep data, so that a rename that would orphan it fails too.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};

use crate::model::registry::{EventRegistration, Registry};

/// The environment variable that rewrites the lock instead of checking it.
pub const BLESS_VAR: &str = "EVENTSMITH_BLESS";

const HEADER: &str = "\
# eventsmith schema lock: the serialized shape of every stored event name and version.
# Each line is [name, version, shape]. A changed shape needs a new version:
# #[event(version = N + 1)] with an #[upcast(from = N, ...)]. Lines [\"aggregate\", name] and
# [\"projection\", name] record the names that stream ids and checkpoints are stored under.
# Rewrite it after a deliberate change with EVENTSMITH_BLESS=1 cargo test.
";

/// Checks the shapes of the registered events against a lock file.
///
/// Call it from a test of your own crate, with the lock committed beside `Cargo.toml`:
///
/// ```no_run
/// #[test]
/// fn event_shapes_are_locked() {
///     eventsmith::testing::SchemaLock::new(concat!(env!("CARGO_MANIFEST_DIR"), "/events.lock"))
///         .check();
/// }
/// ```
///
/// It fails when an event's shape differs from the one locked for its name and version (the
/// type changed without a version bump), when an event or an old struct of a typed upcaster is
/// not locked yet, and when a locked name has no type that reads it any more. With
/// `EVENTSMITH_BLESS=1` it rewrites the file instead; older versions that upcasters still read
/// stay in it.
#[derive(Debug, Clone)]
pub struct SchemaLock {
    path: PathBuf,
    registry: Option<Registry>,
    skipped: Vec<String>,
}

/// A stored event name and version.
type Key = (String, u32);

/// What keeps data under a name of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum NameKind {
    /// An aggregate: its name is the prefix of its stream ids.
    Aggregate,
    /// A projection: its name is the key of its checkpoint and dead letters.
    Projection,
}

impl NameKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Aggregate => "aggregate",
            Self::Projection => "projection",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "aggregate" => Some(Self::Aggregate),
            "projection" => Some(Self::Projection),
            _ => None,
        }
    }

    /// What the name keys, and the attribute that keeps it through a rename.
    fn keeps(self, name: &str) -> String {
        match self {
            Self::Aggregate => format!(
                "its streams are stored as `{name}-<id>`: if the type was renamed, keep the stored name with `#[aggregate(name = \"{name}\")]`"
            ),
            Self::Projection => format!(
                "its checkpoint and dead letters are stored under it: if the type or its name was changed, keep `#[projection(name = \"{name}\")]`"
            ),
        }
    }
}

/// The locked names, by kind.
type Names = BTreeMap<(NameKind, String), String>;

/// For each stored name and version: the Rust type read there and its traced shape.
type Shapes = BTreeMap<Key, (String, String)>;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Where the shapes and the lock disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LockProblem {
    /// The shape changed under the same name and version.
    Changed {
        /// The stored name.
        name: String,
        /// The version.
        version: u32,
        /// The Rust type now read at that version.
        rust_type: String,
        /// The locked shape.
        locked: String,
        /// The shape now.
        now: String,
    },
    /// A name and version the lock does not record yet.
    New {
        /// The stored name.
        name: String,
        /// The version.
        version: u32,
        /// The Rust type.
        rust_type: String,
    },
    /// A locked name and version that no type reads any more.
    Orphaned {
        /// The stored name.
        name: String,
        /// The version.
        version: u32,
    },
    /// An aggregate or projection name the lock does not record yet.
    NewName {
        /// An aggregate's or a projection's.
        kind: NameKind,
        /// The name.
        name: String,
        /// The Rust type.
        rust_type: String,
    },
    /// A locked aggregate or projection name that no type has any more: its data would be
    /// orphaned.
    NameGone {
        /// An aggregate's or a projection's.
        kind: NameKind,
        /// The name.
        name: String,
    },
    /// The shape of a type cannot be traced.
    Untraceable {
        /// The Rust type.
        rust_type: String,
        /// Why.
        reason: String,
    },
}

impl fmt::Display for LockProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Changed {
                name,
                version,
                rust_type,
                locked,
                now,
            } => write!(
                f,
                "`{name}` version {version} (`{rust_type}`) changed shape without a version bump:\n    locked: {locked}\n    now:    {now}\n  if events of it may be stored, keep the old shape for decoding and bump: `#[event(version = {})]` with `#[upcast(from = {version}, ...)]`; if none were ever stored, bless the change",
                version + 1
            ),
            Self::New {
                name,
                version,
                rust_type,
            } => write!(
                f,
                "`{name}` version {version} (`{rust_type}`) is not in the lock yet; bless it"
            ),
            Self::Orphaned { name, version } => write!(
                f,
                "`{name}` version {version} is locked, but no type reads it any more; if events of it are stored, keep a type for it (or list the name in `renamed_from`); otherwise bless to drop it"
            ),
            Self::NewName {
                kind,
                name,
                rust_type,
            } => write!(
                f,
                "{} `{name}` (`{rust_type}`) is not in the lock yet; bless it",
                kind.as_str()
            ),
            Self::NameGone { kind, name } => write!(
                f,
                "{} `{name}` is locked, but no {} has that name any more; {}; if it was removed on purpose, bless to drop it",
                kind.as_str(),
                kind.as_str(),
                kind.keeps(name)
            ),
            Self::Untraceable { rust_type, reason } => write!(
                f,
                "the shape of `{rust_type}` cannot be locked: {reason}; skip it with `SchemaLock::skip`"
            ),
        }
    }
}

/// Every problem found, printed one per paragraph with the way to bless.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", report(.problems, .path))]
pub struct LockMismatch {
    /// The lock file.
    pub path: PathBuf,
    /// What differs.
    pub problems: Vec<LockProblem>,
}

fn report(problems: &[LockProblem], path: &Path) -> String {
    let mut out = format!("the event schema lock {} does not match:\n", path.display());
    for p in problems {
        let _ = writeln!(out, "- {p}");
    }
    let _ = write!(
        out,
        "after a deliberate change, rewrite the lock with {BLESS_VAR}=1 cargo test, and review its diff"
    );
    out
}

impl SchemaLock {
    /// A check of the events registered through `inventory` against the lock at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            registry: None,
            skipped: Vec::new(),
        }
    }

    /// Checks these registrations instead of the `inventory` ones.
    #[must_use]
    pub fn registry(mut self, registry: Registry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Leaves out the events stored as `name` (for shapes the tracer cannot follow).
    #[must_use]
    pub fn skip(mut self, name: &str) -> Self {
        self.skipped.push(name.to_owned());
        self
    }

    /// Checks the lock, or rewrites it when `EVENTSMITH_BLESS` is set.
    ///
    /// # Panics
    /// With the full report when the lock does not match, the registry has clashes or the
    /// file cannot be read or written.
    #[track_caller]
    pub fn check(self) {
        let bless = std::env::var_os(BLESS_VAR).is_some_and(|v| !v.is_empty() && v != "0");
        let result = if bless { self.bless() } else { self.verify() };
        if let Err(e) = result {
            panic!("{e}");
        }
    }

    /// Compares the shapes with the lock.
    ///
    /// # Errors
    /// [`LockMismatch`] listing every problem; a message for an unreadable file or a registry
    /// clash.
    pub fn verify(&self) -> Result<(), BoxError> {
        let registry = self.registrations()?;
        let events = registry.events();
        let (locked, locked_names) = read_lock(&self.path)?;
        let (current, mut problems) = self.current(events);
        for ((name, version), (rust_type, shape)) in &current {
            match locked.get(&(name.clone(), *version)) {
                None => problems.push(LockProblem::New {
                    name: name.clone(),
                    version: *version,
                    rust_type: rust_type.clone(),
                }),
                Some(locked) if locked != shape => problems.push(LockProblem::Changed {
                    name: name.clone(),
                    version: *version,
                    rust_type: rust_type.clone(),
                    locked: locked.clone(),
                    now: shape.clone(),
                }),
                Some(_) => {}
            }
        }
        for (name, version) in locked.keys() {
            if !current.contains_key(&(name.clone(), *version))
                && !self.skipped.contains(name)
                && !still_read(events, name, *version)
            {
                problems.push(LockProblem::Orphaned {
                    name: name.clone(),
                    version: *version,
                });
            }
        }
        let names = names(&registry);
        for ((kind, name), rust_type) in &names {
            if !locked_names.contains_key(&(*kind, name.clone())) {
                problems.push(LockProblem::NewName {
                    kind: *kind,
                    name: name.clone(),
                    rust_type: rust_type.clone(),
                });
            }
        }
        for (kind, name) in locked_names.keys() {
            if !names.contains_key(&(*kind, name.clone())) {
                problems.push(LockProblem::NameGone {
                    kind: *kind,
                    name: name.clone(),
                });
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Box::new(LockMismatch {
                path: self.path.clone(),
                problems,
            }))
        }
    }

    /// Rewrites the lock from the current shapes, keeping the older versions still read.
    ///
    /// # Errors
    /// A shape that cannot be traced, a registry clash, a malformed lock (blessing over it
    /// would drop the older versions it records), or the file's I/O error.
    pub fn bless(&self) -> Result<(), BoxError> {
        let registry = self.registrations()?;
        let events = registry.events();
        let (locked, _) = read_lock(&self.path)?;
        let (current, problems) = self.current(events);
        if !problems.is_empty() {
            return Err(Box::new(LockMismatch {
                path: self.path.clone(),
                problems,
            }));
        }
        let mut lines: BTreeMap<Key, String> = locked
            .into_iter()
            .filter(|((name, version), _)| {
                self.skipped.contains(name) || still_read(events, name, *version)
            })
            .collect();
        lines.extend(current.into_iter().map(|(k, (_, shape))| (k, shape)));
        let mut text = String::from(HEADER);
        for ((name, version), shape) in lines {
            let line = serde_json::to_string(&(name, version, shape))?;
            text.push_str(&line);
            text.push('\n');
        }
        for (kind, name) in names(&registry).into_keys() {
            let line = serde_json::to_string(&(kind.as_str(), name))?;
            text.push_str(&line);
            text.push('\n');
        }
        std::fs::write(&self.path, text)?;
        Ok(())
    }

    fn registrations(&self) -> Result<Registry, BoxError> {
        Ok(match &self.registry {
            Some(r) => r.clone(),
            None => Registry::from_inventory()?,
        })
    }

    /// The shape of every registered version: the current types and the old structs.
    fn current(&self, events: &[EventRegistration]) -> (Shapes, Vec<LockProblem>) {
        let mut shapes = BTreeMap::new();
        let mut problems = Vec::new();
        for event in events {
            if self.skipped.iter().any(|s| s == event.name) {
                continue;
            }
            let versions = std::iter::once((event.version, event.rust_type, event.shape)).chain(
                event
                    .old_versions
                    .iter()
                    .map(|o| (o.version, o.rust_type, o.shape)),
            );
            for (version, rust_type, shape) in versions {
                match shape() {
                    Ok(shape) => {
                        shapes.insert(
                            (event.name.to_owned(), version),
                            (rust_type.to_owned(), shape),
                        );
                    }
                    Err(e) => problems.push(LockProblem::Untraceable {
                        rust_type: rust_type.to_owned(),
                        reason: e.to_string(),
                    }),
                }
            }
        }
        (shapes, problems)
    }
}

/// Whether some registered type still decodes events stored as `name` at `version`: an older
/// version of its current or a previous name, read through its upcasters.
fn still_read(events: &[EventRegistration], name: &str, version: u32) -> bool {
    events.iter().any(|e| {
        (e.name == name || e.previous_names.contains(&name)) && (1..=e.version).contains(&version)
    })
}

/// The names the registered aggregates and projections keep data under, with their types.
fn names(registry: &Registry) -> Names {
    let aggregates = registry.aggregates().iter().map(|a| {
        (
            (NameKind::Aggregate, a.name.to_owned()),
            a.rust_type.to_owned(),
        )
    });
    let projections = registry.projections().iter().map(|p| {
        (
            (NameKind::Projection, p.name.to_owned()),
            p.rust_type.to_owned(),
        )
    });
    aggregates.chain(projections).collect()
}

/// One line of the lock.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Line {
    Event(String, u32, String),
    Name(String, String),
}

fn read_lock(path: &Path) -> Result<(BTreeMap<Key, String>, Names), std::io::Error> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok((BTreeMap::new(), BTreeMap::new()));
        }
        Err(e) => return Err(e),
    };
    let (mut entries, mut names) = (BTreeMap::new(), BTreeMap::new());
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let malformed = |why: String| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{} line {}: not a [name, version, shape] entry, nor an [\"aggregate\" or \"projection\", name] one: {why}",
                    path.display(),
                    n + 1
                ),
            )
        };
        match serde_json::from_str::<Line>(line).map_err(|e| malformed(e.to_string()))? {
            Line::Event(name, version, shape) => {
                entries.insert((name, version), shape);
            }
            Line::Name(kind, name) => {
                let kind = NameKind::parse(&kind)
                    .ok_or_else(|| malformed(format!("unknown kind `{kind}`")))?;
                names.insert((kind, name), String::new());
            }
        }
    }
    Ok((entries, names))
}
