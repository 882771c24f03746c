//! The last hop: the key's full KMS authorization for one actor (key policy, its identity
//! policies, grants, SCPs, boundary), asked as a `check … sometimes` property narrowed to
//! the actor — so the witness is replayed by `check` itself — and the conditions that
//! remain on it, each proved necessary by Z3.

use super::document;
use super::domain::{Actor, Answer, Who, Witness};
use crate::encode::is_derived_key;
use crate::model::grant::Grant;
use crate::model::inputs::Inputs;
use crate::model::policy::{Policy, PolicyKind};
use crate::prove::check::{check, Example, Verdict};
use crate::prove::Mismatch;
use kmsproof_solver::Limits;
use serde_json::{json, Value};

/// One key under analysis.
#[derive(Debug, Clone)]
pub struct Key {
    pub arn: String,
    pub policy: Policy,
    pub grants: Vec<Grant>,
}

/// The last hop's answer, with the context keys a request must carry (proved: no
/// allowed request of the actor lacks them).
#[derive(Debug, Clone)]
pub struct KmsHop {
    pub answer: Answer,
    pub required: Vec<String>,
    /// The undocumented readings a `no` rests on, as `check` reports them (`rests_on`).
    pub rests_on: Vec<String>,
}

/// An identity policy that allows everything: what a principal outside the dumps may hold.
pub fn allow_all() -> Policy {
    let statement = json!({"Effect": "Allow", "Action": "*", "Resource": "*"});
    // Cannot fail: a fixed statement, nothing from the input (`allow_all_reads` tests it).
    document::policy(&statement, "any identity policy of its own", PolicyKind::Identity).expect("a fixed statement")
}

fn inputs(actor: &Actor, key: &Key, scps: &[Policy]) -> Inputs {
    let identity = match actor.who {
        Who::Principal(_) => actor.identity.clone(),
        _ => vec![allow_all()],
    };
    Inputs {
        key_policy: key.policy.clone(),
        identity,
        scps: scps.to_vec(),
        boundary: actor.boundary.clone(),
        grants: key.grants.clone(),
        management_account: None,
    }
}

/// `Err`: the actor cannot be written into a property (a name from the dumps a policy
/// cannot hold); the question is then undecided.
type Prop = Result<crate::prove::check::Property, document::Unwritable>;

fn property(actor: &Actor, action: &str, extra: Option<(&str, Value)>) -> Prop {
    property_with(actor.condition(), action, &format!("{:?}", actor.who), extra)
}

fn property_with(mut condition: Value, action: &str, who: &str, extra: Option<(&str, Value)>) -> Prop {
    if let Some((op, block)) = extra {
        condition[op] = block;
    }
    document::sometimes(format!("{action} by {who}"), action, &condition)
}

/// One property over several principals of the dumps (`aws:PrincipalArn` any of them):
/// when Z3 answers `unsat` on it, it has answered `unsat` for each of them.
fn property_of_all(arns: &[&str], action: &str, extra: Option<(&str, Value)>) -> Prop {
    let condition = json!({"StringEquals": {"aws:PrincipalArn": arns}});
    property_with(condition, action, &format!("{} principals", arns.len()), extra)
}

/// Whether `actor` can call `action` on the key, with the witness `check` replayed.
pub fn decide(actor: &Actor, key: &Key, action: &str, scps: &[Policy], limits: Limits) -> Result<KmsHop, Mismatch> {
    if let Some(hop) = plain(actor, key, action, scps) {
        return Ok(hop);
    }
    let inputs = inputs(actor, key, scps);
    let (answer, rests_on) = solve(actor, key, action, &inputs, limits)?;
    let required = match &answer {
        Answer::Yes(w) => required(actor, key, action, &inputs, w, limits)?,
        _ => vec![],
    };
    Ok(KmsHop { answer, required, rests_on })
}

/// The last hop when the plainest request (the actor itself, no context) is allowed: it
/// is the witness, and no context key is required. `None`: Z3 has to decide.
pub fn plain(actor: &Actor, key: &Key, action: &str, scps: &[Policy]) -> Option<KmsHop> {
    let w = plain_allowed(actor, key, action, &inputs(actor, key, scps))?;
    Some(KmsHop { answer: Answer::Yes(w), required: vec![], rests_on: vec![] })
}

/// `check … sometimes` narrowed to the actor: the answer, and the readings a `no` rests on.
fn solve(
    actor: &Actor,
    key: &Key,
    action: &str,
    inputs: &Inputs,
    limits: Limits,
) -> Result<(Answer, Vec<String>), Mismatch> {
    let property = match property(actor, action, None) {
        Ok(p) => p,
        Err(why) => return Ok((Answer::Unknown(why.to_string()), vec![])),
    };
    let result = check(inputs, &key.arn, &[property], 1, limits)?.remove(0);
    Ok(match (&result.verdict, result.examples.first()) {
        (Verdict::Holds, Some(ex)) if carries_tags(&ex.request) => {
            (untagged(actor, key, action, inputs, limits)?, vec![])
        }
        (Verdict::Holds, Some(ex)) => (Answer::Yes(witness(ex)), vec![]),
        (Verdict::Violated, _) => (Answer::No, result.rests_on),
        (Verdict::Unknown(why), _) => (Answer::Unknown(why.clone()), vec![]),
        (Verdict::Holds, None) => (Answer::Unknown("no witness came back".into()), vec![]),
    })
}

fn carries_tags(request: &Value) -> bool {
    request.get("context").and_then(Value::as_object).is_some_and(|c| c.keys().any(|k| document::is_tag_key(k)))
}

/// The last hop asked again without any tag key the inputs test (all absent): tags are
/// not modelled (see [`document::is_tag_key`]), so a `yes` must not need one. A `no`
/// here, after a `yes` with tags, is undecided.
fn untagged(actor: &Actor, key: &Key, action: &str, inputs: &Inputs, limits: Limits) -> Result<Answer, Mismatch> {
    let policies =
        std::iter::once(&inputs.key_policy).chain(&inputs.identity).chain(&inputs.scps).chain(&inputs.boundary);
    let keys = document::tag_keys(policies);
    let absent: serde_json::Map<String, Value> = keys.iter().map(|k| (k.clone(), json!("true"))).collect();
    let p = match property(actor, action, Some(("Null", Value::Object(absent)))) {
        Ok(p) => p,
        Err(why) => return Ok(Answer::Unknown(why.to_string())),
    };
    let r = check(inputs, &key.arn, &[p], 1, limits)?.remove(0);
    Ok(match (&r.verdict, r.examples.first()) {
        (Verdict::Holds, Some(ex)) => Answer::Yes(witness(ex)),
        (Verdict::Unknown(why), _) => Answer::Unknown(why.clone()),
        _ => Answer::Unknown(format!(
            "allowed only with a tag ({}): principal tags of a user and session tags (which need sts:TagSession in the role's trust policy) are not modelled",
            keys.join(", ")
        )),
    })
}

/// The context keys of the witness no allowed request of the actor lacks (Z3 `unsat`).
fn required(
    actor: &Actor,
    key: &Key,
    action: &str,
    inputs: &Inputs,
    w: &Witness,
    limits: Limits,
) -> Result<Vec<String>, Mismatch> {
    let mut out = Vec::new();
    for key_name in context_keys(&w.request) {
        let absent = property(actor, action, Some(("Null", json!({ key_name.clone(): "true" }))));
        if refuted(&absent, inputs, key, limits)?.is_some() {
            out.push(key_name);
        }
    }
    Ok(out)
}

/// Whether Z3 answered `unsat` for the `sometimes` property (`Violated`): no allowed
/// request has its shape. `Some(readings the proof rests on)` when it did; a property
/// that cannot be written is not refuted (nothing was proved).
fn refuted(p: &Prop, inputs: &Inputs, key: &Key, limits: Limits) -> Result<Option<Vec<String>>, Mismatch> {
    let Ok(p) = p else { return Ok(None) };
    let r = check(inputs, &key.arn, std::slice::from_ref(p), 1, limits)?.remove(0);
    Ok(matches!(r.verdict, Verdict::Violated).then_some(r.rests_on))
}

/// What the last hop of a principal of the dumps depends on besides its own ARN: its
/// identity policies and boundary, cut to the statements that can apply to `action`
/// (as `check` cuts them), read without positions, labels or sources. Principals with
/// the same signature have the same authorization inputs for every request of the
/// action (the key policy, grants and SCPs are shared), so one query over all of them
/// (`aws:PrincipalArn` any of them) is exact for each. `None`: a class of principals.
pub fn signature(actor: &Actor, key: &Key, action: &str, scps: &[Policy]) -> Option<String> {
    let Who::Principal(_) = &actor.who else { return None };
    let full = inputs(actor, key, scps);
    let shape = property(actor, action, None).ok()?.shape;
    let cut = crate::prove::check::relevant_inputs(&full, &shape);
    let inputs = cut.as_ref().unwrap_or(&full);
    let mut out = format!("account {}\n", actor.account);
    for p in &inputs.identity {
        out.push_str(&semantic(p, "identity"));
    }
    if let Some(b) = &inputs.boundary {
        out.push_str(&semantic(b, "boundary"));
    }
    Some(out)
}

/// A policy's meaning as text: everything the evaluator and the encoder read, nothing
/// that only names or places it (source, `Sid`, positions, JSON paths).
fn semantic(p: &Policy, role: &str) -> String {
    if p.statements.is_empty() && role == "identity" {
        return String::new();
    }
    let mut out = format!("{role} {:?} {:?}\n", p.kind, p.version);
    for s in &p.statements {
        out.push_str(&format!("  {:?} {:?} {:?} {:?}\n", s.effect, s.principal, s.action, s.resource));
        for c in &s.conditions {
            out.push_str(&format!("    {:?} {:?} {:?}\n", c.op, c.key, c.values));
        }
    }
    out
}

/// The last hops of principals of the dumps that share one [`signature`] (in order; the
/// first is the representative), none of whose plainest request is allowed. The
/// representative is decided alone; the others are decided from it only through the
/// evaluator or Z3 again: its witness with their own ARN is replayed on their own
/// inputs (a `yes` only when the evaluator allows it), a `no` is one Z3 `unsat` over all
/// of them, and each required context key is one Z3 `unsat` over all that carry it.
/// Whatever is not settled that way is decided alone, as [`decide`] does.
pub fn decide_group(
    actors: &[&Actor],
    key: &Key,
    action: &str,
    scps: &[Policy],
    limits: Limits,
) -> Result<Vec<KmsHop>, Mismatch> {
    let Some((first, rest)) = actors.split_first() else { return Ok(vec![]) };
    let first_inputs = inputs(first, key, scps);
    let lead = solve(first, key, action, &first_inputs, limits)?;
    let arns: Vec<&str> = rest.iter().filter_map(|a| principal_arn(a)).collect();
    let mut answers: Vec<Option<(Answer, Vec<String>)>> = vec![None; rest.len()];
    match &lead.0 {
        Answer::Yes(w) => {
            for (slot, a) in answers.iter_mut().zip(rest) {
                *slot = transplanted(w, first, a, key, action, scps).map(|w| (Answer::Yes(w), vec![]));
            }
        }
        Answer::No if arns.len() == rest.len() && !rest.is_empty() => {
            if let Some(readings) = refuted(&property_of_all(&arns, action, None), &first_inputs, key, limits)? {
                answers.iter_mut().for_each(|slot| *slot = Some((Answer::No, readings.clone())));
            }
        }
        _ => {}
    }
    let answers: Vec<(Answer, Vec<String>)> = std::iter::once(Ok(lead))
        .chain(answers.into_iter().zip(rest).map(|(slot, a)| match slot {
            Some(x) => Ok(x),
            None => solve(a, key, action, &inputs(a, key, scps), limits),
        }))
        .collect::<Result<_, _>>()?;
    let (answers, readings): (Vec<Answer>, Vec<Vec<String>>) = answers.into_iter().unzip();
    let required = group_required(actors, &answers, key, action, &first_inputs, scps, limits)?;
    let hops = answers.into_iter().zip(required).zip(readings);
    Ok(hops.map(|((answer, required), rests_on)| KmsHop { answer, required, rests_on }).collect())
}

/// The required context keys of every `yes` of a group: per key, one query over every
/// member whose witness carries it; when that is not `unsat`, each member alone.
fn group_required(
    actors: &[&Actor],
    answers: &[Answer],
    key: &Key,
    action: &str,
    shared: &Inputs,
    scps: &[Policy],
    limits: Limits,
) -> Result<Vec<Vec<String>>, Mismatch> {
    let mut names: Vec<String> = Vec::new();
    for a in answers.iter() {
        if let Answer::Yes(w) = a {
            for k in context_keys(&w.request) {
                if !names.contains(&k) {
                    names.push(k);
                }
            }
        }
    }
    let mut out = vec![Vec::new(); actors.len()];
    for name in names {
        let carriers: Vec<usize> = (0..actors.len())
            .filter(|i| matches!(&answers[*i], Answer::Yes(w) if context_keys(&w.request).contains(&name)))
            .collect();
        let arns: Vec<&str> = carriers.iter().filter_map(|i| principal_arn(actors[*i])).collect();
        let absent = || Some(("Null", json!({ name.clone(): "true" })));
        let all = arns.len() == carriers.len()
            && refuted(&property_of_all(&arns, action, absent()), shared, key, limits)?.is_some();
        for i in carriers {
            let alone = || refuted(&property(actors[i], action, absent()), &inputs(actors[i], key, scps), key, limits);
            if all || alone()?.is_some() {
                out[i].push(name.clone());
            }
        }
    }
    // Each member's keys in the order its own witness lists them.
    for (i, keys) in out.iter_mut().enumerate() {
        if let Answer::Yes(w) = &answers[i] {
            let order = context_keys(&w.request);
            keys.sort_by_key(|k| order.iter().position(|o| o == k));
        }
    }
    Ok(out)
}

/// `caller`, the lead's caller in a witness, made `member`'s: a session of the lead's role
/// becomes the same session of the member's role; anything else, the member itself.
fn same_kind(caller: &str, lead: &str, member: &str) -> String {
    let role = |arn: &str| {
        let a = crate::base::arn::Arn::parse(arn)?;
        let name = a.resource.strip_prefix("role/")?.rsplit('/').next()?;
        Some((a.account.to_string(), name.to_string()))
    };
    if let (Some((account, name)), Some((m_account, m_name))) = (role(lead), role(member)) {
        let prefix = format!("arn:aws:sts::{account}:assumed-role/{name}/");
        if let Some(session) = caller.strip_prefix(&prefix).filter(|_| account == m_account) {
            return format!("arn:aws:sts::{m_account}:assumed-role/{m_name}/{session}");
        }
    }
    member.to_string()
}

fn principal_arn(actor: &Actor) -> Option<&str> {
    match &actor.who {
        Who::Principal(arn) => Some(arn),
        _ => None,
    }
}

/// The representative's witness for another member: the member itself (as the same kind
/// of caller: a session of its role when the witness is a role session), the action, the
/// key and the witness's own context (derived keys left for the evaluator to derive),
/// replayed on the member's own inputs; `None` unless the evaluator allows it.
fn transplanted(w: &Witness, lead: &Actor, actor: &Actor, key: &Key, action: &str, scps: &[Policy]) -> Option<Witness> {
    let arn = principal_arn(actor)?;
    let caller = same_kind(w.request["principal"].as_str()?, principal_arn(lead)?, arn);
    let mut context = serde_json::Map::new();
    for k in context_keys(&w.request) {
        context.insert(k.clone(), w.request["context"][&k].clone());
    }
    let request = json!({"principal": caller, "action": action, "resource": key.arn, "context": context});
    let req = crate::model::request::Request::parse(&request.to_string(), "<who-can>").ok()?;
    let shape = property(actor, action, None).ok()?.shape;
    if let crate::eval::Match::NotApplicable(_) = crate::eval::match_statement(&shape, &req) {
        return None;
    }
    let d = crate::eval::authorize(&inputs(actor, key, scps), &req);
    d.allowed().then(|| Witness { request: req.to_json(), why: d.summary })
}

/// The plainest request (the actor itself, no context) on the evaluator: when allowed it
/// is the witness, and no context key is required; otherwise `check` decides.
fn plain_allowed(actor: &Actor, key: &Key, action: &str, inputs: &Inputs) -> Option<Witness> {
    let Who::Principal(arn) = &actor.who else { return None };
    let request = json!({"principal": arn, "action": action, "resource": key.arn, "context": {}});
    let req = crate::model::request::Request::parse(&request.to_string(), "<who-can>").ok()?;
    let d = crate::eval::authorize(inputs, &req);
    d.allowed().then(|| Witness { request, why: d.summary })
}

fn witness(ex: &Example) -> Witness {
    Witness { request: ex.request.clone(), why: ex.decision.summary.clone() }
}

/// The context keys a witness carries that the caller chooses (derived keys excluded).
fn context_keys(request: &Value) -> Vec<String> {
    let Some(ctx) = request.get("context").and_then(Value::as_object) else { return vec![] };
    ctx.keys().filter(|k| !is_derived_key(k)).cloned().collect()
}

/// The key policy an actor who may call `kms:PutKeyPolicy` writes: `kms:*` to everyone
/// and to the caller exactly (no condition key of `PutKeyPolicy` limits the content of
/// the new policy; KMS API reference, PutKeyPolicy). Any key policy allows at most what
/// this one allows: Allow statements only add, and the Denies are gone.
pub fn replaced_policy() -> Policy {
    let statement = json!({"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"});
    // Cannot fail: a fixed statement, nothing from the input.
    document::policy(&statement, "the key policy as replaced (kms:PutKeyPolicy)", PolicyKind::KeyPolicy)
        .expect("a fixed statement")
}

/// The actor under a replaced key policy. The writer may name the caller exactly (the
/// user, or the role session it will use), and a key policy naming the exact user or
/// session is not limited by the boundary's Allows ([EVAL] 4.1 step 4) — only by its
/// Denies. So the boundary keeps its Denies and allows the rest: exactly what naming
/// the caller gives, whichever session name the path picks.
pub fn under_replaced_policy(actor: &Actor) -> Actor {
    let mut a = actor.clone();
    if let Some(b) = &mut a.boundary {
        b.statements.retain(|s| s.effect == crate::model::policy::Effect::Deny);
        let all = json!({"Effect": "Allow", "Action": "*", "Resource": "*"});
        // Cannot fail: a fixed statement (the source only names it).
        let allow = document::policy(&all, &b.source, PolicyKind::Boundary).expect("a fixed statement");
        b.statements.extend(allow.statements);
    }
    a
}

/// The grant an actor creates for itself: `action`'s operation, to its own principal
/// ARN (a role's ARN covers its sessions), no constraints, on the key.
pub fn self_grant(actor: &Actor, action: &str) -> Option<Grant> {
    let grantee = principal_arn(actor)?.to_string();
    let op = action.strip_prefix("kms:").unwrap_or(action).to_string();
    Some(Grant {
        source: "the grant it creates (kms:CreateGrant)".into(),
        label: format!("{op} to {grantee}"),
        key_id: None,
        grantee,
        grant_id: None,
        retiring: None,
        issuing_account: None,
        operations: vec![op],
        constraints: vec![],
        source_arn: None,
        pos: Default::default(),
    })
}

/// A KMS question about the key other than the last hop (`kms:PutKeyPolicy`,
/// `kms:CreateGrant`), asked exactly as the last hop is: `check … sometimes` narrowed to
/// the actor, with `extra` conditions on the request, replayed by `check`. Returns the
/// answer and the readings an `unsat` rests on.
pub fn ask(
    actor: &Actor,
    key: &Key,
    action: &str,
    extra: &[(&str, Value)],
    scps: &[Policy],
    limits: Limits,
) -> Result<(Answer, Vec<String>), Mismatch> {
    let inputs = inputs(actor, key, scps);
    let mut condition = actor.condition();
    for (op, block) in extra {
        // Cannot fail: `Actor::condition` always builds a `json!` object.
        let slot = condition.as_object_mut().expect("object").entry(op.to_string()).or_insert(json!({}));
        if let (Some(slot), Some(block)) = (slot.as_object_mut(), block.as_object()) {
            slot.extend(block.clone());
        }
    }
    let p = match document::sometimes(format!("{action} by {:?}", actor.who), action, &condition) {
        Ok(p) => p,
        Err(why) => return Ok((Answer::Unknown(why.to_string()), vec![])),
    };
    let r = check(&inputs, &key.arn, &[p], 1, limits)?.remove(0);
    Ok(match (&r.verdict, r.examples.first()) {
        (Verdict::Holds, Some(ex)) => (Answer::Yes(witness(ex)), vec![]),
        (Verdict::Violated, _) => (Answer::No, r.rests_on),
        (Verdict::Unknown(why), _) => (Answer::Unknown(why.clone()), vec![]),
        (Verdict::Holds, None) => (Answer::Unknown("no witness came back".into()), vec![]),
    })
}

/// Whether the actor can replace the key policy (`kms:PutKeyPolicy` on the key, against
/// the key policy, its identity policies, grants, SCPs and boundary).
pub fn put_key_policy(
    actor: &Actor,
    key: &Key,
    scps: &[Policy],
    limits: Limits,
) -> Result<(Answer, Vec<String>), Mismatch> {
    ask(actor, key, "kms:PutKeyPolicy", &[], scps, limits)
}

/// Whether the actor can grant itself `action` with no constraint: a direct
/// `kms:CreateGrant` (no `kms:ViaService`, `kms:GrantIsForAWSResource` not true) whose
/// `kms:GrantOperations` is exactly the action's operation, `kms:GranteePrincipal` its own
/// ARN, no `kms:GrantConstraintType` (the retiring principal is free: it does not limit
/// the grant's use). Asked without the key's grants: a grant that includes `CreateGrant`
/// lets its grantee create only grants within its own operations and constraints, which
/// the evaluator does not model — so when only some grant allows it (or only another
/// grantee, a constraint, or a grant for an AWS resource), the answer is `Unknown` with
/// the witness of the wider question, never `No`.
pub fn create_grant(
    actor: &Actor,
    key: &Key,
    action: &str,
    scps: &[Policy],
    limits: Limits,
) -> Result<(Answer, Vec<String>), Mismatch> {
    let op = action.strip_prefix("kms:").unwrap_or(action);
    let wide = || -> Vec<(&str, Value)> { vec![("ForAnyValue:StringEquals", json!({"kms:GrantOperations": op}))] };
    let Some(grantee) = principal_arn(actor) else {
        // A class of principals: which one would be the grantee is not modelled.
        return Ok(match ask(actor, key, "kms:CreateGrant", &wide(), scps, limits)? {
            (Answer::No, r) => (Answer::No, r),
            (Answer::Yes(w), _) => (
                Answer::Unknown(format!(
                    "a grant created by a class of principals is not modelled (e.g. {})",
                    w.request
                )),
                vec![],
            ),
            other => other,
        });
    };
    let ungranted = Key { grants: vec![], ..key.clone() };
    let exact = vec![
        ("ForAllValues:StringEquals", json!({"kms:GrantOperations": op})),
        ("ForAnyValue:StringEquals", json!({"kms:GrantOperations": op})),
        ("StringEquals", json!({"kms:GranteePrincipal": grantee})),
        ("Null", json!({"kms:GrantConstraintType": "true", "kms:ViaService": "true"})),
        ("BoolIfExists", json!({"kms:GrantIsForAWSResource": "false"})),
    ];
    let (answer, rests) = ask(actor, &ungranted, "kms:CreateGrant", &exact, scps, limits)?;
    if let Answer::Yes(w) = &answer {
        // The witness was replayed without the key's grants; grants only add Allows, and
        // it is replayed again on the key as it is.
        let req = crate::model::request::Request::parse(&w.request.to_string(), "<who-can>")
            .map_err(|e| mismatch(&w.request, &e.to_string()))?;
        let d = crate::eval::authorize(&inputs(actor, key, scps), &req);
        if !d.allowed() {
            return Err(mismatch(&w.request, &d.summary));
        }
        return Ok((answer, rests));
    }
    if let Answer::Unknown(_) = answer {
        return Ok((answer, rests));
    }
    Ok(match ask(actor, key, "kms:CreateGrant", &wide(), scps, limits)? {
        (Answer::No, more) => (Answer::No, rests.into_iter().chain(more).collect()),
        (Answer::Yes(w), _) => (
            Answer::Unknown(format!(
                "kms:CreateGrant of {op} is allowed only as a grant the encoding does not follow (to another grantee, with a constraint, for an AWS resource, or through an existing grant): {}",
                w.request
            )),
            vec![],
        ),
        other => other,
    })
}

fn mismatch(request: &Value, got: &str) -> Mismatch {
    Mismatch {
        subject: "who-can kms:CreateGrant witness on the key with its grants".into(),
        request: request.to_string(),
        expected: "allowed".into(),
        got: got.into(),
    }
}

/// The key as a node's path left it: policy replaced, or one more grant.
pub fn changed(key: &Key, change: &super::domain::KeyChange) -> Key {
    use super::domain::KeyChange;
    match change {
        KeyChange::Original => key.clone(),
        KeyChange::PolicyReplaced => Key { policy: replaced_policy(), ..key.clone() },
        KeyChange::Granted(g) => {
            let mut k = key.clone();
            k.grants.push((**g).clone());
            k
        }
    }
}
