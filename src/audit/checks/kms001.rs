//! KMS001 — the key is usable by any AWS account.
//!
//! Why it matters: a principal of an account the policy never names, outside any
//! organization and VPC, can use the key; the conditions do not restrict the caller.
//!
//! What it asks: with the worst case for IAM (every caller's IAM policies allow `kms:*`),
//! is any action on the key allowed to a principal whose `aws:PrincipalAccount` is none of
//! the accounts the document names, with no `aws:PrincipalOrgID`, `aws:PrincipalOrgPaths`,
//! `aws:SourceVpce` or `aws:SourceVpc`? (`never` expected; a counterexample is the finding.)
//!
//! Fix: name the principals (account root or role ARNs) or add a caller condition such as
//! `kms:CallerAccount`, `aws:PrincipalOrgID` or `aws:PrincipalArn`.

use super::{account_of, on_key_actions, verdict_finding, CheckInfo, Scope};
use crate::audit::{Ctx, Finding, Severity};
use crate::prove::Mismatch;
use serde_json::json;

pub const CHECK: CheckInfo = CheckInfo {
    id: "KMS001",
    name: "key-open-to-any-account",
    severity: Severity::Critical,
    title: "Key usable by any AWS account",
    rationale: "A principal of an account the policy never names, outside any organization and VPC, can use the key: the conditions do not restrict the caller.",
    fix: "Name the principals (account root or role ARNs) or add a caller condition such as kms:CallerAccount, aws:PrincipalOrgID or aws:PrincipalArn.",
    method: "proved by Z3",
    scope: Scope::KeyPolicy,
    example: corpus_example!("kms001-pos.json", "kms001-neg.json"),
    run: Some(kms001),
};

fn kms001(ctx: &Ctx) -> Result<Vec<Finding>, Mismatch> {
    let named = ctx.named_accounts();
    let prop = json!({"name": "KMS001", "expect": "never", "principal": {"AWS": "*"}, "action": on_key_actions(),
        "condition": {"StringNotEquals": {"aws:PrincipalAccount": named}, "StringLike": {"aws:PrincipalAccount": "*"},
            "Null": {"aws:PrincipalOrgID": "true", "aws:PrincipalOrgPaths": "true", "aws:SourceVpce": "true", "aws:SourceVpc": "true"}}});
    let r = ctx.ask(&ctx.worst_case_inputs(), prop)?;
    let f = verdict_finding(ctx, "KMS001", &r, || {
        let e = &r.examples[0].request;
        let acct = account_of(e).unwrap_or_default();
        // A template's free account: the policy names it only through a value left open.
        let free = super::kms002::free_value_of(e, &acct)
            .map(|n| format!(" — the template's free {n}: whichever account it is given"))
            .unwrap_or_default();
        format!(
            "a principal of an account the policy never names ({acct}{free}), outside any organization and VPC, is allowed {}",
            e["action"].as_str().unwrap_or("?")
        )
    });
    Ok(f.into_iter().collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_the_failing_example_and_passes_the_other() {
        super::super::assert_examples(&super::CHECK);
    }
}
