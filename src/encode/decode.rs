//! Models back to requests, in the exact format `kmsproof eval --request` reads.

use super::{Encoder, KeyVar};
use crate::facts::catalog::catalog;
use kmsproof_solver::{Glob, Model};
use serde_json::{json, Map, Value};

const EC_PREFIX: &str = "kms:encryptioncontext:";

/// The request a model describes. Derived keys are left out: the evaluator derives them.
pub fn decode(enc: &Encoder, m: &Model) -> Value {
    let action = enc.action_text(m);
    let on_key = action.strip_prefix("kms:").and_then(|a| catalog().kms_action(a)).is_some_and(|a| a.on_key);
    let mut out = Map::new();
    out.insert("principal".into(), json!(principal(m.str(enc.caller.caller), m.str(enc.caller.session))));
    out.insert("action".into(), json!(action));
    if let Some(r) = enc.resource {
        out.insert("resource".into(), json!(m.str(r)));
    } else if on_key {
        out.insert("resource".into(), json!(enc.key_arn));
    }
    let mut ctx = context(enc, m);
    if let Some(role_arn) = role_arn(m.str(enc.caller.caller)) {
        // A session ARN does not carry the role's path: the request says it
        // (`Caller::with_principal_arn`), so no simulator has to guess it.
        ctx.insert("aws:PrincipalArn".into(), json!(role_arn));
    }
    if action == "kms:CreateGrant" && !enc.keys.contains_key("kms:grantoperations") {
        // Invariant `create-grant-operations`: no formula reads the key, but a real request has it.
        ctx.insert("kms:GrantOperations".into(), json!(["Decrypt"]));
    }
    out.insert("context".into(), Value::Object(ctx));
    if let (Some(v), true) =
        (enc.alias, action.strip_prefix("kms:").and_then(|a| catalog().kms_action(a)).is_some_and(|a| a.on_alias))
    {
        out.insert("alias".into(), json!(m.str(v)));
    }
    if action == "kms:RetireGrant" {
        // The invariants range a RetireGrant over the grants given; an encoder that never
        // encoded an authorization (one identity policy alone) does not read the grant.
        let id = enc.grant.map_or("no-such-grant", |v| m.str(v));
        out.insert("grant_id".into(), json!(id));
    }
    Value::Object(out)
}

/// The request principal: the caller variable holds a role ARN (path included) for a
/// session of the role, which AWS names by the session ARN.
fn principal(caller: &str, session: &str) -> String {
    if let Some([_, partition, "iam", _, account, resource]) = crate::base::arn::split(caller) {
        if let Some(role) = resource.strip_prefix("role/").and_then(|r| r.rsplit('/').next()) {
            return format!("arn:{partition}:sts::{account}:assumed-role/{role}/{session}");
        }
    }
    caller.to_string()
}

/// The caller's role ARN, path included, when the caller is a role's session.
fn role_arn(caller: &str) -> Option<&str> {
    let [_, _, "iam", _, _, resource] = crate::base::arn::split(caller)? else { return None };
    resource.starts_with("role/").then_some(caller)
}

fn context(enc: &Encoder, m: &Model) -> Map<String, Value> {
    let ec_keys: Vec<String> = match enc.keys.get("kms:encryptioncontextkeys") {
        Some((_, KeyVar::Set { present, v })) if m.bool(*present) => m.set(*v).to_vec(),
        _ => vec![],
    };
    let mut ctx = Map::new();
    let mut ec_written: Vec<String> = Vec::new();
    for (lower, (name, var)) in &enc.keys {
        let Some(value) = value(enc, lower, var, m) else { continue };
        let name = match lower.strip_prefix(EC_PREFIX) {
            Some(k) => {
                // Spell the pair's key as the request's kms:EncryptionContextKeys does.
                let spelled = ec_keys
                    .iter()
                    .find(|e| Glob::literal(k, true).matches(e))
                    .cloned()
                    // `lower` is `name` ASCII-lowercased: the prefix ends on a character boundary.
                    .unwrap_or_else(|| name[EC_PREFIX.len()..].to_string());
                ec_written.push(spelled.to_ascii_lowercase());
                format!("kms:EncryptionContext:{spelled}")
            }
            None => name.clone(),
        };
        ctx.insert(name, value);
    }
    // Every listed encryption-context key carries a value in a real request.
    for e in &ec_keys {
        if !ec_written.contains(&e.to_ascii_lowercase()) {
            ctx.insert(format!("kms:EncryptionContext:{e}"), json!("example"));
        }
    }
    ctx
}

/// A key's value as AWS would send it (`lower`: the key, lower case).
fn value(enc: &Encoder, lower: &str, var: &KeyVar, m: &Model) -> Option<Value> {
    Some(match var {
        KeyVar::Derived(_) => return None,
        KeyVar::Str { present, v } => {
            if !m.bool(*present) {
                return None;
            }
            json!(m.str(*v))
        }
        KeyVar::Either { present, single, one, many } => {
            if !m.bool(*present) {
                return None;
            }
            if m.bool(*single) {
                json!(m.str(*one))
            } else {
                json!(m.set(*many))
            }
        }
        KeyVar::Set { present, v } => {
            if !m.bool(*present) {
                return None;
            }
            json!(m.set(*v))
        }
        KeyVar::Int { present, v, date } => {
            if !m.bool(*present) {
                return None;
            }
            let k = m.int(*v);
            if *date {
                json!(date_text(lower, enc.whole_second(lower, k)))
            } else {
                json!(scaled_text(k, enc.scale))
            }
        }
        KeyVar::Ip { present, v } => {
            if !m.bool(*present) {
                return None;
            }
            json!(m.ip(*v).to_string())
        }
    })
}

/// A date key's value (`nanos` since the epoch) as AWS sends it: `aws:EpochTime` in epoch
/// seconds (an integer unless the model needs a fraction), every other date key in ISO 8601
/// (`aws:CurrentTime`, `aws:TokenIssueTime`). Four-digit epoch seconds would read as a
/// year, so they print in ISO 8601 too.
fn date_text(lower: &str, nanos: i128) -> String {
    let seconds = scaled_text(nanos, 9);
    if lower == "aws:epochtime" && seconds.len() != 4 {
        return seconds;
    }
    crate::base::value::iso8601(crate::base::value::Instant(nanos))
}

/// `k / 10^scale` as decimal text.
fn scaled_text(k: i128, scale: usize) -> String {
    let digits = format!("{:0>width$}", k.unsigned_abs(), width = scale + 1);
    let (int, frac) = digits.split_at(digits.len() - scale);
    let frac = frac.trim_end_matches('0');
    let sign = if k < 0 { "-" } else { "" };
    if frac.is_empty() {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn scaled_numbers_print_exactly() {
        assert_eq!(super::scaled_text(125, 2), "1.25");
        assert_eq!(super::scaled_text(-5, 1), "-0.5");
        assert_eq!(super::scaled_text(70, 1), "7");
        assert_eq!(super::scaled_text(0, 0), "0");
    }

    #[test]
    fn dates_print_as_aws_sends_them() {
        assert_eq!(super::date_text("aws:currenttime", 1_893_455_999_000_000_000), "2029-12-31T23:59:59Z");
        assert_eq!(super::date_text("aws:epochtime", 1_893_455_999_000_000_000), "1893455999");
        assert_eq!(super::date_text("aws:epochtime", 1_893_455_998_999_999_999), "1893455998.999999999");
        assert_eq!(super::date_text("aws:epochtime", 1_234_000_000_000), "1970-01-01T00:20:34Z");
    }
}
