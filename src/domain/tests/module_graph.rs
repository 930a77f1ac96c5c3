//! The domain's modules import each other in one direction only, so each can
//! be read knowing only the ones below it. Read from the sources, so that a
//! circle cannot come back unnoticed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// For each module, the sibling modules it names.
type Graph = BTreeMap<String, BTreeSet<String>>;

/// The modules of `src/domain` and the siblings each one names through
/// `super::` or `crate::domain::`, directly or through a re-export of
/// `mod.rs`.
fn domain_graph() -> Graph {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/domain");
    let read = |path: &Path| {
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let reexported = reexports(&read(&dir.join("mod.rs")));
    let mut sources = BTreeMap::new();
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a readable directory entry").path();
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        if path.extension().is_some_and(|e| e == "rs") && stem != "mod" {
            sources.insert(stem.to_owned(), read(&path));
        }
    }
    let modules: BTreeSet<String> = sources.keys().cloned().collect();
    sources
        .iter()
        .map(|(module, source)| {
            let used = names_used(source)
                .into_iter()
                .filter_map(|name| {
                    if modules.contains(&name) {
                        Some(name)
                    } else {
                        reexported.get(&name).cloned()
                    }
                })
                .filter(|used| used != module)
                .collect();
            (module.clone(), used)
        })
        .collect()
}

/// Item name to module, from the `pub use module::{...};` lines of `mod.rs`.
fn reexports(mod_rs: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let code = without_comments(mod_rs);
    for rest in code.split("pub use ").skip(1) {
        let Some((module, items)) = rest.split_once("::") else {
            continue;
        };
        for item in first_segments(items) {
            out.insert(item, module.trim().to_owned());
        }
    }
    out
}

/// The first segment of every path that starts with `super::` or
/// `crate::domain::` in `source`: a sibling module or a re-exported item.
fn names_used(source: &str) -> BTreeSet<String> {
    let code = without_comments(source);
    let mut out = BTreeSet::new();
    for prefix in ["super::", "crate::domain::"] {
        for (at, _) in code.match_indices(prefix) {
            let before = code[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            out.extend(first_segments(&code[at + prefix.len()..]));
        }
    }
    out
}

/// The leading identifier of a path tail, or of each item of a leading
/// `{...}` group (`self` and globs name no sibling).
fn first_segments(tail: &str) -> Vec<String> {
    let identifier = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let tail = tail.trim_start();
    let names = match tail.strip_prefix('{') {
        None => vec![identifier(tail)],
        Some(group) => {
            let mut depth = 0;
            let mut items = vec![String::new()];
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        items.push(String::new());
                        continue;
                    }
                    _ => {}
                }
                if let Some(item) = items.last_mut() {
                    item.push(c);
                }
            }
            items.iter().map(|item| identifier(item)).collect()
        }
    };
    names
        .into_iter()
        .filter(|name| !name.is_empty() && name != "self")
        .collect()
}

/// `source` with line comments (and so doc comments) removed.
fn without_comments(source: &str) -> String {
    source
        .lines()
        .map(|line| line.split_once("//").map_or(line, |(code, _)| code))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A circle of imports, as the modules along it with the first repeated at
/// the end, if there is one.
fn find_circle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        module: &str,
        graph: &Graph,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|m| m == module) {
            let mut circle = path[start..].to_vec();
            circle.push(module.to_owned());
            return Some(circle);
        }
        if done.contains(module) {
            return None;
        }
        path.push(module.to_owned());
        for used in graph.get(module).into_iter().flatten() {
            if let Some(circle) = visit(used, graph, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        done.insert(module.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|module| visit(module, graph, &mut Vec::new(), &mut done))
}

#[test]
fn domain_modules_import_each_other_without_a_circle() {
    let graph = domain_graph();
    // The reading sees imports that are known to exist, so an unread source
    // cannot pass for an acyclic one.
    for (module, used) in [
        ("engine", "rules"),
        ("rules", "profile"),
        ("profile", "criteria"),
        ("verdict", "criteria"),
    ] {
        assert!(
            graph[module].contains(used),
            "{module} uses {used}: {graph:?}"
        );
    }
    if let Some(circle) = find_circle(&graph) {
        panic!(
            "the domain modules import each other in a circle: {}",
            circle.join(" -> ")
        );
    }
}

#[test]
fn uses_through_groups_and_reexports_are_edges() {
    let reexported = reexports("pub use criteria::{CATALOGUE, Stage};\npub use facts::Facts;\n");
    assert_eq!(reexported["Stage"], "criteria");
    assert_eq!(reexported["Facts"], "facts");
    let names = names_used(
        "use super::verdict::{Signal, Outcome};\n\
         use crate::domain::{\n    Stage,\n    profile::{Profile, ZoneName},\n};\n\
         // use super::commented_out;\n\
         fn f() { super::engine::evaluate(); }\n",
    );
    let expected = ["Stage", "engine", "profile", "verdict"];
    assert_eq!(names, expected.map(str::to_owned).into_iter().collect());
}

#[test]
fn a_circle_through_several_modules_is_found() {
    let graph: Graph = [("a", "b"), ("b", "c"), ("c", "a"), ("d", "a")]
        .into_iter()
        .map(|(from, to)| (from.to_owned(), BTreeSet::from([to.to_owned()])))
        .collect();
    let circle = find_circle(&graph).expect("a -> b -> c -> a");
    assert_eq!(circle, ["a", "b", "c", "a"]);
    let acyclic: Graph = [("a", "b"), ("b", "c")]
        .into_iter()
        .map(|(from, to)| (from.to_owned(), BTreeSet::from([to.to_owned()])))
        .collect();
    assert_eq!(find_circle(&acyclic), None);
}
