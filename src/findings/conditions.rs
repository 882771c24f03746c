//! The conditions a finding can keep: every condition of an `Allow` statement of the
//! inputs, and the negation of every condition of a `Deny` statement (a request a `Deny`
//! with `StringNotEquals aws:SourceVpc vpc-1` lets through has `StringEquals aws:SourceVpc
//! vpc-1`). These are candidates only: a finding keeps one when Z3 proves that every
//! allowed request of its cell meets it and the cell alone does not. Candidates are the
//! policies' own values, as a reviewer reads them — the stratified abstraction's "values
//! the policy mentions".

use crate::base::pattern::pieces_text;
use crate::base::value::{iso8601, Decimal};
use crate::model::inputs::Inputs;
use crate::model::policy::operator::{OpSpec, SetQualifier, OPERATORS};
use crate::model::policy::{CondValue, Condition, Effect, Statement};

/// One candidate condition, as a shape of its own.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// As a reviewer reads it: `StringEquals kms:ViaService ec2.us-east-1.amazonaws.com`.
    pub text: String,
    /// The condition.
    pub condition: Condition,
    /// `principal *`, `action *`, `resource *` and this condition alone.
    pub shape: Statement,
}

/// The candidates of `inputs` (duplicates once), on the shape of `base` (any caller, any action).
pub fn candidates(inputs: &Inputs, base: &Statement) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = vec![];
    for st in inputs.policies().flat_map(|p| &p.statements) {
        for c in &st.conditions {
            let c = match st.effect {
                Effect::Allow => Some(c.clone()),
                Effect::Deny => negated(c),
            };
            let Some(c) = c else { continue };
            let text = render(&c);
            if out.iter().any(|x| x.text == text) {
                continue;
            }
            let shape = Statement { conditions: vec![c.clone()], ..base.clone() };
            out.push(Candidate { text, condition: c, shape });
        }
    }
    out
}

/// The condition that holds exactly when `c` does not, when one operator says it: a plain
/// operator (no set qualifier, no `IfExists`) and its negated twin, which is true on a
/// missing key where the original is false; `Bool` and `Null` with the other value.
fn negated(c: &Condition) -> Option<Condition> {
    if c.op.set.is_some() || c.op.if_exists {
        return None;
    }
    let mut out = c.clone();
    let flip = |vs: &[CondValue]| -> Option<Vec<CondValue>> {
        match vs {
            [CondValue::Bool(b)] => Some(vec![CondValue::Bool(!b)]),
            [CondValue::Null(b)] => Some(vec![CondValue::Null(!b)]),
            _ => None,
        }
    };
    match c.op.spec.name {
        "Bool" | "Null" => out.values = flip(&c.values)?,
        _ => out.op.spec = twin(c.op.spec)?,
    }
    Some(out)
}

/// The operator of the same family and comparison with the other negation.
fn twin(spec: OpSpec) -> Option<OpSpec> {
    OPERATORS.iter().copied().find(|o| {
        o.family == spec.family && o.cmp == spec.cmp && o.negated != spec.negated
        // ArnEquals and ArnLike compare alike; keep the name's own spelling.
        && (o.name.contains("Equals") == spec.name.contains("Equals"))
    })
}

/// `OPERATOR key value, value…` as written in a policy.
pub fn render(c: &Condition) -> String {
    let set = match c.op.set {
        Some(SetQualifier::ForAllValues) => "ForAllValues:",
        Some(SetQualifier::ForAnyValue) => "ForAnyValue:",
        None => "",
    };
    let exists = if c.op.if_exists { "IfExists" } else { "" };
    let values: Vec<String> = c.values.iter().map(value_text).collect();
    format!("{set}{}{exists} {} {}", c.op.spec.name, c.key, values.join(", "))
}

/// One policy value as written.
pub fn value_text(v: &CondValue) -> String {
    match v {
        CondValue::Text(p) => pieces_text(p),
        CondValue::Number(d) => decimal_text(d),
        CondValue::Date(t) => iso8601(*t),
        CondValue::Bool(b) | CondValue::Null(b) => b.to_string(),
        CondValue::Binary(b) => format!("<{} bytes>", b.len()),
        CondValue::Cidr(c) => {
            let (a, p) = c.parts();
            format!("{a}/{p}")
        }
    }
}

fn decimal_text(d: &Decimal) -> String {
    let s = d.scale();
    match d.scaled(s) {
        Some(v) if s == 0 => v.to_string(),
        Some(v) => {
            let p = 10i128.pow(s as u32);
            let sign = if v < 0 { "-" } else { "" };
            format!("{sign}{}.{:0width$}", (v / p).abs(), (v % p).abs(), width = s)
        }
        None => format!("{d:?}"),
    }
}
