//! `findings`: everything the inputs allow on a key, summarised as a few findings —
//! principal class × action group × the conditions that remain — each with a replayed
//! example request and the statements that allow it, and a Z3 proof that together they
//! cover every allowed request (Bolignano et al., "Stratified abstraction of access control
//! policies", CAV 2020, the idea behind IAM Access Analyzer).
//!
//! The request space is cut coarse first: by principal class (`classes`); a class with an
//! allowed request is cut by action group (`facts::action_groups`); in a cell with an
//! allowed request, every candidate condition (`conditions`) that all its allowed requests
//! meet, and the cell alone does not, remains. The cells partition the requests on the key
//! by construction, so the union of the findings covers the allowed set — and Z3 is asked
//! to prove it anyway (`unsat` of "allowed ∧ ¬ any finding"), since the proof is what the
//! report promises, not the construction.

pub mod classes;
pub mod conditions;
pub mod diff;
mod search;

pub use classes::{ClassKind, PrincipalClass};
pub use search::{findings, findings_against, Settings};

use crate::facts::action_groups::ActionGroup;
use serde_json::Value;

/// Whose access a finding is, as IAM Access Analyzer classifies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposure {
    /// The key's own account, or an AWS service principal.
    Internal,
    /// Another account, only through an AWS service (`kms:ViaService` remains).
    CrossAccountViaService,
    /// Another account, anonymous callers, anyone.
    External,
}

impl Exposure {
    pub fn as_str(self) -> &'static str {
        match self {
            Exposure::Internal => "internal",
            Exposure::CrossAccountViaService => "cross-account-via-service",
            Exposure::External => "external",
        }
    }
}

/// One replayed request of a finding and the statements (and grants) that allow it.
#[derive(Debug, Clone)]
pub struct Example {
    /// The request as AWS sees it, in the format `eval --request` reads.
    pub request: Value,
    /// `policy: statement` of each allowing statement, `grant NAME` of each allowing grant.
    pub allowed_by: Vec<String>,
    /// Where each allowing statement starts (file, line; 0 when unknown), for SARIF.
    pub places: Vec<(String, usize)>,
}

/// One finding.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The principal class.
    pub principal: String,
    pub kind: ClassKind,
    /// The action groups (`None`: actions on the key no group lists), each with the
    /// actions of it the finding reaches (all of them, or some).
    pub groups: Vec<(Option<&'static ActionGroup>, Vec<String>)>,
    /// The conditions every allowed request of the finding meets (the cell alone does not).
    pub conditions: Vec<String>,
    /// The same conditions as shapes (`Principal *`, `Action *`, the condition), for a
    /// concrete check that a request lies in the finding.
    pub restrictions: Vec<crate::model::policy::Statement>,
    /// No request of the finding is allowed by the policies given alone: it needs the
    /// caller's own identity policy (not given) to allow it.
    pub needs_iam: bool,
    /// Whether every request of the finding's shape is allowed (`None`: undecided): when
    /// false, the finding over-approximates (other restrictions remain that no single
    /// condition of the policies says).
    pub whole: Option<bool>,
    pub exposure: Exposure,
    /// Services the finding is reached through (`kms:ViaService` values that remain).
    pub via_services: Vec<String>,
    /// Counts a reviewer reads: accounts, addresses.
    pub quantities: Vec<String>,
    /// One replayed request per action group (empty when no model replayed: see `note`).
    pub examples: Vec<Example>,
    /// Why there is no confirmed example, when there is none.
    pub note: Option<String>,
    /// Comparing two versions: whether the finding holds a request the other version denies.
    pub beyond: Option<Beyond>,
}

impl Finding {
    /// What a reader compares two versions' findings by: the principal class, the actions,
    /// the conditions, and the "needs IAM" and "whole" answers.
    pub fn summary_key(&self) -> String {
        let groups: Vec<String> =
            self.groups.iter().map(|(g, a)| format!("{}:{}", g.map_or("other", |g| g.id), a.join(","))).collect();
        format!(
            "{}|{}|{}|{}|{:?}",
            self.principal,
            groups.join(";"),
            self.conditions.join(";"),
            self.needs_iam,
            self.whole
        )
    }
}

/// Comparing two versions: what a finding of one holds that the other does not allow.
#[derive(Debug, Clone)]
pub enum Beyond {
    /// Every request of the finding the other version allows too (unsat).
    Nothing,
    /// A request of the finding this version allows and the other denies, replayed.
    Example(Example),
    /// Not decided (a timeout, or no model the evaluator confirmed), with why.
    Unknown(String),
}

impl Beyond {
    /// Two parts merged into one finding: an example wins, then an unknown.
    pub fn either(a: Option<Beyond>, b: Option<Beyond>) -> Option<Beyond> {
        match (a, b) {
            (Some(Beyond::Example(e)), _) | (_, Some(Beyond::Example(e))) => Some(Beyond::Example(e)),
            (Some(Beyond::Unknown(w)), _) | (_, Some(Beyond::Unknown(w))) => Some(Beyond::Unknown(w)),
            (a, b) => a.or(b),
        }
    }
}

/// Whether the findings are proved to cover every allowed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completeness {
    /// Z3 answered `unsat` for "allowed ∧ ¬ any finding".
    Proved,
    /// Not decided, with why (a timeout, an undecided cell, a construct not encoded).
    Unknown(String),
}

/// The findings of one authorization context.
#[derive(Debug, Clone)]
pub struct Findings {
    pub key_arn: String,
    pub findings: Vec<Finding>,
    pub complete: Completeness,
    /// Cells (class, class × group) asked about.
    pub cells_explored: usize,
    /// Solver queries asked in all.
    pub queries: usize,
    /// What the proof assumes of identity policies not given.
    pub premise: String,
    /// Cells not decided, with why (each is also a reason `complete` is unknown).
    pub undecided: Vec<String>,
}
