//! KMS009 — an unknown action or condition key, or a key that cannot exist for the
//! statement's actions.
//!
//! Why it matters: an unknown action never matches, and a condition on a key the
//! statement's actions never carry makes the statement never apply (Allow) or never deny
//! (Deny).
//!
//! What it asks (structural, from the service authorization tables): the parser's
//! unknown-action and unknown-key warnings, and every `kms:` condition key none of the
//! statement's KMS actions carries, unless its operator is true for a missing key
//! ([`op_true_when_missing`]).
//!
//! Fix: correct the spelling, or move the condition to a statement whose actions carry the
//! key (see the KMS condition-key table).

use super::{matched_kms_actions, parser_warnings, CheckInfo, Scope};
use crate::audit::{Ctx, Finding, Severity};
use crate::facts::catalog::catalog;
use crate::model::policy::operator::Operator;
use crate::model::policy::Effect;
use crate::prove::Mismatch;

pub const CHECK: CheckInfo = CheckInfo {
    id: "KMS009",
    name: "unknown-or-inapplicable",
    severity: Severity::Low,
    title: "Unknown action or condition key, or key that cannot exist for the actions",
    rationale: "An unknown action never matches, and a condition on a key the statement's actions never carry makes the statement never apply (Allow) or never deny (Deny).",
    fix: "Correct the spelling, or move the condition to a statement whose actions carry the key (see the KMS condition-key table).",
    method: "structural (SAR tables)",
    scope: Scope::Both,
    example: corpus_example!("kms009-pos.json", "kms009-neg.json"),
    run: Some(kms009),
};

fn kms009(ctx: &Ctx) -> Result<Vec<Finding>, Mismatch> {
    let mut out = parser_warnings(ctx, "KMS009", &["matches no KMS action", "unknown condition key"]);
    for st in ctx.policy.statements.iter().filter(|s| !s.action.negated) {
        let actions: Vec<_> = st.action.patterns.iter().filter_map(|p| matched_kms_actions(p)).flatten().collect();
        let other_services = st.action.patterns.iter().any(|p| matched_kms_actions(p).is_none());
        if actions.is_empty() && other_services {
            continue;
        }
        for c in st
            .conditions
            .iter()
            .filter(|c| c.key.to_ascii_lowercase().starts_with("kms:") && catalog().key(&c.key).is_some())
        {
            if !actions.iter().any(|a| a.has_key(&c.key)) && !op_true_when_missing(&c.op) {
                let effect =
                    if st.effect == Effect::Allow { "the statement never applies" } else { "the Deny never applies" };
                out.push(
                    ctx.finding(
                        "KMS009",
                        ctx.pos(c.pos),
                        format!(
                            "{} {} {}: no action of the statement carries {}, so {effect}",
                            st.label(),
                            c.op.canonical(),
                            c.key,
                            c.key
                        ),
                    )
                    .in_statement(st.index),
                );
            }
        }
    }
    Ok(out)
}

/// Operators that are true for a missing key (negated operators, `IfExists`, `ForAllValues`,
/// `Null: true`): a key that never exists does not disable them.
fn op_true_when_missing(op: &Operator) -> bool {
    op.spec.negated
        || op.if_exists
        || op.set == Some(crate::model::policy::operator::SetQualifier::ForAllValues)
        || op.spec.name == "Null"
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_the_failing_example_and_passes_the_other() {
        super::super::assert_examples(&super::CHECK);
    }
}
