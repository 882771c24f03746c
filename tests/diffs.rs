//! Diff corpus: `corpus/diffs/NN-name/{old,new,expect}.json`, one test per pair, and the
//! real AWS managed-policy version pairs of `../shared/corpus/` (skipped loudly when absent).

use kmsproof::model::load::read_source;
use kmsproof::prove::diff::{diff, DiffOptions, DiffResult, DiffVerdict, Direction, Side};
use libtest_mimic::Failed;
use std::path::{Path, PathBuf};

/// Both files of a pair as sides, compared with `examples` witnesses per direction.
pub fn diff_pair(dir: &Path, examples: usize, key_arn: Option<&str>) -> Result<DiffResult, String> {
    let side = |name: &str| -> Result<Side, String> {
        let (text, label) = read_source(&dir.join(name)).map_err(|e| e.to_string())?;
        Side::from_policy_text(&text, &label).map_err(|e| e.to_string())
    };
    let (old, new) = match set_sides(dir)? {
        Some(sides) => sides,
        None => (side("old.json")?, side("new.json")?),
    };
    let key_arn = match (&old, &new) {
        (Side::Kms(_), Side::Kms(_)) if key_arn.is_some() => key_arn.unwrap_or_default().to_string(),
        (Side::Kms(a), Side::Kms(b)) => a
            .default_key_arn()
            .or_else(|| b.default_key_arn())
            .unwrap_or_else(|| "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab".into()),
        _ => String::new(),
    };
    let opts = DiffOptions { examples, actions: examples, limits: kmsproof_solver::Limits::default() };
    diff(&old, &new, &key_arn, opts).map_err(|m| m.to_string())
}

/// A set-form pair: `expect.json` names each side's authorization context (`old`, `new`:
/// `key_policy`, `identity_policies`, `grants`, `scps`, `boundary`, `management_account`,
/// paths relative to the pair), as `kmsproof diff --old-key-policy … --new-…` compares them.
fn set_sides(dir: &Path) -> Result<Option<(Side, Side)>, String> {
    let Ok(text) = std::fs::read_to_string(dir.join("expect.json")) else { return Ok(None) };
    let expect: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let side = |v: &serde_json::Value| -> Result<Side, String> {
        let one = |k: &str| v[k].as_str().map(|p| dir.join(p));
        let many = |k: &str| -> Vec<PathBuf> {
            v[k].as_array().into_iter().flatten().filter_map(|p| p.as_str()).map(|p| dir.join(p)).collect()
        };
        let (kp, ids, grants, scps, boundary) =
            (one("key_policy"), many("identity_policies"), many("grants"), many("scps"), one("boundary"));
        let paths = kmsproof::model::load::InputPaths {
            key_policy: kp.as_deref(),
            identity: ids.iter().map(PathBuf::as_path).collect(),
            scps: scps.iter().map(PathBuf::as_path).collect(),
            boundary: boundary.as_deref(),
            grants: grants.iter().map(PathBuf::as_path).collect(),
        };
        let mut inputs = kmsproof::model::load::load_inputs(&paths).map_err(|e| e.to_string())?;
        inputs.management_account = v["management_account"].as_str().map(str::to_string);
        Ok(Side::Kms(inputs))
    };
    match (expect.get("old"), expect.get("new")) {
        (Some(o), Some(n)) => Ok(Some((side(o)?, side(n)?))),
        _ => Ok(None),
    }
}

const CORPUS_KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

/// Directories directly under `dir`, sorted.
pub fn pair_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect())
        .unwrap_or_default();
    out.sort();
    out
}

/// One corpus pair: the verdict is the expected one; witnesses were replayed by `diff`.
pub fn run_corpus_pair(dir: &Path) -> Result<(), Failed> {
    let expect = std::fs::read_to_string(dir.join("expect.json")).map_err(|e| e.to_string())?;
    let expect: serde_json::Value = serde_json::from_str(&expect).map_err(|e| e.to_string())?;
    let want = expect["verdict"].as_str().ok_or("expect.json has no \"verdict\"")?;
    // The corpus key (corpus/diffs/README.md) unless the pair names another.
    let key_arn = expect["key_arn"].as_str().unwrap_or(CORPUS_KEY);
    let r = diff_pair(dir, 2, Some(key_arn))?;
    if r.verdict.as_str() != want {
        let show = |d: &Direction| match d {
            Direction::Found(ws) => ws.iter().map(|w| w.request.to_string()).collect::<Vec<_>>().join("\n    "),
            Direction::None => "none".into(),
            Direction::Unknown(why) => format!("unknown: {why}"),
        };
        return Err(format!(
            "expected {want}, got {} ({})\n  new allows: {}\n  old allows: {}",
            r.verdict.as_str(),
            expect["description"].as_str().unwrap_or_default(),
            show(&r.new_allows),
            show(&r.old_allows)
        )
        .into());
    }
    Ok(())
}

/// Every real version pair diffs with no error, no mismatch and no `unknown`; pairs that
/// only reorder or rename (flagged in `index.json`) are `equivalent`; and every pair's
/// verdict and witnesses are those recorded in `tests/data/version-pairs-output.txt` (a
/// digest of its JSON report per pair), so a change made for speed that moves an answer
/// or a witness fails here. `KMSPROOF_BLESS=1` rewrites the record after a deliberate change.
pub fn run_version_pairs(dir: &Path) -> Result<(), Failed> {
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("index.json")).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    let reorder: Vec<String> = index
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["reorder_or_sid_only"].as_bool() == Some(true))
        .filter_map(|e| e["dir"].as_str().map(|d| d.trim_start_matches("version-pairs/").to_string()))
        .collect();
    let dirs = pair_dirs(dir);
    let results: Vec<(String, Result<DiffResult, String>)> = std::thread::scope(|s| {
        let chunks: Vec<_> = dirs
            .chunks(dirs.len().div_ceil(2).max(1))
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|d| (d.file_name().unwrap().to_string_lossy().to_string(), diff_pair(d, 1, None)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        chunks.into_iter().flat_map(|h| h.join().expect("a diff thread panicked")).collect()
    });
    let known: Vec<(&str, &str)> = include_str!("data/version-pairs-unknown.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split_once(" | ").map(|(p, e)| (p.trim(), e.trim())))
        .collect();
    let mut problems = Vec::new();
    let mut counts = std::collections::BTreeMap::new();
    for (name, r) in &results {
        match r {
            Err(e) => problems.push(format!("{name}: {e}")),
            Ok(r) => {
                *counts.entry(r.verdict.as_str()).or_insert(0) += 1;
                let listed = known.iter().find(|(p, _)| p == name).map(|(_, why)| *why);
                match (&r.verdict, listed) {
                    (DiffVerdict::Unknown(why), Some(want)) if why.contains(want) => {}
                    (DiffVerdict::Unknown(why), _) => problems.push(format!("{name}: unknown: {why}")),
                    (v, Some(_)) => problems.push(format!(
                        "{name}: listed as unknown in tests/data/version-pairs-unknown.txt but decided {}: remove it",
                        v.as_str()
                    )),
                    _ => {}
                }
                if reorder.contains(name) && r.verdict != DiffVerdict::Equivalent {
                    problems.push(format!("{name}: only reorders/renames, but diffs as {}", r.verdict.as_str()));
                }
            }
        }
    }
    problems.extend(compare_with_record(dir, &results));
    eprintln!("version pairs: {} diffed: {counts:?}; {} reorder-only pairs", results.len(), reorder.len());
    if results.len() < 300 {
        problems.push(format!("only {} pairs found; expected 301", results.len()));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{} problems:\n{}", problems.len(), problems.join("\n")).into())
    }
}

/// Where each version pair's verdict and report digest are recorded.
const RECORD: &str = "tests/data/version-pairs-output.txt";

/// The pairs whose verdict or report differs from [`RECORD`] (rewritten instead under
/// `KMSPROOF_BLESS=1`).
fn compare_with_record(dir: &Path, results: &[(String, Result<DiffResult, String>)]) -> Vec<String> {
    // The report names each statement's file: digested without where the corpus lies.
    let root = dir.display().to_string();
    let lines: Vec<String> = results
        .iter()
        .filter_map(|(name, r)| r.as_ref().ok().map(|r| (name, r)))
        .map(|(name, r)| {
            let report = kmsproof::report::diff_json(r, "old.json", "new.json", None).to_string().replace(&root, "");
            format!("{name} | {} | {:016x}", r.verdict.as_str(), fnv1a(report.as_bytes()))
        })
        .collect();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(RECORD);
    if std::env::var_os("KMSPROOF_BLESS").is_some() {
        let header = "# Verdict and FNV-1a digest of `diff_json` per version pair (tests/diffs.rs).\n";
        return match std::fs::write(&path, header.to_string() + &lines.join("\n") + "\n") {
            Ok(()) => Vec::new(),
            Err(e) => vec![format!("{RECORD}: {e}")],
        };
    }
    let recorded = std::fs::read_to_string(&path).unwrap_or_default();
    let recorded: std::collections::BTreeMap<&str, &str> =
        recorded.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.split_once(" | ")).collect();
    let mut changed: Vec<String> = lines
        .iter()
        .filter_map(|l| l.split_once(" | "))
        .filter(|(name, rest)| recorded.get(name) != Some(rest))
        .map(|(name, rest)| format!("{name}: now {rest}, recorded {:?} in {RECORD}", recorded.get(name)))
        .collect();
    if !changed.is_empty() {
        changed.push("(KMSPROOF_BLESS=1 rewrites the record once a change is meant)".into());
    }
    changed
}

/// FNV-1a, 64 bits: a digest that is the same on every Rust release and machine.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}
