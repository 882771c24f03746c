//! The one proof engine behind `check`, `diff`, audit and who-can: a question encoded
//! ([`Query`]), solved by Z3 on the partition encoding, every model decoded into a request
//! and replayed through the concrete evaluator. Whatever the command, a disagreement
//! between the two is the same bug ([`Mismatch`]), never a result.

/// The solver and the evaluator disagree on a request the encoding says is exact: a bug
/// in kmsproof, never a result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("internal error: {subject}: the model's request {request} was expected to be {expected} by the encoding, but the evaluator says: {got}")]
pub struct Mismatch {
    /// What was being proved (`property "…"`, `diff witness`, a who-can hop).
    pub subject: String,
    /// The decoded request, as JSON text.
    pub request: String,
    /// What the encoding says of it.
    pub expected: String,
    /// What the evaluator said instead.
    pub got: String,
}

use crate::encode::{decode, Encoder, Opaque, Unsupported};
use crate::facts::readings::{describe, Reading};
use crate::model::request::Request;
use kmsproof_solver::{solve_with, BoolVar, Limits, Model, Outcome, Term};
use serde_json::Value;
use std::collections::BTreeMap;

/// Values of request keys that policy variables read (key → value), fixed for a search.
pub type Bindings = BTreeMap<String, String>;

/// One encoded question: "is there a real request for which `relevant` holds?". The goal
/// adds what every real request satisfies (the encoder's invariants), the lemmas of the
/// constructs left free (opaque atoms) and the fixed values of bound keys. Only
/// `relevant`'s patterns tell models apart, so successive models are different ways in,
/// not different spellings of the invariants.
pub struct Query {
    pub enc: Encoder,
    goal: Term,
    relevant: Term,
}

/// How a command builds its question: under given key bindings, and with one
/// undocumented reading encoded the other way (to see whether a proof rests on it).
pub type Build<'a> = dyn Fn(Bindings, Option<Reading>) -> Result<Query, Unsupported> + 'a;

impl Query {
    /// The question `relevant` over the requests `enc` describes.
    pub fn new(mut enc: Encoder, relevant: Term) -> Result<Query, Unsupported> {
        let bound = enc.binding_constraint()?;
        let goal = Term::and([enc.invariants(), enc.opaque_lemmas(), bound, relevant.clone()]);
        Ok(Query { enc, goal, relevant })
    }

    /// Up to `models` models of the goal with `extra` (blocked answers, pinned atoms).
    pub fn solve(&self, extra: &Term, limits: Limits, models: usize) -> Outcome {
        let goal = Term::and([self.goal.clone(), extra.clone()]);
        solve_with(self.enc.vocabulary(), &goal, &self.relevant, limits, models)
    }

    /// The whole goal (for measuring other solvers on the same question).
    pub fn goal(&self) -> &Term {
        &self.goal
    }

    /// Whether constructs were left free: a model may then be spurious, and only a
    /// request the evaluator confirms counts.
    pub fn is_exact(&self) -> bool {
        self.enc.opaque_atoms().is_empty()
    }

    /// The constructs left free, described for the report (a proof holds whatever they are).
    pub fn free(&self) -> Vec<String> {
        self.enc.opaque_atoms().iter().map(|(_, o)| o.describe()).collect()
    }

    /// Why no confirmed request was found although Z3 found models through free constructs.
    pub fn free_summary(&self) -> String {
        let opaque = self.enc.opaque_atoms();
        let what: Vec<String> = opaque.iter().take(3).map(|(_, o)| o.describe()).collect();
        format!("{}{}", what.join("; "), if opaque.len() > 3 { "; …" } else { "" })
    }

    /// A model's request, as the encoding describes it (before the evaluator sees it).
    pub fn decode(&self, m: &Model) -> Value {
        decode(&self.enc, m)
    }

    /// Every opaque atom fixed to its truth on `req`, as the evaluator decides it.
    pub fn pin(&self, req: &Request) -> Term {
        let atoms = self.enc.opaque_atoms();
        Term::and(atoms.iter().map(|(b, o)| if o.holds(req) { Term::var(*b) } else { Term::not(Term::var(*b)) }))
    }

    /// The opaque atoms with the model's truth for each.
    pub fn atoms(&self) -> Vec<(BoolVar, &Opaque)> {
        self.enc.opaque_atoms()
    }
}

/// The same question again, searched only among requests whose variable-read keys have
/// fixed values (an under-approximation: only a replayed request found there counts, and
/// finding none proves nothing). `None` when no key is read by a variable.
pub fn bound_retry(build: &Build, first: &Query) -> Option<Query> {
    let bindings = first.enc.variable_bindings();
    if bindings.is_empty() {
        return None;
    }
    build(bindings, None).ok()
}

/// The undocumented readings an `unsat` answer depends on: each reading the encoding
/// consulted is encoded the other way and the question asked again; any answer but `unsat`
/// means the proof rests on the chosen reading.
pub fn rests_on(build: &Build, first: &Query, limits: Limits) -> Vec<String> {
    first
        .enc
        .consulted()
        .into_iter()
        .filter(
            |r| !matches!(build(Bindings::new(), Some(*r)), Ok(q) if q.solve(&Term::TRUE, limits, 1) == Outcome::Unsat),
        )
        .map(describe)
        .collect()
}

/// A decoded request the evaluator did not confirm: spurious when the encoding left
/// constructs free, a [`Mismatch`] when it is exact.
pub struct Refuted {
    pub request: Value,
    /// The request as read back, when it reads back.
    pub req: Option<Request>,
    /// What the evaluator said.
    pub got: String,
}

impl Refuted {
    /// Reads a decoded request back as the evaluator's `Request` (`label` names it in the
    /// error); a request that does not read back is refuted, never replayed.
    pub fn read_back(request: &Value, label: &str) -> Result<Request, Refuted> {
        Request::parse(&request.to_string(), label).map_err(|e| Refuted {
            request: request.clone(),
            req: None,
            got: format!("the request does not read back: {e}"),
        })
    }
}

/// How a command confirms a model's request on the evaluator (its replay target).
pub trait Replay {
    /// What a confirmed request becomes (an example, a witness).
    type Found;
    /// The evaluator's verdict on the decoded request.
    fn replay(&self, request: Value) -> Result<Self::Found, Refuted>;
    /// What is being proved and what the encoding expected, for a [`Mismatch`].
    fn claim(&self) -> (String, String);
}

/// Why AWS could not send the decoded request given the inputs' address ranges (a
/// service's call from an address the policies name): the invariant that depends on the
/// inputs, so the reader alone cannot check it.
fn unsendable(q: &Query, request: &Value) -> Option<String> {
    let text = request.to_string();
    let req = Request::parse(&text, "<model>").or_else(|_| Request::parse_generic(&text, "<model>")).ok()?;
    crate::model::invariants::service_address(&req, q.enc.named_ranges())
        .map(|b| format!("not a request AWS can send: {b}"))
}

/// A model's request after its replay.
pub enum Replayed<F> {
    /// The evaluator confirms it.
    Confirmed(F),
    /// The evaluator refutes it and the encoding left constructs free: the model may be
    /// spurious (never a result, never a bug).
    Spurious(Refuted),
}

/// Replays a model. A request refuted under an exact encoding is a [`Mismatch`]: a bug.
pub fn confirm<R: Replay>(q: &Query, m: &Model, r: &R) -> Result<Replayed<R::Found>, Mismatch> {
    let request = q.decode(m);
    let outcome = match unsendable(q, &request) {
        Some(got) => Err(Refuted { request, req: None, got }),
        None => r.replay(request),
    };
    match outcome {
        Ok(found) => Ok(Replayed::Confirmed(found)),
        Err(refuted) if q.is_exact() => {
            let (subject, expected) = r.claim();
            Err(Mismatch { subject, request: refuted.request.to_string(), expected, got: refuted.got })
        }
        Err(refuted) => Ok(Replayed::Spurious(refuted)),
    }
}
