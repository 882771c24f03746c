//! Invariants of real requests: what AWS always (or never) sends. The request reader
//! rejects a request that breaks one (so a counterexample that breaks one fails its replay,
//! loudly), and the encoder searches only requests that keep them (`encode`, where each is
//! built, names its id).

use crate::base::value::{parse_ip, Cidr};
use crate::facts::kms_rules::GRANT_OPERATIONS;
use crate::model::policy::{CondValue, Statement};
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
        id: "principal-org",
        rule: "aws:PrincipalOrgID and aws:PrincipalOrgPaths exist only for principals of an account (the root user, \
               IAM users, roles and federated users): never for service principals or anonymous callers",
        source: "IAM User Guide, global condition keys (aws:PrincipalOrgID and aws:PrincipalOrgPaths, Availability: \
                 \"included in the request context only if the principal is a member of an organization\"; a \
                 service principal belongs to no account and so to no organization)",
        broken_by: principal_org,
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
    Invariant {
        id: "service-call",
        rule: "a request an AWS service makes on the caller's behalf (kms:ViaService, aws:CalledVia*) has \
               aws:ViaAWSService true and an IAM caller; kms:GrantIsForAWSResource is true only on such a call",
        source: "IAM User Guide, forward access sessions and aws:ViaAWSService (\"set to true whenever a FAS request \
                 is made\"); KMS Developer Guide, kms:ViaService and kms:GrantIsForAWSResource (true when an \
                 integrated service creates the grant on the user's behalf)",
        broken_by: service_call,
    },
    Invariant {
        id: "via-aws-service",
        rule: "aws:ViaAWSService is in every request: true on a call an AWS service makes on the caller's behalf, \
               false on every other call (the request reader adds it when a request does not give it; \
               UNCONFIRMED reading via-aws-service-always-present)",
        source: "IAM User Guide, global condition keys (aws:ViaAWSService, Availability: \"always included in the \
                 request context for most services\")",
        // The reader derives it (`request::read::add_service_flag`), so a read request
        // always has it; a given value that contradicts the call is `service-call`'s.
        broken_by: |_| None,
    },
    Invariant {
        id: "always-sent",
        rule: "aws:SecureTransport, aws:CurrentTime and aws:EpochTime are in every request (a request written by \
               hand may leave them out and is then evaluated without them, which AWS never sends; every \
               counterexample carries those its policies test)",
        source: "IAM User Guide, global condition keys (aws:SecureTransport, aws:CurrentTime, aws:EpochTime: \
                 Availability \"This key is always included in the request context\"); semantics.md 7: always",
        // Nothing a request says can contradict it, and the reader cannot derive the values
        // (a request file that omits them still evaluates, as before); the encoder requires
        // each key a policy or question tests, so witnesses never lack one.
        broken_by: |_| None,
    },
    Invariant {
        id: "service-call-network",
        rule: "a request an AWS service makes on the caller's behalf carries no aws:SourceVpc, aws:SourceVpce or \
               aws:VpcSourceIp (the service calls from its own network; its aws:SourceIp is its own address: \
               see service_address)",
        source: "KMS Developer Guide, \"Using the IP address condition\" (the request \"comes from an IP address \
                 associated with the Amazon EC2 infrastructure, not the IP address of the originating user\"); \
                 UNCONFIRMED reading service-call-network",
        broken_by: service_call_network,
    },
    Invariant {
        id: "key-facts",
        rule: "kms:KeySpec, kms:KeyUsage, kms:KeyOrigin, kms:MultiRegion and kms:MultiRegionKeyType describe the key: \
               a spec and usage some key can have, together, that the action works with; MultiRegion true exactly for \
               a key whose ID starts with mrk-, which alone has a MultiRegionKeyType; a custom key store's key is \
               symmetric and single-Region",
        source:
            "KMS Developer Guide, key spec reference (symm-asymm-choose-key-spec) and multi-Region keys (IDs begin \
                 with mrk-); KMS API reference, CreateKey (KeyUsage, KeySpec, Origin, MultiRegion)",
        broken_by: key_facts,
    },
];

/// Global keys AWS puts in every request's context, whatever the caller and action.
pub const ALWAYS_SENT_KEYS: &[&str] = &["aws:SecureTransport", "aws:CurrentTime", "aws:EpochTime"];

/// Keys that only a request from the caller's own network carries.
const NETWORK_KEYS: &[&str] = &["aws:SourceVpc", "aws:SourceVpce", "aws:VpcSourceIp"];

/// Keys whose presence says a service made the call on the caller's behalf.
pub const SERVICE_CALL_KEYS: &[&str] = &["kms:ViaService", "aws:CalledVia", "aws:CalledViaFirst", "aws:CalledViaLast"];

/// Whether an AWS service made `req` on the caller's behalf (a forward access session):
/// a service-call key is present, or `aws:ViaAWSService` is true.
pub fn is_service_call(req: &Request) -> bool {
    SERVICE_CALL_KEYS.iter().any(|k| req.context.get(k).is_some())
        || matches!(req.context.get("aws:ViaAWSService"), Some(CtxValue::One(v)) if v.eq_ignore_ascii_case("true"))
}

/// The address ranges the statements name for `aws:SourceIp`, except those spanning every
/// address: AWS's own addresses are taken to lie outside all of them (UNCONFIRMED reading
/// `service-call-network`: AWS publishes its ranges, but not as data kmsproof carries).
pub fn named_ranges<'a>(statements: impl IntoIterator<Item = &'a Statement>) -> Vec<Cidr> {
    let mut out: Vec<Cidr> = statements
        .into_iter()
        .flat_map(|s| &s.conditions)
        .filter(|c| c.key.eq_ignore_ascii_case("aws:SourceIp"))
        .flat_map(|c| &c.values)
        .filter_map(|v| if let CondValue::Cidr(c) = v { Some(*c) } else { None })
        .filter(|c| c.parts().1 > 0)
        .collect();
    out.sort_by_key(|c| c.parts());
    out.dedup();
    out
}

/// The keys of [`ALWAYS_SENT_KEYS`] that the statements test and `req` leaves out: such a
/// request is evaluated without them, which no real request is (`eval` warns).
pub fn always_sent_missing<'a>(
    req: &Request,
    statements: impl IntoIterator<Item = &'a Statement>,
) -> Vec<&'static str> {
    let tested: Vec<&str> = statements.into_iter().flat_map(|s| &s.conditions).map(|c| c.key.as_str()).collect();
    ALWAYS_SENT_KEYS
        .iter()
        .copied()
        .filter(|k| tested.iter().any(|t| t.eq_ignore_ascii_case(k)) && req.context.get(k).is_none())
        .collect()
}

/// Why `req` cannot be a call a service made for the caller, given the ranges the inputs
/// name: its `aws:SourceIp` would be the service's own address, outside every one of them.
pub fn service_address(req: &Request, ranges: &[Cidr]) -> Option<Broken> {
    if !is_service_call(req) {
        return None;
    }
    let Some(CtxValue::One(ip)) = req.context.get("aws:SourceIp") else { return None };
    let block = ranges.iter().find(|c| parse_ip(ip).is_some_and(|a| c.contains(a)))?;
    let (addr, prefix) = block.parts();
    Some(Broken {
        id: "service-call-network",
        why: format!(
            "aws:SourceIp is {ip}, inside {addr}/{prefix} that a policy names, but this request is made by an AWS \
             service on the caller's behalf and carries the service's own address (taken to be outside every range \
             the policies name)"
        ),
        reference: INVARIANTS.iter().find(|i| i.id == "service-call-network").map_or("", |i| i.source),
    })
}

fn service_call(req: &Request) -> Option<String> {
    let flagged = SERVICE_CALL_KEYS.iter().find(|k| req.context.get(k).is_some());
    let via_aws = req.context.get("aws:ViaAWSService");
    if let (Some(k), Some(CtxValue::One(v))) = (flagged, via_aws) {
        if !v.eq_ignore_ascii_case("true") {
            return Some(format!(
                "{k} is given, so an AWS service made the call and aws:ViaAWSService is true, not {v}"
            ));
        }
    }
    let via_service = req.context.get("kms:ViaService").is_some();
    if via_service && !matches!(req.caller, Caller::Iam { .. }) {
        return Some(
            "kms:ViaService is given, but only an IAM principal's request reaches KMS through a service".into(),
        );
    }
    let for_resource = matches!(req.context.get("kms:GrantIsForAWSResource"), Some(CtxValue::One(v)) if v.eq_ignore_ascii_case("true"));
    (for_resource && !via_service).then(|| {
        "kms:GrantIsForAWSResource is true, which only an integrated service's call (with kms:ViaService) carries"
            .to_string()
    })
}

fn service_call_network(req: &Request) -> Option<String> {
    if !is_service_call(req) {
        return None;
    }
    NETWORK_KEYS.iter().find(|k| req.context.get(k).is_some()).map(|k| {
        format!("{k} is given, but an AWS service made this call on the caller's behalf, from its own network")
    })
}

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

/// `principal-org`: the organization keys describe the account of an IAM principal, and
/// services and anonymous callers have no account.
fn principal_org(req: &Request) -> Option<String> {
    let outside = match &req.caller {
        Caller::Service(_) => "a service principal",
        Caller::Anonymous => "an anonymous caller",
        Caller::Iam { .. } => return None,
    };
    let (key, _) = req.context.iter().find(|(k, _)| is_principal_org_key(k))?;
    Some(format!("{key} is given, but {outside} belongs to no organization"))
}

/// The keys that name the organization of the caller's account.
pub const PRINCIPAL_ORG_KEYS: &[&str] = &["aws:PrincipalOrgID", "aws:PrincipalOrgPaths"];

/// Whether `key` is one of [`PRINCIPAL_ORG_KEYS`] (keys are case-insensitive).
pub fn is_principal_org_key(key: &str) -> bool {
    PRINCIPAL_ORG_KEYS.iter().any(|k| k.eq_ignore_ascii_case(key))
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

fn one<'a>(req: &'a Request, key: &str) -> Option<&'a str> {
    match req.context.get(key) {
        Some(CtxValue::One(v)) => Some(v.as_str()),
        _ => None,
    }
}

fn key_facts(req: &Request) -> Option<String> {
    use crate::facts::kms_rules::*;
    let (spec, usage) = (one(req, "kms:KeySpec"), one(req, "kms:KeyUsage"));
    if let Some(s) = spec.filter(|s| !key_specs().contains(s)) {
        return Some(format!("kms:KeySpec is {s:?}, not a key spec (expected one of {})", key_specs().join(", ")));
    }
    if let Some(u) = usage.filter(|u| !key_usages().contains(u)) {
        return Some(format!("kms:KeyUsage is {u:?}, not a key usage (expected one of {})", key_usages().join(", ")));
    }
    let fits = |u: &KeyUse| usage.is_none_or(|x| x == u.usage) && spec.is_none_or(|x| u.specs.contains(&x));
    if !KEY_USES.iter().any(fits) {
        return Some(format!("no key has spec {} with usage {}", spec.unwrap_or("?"), usage.unwrap_or("?")));
    }
    if let Some(rows) = uses_for_action(&req.action).filter(|rows| !rows.iter().any(|u| fits(u))) {
        let needs: Vec<&str> = rows.iter().map(|u| u.usage).collect();
        return Some(format!(
            "kms:{} works only with a key whose usage is {} (the key's spec/usage given cannot)",
            req.action,
            needs.join(" or ")
        ));
    }
    let mrk = req.resource.as_deref().map(is_multi_region_key);
    let origin = one(req, "kms:KeyOrigin");
    if let Some(o) = origin.filter(|o| !KEY_ORIGINS.contains(o)) {
        return Some(format!("kms:KeyOrigin is {o:?} (expected one of {})", KEY_ORIGINS.join(", ")));
    }
    let custom = origin.is_some_and(|o| CUSTOM_KEY_STORE_ORIGINS.contains(&o));
    if custom && (spec.is_some_and(|s| s != "SYMMETRIC_DEFAULT") || mrk == Some(true)) {
        return Some("a key in a custom key store is a single-Region symmetric encryption key".into());
    }
    if let (Some(m), Some(v)) = (mrk, one(req, "kms:MultiRegion")) {
        if !v.eq_ignore_ascii_case(if m { "true" } else { "false" }) {
            return Some(format!(
                "kms:MultiRegion is {v}, but the key's ID {} with mrk-",
                if m { "starts" } else { "does not start" }
            ));
        }
    }
    match (mrk, one(req, "kms:MultiRegionKeyType")) {
        (Some(false), Some(_)) => Some(
            "kms:MultiRegionKeyType is given, but the key is not a multi-Region key (its ID does not start with mrk-)"
                .into(),
        ),
        (_, Some(t)) if !MULTI_REGION_KEY_TYPES.contains(&t) => {
            Some(format!("kms:MultiRegionKeyType is {t:?} (expected PRIMARY or REPLICA)"))
        }
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
