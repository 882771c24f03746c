//! The trust side of an `iam:PassRole` edge: does the role's trust policy let the service
//! (its principal, e.g. `lambda.amazonaws.com`) call `sts:AssumeRole` on the role, with the
//! statements' conditions? A service's own request is evaluated on the trust policy alone
//! (services hold no identity policies; SCPs and boundaries do not bind them): some `Allow`
//! applies and no `Deny`. Z3 decides on the exact generic encoding, the caller pinned by
//! `aws:PrincipalServiceName`:
//!
//! - no request of the service is allowed (unsat): the edge is refuted, whatever the
//!   context the service sends;
//! - every request of the service is allowed (the negation unsat): the trust side holds,
//!   with a replayed witness;
//! - otherwise it depends on context the service itself sets (`aws:SourceAccount`,
//!   `aws:SourceArn`, …), which is not modelled: undecided, with a replayed allowed and a
//!   replayed refused request as the reason.
//!
//! Each answer is cached per (trust policy, role, service): it does not depend on the caller.

use super::domain::Witness;
use super::preselect::action_may_match;
use crate::encode::{decode, Encoder, Unsupported};
use crate::eval::{match_statement, Match};
use crate::model::policy::{Effect, Policy};
use crate::model::request::Request;
use crate::prove::Mismatch;
use kmsproof_solver::{solve_with, Limits, Outcome, Term};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

#[derive(Debug, Clone)]
pub enum ServiceTrust {
    Yes(Witness),
    No,
    /// Undecided, and why.
    Unknown(String),
}

fn cache() -> &'static Mutex<HashMap<String, ServiceTrust>> {
    static C: OnceLock<Mutex<HashMap<String, ServiceTrust>>> = OnceLock::new();
    C.get_or_init(Default::default)
}

/// Decides (or recalls) the trust side for `service` on `role_arn`.
pub fn decide(trust: &Policy, role_arn: &str, service: &str, limits: Limits) -> Result<ServiceTrust, Mismatch> {
    let key = format!("{role_arn}\u{0}{service}\u{0}{:?}\u{0}{:?}", trust.statements, limits);
    if let Some(hit) = cache().lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&key) {
        return Ok(hit.clone());
    }
    let answer = decide_uncached(trust, role_arn, service, limits)?;
    cache().lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(key, answer.clone());
    Ok(answer)
}

/// "A request of `service`: `sts:AssumeRole` on the role", as a one-statement policy.
fn shape(role_arn: &str, service: &str) -> Result<Policy, super::document::Unwritable> {
    let statement = serde_json::json!({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn,
        "Condition": {"StringEquals": {"aws:PrincipalServiceName": service}}});
    super::document::policy(&statement, "<service request shape>", crate::model::policy::PolicyKind::Identity)
}

fn decide_uncached(trust: &Policy, role_arn: &str, service: &str, limits: Limits) -> Result<ServiceTrust, Mismatch> {
    let shape = match shape(role_arn, service) {
        Ok(s) => s,
        Err(why) => return Ok(ServiceTrust::Unknown(why.to_string())),
    };
    if let Some(w) = unconditional(&shape, trust, role_arn, service) {
        return Ok(ServiceTrust::Yes(w));
    }
    let allowed = match ask(&shape, trust, limits, true)? {
        Asked::Unsat => return Ok(ServiceTrust::No),
        Asked::Unknown(why) => return Ok(ServiceTrust::Unknown(format!("the trust side for {service}: {why}"))),
        Asked::Sat(allowed) => allowed,
    };
    match ask(&shape, trust, limits, false)? {
        Asked::Unsat => Ok(ServiceTrust::Yes(allowed)),
        Asked::Unknown(why) => Ok(ServiceTrust::Unknown(format!("the trust side for {service}: {why}"))),
        Asked::Sat(Witness { request: refused, why }) => Ok(ServiceTrust::Unknown(format!(
            "the trust policy lets {service} assume the role only with some request contexts — allowed: {} ({}); refused: {} ({why}) — and which context the service sends (aws:SourceAccount, aws:SourceArn, …) is not modelled",
            allowed.request["context"], allowed.why, refused["context"]
        ))),
    }
}

/// One question to Z3 about the service's requests.
enum Asked {
    /// A request of the asked kind (allowed, or refused), replayed, and why.
    Sat(Witness),
    Unsat,
    Unknown(String),
}

/// Is there a request of the shape the trust policy allows (`want`), or refuses (`!want`)?
/// A model is replayed on the evaluator before it is believed.
fn ask(shape: &Policy, trust: &Policy, limits: Limits, want: bool) -> Result<Asked, Mismatch> {
    let mut enc = Encoder::generic_callers(&[shape, trust], false).with_opaque_atoms().with_deadline(limits.deadline);
    let (shape_t, allowed) = match terms(&mut enc, shape, trust) {
        Ok(t) => t,
        Err(u) => return Ok(Asked::Unknown(u.reason())),
    };
    let asked = if want { allowed } else { Term::not(allowed) };
    let query = Term::and([shape_t, asked]);
    let goal = Term::and([enc.invariants(), enc.opaque_lemmas(), query.clone()]);
    match solve_with(enc.vocabulary(), &goal, &query, limits, 1) {
        Outcome::Unsat => Ok(Asked::Unsat),
        Outcome::Unknown(why) => Ok(Asked::Unknown(why)),
        Outcome::Sat(models) => {
            let request = decode(&enc, &models[0]);
            match replay(shape, trust, &request) {
                Ok((allowed, why)) if allowed == want => Ok(Asked::Sat(Witness { request, why })),
                got => {
                    let got = match got {
                        Ok((_, why)) => why,
                        Err(e) => e,
                    };
                    if !enc.opaque_atoms().is_empty() {
                        return Ok(Asked::Unknown(format!(
                            "not encoded exactly; the request found was not confirmed: {got}"
                        )));
                    }
                    Err(Mismatch {
                        subject: format!("the trust policy's answer for {}", request["principal"]),
                        request: request.to_string(),
                        expected: if want { "allowed" } else { "refused" }.into(),
                        got,
                    })
                }
            }
        }
    }
}

/// The common case without the solver: the plainest request of the service (no context)
/// is allowed by a statement with no conditions — which then applies to every request of
/// the service, since principal, action and resource do not depend on the context — and no
/// `Deny` of the trust policy can cover `sts:AssumeRole` (the pre-selection argument used
/// for every question): every request of the service is allowed, and this one, replayed,
/// is the witness.
fn unconditional(shape: &Policy, trust: &Policy, role_arn: &str, service: &str) -> Option<Witness> {
    let deny_may =
        trust.statements.iter().any(|s| s.effect == Effect::Deny && action_may_match(&s.action, "sts:AssumeRole"));
    if deny_may {
        return None;
    }
    let request =
        serde_json::json!({"principal": service, "action": "sts:AssumeRole", "resource": role_arn, "context": {}});
    let req = Request::parse_generic(&request.to_string(), "<service witness>").ok()?;
    let by = trust.statements.iter().find(|s| {
        s.effect == Effect::Allow
            && s.conditions.is_empty()
            && matches!(match_statement(s, &req), Match::Applies { .. })
    })?;
    let (allowed, why) = replay(shape, trust, &request).ok()?;
    allowed.then(|| Witness { request, why: format!("{why} ({} has no condition)", by.label()) })
}

/// (the request is of the shape, the trust policy allows it), as the evaluator decides.
fn terms(enc: &mut Encoder, shape: &Policy, trust: &Policy) -> Result<(Term, Term), Unsupported> {
    let shape_t = enc.statement(&shape.statements[0])?.applies;
    let mut allow = Vec::new();
    let mut deny = Vec::new();
    for st in &trust.statements {
        let t = enc.statement(st)?.applies;
        if st.effect == Effect::Allow {
            allow.push(t);
        } else {
            deny.push(t);
        }
    }
    Ok((shape_t, Term::and([Term::or(allow), Term::not(Term::or(deny))])))
}

/// The evaluator on one request: (allowed by the trust policy, why). `Err` when the
/// request is not of the shape.
fn replay(shape: &Policy, trust: &Policy, request: &Value) -> Result<(bool, String), String> {
    let req = Request::parse_generic(&request.to_string(), "<service witness>")
        .map_err(|e| format!("the request does not read back: {e}"))?;
    if let Match::NotApplicable(why) = match_statement(&shape.statements[0], &req) {
        return Err(format!("outside the shape: {why}"));
    }
    let applying = |effect: Effect| {
        trust
            .statements
            .iter()
            .filter(|s| s.effect == effect)
            .find(|s| matches!(match_statement(s, &req), Match::Applies { .. }))
            .map(|s| format!("{} {}", trust.source, s.label()))
    };
    Ok(match (applying(Effect::Deny), applying(Effect::Allow)) {
        (Some(d), _) => (false, format!("denied by {d}")),
        (None, Some(a)) => (true, format!("{a} names the service")),
        (None, None) => (false, "no statement of the trust policy allows it".into()),
    })
}
