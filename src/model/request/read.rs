//! Reading a request from JSON: the fields, the action and key from the catalog, the
//! keys AWS derives from the caller, and the invariants of real requests (a request that
//! breaks one is refused, so a counterexample that breaks one fails its replay loudly).

use super::{Caller, Context, CtxValue, Request};
use crate::base::diag::{Error, Sink};
use crate::base::json::{Json, Kind, Pos};
use crate::facts::catalog::{catalog, ActionInfo};

impl Request {
    /// Reads a request file; `source` names it in errors.
    pub fn parse(text: &str, source: &str) -> Result<Request, Error> {
        let mut sink = Sink::new(source);
        let doc = sink.document(text)?;
        let req = read_request(&doc, &mut sink, Scope::Kms);
        match req {
            Some(r) if !sink.has_errors() => Ok(r),
            _ => Err(Error::Invalid(sink.items)),
        }
    }

    /// Reads a request from an already-parsed JSON value (e.g. a case in a case file).
    pub fn from_json(doc: &Json, sink: &mut Sink) -> Option<Request> {
        read_request(doc, sink, Scope::Kms)
    }

    /// Reads a generic request: any `service:Action` and any resource string (required).
    /// It is what one identity policy alone decides (`kmsproof diff` of IAM policies);
    /// KMS's own rules (key ARNs, which actions take a key) are not applied.
    pub fn parse_generic(text: &str, source: &str) -> Result<Request, Error> {
        let mut sink = Sink::new(source);
        let doc = sink.document(text)?;
        match read_request(&doc, &mut sink, Scope::Generic) {
            Some(r) if !sink.has_errors() => Ok(r),
            _ => Err(Error::Invalid(sink.items)),
        }
    }
}

/// Which requests a reader accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// One KMS action on a key (or none), as KMS authorizes it.
    Kms,
    /// Any action of any service, on any resource.
    Generic,
}

const REQUEST_FIELDS: &[&str] = &["principal", "action", "resource", "context", "grant_id", "alias"];

fn read_request(doc: &Json, sink: &mut Sink, scope: Scope) -> Option<Request> {
    let Some(members) = doc.members() else {
        sink.error(
            doc.pos,
            "",
            format!(
                "expected a request object with \"principal\", \"action\", \"resource\", \"context\", found {}",
                doc.type_name()
            ),
        );
        return None;
    };
    for m in members {
        if !REQUEST_FIELDS.contains(&m.key.as_str()) {
            sink.error(
                m.key_pos,
                &m.key,
                format!("unknown request field \"{}\" (expected one of {})", m.key, REQUEST_FIELDS.join(", ")),
            );
        }
    }
    let text_field = |name: &str, sink: &mut Sink| -> Option<(String, Pos)> {
        match doc.get(name) {
            None => None,
            Some(v) => match v.as_str() {
                Some(s) => Some((s.to_string(), v.pos)),
                None => {
                    sink.error(v.pos, name, format!("expected a string, found {}", v.type_name()));
                    None
                }
            },
        }
    };
    let principal = text_field("principal", sink);
    let action = text_field("action", sink);
    let resource = text_field("resource", sink);
    let Some((principal, ppos)) = principal else {
        sink.error(doc.pos, "", "missing \"principal\"");
        return None;
    };
    let caller = Caller::parse(&principal).map_err(|e| sink.error(ppos, "principal", e.to_string())).ok()?;
    let Some((action, apos)) = action else {
        sink.error(doc.pos, "", "missing \"action\"");
        return None;
    };
    let (service, name, info, resource) = match scope {
        Scope::Kms => {
            let info = read_action(&action, apos, sink)?;
            ("kms".to_string(), info.name.clone(), Some(info), check_resource(info, resource, doc.pos, sink)?)
        }
        Scope::Generic => {
            let (service, name) = read_generic_action(&action, apos, sink)?;
            // KMS actions are the catalog's (the encoder's request space says so too).
            let info = if service == "kms" { Some(read_action(&action, apos, sink)?) } else { None };
            let Some((r, _)) = resource.filter(|(r, _)| !r.is_empty()) else {
                sink.error(doc.pos, "resource", "missing \"resource\" (a generic request names its resource)");
                return None;
            };
            (service, info.map_or(name, |i| i.name.clone()), info, Some(r))
        }
    };
    let mut context = Context::default();
    if let Some(c) = doc.get("context") {
        read_context(c, &mut context, sink);
    }
    let caller = with_role_path(caller, &context);
    add_derived(&caller, info, &mut context, doc, sink);
    add_service_flag(&mut context);
    let grant_id = read_grant_id(doc, &service, &name, sink)?;
    let alias = read_alias(doc, info.filter(|_| scope == Scope::Kms), resource.as_deref(), sink)?;
    let req = Request { caller, service, action: name, resource, context, grant_id, alias };
    if let Err(why) = crate::model::invariants::check(&req) {
        sink.error(
            doc.get("context").map_or(doc.pos, |c| c.pos),
            "context",
            format!("not a request AWS can receive: {why}"),
        );
        return None;
    }
    Some(req)
}

/// `grant_id`: required for `kms:RetireGrant` (a RetireGrant retires one grant, named by
/// its ID and key, or by a grant token), refused for every other action.
fn read_grant_id(doc: &Json, service: &str, action: &str, sink: &mut Sink) -> Option<Option<String>> {
    let retire = service == "kms" && action == "RetireGrant";
    match (doc.get("grant_id"), retire) {
        (None, false) => Some(None),
        (None, true) => {
            sink.error(
                doc.pos,
                "grant_id",
                "kms:RetireGrant retires one grant: give \"grant_id\" (the GrantId of one of the grants given)",
            );
            None
        }
        (Some(v), true) => match v.as_str().filter(|s| !s.is_empty()) {
            Some(id) => Some(Some(id.to_string())),
            None => {
                sink.error(v.pos, "grant_id", format!("expected a non-empty string, found {}", v.type_name()));
                None
            }
        },
        (Some(v), false) => {
            sink.error(
                v.pos,
                "grant_id",
                format!("\"grant_id\" belongs to kms:RetireGrant requests, not {service}:{action}"),
            );
            None
        }
    }
}

/// `alias`: required for an action also authorized on an alias (CreateAlias, UpdateAlias,
/// DeleteAlias: each names one alias), refused for every other action. `alias/NAME` or the
/// alias ARN, in the key's partition, account and Region (an alias and its key are in one
/// account and Region: KMS Developer Guide, aliases), `NAME` of the characters CreateAlias
/// accepts and not under `alias/aws/` (reserved for AWS managed keys). Read as the ARN.
fn read_alias(doc: &Json, info: Option<&ActionInfo>, key: Option<&str>, sink: &mut Sink) -> Option<Option<String>> {
    let on_alias = info.is_some_and(|i| i.on_alias);
    let v = doc.get("alias");
    let Some(v) = v else {
        if on_alias {
            sink.error(doc.pos, "alias", "this action names an alias: give \"alias\" (alias/NAME or the alias ARN)");
            return None;
        }
        return Some(None);
    };
    if !on_alias {
        sink.error(
            v.pos,
            "alias",
            "\"alias\" belongs to kms:CreateAlias, kms:UpdateAlias and kms:DeleteAlias requests",
        );
        return None;
    }
    let key = crate::base::arn::Arn::parse(key.unwrap_or_default())?;
    let prefix = format!("arn:{}:kms:{}:{}:", key.partition, key.region, key.account);
    let text = v.as_str().unwrap_or_default();
    let arn = if text.starts_with("arn:") { text.to_string() } else { format!("{prefix}{text}") };
    let name = arn.strip_prefix(&prefix).and_then(|r| r.strip_prefix("alias/"));
    let ok = name.is_some_and(|n| {
        !n.is_empty() && !n.starts_with("aws/") && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"/_-".contains(&b))
    });
    if !ok {
        sink.error(
            v.pos,
            "alias",
            format!("\"{text}\" is not an alias this key can have (expected alias/NAME, NAME of letters, digits, /, _ and -, not under alias/aws/, or {prefix}alias/NAME)"),
        );
        return None;
    }
    Some(Some(arn))
}

/// `service:Action`, no wildcards: the service lower-cased, the name as written.
fn read_generic_action(action: &str, pos: Pos, sink: &mut Sink) -> Option<(String, String)> {
    let split = action.split_once(':').filter(|(svc, name)| {
        !svc.is_empty()
            && svc.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !name.is_empty()
            && name.bytes().all(|b| b.is_ascii_alphanumeric())
    });
    if split.is_none() {
        sink.error(
            pos,
            "action",
            format!(
                "\"{action}\" is not an action (expected service:Action, e.g. \"s3:GetObject\", without wildcards)"
            ),
        );
    }
    split.map(|(svc, name)| (svc.to_ascii_lowercase(), name.to_string()))
}

fn read_action(action: &str, pos: Pos, sink: &mut Sink) -> Option<&'static ActionInfo> {
    let found = action
        .split_once(':')
        .filter(|(svc, _)| svc.eq_ignore_ascii_case("kms"))
        .and_then(|(_, name)| catalog().kms_action(name));
    if found.is_none() {
        sink.error(pos, "action", format!("\"{action}\" is not a KMS action (expected e.g. \"kms:Decrypt\"; the request names one action, without wildcards)"));
    }
    found
}

fn check_resource(
    info: &ActionInfo,
    resource: Option<(String, Pos)>,
    doc_pos: Pos,
    sink: &mut Sink,
) -> Option<Option<String>> {
    match (info.on_key, resource) {
        (true, None) => {
            sink.error(doc_pos, "resource", format!("kms:{} is authorized on a key: give \"resource\" as the key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)", info.name));
            None
        }
        (true, Some((r, pos))) => {
            let ok = crate::base::arn::is_key_arn(&r);
            if !ok {
                sink.error(
                    pos,
                    "resource",
                    format!("\"{r}\" is not a KMS key ARN (expected arn:aws:kms:REGION:ACCOUNT:key/ID)"),
                );
                return None;
            }
            Some(Some(r))
        }
        (false, Some((r, pos))) if r != "*" => {
            sink.error(pos, "resource", format!("kms:{} is not authorized on a key: omit \"resource\"", info.name));
            None
        }
        (false, _) => Some(None),
    }
}

fn read_context(c: &Json, context: &mut Context, sink: &mut Sink) {
    let Some(members) = c.members() else {
        sink.error(c.pos, "context", format!("expected an object of condition keys, found {}", c.type_name()));
        return;
    };
    for m in members {
        let path = format!("context.{}", m.key);
        if context.get(&m.key).is_some() {
            sink.error(m.key_pos, &path, format!("\"{}\" is given twice (condition keys are case-insensitive)", m.key));
            continue;
        }
        let multi = catalog().key(&m.key).map(|k| k.multi);
        let value = match &m.value.kind {
            Kind::Array(items) => {
                if multi == Some(false) {
                    sink.error(m.value.pos, &path, format!("{} is single-valued: give one value, not a list", m.key));
                    continue;
                }
                let texts: Option<Vec<String>> = items.iter().map(Json::scalar_text).collect();
                match texts {
                    Some(t) => CtxValue::Many(t),
                    None => {
                        sink.error(m.value.pos, &path, "expected a list of strings, numbers or booleans");
                        continue;
                    }
                }
            }
            _ => match m.value.scalar_text() {
                Some(t) if multi == Some(true) => CtxValue::Many(vec![t]),
                Some(t) => CtxValue::One(t),
                None => {
                    sink.error(
                        m.value.pos,
                        &path,
                        format!("expected a string, number, boolean or list, found {}", m.value.type_name()),
                    );
                    continue;
                }
            },
        };
        context.insert(&m.key, value);
    }
}

/// A role session whose request gives `aws:PrincipalArn`: the role ARN with its path (a
/// session ARN does not carry the path; AWS derives `aws:PrincipalArn` with it). A value
/// that is not the session's role is left for [`add_derived`] to refuse.
fn with_role_path(caller: Caller, context: &Context) -> Caller {
    match context.get("aws:PrincipalArn") {
        Some(CtxValue::One(given)) => caller.with_principal_arn(given).unwrap_or(caller),
        _ => caller,
    }
}

/// A call a service makes on the caller's behalf always says so: `aws:ViaAWSService` is
/// true when a service-call key is given and the flag is not (IAM User Guide,
/// aws:ViaAWSService: "set to true whenever a FAS request is made"), and false on any other
/// request that does not give it (every request carries it: reading
/// via-aws-service-always-present).
fn add_service_flag(context: &mut Context) {
    let flagged = crate::model::invariants::SERVICE_CALL_KEYS.iter().any(|k| context.get(k).is_some());
    if context.get("aws:ViaAWSService").is_none() {
        context.insert("aws:ViaAWSService", CtxValue::One(if flagged { "true" } else { "false" }.into()));
    }
}

/// Adds the caller-derived keys; a given value that contradicts the caller is an error.
fn add_derived(caller: &Caller, info: Option<&ActionInfo>, context: &mut Context, doc: &Json, sink: &mut Sink) {
    for (key, value) in caller.derived_keys(info) {
        // A session whose path the request does not say gets its aws:PrincipalArn where the
        // inputs are known (`Inputs::resolve`); a value given here was not its role's.
        let unsaid = key == "aws:PrincipalArn" && caller.pathless_role().is_some();
        match context.get(key) {
            None if unsaid => {}
            None => context.insert(key, CtxValue::One(value)),
            Some(CtxValue::One(given)) if *given == value => {}
            Some(given) => {
                let pos = doc.get("context").map(|c| c.pos).unwrap_or(doc.pos);
                sink.error(
                    pos,
                    &format!("context.{key}"),
                    if key == "aws:PrincipalArn" && matches!(caller, Caller::Iam { kind: super::IamKind::RoleSession { .. }, .. }) {
                        format!(
                            "{key} is {given:?} but the principal implies \"{value}\" (for a role session, give the role's ARN with its path, e.g. arn:aws:iam::ACCOUNT:role/PATH/NAME, with the session's own account and role name; or omit it: the role is then where the inputs name it, else at /)"
                        )
                    } else {
                        format!(
                            "{key} is {given:?} but the principal implies \"{value}\"; omit it and kmsproof derives it"
                        )
                    },
                );
            }
        }
    }
}
