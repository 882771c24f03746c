//! `--baseline`: findings already known (an earlier `audit --format json` or `--format
//! sarif` output) are left out, so a pipeline fails only on new ones. Findings are matched
//! on the fingerprint SARIF carries as `partialFingerprints["kmsproofFinding/v1"]` (and the
//! JSON output as `fingerprint`): check, file, location and message — not the line, so
//! edits elsewhere in a file do not make old findings new. The file is the repository-
//! relative path ([`stable_path`]), so `audit .`, `audit stack.yaml` and `audit $PWD` give
//! the same fingerprints.

use super::err::BaselineError;
use super::Finding;
use serde_json::Value;
use std::collections::BTreeSet;

/// The `partialFingerprints` key of SARIF results.
pub const FINGERPRINT_KEY: &str = "kmsproofFinding/v1";

/// A stable fingerprint (FNV-1a of check, file, location and message) so dashboards and
/// baselines recognise the same finding across runs.
pub fn fingerprint(f: &Finding) -> String {
    let file = stable_path(&f.file);
    let message = if f.file.is_empty() { f.message.clone() } else { f.message.replace(&f.file, &file) };
    fingerprint_of(f.check, &file, &f.location, &message)
}

/// A file's path however it was spelled on the command line: relative to the root of the
/// git repository holding it, else to the working directory when under it, else absolute
/// (`<stdin>` and paths that do not resolve stay as written, less a leading `./`).
pub fn stable_path(file: &str) -> String {
    let as_written = file.trim_start_matches("./").to_string();
    let Ok(abs) = std::path::Path::new(file).canonicalize() else { return as_written };
    let root = abs.ancestors().skip(1).find(|d| d.join(".git").exists()).map(std::path::Path::to_path_buf);
    let base = root.or_else(|| std::env::current_dir().ok().and_then(|d| d.canonicalize().ok()));
    match base.as_deref().and_then(|b| abs.strip_prefix(b).ok()) {
        Some(rel) => rel.to_string_lossy().replace('\\', "/"),
        None => abs.to_string_lossy().into_owned(),
    }
}

/// FNV-1a of the parts: stable across runs (`findings --format sarif` fingerprints so too).
pub fn fingerprint_of(check: &str, file: &str, location: &str, message: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in format!("{check}|{file}|{location}|{message}").bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}

/// The fingerprints of a baseline file: `audit --format json` output (its `findings`, and
/// `suppressed` findings too), JSON lines, or SARIF.
pub fn read_baseline(text: &str, file: &str) -> Result<BTreeSet<String>, BaselineError> {
    let bad = |why: String| BaselineError { file: file.to_string(), why };
    let values: Vec<Value> = match serde_json::from_str::<Value>(text) {
        Ok(v) => vec![v],
        Err(whole) => text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .enumerate()
            .map(|(i, l)| {
                serde_json::from_str(l).map_err(|e| bad(format!("line {}: {e} (as one document: {whole})", i + 1)))
            })
            .collect::<Result<_, _>>()?,
    };
    let mut out = BTreeSet::new();
    for v in &values {
        if let Some(runs) = v.get("runs").and_then(Value::as_array) {
            for r in runs.iter().flat_map(|r| r["results"].as_array().into_iter().flatten()) {
                let fp = r["partialFingerprints"][FINGERPRINT_KEY].as_str();
                out.insert(
                    fp.ok_or_else(|| bad(format!("a SARIF result has no partialFingerprints.{FINGERPRINT_KEY}")))?
                        .to_string(),
                );
            }
        } else if v.get("findings").is_some() || v.get("suppressed").is_some() {
            for f in ["findings", "suppressed"].iter().flat_map(|k| v[*k].as_array().into_iter().flatten()) {
                out.insert(json_fingerprint(f).ok_or_else(|| bad("a finding has no check/file/message".into()))?);
            }
        } else if v["type"] == "finding" || v["type"] == "suppressed" {
            out.insert(json_fingerprint(v).ok_or_else(|| bad("a finding line has no check/file/message".into()))?);
        } else if v["type"] != "document" {
            return Err(bad("no \"findings\", SARIF \"runs\" or JSON lines of type \"finding\"".into()));
        }
    }
    Ok(out)
}

/// A JSON finding's fingerprint: the one it carries, else computed from its fields (output
/// of versions before the field existed).
fn json_fingerprint(f: &Value) -> Option<String> {
    if let Some(fp) = f["fingerprint"].as_str() {
        return Some(fp.to_string());
    }
    let field = |k: &str| f[k].as_str();
    Some(fingerprint_of(field("check")?, field("file")?, field("location").unwrap_or(""), field("message")?))
}
