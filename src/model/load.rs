//! Reading input files (or standard input for `-`) into the model.

use crate::base::diag::Error;
use crate::model::grant::{parse_grants, Grant};
use crate::model::inputs::Inputs;
use crate::model::policy::{parse_policy, Policy, PolicyKind};
use crate::model::request::Request;
use std::io::Read;
use std::path::Path;

/// Reads a file, or standard input for `-`. Returns the text and the name to show.
pub fn read_source(path: &Path) -> Result<(String, String), Error> {
    let label = if path == Path::new("-") { "<stdin>".to_string() } else { path.display().to_string() };
    let io = |source| Error::Io { path: label.clone(), source };
    let bytes = if path == Path::new("-") {
        let mut b = Vec::new();
        std::io::stdin().read_to_end(&mut b).map_err(io)?;
        b
    } else {
        std::fs::read(path).map_err(io)?
    };
    let text = String::from_utf8(bytes).map_err(|e| not_utf8(&label, e.as_bytes(), e.utf8_error().valid_up_to()))?;
    Ok((text, label))
}

/// Text that is not UTF-8: where its first bad byte is (line, column, byte offset), shown
/// on its line (the bad byte as U+FFFD).
fn not_utf8(label: &str, bytes: &[u8], valid: usize) -> Error {
    // Cannot fail: the first `valid` bytes are UTF-8 (`Utf8Error::valid_up_to`).
    let good = std::str::from_utf8(&bytes[..valid]).unwrap_or_default();
    let line_start = good.rfind('\n').map_or(0, |i| i + 1);
    let pos =
        crate::base::json::Pos { line: good.matches('\n').count() + 1, col: good[line_start..].chars().count() + 1 };
    let mut sink = crate::base::diag::Sink::new(label);
    sink.retarget(label.to_string(), &format!("{good}\u{FFFD}"));
    let byte = bytes.get(valid).copied().unwrap_or_default();
    sink.error(
        pos,
        "",
        format!("invalid UTF-8 at byte offset {valid} (byte 0x{byte:02x}): input files must be UTF-8 text"),
    );
    Error::Invalid(sink.items)
}

pub fn load_policy(path: &Path, kind: PolicyKind) -> Result<Policy, Error> {
    let (text, label) = read_source(path)?;
    parse_policy(&text, &label, kind)
}

pub fn load_grants(path: &Path) -> Result<Vec<Grant>, Error> {
    let (text, label) = read_source(path)?;
    parse_grants(&text, &label)
}

pub fn load_request(path: &Path) -> Result<Request, Error> {
    let (text, label) = read_source(path)?;
    Request::parse(&text, &label)
}

/// Paths of the files that make up one authorization context.
#[derive(Debug, Clone, Default)]
pub struct InputPaths<'a> {
    pub key_policy: Option<&'a Path>,
    pub identity: Vec<&'a Path>,
    pub scps: Vec<&'a Path>,
    pub boundary: Option<&'a Path>,
    pub grants: Vec<&'a Path>,
}

/// Loads every file, collecting all errors before failing.
pub fn load_inputs(paths: &InputPaths) -> Result<Inputs, Error> {
    let mut errors = Vec::new();
    let mut spent = None;
    let mut keep = |r: Result<Policy, Error>| match r {
        Ok(p) => Some(p),
        Err(e @ Error::BudgetSpent { .. }) => {
            spent.get_or_insert(e);
            None
        }
        Err(Error::Invalid(d)) => {
            errors.extend(d);
            None
        }
        Err(e) => {
            errors.push(io_diag(e));
            None
        }
    };
    let key_policy = paths.key_policy.and_then(|p| keep(load_policy(p, PolicyKind::KeyPolicy)));
    let identity: Vec<Policy> =
        paths.identity.iter().filter_map(|p| keep(load_policy(p, PolicyKind::Identity))).collect();
    let scps: Vec<Policy> = paths.scps.iter().filter_map(|p| keep(load_policy(p, PolicyKind::Scp))).collect();
    let boundary = paths.boundary.and_then(|p| keep(load_policy(p, PolicyKind::Boundary)));
    let mut grants = Vec::new();
    for g in &paths.grants {
        match load_grants(g) {
            Ok(gs) => grants.extend(gs),
            Err(Error::Invalid(d)) => errors.extend(d),
            Err(e) => errors.push(io_diag(e)),
        }
    }
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    if let Some(spent) = spent {
        return Err(spent);
    }
    let key_policy = key_policy.unwrap_or_else(empty_key_policy);
    Ok(Inputs { key_policy, identity, scps, boundary, grants, management_account: None })
}

/// A key policy with no statements (when none is given: nothing is allowed through it).
fn empty_key_policy() -> Policy {
    Policy {
        source: "<no key policy>".into(),
        kind: PolicyKind::KeyPolicy,
        version: None,
        id: None,
        statements: vec![],
        warnings: vec![],
    }
}

fn io_diag(e: Error) -> crate::base::diag::Diagnostic {
    crate::base::diag::Diagnostic {
        severity: crate::base::diag::Severity::Error,
        source: "".into(),
        pos: Default::default(),
        path: String::new(),
        message: e.to_string(),
        document: None,
    }
}
