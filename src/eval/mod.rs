//! The concrete evaluator: the KMS authorization decision for one request, explained.
//!
//! Every counterexample the solver finds is replayed through this module, so it follows
//! `semantics.md` §4.2 step by step and keeps each step in its own small function.

mod condition;
mod statement;

pub use condition::{evaluate as evaluate_condition, CondOutcome};
pub use statement::{action_covers, kms_action_coverage, match_statement, resource_covers, role_path_name, Match, Via};

use crate::facts::kms_rules::{is_cross_account_action, GRANT_OPS_IGNORING_CONSTRAINTS};
use crate::model::binding::exemption;
use crate::model::grant::Grant;
use crate::model::inputs::Inputs;
use crate::model::policy::{Effect, Policy, PolicyKind};
use crate::model::request::{Caller, IamKind, Request};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    ExplicitDeny,
    Allowed,
    ImplicitDeny,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::ExplicitDeny => "explicit-deny",
            Reason::Allowed => "allowed",
            Reason::ImplicitDeny => "implicit-deny",
        }
    }
}

/// What one statement did for this request.
#[derive(Debug, Clone)]
pub struct StatementResult {
    pub policy: Arc<str>,
    pub kind: PolicyKind,
    /// `Sid` or `Statement[i]`.
    pub statement: String,
    pub index: usize,
    pub effect: Effect,
    pub applies: bool,
    pub via: Option<Via>,
    /// Whether the statement is part of what decided (the deny, or the allow path).
    pub decisive: bool,
    /// How it matched, or why it did not.
    pub detail: String,
    /// Undocumented behaviour the match relied on.
    pub notes: Vec<String>,
}

/// What one grant did for this request.
#[derive(Debug, Clone)]
pub struct GrantResult {
    pub source: Arc<str>,
    pub grant: String,
    pub applies: bool,
    /// Whether the grantee is an account (delegates to IAM policies like a key policy).
    pub to_account: bool,
    pub decisive: bool,
    pub detail: String,
}

/// The decision and its explanation.
#[derive(Debug, Clone)]
pub struct Decision {
    pub reason: Reason,
    /// One sentence saying which path decided.
    pub summary: String,
    pub statements: Vec<StatementResult>,
    pub grants: Vec<GrantResult>,
    /// Points where the decision rests on behaviour AWS does not document.
    pub notes: Vec<String>,
}

impl Decision {
    pub fn allowed(&self) -> bool {
        self.reason == Reason::Allowed
    }
}

/// Decides `req` against `inputs` ([KMSKP], [KMSEVAL], [KMSX], [EVAL]).
pub fn authorize(inputs: &Inputs, req: &Request) -> Decision {
    // A session whose request does not say its role's path is of the role the inputs name.
    let resolved = inputs.resolve(req);
    let req = &*resolved;
    let on_key = req.resource.is_some();
    let mut statements = Vec::new();
    if is_retire(req) {
        let why = "the kms:RetireGrant permission is not effective in a key policy: the grant decides who retires it (KMS Developer Guide, retiring and revoking grants)";
        statements.extend(inert(&inputs.key_policy, &format!("not consulted: {why}")));
    } else if on_key {
        statements.extend(evaluate_policy(&inputs.key_policy, req));
    } else {
        let why = format!("{} is not authorized on a key, so only IAM policies decide", req.action_name());
        statements.extend(inert(&inputs.key_policy, &format!("not consulted: {why}")));
    }
    let slots = [(PolicyKind::Identity, &inputs.identity[..]), (PolicyKind::Scp, &inputs.scps[..])];
    let boundary = inputs.boundary.iter().map(|p| (PolicyKind::Boundary, p));
    for (slot, p) in slots.into_iter().flat_map(|(k, ps)| ps.iter().map(move |p| (k, p))).chain(boundary) {
        match exemption(slot, &req.caller, inputs.management_account.as_deref()) {
            Some(why) => statements.extend(inert(p, &format!("does not apply: {why}"))),
            None => statements.extend(evaluate_policy(p, req)),
        }
    }
    let grants: Vec<GrantResult> = inputs.grants.iter().map(|g| evaluate_grant(g, req)).collect();
    let notes = collect_notes(&statements);
    let mut d = Decision { reason: Reason::ImplicitDeny, summary: String::new(), statements, grants, notes };
    if !deny(&mut d) {
        allow(&mut d, inputs, req);
    }
    if let Some(on_alias) = req.on_alias() {
        alias_side(&mut d, inputs, &on_alias);
    }
    d
}

/// An alias action needs permission on the alias as well as on the key ("principals who
/// manage aliases must have permission to call the alias operation on the alias and on all
/// affected KMS keys … kms:CreateAlias for the alias. Provide this permission in an IAM
/// policy", KMS Developer Guide, Controlling access to aliases). An alias has no resource
/// policy, so the caller's IAM policies decide it as for an action not on a key: an
/// identity-policy Allow (or the root user) on the alias ARN, within the SCPs and the
/// boundary, and no Deny on it. Folds the alias decision into `d`.
fn alias_side(d: &mut Decision, inputs: &Inputs, req: &Request) {
    let mut statements = Vec::new();
    let slots = [(PolicyKind::Identity, &inputs.identity[..]), (PolicyKind::Scp, &inputs.scps[..])];
    let boundary = inputs.boundary.iter().map(|p| (PolicyKind::Boundary, p));
    for (slot, p) in slots.into_iter().flat_map(|(k, ps)| ps.iter().map(move |p| (k, p))).chain(boundary) {
        if exemption(slot, &req.caller, inputs.management_account.as_deref()).is_none() {
            statements.extend(evaluate_policy(p, req));
        }
    }
    for s in &mut statements {
        s.detail = format!("on the alias {}: {}", req.resource.as_deref().unwrap_or("?"), s.detail);
    }
    let mut a =
        Decision { reason: Reason::ImplicitDeny, summary: String::new(), statements, grants: vec![], notes: vec![] };
    let verdict = if deny(&mut a) {
        Err(Closed(a.summary.clone()))
    } else {
        let g = guardrails(&a, inputs, req);
        identity_path(&mut a, &g, req)
    };
    let key_explicit = d.reason == Reason::ExplicitDeny;
    d.statements.extend(a.statements);
    match verdict {
        _ if key_explicit => {}
        Ok(_) if d.allowed() => d.summary = format!("{}; and on the alias an identity policy allows", d.summary),
        Ok(_) => {}
        Err(Closed(why)) => {
            let alias = req.resource.as_deref().unwrap_or("?");
            let on_key = if d.allowed() { "the key allows".to_string() } else { d.summary.clone() };
            d.reason = if a.reason == Reason::ExplicitDeny { Reason::ExplicitDeny } else { Reason::ImplicitDeny };
            d.summary = format!(
                "{on_key}; but on the alias {alias}: {why} (an alias has no resource policy: IAM policies decide it)"
            );
        }
    }
}

/// What one policy alone decides ([EVAL] within one policy): an applying `Deny` wins,
/// else an applying `Allow` allows, else implicit deny. No KMS paths, no root-user rule:
/// this is the decision `diff` compares for identity policies of any service.
pub fn policy_decision(p: &Policy, req: &Request) -> Decision {
    // No inputs name roles here: a session whose path is not said is of a role at `/`.
    let resolved = crate::model::inputs::resolve_role_path(&Default::default(), req);
    let req = &*resolved;
    let statements = evaluate_policy(p, req);
    let notes = collect_notes(&statements);
    let mut d = Decision { reason: Reason::ImplicitDeny, summary: String::new(), statements, grants: vec![], notes };
    if deny(&mut d) {
        return d;
    }
    match mark_applying(&mut d, Effect::Allow) {
        Some(who) => {
            d.reason = Reason::Allowed;
            d.summary = format!("allowed by {who}");
        }
        None => d.summary = format!("no statement of {} allows {}", p.source, req.action_name()),
    }
    d
}

/// Marks every applying statement of `effect` decisive; names the first.
fn mark_applying(d: &mut Decision, effect: Effect) -> Option<String> {
    let mut first = None;
    for s in d.statements.iter_mut().filter(|s| s.applies && s.effect == effect) {
        s.decisive = true;
        first.get_or_insert_with(|| format!("{} {} in {}", s.kind.label(), s.statement, s.policy));
    }
    first
}

fn evaluate_policy(p: &Policy, req: &Request) -> Vec<StatementResult> {
    p.statements
        .iter()
        .map(|st| {
            let m = match_statement(st, req);
            let (applies, via, detail, notes) = match m {
                Match::Applies { via, notes } => (true, Some(via), applies_text(via), notes),
                Match::NotApplicable(why) => (false, None, why, vec![]),
            };
            StatementResult {
                policy: p.source.clone(),
                kind: p.kind,
                statement: st.label(),
                index: st.index,
                effect: st.effect,
                applies,
                via,
                decisive: false,
                detail,
                notes,
            }
        })
        .collect()
}

fn applies_text(via: Via) -> String {
    match via {
        Via::Attached => "applies",
        Via::Everyone => "applies (principal \"*\")",
        Via::Account => "applies (principal is the caller's account: delegates to IAM policies)",
        Via::Role => "applies (principal names the caller's role)",
        Via::Exact => "applies (principal names the caller)",
        Via::Service => "applies (principal names the service)",
    }
    .to_string()
}

/// `kms:RetireGrant`: authorized by the grant it retires, not by the key policy.
pub fn is_retire(req: &Request) -> bool {
    req.service == "kms" && req.action == "RetireGrant"
}

/// Statements of a policy that take no part in this decision, each saying why.
fn inert(p: &Policy, detail: &str) -> Vec<StatementResult> {
    p.statements
        .iter()
        .map(|st| StatementResult {
            policy: p.source.clone(),
            kind: p.kind,
            statement: st.label(),
            index: st.index,
            effect: st.effect,
            applies: false,
            via: None,
            decisive: false,
            detail: detail.to_string(),
            notes: vec![],
        })
        .collect()
}

fn collect_notes(statements: &[StatementResult]) -> Vec<String> {
    let mut notes: Vec<String> = statements.iter().flat_map(|s| s.notes.iter().cloned()).collect();
    notes.sort();
    notes.dedup();
    notes
}

/// Step 1: an explicit deny anywhere wins. Returns whether it decided.
fn deny(d: &mut Decision) -> bool {
    match mark_applying(d, Effect::Deny) {
        Some(who) => {
            d.reason = Reason::ExplicitDeny;
            d.summary = format!("explicitly denied by {who}");
            true
        }
        None => false,
    }
}

/// Whether a policy of `kind` has an applying Allow, per policy (for SCP levels).
fn allows_in(d: &Decision, kind: PolicyKind, source: &str) -> bool {
    d.statements.iter().any(|s| s.kind == kind && &*s.policy == source && s.applies && s.effect == Effect::Allow)
}

fn mark(d: &mut Decision, pick: impl Fn(&StatementResult) -> bool) {
    for s in d.statements.iter_mut().filter(|s| s.applies && s.effect == Effect::Allow && pick(s)) {
        s.decisive = true;
    }
}

/// The guardrails on the caller's side: every SCP level, and the boundary.
struct Guardrails {
    scp_block: Option<String>,
    boundary_block: Option<String>,
}

fn guardrails(d: &Decision, inputs: &Inputs, req: &Request) -> Guardrails {
    let binds = |kind| exemption(kind, &req.caller, inputs.management_account.as_deref()).is_none();
    let (scps_bind, boundary_binds) = (binds(PolicyKind::Scp), binds(PolicyKind::Boundary));
    let scp_block = inputs
        .scps
        .iter()
        .find(|p| scps_bind && !allows_in(d, PolicyKind::Scp, &p.source))
        .map(|p| format!("the SCP {} does not allow {}", p.source, req.action_name()));
    let boundary_block = inputs
        .boundary
        .as_ref()
        .filter(|p| boundary_binds && !allows_in(d, PolicyKind::Boundary, &p.source))
        .map(|p| format!("the permissions boundary {} does not allow {}", p.source, req.action_name()));
    Guardrails { scp_block, boundary_block }
}

/// Why an allow path stays closed: the explanation a denial's summary gives.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Closed(String);

/// Whom a grant names, when it names the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grantee {
    /// The caller itself: the grant allows directly.
    Caller,
    /// The caller's account: the grant delegates to the account's IAM policies.
    CallersAccount,
}

/// Steps 2–5: which allow path, if any, opens.
fn allow(d: &mut Decision, inputs: &Inputs, req: &Request) {
    let g = guardrails(d, inputs, req);
    let verdict = if req.caller == Caller::Anonymous {
        Err(Closed("AWS KMS accepts only signed requests; an anonymous caller is never allowed".to_string()))
    } else if req.resource.is_none() {
        identity_path(d, &g, req)
    } else if is_retire(req) {
        retire_path(d, &g, req)
    } else {
        key_paths(d, &g, req)
    };
    match verdict {
        Ok(summary) => {
            d.reason = Reason::Allowed;
            d.summary = summary;
        }
        Err(Closed(why)) => {
            d.reason = Reason::ImplicitDeny;
            d.summary = format!("implicitly denied: {why}");
        }
    }
}

fn has_allow(d: &Decision, kind: PolicyKind, via: impl Fn(Via) -> bool) -> bool {
    d.statements.iter().any(|s| s.kind == kind && s.applies && s.effect == Effect::Allow && s.via.is_some_and(&via))
}

/// Whether the caller's identity-based permissions allow: an identity policy does, or the
/// caller is the account's root user, who holds every permission of its account without
/// policies (only SCPs and key policies limit it).
fn identity_allows(d: &Decision, req: &Request) -> bool {
    has_allow(d, PolicyKind::Identity, |_| true) || matches!(req.caller, Caller::Iam { kind: IamKind::Root, .. })
}

/// Actions not authorized on a key: identity policies decide alone, within guardrails.
fn identity_path(d: &mut Decision, g: &Guardrails, req: &Request) -> Result<String, Closed> {
    if !identity_allows(d, req) {
        return Err(Closed(format!("no identity policy allows {}", req.action_name())));
    }
    guarded(g, true)?;
    mark(d, |s| matches!(s.kind, PolicyKind::Identity | PolicyKind::Scp | PolicyKind::Boundary));
    Ok(format!("allowed by an identity policy ({} is authorized by IAM policies alone)", req.action_name()))
}

/// Fails when a guardrail blocks; `boundary` says whether the boundary applies to the path.
fn guarded(g: &Guardrails, boundary: bool) -> Result<(), Closed> {
    if let Some(why) = &g.scp_block {
        return Err(Closed(why.clone()));
    }
    if boundary {
        if let Some(why) = &g.boundary_block {
            return Err(Closed(why.clone()));
        }
    }
    Ok(())
}

fn key_paths(d: &mut Decision, g: &Guardrails, req: &Request) -> Result<String, Closed> {
    let same_account = match (&req.caller, req.key_account()) {
        (Caller::Iam { account, .. }, Some(key_account)) => account == key_account,
        (Caller::Service(_), _) => true,
        _ => false,
    };
    let mut reasons = Vec::new();
    let result = if same_account {
        same_account_paths(d, g, req, &mut reasons)
    } else {
        cross_account_paths(d, g, req, &mut reasons)
    };
    result.ok_or_else(|| {
        Closed(if reasons.is_empty() {
            format!("no key-policy statement or grant allows {}", req.action_name())
        } else {
            reasons.join("; ")
        })
    })
}

fn same_account_paths(d: &mut Decision, g: &Guardrails, req: &Request, reasons: &mut Vec<String>) -> Option<String> {
    let direct = |v: Via| matches!(v, Via::Everyone | Via::Role | Via::Exact | Via::Service);
    if has_allow(d, PolicyKind::KeyPolicy, direct) {
        // A key policy naming the exact user or session is not limited by the boundary ([EVAL] 4.1 step 4).
        let exact = has_allow(d, PolicyKind::KeyPolicy, |v| v == Via::Exact);
        match guarded(g, !exact) {
            Ok(()) => {
                mark(d, |s| {
                    s.kind == PolicyKind::KeyPolicy && s.via.is_some_and(direct)
                        || matches!(s.kind, PolicyKind::Scp | PolicyKind::Boundary)
                });
                return Some("allowed by the key policy, which names the caller".into());
            }
            Err(Closed(why)) => reasons.push(format!("the key policy allows the caller but {why}")),
        }
    }
    if let Some(s) = iam_delegation(d, g, req, reasons) {
        return Some(s);
    }
    grant_path(d, g, req, reasons)
}

/// The key policy trusts the caller's account and an identity policy allows.
fn iam_delegation(d: &mut Decision, g: &Guardrails, req: &Request, reasons: &mut Vec<String>) -> Option<String> {
    if !has_allow(d, PolicyKind::KeyPolicy, |v| v == Via::Account) {
        return None;
    }
    let account = req.caller.account().unwrap_or_default().to_string();
    if !identity_allows(d, req) {
        reasons.push(format!(
            "the key policy delegates to account {account}'s IAM policies, but no identity policy allows {}",
            req.action_name()
        ));
        return None;
    }
    if let Err(Closed(why)) = guarded(g, true) {
        reasons.push(format!("the key policy and an identity policy allow, but {why}"));
        return None;
    }
    mark(d, |s| s.kind == PolicyKind::KeyPolicy && s.via == Some(Via::Account) || s.kind != PolicyKind::KeyPolicy);
    let how = if has_allow(d, PolicyKind::Identity, |_| true) {
        "an identity policy allows"
    } else {
        "the caller is the account's root user"
    };
    Some(format!("allowed: the key policy delegates to account {account} and {how}"))
}

fn cross_account_paths(d: &mut Decision, g: &Guardrails, req: &Request, reasons: &mut Vec<String>) -> Option<String> {
    let account = req.caller.account().unwrap_or_default().to_string();
    if !is_cross_account_action(&req.action) {
        reasons.push(format!(
            "{} cannot be used across accounts (caller in {account}, key in {})",
            req.action_name(),
            req.key_account().unwrap_or("?")
        ));
        return None;
    }
    let key_policy = has_allow(d, PolicyKind::KeyPolicy, |_| true);
    let identity = identity_allows(d, req);
    match (key_policy, identity) {
        (true, true) => match guarded(g, true) {
            Ok(()) => {
                mark(d, |_| true);
                return Some(format!("allowed across accounts: the key policy allows account {account} or its principal, and an identity policy in {account} allows"));
            }
            Err(Closed(why)) => reasons.push(format!("the key policy and an identity policy allow, but {why}")),
        },
        (true, false) => reasons.push(format!("cross-account: the key policy allows, but no identity policy of the caller in {account} allows")),
        (false, true) => reasons.push(format!("cross-account: an identity policy allows, but the key policy does not allow account {account} or the caller")),
        (false, false) => {}
    }
    grant_path(d, g, req, reasons)
}

fn grant_path(d: &mut Decision, g: &Guardrails, req: &Request, reasons: &mut Vec<String>) -> Option<String> {
    let identity = identity_allows(d, req);
    let usable = |gr: &GrantResult| gr.applies && (!gr.to_account || identity);
    let Some(i) = d.grants.iter().position(usable) else {
        if d.grants.iter().any(|gr| gr.applies) {
            reasons.push("a grant to the caller's account applies, but no identity policy allows".into());
        }
        return None;
    };
    if let Err(Closed(why)) = guarded(g, false) {
        reasons.push(format!("a grant allows, but {why}"));
        return None;
    }
    d.grants[i].decisive = true;
    Some(format!("allowed by grant {} ({})", d.grants[i].grant, d.grants[i].source))
}

/// `RetireGrant` ([GRANT-DELETE]): the grant's retiring principal, its grantee when the
/// grant includes `RetireGrant`, and the account the grant was created in may retire it;
/// an account (named, or the issuing one) through its root user or an IAM policy allowing
/// `kms:RetireGrant` (the boundary applies there), a named principal directly (SCPs still
/// apply). An IAM `Deny` still denies.
fn retire_path(d: &mut Decision, g: &Guardrails, req: &Request) -> Result<String, Closed> {
    let identity = identity_allows(d, req);
    let mut reasons = Vec::new();
    for i in 0..d.grants.len() {
        let gr = &d.grants[i];
        if !gr.applies {
            continue;
        }
        if gr.to_account && !identity {
            reasons.push(format!(
                "grant {} lets the caller's account retire it, but no identity policy allows kms:RetireGrant",
                gr.grant
            ));
            continue;
        }
        if let Err(Closed(why)) = guarded(g, gr.to_account) {
            reasons.push(format!("grant {} may be retired by the caller, but {why}", gr.grant));
            continue;
        }
        d.grants[i].decisive = true;
        if d.grants[i].to_account {
            mark(d, |s| s.kind != PolicyKind::KeyPolicy);
        }
        return Ok(format!("allowed: {} ({})", d.grants[i].detail, d.grants[i].source));
    }
    if reasons.is_empty() {
        let id = req.grant_id.as_deref().unwrap_or("?");
        return Err(Closed(format!("no grant given ({id}) lets the caller retire it")));
    }
    Err(Closed(reasons.join("; ")))
}

/// Whom a grant lets retire it, and why, when the caller may (see [`retire_path`]).
fn retire_applies(g: &Grant, req: &Request) -> Result<(Grantee, String), Closed> {
    let key = req.resource.as_deref().unwrap_or_default();
    if !g.is_on_key(key) {
        return Err(Closed(format!("the grant is on another key ({})", g.key_id.as_deref().unwrap_or("?"))));
    }
    if req.grant_id.as_deref() != Some(g.id()) {
        let asked = req.grant_id.as_deref().unwrap_or("?");
        return Err(Closed(format!("the request retires grant {asked}, not {}", g.id())));
    }
    let retiring = g.retiring.as_deref().map(|p| grantee_matches(p, &req.caller));
    let grantee = g.has_operation("RetireGrant").then(|| grantee_matches(&g.grantee, &req.caller));
    let named = |m: &Option<Result<Grantee, Closed>>, who: Grantee| matches!(m, Some(Ok(w)) if *w == who);
    if named(&retiring, Grantee::Caller) {
        return Ok((Grantee::Caller, format!("grant {} names the caller as its retiring principal", g.label)));
    }
    if named(&grantee, Grantee::Caller) {
        let why = format!("grant {} includes RetireGrant and names the caller as its grantee", g.label);
        return Ok((Grantee::Caller, why));
    }
    if named(&retiring, Grantee::CallersAccount) || named(&grantee, Grantee::CallersAccount) {
        let why = format!("grant {} names the caller's account, which delegates to IAM policies", g.label);
        return Ok((Grantee::CallersAccount, why));
    }
    let issuing = g.issued_in(req.key_account().unwrap_or_default());
    if req.caller.account() == Some(issuing) {
        let assumed = if g.issuing_account.is_none() { " (no IssuingAccount given: the key's account)" } else { "" };
        let why = format!("grant {} was created in the caller's account {issuing}{assumed}", g.label);
        return Ok((Grantee::CallersAccount, why));
    }
    Err(Closed(format!(
        "the caller is not the grant's retiring principal ({}), nor its grantee with RetireGrant, nor in the account it was created in ({issuing})",
        g.retiring.as_deref().unwrap_or("none")
    )))
}

fn evaluate_grant(g: &Grant, req: &Request) -> GrantResult {
    if is_retire(req) {
        let (applies, to_account, detail) = match retire_applies(g, req) {
            Ok((who, detail)) => (true, who == Grantee::CallersAccount, detail),
            Err(Closed(why)) => (false, false, why),
        };
        return GrantResult {
            source: g.source.clone(),
            grant: g.label.clone(),
            applies,
            to_account,
            decisive: false,
            detail,
        };
    }
    let (applies, to_account, detail) = match grant_applies(g, req) {
        Ok(who) => (true, who == Grantee::CallersAccount, "applies".to_string()),
        Err(Closed(why)) => (false, false, why),
    };
    GrantResult { source: g.source.clone(), grant: g.label.clone(), applies, to_account, decisive: false, detail }
}

/// Whom the grant names when it covers the request.
fn grant_applies(g: &Grant, req: &Request) -> Result<Grantee, Closed> {
    let key = req.resource.as_deref().ok_or_else(|| Closed("grants apply only to operations on a key".into()))?;
    if !g.is_on_key(key) {
        return Err(Closed(format!("the grant is on another key ({})", g.key_id.as_deref().unwrap_or("?"))));
    }
    if !g.operations.iter().any(|op| op.eq_ignore_ascii_case(&req.action)) {
        return Err(Closed(format!("{} is not among the grant operations {:?}", req.action, g.operations)));
    }
    let to_account = grantee_matches(&g.grantee, &req.caller)?;
    if !GRANT_OPS_IGNORING_CONSTRAINTS.contains(&req.action.as_str()) {
        let ec = req.context.encryption_context();
        if let Some(c) = g.constraints.iter().find(|c| !c.allows(&ec)) {
            return Err(Closed(format!("the encryption context {ec:?} does not satisfy {c:?}")));
        }
    }
    if req.action == "CreateGrant" {
        g.allows_child(&req.context).map_err(Closed)?;
    }
    if let Some(arn) = &g.source_arn {
        // Reading `source-arn-on-every-operation`: checked on every grant operation.
        let got = req.context.get("aws:SourceArn");
        if got != Some(&crate::model::request::CtxValue::One(arn.clone())) {
            let got = got.map_or("absent".to_string(), |v| v.to_string());
            return Err(Closed(format!("the grant's SourceArn constraint needs aws:SourceArn = {arn} (it is {got})")));
        }
    }
    Ok(to_account)
}

/// Whether `grantee` names the caller, directly or through its account.
fn grantee_matches(grantee: &str, caller: &Caller) -> Result<Grantee, Closed> {
    let direct = match caller {
        Caller::Iam { arn, .. } => grantee == arn || caller.principal_arn().as_deref() == Some(grantee),
        Caller::Service(name) => grantee == name,
        Caller::Anonymous => false,
    };
    if direct {
        return Ok(Grantee::Caller);
    }
    if crate::model::grant::account_of(grantee).is_some_and(|a| Some(a.as_str()) == caller.account()) {
        return Ok(Grantee::CallersAccount);
    }
    Err(Closed(format!("the grantee is {grantee}, not the caller")))
}
