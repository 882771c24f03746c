//! The policies one file holds, as `diff` compares them: the one place `diff` reads files
//! through the audit's document discovery (plain policies, CLI wrappers, CloudFormation
//! templates in JSON or YAML, terraform plans and state), so both commands find the same
//! policies at the same logical IDs and resource addresses.

use crate::audit::discover::{documents_in, list_files, Body, Document};
use crate::model::load::read_source;
use std::path::{Path, PathBuf};

/// One policy (or what stands in its place) found in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The file as the user named it (or `<stdin>`, or `REV:PATH` for a git revision).
    pub file: String,
    /// Logical ID / resource address / JSON path inside the file; empty for a whole-file policy.
    pub location: String,
    /// The line the policy starts on (0: unknown).
    pub line: usize,
    pub content: Content,
}

/// What a [`Found`] holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// Policy text for `parse_policy`, the source name its diagnostics carry, and the key's
    /// ARN when the file gives it (terraform's `arn`, a `KeyArn` beside `Policy`).
    Policy { text: String, label: String, key_arn: Option<String> },
    /// The policy cannot be compared (unreadable file, invalid JSON/YAML, an unresolved
    /// CloudFormation intrinsic): the message says why and where.
    Error(String),
    /// Not a policy (an index file), or a value unknown until apply: the message says which.
    Skipped(String),
}

/// The policies of the file at `path` (an unreadable file is one `Error`).
pub fn read(path: &Path, name: &str) -> Vec<Found> {
    match read_source(path) {
        Ok((text, _)) => in_text(name, &text),
        Err(e) => {
            vec![Found { file: name.into(), location: String::new(), line: 0, content: Content::Error(e.to_string()) }]
        }
    }
}

/// The policies in `text`, read as the file `name`. The only call into the audit's
/// discovery: when it changes (intrinsics resolved, another YAML reader), this mapping is
/// what follows.
pub fn in_text(name: &str, text: &str) -> Vec<Found> {
    documents_in(name, text).into_iter().map(from_document).collect()
}

fn from_document(d: Document) -> Found {
    let content = match d.body {
        Body::Policy { text, label, .. } => Content::Policy { text, label, key_arn: d.key.arn },
        Body::Error(m) => Content::Error(m),
        Body::Skipped(m) => Content::Skipped(m),
        // A value known only after apply: some policy, undecided (see `outcome`).
        Body::Free(m) => Content::Skipped(m),
    };
    Found { file: d.file, location: d.location, line: d.pos.line, content }
}

/// Whether `found` is one policy making up a whole file (what `diff OLD NEW` always
/// compared), not policies inside a template, plan or account dump.
pub fn is_whole_file(found: &[Found]) -> bool {
    matches!(found, [one] if one.location.is_empty())
}

/// The files under `dir` that may hold policies (sorted; as `audit` lists them).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    list_files(&[dir.to_path_buf()])
}
