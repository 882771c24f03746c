//! Finding the policy documents inside files: plain policies and the CLI wrappers `eval`
//! reads, CloudFormation templates (JSON and YAML), `terraform show -json` output and
//! `aws iam get-account-authorization-details` output.
//!
//! Every document keeps where it came from (file, logical id / resource address / JSON
//! path, line). A file that cannot be read becomes an error document, so nothing is
//! skipped silently.

pub use super::document::{Body, Document, KeyProps};
pub use super::intrinsics::TemplateValues;
use super::intrinsics::{free_principals, Template};
use super::yaml;
use crate::base::arn::is_key_arn;
use crate::base::json::{self, Json, Kind, Pos};
use std::path::{Path, PathBuf};

/// Where CloudFormation and terraform put a key's spec, usage and ARN (first present wins;
/// an ARN only when it is a key ARN: a CloudFormation key's ARN exists only once deployed,
/// and an `aws_kms_key_policy`'s `key_id` may be a bare key id, which names no account).
const KEY_PROP_NAMES: &[KeyPropNames] = &[
    KeyPropNames { ty: "AWS::KMS::Key", spec: &["KeySpec"], usage: &["KeyUsage"], arn: &[] },
    KeyPropNames {
        ty: "aws_kms_key",
        spec: &["customer_master_key_spec", "key_spec"],
        usage: &["key_usage"],
        arn: &["arn"],
    },
    KeyPropNames { ty: "aws_kms_replica_key", spec: &[], usage: &[], arn: &["arn"] },
    KeyPropNames { ty: "aws_kms_key_policy", spec: &[], usage: &[], arn: &["key_id"] },
];

/// One row of [`KEY_PROP_NAMES`]: a resource type and the attributes of each key property.
struct KeyPropNames {
    ty: &'static str,
    spec: &'static [&'static str],
    usage: &'static [&'static str],
    arn: &'static [&'static str],
}

/// The key spec, usage and ARN among `props` (a resource's properties) for resource type `ty`.
fn key_props(ty: &str, props: &Json) -> KeyProps {
    let Some(names) = KEY_PROP_NAMES.iter().find(|n| n.ty == ty) else {
        return KeyProps::default();
    };
    let first = |names: &[&str]| names.iter().find_map(|n| props.get(n).and_then(Json::as_str)).map(str::to_string);
    let arn = first(names.arn).filter(|a| is_key_arn(a));
    KeyProps { spec: first(names.spec), usage: first(names.usage), arn }
}

/// The key ARN a whole-file key policy names beside `"Policy"` (`"KeyArn"`, or
/// `"KeyMetadata.Arn"` of a pasted `aws kms describe-key` object), as `who-can
/// --key-policy` reads it; `Err` (position, message) when the member is not a key ARN.
fn named_key_arn(file: &str, doc: &Json) -> Result<Option<String>, (Pos, String)> {
    if doc.get("Statement").is_some() {
        return Ok(None);
    }
    let (v, path) = match (doc.get("KeyArn"), doc.get("KeyMetadata").and_then(|m| m.get("Arn"))) {
        (Some(v), _) => (v, "KeyArn"),
        (None, Some(v)) => (v, "KeyMetadata.Arn"),
        (None, None) => return Ok(None),
    };
    match v.as_str() {
        Some(a) if is_key_arn(a) => Ok(Some(a.to_string())),
        _ => Err((
            v.pos,
            format!(
                "{file}:{}: error: at {path}: expected a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID), found {}",
                v.pos,
                v.as_str().map_or_else(|| v.type_name().to_string(), |s| format!("{s:?}"))
            ),
        )),
    }
}

/// Lists the files under `paths` (directories recursively, sorted; `-` is standard input).
/// A path that does not exist is returned as is, so reading it reports the error.
pub fn list_files(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out);
        } else {
            out.push(p.clone());
        }
    }
    out
}

/// Files whose extension says they may hold policies (others in a directory are ignored,
/// e.g. READMEs; files named explicitly are always read).
const EXTENSIONS: &[&str] = &["json", "yaml", "yml", "template"];

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        out.push(dir.to_path_buf());
        return;
    };
    // Directory symlinks are not followed (no loops); a file symlink is read like a file.
    let mut entries: Vec<(PathBuf, bool)> =
        entries.flatten().map(|e| (e.path(), e.file_type().is_ok_and(|t| t.is_dir()))).collect();
    entries.sort();
    for (p, is_dir) in entries {
        if is_dir {
            walk(&p, out);
        } else if p.extension().and_then(|e| e.to_str()).is_some_and(|e| EXTENSIONS.contains(&e)) {
            out.push(p);
        }
    }
}

/// Reads one file and returns its documents (an error document when unreadable).
pub fn read_file(path: &Path) -> Vec<Document> {
    read_file_with(path, &TemplateValues::default())
}

/// [`read_file`], resolving templates with the values the command line gives.
pub fn read_file_with(path: &Path, values: &TemplateValues) -> Vec<Document> {
    let file = if path == Path::new("-") { "<stdin>".to_string() } else { path.display().to_string() };
    match crate::model::load::read_source(path) {
        Ok((text, _)) => documents_in_with(&file, &text, values),
        Err(e) => {
            // An unreadable file's position (the first bad byte of non-UTF-8 text).
            let pos = match &e {
                crate::base::diag::Error::Invalid(d) => d.first().map_or(Pos::default(), |d| d.pos),
                _ => Pos::default(),
            };
            vec![error_doc(&file, "", pos, e.to_string())]
        }
    }
}

fn error_doc(file: &str, location: &str, pos: Pos, message: String) -> Document {
    Document {
        file: file.into(),
        location: location.into(),
        pos,
        body: Body::Error(message),
        key: KeyProps::default(),
        assumed: vec![],
    }
}

fn skipped(file: &str, pos: Pos, message: String) -> Document {
    Document {
        file: file.into(),
        location: String::new(),
        pos,
        body: Body::Skipped(message),
        key: KeyProps::default(),
        assumed: vec![],
    }
}

/// The documents in `text`, read as JSON, or as YAML when it is not JSON and looks like
/// a CloudFormation template.
pub fn documents_in(file: &str, text: &str) -> Vec<Document> {
    documents_in_with(file, text, &TemplateValues::default())
}

/// [`documents_in`], resolving templates with the values the command line gives.
pub fn documents_in_with(file: &str, text: &str, values: &TemplateValues) -> Vec<Document> {
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if !trimmed.starts_with(['{', '[']) && !trimmed.is_empty() {
        return yaml_documents(file, text, values);
    }
    match json::parse(text) {
        Ok(doc) => from_json(file, text, &doc, values),
        Err(e) => vec![error_doc(file, "", e.pos, format!("{file}:{}: error: {}", e.pos, e.message))],
    }
}

/// The documents of a YAML file: its JSON form sorted like a JSON file, each pointed back
/// at the YAML file.
fn yaml_documents(file: &str, text: &str, values: &TemplateValues) -> Vec<Document> {
    match yaml::to_json(file, text) {
        Ok((json_text, doc)) => {
            from_json(file, &json_text, &doc, values).into_iter().map(|d| yaml::relocate(d, text)).collect()
        }
        Err((pos, message)) => vec![error_doc(file, "", pos, message)],
    }
}

/// Sorts a parsed file into the formats it can be.
fn from_json(file: &str, text: &str, doc: &Json, values: &TemplateValues) -> Vec<Document> {
    let whole = || Document {
        file: file.into(),
        location: String::new(),
        pos: doc.pos,
        body: Body::Policy { text: text.into(), label: file.into(), exact: true },
        key: KeyProps::default(),
        assumed: vec![],
    };
    if ["Statement", "Policy", "PolicyVersion"].iter().any(|k| doc.get(k).is_some()) {
        return match named_key_arn(file, doc) {
            Ok(arn) => vec![Document { key: KeyProps { arn, ..KeyProps::default() }, ..whole() }],
            Err((pos, message)) => vec![error_doc(file, "", pos, message)],
        };
    }
    let out = if doc.get("Resources").is_some() {
        cloudformation(file, doc, values)
    } else if doc.get("values").is_some() || doc.get("planned_values").is_some() {
        terraform(file, doc)
    } else if GAAD_LISTS.iter().any(|(k, _, _)| doc.get(k).is_some()) {
        gaad(file, doc)
    } else {
        return vec![skipped(file, doc.pos, format!("{file}:{}: skipped: not a policy document (no \"Statement\"), CloudFormation template (\"Resources\"), `terraform show -json` output (\"values\") or `aws iam get-account-authorization-details` output", doc.pos))];
    };
    if out.is_empty() {
        return vec![error_doc(
            file,
            "",
            doc.pos,
            format!("{file}:{}: note: no KMS key policy or IAM policy found in this file", doc.pos),
        )];
    }
    out
}

/// A policy found at `value` (an object, or JSON text / URL-encoded text in a string).
fn embedded(file: &str, location: String, value: &Json) -> Document {
    if let Some(fun) = intrinsic(value) {
        let msg = format!(
            "{file}:{}: error: at {location}: the policy uses the CloudFormation intrinsic function {} (at {}); kmsproof audits literal policies only (deploy, then audit `aws kms get-key-policy` output)",
            value.pos, fun.0, fun.1
        );
        return error_doc(file, &location, value.pos, msg);
    }
    let body = match &value.kind {
        Kind::String(s) => Body::Policy {
            text: serde_json::json!({ "Policy": s }).to_string(),
            label: format!("{file} ({location})"),
            exact: false,
        },
        _ => Body::Policy { text: crate::base::json::render_in_place(value), label: file.into(), exact: true },
    };
    Document { file: file.into(), location, pos: value.pos, body, key: KeyProps::default(), assumed: vec![] }
}

/// The first CloudFormation intrinsic function (`Ref`, `Fn::*`) inside `v`, with its position.
fn intrinsic(v: &Json) -> Option<(String, Pos)> {
    match &v.kind {
        Kind::Object(ms) => ms.iter().find_map(|m| {
            if m.key == "Ref" || m.key.starts_with("Fn::") {
                Some((m.key.clone(), m.key_pos))
            } else {
                intrinsic(&m.value)
            }
        }),
        Kind::Array(items) => items.iter().find_map(intrinsic),
        _ => None,
    }
}

/// CloudFormation resource types and where their policies are: `Name` is a property,
/// `List[].Name` a property of each element of a list property.
const CFN_POLICIES: &[(&str, &str)] = &[
    ("AWS::KMS::Key", "KeyPolicy"),
    ("AWS::KMS::ReplicaKey", "KeyPolicy"),
    ("AWS::IAM::Policy", "PolicyDocument"),
    ("AWS::IAM::ManagedPolicy", "PolicyDocument"),
    ("AWS::IAM::Role", "Policies[].PolicyDocument"),
    ("AWS::IAM::User", "Policies[].PolicyDocument"),
    ("AWS::IAM::Group", "Policies[].PolicyDocument"),
    ("AWS::IAM::RolePolicy", "PolicyDocument"),
    ("AWS::IAM::UserPolicy", "PolicyDocument"),
    ("AWS::IAM::GroupPolicy", "PolicyDocument"),
];

fn cloudformation(file: &str, doc: &Json, values: &TemplateValues) -> Vec<Document> {
    let mut out = Vec::new();
    let template = Template::new(doc, values);
    for r in doc.get("Resources").and_then(Json::members).unwrap_or(&[]) {
        let Some(ty) = r.value.get("Type").and_then(Json::as_str) else { continue };
        let Some(props) = r.value.get("Properties") else { continue };
        for (_, path) in CFN_POLICIES.iter().filter(|(t, _)| *t == ty) {
            let base = format!("Resources.{}.Properties", r.key);
            for (loc, value) in select(props, path, &base) {
                let location = format!("{loc} ({ty})");
                if !Template::uses_intrinsics(value) {
                    out.push(Document { key: key_props(ty, props), ..embedded(file, location, value) });
                    continue;
                }
                out.extend(resolved(file, &template, &location, value, key_props(ty, props)));
            }
        }
    }
    out
}

/// The documents of a policy that uses intrinsic functions: one per variant (an unknown
/// `Fn::If` condition, an account left free), each saying what it assumes. The key lives in
/// the stack's account and Region (`AWS::AccountId`, `AWS::Region`), so its ARN is that
/// of the audit's placeholder key there unless `--key-arn` gives one.
fn resolved(file: &str, template: &Template, location: &str, value: &Json, key: KeyProps) -> Vec<Document> {
    let key = KeyProps { arn: key.arn.clone().or_else(|| Some(template.key_arn())), ..key };
    let account = template.account();
    let mut out = Vec::new();
    let variants = template.variants(value);
    let many = variants.len() > 1;
    for v in variants {
        let branches: Vec<&String> = v.assumed.iter().filter(|a| a.starts_with("Condition ")).collect();
        let location = if many {
            format!("{location} [{}]", branches.iter().map(|b| b.as_str()).collect::<Vec<_>>().join(", "))
        } else {
            location.to_string()
        };
        match free_principals(&v.value, &account) {
            Ok(forms) => {
                let more = forms.len() > 1;
                for f in forms {
                    let location =
                        if more { format!("{location} [{}]", f.assumed.join(", ")) } else { location.clone() };
                    let mut assumed = v.assumed.clone();
                    assumed.extend(f.assumed);
                    assumed.extend(template.placeholders());
                    let d = embedded(file, location, &f.value);
                    out.push(Document { key: key.clone(), assumed, ..d });
                }
            }
            Err(why) => out.push(error_doc(
                file,
                &location,
                value.pos,
                format!(
                    "{file}:{}: error: at {location}: {why}; give the value with --parameter NAME=VALUE",
                    value.pos
                ),
            )),
        }
    }
    out
}

/// The values at `path` (`A.B`, `A[].B`) under `v`, with their JSON paths.
fn select<'a>(v: &'a Json, path: &str, base: &str) -> Vec<(String, &'a Json)> {
    let (head, rest) = match path.split_once('.') {
        Some((h, r)) => (h, Some(r)),
        None => (path, None),
    };
    let (name, each) = match head.strip_suffix("[]") {
        Some(n) => (n, true),
        None => (head, false),
    };
    let Some(child) = v.get(name) else { return vec![] };
    let here = format!("{base}.{name}");
    let children: Vec<(String, &Json)> = match (&child.kind, each) {
        (Kind::Array(items), true) => items.iter().enumerate().map(|(i, it)| (format!("{here}[{i}]"), it)).collect(),
        (_, true) => vec![],
        _ => vec![(here, child)],
    };
    match rest {
        None => children,
        Some(r) => children.into_iter().flat_map(|(p, c)| select(c, r, &p)).collect(),
    }
}

/// Terraform resource types whose attribute holds a policy as JSON text.
const TF_POLICIES: &[(&str, &str)] = &[
    ("aws_kms_key", "policy"),
    ("aws_kms_replica_key", "policy"),
    ("aws_kms_key_policy", "policy"),
    ("aws_iam_policy", "policy"),
    ("aws_iam_role_policy", "policy"),
    ("aws_iam_user_policy", "policy"),
    ("aws_iam_group_policy", "policy"),
];

fn terraform(file: &str, doc: &Json) -> Vec<Document> {
    let plan = Plan::of(doc);
    let mut out = Vec::new();
    for top in ["values", "planned_values"] {
        if let Some(root) = doc.get(top).and_then(|v| v.get("root_module")) {
            terraform_module(file, root, &plan, &mut out);
        }
    }
    out
}

/// What a plan says beyond its planned values: which attributes are known only after
/// apply (`resource_changes[].change.after_unknown`) and what the configuration computes
/// them from (`configuration…expressions.ATTR.references`).
#[derive(Default)]
struct Plan {
    unknown: std::collections::BTreeSet<String>,
    references: std::collections::BTreeMap<String, Vec<String>>,
}

impl Plan {
    fn of(doc: &Json) -> Plan {
        let mut plan = Plan::default();
        if let Some(Kind::Array(changes)) = doc.get("resource_changes").map(|c| &c.kind) {
            for c in changes {
                let address = c.get("address").and_then(Json::as_str).unwrap_or_default();
                let unknown = c.get("change").and_then(|ch| ch.get("after_unknown")).and_then(Json::members);
                for m in unknown.unwrap_or(&[]) {
                    if matches!(m.value.kind, Kind::Bool(true)) {
                        plan.unknown.insert(format!("{address}.{}", m.key));
                    }
                }
            }
        }
        if let Some(root) = doc.get("configuration").and_then(|c| c.get("root_module")) {
            plan.configuration(root, "");
        }
        plan
    }

    /// The references of each resource attribute's expression, by `address.attr`.
    fn configuration(&mut self, module: &Json, prefix: &str) {
        if let Some(Kind::Array(resources)) = module.get("resources").map(|r| &r.kind) {
            for r in resources {
                let address = r.get("address").and_then(Json::as_str).unwrap_or_default();
                for e in r.get("expressions").and_then(Json::members).unwrap_or(&[]) {
                    let refs: Vec<String> = match e.value.get("references").map(|x| &x.kind) {
                        Some(Kind::Array(items)) => {
                            items.iter().filter_map(|i| i.as_str().map(str::to_string)).collect()
                        }
                        _ => continue,
                    };
                    self.references.insert(format!("{prefix}{address}.{}", e.key), refs);
                }
            }
        }
        for call in module.get("module_calls").and_then(Json::members).unwrap_or(&[]) {
            if let Some(inner) = call.value.get("module") {
                self.configuration(inner, &format!("{prefix}module.{}.", call.key));
            }
        }
    }

    /// Why `address.attr` has no value: known only after apply (and from what), or none.
    fn no_value(&self, file: &str, pos: Pos, at: &str) -> Body {
        if !self.unknown.contains(at) {
            return Body::Skipped(format!("{file}:{pos}: skipped: {at} has no value (empty or null in the plan)"));
        }
        let from = match self.references.get(at) {
            Some(refs) if !refs.is_empty() => format!(" (computed from {})", refs.join(", ")),
            _ => String::new(),
        };
        Body::Free(format!(
            "{file}:{pos}: {at} is known only after apply{from}: the whole policy is free, so no check can be decided before apply (audit `terraform show -json` of the applied state, or make the values it reads known at plan time)"
        ))
    }
}

fn terraform_module(file: &str, module: &Json, plan: &Plan, out: &mut Vec<Document>) {
    if let Some(Kind::Array(resources)) = module.get("resources").map(|r| &r.kind) {
        for r in resources {
            let ty = r.get("type").and_then(Json::as_str).unwrap_or_default();
            let address = r.get("address").and_then(Json::as_str).unwrap_or(ty);
            let key = r.get("values").map(|v| key_props(ty, v)).unwrap_or_default();
            let assumed: Vec<String> = ["arn", "key_id"]
                .iter()
                .filter(|a| plan.unknown.contains(&format!("{address}.{a}")))
                .map(|a| format!("free: {address}.{a} (known after apply)"))
                .collect();
            for (_, attr) in TF_POLICIES.iter().filter(|(t, _)| *t == ty) {
                let at = format!("{address}.{attr}");
                match r.get("values").and_then(|v| v.get(attr)) {
                    Some(v) if v.as_str().is_some_and(|s| !s.is_empty()) || matches!(v.kind, Kind::Object(_)) => {
                        out.push(Document { key: key.clone(), assumed: assumed.clone(), ..embedded(file, at, v) })
                    }
                    // Known after apply (absent or `null` in a plan), or empty.
                    _ => out.push(Document {
                        file: file.into(),
                        body: plan.no_value(file, r.pos, &at),
                        location: at,
                        pos: r.pos,
                        key: KeyProps::default(),
                        assumed: assumed.clone(),
                    }),
                }
            }
        }
    }
    if let Some(Kind::Array(children)) = module.get("child_modules").map(|c| &c.kind) {
        for c in children {
            terraform_module(file, c, plan, out);
        }
    }
}

/// `get-account-authorization-details` lists: (list, name field, inline-policy list).
const GAAD_LISTS: &[(&str, &str, &str)] = &[
    ("Policies", "Arn", ""),
    ("RoleDetailList", "Arn", "RolePolicyList"),
    ("UserDetailList", "Arn", "UserPolicyList"),
    ("GroupDetailList", "Arn", "GroupPolicyList"),
];

fn gaad(file: &str, doc: &Json) -> Vec<Document> {
    let mut out = Vec::new();
    for (list, name_field, inline) in GAAD_LISTS {
        let Some(Kind::Array(items)) = doc.get(list).map(|l| &l.kind) else { continue };
        for (i, item) in items.iter().enumerate() {
            let name = item.get(name_field).and_then(Json::as_str).unwrap_or_default();
            if inline.is_empty() {
                gaad_managed(file, &format!("{list}[{i}]"), name, item, &mut out);
                continue;
            }
            for (loc, p) in select(item, &format!("{inline}[].PolicyDocument"), &format!("{list}[{i}]")) {
                out.push(embedded(file, format!("{loc} ({name})"), p));
            }
        }
    }
    out
}

/// The default version of a managed policy (the one in force).
fn gaad_managed(file: &str, path: &str, name: &str, item: &Json, out: &mut Vec<Document>) {
    let Some(Kind::Array(versions)) = item.get("PolicyVersionList").map(|v| &v.kind) else { return };
    for (j, v) in versions.iter().enumerate() {
        if matches!(v.get("IsDefaultVersion").map(|d| &d.kind), Some(Kind::Bool(true))) {
            if let Some(d) = v.get("Document") {
                out.push(embedded(file, format!("{path}.PolicyVersionList[{j}].Document ({name})"), d));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_place_rendering_keeps_positions() {
        let text = "{\"a\":\n  {\"Statement\": [ {\"Effect\":   \"Allow\"}],\n \"x\": 1.50}}";
        let doc = json::parse(text).unwrap();
        let inner = doc.get("a").unwrap();
        let again = json::parse(&crate::base::json::render_in_place(inner)).unwrap();
        assert_eq!(&again, inner);
    }

    #[test]
    fn the_key_arn_the_input_gives() {
        let arn = "arn:aws:kms:eu-west-1:111122223333:key/0a1b2c3d-1111-2222-3333-444455556666";
        let policy = r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"}]}"#;
        let named = format!(r#"{{"KeyArn": "{arn}", "Policy": {policy}}}"#);
        assert_eq!(documents_in("f.json", &named)[0].key.arn.as_deref(), Some(arn));
        assert_eq!(documents_in("f.json", policy)[0].key.arn, None);
        let bad = format!(r#"{{"KeyArn": "alias/x", "Policy": {policy}}}"#);
        assert!(matches!(&documents_in("f.json", &bad)[0].body, Body::Error(m) if m.contains("KeyArn")));
        let tf = format!(
            r#"{{"values": {{"root_module": {{"resources": [{{"type": "aws_kms_key", "address": "aws_kms_key.k", "values": {{"arn": "{arn}", "policy": {}}}}}]}}}}}}"#,
            serde_json::to_string(policy).unwrap()
        );
        assert_eq!(documents_in("f.json", &tf)[0].key.arn.as_deref(), Some(arn));
    }
}
