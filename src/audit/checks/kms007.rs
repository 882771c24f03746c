//! KMS007 — a multi-valued key without a set operator, or `ForAllValues` satisfied by a
//! missing key.
//!
//! Why it matters: a multi-valued key without `ForAllValues`/`ForAnyValue` is evaluated in
//! undocumented ways, and `ForAllValues` in an Allow is true when the key is missing or
//! empty, so the statement allows requests that carry no value at all.
//!
//! What it asks (structural): the parser's set-operator warnings, and every `ForAllValues`
//! condition of an Allow statement that can apply to a KMS action whose key nothing
//! requires to be present ([`requires_presence`]) and the actions do not always carry
//! ([`always_present`]).
//!
//! Fix: use `ForAnyValue:`/`ForAllValues:` with multi-valued keys; pair `ForAllValues` in
//! an Allow with `"Null": {KEY: "false"}`.

use super::{matched_kms_actions, may_match_kms, parser_warnings, CheckInfo, Scope};
use crate::audit::{Ctx, Finding, Severity};
use crate::model::policy::{Effect, Statement};
use crate::prove::Mismatch;

pub const CHECK: CheckInfo = CheckInfo {
    id: "KMS007",
    name: "set-operator-misuse",
    severity: Severity::Medium,
    title: "Multi-valued key without set operator, or ForAllValues satisfied by a missing key",
    rationale: "A multi-valued key without ForAllValues/ForAnyValue is evaluated in undocumented ways, and ForAllValues in an Allow is true when the key is missing or empty (checked on statements that can allow a KMS action).",
    fix: "Use ForAnyValue:/ForAllValues: with multi-valued keys; pair ForAllValues in an Allow with \"Null\": {KEY: \"false\"}.",
    method: "structural (parser diagnostics)",
    scope: Scope::Both,
    example: corpus_example!("kms007-pos.json", "kms007-neg.json"),
    run: Some(kms007),
};

fn kms007(ctx: &Ctx) -> Result<Vec<Finding>, Mismatch> {
    let mut out = parser_warnings(ctx, "KMS007", &[" is multi-valued", " is single-valued"]);
    // Statements of other services are out of scope: `ForAllValues` on aws:TagKeys there is
    // AWS's own pattern ("no tags" is meant to pass), and no KMS request is decided by it.
    for st in ctx.policy.statements.iter().filter(|s| s.effect == Effect::Allow && may_match_kms(s)) {
        for c in st
            .conditions
            .iter()
            .filter(|c| c.op.set == Some(crate::model::policy::operator::SetQualifier::ForAllValues))
        {
            if !requires_presence(st, &c.key) && !always_present(st, &c.key) {
                out.push(ctx.finding("KMS007", ctx.pos(c.pos), format!("{} {} {}: ForAllValues in an Allow is true when {} is missing or empty; nothing requires the key to be present", st.label(), c.op.canonical(), c.key, c.key)).in_statement(st.index));
            }
        }
    }
    Ok(out)
}

/// Whether every KMS action of the statement that carries `key` always carries it (a
/// required request parameter, [`crate::facts::kms_rules::KEYS_ALWAYS_PRESENT`]): then
/// `ForAllValues` cannot be satisfied by a missing key.
fn always_present(st: &Statement, key: &str) -> bool {
    let Some((_, actions)) =
        crate::facts::kms_rules::KEYS_ALWAYS_PRESENT.iter().find(|(k, _)| k.eq_ignore_ascii_case(key))
    else {
        return false;
    };
    if st.action.negated {
        return false;
    }
    let carrying: Vec<_> =
        st.action.patterns.iter().filter_map(|p| matched_kms_actions(p)).flatten().filter(|a| a.has_key(key)).collect();
    !carrying.is_empty() && carrying.iter().all(|a| actions.contains(&a.name.as_str()))
}

/// Whether another condition of the statement is false when `key` is missing.
fn requires_presence(st: &Statement, key: &str) -> bool {
    st.conditions.iter().filter(|c| c.key.eq_ignore_ascii_case(key)).any(|c| match (&c.op, c.values.as_slice()) {
        (op, [crate::model::policy::CondValue::Null(false)]) if op.spec.name == "Null" => true,
        (op, _) => op.set == Some(crate::model::policy::operator::SetQualifier::ForAnyValue) && !op.spec.negated,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_the_failing_example_and_passes_the_other() {
        super::super::assert_examples(&super::CHECK);
    }
}
