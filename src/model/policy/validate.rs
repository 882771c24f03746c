//! Checks on a parsed policy: errors for what AWS rejects given the policy's role, and
//! warnings for what AWS accepts but is almost surely a mistake.

use super::operator::Operator;
use super::{Condition, Policy, PolicyKind, Statement};
use crate::base::diag::Sink;
use crate::base::pattern::{glob_match, glob_tokens, Piece};
use crate::base::suggest::nearest;
use crate::facts::catalog::{catalog, KeyInfo};

pub(super) fn check(policy: &Policy, sink: &mut Sink) {
    for st in &policy.statements {
        let path = format!("Statement[{}]", st.index);
        check_role(policy.kind, st, &path, sink);
        check_actions(st, &path, sink);
        for c in &st.conditions {
            check_condition(c, sink);
        }
    }
}

fn check_role(kind: PolicyKind, st: &Statement, path: &str, sink: &mut Sink) {
    match kind {
        PolicyKind::KeyPolicy if st.principal.is_none() => {
            sink.error(st.pos, path, "a key-policy statement needs \"Principal\" or \"NotPrincipal\"")
        }
        PolicyKind::Identity | PolicyKind::Scp | PolicyKind::Boundary if st.principal.is_some() => sink.error(
            st.pos,
            path,
            format!(
                "a {} cannot have \"Principal\" or \"NotPrincipal\" (it applies to the principal it is attached to){}",
                kind.label(),
                if kind == PolicyKind::Identity { "; this looks like a key policy: use --key-policy" } else { "" }
            ),
        ),
        _ => {}
    }
    if st.resource.is_none() && kind != PolicyKind::Any {
        sink.warn(
            st.pos,
            path,
            "no \"Resource\" or \"NotResource\": AWS KMS accepts such a statement but it applies to nothing",
        );
    }
}

fn text_of(pattern: &[Piece]) -> String {
    pattern.iter().map(|p| if let Piece::Text(t) = p { t.as_str() } else { "" }).collect()
}

fn check_actions(st: &Statement, path: &str, sink: &mut Sink) {
    let cat = catalog();
    for (i, pattern) in st.action.patterns.iter().enumerate() {
        let text = text_of(pattern);
        let Some((svc, name)) = text.split_once(':') else {
            continue;
        };
        if !svc.eq_ignore_ascii_case("kms") {
            continue;
        }
        let wildcard = name.contains(['*', '?']);
        let known = if wildcard {
            let pattern = glob_tokens(&name.to_ascii_lowercase());
            cat.kms_actions().any(|a| glob_match(&pattern, &a.lower_name))
        } else {
            cat.kms_action(name).is_some()
        };
        if !known {
            // Typos get a suggestion; wildcard patterns that match nothing do not.
            let hint = if wildcard { None } else { nearest(name, cat.kms_actions().map(|a| a.name.as_str())) };
            let hint = hint.map(|n| format!(" (did you mean kms:{n}?)")).unwrap_or_default();
            sink.warn(
                st.action_pos.get(i).copied().unwrap_or(st.pos),
                &format!("{path}.Action"),
                format!("\"{text}\" matches no KMS action{hint}; the statement never applies to it"),
            );
        }
    }
}

fn check_condition(c: &Condition, sink: &mut Sink) {
    let lower = c.key.to_ascii_lowercase();
    let Some(info) = catalog().key(&c.key) else {
        if lower.starts_with("kms:") || lower.starts_with("aws:") {
            let hint = nearest(&c.key, known_key_names()).map(|n| format!(" (did you mean {n}?)")).unwrap_or_default();
            sink.warn(c.pos, &c.path, format!("unknown condition key \"{}\"{hint}; requests never carry it", c.key));
        }
        return;
    };
    check_key_use(c, &c.op, info, sink);
}

fn check_key_use(c: &Condition, op: &Operator, info: &KeyInfo, sink: &mut Sink) {
    if !op.fits(info.ty) {
        sink.warn(c.pos, &c.path, format!("{} is a {:?} key but {} is a {:?} operator; IAM policy validation flags this, and the result depends on how each request value reads as {:?}", c.key, info.ty, op.spec.name, op.spec.family, op.spec.family));
    }
    if info.multi && op.set.is_none() && op.spec.name != "Null" {
        sink.warn(
            c.pos,
            &c.path,
            format!(
                "{} is multi-valued: use ForAllValues: or ForAnyValue: (AWS does not document how {} treats a list)",
                c.key, op.spec.name
            ),
        );
    }
    if !info.multi && op.set.is_some() {
        let extra = if c.key.to_ascii_lowercase().starts_with("kms:encryptioncontext:") {
            "; KMS rejects this with OverlyPermissiveCondition"
        } else {
            ""
        };
        sink.warn(c.pos, &c.path, format!("{} is single-valued: a set operator makes the condition over-permissive (a missing key satisfies ForAllValues){extra}", c.key));
    }
}

fn known_key_names() -> Vec<&'static str> {
    const COMMON: &[&str] = &[
        "kms:CallerAccount",
        "kms:ViaService",
        "kms:EncryptionContextKeys",
        "kms:GrantOperations",
        "kms:GrantIsForAWSResource",
        "kms:EncryptionAlgorithm",
        "kms:BypassPolicyLockoutSafetyCheck",
        "kms:ReEncryptOnSameKey",
        "kms:KeySpec",
        "kms:KeyUsage",
        "kms:RequestAlias",
        "kms:ResourceAliases",
        "kms:GranteePrincipal",
        "kms:RetiringPrincipal",
        "kms:SigningAlgorithm",
        "aws:SourceIp",
        "aws:PrincipalArn",
        "aws:PrincipalAccount",
        "aws:PrincipalOrgID",
        "aws:MultiFactorAuthPresent",
        "aws:SourceVpc",
        "aws:SourceVpce",
        "aws:ViaAWSService",
        "aws:CurrentTime",
        "aws:SecureTransport",
        "aws:SourceAccount",
        "aws:SourceArn",
        "aws:PrincipalType",
        "aws:RequestedRegion",
        "aws:TagKeys",
        "aws:userid",
        "aws:username",
    ];
    COMMON.to_vec()
}

#[cfg(test)]
mod tests {
    use crate::model::policy::{parse_policy, PolicyKind};

    fn warnings(body: &str) -> Vec<String> {
        let text = format!(
            r#"{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", "Principal": "*", "Resource": "*", {body}}}]}}"#
        );
        parse_policy(&text, "p", PolicyKind::KeyPolicy).unwrap().warnings.iter().map(|d| d.message.clone()).collect()
    }

    #[test]
    fn warns_on_likely_mistakes() {
        let cases = [
            (r#""Action": "kms:Decrpyt""#, "did you mean kms:Decrypt?"),
            (r#""Action": "kms:Foo*""#, "matches no KMS action"),
            (
                r#""Action": "kms:Decrypt", "Condition": {"StringEquals": {"kms:ViaServce": "x"}}"#,
                "did you mean kms:ViaService?",
            ),
            (
                r#""Action": "kms:Decrypt", "Condition": {"NumericEquals": {"kms:ViaService": 1}}"#,
                "is a Numeric operator",
            ),
            (
                r#""Action": "kms:Decrypt", "Condition": {"StringEquals": {"kms:EncryptionContextKeys": "Dept"}}"#,
                "multi-valued",
            ),
            (
                r#""Action": "kms:Decrypt", "Condition": {"ForAllValues:StringEquals": {"kms:EncryptionContext:Dept": "IT"}}"#,
                "OverlyPermissiveCondition",
            ),
        ];
        for (body, want) in cases {
            let w = warnings(body);
            assert!(w.iter().any(|m| m.contains(want)), "{body}: wanted {want:?}, got {w:?}");
        }
        assert!(warnings(r#""Action": ["kms:Decrypt", "kms:ReEncrypt*", "s3:GetObject"], "Condition": {"StringLike": {"aws:PrincipalArn": "arn:*"}}"#).is_empty());
    }

    #[test]
    fn role_rules() {
        let no_principal = r#"{"Statement": {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}}"#;
        assert!(parse_policy(no_principal, "k", PolicyKind::KeyPolicy).is_err());
        assert!(parse_policy(no_principal, "i", PolicyKind::Identity).is_ok());
        let with_principal =
            r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"}}"#;
        assert!(parse_policy(with_principal, "i", PolicyKind::Identity).is_err());
    }
}
