//! Property checks: "can a request of this shape be allowed?", answered by Z3 on the
//! exact encoding, with every counterexample replayed through the concrete evaluator.

use crate::base::diag::{Error, Sink};
use crate::base::json::{Json, Kind, Member};
use crate::encode::{authorization, decode, Encoder, Unsupported};
use crate::eval::{authorize, kms_action_coverage, match_statement, Decision, Inputs, Match};
use crate::model::policy::{read_property_principals, read_statement, PrincipalEntry, Principals, Statement};
use crate::model::request::Request;
use kmsproof_solver::{solve_with, Limits, Outcome, Term};
use serde_json::Value;

/// What a property expects of the requests matching its shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// No matching request is allowed.
    Never,
    /// Every matching request is allowed.
    Always,
    /// At least one matching request is allowed.
    Sometimes,
}

impl Expect {
    pub fn as_str(self) -> &'static str {
        match self {
            Expect::Never => "never",
            Expect::Always => "always",
            Expect::Sometimes => "sometimes",
        }
    }
}

/// A property: an IAM statement shape plus an expectation. Its principal may also be a
/// plain string or list (account IDs, ARNs, service principals) and ARN patterns
/// ([`PrincipalEntry::Pattern`]), which a policy's `Principal` cannot hold.
#[derive(Debug, Clone)]
pub struct Property {
    pub name: String,
    pub expect: Expect,
    /// The request shape, read as an `Allow` statement (principal `*` when omitted).
    pub shape: Statement,
    /// The verdict a corpus file says this property has (`holds`, `violated`), if any.
    pub expected: Option<String>,
}

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

/// The solver and the evaluator disagree: a bug in kmsproof, never a result.
#[derive(Debug, Clone, thiserror::Error)]
#[error("internal error: property {property:?}: the model's request {request} was expected to be {expected} by the encoding, but the evaluator says: {got}")]
pub struct ReplayMismatch {
    pub property: String,
    pub request: String,
    pub expected: String,
    pub got: String,
}

const PROPERTY_FIELDS: &[(&str, &str)] =
    &[("action", "Action"), ("not_action", "NotAction"), ("resource", "Resource"), ("condition", "Condition")];

/// Reads a property file: one property object or a list of them.
pub fn parse_properties(text: &str, source: &str) -> Result<Vec<Property>, Error> {
    let mut sink = Sink::new(source);
    let doc = sink.document(text)?;
    let props = properties_from(&doc, "", &mut sink);
    if sink.has_errors() {
        return Err(Error::Invalid(sink.items));
    }
    Ok(props)
}

/// Properties from a parsed value: one object or a non-empty list.
fn properties_from(doc: &Json, path: &str, sink: &mut Sink) -> Vec<Property> {
    let items: Vec<&Json> = match &doc.kind {
        Kind::Array(items) => items.iter().collect(),
        Kind::Object(_) => vec![doc],
        _ => vec![],
    };
    if items.is_empty() {
        sink.error(doc.pos, path, "expected a property object or a non-empty list of them");
    }
    items.iter().enumerate().filter_map(|(i, p)| read_property(p, &format!("{path}[{i}]"), i, sink)).collect()
}

/// A corpus property set: the authorization context and properties with expected verdicts.
pub struct PropertySet {
    pub inputs: Inputs,
    pub key_arn: String,
    pub properties: Vec<Property>,
}

/// Reads a `.props.json` file: `{"key_policy", "identity_policies", "grants", "scps",
/// "boundary", "key_arn", "properties"}`, paths relative to the file.
pub fn load_property_set(path: &std::path::Path) -> Result<PropertySet, Error> {
    let (text, label) = crate::model::load::read_source(path)?;
    let mut sink = Sink::new(&label);
    let doc = sink.document(&text)?;
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    let one = |k: &str| doc.get(k).and_then(Json::as_str).map(|p| dir.join(p));
    let many = |k: &str| -> Vec<std::path::PathBuf> {
        match doc.get(k).map(|v| &v.kind) {
            Some(Kind::Array(items)) => items.iter().filter_map(Json::as_str).map(|p| dir.join(p)).collect(),
            _ => vec![],
        }
    };
    let (kp, idp, grants, scps, boundary) =
        (one("key_policy"), many("identity_policies"), many("grants"), many("scps"), one("boundary"));
    let paths = crate::model::load::InputPaths {
        key_policy: kp.as_deref(),
        identity: idp.iter().map(|p| p.as_path()).collect(),
        scps: scps.iter().map(|p| p.as_path()).collect(),
        boundary: boundary.as_deref(),
        grants: grants.iter().map(|p| p.as_path()).collect(),
    };
    let mut inputs = crate::model::load::load_inputs(&paths)?;
    inputs.management_account = doc.get("management_account").and_then(Json::as_str).map(str::to_string);
    let properties = match doc.get("properties") {
        Some(p) => properties_from(p, "properties", &mut sink),
        None => {
            sink.error(doc.pos, "", "missing \"properties\"");
            vec![]
        }
    };
    let key_arn = doc.get("key_arn").and_then(Json::as_str).map(str::to_string).or_else(|| default_key_arn(&inputs));
    if key_arn.is_none() {
        sink.error(doc.pos, "key_arn", "missing \"key_arn\" and the key policy names no account");
    }
    if sink.has_errors() {
        return Err(Error::Invalid(sink.items));
    }
    Ok(PropertySet { inputs, key_arn: key_arn.unwrap_or_default(), properties })
}

fn read_property(p: &Json, path: &str, index: usize, sink: &mut Sink) -> Option<Property> {
    let Some(members) = p.members() else {
        sink.error(p.pos, path, format!("expected a property object, found {}", p.type_name()));
        return None;
    };
    let mut shape = vec![Member {
        key: "Effect".into(),
        key_pos: p.pos,
        value: Json { pos: p.pos, kind: Kind::String("Allow".into()) },
    }];
    let mut name = format!("property {index}");
    let mut expect = None;
    let mut expected = None;
    let mut principal = None;
    for m in members {
        match (m.key.as_str(), PROPERTY_FIELDS.iter().find(|(k, _)| *k == m.key)) {
            ("name", _) => name = m.value.as_str().unwrap_or(&name).to_string(),
            ("principal" | "not_principal", _) if principal.is_some() => sink.error(
                m.key_pos,
                path,
                "a property cannot have both \"principal\" and \"not_principal\"",
            ),
            ("principal" | "not_principal", _) => {
                let negated = m.key == "not_principal";
                principal = Some(read_property_principals(&m.value, negated, &format!("{path}.{}", m.key), sink));
            }
            ("description", _) => {}
            ("verdict", _) => expected = m.value.as_str().map(str::to_string),
            ("expect", _) => {
                expect = match m.value.as_str() {
                    Some("never") => Some(Expect::Never),
                    Some("always") => Some(Expect::Always),
                    Some("sometimes") => Some(Expect::Sometimes),
                    _ => {
                        sink.error(m.value.pos, &format!("{path}.expect"), "expected \"never\", \"always\" or \"sometimes\"");
                        None
                    }
                }
            }
            (_, Some((_, element))) => shape.push(Member { key: element.to_string(), key_pos: m.key_pos, value: m.value.clone() }),
            _ => sink.error(m.key_pos, &format!("{path}.{}", m.key), format!("unknown property field \"{}\" (expected name, expect, principal, action, not_action, resource, condition)", m.key)),
        }
    }
    if !shape.iter().any(|m| m.key == "Resource") {
        shape.push(Member {
            key: "Resource".into(),
            key_pos: p.pos,
            value: Json { pos: p.pos, kind: Kind::String("*".into()) },
        });
    }
    if expect.is_none() && !sink.has_errors() {
        sink.error(p.pos, path, "missing \"expect\" (never, always or sometimes)");
    }
    let mut shape = read_statement(&Json { pos: p.pos, kind: Kind::Object(shape) }, index, path, true, sink)?;
    shape.principal = Some(principal.unwrap_or(Principals { negated: false, entries: vec![PrincipalEntry::Everyone] }));
    Some(Property { name, expect: expect?, shape, expected })
}

/// The key a key policy is about, when the caller does not name it: in the account its
/// principals name most often (the key's own admins and users usually outnumber external
/// accounts; the first named wins a tie), with a placeholder key ID.
pub fn default_key_arn(inputs: &Inputs) -> Option<String> {
    let mut counts: Vec<(String, usize)> = Vec::new();
    let entries = inputs
        .key_policy
        .statements
        .iter()
        .filter_map(|s| s.principal.as_ref())
        .filter(|p| !p.negated)
        .flat_map(|p| p.entries.iter());
    for e in entries {
        let account = match e {
            PrincipalEntry::Account(a) | PrincipalEntry::Role { account: a, .. } => a.clone(),
            PrincipalEntry::Exact(arn) => match crate::base::pattern::split_arn(arn) {
                Some(p) => p[4].to_string(),
                None => continue,
            },
            _ => continue,
        };
        match counts.iter_mut().find(|(a, _)| *a == account) {
            Some((_, n)) => *n += 1,
            None => counts.push((account, 1)),
        }
    }
    let best = counts.iter().map(|(_, n)| *n).max()?;
    let (account, _) = counts.into_iter().find(|(_, n)| *n == best)?;
    Some(format!("arn:aws:kms:us-east-1:{account}:key/1234abcd-12ab-34cd-56ef-1234567890ab"))
}

/// Checks every property; a replay mismatch stops everything.
pub fn check(
    inputs: &Inputs,
    key_arn: &str,
    props: &[Property],
    examples: usize,
    limits: Limits,
) -> Result<Vec<CheckResult>, ReplayMismatch> {
    props.iter().map(|p| check_one(inputs, key_arn, p, examples, limits)).collect()
}

fn check_one(
    inputs: &Inputs,
    key_arn: &str,
    p: &Property,
    examples: usize,
    limits: Limits,
) -> Result<CheckResult, ReplayMismatch> {
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
) -> Result<Example, ReplayMismatch> {
    let request = decode(enc, m);
    let text = request.to_string();
    let mismatch = |got: String| ReplayMismatch {
        property: p.name.clone(),
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
