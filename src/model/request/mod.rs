//! A concrete KMS request: who calls, which action, on which key, with which context.
//! Reading one from JSON (and refusing what AWS cannot send) is in `read`.

mod read;

use crate::base::arn::split as split_arn;
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
        /// The role's path between `role/` and the name (`team/` for `role/team/App`; empty
        /// for a role at `/`), when the request says it: a role ARN carries it, a session
        /// ARN does not, so its request says it with `aws:PrincipalArn` (see
        /// [`Caller::with_principal_arn`]). `None`: not said; the inputs may name the role
        /// (`Inputs::resolve`), else it is taken to be at `/`.
        path: Option<String>,
    },
    FederatedUser {
        name: String,
    },
}

/// Why a request's principal is refused; each message says what was expected instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallerError {
    #[error("\"{0}\" is not a principal (expected an IAM/STS ARN, a service principal such as ec2.amazonaws.com, or \"anonymous\")")]
    NotAPrincipal(String),
    #[error("malformed principal ARN \"{0}\" (expected e.g. arn:aws:iam::111122223333:role/App or arn:aws:sts::111122223333:assumed-role/App/session)")]
    MalformedArn(String),
}

impl Caller {
    /// Reads a principal as written in a request file.
    pub fn parse(text: &str) -> Result<Caller, CallerError> {
        if text.eq_ignore_ascii_case("anonymous") || text == "*" {
            return Ok(Caller::Anonymous);
        }
        if !text.starts_with("arn:") {
            if text.contains('.') && !text.contains(['*', '?', ' ', '/', ':']) {
                return Ok(Caller::Service(text.to_string()));
            }
            return Err(CallerError::NotAPrincipal(text.to_string()));
        }
        let bad = || CallerError::MalformedArn(text.to_string());
        let [_, partition, service, region, account, resource] = split_arn(text).ok_or_else(bad)?;
        if partition.is_empty()
            || !region.is_empty()
            || !crate::base::arn::is_account_id(account)
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
            ("iam", "role") => {
                let role = last(2).ok_or_else(bad)?;
                let path = segs[1..segs.len() - 1].iter().map(|s| format!("{s}/")).collect();
                IamKind::RoleSession { role, path: Some(path) }
            }
            ("sts", "assumed-role") if segs.len() == 3 => {
                IamKind::RoleSession { role: last(3).map(|_| segs[1].to_string()).ok_or_else(bad)?, path: None }
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

    /// What AWS puts in `aws:PrincipalArn` for this caller, the ARN a policy or grant names
    /// to reach it: for a role session, the role ARN **with its path** ([GKEYS]
    /// `aws:PrincipalArn`: "the ARN of the role", which IAM writes with the path; AWS's IAM
    /// Identity Center guidance matches `arn:aws:iam::*:role/aws-reserved/sso.amazonaws.com/*`
    /// against it). The one caller derivation the evaluator, the encoder's request constraint
    /// and who-can share.
    pub fn principal_arn(&self) -> Option<String> {
        let Caller::Iam { arn, account, kind } = self else {
            return None;
        };
        Some(match kind {
            IamKind::RoleSession { role, path } if arn.contains(":sts:") => {
                let partition = arn.split(':').nth(1).unwrap_or("aws");
                let path = path.as_deref().unwrap_or_default();
                format!("arn:{partition}:iam::{account}:role/{path}{role}")
            }
            _ => arn.clone(),
        })
    }

    /// The session caller with the role path that `given` (a request's `aws:PrincipalArn`)
    /// says: the role ARN of the session's partition, account and role name, with any path.
    /// `None` when `given` is not that role's ARN (or the caller is not a session ARN).
    pub fn with_principal_arn(&self, given: &str) -> Option<Caller> {
        let Caller::Iam { arn, account, kind: IamKind::RoleSession { role, .. } } = self else {
            return None;
        };
        if !arn.contains(":sts:") {
            return None;
        }
        let partition = arn.split(':').nth(1).unwrap_or("aws");
        let rest = given.strip_prefix(&format!("arn:{partition}:iam::{account}:role/"))?;
        let path = rest.strip_suffix(role.as_str())?;
        let well_formed =
            path.is_empty() || (path.ends_with('/') && path.split('/').rev().skip(1).all(|s| !s.is_empty()));
        if !well_formed || given.contains(['*', '?', ' ']) {
            return None;
        }
        Some(self.at_path(path))
    }

    /// A session caller whose role is at `path` (`team/`, or empty for `/`); any other
    /// caller unchanged.
    pub fn at_path(&self, path: &str) -> Caller {
        match self {
            Caller::Iam { arn, account, kind: IamKind::RoleSession { role, .. } } => Caller::Iam {
                arn: arn.clone(),
                account: account.clone(),
                kind: IamKind::RoleSession { role: role.clone(), path: Some(path.to_string()) },
            },
            other => other.clone(),
        }
    }

    /// A role session whose request did not say its role's path: `(account, role name)`.
    pub fn pathless_role(&self) -> Option<(&str, &str)> {
        match self {
            Caller::Iam { account, kind: IamKind::RoleSession { role, path: None }, .. } => Some((account, role)),
            _ => None,
        }
    }

    /// The `aws:PrincipalArn` of a session of the role `role_arn` (as IAM writes the
    /// role's ARN, with its path): the rule of [`Caller::principal_arn`] applied to a
    /// session of that role at that path, so that who-can narrows a role's requests
    /// exactly as the evaluator and the encoder derive the key — one derivation.
    pub fn session_principal_arn(role_arn: &str) -> Option<String> {
        let a = crate::base::arn::Arn::parse(role_arn)?;
        let full = a.resource.strip_prefix("role/")?;
        let (path, name) = full.rsplit_once('/').map_or(("", full), |(p, n)| (p, n));
        let path = if path.is_empty() { String::new() } else { format!("{path}/") };
        let session = format!("arn:{}:sts::{}:assumed-role/{name}/session", a.partition, a.account);
        Caller::parse(&session).ok()?.at_path(&path).principal_arn()
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
                // Cannot cut a character: `lower` is `name` ASCII-lowercased (same bytes
                // for every non-ASCII character) and starts with the ASCII prefix.
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
    /// The alias an alias action (`CreateAlias`, `UpdateAlias`, `DeleteAlias`) creates,
    /// points or deletes, as an ARN in the key's account and Region; `None` for other actions.
    pub alias: Option<String>,
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
        if let Some(a) = &self.alias {
            out.insert("alias".into(), serde_json::json!(a));
        }
        serde_json::Value::Object(out)
    }

    /// The request on its alias (the alias ARN as its resource): what IAM policies decide
    /// for the alias side of an alias action.
    pub fn on_alias(&self) -> Option<Request> {
        let alias = self.alias.clone()?;
        Some(Request { resource: Some(alias), alias: None, ..self.clone() })
    }

    /// `kms:Decrypt` form.
    pub fn action_name(&self) -> String {
        format!("{}:{}", self.service, self.action)
    }

    /// The account that owns the key, from its ARN.
    pub fn key_account(&self) -> Option<&str> {
        crate::base::arn::account_of(self.resource.as_deref()?)
    }

    /// The KMS action's catalog entry; `None` for other services' actions.
    pub fn action_info(&self) -> Option<&'static ActionInfo> {
        (self.service == "kms").then(|| catalog().kms_action(&self.action)).flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::diag::Error;

    const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    fn req(body: &str) -> Result<Request, Error> {
        Request::parse(body, "r.json")
    }

    #[test]
    fn derives_caller_keys() {
        let r = req(&format!(r#"{{"principal": "arn:aws:sts::111122223333:assumed-role/App/s1", "action": "kms:Decrypt", "resource": "{KEY}"}}"#)).unwrap();
        assert_eq!(r.context.get("kms:calleraccount"), Some(&CtxValue::One("111122223333".into())));
        // The session ARN does not say the role's path: derived once the inputs are known.
        assert_eq!(r.context.get("aws:PrincipalArn"), None);
        let at_root = crate::model::inputs::resolve_role_path(&Default::default(), &r);
        assert_eq!(
            at_root.context.get("aws:PrincipalArn"),
            Some(&CtxValue::One("arn:aws:iam::111122223333:role/App".into()))
        );
        let paths = [(("111122223333".to_string(), "App".to_string()), Some("team/".to_string()))].into();
        let named = crate::model::inputs::resolve_role_path(&paths, &r);
        assert_eq!(
            named.context.get("aws:PrincipalArn"),
            Some(&CtxValue::One("arn:aws:iam::111122223333:role/team/App".into()))
        );
        // A request says the path by giving aws:PrincipalArn; another role's ARN is refused.
        let said = req(&format!(r#"{{"principal": "arn:aws:sts::111122223333:assumed-role/App/s1", "action": "kms:Decrypt", "resource": "{KEY}", "context": {{"aws:PrincipalArn": "arn:aws:iam::111122223333:role/a/b/App"}}}}"#)).unwrap();
        assert_eq!(said.caller.principal_arn().as_deref(), Some("arn:aws:iam::111122223333:role/a/b/App"));
        for other in [
            "arn:aws:iam::111122223333:role/a/Other",
            "arn:aws:iam::444455556666:role/App",
            "arn:aws:iam::111122223333:role/a//App",
        ] {
            let e = req(&format!(r#"{{"principal": "arn:aws:sts::111122223333:assumed-role/App/s1", "action": "kms:Decrypt", "resource": "{KEY}", "context": {{"aws:PrincipalArn": "{other}"}}}}"#)).unwrap_err().to_string();
            assert!(e.contains("role's ARN with its path"), "{other}: {e}");
        }
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
