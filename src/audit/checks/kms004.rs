//! KMS004 — grant creation not limited to AWS resources, or wider than the granter.
//!
//! Why it matters: a caller that can create grants directly, for anything, can hand the
//! key's permissions to anyone; and KMS does not check that a granter holds the
//! operations it grants.
//!
//! What it asks: first, whether `kms:CreateGrant` is allowed to a caller calling KMS
//! directly (no `kms:ViaService`) without `kms:GrantIsForAWSResource` true — in the
//! key's account (key policy alone, key administrators and the root user excepted), from
//! another account (any IAM policy), or, for an identity policy, in the key's account
//! (low). Then, per principal the key policy names that is not an administrator, whether
//! it can create a grant for an operation it cannot perform itself ([`grant_escalation`]).
//!
//! Fix: add `"Bool": {"kms:GrantIsForAWSResource": "true"}` to statements that allow
//! `kms:CreateGrant`, and limit `kms:GrantOperations` to the operations the granter holds.

use super::{matched_kms_actions, named_principals, not_root, verdict_finding, CheckInfo, Scope};
use crate::audit::{Ctx, Finding, Severity};
use crate::facts::catalog::catalog;
use crate::model::policy::{Effect, PrincipalEntry, Statement};
use crate::prove::check::{CheckResult, Verdict};
use crate::prove::Mismatch;
use serde_json::{json, Value};

pub const CHECK: CheckInfo = CheckInfo {
    id: "KMS004",
    name: "grant-not-for-aws-resource",
    severity: Severity::Medium,
    title: "Grant creation not limited to AWS resources, or wider than the granter",
    rationale: "kms:CreateGrant is allowed to a caller calling KMS directly (no kms:ViaService) without kms:GrantIsForAWSResource, so it can hand the key's permissions to anyone; or a principal named in the key policy, not a key-policy administrator, can grant operations it cannot perform itself. Only operations the key's spec supports count (CreateGrant rejects the others; --key-spec, default SYMMETRIC_DEFAULT) and never RetireGrant; when the grant can only be created through an AWS service (GrantIsForAWSResource true or kms:ViaService), the service chooses its operations, so the finding is low.",
    fix: "Add \"Bool\": {\"kms:GrantIsForAWSResource\": \"true\"} to statements that allow kms:CreateGrant, and limit kms:GrantOperations to the operations the granter holds.",
    method: "proved by Z3",
    scope: Scope::Both,
    example: corpus_example!("kms004-pos.json", "kms004-neg.json"),
    run: Some(kms004),
};

/// A request made by the caller itself, not through an AWS service: `kms:ViaService`
/// absent. CreateGrant through a named service (the AWS managed policies' pattern) is as
/// bounded as one for an AWS resource: the service decides what the grant holds.
fn direct() -> Value {
    json!({"kms:ViaService": "true"})
}

/// The principals named in the key policy that can call kms:PutKeyPolicy with the key
/// policy alone: they can give themselves any permission, so what they can grant is not
/// an escalation (an undecided answer counts as "not an administrator": more findings).
fn key_admins(ctx: &Ctx) -> Result<Vec<String>, Mismatch> {
    let inputs = ctx.key_only_inputs();
    let mut out = Vec::new();
    for (arn, _) in named_principals(ctx) {
        let r = ctx.ask(
            &inputs,
            json!({"name": "KMS004", "expect": "sometimes", "principal": {"AWS": arn}, "action": "kms:PutKeyPolicy"}),
        )?;
        if matches!(r.verdict, Verdict::Holds) {
            out.push(arn);
        }
    }
    Ok(out)
}

fn kms004(ctx: &Ctx) -> Result<Vec<Finding>, Mismatch> {
    let no_aws = json!({"kms:GrantIsForAWSResource": "false"});
    let admins = if ctx.is_key { key_admins(ctx)? } else { vec![] };
    let mut in_account = json!({"BoolIfExists": no_aws, "Null": direct(), "ArnNotLike": not_root()["ArnNotLike"]});
    if !admins.is_empty() {
        in_account["ArnNotEquals"] = json!({ "aws:PrincipalArn": admins });
    }
    let asks: Vec<(crate::model::inputs::Inputs, Value)> = if ctx.is_key {
        vec![
            (ctx.key_only_inputs(), json!({"principal": "*", "condition": in_account})),
            (
                ctx.worst_case_inputs(),
                json!({"principal": {"AWS": "*"}, "condition": {"BoolIfExists": no_aws, "Null": direct(),
                "StringNotEquals": {"aws:PrincipalAccount": ctx.account}, "StringLike": {"aws:PrincipalAccount": "*"}}}),
            ),
        ]
    } else {
        vec![(
            ctx.identity_inputs(),
            json!({"principal": {"AWS": ctx.account}, "condition": {"BoolIfExists": no_aws, "Null": direct(), "ArnNotLike": not_root()["ArnNotLike"]}}),
        )]
    };
    let mut out = Vec::new();
    for (inputs, mut prop) in asks {
        prop["name"] = json!("KMS004");
        prop["expect"] = json!("never");
        prop["action"] = json!("kms:CreateGrant");
        let r = ctx.ask(&inputs, prop)?;
        let f = verdict_finding(ctx, "KMS004", &r, || {
            "kms:CreateGrant is allowed, called directly (no kms:ViaService), when the grant is not for an AWS resource (kms:GrantIsForAWSResource false or absent)".to_string()
        });
        // An IAM policy is half of the permission (the key policy must let IAM decide),
        // and every administrator policy allows this: a low note there.
        let f = f.map(|mut f| {
            if !ctx.is_key && f.check == "KMS004" {
                f.severity = Severity::Low;
            }
            f
        });
        if let Some(f) = f {
            out.push(f);
            break;
        }
    }
    if ctx.is_key {
        out.extend(grant_escalation(ctx, &admins)?);
    }
    Ok(out)
}

/// KMS004, second part: a principal named in the key policy that can create a grant for
/// operations it cannot perform itself (KMS does not check the granter holds them).
/// Per principal: which grant operations it can perform (one `sometimes` each), then
/// whether CreateGrant is allowed with `kms:GrantOperations` naming one it cannot.
///
/// Only operations the key supports count ([`crate::facts::kms_rules::grant_operations_for`] of
/// the key spec: CreateGrant rejects the others), and never RetireGrant (AWS's own service
/// grants carry it, and it lets the grantee give the grant up, not use the key). A
/// principal that can call kms:PutKeyPolicy already holds every operation in effect, so a
/// grant adds nothing. A grant the caller can only have an AWS service create (the
/// condition requires `kms:GrantIsForAWSResource` true or `kms:ViaService`) is a low
/// finding: the service, not the caller, chooses its operations for the resource.
fn grant_escalation(ctx: &Ctx, admins: &[String]) -> Result<Vec<Finding>, Mismatch> {
    let inputs = ctx.key_only_inputs();
    let supported = key_grant_operations(ctx);
    let mut out = Vec::new();
    for (arn, pos) in named_principals(ctx).into_iter().filter(|(a, _)| !admins.contains(a)) {
        let ask = |expect: &str, action: String, condition: Value| {
            ctx.ask(&inputs, json!({"name": "KMS004", "expect": expect, "principal": {"AWS": arn}, "action": action, "condition": condition}))
        };
        let can_grant = ask("sometimes", "kms:CreateGrant".into(), json!({}))?;
        if !matches!(can_grant.verdict, Verdict::Holds) {
            out.extend(undecided_of(ctx, &can_grant));
            continue;
        }
        let mut missing = Vec::new();
        let possible = actions_named_for(ctx, &arn);
        for op in supported.iter().filter(|o| !NOT_ESCALATION.contains(o)) {
            if !possible.iter().any(|a| a.name == *op) {
                // No Allow statement that can apply to this principal names the action:
                // it cannot perform it (the key policy alone decides here).
                missing.push(*op);
                continue;
            }
            let r = ask("sometimes", format!("kms:{op}"), json!({}))?;
            match r.verdict {
                Verdict::Holds => {}
                Verdict::Violated => missing.push(*op),
                Verdict::Unknown(_) => return Ok(undecided_of(ctx, &r)),
            }
        }
        if missing.is_empty() {
            continue;
        }
        let ops = json!({"kms:GrantOperations": missing});
        let direct = ask(
            "never",
            "kms:CreateGrant".into(),
            json!({"ForAnyValue:StringEquals": ops, "BoolIfExists": {"kms:GrantIsForAWSResource": "false"}, "Null": {"kms:ViaService": "true"}}),
        )?;
        let (r, by_service) = match direct.verdict {
            Verdict::Holds => (ask("never", "kms:CreateGrant".into(), json!({"ForAnyValue:StringEquals": ops}))?, true),
            _ => (direct, false),
        };
        let how = if by_service {
            "through AWS services only (the service chooses the grant's operations for its resource)"
        } else {
            "directly"
        };
        let f = verdict_finding(ctx, "KMS004", &r, || {
            format!("{arn} can create grants {how} for operations it cannot perform itself (it cannot {}): grants can delegate more than the granter holds; limit kms:GrantOperations", missing.join(", "))
        });
        out.extend(f.map(|mut f| {
            f.pos = ctx.pos(pos);
            if by_service && f.check == "KMS004" {
                f.severity = Severity::Low;
            }
            f
        }));
    }
    Ok(out)
}

/// Grant operations KMS004 never counts as escalation: CreateGrant is what is asked about,
/// and RetireGrant only lets a grantee give up its grant.
const NOT_ESCALATION: &[&str] = &["CreateGrant", "RetireGrant"];

/// The grant operations the document's key supports (every grant operation when its key
/// spec is not in the table: never fewer than the key may have).
fn key_grant_operations(ctx: &Ctx) -> Vec<&'static str> {
    let spec = ctx.doc.key.spec.as_deref().unwrap_or(crate::facts::kms_rules::DEFAULT_KEY_SPEC);
    crate::facts::kms_rules::grant_operations_for(spec, ctx.doc.key.usage.as_deref())
        .unwrap_or_else(|| crate::facts::kms_rules::GRANT_OPERATIONS.to_vec())
}

/// The KMS actions of the key policy's Allow statements that can apply to `arn` directly
/// (principal `*`, the ARN itself, a user or session ARN of its account, or a
/// `NotPrincipal`); with the key policy alone, no other statement can allow it anything.
fn actions_named_for(ctx: &Ctx, arn: &str) -> Vec<&'static crate::facts::catalog::ActionInfo> {
    let applies = |st: &&Statement| {
        st.effect == Effect::Allow
            && st.principal.as_ref().is_some_and(|p| {
                p.negated
                    || p.entries.iter().any(|e| match e {
                        PrincipalEntry::Everyone => true,
                        PrincipalEntry::Role { arn: a, .. } => a == arn,
                        // A session or user ARN of the same account may be one of its sessions.
                        PrincipalEntry::Exact(a) => a == arn || account_part(a) == account_part(arn),
                        _ => false,
                    })
            })
    };
    let mut out = Vec::new();
    for st in ctx.policy.statements.iter().filter(applies) {
        if st.action.negated {
            return catalog().kms_actions().collect();
        }
        out.extend(st.action.patterns.iter().filter_map(|p| matched_kms_actions(p)).flatten());
    }
    out
}

fn account_part(arn: &str) -> Option<&str> {
    crate::base::arn::account_of(arn)
}

/// The undecided finding of a result, if it is unknown.
fn undecided_of(ctx: &Ctx, r: &CheckResult) -> Vec<Finding> {
    match &r.verdict {
        Verdict::Unknown(why) => vec![ctx.undecided("KMS004", why)],
        _ => vec![],
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_the_failing_example_and_passes_the_other() {
        super::super::assert_examples(&super::CHECK);
    }
}
