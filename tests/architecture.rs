//! The code's shape, pinned: no import cycle between modules at any level of the module tree, and
//! no source file over the size a newcomer can read (~800 lines).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `src/` with its module path (`src/ring/conv.rs` → `ring::conv`,
/// `src/ring/mod.rs` → `ring`, `src/lib.rs` → ``).
fn modules() -> BTreeMap<String, PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    files
        .into_iter()
        .filter_map(|p| {
            let rel = p.strip_prefix(&src).unwrap().with_extension("");
            let mut parts: Vec<String> = rel.iter().map(|c| c.to_string_lossy().into_owned()).collect();
            if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
                parts.pop();
            }
            if parts == ["main"] {
                return None;
            }
            Some((parts.join("::"), p))
        })
        .collect()
}

/// The module paths a file of module `module` refers to (`crate::a::b`, `super::x`, `self::y`),
/// each resolved to the deepest module that exists.
fn references(module: &str, text: &str, all: &BTreeMap<String, PathBuf>) -> BTreeSet<String> {
    let parent_of = |m: &str| m.rsplit_once("::").map_or(String::new(), |(p, _)| p.to_string());
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .map(|l| format!("{l}\n"))
        .collect();
    let bytes = code.as_bytes();
    let mut out = BTreeSet::new();
    for start in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(k) = code[from..].find(start) {
            let at = from + k;
            from = at + start.len();
            if at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_' || bytes[at - 1] == b':') {
                continue;
            }
            let mut rest = &code[at + start.len()..];
            let mut base = match start {
                "crate::" => String::new(),
                "super::" => parent_of(module),
                _ => module.to_string(),
            };
            while let Some(r) = rest.strip_prefix("super::") {
                base = parent_of(&base);
                rest = r;
            }
            let mut path = base;
            let mut best = None;
            loop {
                let id: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if id.is_empty() {
                    break;
                }
                path = if path.is_empty() {
                    id.clone()
                } else {
                    format!("{path}::{id}")
                };
                if all.contains_key(&path) {
                    best = Some(path.clone());
                }
                rest = &rest[id.len()..];
                match rest.strip_prefix("::") {
                    Some(r) => rest = r,
                    None => break,
                }
            }
            if let Some(b) = best {
                out.insert(b);
            }
        }
    }
    out.remove(module);
    out
}

/// The dependency edges between sibling modules: a reference from `a::x::y` to `a::z::w` counts
/// as `a::x → a::z` (the children of their nearest common ancestor).
fn sibling_edges() -> BTreeMap<String, BTreeSet<(String, String)>> {
    let all = modules();
    let mut edges: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
    for (m, path) in &all {
        let text = std::fs::read_to_string(path).unwrap();
        for r in references(m, &text, &all) {
            let a: Vec<&str> = if m.is_empty() { vec![] } else { m.split("::").collect() };
            let b: Vec<&str> = r.split("::").collect();
            let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
            if common == a.len() || common == b.len() {
                continue; // an ancestor or a descendant: a module and its own children
            }
            let parent = a[..common].join("::");
            let (x, y) = (a[common].to_string(), b[common].to_string());
            edges.entry(parent).or_default().insert((x, y));
        }
    }
    edges
}

#[test]
fn no_import_cycle_between_modules_at_any_level() {
    let mut cycles = Vec::new();
    for (parent, es) in sibling_edges() {
        let mut adj: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (x, y) in &es {
            adj.entry(x).or_default().push(y);
        }
        // Every pair (x, y) with paths both ways is part of a cycle.
        let reach = |from: &str| {
            let mut seen = BTreeSet::new();
            let mut stack = vec![from];
            while let Some(n) = stack.pop() {
                for &m in adj.get(n).map(Vec::as_slice).unwrap_or(&[]) {
                    if seen.insert(m) {
                        stack.push(m);
                    }
                }
            }
            seen
        };
        for x in adj.keys() {
            for y in reach(x) {
                if x < &y && reach(y).contains(x) {
                    let p = if parent.is_empty() {
                        "crate".to_string()
                    } else {
                        parent.clone()
                    };
                    cycles.push(format!("{p}: {x} <-> {y}"));
                }
            }
        }
    }
    assert!(
        cycles.is_empty(),
        "import cycles between modules:\n{}",
        cycles.join("\n")
    );
}

#[test]
fn no_source_file_is_over_800_lines() {
    let long: Vec<String> = modules()
        .values()
        .filter_map(|p| {
            let n = std::fs::read_to_string(p).unwrap().lines().count();
            (n > 850).then(|| format!("{} ({n} lines)", p.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "files to split along their seams:\n{}",
        long.join("\n")
    );
}
