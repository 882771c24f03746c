//! Property checks: "can a request of this shape be allowed?", answered by Z3 on the
//! exact encoding, with every counterexample replayed through the concrete evaluator.

use crate::encode::{authorization, decode, Encoder, Unsupported};
use crate::eval::{authorize, kms_action_coverage, match_statement, Decision, Match};
use crate::model::inputs::Inputs;
use crate::model::policy::Statement;
pub use crate::model::property::{Expect, Property};
use crate::model::request::Request;
use crate::prove::Mismatch;
use kmsproof_solver::{solve_with, Limits, Outcome, Term};
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
    // Encoded on the statements that can apply to the shape; replayed on all of them.
    let sliced = relevant_inputs(inputs, &p.shape);
    let encoded = sliced.as_ref().unwrap_or(inputs);
    let (enc, goal, relevant) = match encode_query(encoded, key_arn, p) {
        Ok(x) => x,
        Err(Unsupported(why)) => {
            let verdict = Verdict::Unknown(format!("not encoded exactly: {why}"));
            return Ok(CheckResult {
                name: p.name.clone(),
                expect: p.expect,
                verdict,
                examples: vec![],
                free: vec![],
                rests_on: vec![],
            });
        }
    };
    let free: Vec<String> = enc.opaque_atoms().iter().map(|(_, o)| o.describe()).collect();
    let result = |verdict, examples| CheckResult {
        name: p.name.clone(),
        expect: p.expect,
        verdict,
        examples,
        free: free.clone(),
        rests_on: vec![],
    };
    let proved = |verdict| {
        let rests_on = resting_on(encoded, key_arn, p, &enc.consulted(), limits);
        Ok(CheckResult { rests_on, ..result(verdict, vec![]) })
    };
    let wants_allowed = p.expect != Expect::Always;
    // With opaque atoms a model may be spurious, and whether one is confirmed must not
    // depend on --examples: the verdict is decided on the first OPAQUE_MODELS models
    // whatever --examples asks for (more are only shown).
    let opaque = !enc.opaque_atoms().is_empty();
    let wanted = if opaque { examples.max(OPAQUE_MODELS) } else { examples };
    match (solve_with(enc.vocabulary(), &goal, &relevant, limits, wanted), p.expect) {
        (Outcome::Unknown(why), _) => Ok(result(Verdict::Unknown(why), vec![])),
        (Outcome::Unsat, Expect::Sometimes) => proved(Verdict::Violated),
        (Outcome::Unsat, _) => proved(Verdict::Holds),
        (Outcome::Sat(models), expect) => {
            let verdict = if expect == Expect::Sometimes { Verdict::Holds } else { Verdict::Violated };
            let replayed = models.iter().map(|m| replay(inputs, &enc, p, m, wants_allowed));
            if enc.opaque_atoms().is_empty() {
                return Ok(result(verdict, replayed.collect::<Result<Vec<_>, _>>()?));
            }
            // Opaque atoms: a model may be spurious, so only confirmed requests count.
            let replayed: Vec<Option<Example>> = replayed.map(Result::ok).collect();
            let decided = replayed.iter().take(OPAQUE_MODELS).any(Option::is_some);
            let mut confirmed: Vec<Example> = replayed.into_iter().flatten().take(examples).collect();
            if !decided {
                confirmed = bound_search(inputs, encoded, key_arn, p, &enc, OPAQUE_MODELS, limits);
                confirmed.truncate(examples);
            }
            if confirmed.is_empty() {
                let what: Vec<String> = enc.opaque_atoms().iter().take(3).map(|(_, o)| o.describe()).collect();
                let why = format!(
                    "not encoded exactly ({}); no request through it was confirmed by the evaluator",
                    what.join("; ")
                );
                return Ok(result(Verdict::Unknown(why), vec![]));
            }
            Ok(result(verdict, confirmed))
        }
    }
}

/// How many models decide a verdict through opaque atoms (see `check_one`).
const OPAQUE_MODELS: usize = 10;

/// The undocumented readings an `unsat` answer depends on: each one the encoding consulted
/// is encoded the other way and asked again; any answer but `unsat` means the proof rests
/// on the chosen reading.
fn resting_on(
    inputs: &Inputs,
    key_arn: &str,
    p: &Property,
    consulted: &[crate::facts::readings::Reading],
    limits: Limits,
) -> Vec<String> {
    consulted
        .iter()
        .filter(|r| {
            let again = encode_query_full(inputs, key_arn, p, Default::default(), Some(**r));
            !matches!(again, Ok((enc, goal, relevant)) if solve_with(enc.vocabulary(), &goal, &relevant, limits, 1) == Outcome::Unsat)
        })
        .map(|r| crate::facts::readings::describe(*r))
        .collect()
}

/// The exact search among requests whose variable-read keys have fixed values (see
/// [`Encoder::with_bindings`]): an under-approximation, so only replayed requests count
/// and finding none proves nothing.
/// `encoded`: the inputs the query was encoded on (see [`relevant_inputs`]).
fn bound_search(
    inputs: &Inputs,
    encoded: &Inputs,
    key_arn: &str,
    p: &Property,
    first: &Encoder,
    examples: usize,
    limits: Limits,
) -> Vec<Example> {
    let bindings = first.variable_bindings();
    if bindings.is_empty() {
        return vec![];
    }
    let Ok((mut enc, goal, relevant)) = encode_query_with(encoded, key_arn, p, bindings) else { return vec![] };
    let Ok(bound) = enc.binding_constraint() else { return vec![] };
    let goal = Term::and([goal, bound]);
    let Outcome::Sat(models) = solve_with(enc.vocabulary(), &goal, &relevant, limits, examples) else { return vec![] };
    let wants_allowed = p.expect != Expect::Always;
    models.iter().filter_map(|m| replay(inputs, &enc, p, m, wants_allowed).ok()).collect()
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
    let all = |p: &crate::model::policy::Policy| p.statements.iter().all(|st| applies(st));
    if inputs.policies().all(all) {
        return None;
    }
    let cut = |p: &crate::model::policy::Policy| crate::model::policy::Policy {
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
/// `sometimes`, witnesses) the expectation.
/// Returns the encoder, the goal, and the part of it whose patterns tell counterexamples
/// apart (the goal without the invariants).
pub fn encode_query(inputs: &Inputs, key_arn: &str, p: &Property) -> Result<(Encoder, Term, Term), Unsupported> {
    encode_query_with(inputs, key_arn, p, Default::default())
}

/// [`encode_query`], with constructs the partition cannot express as opaque atoms and the
/// given variable-read keys bound (see [`Encoder::with_bindings`]).
fn encode_query_with(
    inputs: &Inputs,
    key_arn: &str,
    p: &Property,
    bindings: std::collections::BTreeMap<String, String>,
) -> Result<(Encoder, Term, Term), Unsupported> {
    encode_query_full(inputs, key_arn, p, bindings, None)
}

/// [`encode_query_with`], with one undocumented reading encoded the other way.
fn encode_query_full(
    inputs: &Inputs,
    key_arn: &str,
    p: &Property,
    bindings: std::collections::BTreeMap<String, String>,
    alternate: Option<crate::facts::readings::Reading>,
) -> Result<(Encoder, Term, Term), Unsupported> {
    let policies: Vec<&crate::model::policy::Policy> = inputs.policies().collect();
    // Keys the property fixes to one value are bound to it: exact, since every request of
    // the shape has that value, so policy variables reading them are decided exactly.
    let mut bindings = bindings;
    for (key, value) in pinned_keys(&p.shape) {
        bindings.retain(|k, _| !k.eq_ignore_ascii_case(&key));
        bindings.insert(key, value);
    }
    let mut enc = Encoder::new(key_arn, &policies, &[&p.shape]).with_opaque_atoms().with_bindings(bindings);
    if let Some(r) = alternate {
        enc = enc.with_alternate(r);
    }
    let allowed = authorization(&mut enc, inputs)?;
    let shape = enc.statement(&p.shape)?.applies;
    let bound = enc.binding_constraint()?;
    let decision = if p.expect == Expect::Always { Term::not(allowed) } else { allowed };
    let relevant = Term::and([shape, decision]);
    let goal = Term::and([enc.invariants(), enc.opaque_lemmas(), bound, relevant.clone()]);
    Ok((enc, goal, relevant))
}

/// The keys a property's shape fixes to exactly one value: a plain `StringEquals` (no
/// `IfExists`, no set qualifier) with one literal value, on a key that is not derived from
/// the caller (`aws:PrincipalAccount` and `aws:username` excepted: they bind through it).
pub fn pinned_keys(shape: &Statement) -> std::collections::BTreeMap<String, String> {
    use crate::base::pattern::Piece;
    let mut out = std::collections::BTreeMap::new();
    for c in &shape.conditions {
        let plain = c.op.spec.name == "StringEquals" && !c.op.if_exists && c.op.set.is_none();
        let single_text = crate::facts::catalog::catalog().key(&c.key).map_or(true, |k| {
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

fn replay(
    inputs: &Inputs,
    enc: &Encoder,
    p: &Property,
    m: &kmsproof_solver::Model,
    wants_allowed: bool,
) -> Result<Example, Mismatch> {
    let request = decode(enc, m);
    let text = request.to_string();
    let mismatch = |got: String| Mismatch {
        subject: format!("property {:?}", p.name),
        request: text.clone(),
        expected: format!("{} and of the property's shape", if wants_allowed { "allowed" } else { "denied" }),
        got,
    };
    let req = Request::parse(&text, "<counterexample>")
        .map_err(|e| mismatch(format!("the request does not read back: {e}")))?;
    let decision = authorize(inputs, &req);
    if decision.allowed() != wants_allowed {
        return Err(mismatch(format!("{} ({})", decision.reason.as_str(), decision.summary)));
    }
    if let Match::NotApplicable(why) = match_statement(&p.shape, &req) {
        return Err(mismatch(format!("outside the property's shape: {why}")));
    }
    // The request as AWS sees it (derived keys included), not the model's short form.
    Ok(Example { request: req.to_json(), decision })
}
