//! The runtime's modules import one way: the folders of `runtime/src` form layers, a module
//! imports only from its own layer or a lower one, and no module imports one that imports it
//! back. Read from the source, so a new import against the grain fails here.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The folders of `runtime/src`, lowest first.
const LAYERS: [&str; 9] = [
    "util", "wire", "model", "store", "read", "write", "process", "outbox", "testing",
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("runtime/src")
}

/// Every `.rs` file under `dir`, as its module path (`["read", "task"]` for
/// `read/task/mod.rs`).
fn modules(dir: &Path, prefix: &[String], out: &mut BTreeMap<Vec<String>, PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let mut module = prefix.to_vec();
        if path.is_dir() {
            module.push(stem);
            modules(&path, &module, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            if stem != "mod" && stem != "lib" {
                module.push(stem);
            }
            out.insert(module, path);
        }
    }
}

/// The code of a file without its comments (doc links are not imports) and string literals.
fn code(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The module paths a file names through `crate::` or `super::`, resolved to the longest
/// prefix that is a module.
fn imports(
    module: &[String],
    text: &str,
    known: &BTreeMap<Vec<String>, PathBuf>,
) -> BTreeSet<Vec<String>> {
    let code = code(text);
    let mut found = BTreeSet::new();
    let ident = |c: char| c.is_alphanumeric() || c == '_' || c == ':';
    for (at, _) in code
        .match_indices("crate::")
        .chain(code.match_indices("super::"))
    {
        if at > 0 && code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let path: String = code[at..].chars().take_while(|&c| ident(c)).collect();
        let mut segments: Vec<String> = path
            .split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        let mut base: Vec<String> = Vec::new();
        if segments[0] == "super" {
            // `super` of `a/b.rs` is `a`; of `a/b/mod.rs` also `a`.
            base = module.to_vec();
            while segments.first().is_some_and(|s| s == "super") {
                segments.remove(0);
                base.pop();
            }
        } else {
            segments.remove(0);
        }
        base.extend(segments);
        while !base.is_empty() && !known.contains_key(&base) {
            base.pop();
        }
        // The crate root counts as a module too: reaching the re-exports of `lib.rs` from
        // inside is an import of everything.
        if base != module {
            found.insert(base);
        }
    }
    found
}

fn layer(module: &[String]) -> Option<usize> {
    let top = module.first()?;
    LAYERS.iter().position(|l| l == top)
}

#[test]
fn folders_import_downwards_and_no_module_imports_one_that_imports_it_back() {
    let mut known = BTreeMap::new();
    modules(&src(), &[], &mut known);
    assert!(known.len() > 40, "read the runtime's modules");

    let mut graph: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    let mut against = Vec::new();
    for (module, path) in &known {
        let text = fs::read_to_string(path).unwrap();
        let targets = imports(module, &text, &known);
        if let Some(from) = layer(module) {
            if targets.contains(&Vec::new()) {
                against.push(format!(
                    "{} names an item through the crate root, which re-exports every layer",
                    module.join("::")
                ));
            }
            for target in &targets {
                if let Some(to) = layer(target) {
                    if to > from {
                        against.push(format!(
                            "{} imports {}",
                            module.join("::"),
                            target.join("::")
                        ));
                    }
                }
            }
        }
        graph.insert(module.clone(), targets);
    }
    assert!(
        against.is_empty(),
        "imports against the layers {LAYERS:?}:\n{}",
        against.join("\n")
    );

    // A cycle: a module reachable from one of its own imports.
    let mut cycles = Vec::new();
    for (module, targets) in &graph {
        for target in targets {
            if reaches(&graph, target, module) {
                cycles.push(format!("{} <-> {}", module.join("::"), target.join("::")));
            }
        }
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

fn reaches(
    graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
    from: &[String],
    to: &[String],
) -> bool {
    let mut seen = BTreeSet::new();
    let mut stack = vec![from.to_vec()];
    while let Some(next) = stack.pop() {
        if next == to {
            return true;
        }
        if seen.insert(next.clone()) {
            stack.extend(graph.get(&next).into_iter().flatten().cloned());
        }
    }
    false
}

#[test]
fn the_checker_sees_an_import_against_the_layers() {
    let mut known = BTreeMap::new();
    modules(&src(), &[], &mut known);
    let module = vec!["model".to_owned(), "event".to_owned()];
    let found = imports(
        &module,
        "use crate::store::StoreError;\nuse super::command::X; // crate::read::Nope\n",
        &known,
    );
    assert!(found.contains(&vec!["store".to_owned()]));
    assert!(found.contains(&vec!["model".to_owned(), "command".to_owned()]));
    assert_eq!(found.len(), 2, "comments are not imports: {found:?}");
}
