//! KMS008 — a principal both administers and uses the key.
//!
//! Why it matters: a principal that can change or delete the key and also use it
//! cryptographically defeats separation of duties.
//!
//! What it asks: for each role or user the key policy names, with the key policy alone,
//! whether it can perform some administrative operation ([`ADMIN`]) and some
//! cryptographic one ([`super::CRYPTO`]) (`sometimes` each; both holding is the finding).
//!
//! Fix: split key administrators (PutKeyPolicy, ScheduleKeyDeletion, DisableKey) and key
//! users into different principals; avoid `kms:*` for roles.

use super::{named_principals, CheckInfo, Scope, CRYPTO};
use crate::audit::{Ctx, Finding, Severity};
use crate::prove::check::Verdict;
use crate::prove::Mismatch;
use serde_json::json;

pub const CHECK: CheckInfo = CheckInfo {
    id: "KMS008",
    name: "admin-and-crypto-use",
    severity: Severity::Medium,
    title: "Principal both administers and uses the key",
    rationale: "A principal that can change or delete the key and also use it cryptographically defeats separation of duties.",
    fix: "Split key administrators (PutKeyPolicy, ScheduleKeyDeletion, DisableKey) and key users into different principals; avoid kms:* for roles.",
    method: "proved by Z3",
    scope: Scope::KeyPolicy,
    example: corpus_example!("kms008-pos.json", "kms008-neg.json"),
    run: Some(kms008),
};

/// Administrative operations that change or destroy the key.
const ADMIN: &[&str] = &["kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:DisableKey"];

fn kms008(ctx: &Ctx) -> Result<Vec<Finding>, Mismatch> {
    let inputs = ctx.key_only_inputs();
    let mut out = Vec::new();
    for (arn, pos) in named_principals(ctx) {
        let ask = |actions: &[&str]| {
            ctx.ask(
                &inputs,
                json!({"name": "KMS008", "expect": "sometimes", "principal": {"AWS": arn}, "action": actions}),
            )
        };
        let admin = ask(ADMIN)?;
        let crypto = match &admin.verdict {
            Verdict::Holds => ask(CRYPTO)?,
            Verdict::Unknown(why) => {
                out.push(ctx.undecided("KMS008", why));
                continue;
            }
            Verdict::Violated => continue,
        };
        match (&crypto.verdict, admin.examples.first(), crypto.examples.first()) {
            (Verdict::Holds, Some(a), Some(c)) => {
                let mut f = ctx.finding(
                    "KMS008",
                    ctx.pos(pos),
                    format!(
                        "{arn} can administer the key ({}, replayed: {}) and use it ({})",
                        a.request["action"].as_str().unwrap_or("?"),
                        a.request,
                        c.request["action"].as_str().unwrap_or("?")
                    ),
                );
                f.counterexample = Some(c.request.clone());
                for i in ctx.deciding_statements(Some(a)).into_iter().chain(ctx.deciding_statements(Some(c))) {
                    f = f.in_statement(i);
                }
                out.push(f);
            }
            (Verdict::Unknown(why), _, _) => out.push(ctx.undecided("KMS008", why)),
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_the_failing_example_and_passes_the_other() {
        super::super::assert_examples(&super::CHECK);
    }
}
