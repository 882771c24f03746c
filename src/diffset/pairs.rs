//! What is compared with what: two directories (files matched by relative path), a
//! manifest of file pairs, or two versions of one file; inside a pair of files, policies
//! matched by logical ID / resource address / JSON path (the audit's locations).

use super::found::{self, Found};
use std::path::Path;

/// One policy before and after: `None` on the side where it does not exist.
#[derive(Debug, Clone)]
pub struct Pair {
    /// The file's path as the user reads it (relative to the compared directories, or as
    /// written in the manifest / on the command line).
    pub path: String,
    /// The policy's place inside the file (empty: the whole file).
    pub location: String,
    pub old: Option<Found>,
    pub new: Option<Found>,
}

impl Pair {
    /// `path`, then `#location` for a policy inside a template, plan or dump.
    pub fn name(&self) -> String {
        if self.location.is_empty() {
            self.path.clone()
        } else {
            format!("{}#{}", self.path, self.location)
        }
    }
}

/// Why a manifest cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read manifest {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path}:{line}: error: {message}")]
    Line { path: String, line: usize, message: String },
}

/// The side of a manifest line that does not exist (as in `git diff`): an added or
/// removed file.
pub const ABSENT: &str = "/dev/null";

/// Pairs of every policy under `old` and `new`: files matched by their path relative to
/// each directory (a file on one side only is added or removed), policies inside a file by
/// location. Only the files the audit reads are listed (`.json`, `.yaml`, `.yml`, `.template`).
pub fn directories(old: &Path, new: &Path) -> Vec<Pair> {
    let (olds, news) = (relative_files(old), relative_files(new));
    let mut names: Vec<&String> = olds.iter().chain(&news).collect();
    names.sort();
    names.dedup();
    let side = |dir: &Path, list: &[String], rel: &str| {
        list.iter().any(|r| r == rel).then(|| found::read(&dir.join(rel), &dir.join(rel).display().to_string()))
    };
    names.into_iter().flat_map(|rel| file_pair(rel, side(old, &olds, rel), side(new, &news, rel))).collect()
}

/// The files under `dir`, relative to it, with `/` separators.
fn relative_files(dir: &Path) -> Vec<String> {
    found::files_under(dir)
        .iter()
        .filter_map(|p| p.strip_prefix(dir).ok())
        .map(|r| r.iter().map(|c| c.to_string_lossy()).collect::<Vec<_>>().join("/"))
        .collect()
}

/// The pairs of one file's two versions (`None`: the file does not exist on that side):
/// policies matched by location, the n-th of a repeated location with the n-th.
pub fn file_pair(path: &str, old: Option<Vec<Found>>, new: Option<Vec<Found>>) -> Vec<Pair> {
    let (old, new) = (old.unwrap_or_default(), new.unwrap_or_default());
    let keyed = |list: Vec<Found>| {
        let mut seen: Vec<String> = Vec::new();
        list.into_iter()
            .map(|f| {
                let n = seen.iter().filter(|l| **l == f.location).count();
                seen.push(f.location.clone());
                ((f.location.clone(), n), f)
            })
            .collect::<Vec<_>>()
    };
    let mut old = keyed(old);
    let mut out = Vec::new();
    for (key, f) in keyed(new) {
        let before = old.iter().position(|(k, _)| *k == key).map(|i| old.remove(i).1);
        out.push(Pair { path: path.into(), location: key.0, old: before, new: Some(f) });
    }
    out.extend(old.into_iter().map(|((location, _), f)| Pair { path: path.into(), location, old: Some(f), new: None }));
    out
}

/// The pairs a manifest lists: one `OLD NEW` pair of files per line (separated by a tab,
/// or by spaces when the paths have none), `/dev/null` for a side that does not exist,
/// `#` comments and blank lines ignored; relative paths are relative to the manifest's
/// directory. Each pair is named by its NEW path (its OLD one when removed).
pub fn manifest(path: &Path) -> Result<Vec<Pair>, ManifestError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Io { path: shown.clone(), source })?;
    let base = path.parent().unwrap_or(Path::new(""));
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> =
            if t.contains('\t') { t.split('\t').map(str::trim).collect() } else { t.split_whitespace().collect() };
        let bad = |message: String| ManifestError::Line { path: shown.clone(), line: i + 1, message };
        let [old, new] = fields.as_slice() else {
            return Err(bad(format!(
                "expected `OLD NEW` (two paths, {ABSENT} for a missing side), found {} fields",
                fields.len()
            )));
        };
        if *old == ABSENT && *new == ABSENT {
            return Err(bad(format!("both sides are {ABSENT}")));
        }
        let side = |p: &str| {
            (p != ABSENT).then(|| {
                let full = base.join(p);
                found::read(&full, p)
            })
        };
        let name = if *new == ABSENT { old } else { new };
        out.extend(file_pair(name, side(old), side(new)));
    }
    Ok(out)
}
