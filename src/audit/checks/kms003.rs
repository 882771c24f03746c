//! KMS003 — key-policy lockout risk.
//!
//! Why it matters: a key whose policy no principal can change is unmanageable for good;
//! an IAM policy that allows `kms:CreateKey` with `kms:BypassPolicyLockoutSafetyCheck` lets
//! its holder create such a key.
//!
//! What it asks: of a key policy, whether some principal can call `kms:PutKeyPolicy` even
//! with any IAM policy (`sometimes` expected; unsat is a high finding). Of an identity
//! policy, whether `kms:CreateKey` is allowed with the bypass flag true to a caller other
//! than the root user (a low note: every administrator policy allows it).
//!
//! Fix: keep a statement that lets the account (`arn:aws:iam::ACCOUNT:root`) or an admin
//! role call `kms:PutKeyPolicy`; deny `kms:CreateKey` when
//! `kms:BypassPolicyLockoutSafetyCheck` is true.

use super::{not_root, verdict_finding, CheckInfo, Scope};
use crate::audit::{Ctx, Finding, Severity};
use crate::prove::check::Verdict;
use crate::prove::Mismatch;
use serde_json::json;

pub const CHECK: CheckInfo = CheckInfo {
    id: "KMS003",
    name: "lockout-risk",
    severity: Severity::High,
    title: "Key-policy lockout risk",
    rationale: "No principal can change the key policy (the key becomes unmanageable; high), or an IAM policy allows CreateKey with kms:BypassPolicyLockoutSafetyCheck (every administrator policy does: a low note, once per policy).",
    fix: "Keep a statement that lets the account (arn:aws:iam::ACCOUNT:root) or an admin role call kms:PutKeyPolicy; deny kms:CreateKey when kms:BypassPolicyLockoutSafetyCheck is true.",
    method: "proved by Z3",
    scope: Scope::Both,
    example: corpus_example!("kms003-pos.json", "kms003-neg.json"),
    run: Some(kms003),
};

fn kms003(ctx: &Ctx) -> Result<Vec<Finding>, Mismatch> {
    if !ctx.is_key {
        let prop = json!({"name": "KMS003", "expect": "never", "action": "kms:CreateKey",
            "condition": {"Bool": {"kms:BypassPolicyLockoutSafetyCheck": "true"}, "ArnNotLike": not_root()["ArnNotLike"]}});
        let r = ctx.ask(&ctx.identity_inputs(), prop)?;
        let f = verdict_finding(ctx, "KMS003", &r, || {
            "kms:CreateKey is allowed with kms:BypassPolicyLockoutSafetyCheck true: a key can be created with a policy that locks everyone out".to_string()
        });
        // Every administrator policy allows this (kms:* or *): a note for the reviewer, not
        // a defect of the policy; the lockout itself is a key-policy finding (high).
        return Ok(f
            .map(|mut f| {
                if f.check == "KMS003" {
                    f.severity = Severity::Low;
                }
                f
            })
            .into_iter()
            .collect());
    }
    let prop =
        json!({"name": "KMS003", "expect": "sometimes", "principal": {"AWS": "*"}, "action": "kms:PutKeyPolicy"});
    let r = ctx.ask(&ctx.worst_case_inputs(), prop)?;
    Ok(match &r.verdict {
        Verdict::Holds => vec![],
        Verdict::Unknown(why) => vec![ctx.undecided("KMS003", why)],
        Verdict::Violated => {
            let free = if r.free.is_empty() {
                String::new()
            } else {
                format!(", with these constructs not modelled exactly left free: {}", r.free.join("; "))
            };
            let rests = if r.rests_on.is_empty() {
                String::new()
            } else {
                format!("; rests on an UNCONFIRMED reading: {}", r.rests_on.join("; "))
            };
            let text = format!("no principal can call kms:PutKeyPolicy, even with any IAM policy (proved: unsat{free}{rests}): the key policy can never be changed again");
            vec![ctx.finding("KMS003", ctx.doc.pos, text)]
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_the_failing_example_and_passes_the_other() {
        super::super::assert_examples(&super::CHECK);
    }
}
