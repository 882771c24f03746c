//! KMS002 — cryptographic use allowed to other accounts.
//!
//! Why it matters: principals outside the key's account can encrypt, decrypt or generate
//! data keys with it.
//!
//! What it asks: with every caller's IAM policies allowing `kms:*`, is a cryptographic
//! operation allowed to a principal of an account other than the key's? Each account Z3
//! finds is excluded and the question asked again, up to [`MAX_ACCOUNTS`] accounts; an
//! account the document never names means "any account", and the enumeration stops there.
//!
//! Fix: remove the external accounts from the key policy, or limit them with
//! `kms:ViaService` / `kms:EncryptionContext` conditions if the sharing is intended.

use super::{account_of, CheckInfo, Scope, CRYPTO};
use crate::audit::{Ctx, Finding, Severity};
use crate::prove::check::Verdict;
use crate::prove::Mismatch;
use serde_json::json;

pub const CHECK: CheckInfo = CheckInfo {
    id: "KMS002",
    name: "crypto-use-by-other-accounts",
    severity: Severity::High,
    title: "Cryptographic use allowed to other accounts",
    rationale: "Principals outside the key's account can encrypt, decrypt or generate data keys; the finding lists the accounts Z3 reached.",
    fix: "Remove the external accounts from the key policy, or limit them with kms:ViaService / kms:EncryptionContext conditions if the sharing is intended.",
    method: "proved by Z3",
    scope: Scope::KeyPolicy,
    example: corpus_example!("kms002-pos.json", "kms002-neg.json"),
    run: Some(kms002),
};

/// How many external accounts KMS002 enumerates before it stops.
const MAX_ACCOUNTS: usize = 10;

fn kms002(ctx: &Ctx) -> Result<Vec<Finding>, Mismatch> {
    let named = ctx.named_accounts();
    let inputs = ctx.worst_case_inputs();
    let mut excluded = vec![ctx.account.clone()];
    let (mut found, mut first, mut more) = (Vec::<String>::new(), None, false);
    for round in 0..=MAX_ACCOUNTS {
        let prop = json!({"name": "KMS002", "expect": "never", "principal": {"AWS": "*"}, "action": CRYPTO,
            "condition": {"StringNotEquals": {"aws:PrincipalAccount": excluded}, "StringLike": {"aws:PrincipalAccount": "*"}}});
        let r = ctx.ask(&inputs, prop)?;
        match (&r.verdict, r.examples.first()) {
            (Verdict::Holds, _) => break,
            (Verdict::Unknown(why), _) => return Ok(vec![ctx.undecided("KMS002", why)]),
            (Verdict::Violated, Some(e)) if round < MAX_ACCOUNTS => {
                let acct = account_of(&e.request).unwrap_or_default();
                first.get_or_insert_with(|| e.clone());
                let any = !named.contains(&acct);
                found.push(if any { format!("any account (e.g. {acct})") } else { acct.clone() });
                if any || acct.is_empty() {
                    break;
                }
                excluded.push(acct);
            }
            _ => {
                more = true;
                break;
            }
        }
    }
    let Some(example) = first else { return Ok(vec![]) };
    let more = if more { format!(" and more (stopped after {MAX_ACCOUNTS})") } else { String::new() };
    let message = format!(
        "cryptographic use ({}) allowed to principals outside the key's account {}: {}{more}",
        example.request["action"].as_str().unwrap_or("?"),
        ctx.account,
        found.join(", ")
    );
    let mut f = ctx.finding("KMS002", ctx.deciding_pos(Some(&example)), message);
    for i in ctx.deciding_statements(Some(&example)) {
        f = f.in_statement(i);
    }
    f.counterexample = Some(example.request.clone());
    f.accounts = found;
    Ok(vec![f])
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_the_failing_example_and_passes_the_other() {
        super::super::assert_examples(&super::CHECK);
    }
}
