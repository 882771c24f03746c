//! Property checks: "can a request of this shape be allowed?", answered by Z3 on the
//! exact encoding, with every counterexample replayed through the concrete evaluator.

use crate::encode::{authorization, Encoder, Unsupported};
use crate::eval::{authorize, kms_action_coverage, match_statement, Decision, Match};
use crate::facts::readings::Reading;
use crate::model::inputs::Inputs;
use crate::model::policy::{Policy, Statement};
pub use crate::model::property::{Expect, Property};
use crate::model::request::Request;
use crate::prove::engine::{bound_retry, confirm, rests_on, Bindings, Build, Query, Refuted, Replay, Replayed};
use crate::prove::Mismatch;
use kmsproof_solver::backend::Budget;
use kmsproof_solver::{Limits, Outcome, Term};
use serde_json::Value;

/// The answer for one property.
#[derive(Debug, Clone)]
pub enum Verdict {
    /// Z3 answered `unsat` for the violation query (or found the witness of `sometimes`).
    Holds,
    Violated,
    Unknown(String),
}

/// One replayed request with the evaluator's decision on it.
#[derive(Debug, Clone)]
pub struct Example {
    pub request: Value,
    pub decision: Decision,
}

#[derive(Debug, Clone)]
pub struct CheckResult {
    pub name: String,
    pub expect: Expect,
    pub verdict: Verdict,
    /// Counterexamples (violated), or witnesses (a `sometimes` that holds).
    pub examples: Vec<Example>,
    /// Constructs not modelled exactly, left free in the proof (opaque atoms): a `holds`
    /// holds whatever they evaluate to, and says so.
    pub free: Vec<String>,
    /// Undocumented readings a proof rests on: under the other reading Z3 did not answer
    /// `unsat` (see `readings`).
    pub rests_on: Vec<String>,
}

/// Checks every property; a replay mismatch stops everything.
pub fn check(
    inputs: &Inputs,
    key_arn: &str,
    props: &[Property],
    examples: usize,
    limits: Limits,
) -> Result<Vec<CheckResult>, Mismatch> {
    props.iter().map(|p| check_one(inputs, key_arn, p, examples, limits)).collect()
}

fn check_one(
    inputs: &Inputs,
    key_arn: &str,
    p: &Property,
    examples: usize,
    limits: Limits,
) -> Result<CheckResult, Mismatch> {
    // The budget of one property: its queries and the work around them.
    let limits = limits.budget_from_now(limits.timeout_ms);
    // Encoded on the statements that can apply to the shape; replayed on all of them.
    let sliced = relevant_inputs(inputs, &p.shape);
    let encoded = sliced.as_ref().unwrap_or(inputs);
    let build = |bindings: Bindings, reading: Option<Reading>| {
        query_with(encoded, key_arn, p, bindings, reading, limits.deadline)
    };
    let result = |verdict| CheckResult {
        name: p.name.clone(),
        expect: p.expect,
        verdict,
        examples: vec![],
        free: vec![],
        rests_on: vec![],
    };
    let q = match build(Bindings::new(), None) {
        Ok(q) => q,
        Err(u) => return Ok(result(Verdict::Unknown(u.reason()))),
    };
    let result = |verdict| CheckResult { free: q.free(), ..result(verdict) };
    // With opaque atoms a model may be spurious, and whether one is confirmed must not
    // depend on --examples: the verdict is decided on the first OPAQUE_MODELS models
    // whatever --examples asks for (more are only shown).
    let wanted = if q.is_exact() { examples } else { examples.max(OPAQUE_MODELS) };
    let models = match q.solve(&Term::TRUE, limits, wanted) {
        Outcome::Unknown(why) => return Ok(result(Verdict::Unknown(why))),
        Outcome::Unsat => {
            let verdict = if p.expect == Expect::Sometimes { Verdict::Violated } else { Verdict::Holds };
            return Ok(CheckResult { rests_on: rests_on(&build, &q, limits), ..result(verdict) });
        }
        Outcome::Sat(models) => models,
    };
    let verdict = if p.expect == Expect::Sometimes { Verdict::Holds } else { Verdict::Violated };
    let replay = PropertyReplay { inputs, p };
    let mut replayed = Vec::with_capacity(models.len());
    for m in &models {
        replayed.push(match confirm(&q, m, &replay)? {
            Replayed::Confirmed(example) => Some(example),
            Replayed::Spurious(_) => None,
        });
    }
    if q.is_exact() {
        return Ok(CheckResult { examples: replayed.into_iter().flatten().collect(), ..result(verdict) });
    }
    // Opaque atoms: only confirmed requests count.
    let decided = replayed.iter().take(OPAQUE_MODELS).any(Option::is_some);
    let mut confirmed: Vec<Example> = replayed.into_iter().flatten().take(examples).collect();
    if !decided {
        confirmed = bound_search(&build, &q, &replay, limits);
        confirmed.truncate(examples);
    }
    if confirmed.is_empty() {
        let what: Vec<String> = q.free().into_iter().take(3).collect();
        let why =
            format!("not encoded exactly ({}); no request through it was confirmed by the evaluator", what.join("; "));
        return Ok(result(Verdict::Unknown(why)));
    }
    Ok(CheckResult { examples: confirmed, ..result(verdict) })
}

/// How many models decide a verdict through opaque atoms (see `check_one`).
const OPAQUE_MODELS: usize = 10;

/// The exact search among requests whose variable-read keys have fixed values (see
/// [`bound_retry`]): an under-approximation, so only replayed requests count (a refuted
/// one is dropped, never a verdict) and finding none proves nothing.
fn bound_search(build: &Build, first: &Query, replay: &PropertyReplay, limits: Limits) -> Vec<Example> {
    let Some(q) = bound_retry(build, first) else { return vec![] };
    let Outcome::Sat(models) = q.solve(&Term::TRUE, limits, OPAQUE_MODELS) else { return vec![] };
    models.iter().filter_map(|m| replay.replay(q.decode(m)).ok()).collect()
}

/// The inputs without the statements that apply to no action of the shape (`None`: every
/// statement can). Exact for the query: a request of the shape has one of the shape's
/// actions, and a statement that covers none of them does not apply to it, whatever its
/// effect or policy; so the decision on every request of the shape is unchanged. The
/// audit's large identity policies mostly consist of such statements (other services).
/// Requests are KMS requests, so the actions are the catalog's.
pub fn relevant_inputs(inputs: &Inputs, shape: &Statement) -> Option<Inputs> {
    let actions = kms_action_coverage(&shape.action);
    let applies = |st: &Statement| kms_action_coverage(&st.action) & actions != 0;
    let all = |p: &Policy| p.statements.iter().all(applies);
    if inputs.policies().all(all) {
        return None;
    }
    let cut = |p: &Policy| Policy {
        source: p.source.clone(),
        kind: p.kind,
        version: p.version.clone(),
        id: p.id.clone(),
        statements: p.statements.iter().filter(|st| applies(st)).cloned().collect(),
        warnings: vec![],
    };
    Some(Inputs {
        key_policy: cut(&inputs.key_policy),
        identity: inputs.identity.iter().map(cut).collect(),
        scps: inputs.scps.iter().map(cut).collect(),
        boundary: inputs.boundary.as_ref().map(cut),
        grants: inputs.grants.clone(),
        management_account: inputs.management_account.clone(),
    })
}

/// The query: a real request, of the property's shape, whose decision violates (or, for
/// `sometimes`, witnesses) the expectation; constructs the partition cannot express are
/// opaque atoms.
pub fn query(inputs: &Inputs, key_arn: &str, p: &Property) -> Result<Query, Unsupported> {
    query_with(inputs, key_arn, p, Bindings::new(), None, None)
}

/// [`query`] with the given variable-read keys bound (see [`Encoder::with_bindings`]) and
/// optionally one undocumented reading encoded the other way, within the work budget
/// ending at `deadline`.
fn query_with(
    inputs: &Inputs,
    key_arn: &str,
    p: &Property,
    mut bindings: Bindings,
    reading: Option<Reading>,
    deadline: Option<Budget>,
) -> Result<Query, Unsupported> {
    let policies: Vec<&Policy> = inputs.policies().collect();
    // Keys the property fixes to one value are bound to it: exact, since every request of
    // the shape has that value, so policy variables reading them are decided exactly.
    for (key, value) in pinned_keys(&p.shape) {
        bindings.retain(|k, _| !k.eq_ignore_ascii_case(&key));
        bindings.insert(key, value);
    }
    let mut enc = Encoder::new(key_arn, &policies, &[&p.shape])
        .with_opaque_atoms()
        .with_bindings(bindings)
        .with_reading(reading)
        .with_deadline(deadline);
    let allowed = authorization(&mut enc, inputs)?;
    let shape = Term::and([enc.statement(&p.shape)?.applies, key_scope(&enc, p)]);
    let decision = if p.expect == Expect::Always { Term::not(allowed) } else { allowed };
    Query::new(enc, Term::and([shape, decision]))
}

/// A property without a resource is about the key under analysis: requests on it, and
/// requests of the keyless actions it names literally (`Property::resource_given`).
fn key_scope(enc: &Encoder, p: &Property) -> Term {
    if p.resource_given {
        return Term::TRUE;
    }
    let named = p.named_keyless_actions().into_iter().map(|a| enc.action_is(&a));
    Term::or(std::iter::once(enc.on_key()).chain(named).collect::<Vec<_>>())
}

/// Whether `req` lies in the property's key scope (the replay's side of [`key_scope`]).
fn in_key_scope(p: &Property, req: &Request) -> bool {
    p.resource_given || req.resource.is_some() || p.named_keyless_actions().contains(&req.action)
}

/// The keys a property's shape fixes to exactly one value: a plain `StringEquals` (no
/// `IfExists`, no set qualifier) with one literal value, on a key that is not derived from
/// the caller (`aws:PrincipalAccount` and `aws:username` excepted: they bind through it).
pub fn pinned_keys(shape: &Statement) -> std::collections::BTreeMap<String, String> {
    use crate::base::pattern::Piece;
    let mut out = std::collections::BTreeMap::new();
    for c in &shape.conditions {
        let plain = c.op.spec.name == "StringEquals" && !c.op.if_exists && c.op.set.is_none();
        let single_text = crate::facts::catalog::catalog().key(&c.key).is_none_or(|k| {
            !k.multi && matches!(k.ty, crate::facts::catalog::KeyType::String | crate::facts::catalog::KeyType::Arn)
        });
        let bindable = single_text && !crate::encode::is_derived_key(&c.key)
            || c.key.eq_ignore_ascii_case("aws:PrincipalAccount")
            || c.key.eq_ignore_ascii_case("aws:username");
        if let (true, true, [crate::model::policy::CondValue::Text(pieces)]) = (plain, bindable, c.values.as_slice()) {
            if let [Piece::Text(t)] = pieces.as_slice() {
                out.insert(c.key.clone(), t.clone());
            }
        }
    }
    out
}

/// The replay target of a property: the evaluator's decision on the full inputs, and the
/// property's shape.
struct PropertyReplay<'a> {
    inputs: &'a Inputs,
    p: &'a Property,
}

impl PropertyReplay<'_> {
    fn wants_allowed(&self) -> bool {
        self.p.expect != Expect::Always
    }
}

impl Replay for PropertyReplay<'_> {
    type Found = Example;

    fn replay(&self, request: Value) -> Result<Example, Refuted> {
        let req = Refuted::read_back(&request, "<counterexample>")?;
        let decision = authorize(self.inputs, &req);
        if decision.allowed() != self.wants_allowed() {
            let got = format!("{} ({})", decision.reason.as_str(), decision.summary);
            return Err(Refuted { request, req: Some(req), got });
        }
        if !in_key_scope(self.p, &req) {
            return Err(Refuted { request, req: Some(req), got: "outside the property's key scope".into() });
        }
        if let Match::NotApplicable(why) = match_statement(&self.p.shape, &req) {
            return Err(Refuted { request, req: Some(req), got: format!("outside the property's shape: {why}") });
        }
        // The request as AWS sees it (derived keys included), not the model's short form.
        Ok(Example { request: req.to_json(), decision })
    }

    fn claim(&self) -> (String, String) {
        let want = if self.wants_allowed() { "allowed" } else { "denied" };
        (format!("property {:?}", self.p.name), format!("{want} and of the property's shape"))
    }
}
