//! Many comparisons in one process: a pull request changes several policies, a platform
//! team compares a whole directory (or a CloudFormation template, a terraform plan) at two
//! revisions. Each pair of policies is one [`crate::prove::diff`] comparison — the same
//! encoding, proofs and replayed witnesses as a single `diff` — run in parallel on a
//! rayon pool whose threads each reuse one Z3 solver; the set has one answer ([`Answer`]).

pub mod found;
pub mod pairs;

pub use found::{Content, Found};
pub use pairs::{ManifestError, Pair};

use crate::base::diag::Diagnostic;
use crate::model::inputs::{placeholder_key_arn, PLACEHOLDER_ACCOUNT};
use crate::prove::diff::{diff, DiffOptions, DiffResult, DiffVerdict, Direction, Side};
use kmsproof_solver::Limits;

/// Which differences fail the comparison (exit 1).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailOn {
    /// NEW allows some request OLD denies (more-permissive or incomparable).
    More,
    /// Any difference.
    Any,
    /// Never (exit 0 whatever the verdict, 3 when unknown).
    Never,
}

impl FailOn {
    /// Whether `r` shows a difference this setting fails on (a replayed witness, never a guess).
    pub fn fails(self, r: &DiffResult) -> bool {
        let found = |d: &Direction| matches!(d, Direction::Found(_));
        match self {
            FailOn::More => found(&r.new_allows),
            FailOn::Any => found(&r.new_allows) || found(&r.old_allows),
            FailOn::Never => false,
        }
    }
}

/// Whether a policy is new, gone, or in both versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Added,
    Removed,
    /// In both versions, with different text.
    Changed,
    /// In both versions, byte for byte the same (not compared: nothing to prove).
    Unchanged,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::Removed => "removed",
            Change::Changed => "changed",
            Change::Unchanged => "unchanged",
        }
    }
}

/// What comparing one pair gave.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The comparison; an added policy is compared with no policy (it allows nothing), a
    /// removed one likewise, so its verdict and witnesses say what it granted.
    Compared(DiffResult),
    /// The same text on both sides.
    Unchanged,
    /// The pair cannot be compared (bad input: unreadable, invalid, mixed kinds).
    Error(String),
    /// Neither side holds a policy (an index file).
    Skipped(String),
    /// One side's policy is unknown (a terraform value known only after apply): undecided.
    Undecided(String),
    /// The solver and the evaluator disagree: a bug in kmsproof.
    Mismatch(String),
}

/// Where one side of a pair is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub file: String,
    pub location: String,
    pub line: usize,
}

/// One compared pair.
#[derive(Debug, Clone)]
pub struct Entry {
    /// `path` or `path#location` (see [`Pair::name`]).
    pub name: String,
    pub path: String,
    pub location: String,
    pub change: Change,
    pub old: Option<Place>,
    pub new: Option<Place>,
    /// The key under analysis (key policies); `None` for identity policies.
    pub key: Option<String>,
    pub outcome: Outcome,
    /// What the answer assumes (a placeholder key, the caller's IAM policies).
    pub notes: Vec<String>,
    /// Warnings from reading the policies.
    pub warnings: Vec<Diagnostic>,
}

/// The set's one answer, worst first (the order the exit code follows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Answer {
    /// Some comparison's witness did not replay: a bug (exit 4).
    Internal,
    /// Some pair could not be compared: the set's answer is incomplete (exit 2).
    BadInput,
    /// Some confirmed difference matches `--fail-on` (exit 1).
    Failed,
    /// Some comparison is undecided, none failed (exit 3).
    Unknown,
    /// Every pair decided, none failing (exit 0).
    Ok,
}

impl Answer {
    pub fn as_str(self) -> &'static str {
        match self {
            Answer::Internal => "internal-error",
            Answer::BadInput => "bad-input",
            Answer::Failed => "failed",
            Answer::Unknown => "unknown",
            Answer::Ok => "ok",
        }
    }
}

/// The answer of a whole set.
pub fn answer(entries: &[Entry], fail_on: FailOn) -> Answer {
    entries.iter().map(|e| entry_answer(e, fail_on)).min().unwrap_or(Answer::Ok)
}

fn entry_answer(e: &Entry, fail_on: FailOn) -> Answer {
    match &e.outcome {
        Outcome::Mismatch(_) => Answer::Internal,
        Outcome::Error(_) => Answer::BadInput,
        Outcome::Compared(r) if fail_on.fails(r) => Answer::Failed,
        Outcome::Compared(DiffResult { verdict: DiffVerdict::Unknown(_), .. }) | Outcome::Undecided(_) => {
            Answer::Unknown
        }
        _ => Answer::Ok,
    }
}

/// How each pair is compared.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The key under analysis for every key policy (default: the ARN the file gives, else
    /// a key of the account the policy trusts).
    pub key_arn: Option<String>,
    /// Witness requests per direction.
    pub examples: usize,
    /// Actions listed per direction (`None`: the single `diff`'s default for the kind).
    pub actions: Option<usize>,
    /// Work budget of one pair, from when its comparison starts.
    pub pair_timeout_ms: u32,
}

/// Compares every pair on `jobs` threads (each reusing its own Z3 solver); entries come
/// back in the pairs' order whatever the scheduling.
pub fn compare_all(
    pairs: &[Pair],
    settings: &Settings,
    jobs: usize,
) -> Result<Vec<Entry>, rayon::ThreadPoolBuildError> {
    use rayon::prelude::*;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(jobs).build()?;
    Ok(pool.install(|| pairs.par_iter().map(|p| compare(p, settings)).collect()))
}

/// Compares one pair.
pub fn compare(pair: &Pair, settings: &Settings) -> Entry {
    let place = |f: &Found| Place { file: f.file.clone(), location: f.location.clone(), line: f.line };
    let change = match (&pair.old, &pair.new) {
        (None, _) => Change::Added,
        (_, None) => Change::Removed,
        _ => Change::Changed,
    };
    let mut entry = Entry {
        name: pair.name(),
        path: pair.path.clone(),
        location: pair.location.clone(),
        change,
        old: pair.old.as_ref().map(place),
        new: pair.new.as_ref().map(place),
        key: None,
        outcome: Outcome::Unchanged,
        notes: vec![],
        warnings: vec![],
    };
    entry.outcome = outcome(pair, settings, &mut entry);
    if matches!(entry.outcome, Outcome::Unchanged) {
        entry.change = Change::Unchanged;
    }
    entry
}

/// A policy's text, label and the key ARN its file gives.
type PolicyText<'a> = (&'a str, &'a str, &'a Option<String>);

fn outcome(pair: &Pair, settings: &Settings, entry: &mut Entry) -> Outcome {
    let (old, new) = (pair.old.as_ref().map(|f| &f.content), pair.new.as_ref().map(|f| &f.content));
    let errors: Vec<&String> = [old, new]
        .into_iter()
        .flatten()
        .filter_map(|c| match c {
            Content::Error(m) => Some(m),
            _ => None,
        })
        .collect();
    if !errors.is_empty() {
        return Outcome::Error(errors.iter().map(|m| m.as_str()).collect::<Vec<_>>().join("\n"));
    }
    let skipped = |c: Option<&Content>| match c {
        Some(Content::Skipped(m)) => Some(m.clone()),
        _ => None,
    };
    // A policy attribute without a value (a plan's "known after apply") is some policy,
    // not none: whatever it is compared with, the answer is undecided. (A whole file that
    // holds no policy, such as an index, is skipped.)
    let unknown =
        |f: &Option<Found>| f.as_ref().filter(|f| !f.location.is_empty()).and_then(|f| skipped(Some(&f.content)));
    if let Some(why) = unknown(&pair.new).or_else(|| unknown(&pair.old)) {
        return Outcome::Undecided(format!("the policy's value is not known: {why}"));
    }
    match (text(old), text(new)) {
        (None, None) => Outcome::Skipped(skipped(new).or_else(|| skipped(old)).unwrap_or_default()),
        // A policy on one side and a file holding none on the other.
        (Some(_), None) | (None, Some(_)) if skipped(old).or_else(|| skipped(new)).is_some() => {
            let why = skipped(old).or_else(|| skipped(new)).unwrap_or_default();
            Outcome::Undecided(format!("the other version holds no policy to compare with: {why}"))
        }
        (Some(o), Some(n)) if o.0 == n.0 && o.2 == n.2 => Outcome::Unchanged,
        (o, n) => compare_texts(o, n, settings, entry),
    }
}

/// The policy text of a side, when it holds one.
fn text(c: Option<&Content>) -> Option<PolicyText<'_>> {
    match c {
        Some(Content::Policy { text, label, key_arn }) => Some((text.as_str(), label.as_str(), key_arn)),
        _ => None,
    }
}

/// Parses both versions (a missing one is the other with no statements) and compares them.
fn compare_texts(old: Option<PolicyText>, new: Option<PolicyText>, settings: &Settings, entry: &mut Entry) -> Outcome {
    let side = |p: Option<PolicyText>| p.map(|(text, label, _)| Side::from_policy_text(text, label)).transpose();
    let (old_side, new_side) = match (side(old), side(new)) {
        (Ok(o), Ok(n)) => (o, n),
        (Err(e), _) | (_, Err(e)) => return Outcome::Error(e.to_string()),
    };
    entry.warnings =
        old_side.iter().chain(&new_side).flat_map(|s| s.policies()).flat_map(|p| p.warnings.clone()).collect();
    let (old_side, new_side) = match (old_side, new_side) {
        (Some(o), Some(n)) => (o, n),
        (Some(o), None) => (o.clone(), nothing_like(o)),
        (None, Some(n)) => (nothing_like(n.clone()), n),
        (None, None) => return Outcome::Skipped(String::new()),
    };
    let key = match key_arn(&old_side, &new_side, settings, [new, old]) {
        Ok(k) => k,
        Err(why) => return Outcome::Error(why),
    };
    if let Side::Kms(_) = new_side {
        entry
            .notes
            .push("key policies compared alone: the caller's IAM policies are assumed to allow everything".into());
        if key.1 {
            entry.notes.push(format!(
                "no principal names an account and no key ARN was given: the key is a placeholder of account {PLACEHOLDER_ACCOUNT}"
            ));
        }
    }
    if entry.change != Change::Changed {
        entry.notes.push(format!(
            "compared with no policy (the {} version has none)",
            if entry.change == Change::Added { "old" } else { "new" }
        ));
    }
    let key = key.0;
    entry.key = (!key.is_empty()).then(|| key.clone());
    let limits = Limits::default().budget_from_now(settings.pair_timeout_ms);
    let defaults = DiffOptions::defaults_for(&new_side, settings.examples);
    let limits = Limits { timeout_ms: settings.pair_timeout_ms, ..limits };
    let opts = DiffOptions { actions: settings.actions.unwrap_or(defaults.actions), limits, ..defaults };
    match diff(&old_side, &new_side, &key, opts) {
        Ok(r) => Outcome::Compared(r),
        Err(m) => Outcome::Mismatch(m.to_string()),
    }
}

/// The same kind of side with no statements: what a policy that does not exist allows
/// (nothing; for a key policy, no caller of the key, whatever IAM allows).
fn nothing_like(side: Side) -> Side {
    match side {
        Side::Kms(mut inputs) => {
            inputs.key_policy.statements.clear();
            Side::Kms(inputs)
        }
        Side::Policy(mut p) => {
            p.statements.clear();
            Side::Policy(p)
        }
    }
}

/// The key under analysis (`""` for identity policies) and whether it is a placeholder.
fn key_arn(
    old: &Side,
    new: &Side,
    settings: &Settings,
    given: [Option<PolicyText>; 2],
) -> Result<(String, bool), String> {
    let (Side::Kms(a), Side::Kms(b)) = (old, new) else {
        if matches!((old, new), (Side::Policy(_), Side::Policy(_))) {
            return Ok((String::new(), false));
        }
        return Err("one version is a key policy (it has a Principal) and the other an identity policy; compare policies of one kind".into());
    };
    let from_file = given.iter().flatten().find_map(|(_, _, arn)| (*arn).clone());
    let arn = settings.key_arn.clone().or(from_file).or_else(|| b.default_key_arn()).or_else(|| a.default_key_arn());
    Ok(match arn {
        Some(k) => (k, false),
        None => (placeholder_key_arn(PLACEHOLDER_ACCOUNT), true),
    })
}
