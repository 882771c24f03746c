//! Conditions → terms, case by case as `eval::condition` decides them.

use super::{caller::arn_like, solver_tokens, Encoder, KeyVar, Unsupported};
use crate::facts::catalog::KeyType;
use crate::facts::readings::Reading;
use crate::model::policy::operator::{Cmp, Family, SetQualifier};
use crate::model::policy::{CondValue, Condition};
use kmsproof_solver::{Cidr, ElemPred, Glob, Term};

/// One policy value, ready to compare against a request value.
enum Atom {
    Text(Option<Glob>),
    Int(kmsproof_solver::Cmp, i128),
    Ip(Cidr),
}

fn key_type(f: Family) -> KeyType {
    match f {
        Family::String | Family::Null => KeyType::String,
        Family::Arn => KeyType::Arn,
        Family::Numeric => KeyType::Numeric,
        Family::Date => KeyType::Date,
        Family::Bool => KeyType::Bool,
        Family::Ip => KeyType::Ip,
        Family::Binary => KeyType::Binary,
    }
}

fn int_cmp(c: Cmp) -> kmsproof_solver::Cmp {
    match c {
        Cmp::LessThan => kmsproof_solver::Cmp::Lt,
        Cmp::LessThanEquals => kmsproof_solver::Cmp::Le,
        Cmp::GreaterThan => kmsproof_solver::Cmp::Gt,
        Cmp::GreaterThanEquals => kmsproof_solver::Cmp::Ge,
        _ => kmsproof_solver::Cmp::Eq,
    }
}

impl Encoder {
    /// The term for one condition (one key under one operator).
    pub(crate) fn condition(&mut self, c: &Condition) -> Result<Term, Unsupported> {
        let family = c.op.spec.family;
        if family == Family::Binary {
            return Err(Unsupported(format!("BinaryEquals on {} is not encoded yet", c.key)));
        }
        let var = self.key_var(&c.key, key_type(family))?;
        check_fit(&var, family, &c.key)?;
        if family == Family::Null {
            let present = self.not_null(&var);
            return Ok(Term::or(c.values.iter().map(|v| match v {
                CondValue::Null(true) => Term::not(present.clone()),
                _ => present.clone(),
            })));
        }
        let atoms = c.values.iter().map(|v| self.atom(c, v)).collect::<Result<Vec<_>, _>>()?;
        if let KeyVar::Int { date: true, .. } = var {
            let bounds = atoms.iter().filter_map(|a| if let Atom::Int(_, k) = a { Some(*k) } else { None });
            self.note_date_bounds(&c.key, bounds);
        }
        Ok(self.apply(c, &var, &atoms))
    }

    /// Whether the key counts as present and not null for `Null`.
    fn not_null(&self, var: &KeyVar) -> Term {
        match var {
            KeyVar::Set { present, v } => Term::and([Term::var(*present), Term::not(Term::set_empty(*v))]),
            KeyVar::Either { present, single, many, .. } => {
                Term::and([Term::var(*present), Term::or([Term::var(*single), Term::not(Term::set_empty(*many))])])
            }
            KeyVar::Derived(d) => {
                self.caller
                    .derived(*d, &Glob::new(vec![kmsproof_solver::Tok::Star], false), self.has_caller_account())
                    .0
            }
            // Cannot fail: only derived keys lack a presence flag, and they matched above.
            v => Term::var(super::present_of(v).expect("non-derived keys have a presence flag")),
        }
    }

    pub(crate) fn has_caller_account(&self) -> Term {
        self.action_in(|a| a.has_key("kms:CallerAccount"))
    }

    fn atom(&self, c: &Condition, v: &CondValue) -> Result<Atom, Unsupported> {
        let cmp = c.op.spec.cmp;
        Ok(match v {
            CondValue::Text(pieces) => {
                let wild = cmp == Cmp::Like;
                let toks = self.resolve_value(pieces, wild)?;
                Atom::Text(match (c.op.spec.family, cmp) {
                    (Family::Arn, _) => arn_like(&toks),
                    (Family::Bool, _) => {
                        let text = crate::base::pattern::tokens_text(&toks);
                        crate::base::value::parse_bool(&text).map(|b| Glob::literal(&b.to_string(), true))
                    }
                    (_, Cmp::Like) => Some(Glob::new(solver_tokens(&toks), false)),
                    (_, Cmp::EqualsIgnoreCase) => Some(Glob::literal(&crate::base::pattern::tokens_text(&toks), true)),
                    _ => Some(Glob::literal(&crate::base::pattern::tokens_text(&toks), false)),
                })
            }
            CondValue::Bool(b) => Atom::Text(Some(Glob::literal(&b.to_string(), true))),
            CondValue::Number(d) => {
                let k = d
                    .scaled(self.scale)
                    .ok_or_else(|| Unsupported(format!("the number in {} is too large to encode", c.path)))?;
                Atom::Int(int_cmp(cmp), k)
            }
            CondValue::Date(at) => Atom::Int(int_cmp(cmp), at.0),
            CondValue::Cidr(block) => {
                let (addr, prefix) = block.parts();
                Atom::Ip(Cidr::new(addr, prefix).ok_or_else(|| Unsupported(format!("CIDR in {}", c.path)))?)
            }
            CondValue::Binary(_) | CondValue::Null(_) => return Err(Unsupported(format!("value in {}", c.path))),
        })
    }

    /// Combines per-value atoms with OR (NOR when negated), then applies missing-key,
    /// `IfExists` and set-operator rules ([OPS], [MULTI]).
    fn apply(&self, c: &Condition, var: &KeyVar, atoms: &[Atom]) -> Term {
        let negated = c.op.spec.negated;
        let flip = |t: Term| if negated { Term::not(t) } else { t };
        match var {
            KeyVar::Either { .. } => self.apply_either(c, var, atoms),
            KeyVar::Set { present, v } => {
                let pred = ElemPred::or(
                    atoms
                        .iter()
                        .map(|a| {
                            if let Atom::Text(Some(g)) = a {
                                ElemPred::matches(g.clone())
                            } else {
                                ElemPred::Const(false)
                            }
                        })
                        .collect(),
                );
                let pred = if negated { !pred } else { pred };
                let p = Term::var(*present);
                let absent = Term::or([Term::not(p.clone()), Term::set_empty(*v)]);
                let body = match c.op.set {
                    Some(SetQualifier::ForAllValues) => Term::or([Term::not(p), Term::set_all(*v, pred)]),
                    Some(SetQualifier::ForAnyValue) => Term::and([p, Term::set_any(*v, pred)]),
                    // A list compared without a set operator: false (reading `list-without-set-operator`).
                    None if self.alternative(Reading::ListWithoutSetOperator) => Term::or([
                        Term::and([Term::not(p.clone()), Term::constant(negated)]),
                        Term::and([p, Term::set_any(*v, pred)]),
                    ]),
                    None => Term::and([Term::not(p), Term::constant(negated)]),
                };
                if c.op.if_exists && self.if_exists_holds_when_absent(c) {
                    Term::or([absent, body])
                } else {
                    body
                }
            }
            single => {
                let (present, matched) = self.single(single, atoms);
                let base = flip(matched);
                // A set operator on a key holding one value (reading `set-operator-on-single-value`).
                let base = if c.op.set.is_some() && self.alternative(Reading::SetOperatorOnSingleValue) {
                    Term::FALSE
                } else {
                    base
                };
                let when_absent = match c.op.set {
                    Some(SetQualifier::ForAllValues) => true,
                    Some(SetQualifier::ForAnyValue) => c.op.if_exists && self.if_exists_holds_when_absent(c),
                    None => c.op.if_exists || negated,
                };
                Term::or([
                    Term::and([present.clone(), base]),
                    Term::and([Term::not(present), Term::constant(when_absent)]),
                ])
            }
        }
    }

    /// A key of unknown shape, as the evaluator reads one value or a list: set operators
    /// over the value(s); without one, a list (even empty) makes the condition false and
    /// absence gives the negated operators' `true`; `IfExists` holds when absent or empty.
    fn apply_either(&self, c: &Condition, var: &KeyVar, atoms: &[Atom]) -> Term {
        let KeyVar::Either { present, single, one, many } = var else { return Term::FALSE };
        let negated = c.op.spec.negated;
        let globs: Vec<&Glob> =
            atoms.iter().filter_map(|a| if let Atom::Text(Some(g)) = a { Some(g) } else { None }).collect();
        let pred = ElemPred::or(globs.iter().map(|g| ElemPred::matches((*g).clone())).collect());
        let pred = if negated { !pred } else { pred };
        let hit = Term::or(globs.iter().map(|g| Term::str_match(*one, (*g).clone())).collect::<Vec<_>>());
        let one_ok = if negated { Term::not(hit) } else { hit };
        let (p, s) = (Term::var(*present), Term::var(*single));
        let single_ok = Term::and([s.clone(), one_ok]);
        let body = match c.op.set {
            Some(SetQualifier::ForAllValues) => Term::or([
                Term::not(p.clone()),
                single_ok,
                Term::and([Term::not(s.clone()), Term::set_all(*many, pred)]),
            ]),
            Some(SetQualifier::ForAnyValue) => Term::and([
                p.clone(),
                Term::or([single_ok, Term::and([Term::not(s.clone()), Term::set_any(*many, pred)])]),
            ]),
            None if self.alternative(Reading::ListWithoutSetOperator) => Term::or([
                Term::and([Term::not(p.clone()), Term::constant(negated)]),
                Term::and([p.clone(), single_ok]),
                Term::and([p.clone(), Term::not(s.clone()), Term::set_any(*many, pred)]),
            ]),
            None => Term::or([
                Term::and([Term::not(p.clone()), Term::constant(negated)]),
                Term::and([p.clone(), single_ok]),
            ]),
        };
        if c.op.if_exists && self.if_exists_holds_when_absent(c) {
            let absent = Term::or([Term::not(p), Term::and([Term::not(s), Term::set_empty(*many)])]);
            Term::or([absent, body])
        } else {
            body
        }
    }

    /// Whether `IfExists` makes the condition true on an absent key: always, except under
    /// `ForAnyValue:`, where the chosen reading (`foranyvalue-ifexists-absent`) is false.
    fn if_exists_holds_when_absent(&self, c: &Condition) -> bool {
        c.op.set != Some(SetQualifier::ForAnyValue) || self.alternative(Reading::ForAnyValueIfExistsAbsent)
    }

    /// Presence and "some policy value matches" for a single-valued key.
    fn single(&self, var: &KeyVar, atoms: &[Atom]) -> (Term, Term) {
        match var {
            KeyVar::Derived(d) => {
                let has = self.has_caller_account();
                let present =
                    self.caller.derived(*d, &Glob::new(vec![kmsproof_solver::Tok::Star], false), has.clone()).0;
                let matched = atoms
                    .iter()
                    .map(|a| match a {
                        Atom::Text(Some(g)) => self.caller.derived(*d, g, has.clone()).1,
                        _ => Term::FALSE,
                    })
                    .collect::<Vec<_>>();
                (present, Term::or(matched))
            }
            KeyVar::Str { present, v } => {
                let m = atoms.iter().map(|a| match a {
                    Atom::Text(Some(g)) => Term::str_match(*v, g.clone()),
                    _ => Term::FALSE,
                });
                (Term::var(*present), Term::or(m.collect::<Vec<_>>()))
            }
            KeyVar::Int { present, v, .. } => {
                let m = atoms.iter().map(|a| match a {
                    Atom::Int(cmp, k) => Term::int_cmp(*v, *cmp, *k),
                    _ => Term::FALSE,
                });
                (Term::var(*present), Term::or(m.collect::<Vec<_>>()))
            }
            KeyVar::Ip { present, v } => {
                let m = atoms.iter().map(|a| match a {
                    Atom::Ip(c) => Term::ip_in(*v, *c),
                    _ => Term::FALSE,
                });
                (Term::var(*present), Term::or(m.collect::<Vec<_>>()))
            }
            KeyVar::Set { .. } | KeyVar::Either { .. } => (Term::FALSE, Term::FALSE),
        }
    }
}

/// A key holds values of one type; an operator of another family is not encoded yet.
fn check_fit(var: &KeyVar, family: Family, key: &str) -> Result<(), Unsupported> {
    let ok = matches!(
        (var, family),
        (_, Family::Null)
            | (
                KeyVar::Str { .. } | KeyVar::Set { .. } | KeyVar::Either { .. } | KeyVar::Derived(_),
                Family::String | Family::Arn | Family::Bool,
            )
            | (KeyVar::Int { date: false, .. }, Family::Numeric)
            | (KeyVar::Int { date: true, .. }, Family::Date)
            | (KeyVar::Ip { .. }, Family::Ip)
    );
    if ok {
        Ok(())
    } else {
        Err(Unsupported(format!(
            "{key} is compared with a {family:?} operator but holds values of another type; not encoded yet"
        )))
    }
}
