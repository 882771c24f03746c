//! Invariants of real requests: what AWS always (or never) sends. The request reader
//! rejects a request that breaks one (so a counterexample that breaks one fails its replay,
//! loudly), and the encoder searches only requests that keep them (`encode`, where each is
//! built, names its id).

use crate::facts::kms_rules::GRANT_OPERATIONS;
use crate::model::request::{Caller, CtxValue, IamKind, Request};

/// One invariant: an id, the rule, its source, and the check on a concrete request.
pub struct Invariant {
    pub id: &'static str,
    pub rule: &'static str,
    pub source: &'static str,
    /// Why the request breaks the invariant, if it does.
    pub broken_by: fn(&Request) -> Option<String>,
}

/// The invariants the request reader enforces (the caller shapes, derived keys and key
/// applicability are enforced where they are read: `request`, `catalog`).
pub const INVARIANTS: &[Invariant] = &[
    Invariant {
        id: "create-grant-operations",
        rule: "a kms:CreateGrant request carries kms:GrantOperations, a non-empty list of grant operations",
        source: "KMS API reference, CreateGrant: the Operations parameter is required (1 to 20 items of the \
                 GrantOperation enum)",
        broken_by: create_grant_operations,
    },
    Invariant {
        id: "principal-tags",
        rule: "aws:PrincipalTag/* keys exist only for IAM users, roles and federated users: never for the root \
               user, service principals or anonymous callers",
        source: "IAM User Guide, global condition keys (aws:PrincipalTag: tags attached to the principal, i.e. an \
                 IAM user or role, or session tags); the root user cannot be tagged",
        broken_by: principal_tags,
    },
    Invariant {
        id: "username",
        rule: "aws:username exists only for IAM users (the root user, roles, federated users and services have none)",
        source:
            "IAM User Guide, global condition keys (aws:username: \"this key is included in the request context for \
                 IAM users\")",
        broken_by: username,
    },
    Invariant {
        id: "encryption-context-keys",
        rule: "encryption-context keys are non-empty strings",
        source: "KMS API reference, EncryptionContext (EncryptionContextKey: minimum length 1)",
        broken_by: encryption_context_keys,
    },
];

/// A request AWS cannot send: the first invariant it breaks, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{why} ({reference})")]
pub struct Broken {
    pub id: &'static str,
    pub why: String,
    /// Where AWS documents the invariant.
    pub reference: &'static str,
}

/// Checks every invariant; the first broken one is the error.
pub fn check(req: &Request) -> Result<(), Broken> {
    match INVARIANTS.iter().find_map(|i| (i.broken_by)(req).map(|why| (i, why))) {
        Some((i, why)) => Err(Broken { id: i.id, why, reference: i.source }),
        None => Ok(()),
    }
}

fn create_grant_operations(req: &Request) -> Option<String> {
    if req.service != "kms" || req.action != "CreateGrant" {
        return None;
    }
    match req.context.get("kms:GrantOperations") {
        Some(CtxValue::Many(ops)) if !ops.is_empty() => {
            ops.iter().find(|o| !GRANT_OPERATIONS.contains(&o.as_str())).map(|bad| {
                format!(
                    "kms:GrantOperations holds \"{bad}\", which is not a grant operation (expected one of {})",
                    GRANT_OPERATIONS.join(", ")
                )
            })
        }
        _ => Some(
            "a kms:CreateGrant request always carries kms:GrantOperations (a non-empty list such as \
                  [\"Decrypt\"])"
                .into(),
        ),
    }
}

fn principal_tags(req: &Request) -> Option<String> {
    let untagged = match &req.caller {
        Caller::Iam { kind: IamKind::Root, .. } => Some("the root user"),
        Caller::Service(_) => Some("a service principal"),
        Caller::Anonymous => Some("an anonymous caller"),
        Caller::Iam { .. } => None,
    };
    match (untagged, req.context.iter().find(|(k, _)| is_principal_tag(k))) {
        (Some(who), Some((key, _))) => Some(format!("{key} is given, but {who} has no principal tags")),
        _ => None,
    }
}

/// Whether `key` is an `aws:PrincipalTag/<tag>` key (any case).
pub fn is_principal_tag(key: &str) -> bool {
    const PREFIX: &str = "aws:PrincipalTag/";
    // `get`, not indexing: the key is input, and byte 17 may fall inside a character.
    key.len() > PREFIX.len() && key.get(..PREFIX.len()).is_some_and(|p| p.eq_ignore_ascii_case(PREFIX))
}

fn encryption_context_keys(req: &Request) -> Option<String> {
    let empty_listed = matches!(req.context.get("kms:EncryptionContextKeys"),
        Some(CtxValue::Many(keys)) if keys.iter().any(String::is_empty));
    let empty_pair = req.context.iter().any(|(k, _)| k.eq_ignore_ascii_case("kms:EncryptionContext:"));
    (empty_listed || empty_pair).then(|| "an encryption-context key is empty".to_string())
}

fn username(req: &Request) -> Option<String> {
    let user = matches!(req.caller, Caller::Iam { kind: IamKind::User { .. }, .. });
    match req.context.get("aws:username") {
        Some(_) if !user => Some("aws:username is given, but only IAM users have one".into()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principal_tag_prefix_on_a_character_boundary() {
        // Byte 17 falls inside "é": this panicked (issue 20).
        assert!(!is_principal_tag("aws:PrincipalTagé"));
        assert!(!is_principal_tag("aws:PrincipalTaé/x"));
        assert!(is_principal_tag("AWS:principaltag/é"));
    }
}
