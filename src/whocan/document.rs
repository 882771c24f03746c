//! The policies and properties who-can writes itself — a hop's request shape, "any
//! identity policy", a trust policy rewritten to name the caller, the last hop's
//! `sometimes` property — built as values and read by the policy model's statement
//! reader, never printed and parsed back: what the program composes, it reads as data.
//! (The replay of a counterexample does go through request text, on purpose: it is the
//! independent check of the decoder.)

use crate::base::diag::Sink;
use crate::base::json::Json;
use crate::base::pattern::pieces;
use crate::model::policy::{read_property_principals, read_statement, Matcher, Policy, PolicyKind, Statement};
use crate::model::property::{Expect, Property};
use serde_json::Value;

/// The only `Version` who-can writes (policy variables substituted).
const VERSION: &str = "2012-10-17";

/// A statement who-can wrote does not read: it names something from the dumps that a
/// policy cannot say (a user named `a*b` as a principal). The question it was for is
/// undecided, with this as the reason; never a panic (issue 20), never skipped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unwritable(pub String);

/// A one-statement policy (`statement` as a policy's `Statement[0]`), named `source`.
pub fn policy(statement: &Value, source: &str, kind: PolicyKind) -> Result<Policy, Unwritable> {
    Ok(Policy {
        source: source.into(),
        kind,
        version: Some(VERSION.into()),
        id: None,
        statements: vec![statement_of(statement, source, "Statement[0]")?],
        warnings: Vec::new(),
    })
}

/// A trust policy of one statement, scoped to the role it belongs to.
pub fn trust(statement: &Value, source: &str, role_arn: &str) -> Result<Policy, Unwritable> {
    let mut p = policy(statement, source, PolicyKind::Any)?;
    scope_to(&mut p, role_arn);
    Ok(p)
}

/// Makes every statement of a trust policy about `role_arn` (a trust policy has no
/// `Resource`: it is about the role it belongs to).
pub fn scope_to(trust: &mut Policy, role_arn: &str) {
    for st in &mut trust.statements {
        st.resource = Some(Matcher { negated: false, patterns: vec![pieces(role_arn, false)] });
    }
}

/// A `sometimes` property of any principal (`"*"`) on any resource: `action` under
/// `condition`, read as a property file's entry is.
pub fn sometimes(name: String, action: &str, condition: &Value) -> Result<Property, Unwritable> {
    let statement = serde_json::json!({"Effect": "Allow", "Action": action, "Condition": condition, "Resource": "*"});
    let mut shape = statement_of(&statement, "<who-can>", "[0]")?;
    let mut sink = Sink::new("<who-can>");
    let principal = read_property_principals(&Json::from(&Value::from("*")), false, "[0].principal", &mut sink);
    if sink.has_errors() {
        return Err(unwritable("<who-can>", sink));
    }
    shape.principal = Some(principal);
    Ok(Property {
        name,
        expect: Expect::Sometimes,
        shape,
        expected: None,
        expected_rests_on: None,
        resource_given: false,
    })
}

fn statement_of(statement: &Value, source: &str, path: &str) -> Result<Statement, Unwritable> {
    let mut sink = Sink::new(source);
    let st = read_statement(&Json::from(statement), 0, path, true, &mut sink);
    match st {
        Some(st) if !sink.has_errors() => Ok(st),
        _ => Err(unwritable(source, sink)),
    }
}

fn unwritable(source: &str, sink: Sink) -> Unwritable {
    Unwritable(format!("{source} cannot be written as a policy: {}", crate::base::diag::Error::Invalid(sink.items)))
}

/// Condition keys whose values come from tags: a role session's principal tags include
/// the session tags its assumer passed, and passing them needs `sts:TagSession` in the
/// trust policy (IAM User Guide, "Passing session tags in AWS STS"); a user's come from
/// its IAM tags, which the dumps are not read for. who-can does not model either, so an
/// answer that needs one of them is undecided.
pub fn is_tag_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.starts_with("aws:principaltag/") || k.starts_with("aws:requesttag/") || k == "aws:tagkeys"
}

/// The tag keys (see [`is_tag_key`]) the policies' conditions test, as written.
pub fn tag_keys<'a>(policies: impl Iterator<Item = &'a Policy>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in policies.flat_map(|p| &p.statements).flat_map(|s| &s.conditions) {
        if is_tag_key(&c.key) && !out.iter().any(|k| k.eq_ignore_ascii_case(&c.key)) {
            out.push(c.key.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn allow_all_reads() {
        assert_eq!(super::super::kms::allow_all().statements.len(), 1);
    }

    #[test]
    fn a_principal_no_policy_can_name_is_an_error_not_a_panic() {
        let st = serde_json::json!({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:user/a*b"},
            "Action": "sts:AssumeRole"});
        let e = super::trust(&st, "role/R trust policy as rewritten", "arn:aws:iam::111122223333:role/R").unwrap_err();
        assert!(e.0.contains("malformed principal ARN"), "{e}");
    }
}
