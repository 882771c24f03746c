//! The last hop: the key's full KMS authorization for one actor (key policy, its identity
//! policies, grants, SCPs, boundary), asked as a `check … sometimes` property narrowed to
//! the actor — so the witness is replayed by `check` itself — and the conditions that
//! remain on it, each proved necessary by Z3.

use super::hop::{Actor, Answer, Who, Witness};
use crate::encode::is_derived_key;
use crate::eval::Inputs;
use crate::grant::Grant;
use crate::policy::Policy;
use crate::query::{check, parse_properties, Example, ReplayMismatch, Verdict};
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
}

/// An identity policy that allows everything: what a principal outside the dumps may hold.
pub fn allow_all() -> Policy {
    let doc = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}"#;
    super::gaad::policy_from_text(doc, "any identity policy of its own", crate::policy::PolicyKind::Identity)
        .expect("valid")
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

fn property(actor: &Actor, action: &str, extra: Option<(&str, Value)>) -> crate::query::Property {
    let mut condition = actor.condition();
    if let Some((op, block)) = extra {
        condition[op] = block;
    }
    let doc = json!({"name": format!("{action} by {:?}", actor.who), "expect": "sometimes", "principal": "*",
                     "action": action, "condition": condition});
    parse_properties(&doc.to_string(), "<who-can>").expect("valid property").remove(0)
}

/// Whether `actor` can call `action` on the key, with the witness `check` replayed.
pub fn decide(
    actor: &Actor,
    key: &Key,
    action: &str,
    scps: &[Policy],
    limits: Limits,
) -> Result<KmsHop, ReplayMismatch> {
    let inputs = inputs(actor, key, scps);
    if let Some(w) = plain_allowed(actor, key, action, &inputs) {
        return Ok(KmsHop { answer: Answer::Yes(w), required: vec![] });
    }
    let result = check(&inputs, &key.arn, &[property(actor, action, None)], 1, limits)?.remove(0);
    let answer = match (&result.verdict, result.examples.first()) {
        (Verdict::Holds, Some(ex)) => Answer::Yes(witness(ex)),
        (Verdict::Violated, _) => Answer::No,
        (Verdict::Unknown(why), _) => Answer::Unknown(why.clone()),
        (Verdict::Holds, None) => Answer::Unknown("no witness came back".into()),
    };
    let mut required = Vec::new();
    if let Answer::Yes(w) = &answer {
        for key_name in context_keys(&w.request) {
            let absent = json!({ key_name.clone(): "true" });
            let p = property(actor, action, Some(("Null", absent)));
            let r = check(&inputs, &key.arn, &[p], 1, limits)?.remove(0);
            if matches!(r.verdict, Verdict::Violated) {
                required.push(key_name);
            }
        }
    }
    Ok(KmsHop { answer, required })
}

/// The plainest request (the actor itself, no context) on the evaluator: when allowed it
/// is the witness, and no context key is required; otherwise `check` decides.
fn plain_allowed(actor: &Actor, key: &Key, action: &str, inputs: &Inputs) -> Option<Witness> {
    let Who::Principal(arn) = &actor.who else { return None };
    let request = json!({"principal": arn, "action": action, "resource": key.arn, "context": {}});
    let req = crate::request::Request::parse(&request.to_string(), "<who-can>").ok()?;
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
