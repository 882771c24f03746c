//! CloudFormation intrinsic functions, resolved the way CloudFormation resolves them at
//! deploy time, so a template is audited as written.
//!
//! - Pseudo parameters come from `--parameter AWS::Region=…` (etc.), else from the key the
//!   audit uses (`--key-arn`), else from the audit's placeholders (account
//!   [`PLACEHOLDER_ACCOUNT`], Region `us-east-1`, partition `aws`): the same account and
//!   Region the audit's key has, so `${AWS::AccountId}` is the key's own account.
//! - `Parameters` take `--parameter K=V` / a parameters file, else their `Default`.
//! - `Ref` / `Fn::GetAtt` of a resource of the template give the name or ARN it will have
//!   ([`RESOURCE_IDS`]); a name CloudFormation generates is free.
//! - `Fn::If` over `Conditions`: the condition's value when the parameters decide it, else
//!   both branches, as separate variants of the document ([`Resolved::assumed`] says which).
//! - `Fn::Sub`, `Fn::Join`, `Fn::Select`, `Fn::Split`, `Fn::FindInMap` compute their value.
//!
//! A value nothing decides (a parameter without a default, a generated name,
//! `Fn::ImportValue`, …) is a *free value*: written [`free_value`]`(name)`, which every
//! policy reads as a variable the encoder leaves free (an opaque atom), so a proof holds for
//! every value it may take, and a witness binds it to one concrete value, shown in the
//! request. Nothing is refused and nothing is guessed silently.

use crate::base::json::{Json, Kind, Member, Pos};
use crate::base::pattern::free_value;
use crate::model::inputs::{PLACEHOLDER_ACCOUNT, PLACEHOLDER_KEY_ID};
use std::collections::{BTreeMap, BTreeSet};

/// What the command line says about a template's values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateValues {
    /// `--parameter K=V` and the parameters file: template parameters and pseudo
    /// parameters (`AWS::AccountId`, `AWS::Region`, …) by name.
    pub parameters: BTreeMap<String, String>,
    /// The ARN of the key under audit (`--key-arn`): its account and Region are the stack's.
    pub key_arn: Option<String>,
}

/// The placeholder Region of a key whose ARN is not given (as `placeholder_key_arn`).
const PLACEHOLDER_REGION: &str = "us-east-1";

/// How many unknown conditions a policy may branch on (2^n variants are audited).
const MAX_UNKNOWN_CONDITIONS: usize = 4;

/// One resolved variant of a policy value.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub value: Json,
    /// What this variant assumes: `Condition IsProd = true`, `free: Param.Partner`, …
    pub assumed: Vec<String>,
}

/// `Ref` and `Fn::GetAtt` of resource types: what each gives, as a `${…}` template over the
/// resource's properties (`{Name}`) and the stack (`{Partition}`, `{Region}`, `{Account}`).
/// A property the resource leaves out is a free value (CloudFormation generates it);
/// `{Path}` defaults to `/`. Source: the "Return values" section of each resource type's
/// page in the CloudFormation User Guide (e.g. AWS::IAM::Role: Ref is the role name,
/// `Fn::GetAtt Arn` the role ARN).
const RESOURCE_IDS: &[(&str, &str, &str)] = &[
    ("AWS::IAM::Role", "Ref", "{RoleName}"),
    ("AWS::IAM::Role", "Arn", "arn:{Partition}:iam::{Account}:role{Path}{RoleName}"),
    ("AWS::IAM::User", "Ref", "{UserName}"),
    ("AWS::IAM::User", "Arn", "arn:{Partition}:iam::{Account}:user{Path}{UserName}"),
    ("AWS::IAM::Group", "Ref", "{GroupName}"),
    ("AWS::IAM::Group", "Arn", "arn:{Partition}:iam::{Account}:group{Path}{GroupName}"),
    ("AWS::IAM::ManagedPolicy", "Ref", "arn:{Partition}:iam::{Account}:policy{Path}{ManagedPolicyName}"),
    ("AWS::IAM::ManagedPolicy", "PolicyArn", "arn:{Partition}:iam::{Account}:policy{Path}{ManagedPolicyName}"),
    ("AWS::KMS::Key", "Ref", "{KeyId}"),
    ("AWS::KMS::Key", "KeyId", "{KeyId}"),
    ("AWS::KMS::Key", "Arn", "arn:{Partition}:kms:{Region}:{Account}:key/{KeyId}"),
    ("AWS::KMS::Alias", "Ref", "{AliasName}"),
    ("AWS::S3::Bucket", "Ref", "{BucketName}"),
    ("AWS::S3::Bucket", "Arn", "arn:{Partition}:s3:::{BucketName}"),
    ("AWS::SNS::Topic", "Ref", "arn:{Partition}:sns:{Region}:{Account}:{TopicName}"),
    ("AWS::SNS::Topic", "TopicArn", "arn:{Partition}:sns:{Region}:{Account}:{TopicName}"),
    ("AWS::SQS::Queue", "Arn", "arn:{Partition}:sqs:{Region}:{Account}:{QueueName}"),
    ("AWS::Lambda::Function", "Ref", "{FunctionName}"),
    ("AWS::Lambda::Function", "Arn", "arn:{Partition}:lambda:{Region}:{Account}:function:{FunctionName}"),
    ("AWS::DynamoDB::Table", "Ref", "{TableName}"),
    ("AWS::DynamoDB::Table", "Arn", "arn:{Partition}:dynamodb:{Region}:{Account}:table/{TableName}"),
    ("AWS::Logs::LogGroup", "Ref", "{LogGroupName}"),
    ("AWS::Logs::LogGroup", "Arn", "arn:{Partition}:logs:{Region}:{Account}:log-group:{LogGroupName}:*"),
];

/// A template being resolved: its sections and the values the command line gives.
pub struct Template<'a> {
    root: &'a Json,
    given: &'a TemplateValues,
}

/// The state of one resolution: the unknown conditions' assumed values and what was assumed.
#[derive(Default)]
struct Run {
    branches: BTreeMap<String, bool>,
    /// Unknown conditions met that have no assumed value yet (the next variants' to try).
    unknown: BTreeSet<String>,
    assumed: BTreeSet<String>,
}

/// A value resolved: JSON, or removed (`AWS::NoValue`).
type Out = Option<Json>;

impl<'a> Template<'a> {
    pub fn new(root: &'a Json, given: &'a TemplateValues) -> Template<'a> {
        Template { root, given }
    }

    /// The pseudo parameters this template's values take from the audit's placeholders
    /// (neither `--parameter` nor `--key-arn` gives them), said with every finding.
    pub fn placeholders(&self) -> Vec<String> {
        let given = |n: &str| self.given.parameters.contains_key(n) || self.given.key_arn.is_some();
        let mut out = Vec::new();
        if !given("AWS::AccountId") {
            out.push(format!(
                "AWS::AccountId = {PLACEHOLDER_ACCOUNT} (placeholder: give --parameter AWS::AccountId=ID or --key-arn)"
            ));
        }
        if !given("AWS::Region") {
            out.push(format!("AWS::Region = {PLACEHOLDER_REGION} (placeholder)"));
        }
        out
    }

    /// The stack's account (`AWS::AccountId`).
    pub fn account(&self) -> String {
        self.pseudo("AWS::AccountId").unwrap_or_default()
    }

    /// The ARN of a key the template creates: `--key-arn`, else the audit's placeholder key
    /// ID in the stack's partition, Region and account.
    pub fn key_arn(&self) -> String {
        self.given.key_arn.clone().unwrap_or_else(|| {
            format!("arn:{}:kms:{}:{}:key/{PLACEHOLDER_KEY_ID}", self.partition(), self.region(), self.account())
        })
    }

    /// Whether `v` uses any intrinsic function.
    pub fn uses_intrinsics(v: &Json) -> bool {
        match &v.kind {
            Kind::Object(ms) => ms.iter().any(|m| is_function(&m.key) || Template::uses_intrinsics(&m.value)),
            Kind::Array(items) => items.iter().any(Template::uses_intrinsics),
            _ => false,
        }
    }

    /// Every variant of `v`: one per assignment of the conditions it branches on that the
    /// parameters leave unknown (one when there are none).
    pub fn variants(&self, v: &Json) -> Vec<Resolved> {
        let mut todo: Vec<BTreeMap<String, bool>> = vec![BTreeMap::new()];
        let mut out: Vec<Resolved> = Vec::new();
        while let Some(branches) = todo.pop() {
            let mut run = Run { branches: branches.clone(), ..Run::default() };
            let value = self.value(v, &mut run).unwrap_or(Json { pos: v.pos, kind: Kind::Null });
            let next = run.unknown.iter().next().cloned().filter(|_| branches.len() < MAX_UNKNOWN_CONDITIONS);
            match next {
                Some(c) => {
                    for b in [false, true] {
                        let mut more = branches.clone();
                        more.insert(c.clone(), b);
                        todo.push(more);
                    }
                }
                None => {
                    let mut assumed: Vec<String> =
                        branches.iter().map(|(c, b)| format!("Condition {c} = {b}")).collect();
                    assumed.extend(run.assumed);
                    if !out.iter().any(|r| r.value == value) {
                        out.push(Resolved { value, assumed });
                    }
                }
            }
        }
        out.reverse();
        out
    }

    fn value(&self, v: &Json, run: &mut Run) -> Out {
        match &v.kind {
            Kind::Object(ms) if ms.len() == 1 && is_function(&ms[0].key) => self.function(&ms[0], v.pos, run),
            Kind::Object(ms) => {
                let members = ms
                    .iter()
                    .filter_map(|m| self.value(&m.value, run).map(|value| Member { value, ..m.clone() }))
                    .collect();
                Some(Json { pos: v.pos, kind: Kind::Object(members) })
            }
            Kind::Array(items) => {
                Some(Json { pos: v.pos, kind: Kind::Array(items.iter().filter_map(|i| self.value(i, run)).collect()) })
            }
            _ => Some(v.clone()),
        }
    }

    fn function(&self, m: &Member, pos: Pos, run: &mut Run) -> Out {
        let arg = &m.value;
        let text = |s: String| Some(Json { pos, kind: Kind::String(s) });
        match m.key.as_str() {
            "Ref" => {
                let name = arg.as_str().unwrap_or_default();
                if name == "AWS::NoValue" {
                    return None;
                }
                self.reference(name, pos, run)
            }
            "Fn::GetAtt" => {
                let (res, attr) = match &arg.kind {
                    Kind::Array(p) if p.len() == 2 => {
                        let attr = self.value(&p[1], run).and_then(|a| a.as_str().map(str::to_string));
                        (p[0].as_str().unwrap_or_default().to_string(), attr.unwrap_or_default())
                    }
                    Kind::String(s) => {
                        let (r, a) = s.split_once('.').unwrap_or((s, ""));
                        (r.to_string(), a.to_string())
                    }
                    _ => (String::new(), String::new()),
                };
                text(self.attribute(&res, &attr, run))
            }
            "Fn::Sub" => text(self.sub(arg, run)),
            "Fn::Join" => {
                let parts = self.list(arg, 2, run);
                let delim = parts.first().and_then(|d| d.as_str()).unwrap_or_default().to_string();
                let items = parts.get(1).map(|l| self.strings(l, run)).unwrap_or_default();
                text(items.join(&delim))
            }
            "Fn::Select" => {
                let parts = self.list(arg, 2, run);
                let index = parts.first().and_then(|i| i.scalar_text()).and_then(|i| i.parse::<usize>().ok());
                match (index, parts.get(1).map(|l| &l.kind)) {
                    (Some(i), Some(Kind::Array(items))) if i < items.len() => Some(items[i].clone()),
                    _ => text(self.free("Fn::Select", run)),
                }
            }
            "Fn::Split" => {
                let parts = self.list(arg, 2, run);
                let delim = parts.first().and_then(|d| d.as_str()).unwrap_or_default();
                match parts.get(1).and_then(|s| s.as_str()) {
                    Some(s) if !delim.is_empty() && !s.contains("${kmsproof:free/") => {
                        let items = s.split(delim).map(|p| Json { pos, kind: Kind::String(p.into()) }).collect();
                        Some(Json { pos, kind: Kind::Array(items) })
                    }
                    _ => text(self.free("Fn::Split", run)),
                }
            }
            "Fn::If" => {
                let Kind::Array(p) = &arg.kind else { return text(self.free("Fn::If", run)) };
                if p.len() != 3 {
                    return text(self.free("Fn::If", run));
                }
                let cond = p[0].as_str().unwrap_or_default().to_string();
                match self.condition_named(&cond, run, 0) {
                    Some(true) => self.value(&p[1], run),
                    Some(false) => self.value(&p[2], run),
                    None => None,
                }
            }
            "Fn::FindInMap" => {
                let parts = self.list(arg, 3, run);
                let names: Vec<Option<String>> = parts.iter().map(|p| p.scalar_text()).collect();
                let found = match names.as_slice() {
                    [Some(a), Some(b), Some(c)] => {
                        self.root.get("Mappings").and_then(|m| m.get(a)).and_then(|m| m.get(b)).and_then(|m| m.get(c))
                    }
                    _ => None,
                };
                match found {
                    Some(v) => self.value(v, run),
                    None => text(self.free("Fn::FindInMap", run)),
                }
            }
            // ImportValue, GetAZs, Base64, Cidr, …: decided at deploy time or elsewhere.
            other => text(self.free(other, run)),
        }
    }

    /// The arguments of a function taking a list, each resolved.
    fn list(&self, arg: &Json, n: usize, run: &mut Run) -> Vec<Json> {
        match &arg.kind {
            Kind::Array(items) if items.len() >= n => items.iter().map(|i| self.value(i, run)).collect::<Option<_>>(),
            _ => None,
        }
        .unwrap_or_default()
    }

    /// A resolved list's items as strings (a string stands for itself).
    fn strings(&self, v: &Json, run: &mut Run) -> Vec<String> {
        match &v.kind {
            Kind::Array(items) => items.iter().filter_map(Json::scalar_text).collect(),
            Kind::String(s) if s.contains("${kmsproof:free/") => vec![s.clone()],
            Kind::String(s) => s.split(',').map(str::to_string).collect(),
            _ => vec![self.free("list", run)],
        }
    }

    /// `Fn::Sub`: `${Name}` is a parameter, pseudo parameter or resource; `${Res.Attr}` an
    /// attribute; `${!Text}` the literal `${Text}`.
    fn sub(&self, arg: &Json, run: &mut Run) -> String {
        let (template, vars) = match &arg.kind {
            Kind::Array(p) if !p.is_empty() => (p[0].as_str().unwrap_or_default().to_string(), p.get(1)),
            _ => (arg.as_str().unwrap_or_default().to_string(), None),
        };
        let mut out = String::new();
        let mut rest = template.as_str();
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let Some(len) = rest[start..].find('}') else { break };
            let inner = &rest[start + 2..start + len];
            rest = &rest[start + len + 1..];
            if let Some(lit) = inner.strip_prefix('!') {
                out.push_str(&format!("${{{lit}}}"));
                continue;
            }
            let local = vars.and_then(|v| v.get(inner)).and_then(|v| self.value(v, run));
            let piece = match local {
                Some(v) => v.scalar_text().unwrap_or_else(|| self.free(inner, run)),
                None => match inner.split_once('.') {
                    Some((res, attr)) if self.resource(res).is_some() => self.attribute(res, attr, run),
                    _ => self.reference(inner, Pos::default(), run).and_then(|v| v.scalar_text()).unwrap_or_default(),
                },
            };
            out.push_str(&piece);
        }
        out.push_str(rest);
        out
    }

    /// `Ref name`: a parameter, a pseudo parameter or a resource.
    fn reference(&self, name: &str, pos: Pos, run: &mut Run) -> Out {
        let text = |s: String| Some(Json { pos, kind: Kind::String(s) });
        if let Some(v) = self.given.parameters.get(name) {
            return text(v.clone());
        }
        if let Some(v) = self.pseudo(name) {
            return text(v);
        }
        if let Some(p) = self.root.get("Parameters").and_then(|ps| ps.get(name)) {
            return match p.get("Default") {
                Some(d) => Some(Json { pos, ..d.clone() }),
                None => text(self.free(name, run)),
            };
        }
        if self.resource(name).is_some() {
            return text(self.attribute(name, "Ref", run));
        }
        text(self.free(name, run))
    }

    /// A pseudo parameter the stack decides (`AWS::StackName`, … are free).
    fn pseudo(&self, name: &str) -> Option<String> {
        let key = self.given.key_arn.as_deref().and_then(crate::base::arn::Arn::parse);
        let given = |n: &str| self.given.parameters.get(n).cloned();
        match name {
            "AWS::AccountId" => Some(
                given(name)
                    .or_else(|| key.as_ref().map(|k| k.account.to_string()))
                    .unwrap_or_else(|| PLACEHOLDER_ACCOUNT.into()),
            ),
            "AWS::Region" => Some(self.region()),
            "AWS::Partition" => Some(self.partition()),
            "AWS::URLSuffix" => Some(given(name).unwrap_or_else(|| {
                if self.region().starts_with("cn-") { "amazonaws.com.cn" } else { "amazonaws.com" }.into()
            })),
            _ => None,
        }
    }

    fn region(&self) -> String {
        let key = self.given.key_arn.as_deref().and_then(crate::base::arn::Arn::parse);
        self.given
            .parameters
            .get("AWS::Region")
            .cloned()
            .or_else(|| key.map(|k| k.region.to_string()))
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| PLACEHOLDER_REGION.into())
    }

    fn partition(&self) -> String {
        if let Some(p) = self.given.parameters.get("AWS::Partition") {
            return p.clone();
        }
        let r = self.region();
        if r.starts_with("cn-") {
            "aws-cn".into()
        } else if r.starts_with("us-gov-") {
            "aws-us-gov".into()
        } else {
            "aws".into()
        }
    }

    fn resource(&self, name: &str) -> Option<&Json> {
        self.root.get("Resources").and_then(|r| r.get(name))
    }

    /// The value `Fn::GetAtt res.attr` (or `Ref`, `attr == "Ref"`) will have.
    fn attribute(&self, res: &str, attr: &str, run: &mut Run) -> String {
        let Some(r) = self.resource(res) else { return self.free(&format!("{res}.{attr}"), run) };
        let ty = r.get("Type").and_then(Json::as_str).unwrap_or_default();
        let Some((_, _, shape)) = RESOURCE_IDS.iter().find(|(t, a, _)| *t == ty && *a == attr) else {
            return self.free(&format!("{res}.{attr}"), run);
        };
        let props = r.get("Properties");
        let mut out = String::new();
        let mut rest = *shape;
        while let Some(start) = rest.find('{') {
            out.push_str(&rest[..start]);
            let len = rest[start..].find('}').unwrap_or(rest.len() - start);
            let field = &rest[start + 1..start + len];
            rest = &rest[(start + len + 1).min(rest.len())..];
            out.push_str(&self.field(res, ty, field, props, run));
        }
        out.push_str(rest);
        out
    }

    /// One `{Field}` of a [`RESOURCE_IDS`] shape.
    fn field(&self, res: &str, ty: &str, field: &str, props: Option<&Json>, run: &mut Run) -> String {
        match field {
            "Partition" => self.partition(),
            "Region" => self.region(),
            "Account" => self.pseudo("AWS::AccountId").unwrap_or_default(),
            // A key's ID is generated: the audited key's placeholder ID (as `placeholder_key_arn`).
            "KeyId" if ty == "AWS::KMS::Key" => PLACEHOLDER_KEY_ID.into(),
            _ => {
                let given = props.and_then(|p| p.get(field)).and_then(|v| self.value(v, run));
                match given.and_then(|v| v.scalar_text()) {
                    Some(v) => v,
                    None if field == "Path" => "/".into(),
                    None => self.free(&format!("{res}.{field}"), run),
                }
            }
        }
    }

    /// A condition's value: `Some` when the parameters decide it, else the branch this run
    /// assumes (`None`: not assumed yet — noted for the next variants).
    fn condition_named(&self, name: &str, run: &mut Run, depth: usize) -> Option<bool> {
        if let Some(b) = run.branches.get(name) {
            return Some(*b);
        }
        let def = self.root.get("Conditions").and_then(|c| c.get(name));
        let decided = def.filter(|_| depth < 16).and_then(|d| self.condition(d, run, depth + 1));
        if decided.is_none() {
            run.unknown.insert(name.to_string());
        }
        decided
    }

    /// A condition expression's value when the parameters decide it.
    fn condition(&self, c: &Json, run: &mut Run, depth: usize) -> Option<bool> {
        let [m] = c.members()? else { return None };
        let args = match &m.value.kind {
            Kind::Array(a) => a.as_slice(),
            _ => std::slice::from_ref(&m.value),
        };
        match m.key.as_str() {
            "Condition" => self.condition_named(m.value.as_str()?, run, depth),
            "Fn::Not" => self.condition(args.first()?, run, depth).map(|b| !b),
            "Fn::And" => args
                .iter()
                .map(|a| self.condition(a, run, depth))
                .collect::<Option<Vec<_>>>()
                .map(|v| v.iter().all(|b| *b)),
            "Fn::Or" => args
                .iter()
                .map(|a| self.condition(a, run, depth))
                .collect::<Option<Vec<_>>>()
                .map(|v| v.iter().any(|b| *b)),
            "Fn::Equals" => {
                let mut probe = Run { branches: run.branches.clone(), ..Run::default() };
                let sides: Vec<String> =
                    args.iter().filter_map(|a| self.value(a, &mut probe)).filter_map(|v| v.scalar_text()).collect();
                match sides.as_slice() {
                    [a, b] if !a.contains("${kmsproof:free/") && !b.contains("${kmsproof:free/") => Some(a == b),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// A free value named `name`, noted as assumed.
    fn free(&self, name: &str, run: &mut Run) -> String {
        run.assumed.insert(format!("free: {name}"));
        free_value(name)
    }
}

/// Operators that may carry a moved principal, tried in order: the first one the statement
/// does not use on the key already (a second use of the same operator and key would join
/// the values by "or" instead of "and").
const ARN_OPERATORS: &[&str] = &["ArnEquals", "ArnLike", "StringEquals", "StringLike"];
const ACCOUNT_EQUAL: &[&str] = &["StringEquals", "StringEqualsIgnoreCase", "StringLike"];

/// A principal with a free part, in the form AWS's principal grammar cannot hold (it
/// takes no variables), rewritten into an equivalent statement whose free part sits in a
/// condition, where the encoder leaves it free:
///
/// - a role or user ARN `arn:P:iam::A:role/<free>` names exactly the callers whose
///   `aws:PrincipalArn` is that ARN (a role's sessions carry the role's ARN there; anonymous
///   and service callers carry none), so it becomes `Principal: *` with
///   `ArnEquals aws:PrincipalArn`;
/// - an account `<free>` / `arn:P:iam::<free>:root` is two cases: the key's own account
///   (the principal is then that account, concretely), or another account, whose callers
///   are exactly those of `Principal: *` with `aws:PrincipalAccount` equal to it and not the
///   key's (cross-account callers need their own account's IAM policy either way).
///
/// Returns the variants (one unless an account is free) with what each assumes; `Err` names
/// a principal with a free part of another shape.
pub fn free_principals(policy: &Json, key_account: &str) -> Result<Vec<Resolved>, String> {
    let mut accounts: Vec<String> = Vec::new();
    for_each_free_principal(policy, &mut |p| {
        if let Some(a) = free_account(p) {
            if !accounts.contains(&a) {
                accounts.push(a);
            }
        }
    });
    let mut out = Vec::new();
    for mask in 0..(1usize << accounts.len().min(3)) {
        let own: BTreeSet<&String> =
            accounts.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, a)| a).collect();
        let value = rewrite_policy(policy, key_account, &own)?;
        let assumed = accounts
            .iter()
            .map(|a| {
                let name = a.trim_start_matches("${kmsproof:free/").trim_end_matches('}');
                if own.contains(a) {
                    format!("{name} = the key's account {key_account}")
                } else {
                    format!("{name} = another account than the key's (free)")
                }
            })
            .collect();
        out.push(Resolved { value, assumed });
    }
    Ok(out)
}

/// Calls `f` with every principal string of an `AWS` principal holding a free value.
fn for_each_free_principal(policy: &Json, f: &mut dyn FnMut(&str)) {
    for st in statements(policy) {
        let Some(aws) = st.get("Principal").and_then(|p| p.get("AWS")) else { continue };
        for s in strings_of(aws) {
            if s.contains("${kmsproof:free/") {
                f(&s);
            }
        }
    }
}

fn statements(policy: &Json) -> Vec<&Json> {
    match policy.get("Statement").map(|s| &s.kind) {
        Some(Kind::Array(items)) => items.iter().collect(),
        Some(_) => policy.get("Statement").into_iter().collect(),
        None => vec![],
    }
}

fn strings_of(v: &Json) -> Vec<String> {
    match &v.kind {
        Kind::String(s) => vec![s.clone()],
        Kind::Array(items) => items.iter().filter_map(|i| i.as_str().map(str::to_string)).collect(),
        _ => vec![],
    }
}

/// The free account of an account principal (`<free>`, `arn:P:iam::<free>:root`).
fn free_account(p: &str) -> Option<String> {
    let is_free = |s: &str| s.starts_with("${kmsproof:free/") && s.ends_with('}') && s.matches("${").count() == 1;
    if is_free(p) {
        return Some(p.to_string());
    }
    let masked = mask(p);
    let f = crate::base::arn::split(&masked)?;
    (f[2] == "iam" && f[5] == "root" && is_free(&unmask(f[4]))).then(|| unmask(f[4]))
}

/// A free value's `${kmsproof:free/` without its colon, so the text splits as an ARN.
fn mask(p: &str) -> String {
    p.replace("${kmsproof:free/", "${kmsproof-free/")
}

fn unmask(p: &str) -> String {
    p.replace("${kmsproof-free/", "${kmsproof:free/")
}

/// Whether `p` is a role or user ARN whose free part is in the name only.
fn free_named(p: &str) -> bool {
    crate::base::arn::split(&mask(p)).is_some_and(|f| {
        f[2] == "iam"
            && !f[4].contains("${")
            && !f[1].contains("${")
            && (f[5].starts_with("role/") || f[5].starts_with("user/"))
    })
}

fn rewrite_policy(policy: &Json, key_account: &str, own: &BTreeSet<&String>) -> Result<Json, String> {
    let mut out = policy.clone();
    let Kind::Object(ms) = &mut out.kind else { return Ok(out) };
    for m in ms.iter_mut().filter(|m| m.key == "Statement") {
        let items: Vec<Json> = match &m.value.kind {
            Kind::Array(items) => items.clone(),
            _ => vec![m.value.clone()],
        };
        let mut rewritten = Vec::new();
        for st in &items {
            rewritten.extend(rewrite_statement(st, key_account, own)?);
        }
        m.value = Json { pos: m.value.pos, kind: Kind::Array(rewritten) };
    }
    Ok(out)
}

/// One statement as statements with no free part in `Principal.AWS`.
fn rewrite_statement(st: &Json, key_account: &str, own: &BTreeSet<&String>) -> Result<Vec<Json>, String> {
    let Some(aws) = st.get("Principal").and_then(|p| p.get("AWS")) else { return Ok(vec![st.clone()]) };
    let entries = strings_of(aws);
    if !entries.iter().any(|e| e.contains("${kmsproof:free/")) {
        return Ok(vec![st.clone()]);
    }
    let (mut keep, mut named, mut other) = (Vec::new(), Vec::new(), Vec::new());
    for e in entries {
        match free_account(&e) {
            Some(a) if own.contains(&a) => keep.push(format!("arn:aws:iam::{key_account}:root")),
            Some(a) => other.push(a),
            None if !e.contains("${kmsproof:free/") => keep.push(e),
            None if free_named(&e) => named.push(e),
            None => {
                return Err(format!("the principal {e} has a free part that is not a role or user name or an account"))
            }
        }
    }
    let pos = aws.pos;
    let s = |t: &str| Json { pos, kind: Kind::String(t.to_string()) };
    let list = |v: &[String]| Json { pos, kind: Kind::Array(v.iter().map(|t| s(t)).collect()) };
    let mut out = Vec::new();
    let only_aws = st.get("Principal").and_then(Json::members).is_some_and(|m| m.len() == 1);
    if !keep.is_empty() || !only_aws {
        let mut kept = st.clone();
        set_principal_aws(&mut kept, if keep.is_empty() { None } else { Some(list(&keep)) });
        out.push(kept);
    }
    if !named.is_empty() {
        let mut moved = everyone(st, pos);
        add_condition(&mut moved, ARN_OPERATORS, "aws:PrincipalArn", list(&named))?;
        out.push(moved);
    }
    for a in other {
        let mut moved = everyone(st, pos);
        add_condition(&mut moved, ACCOUNT_EQUAL, "aws:PrincipalAccount", list(&[a]))?;
        add_condition(&mut moved, &["StringNotEquals"], "aws:PrincipalAccount", list(&[key_account.to_string()]))?;
        out.push(moved);
    }
    Ok(out)
}

/// The statement with `Principal: {"AWS": "*"}`.
fn everyone(st: &Json, pos: Pos) -> Json {
    let mut out = st.clone();
    set_principal_aws(&mut out, Some(Json { pos, kind: Kind::String("*".into()) }));
    if let Kind::Object(ms) = &mut out.kind {
        for m in ms.iter_mut().filter(|m| m.key == "Principal") {
            m.value.kind = Kind::Object(vec![Member {
                key: "AWS".into(),
                key_pos: pos,
                value: Json { pos, kind: Kind::String("*".into()) },
            }]);
        }
    }
    out
}

/// Sets (or with `None` removes) `Principal.AWS`; a `Principal` left empty is removed.
fn set_principal_aws(st: &mut Json, v: Option<Json>) {
    let Kind::Object(ms) = &mut st.kind else { return };
    for m in ms.iter_mut().filter(|m| m.key == "Principal") {
        if let Kind::Object(ps) = &mut m.value.kind {
            match &v {
                Some(v) => ps.iter_mut().filter(|p| p.key == "AWS").for_each(|p| p.value = v.clone()),
                None => ps.retain(|p| p.key != "AWS"),
            }
        }
    }
}

/// Adds `op: {key: values}` to the statement's `Condition` under the first operator of
/// `ops` that does not test `key` already.
fn add_condition(st: &mut Json, ops: &[&str], key: &str, values: Json) -> Result<(), String> {
    let pos = values.pos;
    let Kind::Object(ms) = &mut st.kind else { return Ok(()) };
    if !ms.iter().any(|m| m.key == "Condition") {
        ms.push(Member { key: "Condition".into(), key_pos: pos, value: Json { pos, kind: Kind::Object(vec![]) } });
    }
    let cond = ms.iter_mut().find(|m| m.key == "Condition").map(|m| &mut m.value);
    let Some(Json { kind: Kind::Object(blocks), .. }) = cond else {
        return Err("the statement's Condition is not an object".into());
    };
    let uses = |blocks: &[Member], op: &str| {
        blocks.iter().any(|b| {
            b.key.eq_ignore_ascii_case(op)
                && b.value.members().is_some_and(|ks| ks.iter().any(|k| k.key.eq_ignore_ascii_case(key)))
        })
    };
    let Some(op) = ops.iter().find(|op| !uses(blocks, op)) else {
        return Err(format!("the statement tests {key} under every operator a free principal could use"));
    };
    let entry = Member { key: key.into(), key_pos: pos, value: values };
    match blocks.iter_mut().find(|b| b.key == *op) {
        Some(b) => {
            if let Kind::Object(ks) = &mut b.value.kind {
                ks.push(entry);
            }
        }
        None => blocks.push(Member {
            key: (*op).into(),
            key_pos: pos,
            value: Json { pos, kind: Kind::Object(vec![entry]) },
        }),
    }
    Ok(())
}

/// Whether a member key names an intrinsic function (`Ref`, `Fn::…`; `Condition` only in
/// condition expressions, where it is read separately).
fn is_function(key: &str) -> bool {
    key == "Ref" || key.starts_with("Fn::")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::json::parse;

    fn resolve(template: &str, policy_path: &[&str], given: &TemplateValues) -> Vec<Resolved> {
        let root = parse(template).unwrap();
        let mut v = &root;
        for p in policy_path {
            v = v.get(p).unwrap();
        }
        Template::new(&root, given).variants(v)
    }

    #[test]
    fn sub_getatt_and_parameters() {
        let t = r#"{"Parameters": {"Env": {"Type": "String", "Default": "prod"}, "Partner": {"Type": "String"}},
          "Resources": {"R": {"Type": "AWS::IAM::Role", "Properties": {"RoleName": {"Fn::Sub": "app-${Env}"}}},
                        "G": {"Type": "AWS::IAM::Role", "Properties": {}}},
          "P": {"a": {"Fn::GetAtt": ["R", "Arn"]}, "b": {"Fn::Sub": "arn:${AWS::Partition}:iam::${Partner}:root"},
                "c": {"Fn::Join": ["-", ["x", {"Ref": "AWS::Region"}]]}, "d": {"Fn::GetAtt": ["G", "Arn"]}}}"#;
        let out = resolve(t, &["P"], &TemplateValues::default());
        assert_eq!(out.len(), 1);
        let v = &out[0].value;
        assert_eq!(v.get("a").unwrap().as_str(), Some("arn:aws:iam::111122223333:role/app-prod"));
        assert_eq!(v.get("b").unwrap().as_str(), Some("arn:aws:iam::${kmsproof:free/Partner}:root"));
        assert_eq!(v.get("c").unwrap().as_str(), Some("x-us-east-1"));
        assert_eq!(v.get("d").unwrap().as_str(), Some("arn:aws:iam::111122223333:role/${kmsproof:free/G.RoleName}"));
        assert_eq!(out[0].assumed, ["free: G.RoleName", "free: Partner"]);
        let given = TemplateValues {
            parameters: [("Partner".to_string(), "444455556666".to_string())].into(),
            key_arn: Some("arn:aws:kms:eu-west-1:999988887777:key/x".into()),
        };
        let out = resolve(t, &["P"], &given);
        assert_eq!(out[0].value.get("b").unwrap().as_str(), Some("arn:aws:iam::444455556666:root"));
        assert_eq!(out[0].value.get("c").unwrap().as_str(), Some("x-eu-west-1"));
    }

    #[test]
    fn an_unknown_condition_gives_both_branches() {
        let t = r#"{"Parameters": {"Env": {"Type": "String"}, "Known": {"Type": "String", "Default": "a"}},
          "Conditions": {"IsProd": {"Fn::Equals": [{"Ref": "Env"}, "prod"]}, "IsA": {"Fn::Equals": [{"Ref": "Known"}, "a"]}},
          "P": [{"Fn::If": ["IsProd", "p", {"Ref": "AWS::NoValue"}]}, {"Fn::If": ["IsA", "yes", "no"]}]}"#;
        let out = resolve(t, &["P"], &TemplateValues::default());
        assert_eq!(out.len(), 2);
        let texts: Vec<String> = out.iter().map(|r| crate::base::json::render_in_place(&r.value)).collect();
        assert!(texts.iter().any(|t| t.contains("\"p\"") && t.contains("yes")), "{texts:?}");
        assert!(texts.iter().any(|t| !t.contains("\"p\"") && t.contains("yes")), "{texts:?}");
        assert!(out.iter().all(|r| r.assumed.iter().any(|a| a.starts_with("Condition IsProd"))));
    }
}
