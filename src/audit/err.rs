//! The audit's errors, each carrying the input that caused it. (Reasons that are data —
//! why a document is unreadable, why a check is undecided — are findings, not errors.)

use crate::prove::Mismatch;

/// Why [`super::audit_all`] stopped.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A counterexample did not replay: a bug in kmsproof.
    #[error("{0}")]
    Replay(Mismatch),
    #[error("cannot start worker threads: {source}")]
    Pool { jobs: usize, source: rayon::ThreadPoolBuildError },
}

/// A line of an ignore file ([`super::suppress`]) that does not read.
#[derive(Debug, thiserror::Error)]
#[error("{origin}: error: {problem} (expected `CHECK PATH-GLOB [sid=SID] -- REASON`)")]
pub struct IgnoreFileError {
    /// `FILE:LINE` of the rule.
    pub origin: String,
    pub problem: IgnoreProblem,
}

/// What is wrong with an ignore-file line.
#[derive(Debug, thiserror::Error)]
pub enum IgnoreProblem {
    #[error("no ` -- REASON`: every suppression needs a reason")]
    NoReason,
    #[error("the reason is empty")]
    EmptyReason,
    #[error("`sid=` has no value")]
    EmptySid,
    #[error("expected a check id and a path glob before the reason")]
    Fields,
    #[error("unknown check {0:?}")]
    UnknownCheck(String),
}

/// A `--baseline` file that is not an earlier audit output ([`super::baseline`]).
#[derive(Debug, thiserror::Error)]
#[error("{file}: error: not an `audit --format json`, `jsonl` or `sarif` output: {why}")]
pub struct BaselineError {
    pub file: String,
    pub why: String,
}
