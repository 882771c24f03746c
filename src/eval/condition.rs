//! Condition evaluation on a concrete request (`semantics.md` §3).

use crate::pattern::{arn_match, glob_match, resolve, tokens_text, Piece};
use crate::policy::operator::{Cmp, Family, SetQualifier};
use crate::policy::{CondValue, Condition};
use crate::request::{Context, CtxValue};
use crate::value::{parse_base64, parse_bool, parse_date, parse_ip, Decimal};
use std::cmp::Ordering;

/// The outcome of one condition, with a note when it rests on undocumented behaviour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CondOutcome {
    pub holds: bool,
    pub note: Option<String>,
}

impl CondOutcome {
    fn plain(holds: bool) -> CondOutcome {
        CondOutcome { holds, note: None }
    }
}

/// Looks up a single-valued key for a policy variable; multi-valued keys are never
/// variables ([VARS]).
pub fn variable_lookup(ctx: &Context) -> impl Fn(&str) -> Option<String> + '_ {
    move |key| match ctx.get(key) {
        Some(CtxValue::One(v)) => Some(v.clone()),
        _ => None,
    }
}

/// Evaluates one key under one operator.
pub fn evaluate(c: &Condition, ctx: &Context) -> CondOutcome {
    let value = ctx.get(&c.key);
    if c.op.spec.family == Family::Null {
        let present = matches!(value, Some(CtxValue::One(_)))
            || matches!(value, Some(CtxValue::Many(v)) if !v.is_empty());
        return CondOutcome::plain(
            c.values
                .iter()
                .any(|v| matches!(v, CondValue::Null(want_absent) if *want_absent != present)),
        );
    }
    let request_values: Option<Vec<&str>> = match value {
        None => None,
        Some(CtxValue::One(v)) => Some(vec![v.as_str()]),
        Some(CtxValue::Many(vs)) => Some(vs.iter().map(String::as_str).collect()),
    };
    let absent = request_values.as_ref().map_or(true, |v| v.is_empty());
    if c.op.if_exists && absent {
        return CondOutcome::plain(true);
    }
    let one = |r: &str| value_matches(c, r, ctx);
    match (c.op.set, request_values) {
        (Some(SetQualifier::ForAllValues), vs) => CondOutcome::plain(vs.unwrap_or_default().iter().all(|r| one(r))),
        (Some(SetQualifier::ForAnyValue), vs) => CondOutcome::plain(vs.unwrap_or_default().iter().any(|r| one(r))),
        (None, None) => CondOutcome::plain(c.op.spec.negated),
        (None, Some(_)) if matches!(value, Some(CtxValue::One(_))) => CondOutcome::plain(one(&value_text(value))),
        (None, Some(_)) => CondOutcome {
            holds: false,
            note: Some(format!(
                "{} carries a list but {} has no ForAllValues:/ForAnyValue:; AWS does not document the result, evaluated as false (as iam-simulate does)",
                c.key,
                c.op.canonical()
            )),
        },
    }
}

fn value_text(v: Option<&CtxValue>) -> String {
    match v {
        Some(CtxValue::One(s)) => s.clone(),
        _ => String::new(),
    }
}

/// Whether one request value satisfies the base operator against the policy values:
/// OR over the values, NOR for negated operators.
fn value_matches(c: &Condition, r: &str, ctx: &Context) -> bool {
    let any = c
        .values
        .iter()
        .any(|p| compare(c.op.spec.family, c.op.spec.cmp, r, p, ctx));
    any != c.op.spec.negated
}

fn compare(family: Family, cmp: Cmp, r: &str, p: &CondValue, ctx: &Context) -> bool {
    match p {
        CondValue::Text(pieces) => compare_text(family, cmp, r, pieces, ctx),
        CondValue::Number(want) => Decimal::parse(r).is_some_and(|got| ordered(cmp, got.cmp(want))),
        CondValue::Date(want) => parse_date(r).is_some_and(|(got, _)| ordered(cmp, got.cmp(want))),
        CondValue::Bool(want) => parse_bool(r) == Some(*want),
        CondValue::Binary(want) => parse_base64(r).as_ref() == Some(want),
        CondValue::Cidr(block) => parse_ip(r).is_some_and(|ip| block.contains(ip)),
        CondValue::Null(_) => false,
    }
}

fn compare_text(family: Family, cmp: Cmp, r: &str, pieces: &[Piece], ctx: &Context) -> bool {
    let lookup = variable_lookup(ctx);
    let wild = cmp == Cmp::Like;
    let Some(toks) = resolve(pieces, wild, &lookup) else {
        return false;
    };
    match (family, cmp) {
        (Family::Arn, _) => arn_match(&toks, r),
        (Family::Bool, _) => {
            parse_bool(&tokens_text(&toks)).is_some_and(|want| parse_bool(r) == Some(want))
        }
        (_, Cmp::Like) => glob_match(&toks, r),
        (_, Cmp::EqualsIgnoreCase) => tokens_text(&toks).to_lowercase() == r.to_lowercase(),
        _ => tokens_text(&toks) == r,
    }
}

fn ordered(cmp: Cmp, ord: Ordering) -> bool {
    match cmp {
        Cmp::Equals => ord == Ordering::Equal,
        Cmp::LessThan => ord == Ordering::Less,
        Cmp::LessThanEquals => ord != Ordering::Greater,
        Cmp::GreaterThan => ord == Ordering::Greater,
        Cmp::GreaterThanEquals => ord != Ordering::Less,
        _ => false,
    }
}
