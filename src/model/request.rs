//! A concrete KMS request: who calls, which action, on which key, with which context.

use crate::base::diag::{Error, Sink};
use crate::base::json::{Json, Kind, Pos};
use crate::base::pattern::split_arn;
use crate::facts::catalog::{catalog, ActionInfo};
use std::collections::BTreeMap;

/// Who makes the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// An IAM identity of an account.
    Iam { arn: String, account: String, kind: IamKind },
    /// An AWS service principal such as `ec2.amazonaws.com`.
    Service(String),
    /// An unsigned request.
    Anonymous,
}

/// The kinds of IAM callers a principal ARN can name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IamKind {
    /// `arn:aws:iam::A:root`.
    Root,
    User {
        name: String,
    },
    /// A role session (`sts::A:assumed-role/R/S`), or a role ARN standing for "some
    /// session of this role".
    RoleSession {
        role: String,
    },
    FederatedUser {
        name: String,
    },
}

impl Caller {
    /// Reads a principal as written in a request file.
    pub fn parse(text: &str) -> Result<Caller, String> {
        if text.eq_ignore_ascii_case("anonymous") || text == "*" {
            return Ok(Caller::Anonymous);
        }
        if !text.starts_with("arn:") {
            if text.contains('.') && !text.contains(['*', '?', ' ', '/', ':']) {
                return Ok(Caller::Service(text.to_string()));
            }
            return Err(format!("\"{text}\" is not a principal (expected an IAM/STS ARN, a service principal such as ec2.amazonaws.com, or \"anonymous\")"));
        }
        let bad = || {
            format!("malformed principal ARN \"{text}\" (expected e.g. arn:aws:iam::111122223333:role/App or arn:aws:sts::111122223333:assumed-role/App/session)")
        };
        let [_, partition, service, region, account, resource] = split_arn(text).ok_or_else(bad)?;
        if partition.is_empty()
            || !region.is_empty()
            || account.len() != 12
            || !account.bytes().all(|b| b.is_ascii_digit())
            || text.contains(['*', '?'])
        {
            return Err(bad());
        }
        let segs: Vec<&str> = resource.split('/').collect();
        let last = |min: usize| {
            (segs.len() >= min && segs.iter().all(|s| !s.is_empty())).then(|| segs[segs.len() - 1].to_string())
        };
        let kind = match (service, segs[0]) {
            ("iam", "root") if segs.len() == 1 => IamKind::Root,
            ("iam", "user") => IamKind::User { name: last(2).ok_or_else(bad)? },
            ("iam", "role") => IamKind::RoleSession { role: last(2).ok_or_else(bad)? },
            ("sts", "assumed-role") if segs.len() == 3 => {
                IamKind::RoleSession { role: last(3).map(|_| segs[1].to_string()).ok_or_else(bad)? }
            }
            ("sts", "federated-user") => IamKind::FederatedUser { name: last(2).ok_or_else(bad)? },
            _ => return Err(bad()),
        };
        Ok(Caller::Iam { arn: text.to_string(), account: account.to_string(), kind })
    }

    /// The caller's account, if it has one.
    pub fn account(&self) -> Option<&str> {
        match self {
            Caller::Iam { account, .. } => Some(account),
            _ => None,
        }
    }

    /// The ARN a key policy names to reach this caller: for a role session, the role
    /// (assumed to have no path: the session ARN does not carry it).
    pub fn principal_arn(&self) -> Option<String> {
        let Caller::Iam { arn, account, kind } = self else {
            return None;
        };
        Some(match kind {
            IamKind::RoleSession { role } if arn.starts_with("arn:aws:sts") || arn.contains(":sts:") => {
                let partition = arn.split(':').nth(1).unwrap_or("aws");
                format!("arn:{partition}:iam::{account}:role/{role}")
            }
            _ => arn.clone(),
        })
    }

    /// The keys AWS itself puts in the context for this caller ([GKEYS], [VARS]).
    /// `action` is `None` for actions of other services (generic requests).
    pub fn derived_keys(&self, action: Option<&ActionInfo>) -> Vec<(&'static str, String)> {
        let mut keys = Vec::new();
        match self {
            Caller::Iam { account, kind, .. } => {
                keys.push(("aws:PrincipalArn", self.principal_arn().unwrap_or_default()));
                keys.push(("aws:PrincipalAccount", account.clone()));
                keys.push(("aws:PrincipalIsAWSService", "false".into()));
                let ty = match kind {
                    IamKind::Root => "Account",
                    IamKind::User { .. } => "User",
                    IamKind::RoleSession { .. } => "AssumedRole",
                    IamKind::FederatedUser { .. } => "FederatedUser",
                };
                keys.push(("aws:PrincipalType", ty.into()));
                match kind {
                    IamKind::User { name } => keys.push(("aws:username", name.clone())),
                    IamKind::Root => keys.push(("aws:userid", account.clone())),
                    IamKind::FederatedUser { name } => keys.push(("aws:userid", format!("{account}:{name}"))),
                    IamKind::RoleSession { .. } => {}
                }
                if action.is_some_and(|a| a.has_key("kms:CallerAccount")) {
                    keys.push(("kms:CallerAccount", account.clone()));
                }
            }
            Caller::Service(name) => {
                keys.push(("aws:PrincipalIsAWSService", "true".into()));
                keys.push(("aws:PrincipalServiceName", name.clone()));
            }
            Caller::Anonymous => keys.push(("aws:PrincipalType", "Anonymous".into())),
        }
        keys
    }
}

/// A context value: one value, or a set for multi-valued keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CtxValue {
    One(String),
    Many(Vec<String>),
}

impl std::fmt::Display for CtxValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CtxValue::One(v) => write!(f, "\"{v}\""),
            CtxValue::Many(vs) => {
                write!(f, "[{}]", vs.iter().map(|v| format!("\"{v}\"")).collect::<Vec<_>>().join(", "))
            }
        }
    }
}

/// The request context: condition keys (case-insensitive) to values. Absent keys are
/// absent; nothing is invented beyond the keys AWS derives from the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    /// Lower-cased key → (key as written, value).
    entries: BTreeMap<String, (String, CtxValue)>,
}

impl Context {
    pub fn get(&self, key: &str) -> Option<&CtxValue> {
        self.entries.get(&key.to_ascii_lowercase()).map(|(_, v)| v)
    }

    pub fn insert(&mut self, key: &str, value: CtxValue) {
        self.entries.insert(key.to_ascii_lowercase(), (key.to_string(), value));
    }

    /// Keys as written with their values.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &CtxValue)> {
        self.entries.values().map(|(k, v)| (k.as_str(), v))
    }

    /// The encryption context pairs (`kms:EncryptionContext:<k>` keys), keys as written.
    pub fn encryption_context(&self) -> BTreeMap<String, String> {
        const PREFIX: &str = "kms:encryptioncontext:";
        self.entries
            .iter()
            .filter(|(lower, _)| lower.starts_with(PREFIX) && lower.len() > PREFIX.len())
            .filter_map(|(_, (name, v))| match v {
                CtxValue::One(s) => Some((name[PREFIX.len()..].to_string(), s.clone())),
                CtxValue::Many(_) => None,
            })
            .collect()
    }
}

/// A complete request.
#[derive(Debug, Clone)]
pub struct Request {
    pub caller: Caller,
    /// The service prefix, lower case: `kms` for KMS requests (other services only in
    /// generic requests, which `diff` uses for identity policies).
    pub service: String,
    /// Action name without prefix: proper-case for KMS (`Decrypt`), as written otherwise.
    pub action: String,
    /// The key ARN; `None` for actions not authorized on a key (CreateKey, ListKeys, ...).
    /// Generic requests always name their resource.
    pub resource: Option<String>,
    /// The context as given plus the keys derived from the caller.
    pub context: Context,
    /// The grant a `kms:RetireGrant` request retires (its `GrantId`); `None` for other actions.
    pub grant_id: Option<String>,
}

impl Request {
    /// The request as AWS sees it, in the exact format `kmsproof eval --request` reads:
    /// derived keys included (they agree with the principal, so it reads back to the same
    /// request), so another simulator given it sees every key the evaluator did.
    pub fn to_json(&self) -> serde_json::Value {
        let principal = match &self.caller {
            Caller::Iam { arn, .. } => arn.clone(),
            Caller::Service(s) => s.clone(),
            Caller::Anonymous => "anonymous".into(),
        };
        let mut context = serde_json::Map::new();
        for (k, v) in self.context.iter() {
            let v = match v {
                CtxValue::One(s) => serde_json::json!(s),
                CtxValue::Many(vs) => serde_json::json!(vs),
            };
            context.insert(k.to_string(), v);
        }
        let mut out = serde_json::Map::new();
        out.insert("principal".into(), serde_json::json!(principal));
        out.insert("action".into(), serde_json::json!(self.action_name()));
        if let Some(r) = &self.resource {
            out.insert("resource".into(), serde_json::json!(r));
        }
        out.insert("context".into(), serde_json::Value::Object(context));
        if let Some(g) = &self.grant_id {
            out.insert("grant_id".into(), serde_json::json!(g));
        }
        serde_json::Value::Object(out)
    }

    /// `kms:Decrypt` form.
    pub fn action_name(&self) -> String {
        format!("{}:{}", self.service, self.action)
    }

    /// The account that owns the key, from its ARN.
    pub fn key_account(&self) -> Option<&str> {
        split_arn(self.resource.as_deref()?).map(|p| p[4])
    }

    /// The KMS action's catalog entry; `None` for other services' actions.
    pub fn action_info(&self) -> Option<&'static ActionInfo> {
        (self.service == "kms").then(|| catalog().kms_action(&self.action)).flatten()
    }

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

const REQUEST_FIELDS: &[&str] = &["principal", "action", "resource", "context", "grant_id"];

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
    let caller = Caller::parse(&principal).map_err(|m| sink.error(ppos, "principal", m)).ok()?;
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
    add_derived(&caller, info, &mut context, doc, sink);
    let grant_id = read_grant_id(doc, &service, &name, sink)?;
    let req = Request { caller, service, action: name, resource, context, grant_id };
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
            let ok = split_arn(&r).is_some_and(|p| {
                p[2] == "kms" && !p[3].is_empty() && p[4].len() == 12 && p[5].starts_with("key/") && p[5].len() > 4
            });
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

/// Adds the caller-derived keys; a given value that contradicts the caller is an error.
fn add_derived(caller: &Caller, info: Option<&ActionInfo>, context: &mut Context, doc: &Json, sink: &mut Sink) {
    for (key, value) in caller.derived_keys(info) {
        match context.get(key) {
            None => context.insert(key, CtxValue::One(value)),
            Some(CtxValue::One(given)) if *given == value => {}
            Some(given) => {
                let pos = doc.get("context").map(|c| c.pos).unwrap_or(doc.pos);
                sink.error(
                    pos,
                    &format!("context.{key}"),
                    format!(
                        "{key} is {given:?} but the principal implies \"{value}\"; omit it and kmsproof derives it"
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    fn req(body: &str) -> Result<Request, Error> {
        Request::parse(body, "r.json")
    }

    #[test]
    fn derives_caller_keys() {
        let r = req(&format!(r#"{{"principal": "arn:aws:sts::111122223333:assumed-role/App/s1", "action": "kms:Decrypt", "resource": "{KEY}"}}"#)).unwrap();
        assert_eq!(r.context.get("kms:calleraccount"), Some(&CtxValue::One("111122223333".into())));
        assert_eq!(
            r.context.get("aws:PrincipalArn"),
            Some(&CtxValue::One("arn:aws:iam::111122223333:role/App".into()))
        );
        assert_eq!(r.context.get("aws:PrincipalType"), Some(&CtxValue::One("AssumedRole".into())));
        assert_eq!(r.context.get("aws:username"), None);
    }

    #[test]
    fn caller_account_is_absent_where_kms_never_sets_it() {
        let r = req(r#"{"principal": "arn:aws:iam::111122223333:user/alice", "action": "kms:CreateKey"}"#).unwrap();
        assert_eq!(r.context.get("kms:CallerAccount"), None);
        assert_eq!(r.context.get("aws:username"), Some(&CtxValue::One("alice".into())));
    }

    #[test]
    fn input_errors_are_clear() {
        let cases = [
            (
                format!(
                    r#"{{"principal": "arn:aws:iam::111122223333:role/App", "action": "kms:Decrypt", "resource": "{KEY}", "context": {{"kms:CallerAccount": "444455556666"}}}}"#
                ),
                "principal implies",
            ),
            (
                format!(
                    r#"{{"principal": "arn:aws:iam::111122223333:role/App", "action": "kms:Decrpyt", "resource": "{KEY}"}}"#
                ),
                "not a KMS action",
            ),
            (
                r#"{"principal": "arn:aws:iam::111122223333:role/App", "action": "kms:Decrypt"}"#.to_string(),
                "authorized on a key",
            ),
            (r#"{"principal": "bob", "action": "kms:ListKeys"}"#.to_string(), "not a principal"),
            (
                format!(
                    r#"{{"principal": "arn:aws:iam::111122223333:role/App", "action": "kms:Decrypt", "resource": "{KEY}", "context": {{"kms:ViaService": ["a", "b"]}}}}"#
                ),
                "single-valued",
            ),
            (
                format!(
                    r#"{{"principal": "arn:aws:iam::111122223333:role/App", "action": "kms:Decrypt", "resource": "{KEY}", "context": {{"aws:SourceIp": "1.2.3.4", "AWS:sourceip": "1.2.3.5"}}}}"#
                ),
                "given twice",
            ),
            (
                format!(
                    r#"{{"principal": "arn:aws:iam::111122223333:role/App", "action": "kms:Decrypt", "resource": "{KEY}", "extra": 1}}"#
                ),
                "unknown request field",
            ),
        ];
        for (body, want) in cases {
            let e = req(&body).unwrap_err().to_string();
            assert!(e.contains(want), "{body}\n wanted {want:?}\n got {e}");
        }
    }

    #[test]
    fn multi_valued_keys_become_sets() {
        let r = req(&format!(r#"{{"principal": "arn:aws:iam::111122223333:role/App", "action": "kms:Decrypt", "resource": "{KEY}", "context": {{"kms:EncryptionContextKeys": "Dept", "kms:EncryptionContext:Dept": "IT"}}}}"#)).unwrap();
        assert_eq!(r.context.get("kms:encryptioncontextkeys"), Some(&CtxValue::Many(vec!["Dept".into()])));
        assert_eq!(r.context.encryption_context().get("Dept").map(String::as_str), Some("IT"));
    }
}
