//! The built-in checks: one row of [`CHECKS`] per check (id, severity, title, rationale,
//! fix, method, examples, function), and one file per check (`kms001.rs` …) holding its
//! row, its function, why it matters, what exactly it asks, the fix, and a test on its
//! failing and passing corpus examples. KMS010 lives with the who-can bridge
//! ([`super::whocan`]); the audit's own findings (AUD…) have rows but no function.
//!
//! Reachability checks are asked of Z3 through [`crate::prove::check::check`], so every
//! counterexample in a finding has been replayed through the evaluator; structural checks
//! say so in their `method`. This file also holds what several checks share.

use super::{Ctx, Finding, Severity};
use crate::base::json::Pos;
use crate::base::pattern::{glob_match, glob_tokens, Piece};
use crate::facts::catalog::catalog;
use crate::model::policy::{Effect, PrincipalEntry, Statement};
use crate::prove::check::{CheckResult, Verdict};
use crate::prove::Mismatch;
use serde_json::{json, Value};

/// Which documents a check is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    KeyPolicy,
    Identity,
    Both,
    /// Reported by the audit itself (unreadable documents, undecided checks, user properties).
    Audit,
    /// Key policies, with the account dumps of `--authorization-details` (runs only with them).
    Account,
}

pub type CheckFn = fn(&Ctx) -> Result<Vec<Finding>, Mismatch>;

/// One built-in check.
pub struct CheckInfo {
    pub id: &'static str,
    /// Short kebab-case name (SARIF `rules[].name`).
    pub name: &'static str,
    pub severity: Severity,
    pub title: &'static str,
    pub rationale: &'static str,
    pub fix: &'static str,
    /// `proved by Z3` or `structural` (what the finding rests on).
    pub method: &'static str,
    pub scope: Scope,
    /// A policy that gives this finding and one that passes (the corpus files the tests
    /// audit, so `kmsproof explain` never shows an example that does not do what it says).
    pub example: Example,
    pub run: Option<CheckFn>,
}

/// `kmsproof explain`'s example pair: (corpus file, its text) each.
#[derive(Clone, Copy)]
pub struct Example {
    pub fails: Option<(&'static str, &'static str)>,
    pub passes: Option<(&'static str, &'static str)>,
}

/// The example of a check: its `-pos` and `-neg` corpus policies.
macro_rules! corpus_example {
    ($pos:literal, $neg:literal) => {
        $crate::audit::checks::Example {
            fails: Some((concat!("corpus/audit/", $pos), include_str!(concat!("../../../corpus/audit/", $pos)))),
            passes: Some((concat!("corpus/audit/", $neg), include_str!(concat!("../../../corpus/audit/", $neg)))),
        }
    };
}

mod kms001;
mod kms002;
mod kms003;
mod kms004;
mod kms005;
mod kms006;
mod kms007;
mod kms008;
mod kms009;

const NO_EXAMPLE: Example = Example { fails: None, passes: None };

pub const UNREADABLE: &str = "AUD001";
pub const UNDECIDED: &str = "AUD002";
pub const USER_PROPERTY: &str = "AUD003";

pub const CHECKS: &[CheckInfo] = &[
    kms001::CHECK,
    kms002::CHECK,
    kms003::CHECK,
    kms004::CHECK,
    kms005::CHECK,
    kms006::CHECK,
    kms007::CHECK,
    kms008::CHECK,
    kms009::CHECK,
    CheckInfo { id: "KMS010", name: "decrypt-through-hidden-path", severity: Severity::Medium, title: "Principal decrypts only through a role chain or an escalation", rationale: "With the account dumps (--authorization-details), who-can's graph finds principals that can kms:Decrypt the key only by assuming two or more roles in a row, or by an escalation edge (iam:PutUserPolicy, AttachRolePolicy, CreatePolicyVersion, PassRole, …): reading the key policy and the trust policies of the roles it names does not show them (one sts:AssumeRole, kms:PutKeyPolicy or kms:CreateGrant by the principal itself is visible). The graph reads the key's real ARN when the input gives one (\"KeyArn\" beside \"Policy\", terraform state, --key-arn), the --grant grants on that key and the --scp SCPs. Each hop is decided by Z3 and its witness request replayed; the finding carries the path. Escalation paths are high, role chains medium.", fix: "Name the principals that should decrypt in the key policy instead of delegating to the account, cut the chain (trust policies of the intermediate roles), or remove the escalation permission; `kmsproof who-can` shows every path.", method: "proved by Z3 (who-can graph)", scope: Scope::Account, example: corpus_example!("kms010-pos.json", "kms010-neg.json"), run: Some(super::whocan::kms010) },
    CheckInfo { id: UNREADABLE, name: "unreadable-document", severity: Severity::High, title: "Document could not be audited", rationale: "The file or policy does not parse (or uses template functions); nothing in it was checked.", fix: "Fix the error at the position given, or audit the deployed policy (aws kms get-key-policy output).", method: "parser", scope: Scope::Audit, example: NO_EXAMPLE, run: None },
    CheckInfo { id: UNDECIDED, name: "check-undecided", severity: Severity::High, title: "Check undecided (solver unknown)", rationale: "Z3 could not decide a check (timeout or a construct not encoded exactly); the document is not shown clean for it.", fix: "Raise --timeout-ms, or simplify the policy construct named in the finding.", method: "Z3 unknown", scope: Scope::Audit, example: NO_EXAMPLE, run: None },
    CheckInfo { id: USER_PROPERTY, name: "user-property-violated", severity: Severity::High, title: "User property violated", rationale: "A property given with --properties does not hold for this key policy.", fix: "Change the policy or the property; the counterexample shows a request that breaks it.", method: "proved by Z3", scope: Scope::Audit, example: NO_EXAMPLE, run: None },
];

/// The check with this id.
pub fn info(id: &str) -> &'static CheckInfo {
    CHECKS.iter().find(|c| c.id == id).unwrap_or(&CHECKS[CHECKS.len() - 1])
}

/// Cryptographic operations (issue item 2).
const CRYPTO: &[&str] = &[
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyPair",
    "kms:GenerateDataKeyPairWithoutPlaintext",
    "kms:GenerateDataKeyWithoutPlaintext",
];

/// Every action authorized on a key (actions not on a key are decided by IAM alone).
fn on_key_actions() -> Vec<String> {
    let mut v: Vec<String> = catalog().kms_actions().filter(|a| a.on_key).map(|a| format!("kms:{}", a.name)).collect();
    v.sort();
    v
}

/// A finding for a solver verdict: `None` when the property holds.
fn verdict_finding(ctx: &Ctx, id: &'static str, r: &CheckResult, message: impl FnOnce() -> String) -> Option<Finding> {
    match &r.verdict {
        Verdict::Holds => None,
        Verdict::Unknown(why) => Some(ctx.undecided(id, why)),
        Verdict::Violated => {
            let example = r.examples.first();
            let mut f = ctx.finding(id, ctx.deciding_pos(example), message());
            f.statements = ctx
                .deciding_statements(example)
                .into_iter()
                .map(|index| super::Involved { index, ..Default::default() })
                .collect();
            f.counterexample = example.map(|e| e.request.clone());
            Some(f)
        }
    }
}

fn not_root() -> Value {
    json!({"ArnNotLike": {"aws:PrincipalArn": "arn:*:iam::*:root"}})
}

/// The account of a counterexample's caller.
fn account_of(request: &Value) -> Option<String> {
    let p = request["principal"].as_str()?;
    crate::base::arn::account_of(p).filter(|a| !a.is_empty()).map(str::to_string)
}

/// Whether a statement can apply to some KMS action (`NotAction` always can).
fn may_match_kms(st: &Statement) -> bool {
    st.action.negated || st.action.patterns.iter().any(|p| matched_kms_actions(p).is_some_and(|v| !v.is_empty()))
}

/// The KMS actions a pattern matches (`None` for a pattern of another service).
fn matched_kms_actions(pattern: &[Piece]) -> Option<Vec<&'static crate::facts::catalog::ActionInfo>> {
    let text = text_of(pattern).to_ascii_lowercase();
    let name = if text == "*" { "*" } else { text.strip_prefix("kms:")? };
    let toks = glob_tokens(name);
    Some(catalog().kms_actions().filter(|a| glob_match(&toks, &a.lower_name)).collect())
}

fn text_of(pattern: &[Piece]) -> String {
    pattern.iter().map(|p| if let Piece::Text(t) = p { t.as_str() } else { "" }).collect()
}

/// The parser's warnings whose text contains one of `needles`, as findings of check `id`.
fn parser_warnings(ctx: &Ctx, id: &'static str, needles: &[&str]) -> Vec<Finding> {
    ctx.policy
        .warnings
        .iter()
        .filter(|w| needles.iter().any(|n| w.message.contains(n)))
        .map(|w| {
            let f = ctx.finding(id, ctx.pos(w.pos), format!("at {}: {}", w.path, w.message));
            match statement_of_path(&w.path) {
                Some(i) => f.in_statement(i),
                None => f,
            }
        })
        .collect()
}

/// The statement index of a diagnostic's JSON path (`Statement[2].Condition…`).
fn statement_of_path(path: &str) -> Option<usize> {
    path.strip_prefix("Statement[")?.split(']').next()?.parse().ok()
}

/// The roles and users an Allow statement of the key policy names, with the first such
/// statement's position.
fn named_principals(ctx: &Ctx) -> Vec<(String, Pos)> {
    let mut principals: Vec<(String, Pos)> = Vec::new();
    for st in ctx.policy.statements.iter().filter(|s| s.effect == Effect::Allow) {
        for e in st.principal.iter().filter(|p| !p.negated).flat_map(|p| &p.entries) {
            if let PrincipalEntry::Role { arn, .. } | PrincipalEntry::Exact(arn) = e {
                if !principals.iter().any(|(a, _)| a == arn) {
                    principals.push((arn.clone(), st.pos));
                }
            }
        }
    }
    principals
}

/// Whether some Allow statement's `Resource` can be a KMS key (`*`, a `kms` ARN, a wildcard
/// service, `NotResource`, or none): a resource policy where none can is another
/// service's (an S3 bucket policy, say), not a key policy.
pub fn names_kms_resource(policy: &crate::model::policy::Policy) -> bool {
    let allows: Vec<&Statement> = policy.statements.iter().filter(|s| s.effect == Effect::Allow).collect();
    // A policy of Deny statements only is judged as a key policy (it locks everyone out).
    allows.is_empty()
        || allows.iter().any(|s| match &s.resource {
            None => true,
            Some(r) => {
                r.negated
                    || r.patterns.iter().any(|p| {
                        let text = text_of(p).to_ascii_lowercase();
                        let service = text.split(':').nth(2).unwrap_or("*");
                        !text.starts_with("arn:") || service == "kms" || service.contains(['*', '?']) || p.len() > 1
                    })
            }
        })
}

/// Whether any statement can allow some KMS action: when none can, nothing needs the solver.
pub fn allows_kms(policy: &crate::model::policy::Policy) -> bool {
    policy.statements.iter().any(|s| s.effect == Effect::Allow && may_match_kms(s))
}

/// Runs check `check` alone on `example` (a corpus file and its text): the ids of the findings.
#[cfg(test)]
fn findings_on(check: &CheckInfo, (file, text): (&str, &str)) -> Vec<&'static str> {
    let settings = super::Settings { checks: vec![check.id], ..super::Settings::default() };
    super::discover::documents_in(file, text)
        .iter()
        .flat_map(|d| super::audit_document(d, &settings).expect("no replay mismatch").findings)
        .map(|f| f.check)
        .collect()
}

/// A check finds its failing example and passes the other, both decided.
#[cfg(test)]
fn assert_examples(check: &CheckInfo) {
    let (fails, passes) =
        (check.example.fails.expect("a failing example"), check.example.passes.expect("a passing one"));
    let got = findings_on(check, fails);
    assert!(got.contains(&check.id) && !got.contains(&UNDECIDED), "{}: {got:?}", fails.0);
    let got = findings_on(check, passes);
    assert!(!got.contains(&check.id) && !got.contains(&UNDECIDED), "{}: {got:?}", passes.0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_check_has_a_documented_row() {
        for c in CHECKS {
            assert!(!c.title.is_empty() && !c.rationale.is_empty() && !c.fix.is_empty(), "{}", c.id);
        }
    }
}
