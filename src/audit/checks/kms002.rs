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
//! Declared sharing is not a finding: `--trusted-account` accounts are excluded like the
//! key's own, and `--trusted-org` callers (their `aws:PrincipalOrgID`) too. What is left is
//! graded by what the conditions leave open: callers limited to an organization by
//! `aws:PrincipalOrgID`/`aws:PrincipalOrgPaths` (named in the finding) are low, use only
//! through an AWS service (`kms:ViaService`: no direct call is allowed) medium, anything
//! else high. The headline action is the most feared one allowed ([`FEARED_ACTIONS`]).
//!
//! Fix: remove the external accounts from the key policy, or limit them with
//! `kms:ViaService` / `kms:EncryptionContext` conditions if the sharing is intended.

use super::{account_of, CheckInfo, Scope, CRYPTO};
use crate::audit::{Ctx, Finding, Severity};
use crate::facts::kms_rules::FEARED_ACTIONS;
use crate::prove::check::Verdict;
use crate::prove::Mismatch;
use serde_json::{json, Value};

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
    excluded.extend(ctx.trust.accounts.iter().cloned());
    let question = |excluded: &[String], orgs: &[String], extra: Value, action: Value| {
        let mut not_equal = json!({"aws:PrincipalAccount": excluded});
        if !orgs.is_empty() {
            not_equal["aws:PrincipalOrgID"] = json!(orgs);
        }
        let mut condition = json!({"StringNotEquals": not_equal, "StringLike": {"aws:PrincipalAccount": "*"}});
        if let Value::Object(m) = extra {
            condition.as_object_mut().into_iter().for_each(|c| c.extend(m.clone()));
        }
        json!({"name": "KMS002", "expect": "never", "principal": {"AWS": "*"}, "action": action, "condition": condition})
    };
    let (mut found, mut first, mut more) = (Vec::<String>::new(), None, false);
    for round in 0..=MAX_ACCOUNTS {
        let r = ctx.ask(&inputs, question(&excluded, &ctx.trust.orgs, json!({}), json!(CRYPTO)))?;
        match (&r.verdict, r.examples.first()) {
            (Verdict::Holds, _) => break,
            // Past the first account, an undecided round leaves the finding standing, open-ended.
            (Verdict::Unknown(_), _) if first.is_some() => {
                more = true;
                break;
            }
            (Verdict::Unknown(why), _) => return Ok(vec![ctx.undecided("KMS002", why)]),
            (Verdict::Violated, Some(e)) if round < MAX_ACCOUNTS => {
                let acct = account_of(&e.request).unwrap_or_default();
                first.get_or_insert_with(|| e.clone());
                let free = free_value_of(&e.request, &acct);
                let any = !named.contains(&acct) && free.is_none();
                found.push(match (&free, any) {
                    (Some(name), _) => format!("the template's free {name} (e.g. {acct})"),
                    (None, true) => format!("any account (e.g. {acct})"),
                    (None, false) => acct.clone(),
                });
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
    let Some(mut example) = first else { return Ok(vec![]) };
    let base = excluded[..1 + ctx.trust.accounts.len()].to_vec();
    // The most feared action allowed leads (one query per action until one is).
    for action in FEARED_ACTIONS.iter().filter(|a| CRYPTO.contains(a)) {
        if example.request["action"] == *action {
            break;
        }
        let r = ctx.ask(&inputs, question(&base, &ctx.trust.orgs, json!({}), json!([action])))?;
        if let (Verdict::Violated, Some(e)) = (&r.verdict, r.examples.first()) {
            example = e.clone();
            break;
        }
    }
    // What the conditions leave open: an organization, only AWS services, or more.
    let (org, org_ids) = org_conditions(ctx);
    let mut outside_orgs = ctx.trust.orgs.clone();
    outside_orgs.extend(org_ids.iter().cloned());
    let in_org = if org_ids.is_empty() {
        false
    } else {
        let r = ctx.ask(&inputs, question(&base, &outside_orgs, json!({}), json!(CRYPTO)))?;
        matches!(r.verdict, Verdict::Holds)
    };
    let direct =
        ctx.ask(&inputs, question(&base, &ctx.trust.orgs, json!({"Null": {"kms:ViaService": "true"}}), json!(CRYPTO)))?;
    let (severity, open) = match (&org, &direct.verdict) {
        (Some(o), _) if in_org => (Severity::Low, format!("; limited to the organization by {o} (declare it with --trusted-org to accept it)")),
        (_, Verdict::Holds) => (
            Severity::Medium,
            "; only through an AWS service (kms:ViaService): no direct call from outside is allowed (declare the partner with --trusted-account to accept it)".to_string(),
        ),
        _ => (Severity::High, String::new()),
    };
    let more =
        if more { format!(" and possibly more (stopped after {} accounts)", found.len()) } else { String::new() };
    let message = format!(
        "cryptographic use ({}) allowed to principals outside the key's account {}: {}{more}{open}",
        example.request["action"].as_str().unwrap_or("?"),
        ctx.account,
        found.join(", ")
    );
    let mut f = ctx.finding("KMS002", ctx.deciding_pos(Some(&example)), message);
    f.severity = severity;
    for i in ctx.deciding_statements(Some(&example)) {
        f = f.in_statement(i);
    }
    f.counterexample = Some(example.request.clone());
    f.accounts = found;
    Ok(vec![f])
}

/// The name of the template's free value a witness bound to `value` (see
/// `base::pattern::FREE_VALUE_PREFIX`), when one was.
pub(super) fn free_value_of(request: &Value, value: &str) -> Option<String> {
    let context = request.get("context")?.as_object()?;
    context.iter().find_map(|(k, v)| {
        let name = k.strip_prefix(crate::base::pattern::FREE_VALUE_PREFIX)?;
        (v.as_str() == Some(value)).then(|| name.to_string())
    })
}

/// The organization conditions of the policy's statements, named with their values
/// (`aws:PrincipalOrgID = o-a1b2c3d4e5`), when any statement has one, and the literal
/// organization IDs `aws:PrincipalOrgID` names (the query that grades the finding reads them).
fn org_conditions(ctx: &Ctx) -> (Option<String>, Vec<String>) {
    let mut ids: Vec<String> = Vec::new();
    const ORG_KEYS: &[&str] = &["aws:PrincipalOrgID", "aws:PrincipalOrgPaths"];
    let mut named: Vec<String> = Vec::new();
    for st in &ctx.policy.statements {
        for c in st.conditions.iter().filter(|c| !c.op.spec.negated) {
            let Some(k) = ORG_KEYS.iter().find(|k| k.eq_ignore_ascii_case(&c.key)) else { continue };
            let values: Vec<String> = c
                .values
                .iter()
                .filter_map(|v| match v {
                    crate::model::policy::CondValue::Text(p) => Some(crate::base::pattern::pieces_text(p)),
                    _ => None,
                })
                .collect();
            if k.eq_ignore_ascii_case("aws:PrincipalOrgID") {
                ids.extend(values.iter().filter(|v| !v.contains(['*', '?', '$'])).cloned());
            }
            let text = format!("{k} = {}", values.join(" | "));
            if !named.contains(&text) {
                named.push(text);
            }
        }
    }
    ((!named.is_empty()).then(|| named.join(", ")), ids)
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_the_failing_example_and_passes_the_other() {
        super::super::assert_examples(&super::CHECK);
    }
}
