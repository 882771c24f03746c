//! One IAM hop — "can this principal call this IAM/STS action on this resource" (and, for
//! `sts:AssumeRole*`, "does the role's trust policy let it in") — decided by Z3 on the
//! exact encoding of the generic (any-service) request, and every `yes` replayed through
//! the evaluator's statement matcher before it becomes an edge.

use super::domain::{Actor, Answer, Who, Witness};
use crate::encode::{decode, Encoder, Unsupported};
use crate::eval::{match_statement, Match, Via};
use crate::model::policy::{Effect, Policy, Statement};
use crate::model::request::{Caller, IamKind, Request};
use crate::prove::Mismatch;
use kmsproof_solver::{solve_with, Limits, Outcome, Term};
use serde_json::Value;

/// What one hop asks of the actor.
#[derive(Debug, Clone)]
pub struct Ask<'a> {
    pub action: String,
    /// The target resource, or `None` for any resource (Z3 picks one).
    pub resource: Option<String>,
    /// Extra conditions the request must meet (e.g. `iam:PassedToService`), as a
    /// statement's `Condition` object.
    pub condition: Option<Value>,
    /// The resource's own policy (a role's trust policy) and the account it is in.
    pub trust: Option<Trust<'a>>,
}

/// A role's trust policy and the role's account: a trust policy naming a caller of the
/// same account lets it in without an identity policy.
#[derive(Debug, Clone, Copy)]
pub struct Trust<'a> {
    pub policy: &'a Policy,
    pub account: &'a str,
}

/// The plainest request of the hop — the actor itself, the target, only the context the
/// hop requires — tried on the evaluator before Z3 is asked: when it is allowed, it is the
/// witness; otherwise Z3 decides (a proof of `no`, or a witness with more context).
fn plain_request(actor: &Actor, ask: &Ask) -> Option<Value> {
    let Who::Principal(arn) = &actor.who else { return None };
    let mut context = serde_json::Map::new();
    if let Some(Value::Object(ops)) = &ask.condition {
        for (op, keys) in ops {
            if !matches!(op.as_str(), "StringEquals" | "ArnEquals") {
                continue;
            }
            for (k, v) in keys.as_object()? {
                context.insert(k.clone(), v.clone());
            }
        }
    }
    Some(
        serde_json::json!({"principal": arn, "action": ask.action, "resource": ask.resource.as_ref()?, "context": context}),
    )
}

/// The request shape of `ask` for `actor`, as a one-statement identity policy.
fn shape(actor: &Actor, ask: &Ask) -> Result<Policy, super::document::Unwritable> {
    let mut condition = actor.condition();
    if let Some(Value::Object(extra)) = &ask.condition {
        for (op, keys) in extra {
            // `Actor::condition` is always an object of operators.
            let Some(ops) = condition.as_object_mut() else { continue };
            let slot = ops.entry(op.clone()).or_insert(serde_json::json!({}));
            if let (Some(slot), Some(keys)) = (slot.as_object_mut(), keys.as_object()) {
                slot.extend(keys.clone());
            }
        }
    }
    let resource = ask.resource.clone().unwrap_or_else(|| "*".into());
    let statement =
        serde_json::json!({"Effect": "Allow", "Action": ask.action, "Resource": resource, "Condition": condition});
    super::document::policy(&statement, "<hop shape>", crate::model::policy::PolicyKind::Identity)
}

/// Terms of one statement: (effect, applies, through a direct entry, through an exact entry).
type Terms = (Effect, Term, Term, Term);

fn terms(enc: &mut Encoder, p: &Policy) -> Result<Vec<Terms>, Unsupported> {
    p.statements
        .iter()
        .map(|st| {
            enc.within_budget()?;
            let t = enc.statement(st)?;
            Ok((st.effect, t.applies, t.direct, t.exact))
        })
        .collect()
}

fn any(ts: &[Terms], effect: Effect, pick: impl Fn(&Terms) -> &Term) -> Term {
    Term::or(ts.iter().filter(|t| t.0 == effect).map(|t| pick(t).clone()).collect::<Vec<_>>())
}

/// Decides one hop: Z3, then the evaluator on Z3's request.
pub fn decide(actor: &Actor, ask: &Ask, scps: &[Policy], limits: Limits) -> Result<Answer, Mismatch> {
    Ok(decide_with_readings(actor, ask, scps, limits)?.0)
}

/// [`decide`], with the undocumented readings a `no` rests on: each reading the encoding
/// consulted is encoded the other way and the hop asked again (as `check` does).
pub fn decide_with_readings(
    actor: &Actor,
    ask: &Ask,
    scps: &[Policy],
    limits: Limits,
) -> Result<(Answer, Vec<String>), Mismatch> {
    let shape = match shape(actor, ask) {
        Ok(s) => s,
        Err(why) => return Ok((Answer::Unknown(why.to_string()), vec![])),
    };
    if let Some(w) =
        plain_request(actor, ask).and_then(|r| replay(actor, ask, &shape, scps, &r).ok().map(|why| (r, why)))
    {
        return Ok((Answer::Yes(Witness { request: w.0, why: w.1 }), vec![]));
    }
    let mut policies: Vec<&Policy> = vec![&shape];
    policies.extend(ask.trust.map(|t| t.policy));
    policies.extend(actor.identity.iter().chain(&actor.boundary).chain(scps));
    let encoder = || Encoder::generic(&policies).with_opaque_atoms().with_deadline(limits.deadline);
    let unsat = |enc: &mut Encoder| match formula(enc, actor, ask, &shape, scps) {
        Ok(allowed) => {
            let goal = Term::and([enc.invariants(), enc.opaque_lemmas(), allowed.clone()]);
            solve_with(enc.vocabulary(), &goal, &allowed, limits, 1) == Outcome::Unsat
        }
        Err(_) => false,
    };
    let mut enc = encoder();
    let allowed = match formula(&mut enc, actor, ask, &shape, scps) {
        Ok(t) => t,
        Err(u) => return Ok((Answer::Unknown(u.reason()), vec![])),
    };
    let goal = Term::and([enc.invariants(), enc.opaque_lemmas(), allowed.clone()]);
    let mut answer = decide_encoded(actor, ask, &shape, scps, &enc, &goal, &allowed, limits)?;
    if let Answer::Yes(w) = &answer {
        if w.request
            .get("context")
            .and_then(Value::as_object)
            .is_some_and(|c| c.keys().any(|k| super::document::is_tag_key(k)))
        {
            answer = untagged(actor, ask, scps, limits, &policies)?;
        }
    }
    let readings = match answer {
        Answer::No => enc
            .consulted()
            .into_iter()
            .filter(|r| !unsat(&mut encoder().with_alternate(*r)))
            .map(crate::facts::readings::describe)
            .collect(),
        _ => vec![],
    };
    Ok((answer, readings))
}

/// The hop asked again with every tag key its policies test absent: a session tag needs
/// `sts:TagSession` in the trust policy and a user's tags are not read, so a `yes` must
/// not need one (see [`super::document::is_tag_key`]); otherwise undecided.
fn untagged(
    actor: &Actor,
    ask: &Ask,
    scps: &[Policy],
    limits: Limits,
    policies: &[&Policy],
) -> Result<Answer, Mismatch> {
    let keys = super::document::tag_keys(policies.iter().copied());
    let mut condition = ask.condition.clone().unwrap_or_else(|| serde_json::json!({}));
    // Cannot fail: every `Ask.condition` is built by `edges` as a `json!` object.
    let null = condition.as_object_mut().expect("object").entry("Null").or_insert(serde_json::json!({}));
    for k in &keys {
        null[k] = serde_json::json!("true");
    }
    let again = Ask { condition: Some(condition), ..ask.clone() };
    Ok(match decide(actor, &again, scps, limits)? {
        Answer::No => Answer::Unknown(format!(
            "allowed only with a tag ({}): session tags (which need sts:TagSession in the trust policy) and a user's tags are not modelled",
            keys.join(", ")
        )),
        other => other,
    })
}

/// Z3 on the encoded hop, then the evaluator on Z3's request.
#[allow(clippy::too_many_arguments)]
fn decide_encoded(
    actor: &Actor,
    ask: &Ask,
    shape: &Policy,
    scps: &[Policy],
    enc: &Encoder,
    goal: &Term,
    allowed: &Term,
    limits: Limits,
) -> Result<Answer, Mismatch> {
    match solve_with(enc.vocabulary(), goal, allowed, limits, 1) {
        Outcome::Unsat => Ok(Answer::No),
        Outcome::Unknown(why) => Ok(Answer::Unknown(why)),
        Outcome::Sat(models) => {
            let request = decode(enc, &models[0]);
            match replay(actor, ask, shape, scps, &request) {
                Ok(why) => Ok(Answer::Yes(Witness { request, why })),
                Err(got) if !enc.opaque_atoms().is_empty() => Ok(Answer::Unknown(format!(
                    "not encoded exactly ({}); the request found was not confirmed: {got}",
                    enc.opaque_atoms().iter().map(|(_, o)| o.describe()).collect::<Vec<_>>().join("; ")
                ))),
                Err(got) => Err(Mismatch {
                    subject: format!("who-can hop {} on {}", ask.action, ask.resource.as_deref().unwrap_or("*")),
                    request: request.to_string(),
                    expected: "allowed".into(),
                    got,
                }),
            }
        }
    }
}

/// "The request is of the hop's shape and allowed", step for step as [`replay`].
fn formula(enc: &mut Encoder, actor: &Actor, ask: &Ask, shape: &Policy, scps: &[Policy]) -> Result<Term, Unsupported> {
    let shape_t = enc.statement(&shape.statements[0])?.applies;
    let identity: Vec<Terms> =
        actor.identity.iter().map(|p| terms(enc, p)).collect::<Result<Vec<_>, _>>()?.into_iter().flatten().collect();
    let boundary = actor.boundary.as_ref().map(|p| terms(enc, p)).transpose()?;
    let levels = scps.iter().map(|p| terms(enc, p)).collect::<Result<Vec<_>, _>>()?;
    let trust = ask.trust.map(|t| terms(enc, t.policy)).transpose()?;
    let denies =
        identity.iter().chain(boundary.iter().flatten()).chain(levels.iter().flatten()).chain(trust.iter().flatten());
    let deny = Term::or(denies.filter(|t| t.0 == Effect::Deny).map(|t| t.1.clone()).collect::<Vec<_>>());
    let scp_ok = Term::and(levels.iter().map(|l| any(l, Effect::Allow, |t| &t.1)).collect::<Vec<_>>());
    let boundary_ok = boundary.as_ref().map_or(Term::TRUE, |b| any(b, Effect::Allow, |t| &t.1));
    let any_identity = !matches!(actor.who, Who::Principal(_));
    let identity_ok =
        if any_identity || actor.is_root() { Term::TRUE } else { any(&identity, Effect::Allow, |t| &t.1) };
    let through_identity = Term::and([identity_ok, boundary_ok.clone()]);
    let path = match (&trust, &ask.trust) {
        (Some(tr), Some(role)) => {
            let trust_any = any(tr, Effect::Allow, |t| &t.1);
            if role.account == actor.account {
                let direct = any(tr, Effect::Allow, |t| &t.2);
                let exact = any(tr, Effect::Allow, |t| &t.3);
                Term::or([
                    Term::and([direct, Term::or([boundary_ok, exact])]),
                    Term::and([trust_any, through_identity]),
                ])
            } else {
                Term::and([trust_any, through_identity])
            }
        }
        _ => through_identity,
    };
    Ok(Term::and([shape_t, Term::not(deny), scp_ok, path]))
}

/// The evaluator alone on one concrete request of `actor` (the brute-force side of the
/// differential tests): `Ok(why)` when the hop allows it.
pub fn evaluate(actor: &Actor, ask: &Ask, scps: &[Policy], request: &Value) -> Result<String, String> {
    replay(actor, ask, &shape(actor, ask).map_err(|e| e.to_string())?, scps, request)
}

/// The evaluator's side: `Ok(why)` when the request is of the shape and allowed.
fn replay(actor: &Actor, ask: &Ask, shape: &Policy, scps: &[Policy], request: &Value) -> Result<String, String> {
    let req = Request::parse_generic(&request.to_string(), "<hop witness>")
        .map_err(|e| format!("the request does not read back: {e}"))?;
    // A session of the actor's role is at the role's path (`aws:PrincipalArn` with it).
    let own = match &actor.who {
        Who::Principal(arn) => crate::model::inputs::role_paths_of([arn.as_str()]),
        _ => Default::default(),
    };
    let req = crate::model::inputs::resolve_role_path(&own, &req).into_owned();
    if let Match::NotApplicable(why) = match_statement(&shape.statements[0], &req) {
        return Err(format!("outside the hop's shape: {why}"));
    }
    let applying = |p: &Policy, effect: Effect| -> Vec<(String, Via)> {
        p.statements
            .iter()
            .filter(|s| s.effect == effect)
            .filter_map(|s: &Statement| match match_statement(s, &req) {
                Match::Applies { via, .. } => Some((format!("{} {}", p.source, s.label()), via)),
                Match::NotApplicable(_) => None,
            })
            .collect()
    };
    let trust = ask.trust.map(|t| t.policy);
    for p in actor.identity.iter().chain(&actor.boundary).chain(scps).chain(trust) {
        if let Some((who, _)) = applying(p, Effect::Deny).into_iter().next() {
            return Err(format!("explicitly denied by {who}"));
        }
    }
    if let Some(level) = scps.iter().find(|l| applying(l, Effect::Allow).is_empty()) {
        return Err(format!("the SCP {} does not allow it", level.source));
    }
    let boundary_ok = actor.boundary.as_ref().is_none_or(|b| !applying(b, Effect::Allow).is_empty());
    let root = matches!(req.caller, Caller::Iam { kind: IamKind::Root, .. });
    let identity: Vec<String> = if matches!(actor.who, Who::Principal(_)) {
        actor.identity.iter().flat_map(|p| applying(p, Effect::Allow)).map(|(w, _)| w).collect()
    } else {
        vec!["any identity policy of its own".into()]
    };
    let identity_ok = !identity.is_empty() || root;
    let by_identity = || {
        if root {
            "the caller is the account's root user".to_string()
        } else {
            format!("allowed by {}", identity[0])
        }
    };
    let Some(Trust { policy: t, account: role_account }) = ask.trust else {
        return match (identity_ok, boundary_ok) {
            (true, true) => Ok(by_identity()),
            (false, _) => Err(format!("no identity policy allows {}", req.action_name())),
            (true, false) => Err("the permissions boundary does not allow it".into()),
        };
    };
    let trusts = applying(t, Effect::Allow);
    let Some((first, _)) = trusts.first().cloned() else {
        return Err(format!("the trust policy does not allow {}", caller_arn(&req)));
    };
    let same = req.caller.account() == Some(role_account);
    let direct = trusts.iter().find(|(_, v)| matches!(v, Via::Everyone | Via::Role | Via::Exact | Via::Service));
    let exact = trusts.iter().any(|(_, v)| *v == Via::Exact);
    if same {
        if let Some((by, _)) = direct {
            if boundary_ok || exact {
                return Ok(format!("{by} names the caller (same account: no identity policy needed)"));
            }
        }
    }
    match (identity_ok, boundary_ok) {
        (true, true) => Ok(format!(
            "{first} trusts the caller's {}, and {}",
            if same { "account" } else { "account or principal" },
            by_identity()
        )),
        (false, _) => {
            Err(format!("{first} trusts only the account, and no identity policy allows {}", req.action_name()))
        }
        (true, false) => Err("the permissions boundary does not allow it".into()),
    }
}

fn caller_arn(req: &Request) -> String {
    match &req.caller {
        Caller::Iam { arn, .. } => arn.clone(),
        Caller::Service(s) => s.clone(),
        Caller::Anonymous => "anonymous".into(),
    }
}
