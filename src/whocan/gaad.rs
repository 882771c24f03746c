//! `aws iam get-account-authorization-details` output → the account's principals and
//! the policies attached to them. Every policy keeps its position in the dump, and a
//! dump that names something it does not contain (a group, a managed policy) is an error
//! with the position of the reference, never a silent skip.

use super::document::scope_to;
use crate::base::arn::split as split_arn;
use crate::base::diag::{Error, Severity, Sink};
use crate::base::json::{Json, Kind, Pos};
use crate::model::policy::{parse_policy, Policy, PolicyKind};
use std::collections::BTreeMap;

/// One account's principals, as the dump lists them.
#[derive(Debug, Clone)]
pub struct Account {
    /// The file the dump came from.
    pub file: String,
    pub id: String,
    pub users: Vec<User>,
    pub groups: Vec<Group>,
    pub roles: Vec<Role>,
    /// Managed policies by ARN: the default version (the one in force).
    pub managed: BTreeMap<String, Policy>,
    /// The other versions of each managed policy (`PolicyVersionList`), by ARN: (version
    /// id, document), for `iam:SetDefaultPolicyVersion`.
    pub versions: BTreeMap<String, Versions>,
    /// Managed policies the dump names (attached, or as a boundary) but does not contain
    /// (`--filter`, or an AWS managed policy left out): their holders are `unknown`.
    pub missing: std::collections::BTreeSet<String>,
    /// What reading the dump warns about (each missing policy, where it is named).
    pub warnings: Vec<crate::base::diag::Diagnostic>,
}

/// A managed policy's non-default versions: (version id, document).
pub type Versions = Vec<(String, Policy)>;

#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub arn: String,
    pub inline: Vec<Policy>,
    pub attached: Vec<String>,
    /// Group names, each checked to be in the dump.
    pub groups: Vec<String>,
    pub boundary: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Group {
    pub name: String,
    pub arn: String,
    pub inline: Vec<Policy>,
    pub attached: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Role {
    pub name: String,
    pub arn: String,
    /// The trust policy, each statement's resource set to the role (a trust policy has
    /// no `Resource`: it is about the role it belongs to).
    pub trust: Policy,
    pub inline: Vec<Policy>,
    pub attached: Vec<String>,
    pub boundary: Option<String>,
    /// Whether the role is in an instance profile (EC2 can run code as it).
    pub instance_profile: bool,
}

impl Account {
    /// Every policy document of the dump (inline, trust, managed and their other versions),
    /// so their parser warnings (an unknown `aws:` key, say) can be shown.
    pub fn policies(&self) -> impl Iterator<Item = &Policy> + '_ {
        let users = self.users.iter().flat_map(|u| &u.inline);
        let groups = self.groups.iter().flat_map(|g| &g.inline);
        let roles = self.roles.iter().flat_map(|r| std::iter::once(&r.trust).chain(&r.inline));
        let versions = self.versions.values().flatten().map(|(_, p)| p);
        users.chain(groups).chain(roles).chain(self.managed.values()).chain(versions)
    }

    /// The policies attached to `names` (managed policy ARNs), in order.
    pub fn managed_policies<'a>(&'a self, arns: &'a [String]) -> impl Iterator<Item = &'a Policy> + 'a {
        arns.iter().filter_map(|a| self.managed.get(a))
    }

    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// Every identity policy in force for `user`: its own, then its groups'.
    pub fn user_policies(&self, user: &User) -> Vec<Policy> {
        let mut out: Vec<Policy> = user.inline.to_vec();
        out.extend(self.managed_policies(&user.attached).cloned());
        for g in user.groups.iter().filter_map(|g| self.group(g)) {
            out.extend(self.group_policies(g));
        }
        out
    }

    pub fn group_policies(&self, g: &Group) -> Vec<Policy> {
        g.inline.iter().cloned().chain(self.managed_policies(&g.attached).cloned()).collect()
    }

    pub fn role_policies(&self, role: &Role) -> Vec<Policy> {
        role.inline.iter().cloned().chain(self.managed_policies(&role.attached).cloned()).collect()
    }

    /// The managed policies in force for a user (its own, its groups', its boundary)
    /// that the dump does not contain.
    pub fn user_missing(&self, user: &User) -> Vec<String> {
        let groups = user.groups.iter().filter_map(|g| self.group(g)).flat_map(|g| &g.attached);
        let all = user.attached.iter().chain(groups).chain(&user.boundary);
        all.filter(|a| self.missing.contains(*a)).cloned().collect()
    }

    /// The managed policies in force for a role (attached, boundary) the dump does not contain.
    pub fn role_missing(&self, role: &Role) -> Vec<String> {
        role.attached.iter().chain(&role.boundary).filter(|a| self.missing.contains(*a)).cloned().collect()
    }

    pub fn boundary(&self, arn: &Option<String>) -> Option<Policy> {
        arn.as_ref().and_then(|a| self.managed.get(a)).map(|p| {
            let mut p = p.clone();
            p.kind = PolicyKind::Boundary;
            p
        })
    }
}

/// Reads a dump; every error is collected with its position and JSON path.
pub fn parse_account(text: &str, file: &str) -> Result<Account, Error> {
    let mut sink = Sink::new(file);
    let doc = sink.document(text)?;
    let mut r = Reader { file, sink, accounts: Vec::new(), refs: Vec::new() };
    let account = r.account(&doc);
    if r.sink.has_errors() {
        return Err(Error::Invalid(r.sink.items));
    }
    Ok(account)
}

struct Reader<'a> {
    file: &'a str,
    sink: Sink,
    /// Accounts seen in ARNs, with where first seen.
    accounts: Vec<(String, Pos, String)>,
    /// Managed-policy references (attachments, boundaries), with where they are.
    refs: Vec<(String, Pos, String)>,
}

const LISTS: &[&str] = &["UserDetailList", "GroupDetailList", "RoleDetailList", "Policies"];

impl Reader<'_> {
    fn account(&mut self, doc: &Json) -> Account {
        if doc.members().is_none() || !LISTS.iter().any(|l| doc.get(l).is_some()) {
            self.sink.error(
                doc.pos,
                "",
                format!(
                    "expected `aws iam get-account-authorization-details` output: an object with {}",
                    LISTS.join(", ")
                ),
            );
        }
        let (managed, versions) = self.managed(doc);
        let users = self.list(doc, "UserDetailList", |r, item, path| r.user(item, path));
        let groups = self.list(doc, "GroupDetailList", |r, item, path| r.group(item, path));
        let roles = self.list(doc, "RoleDetailList", |r, item, path| r.role(item, path));
        let id = self.accounts.first().map(|(a, _, _)| a.clone()).unwrap_or_default();
        for (a, pos, path) in self.accounts.clone() {
            if a != id {
                self.sink.error(pos, &path, format!("account {a} differs from the dump's account {id}: give each account's dump as its own --authorization-details file"));
            }
        }
        let mut account = Account {
            file: self.file.to_string(),
            id,
            users,
            groups,
            roles,
            managed,
            versions,
            missing: Default::default(),
            warnings: vec![],
        };
        let start = self.sink.items.len();
        account.missing = self.check_references(doc, &account);
        account.warnings =
            self.sink.items[start..].iter().filter(|d| d.severity == Severity::Warning).cloned().collect();
        account
    }

    /// Every group the dump names is in the dump; a managed policy it names but does not
    /// contain is a warning (once per policy, where first named) and is returned: the
    /// dump is read anyway, and the principals holding it are `unknown`.
    fn check_references(&mut self, doc: &Json, account: &Account) -> std::collections::BTreeSet<String> {
        let mut missing = std::collections::BTreeSet::new();
        for (arn, pos, path) in std::mem::take(&mut self.refs) {
            if !account.managed.contains_key(&arn) && missing.insert(arn.clone()) {
                self.sink.warn(pos, &path, format!("the dump names the managed policy {arn} but does not contain it in \"Policies\": its holders are unknown (run get-account-authorization-details without --filter, or add the policy)"));
            }
        }
        let Some(Kind::Array(users)) = doc.get("UserDetailList").map(|l| &l.kind) else { return missing };
        for (i, u) in users.iter().enumerate() {
            let Some(Kind::Array(gs)) = u.get("GroupList").map(|l| &l.kind) else { continue };
            for (j, g) in gs.iter().enumerate() {
                if let Some(name) = g.as_str().filter(|n| account.group(n).is_none()) {
                    self.sink.error(
                        g.pos,
                        &format!("UserDetailList[{i}].GroupList[{j}]"),
                        format!("the user is in group {name}, which is not in \"GroupDetailList\""),
                    );
                }
            }
        }
        missing
    }

    fn list<T>(&mut self, doc: &Json, name: &str, read: impl Fn(&mut Self, &Json, &str) -> Option<T>) -> Vec<T> {
        match doc.get(name).map(|l| &l.kind) {
            None => vec![],
            Some(Kind::Array(items)) => {
                items.iter().enumerate().filter_map(|(i, item)| read(self, item, &format!("{name}[{i}]"))).collect()
            }
            Some(_) => {
                // Cannot fail: the match above found it.
                let v = doc.get(name).expect("present");
                self.sink.error(v.pos, name, format!("expected a list, found {}", v.type_name()));
                vec![]
            }
        }
    }

    fn text(&mut self, item: &Json, path: &str, field: &str) -> Option<String> {
        match item.get(field) {
            Some(v) => match v.as_str() {
                Some(s) => Some(s.to_string()),
                None => {
                    self.sink.error(
                        v.pos,
                        &format!("{path}.{field}"),
                        format!("expected a string, found {}", v.type_name()),
                    );
                    None
                }
            },
            None => {
                self.sink.error(item.pos, path, format!("missing \"{field}\""));
                None
            }
        }
    }

    /// An IAM ARN of `kind` (`user`, `group`, `role`, `policy`); records its account.
    fn arn(&mut self, item: &Json, path: &str, kind: &str) -> Option<String> {
        let arn = self.text(item, path, "Arn")?;
        let pos = item.get("Arn").map_or(item.pos, |v| v.pos);
        match split_arn(&arn) {
            Some([_, _, "iam", "", account, res]) if res.starts_with(&format!("{kind}/")) => {
                // A principal no request can carry (a name holding `*`, which IAM names
                // never do) would make every question about it vacuous: said, not assumed.
                if let ("user" | "role", Err(e)) = (kind, crate::model::request::Caller::parse(&arn)) {
                    self.sink.error(pos, &format!("{path}.Arn"), e.to_string());
                    return None;
                }
                if account != "aws" {
                    self.accounts.push((account.to_string(), pos, format!("{path}.Arn")));
                }
                Some(arn)
            }
            _ => {
                self.sink.error(
                    pos,
                    &format!("{path}.Arn"),
                    format!("expected an IAM {kind} ARN (arn:aws:iam::ACCOUNT:{kind}/NAME), found \"{arn}\""),
                );
                None
            }
        }
    }

    /// A policy document embedded at `value`: an object (positions kept), or JSON or
    /// URL-encoded text, as the dump gives them.
    fn policy(&mut self, value: &Json, path: &str, kind: PolicyKind, name: String) -> Option<Policy> {
        let text = match &value.kind {
            Kind::String(s) => serde_json::json!({ "Policy": s }).to_string(),
            Kind::Object(_) => {
                // Compact first (rendering in place pads to the original column, which is
                // slow on one-line dumps); in place only when there is something to point at.
                let compact = compact(value);
                match parse_policy(&compact, self.file, kind) {
                    Ok(p) if p.warnings.is_empty() => return Some(named(p, name)),
                    _ => crate::base::json::render_in_place(value),
                }
            }
            _ => {
                self.sink.error(value.pos, path, format!("expected a policy document, found {}", value.type_name()));
                return None;
            }
        };
        let label = match &value.kind {
            Kind::String(_) => format!("{} at {}:{} ({path})", self.file, value.pos.line, value.pos.col),
            _ => self.file.to_string(),
        };
        match parse_policy(&text, &label, kind) {
            Ok(mut p) => {
                for w in &mut p.warnings {
                    w.path = format!("{path}.{}", w.path);
                }
                Some(named(p, name))
            }
            Err(Error::Invalid(diags)) => {
                for mut d in diags {
                    d.path = if d.path.is_empty() { path.to_string() } else { format!("{path}.{}", d.path) };
                    self.sink.items.push(d);
                }
                None
            }
            Err(e) => {
                self.sink.error(value.pos, path, e.to_string());
                None
            }
        }
    }

    fn inline(&mut self, item: &Json, path: &str, list: &str, owner: &str) -> Vec<Policy> {
        let mut out = Vec::new();
        let Some(v) = item.get(list) else { return out };
        let Kind::Array(items) = &v.kind else {
            self.sink.error(v.pos, &format!("{path}.{list}"), format!("expected a list, found {}", v.type_name()));
            return out;
        };
        for (i, p) in items.iter().enumerate() {
            let at = format!("{path}.{list}[{i}]");
            let name = self.text(p, &at, "PolicyName").unwrap_or_default();
            match p.get("PolicyDocument") {
                Some(d) => out.extend(self.policy(
                    d,
                    &format!("{at}.PolicyDocument"),
                    PolicyKind::Identity,
                    format!("{owner} inline policy {name}"),
                )),
                None => self.sink.error(p.pos, &at, "missing \"PolicyDocument\""),
            }
        }
        out
    }

    /// `AttachedManagedPolicies[].PolicyArn`.
    fn attached(&mut self, item: &Json, path: &str) -> Vec<(String, Pos, String)> {
        let Some(v) = item.get("AttachedManagedPolicies") else { return vec![] };
        let Kind::Array(items) = &v.kind else {
            self.sink.error(v.pos, &format!("{path}.AttachedManagedPolicies"), "expected a list");
            return vec![];
        };
        let mut out = Vec::new();
        for (i, p) in items.iter().enumerate() {
            let at = format!("{path}.AttachedManagedPolicies[{i}]");
            if let Some(arn) = self.text(p, &at, "PolicyArn") {
                out.push((arn, p.pos, at));
            }
        }
        out
    }

    fn boundary(&mut self, item: &Json, path: &str) -> Option<(String, Pos, String)> {
        let b = item.get("PermissionsBoundary")?;
        let at = format!("{path}.PermissionsBoundary");
        self.text(b, &at, "PermissionsBoundaryArn").map(|a| (a, b.pos, at))
    }

    fn user(&mut self, item: &Json, path: &str) -> Option<User> {
        let name = self.text(item, path, "UserName")?;
        let arn = self.arn(item, path, "user")?;
        let inline = self.inline(item, path, "UserPolicyList", &format!("user/{name}"));
        let attached = self.attached(item, path);
        let boundary = self.boundary(item, path);
        let mut groups = Vec::new();
        if let Some(v) = item.get("GroupList") {
            match &v.kind {
                Kind::Array(gs) => {
                    for (i, g) in gs.iter().enumerate() {
                        match g.as_str() {
                            Some(s) => groups.push(s.to_string()),
                            None => self.sink.error(g.pos, &format!("{path}.GroupList[{i}]"), "expected a group name"),
                        }
                    }
                }
                _ => self.sink.error(v.pos, &format!("{path}.GroupList"), "expected a list of group names"),
            }
        }
        self.refs.extend(attached.iter().cloned().chain(boundary.clone()));
        Some(User {
            name,
            arn,
            inline,
            attached: attached.into_iter().map(|a| a.0).collect(),
            groups,
            boundary: boundary.map(|b| b.0),
        })
    }

    fn group(&mut self, item: &Json, path: &str) -> Option<Group> {
        let name = self.text(item, path, "GroupName")?;
        let arn = self.arn(item, path, "group")?;
        let inline = self.inline(item, path, "GroupPolicyList", &format!("group/{name}"));
        let attached = self.attached(item, path);
        self.refs.extend(attached.iter().cloned());
        Some(Group { name, arn, inline, attached: attached.into_iter().map(|a| a.0).collect() })
    }

    fn role(&mut self, item: &Json, path: &str) -> Option<Role> {
        let name = self.text(item, path, "RoleName")?;
        let arn = self.arn(item, path, "role")?;
        let at = format!("{path}.AssumeRolePolicyDocument");
        let trust = match item.get("AssumeRolePolicyDocument") {
            Some(d) => self.policy(d, &at, PolicyKind::Any, format!("role/{name} trust policy")),
            None => {
                self.sink.error(item.pos, path, "missing \"AssumeRolePolicyDocument\"");
                None
            }
        };
        let inline = self.inline(item, path, "RolePolicyList", &format!("role/{name}"));
        let attached = self.attached(item, path);
        let boundary = self.boundary(item, path);
        let instance_profile =
            matches!(item.get("InstanceProfileList").map(|v| &v.kind), Some(Kind::Array(l)) if !l.is_empty());
        self.refs.extend(attached.iter().cloned().chain(boundary.clone()));
        let mut trust = trust?;
        if let Some(st) = trust.statements.iter().find(|s| s.principal.is_none()) {
            self.sink.error(
                st.pos,
                &format!("{at}.Statement[{}]", st.index),
                "a trust-policy statement needs \"Principal\" or \"NotPrincipal\"",
            );
        }
        scope_to(&mut trust, &arn);
        Some(Role {
            name,
            arn,
            trust,
            inline,
            attached: attached.into_iter().map(|a| a.0).collect(),
            boundary: boundary.map(|b| b.0),
            instance_profile,
        })
    }

    fn managed(&mut self, doc: &Json) -> (BTreeMap<String, Policy>, BTreeMap<String, Versions>) {
        let mut out = BTreeMap::new();
        let mut versions = BTreeMap::new();
        let items = self.list(doc, "Policies", |r, item, path| r.managed_one(item, path));
        for (arn, p, others) in items {
            out.insert(arn.clone(), p);
            if !others.is_empty() {
                versions.insert(arn, others);
            }
        }
        (out, versions)
    }

    /// The non-default versions of a managed policy, each read as the default is.
    fn other_versions(&mut self, versions: &[Json], default: usize, path: &str, name: &str) -> Versions {
        let mut out = Vec::new();
        for (j, v) in versions.iter().enumerate().filter(|(j, _)| *j != default) {
            let at = format!("{path}.PolicyVersionList[{j}]");
            let Some(id) = self.text(v, &at, "VersionId") else { continue };
            let Some(d) = v.get("Document") else {
                self.sink.error(v.pos, &format!("{at}.Document"), "missing \"Document\"");
                continue;
            };
            let label = format!("managed policy {name} version {id}");
            if let Some(p) = self.policy(d, &format!("{at}.Document"), PolicyKind::Identity, label) {
                out.push((id, p));
            }
        }
        out
    }

    fn managed_one(&mut self, item: &Json, path: &str) -> Option<(String, Policy, Versions)> {
        let arn = self.arn(item, path, "policy")?;
        let name = self.text(item, path, "PolicyName").unwrap_or_default();
        let Some(Kind::Array(versions)) = item.get("PolicyVersionList").map(|v| &v.kind) else {
            self.sink.error(item.pos, path, "missing \"PolicyVersionList\" (a list of versions)");
            return None;
        };
        let default = versions
            .iter()
            .enumerate()
            .find(|(_, v)| matches!(v.get("IsDefaultVersion").map(|d| &d.kind), Some(Kind::Bool(true))));
        let Some((j, v)) = default else {
            self.sink.error(
                item.pos,
                &format!("{path}.PolicyVersionList"),
                "no version has \"IsDefaultVersion\": true",
            );
            return None;
        };
        let at = format!("{path}.PolicyVersionList[{j}].Document");
        let Some(d) = v.get("Document") else {
            self.sink.error(v.pos, &at, "missing \"Document\"");
            return None;
        };
        let p = self.policy(d, &at, PolicyKind::Identity, format!("managed policy {name}"))?;
        let others = self.other_versions(versions, j, path, &name);
        Some((arn, p, others))
    }
}

/// A policy document given as JSON text (tests, and callers holding text).
pub fn policy_from_text(text: &str, name: &str, kind: PolicyKind) -> Result<Policy, Error> {
    let mut p = parse_policy(text, name, kind)?;
    p.source = name.into();
    Ok(p)
}

/// A trust policy from JSON text, scoped to the role.
pub fn trust_from_text(text: &str, name: &str, role_arn: &str) -> Result<Policy, Error> {
    let mut p = policy_from_text(text, name, PolicyKind::Any)?;
    scope_to(&mut p, role_arn);
    Ok(p)
}

fn named(mut p: Policy, name: String) -> Policy {
    p.source = name.into();
    p
}

/// `v` as compact JSON text (numbers as written).
fn compact(v: &Json) -> String {
    fn write(v: &Json, out: &mut String) {
        let text = |s: &str| serde_json::Value::String(s.to_string()).to_string();
        match &v.kind {
            Kind::Null => out.push_str("null"),
            Kind::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Kind::Number(n) => out.push_str(n),
            Kind::String(s) => out.push_str(&text(s)),
            Kind::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            Kind::Object(ms) => {
                out.push('{');
                for (i, m) in ms.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&text(&m.key));
                    out.push(':');
                    write(&m.value, out);
                }
                out.push('}');
            }
        }
    }
    let mut out = String::new();
    write(v, &mut out);
    out
}
