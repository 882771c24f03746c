//! The built-in checks: one row of [`CHECKS`] per check (id, severity, title, rationale,
//! fix, method) and one function per check. Reachability checks are asked of Z3 through
//! [`crate::prove::check::check`], so every counterexample in a finding has been replayed through
//! the evaluator; structural checks say so in their `method`.

use super::{Ctx, Finding, Severity};
use crate::base::json::Pos;
use crate::base::pattern::{glob_match, glob_tokens, Piece};
use crate::facts::catalog::catalog;
use crate::model::policy::operator::Operator;
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
        Example {
            fails: Some((concat!("corpus/audit/", $pos), include_str!(concat!("../../corpus/audit/", $pos)))),
            passes: Some((concat!("corpus/audit/", $neg), include_str!(concat!("../../corpus/audit/", $neg)))),
        }
    };
}

const NO_EXAMPLE: Example = Example { fails: None, passes: None };

pub const UNREADABLE: &str = "AUD001";
pub const UNDECIDED: &str = "AUD002";
pub const USER_PROPERTY: &str = "AUD003";

pub const CHECKS: &[CheckInfo] = &[
    CheckInfo { id: "KMS001", name: "key-open-to-any-account", severity: Severity::Critical, title: "Key usable by any AWS account", rationale: "A principal of an account the policy never names, outside any organization and VPC, can use the key: the conditions do not restrict the caller.", fix: "Name the principals (account root or role ARNs) or add a caller condition such as kms:CallerAccount, aws:PrincipalOrgID or aws:PrincipalArn.", method: "proved by Z3", scope: Scope::KeyPolicy, example: corpus_example!("kms001-pos.json", "kms001-neg.json"), run: Some(kms001) },
    CheckInfo { id: "KMS002", name: "crypto-use-by-other-accounts", severity: Severity::High, title: "Cryptographic use allowed to other accounts", rationale: "Principals outside the key's account can encrypt, decrypt or generate data keys; the finding lists the accounts Z3 reached.", fix: "Remove the external accounts from the key policy, or limit them with kms:ViaService / kms:EncryptionContext conditions if the sharing is intended.", method: "proved by Z3", scope: Scope::KeyPolicy, example: corpus_example!("kms002-pos.json", "kms002-neg.json"), run: Some(kms002) },
    CheckInfo { id: "KMS003", name: "lockout-risk", severity: Severity::High, title: "Key-policy lockout risk", rationale: "No principal can change the key policy (the key becomes unmanageable; high), or an IAM policy allows CreateKey with kms:BypassPolicyLockoutSafetyCheck (every administrator policy does: a low note, once per policy).", fix: "Keep a statement that lets the account (arn:aws:iam::ACCOUNT:root) or an admin role call kms:PutKeyPolicy; deny kms:CreateKey when kms:BypassPolicyLockoutSafetyCheck is true.", method: "proved by Z3", scope: Scope::Both, example: corpus_example!("kms003-pos.json", "kms003-neg.json"), run: Some(kms003) },
    CheckInfo { id: "KMS004", name: "grant-not-for-aws-resource", severity: Severity::Medium, title: "Grant creation not limited to AWS resources, or wider than the granter", rationale: "kms:CreateGrant is allowed to a caller calling KMS directly (no kms:ViaService) without kms:GrantIsForAWSResource, so it can hand the key's permissions to anyone; or a principal named in the key policy, not a key-policy administrator, can grant operations it cannot perform itself. Only operations the key's spec supports count (CreateGrant rejects the others; --key-spec, default SYMMETRIC_DEFAULT) and never RetireGrant; when the grant can only be created through an AWS service (GrantIsForAWSResource true or kms:ViaService), the service chooses its operations, so the finding is low.", fix: "Add \"Bool\": {\"kms:GrantIsForAWSResource\": \"true\"} to statements that allow kms:CreateGrant, and limit kms:GrantOperations to the operations the granter holds.", method: "proved by Z3", scope: Scope::Both, example: corpus_example!("kms004-pos.json", "kms004-neg.json"), run: Some(kms004) },
    CheckInfo { id: "KMS005", name: "source-ip-trap", severity: Severity::Medium, title: "aws:SourceIp/SourceVpc condition breaks AWS services", rationale: "Requests AWS services make on your behalf (EBS, S3, RDS…) come from AWS addresses, so a network condition without an aws:ViaAWSService / kms:ViaService exemption denies them.", fix: "Add \"Bool\": {\"aws:ViaAWSService\": \"false\"} to the Deny (or exempt kms:ViaService), or move the network restriction to a VPC endpoint policy.", method: "structural", scope: Scope::Both, example: corpus_example!("kms005-pos.json", "kms005-neg.json"), run: Some(kms005) },
    CheckInfo { id: "KMS006", name: "via-service-shape", severity: Severity::Medium, title: "kms:ViaService value matches no service endpoint", rationale: "kms:ViaService holds SERVICE.REGION.amazonaws.com; other values never match (the restriction silently allows nothing) and a wildcard service allows every service.", fix: "Write values such as ec2.us-east-1.amazonaws.com (wildcards only in the region part).", method: "structural", scope: Scope::Both, example: corpus_example!("kms006-pos.json", "kms006-neg.json"), run: Some(kms006) },
    CheckInfo { id: "KMS007", name: "set-operator-misuse", severity: Severity::Medium, title: "Multi-valued key without set operator, or ForAllValues satisfied by a missing key", rationale: "A multi-valued key without ForAllValues/ForAnyValue is evaluated in undocumented ways, and ForAllValues in an Allow is true when the key is missing or empty (checked on statements that can allow a KMS action).", fix: "Use ForAnyValue:/ForAllValues: with multi-valued keys; pair ForAllValues in an Allow with \"Null\": {KEY: \"false\"}.", method: "structural (parser diagnostics)", scope: Scope::Both, example: corpus_example!("kms007-pos.json", "kms007-neg.json"), run: Some(kms007) },
    CheckInfo { id: "KMS008", name: "admin-and-crypto-use", severity: Severity::Medium, title: "Principal both administers and uses the key", rationale: "A principal that can change or delete the key and also use it cryptographically defeats separation of duties.", fix: "Split key administrators (PutKeyPolicy, ScheduleKeyDeletion, DisableKey) and key users into different principals; avoid kms:* for roles.", method: "proved by Z3", scope: Scope::KeyPolicy, example: corpus_example!("kms008-pos.json", "kms008-neg.json"), run: Some(kms008) },
    CheckInfo { id: "KMS009", name: "unknown-or-inapplicable", severity: Severity::Low, title: "Unknown action or condition key, or key that cannot exist for the actions", rationale: "An unknown action never matches, and a condition on a key the statement's actions never carry makes the statement never apply (Allow) or never deny (Deny).", fix: "Correct the spelling, or move the condition to a statement whose actions carry the key (see the KMS condition-key table).", method: "structural (SAR tables)", scope: Scope::Both, example: corpus_example!("kms009-pos.json", "kms009-neg.json"), run: Some(kms009) },
    CheckInfo { id: "KMS010", name: "decrypt-through-hidden-path", severity: Severity::Medium, title: "Principal decrypts only through a role chain or an escalation", rationale: "With the account dumps (--authorization-details), who-can's graph finds principals that can kms:Decrypt the key only by assuming two or more roles in a row, or by an escalation edge (iam:PutUserPolicy, AttachRolePolicy, CreatePolicyVersion, PassRole, …): reading the key policy and the trust policies of the roles it names does not show them. Each hop is decided by Z3 and its witness request replayed; the finding carries the path. Escalation paths are high, role chains medium.", fix: "Name the principals that should decrypt in the key policy instead of delegating to the account, cut the chain (trust policies of the intermediate roles), or remove the escalation permission; `kmsproof who-can` shows every path.", method: "proved by Z3 (who-can graph)", scope: Scope::Account, example: corpus_example!("kms010-pos.json", "kms010-neg.json"), run: Some(super::whocan::kms010) },
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

/// Administrative operations that change or destroy the key.
const ADMIN: &[&str] = &["kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:DisableKey"];

/// How many external accounts KMS002 enumerates before it stops.
const MAX_ACCOUNTS: usize = 10;

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

fn kms001(ctx: &Ctx) -> Result<Vec<Finding>, Mismatch> {
    let named = ctx.named_accounts();
    let prop = json!({"name": "KMS001", "expect": "never", "principal": {"AWS": "*"}, "action": on_key_actions(),
        "condition": {"StringNotEquals": {"aws:PrincipalAccount": named}, "StringLike": {"aws:PrincipalAccount": "*"},
            "Null": {"aws:PrincipalOrgID": "true", "aws:PrincipalOrgPaths": "true", "aws:SourceVpce": "true", "aws:SourceVpc": "true"}}});
    let r = ctx.ask(&ctx.worst_case_inputs(), prop)?;
    let f = verdict_finding(ctx, "KMS001", &r, || {
        let e = &r.examples[0].request;
        format!(
            "a principal of an account the policy never names ({}), outside any organization and VPC, is allowed {}",
            account_of(e).unwrap_or_default(),
            e["action"].as_str().unwrap_or("?")
        )
    });
    Ok(f.into_iter().collect())
}

/// The account of a counterexample's caller.
fn account_of(request: &Value) -> Option<String> {
    let p = request["principal"].as_str()?;
    crate::base::arn::account_of(p).filter(|a| !a.is_empty()).map(str::to_string)
}

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
            let text = format!("no principal can call kms:PutKeyPolicy, even with any IAM policy (proved: Z3 unsat{free}{rests}): the key policy can never be changed again");
            vec![ctx.finding("KMS003", ctx.doc.pos, text)]
        }
    })
}

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

/// Keys that restrict the network a request comes from.
const NETWORK_KEYS: &[&str] = &["aws:sourceip", "aws:sourcevpc", "aws:sourcevpce"];
/// Keys that exempt requests AWS services make on the caller's behalf.
const SERVICE_EXEMPTIONS: &[&str] = &[
    "aws:viaawsservice",
    "kms:viaservice",
    "aws:calledvia",
    "aws:calledviafirst",
    "aws:calledvialast",
    "aws:principalisawsservice",
];

fn kms005(ctx: &Ctx) -> Result<Vec<Finding>, Mismatch> {
    let mut out = Vec::new();
    for st in ctx.policy.statements.iter().filter(|s| may_match_kms(s)) {
        let keys: Vec<String> = st.conditions.iter().map(|c| c.key.to_ascii_lowercase()).collect();
        let Some(net) = st.conditions.iter().find(|c| NETWORK_KEYS.contains(&c.key.to_ascii_lowercase().as_str()))
        else {
            continue;
        };
        if keys.iter().any(|k| SERVICE_EXEMPTIONS.contains(&k.as_str())) {
            continue;
        }
        let what = if st.effect == Effect::Deny { "denies" } else { "allows only" };
        out.push(ctx.finding("KMS005", ctx.pos(net.pos), format!("{} {what} requests by {} {} with no aws:ViaAWSService or kms:ViaService exemption: requests AWS services make for you come from AWS networks", st.label(), net.op.canonical(), net.key)).in_statement(st.index));
    }
    Ok(out)
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

fn kms006(ctx: &Ctx) -> Result<Vec<Finding>, Mismatch> {
    let mut out = Vec::new();
    for st in &ctx.policy.statements {
        for c in st.conditions.iter().filter(|c| c.key.eq_ignore_ascii_case("kms:ViaService")) {
            let wild = c.op.spec.name.ends_with("Like");
            for v in &c.values {
                let crate::model::policy::CondValue::Text(p) = v else { continue };
                let text = text_of(p);
                let problem = match via_service_shape(&text, wild) {
                    Shape::AnyService if st.effect == Effect::Allow && !c.op.spec.negated => {
                        "allows every service, so the restriction restricts nothing"
                    }
                    Shape::Bad => "matches no service endpoint name (SERVICE.REGION.amazonaws.com)",
                    Shape::Real | Shape::AnyService => continue,
                };
                let message = format!("{} {} {}: \"{text}\" {problem}", st.label(), c.op.canonical(), c.key);
                out.push(ctx.finding("KMS006", ctx.pos(c.pos), message).in_statement(st.index));
            }
        }
    }
    Ok(out)
}

enum Shape {
    Real,
    AnyService,
    Bad,
}

/// Endpoint suffixes by partition family.
const ENDPOINT_SUFFIXES: &[&str] = &[".amazonaws.com.cn", ".amazonaws.com", ".c2s.ic.gov", ".sc2s.sgov.gov"];

/// Whether `v` can be `SERVICE.REGION.amazonaws.com` (with `*`/`?` when `wild`).
fn via_service_shape(v: &str, wild: bool) -> Shape {
    let is_wild = |s: &str| wild && s.contains(['*', '?']);
    if is_wild(v) && v.chars().all(|c| c == '*' || c == '?') {
        return Shape::AnyService;
    }
    let Some(head) = ENDPOINT_SUFFIXES.iter().find_map(|s| v.strip_suffix(s)) else {
        return if is_wild(v) && v.ends_with('*') { Shape::Real } else { Shape::Bad };
    };
    let Some((service, region)) = head.split_once('.') else { return Shape::Bad };
    let label_ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || (wild && (c == '*' || c == '?')))
    };
    let region_ok = is_wild(region) && label_ok(&region.replace('.', "")) || is_region(region);
    match (label_ok(service), region_ok) {
        (true, true) if is_wild(service) && service.trim_matches(['*', '?']).is_empty() => Shape::AnyService,
        (true, true) => Shape::Real,
        _ => Shape::Bad,
    }
}

/// `us-east-1`, `us-gov-west-1`, `cn-north-1`, `ap-southeast-5`, …: letters-…-digits.
fn is_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1].iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].chars().all(|c| c.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
}

fn kms007(ctx: &Ctx) -> Result<Vec<Finding>, Mismatch> {
    let mut out = parser_warnings(ctx, "KMS007", &[" is multi-valued", " is single-valued"]);
    // Statements of other services are out of scope: `ForAllValues` on aws:TagKeys there is
    // AWS's own pattern ("no tags" is meant to pass), and no KMS request is decided by it.
    for st in ctx.policy.statements.iter().filter(|s| s.effect == Effect::Allow && may_match_kms(s)) {
        for c in st
            .conditions
            .iter()
            .filter(|c| c.op.set == Some(crate::model::policy::operator::SetQualifier::ForAllValues))
        {
            if !requires_presence(st, &c.key) && !always_present(st, &c.key) {
                out.push(ctx.finding("KMS007", ctx.pos(c.pos), format!("{} {} {}: ForAllValues in an Allow is true when {} is missing or empty; nothing requires the key to be present", st.label(), c.op.canonical(), c.key, c.key)).in_statement(st.index));
            }
        }
    }
    Ok(out)
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

/// Whether every KMS action of the statement that carries `key` always carries it (a
/// required request parameter, [`crate::facts::kms_rules::KEYS_ALWAYS_PRESENT`]): then
/// `ForAllValues` cannot be satisfied by a missing key.
fn always_present(st: &Statement, key: &str) -> bool {
    let Some((_, actions)) =
        crate::facts::kms_rules::KEYS_ALWAYS_PRESENT.iter().find(|(k, _)| k.eq_ignore_ascii_case(key))
    else {
        return false;
    };
    if st.action.negated {
        return false;
    }
    let carrying: Vec<_> =
        st.action.patterns.iter().filter_map(|p| matched_kms_actions(p)).flatten().filter(|a| a.has_key(key)).collect();
    !carrying.is_empty() && carrying.iter().all(|a| actions.contains(&a.name.as_str()))
}

/// The statement index of a diagnostic's JSON path (`Statement[2].Condition…`).
fn statement_of_path(path: &str) -> Option<usize> {
    path.strip_prefix("Statement[")?.split(']').next()?.parse().ok()
}

/// Whether another condition of the statement is false when `key` is missing.
fn requires_presence(st: &Statement, key: &str) -> bool {
    st.conditions.iter().filter(|c| c.key.eq_ignore_ascii_case(key)).any(|c| match (&c.op, c.values.as_slice()) {
        (op, [crate::model::policy::CondValue::Null(false)]) if op.spec.name == "Null" => true,
        (op, _) => op.set == Some(crate::model::policy::operator::SetQualifier::ForAnyValue) && !op.spec.negated,
    })
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

fn kms009(ctx: &Ctx) -> Result<Vec<Finding>, Mismatch> {
    let mut out = parser_warnings(ctx, "KMS009", &["matches no KMS action", "unknown condition key"]);
    for st in ctx.policy.statements.iter().filter(|s| !s.action.negated) {
        let actions: Vec<_> = st.action.patterns.iter().filter_map(|p| matched_kms_actions(p)).flatten().collect();
        let other_services = st.action.patterns.iter().any(|p| matched_kms_actions(p).is_none());
        if actions.is_empty() && other_services {
            continue;
        }
        for c in st
            .conditions
            .iter()
            .filter(|c| c.key.to_ascii_lowercase().starts_with("kms:") && catalog().key(&c.key).is_some())
        {
            if !actions.iter().any(|a| a.has_key(&c.key)) && !op_true_when_missing(&c.op) {
                let effect =
                    if st.effect == Effect::Allow { "the statement never applies" } else { "the Deny never applies" };
                out.push(
                    ctx.finding(
                        "KMS009",
                        ctx.pos(c.pos),
                        format!(
                            "{} {} {}: no action of the statement carries {}, so {effect}",
                            st.label(),
                            c.op.canonical(),
                            c.key,
                            c.key
                        ),
                    )
                    .in_statement(st.index),
                );
            }
        }
    }
    Ok(out)
}

/// Operators that are true for a missing key (negated operators, `IfExists`, `ForAllValues`,
/// `Null: true`): a key that never exists does not disable them.
fn op_true_when_missing(op: &Operator) -> bool {
    op.spec.negated
        || op.if_exists
        || op.set == Some(crate::model::policy::operator::SetQualifier::ForAllValues)
        || op.spec.name == "Null"
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn via_service_shapes() {
        for ok in [
            "ec2.us-east-1.amazonaws.com",
            "rds.*.amazonaws.com",
            "s3.cn-north-1.amazonaws.com.cn",
            "lambda.us-gov-west-1.amazonaws.com",
        ] {
            assert!(matches!(via_service_shape(ok, true), Shape::Real), "{ok}");
        }
        for bad in ["ec2.amazonaws.com", "ec2", "ec2.us-east-1.amazonaws.org", "ec2.useast1.amazonaws.com"] {
            assert!(matches!(via_service_shape(bad, false), Shape::Bad), "{bad}");
        }
        for any in ["*", "*.us-east-1.amazonaws.com", "*.*.amazonaws.com"] {
            assert!(matches!(via_service_shape(any, true), Shape::AnyService), "{any}");
        }
    }

    #[test]
    fn every_check_has_a_documented_row() {
        for c in CHECKS {
            assert!(!c.title.is_empty() && !c.rationale.is_empty() && !c.fix.is_empty(), "{}", c.id);
        }
    }
}
