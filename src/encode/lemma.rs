//! Lemmas between opaque atoms: facts true of every real request that tie two free
//! booleans together, so proofs through policy variables can still close.
//!
//! The one shape handled: a condition on key `K` with a single value `X${V}` (the variable
//! last, `X` without variables) under `StringEquals`, `StringLike` or `ArnLike` (then `X`
//! holds all five ARN colons, so `${V}` lies in the resource part). On a request it holds
//! exactly when `V` has one value `v` and `K`'s value is in `L(X)·v` (negated operators
//! flip that, keys absent or given as lists behave alike for both). So for two such atoms on
//! the same `K` and `V` with the same operator flags, `L(X₂) ⊆ L(X₁)` gives `b₂ → b₁` (or
//! `b₁ → b₂` when negated) on every request, whatever `v` is: a sound lemma.

use super::{caller::arn_like, solver_tokens, Encoder, Opaque};
use crate::base::pattern::{resolve, Piece};
use crate::model::policy::operator::{Cmp, Family};
use crate::model::policy::{CondValue, Condition};
use kmsproof_solver::partition::partition;
use kmsproof_solver::{BoolVar, Glob, Term};

/// The part of an atom the lemma compares, and what must agree between two atoms.
struct Suffixed {
    /// `(key, variable, negated, if_exists)`, lower-cased names.
    same: (String, String, bool, bool),
    prefix: Glob,
}

fn suffixed(c: &Condition) -> Option<Suffixed> {
    let spec = c.op.spec;
    if c.op.set.is_some() || !matches!(spec.family, Family::String | Family::Arn) {
        return None;
    }
    let [CondValue::Text(pieces)] = c.values.as_slice() else { return None };
    let (Piece::Var { key: var, default: None }, head) = pieces.split_last()? else { return None };
    if head.iter().any(|p| matches!(p, Piece::Var { .. })) {
        return None;
    }
    let wild = spec.cmp == Cmp::Like;
    let toks = resolve(head, wild, &|_| None)?;
    let prefix = match (spec.family, spec.cmp) {
        (Family::Arn, _) => {
            let colons = toks.iter().filter(|t| **t == crate::base::pattern::Tok::Char(':')).count();
            if colons < 5 {
                return None;
            }
            arn_like(&toks)?
        }
        (_, Cmp::Like | Cmp::Equals) => Glob::new(solver_tokens(&toks), false),
        _ => return None,
    };
    let same = (c.key.to_ascii_lowercase(), var.to_ascii_lowercase(), spec.negated, c.op.if_exists);
    Some(Suffixed { same, prefix })
}

/// Whether every string matching `small` matches `big` (exactly, by partition).
fn included(small: &Glob, big: &Glob) -> bool {
    partition(&[small.clone(), big.clone()], &[], 100_000)
        .is_ok_and(|p| !p.regions.iter().any(|r| r.signs[0] && !r.signs[1]))
}

/// A condition over free values (`${kmsproof:free/…}`, see `base::pattern::FREE_VALUE_PREFIX`)
/// widened to one without them: each free value becomes `*` under the `Like` form of the
/// operator (`StringEquals` → `StringLike` with the written text literal, `ArnEquals` →
/// `ArnLike`, which AWS matches alike). Whatever value the free one takes, a request the
/// condition holds on is one the widened condition holds on, so `atom → widened` is a sound
/// lemma: it keeps what the condition says around the free value (an ARN in the stack's
/// account, a role's ARN) in proofs. `None` for negated, set and case-insensitive
/// operators, and for values with request policy variables.
fn widened(c: &Condition) -> Option<Condition> {
    let spec = c.op.spec;
    if c.op.set.is_some() || spec.negated || !matches!(spec.cmp, Cmp::Equals | Cmp::Like) {
        return None;
    }
    let like = match spec.family {
        Family::String => "StringLike",
        Family::Arn => "ArnLike",
        _ => return None,
    };
    let free = |k: &str| k.starts_with(crate::base::pattern::FREE_VALUE_PREFIX);
    let mut any_free = false;
    let mut values = Vec::new();
    for v in &c.values {
        let CondValue::Text(pieces) = v else { return None };
        let mut out = Vec::new();
        for p in pieces {
            out.push(match p {
                Piece::Var { key, .. } if free(key) => {
                    any_free = true;
                    Piece::Text("*".into())
                }
                Piece::Var { .. } => return None,
                Piece::Text(t) if spec.family == Family::String && spec.cmp == Cmp::Equals => Piece::Literal(t.clone()),
                other => other.clone(),
            });
        }
        values.push(CondValue::Text(out));
    }
    let row = crate::model::policy::operator::OPERATORS.iter().find(|o| o.name == like)?;
    let op = crate::model::policy::operator::Operator { spec: *row, ..c.op };
    any_free.then(|| Condition { op, values, ..c.clone() })
}

impl Encoder {
    /// Records `atom → widened(c)` for an opaque atom over free values (see [`widened`]).
    pub(crate) fn note_widened(&mut self, c: &Condition, atom: &Term) {
        if let Some(w) = widened(c) {
            if let Ok(t) = self.condition(&w) {
                self.free_lemmas.push(Term::implies(atom.clone(), t));
            }
        }
    }

    /// Every lemma between the opaque atoms created so far (`TRUE` when none applies).
    pub fn opaque_lemmas(&self) -> Term {
        let atoms: Vec<(BoolVar, Suffixed)> = self
            .opaque_atoms()
            .into_iter()
            .filter_map(|(b, o)| match o {
                Opaque::Condition(c) => suffixed(c).map(|s| (b, s)),
                Opaque::Resource(_) | Opaque::AliasResource(_) => None,
            })
            .collect();
        let mut lemmas = Vec::new();
        for (b2, s2) in &atoms {
            for (b1, s1) in &atoms {
                if b1 == b2 || s1.same != s2.same || !included(&s2.prefix, &s1.prefix) {
                    continue;
                }
                let (from, to) = if s1.same.2 { (*b1, *b2) } else { (*b2, *b1) };
                lemmas.push(Term::implies(Term::var(from), Term::var(to)));
            }
        }
        lemmas.extend(self.free_lemmas.iter().cloned());
        Term::and(lemmas)
    }
}
