//! `--key-policy` values: `FILE`, `ARN=FILE`, or a directory holding one key policy per
//! `*.json` file. Each key's ARN comes, first present wins, from the file's `KeyArn` member
//! (beside `"Policy"`, the `aws kms get-key-policy` shape) or `KeyMetadata.Arn` (an
//! `aws kms describe-key` object pasted beside it), from `ARN=`, from `--key-arn`, or is
//! derived — and how it was obtained is kept, so the report can say it. A file that is not
//! a key policy, a name that gives no key, two files for one key: positioned errors, never
//! a silent skip.

use crate::base::diag::{Error, Sink};
use crate::base::json::Json;
use crate::model::policy::{parse_policy, Policy, PolicyKind};
use std::path::{Path, PathBuf};

/// One key policy and the key it belongs to.
#[derive(Debug, Clone)]
pub struct KeySource {
    pub arn: String,
    pub policy: Policy,
    pub file: String,
    /// How the ARN was obtained (stated in the report).
    pub origin: String,
}

/// The region a derived key ARN is given (key policies rarely test it; stated).
pub const DERIVED_REGION: &str = "us-east-1";

/// The key id of an unnamed key when nothing else gives one (as `check` does).
pub const DEFAULT_KEY_ID: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";

/// Reads every `--key-policy` value; all errors are collected.
pub fn load_keys(specs: &[String], key_arn: Option<&str>) -> Result<Vec<KeySource>, Vec<Error>> {
    let mut errors = Vec::new();
    let mut out: Vec<KeySource> = Vec::new();
    for spec in specs {
        let (arn, file) = match spec.split_once('=') {
            Some((a, f)) if a.starts_with("arn:") => (Some(a.to_string()), f.to_string()),
            _ => (None, spec.clone()),
        };
        let path = PathBuf::from(&file);
        if path.is_dir() {
            if arn.is_some() {
                errors.push(message(&file, "ARN=DIR is not allowed: each file of a directory names its own key (a \"KeyArn\" member, or the file name KEY-ID.json)"));
                continue;
            }
            let (files, bad) = dir_files(&path);
            errors.extend(bad);
            for f in files {
                push(&mut out, &mut errors, read_key(&f, None, true));
            }
        } else {
            let fallback = arn.as_deref().map(|a| (a, "ARN=FILE")).or(key_arn.map(|a| (a, "--key-arn")));
            push(&mut out, &mut errors, read_key(&path, fallback, false));
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn push(out: &mut Vec<KeySource>, errors: &mut Vec<Error>, k: Result<KeySource, Error>) {
    match k {
        Ok(k) => match out.iter().find(|o| o.arn == k.arn) {
            Some(o) => errors.push(message(
                &k.file,
                &format!("key {} is already given by {} ({}): one key policy per key", k.arn, o.file, o.origin),
            )),
            None => out.push(k),
        },
        Err(e) => errors.push(e),
    }
}

fn message(file: &str, text: &str) -> Error {
    let mut sink = Sink::new(file);
    sink.error(Default::default(), "", text);
    Error::Invalid(sink.items)
}

/// The `*.json` files of a key-policy directory, sorted by name; anything else in it is
/// an error (it would otherwise be a key nobody analysed), and the files are still read.
fn dir_files(dir: &Path) -> (Vec<PathBuf>, Vec<Error>) {
    let label = dir.display().to_string();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(source) => return (vec![], vec![Error::Io { path: label, source }]),
    };
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    let mut errors = Vec::new();
    let mut files = Vec::new();
    for p in paths {
        let name = p.display().to_string();
        if p.is_dir() {
            errors.push(message(&name, "a subdirectory of a --key-policy directory (directories are not searched recursively: give it as its own --key-policy)"));
        } else if p.extension().and_then(|e| e.to_str()) != Some("json") {
            errors.push(message(&name, "not a .json file: a --key-policy directory holds only key policies (KEY-ID.json, or any name with a \"KeyArn\" member); move other files out"));
        } else {
            files.push(p);
        }
    }
    if files.is_empty() && errors.is_empty() {
        errors.push(message(&label, "the --key-policy directory holds no .json file"));
    }
    (files, errors)
}

/// Whether `s` is a KMS key id: a UUID (8-4-4-4-12 hex digits) or `mrk-` and 32 hex digits.
pub fn is_key_id(s: &str) -> bool {
    let hex = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_hexdigit());
    if let Some(rest) = s.strip_prefix("mrk-") {
        return rest.len() == 32 && hex(rest);
    }
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5 && parts.iter().zip([8, 4, 4, 4, 12]).all(|(p, n)| p.len() == n && hex(p))
}

pub use crate::base::arn::is_key_arn;

/// The ARN a file names itself: `KeyArn`, or `KeyMetadata.Arn`, beside `"Policy"`.
fn named_arn(doc: &Json, sink: &mut Sink) -> Option<String> {
    let (v, path) = match (doc.get("KeyArn"), doc.get("KeyMetadata").and_then(|m| m.get("Arn"))) {
        (Some(v), _) => (v, "KeyArn"),
        (None, Some(v)) => (v, "KeyMetadata.Arn"),
        (None, None) => return None,
    };
    if doc.get("Statement").is_some() {
        sink.error(v.pos, path, format!("\"{path}\" goes beside \"Policy\" ({{\"KeyArn\": …, \"Policy\": <the policy>}}, the `aws kms get-key-policy` shape), not inside the policy document"));
        return None;
    }
    match v.as_str() {
        Some(a) if is_key_arn(a) => Some(a.to_string()),
        Some(a) => {
            sink.error(v.pos, path, format!("{a:?} is not a KMS key ARN (expected arn:aws:kms:REGION:ACCOUNT:key/ID)"));
            None
        }
        None => {
            sink.error(v.pos, path, format!("expected a key ARN string, found {}", v.type_name()));
            None
        }
    }
}

/// Reads one key-policy file. `fallback` is the ARN given on the command line (and which
/// flag gave it), which must agree with the file's own `KeyArn`. In a directory
/// (`in_dir`), a file without `KeyArn` must be named after its key id.
fn read_key(path: &Path, fallback: Option<(&str, &str)>, in_dir: bool) -> Result<KeySource, Error> {
    let (text, label) = crate::model::load::read_source(path)?;
    let mut sink = Sink::new(&label);
    let doc = sink.document(&text)?;
    let named = named_arn(&doc, &mut sink);
    if sink.has_errors() {
        return Err(Error::Invalid(sink.items));
    }
    if let (Some(n), Some(g)) = (&named, fallback.map(|f| f.0)) {
        if n != g {
            let pos = doc.get("KeyArn").or_else(|| doc.get("KeyMetadata")).map_or(doc.pos, |v| v.pos);
            let flag = fallback.map_or("the command line", |f| f.1);
            sink.error(pos, "KeyArn", format!("the file is for key {n}, but {flag} gives {g}"));
            return Err(Error::Invalid(sink.items));
        }
    }
    let policy = parse_policy(&text, &label, PolicyKind::KeyPolicy)?;
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
    let derive = |id: &str| -> Option<String> {
        let inputs = crate::model::inputs::Inputs {
            key_policy: policy.clone(),
            identity: vec![],
            scps: vec![],
            boundary: None,
            grants: vec![],
            management_account: None,
        };
        let account = &crate::base::arn::account_of(&inputs.default_key_arn()?)?.to_string();
        Some(format!("arn:aws:kms:{DERIVED_REGION}:{account}:key/{id}"))
    };
    let derived_note = |what: &str| {
        format!("derived: key id {what}, account the one the key policy's principals name most, region {DERIVED_REGION} assumed")
    };
    let (arn, origin) = if let Some(a) = named {
        let from = if doc.get("KeyArn").is_some() { "KeyArn" } else { "KeyMetadata.Arn" };
        (a, format!("the file's {from}"))
    } else if let Some((a, from)) = fallback {
        (a.to_string(), from.to_string())
    } else if is_key_id(stem) {
        match derive(stem) {
            Some(a) => (a, derived_note("from the file name")),
            None => return Err(no_key(&label, "its policy names no account")),
        }
    } else if in_dir {
        return Err(no_key(&label, "the file name is not a key id"));
    } else {
        match derive(DEFAULT_KEY_ID) {
            Some(a) => (a, derived_note(&format!("{DEFAULT_KEY_ID} (placeholder)"))),
            None => return Err(no_key(&label, "its policy names no account")),
        }
    };
    if !is_key_arn(&arn) {
        return Err(message(
            &label,
            &format!("{arn:?} is not a KMS key ARN (expected arn:aws:kms:REGION:ACCOUNT:key/ID)"),
        ));
    }
    Ok(KeySource { arn, policy, file: label, origin })
}

fn no_key(file: &str, why: &str) -> Error {
    message(file, &format!("cannot tell which key this policy is for ({why}): add \"KeyArn\" beside \"Policy\" ({{\"KeyArn\": \"arn:aws:kms:…:key/ID\", \"Policy\": …}}), name the file KEY-ID.json, or give --key-policy ARN=FILE"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids() {
        assert!(is_key_id("1234abcd-12ab-34cd-56ef-1234567890ab"));
        assert!(is_key_id("mrk-1234abcd12ab34cd56ef1234567890ab"));
        assert!(!is_key_id("finance"));
        assert!(!is_key_id("1234abcd-12ab-34cd-56ef-1234567890a"));
    }
}
