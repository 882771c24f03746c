//! The tree shows the architecture: every file of `src/` imports only from its own layer's
//! folder or from layers below it, and no two files import each other (directly or round
//! a circle). Imports are read from `crate::` and `super::` paths (tests excluded), so a
//! new upward arrow fails here, before review.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, top first; each may import from the ones after it. `audit` may use
/// `whocan` (KMS010 asks who-can), never the reverse; `diffset` (many diffs) reads files
/// through the audit's document discovery.
const LAYERS: &[&str] =
    &["cli", "report", "diffset", "audit", "findings", "whocan", "prove", "encode", "eval", "model", "facts", "base"];

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The module path of a file (`src/model/policy/parse.rs` → `model::policy::parse`).
fn module_of(path: &Path) -> Vec<String> {
    let rel = path.strip_prefix("src").unwrap().with_extension("");
    let mut parts: Vec<String> = rel.iter().map(|s| s.to_string_lossy().into_owned()).collect();
    if parts.last().is_some_and(|l| l == "mod" || l == "lib" || l == "main") {
        parts.pop();
    }
    parts
}

/// The files each file imports (by module path), from `crate::` and `super::` paths.
fn imports(text: &str, module: &[String]) -> BTreeSet<Vec<String>> {
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    let code: String = code.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
    let mut out = BTreeSet::new();
    let bytes: Vec<char> = code.chars().collect();
    let word = |i: usize| i > 0 && (bytes[i - 1].is_alphanumeric() || bytes[i - 1] == '_' || bytes[i - 1] == ':');
    let mut i = 0;
    while i < bytes.len() {
        let rest: String = bytes[i..bytes.len().min(i + 6)].iter().collect();
        let (base, skip) = if rest.starts_with("crate:") && !word(i) {
            (Vec::new(), "crate::".len())
        } else if rest.starts_with("super:") && !word(i) {
            (module[..module.len().saturating_sub(1)].to_vec(), "super::".len())
        } else {
            i += 1;
            continue;
        };
        let mut path = base;
        let mut j = i + skip;
        let mut segment = String::new();
        while j < bytes.len() {
            let c = bytes[j];
            if c.is_alphanumeric() || c == '_' {
                segment.push(c);
            } else if c == ':' && bytes.get(j + 1) == Some(&':') && !segment.is_empty() {
                if segment == "super" {
                    path.pop();
                } else {
                    path.push(std::mem::take(&mut segment));
                }
                segment.clear();
                j += 1;
            } else {
                break;
            }
            j += 1;
        }
        if !segment.is_empty() && segment != "super" {
            path.push(segment);
        }
        // `{a, b}` groups: each member may be a module.
        if bytes.get(j) == Some(&'{') {
            let close = bytes[j..].iter().position(|c| *c == '}').map_or(bytes.len(), |k| j + k);
            let group: String = bytes[j + 1..close].iter().collect();
            for member in group.split(',') {
                let head = member.trim().split("::").next().unwrap_or_default().to_string();
                if !head.is_empty() && head != "self" {
                    let mut p = path.clone();
                    p.push(head);
                    out.insert(p);
                }
            }
        }
        out.insert(path);
        i = j.max(i + 1);
    }
    out
}

struct Tree {
    /// module path → file, for every file of `src/`.
    modules: BTreeMap<Vec<String>, PathBuf>,
    /// file → files it imports.
    edges: BTreeMap<PathBuf, BTreeSet<PathBuf>>,
}

fn tree() -> Tree {
    let mut all = Vec::new();
    files(Path::new("src"), &mut all);
    all.sort();
    let modules: BTreeMap<Vec<String>, PathBuf> = all.iter().map(|p| (module_of(p), p.clone())).collect();
    let resolve = |path: &[String]| (1..=path.len()).rev().find_map(|n| modules.get(&path[..n]).cloned());
    let mut edges = BTreeMap::new();
    for f in &all {
        let text = std::fs::read_to_string(f).unwrap();
        let is_mod = f.file_name().is_some_and(|n| n == "mod.rs");
        let mut module = module_of(f);
        if is_mod {
            // `super` inside `x/mod.rs` is x's parent: treat the file as a child of x.
            module.push("mod".into());
        }
        let targets: BTreeSet<PathBuf> =
            imports(&text, &module).iter().filter_map(|p| resolve(p)).filter(|t| t != f).collect();
        edges.insert(f.clone(), targets);
    }
    Tree { modules, edges }
}

fn layer(path: &Path) -> Option<usize> {
    let top = path.strip_prefix("src").ok()?.iter().next()?.to_string_lossy().into_owned();
    LAYERS.iter().position(|l| *l == top)
}

#[test]
fn every_import_points_down_a_layer_or_within_one() {
    let t = tree();
    assert!(t.modules.len() > 40, "src/ was not found (run from the project root)");
    let mut wrong = Vec::new();
    for (from, targets) in &t.edges {
        let Some(lf) = layer(from) else { continue };
        for to in targets {
            if let Some(lt) = layer(to) {
                if lt < lf {
                    wrong.push(format!(
                        "{} → {} ({} imports from {}, a layer above it)",
                        from.display(),
                        to.display(),
                        LAYERS[lf],
                        LAYERS[lt]
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "imports pointing up:\n{}", wrong.join("\n"));
}

#[test]
fn no_import_circles_between_files() {
    let t = tree();
    // Tarjan's strongly connected components over the file graph.
    let nodes: Vec<&PathBuf> = t.edges.keys().collect();
    let index_of: BTreeMap<&PathBuf, usize> = nodes.iter().enumerate().map(|(i, p)| (*p, i)).collect();
    let succ: Vec<Vec<usize>> =
        nodes.iter().map(|p| t.edges[*p].iter().filter_map(|q| index_of.get(q).copied()).collect()).collect();
    let circles = strongly_connected(&succ);
    let named: Vec<String> = circles
        .iter()
        .filter(|c| c.len() > 1)
        .map(|c| c.iter().map(|i| nodes[*i].display().to_string()).collect::<Vec<_>>().join(" ↔ "))
        .collect();
    assert!(named.is_empty(), "import circles:\n{}", named.join("\n"));
}

#[test]
fn src_keeps_at_most_two_files_beside_lib_and_main() {
    let loose: Vec<String> = std::fs::read_dir("src")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".rs") && n != "lib.rs" && n != "main.rs")
        .collect();
    assert!(loose.len() <= 2, "loose files at the top of src/: {loose:?}");
}

fn strongly_connected(succ: &[Vec<usize>]) -> Vec<Vec<usize>> {
    struct State<'a> {
        succ: &'a [Vec<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        stack: Vec<usize>,
        on: Vec<bool>,
        next: usize,
        out: Vec<Vec<usize>>,
    }
    fn visit(s: &mut State, v: usize) {
        s.index[v] = Some(s.next);
        s.low[v] = s.next;
        s.next += 1;
        s.stack.push(v);
        s.on[v] = true;
        for &w in &s.succ[v] {
            match s.index[w] {
                None => {
                    visit(s, w);
                    s.low[v] = s.low[v].min(s.low[w]);
                }
                Some(iw) if s.on[w] => s.low[v] = s.low[v].min(iw),
                _ => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            let mut c = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on[w] = false;
                c.push(w);
                if w == v {
                    break;
                }
            }
            s.out.push(c);
        }
    }
    let n = succ.len();
    let mut s =
        State { succ, index: vec![None; n], low: vec![0; n], stack: vec![], on: vec![false; n], next: 0, out: vec![] };
    for v in 0..n {
        if s.index[v].is_none() {
            visit(&mut s, v);
        }
    }
    s.out
}
