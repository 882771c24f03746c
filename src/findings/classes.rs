//! The principal classes `findings` cuts the callers into: the principals the inputs name
//! (roles, users, service principals, accounts, grantees), the key's own account, the
//! accounts conditions name (`kms:CallerAccount`, `aws:PrincipalAccount`), then "any other
//! account", "any other service" and "anyone else". Each class is an `Allow` shape read
//! by the property reader, and a caller belongs to the *first* class whose shape it
//! matches: the classes partition every caller by construction, on the solver's side
//! (each term minus the earlier ones) and on the evaluator's (first match) alike.

use crate::base::arn;
use crate::base::pattern::Piece;
use crate::model::inputs::Inputs;
use crate::model::policy::{CondValue, PrincipalEntry, Statement};
use crate::model::property::properties_from_value;
use serde_json::{json, Value};

/// What kind of principal a class holds; decides its exposure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClassKind {
    /// A role or user named by ARN, in `account`.
    Named { account: String },
    /// The root user of `account`.
    Root { account: String },
    /// Any other IAM principal of `account` the earlier classes do not hold.
    Account { account: String },
    /// A named service principal.
    Service,
    /// An IAM caller of an account no input names.
    OtherAccount,
    /// A service principal no input names.
    OtherService,
    /// Whoever is left: anonymous callers.
    Anyone,
}

/// One principal class.
#[derive(Debug, Clone)]
pub struct PrincipalClass {
    /// How a reviewer reads it, e.g. `role arn:aws:iam::111122223333:role/Admin`.
    pub label: String,
    pub kind: ClassKind,
    /// The shape a caller of the class matches (earlier classes taken out).
    pub shape: Statement,
}

impl PrincipalClass {
    /// The account the class lies in, if it is one account's.
    pub fn account(&self) -> Option<&str> {
        match &self.kind {
            ClassKind::Named { account } | ClassKind::Root { account } | ClassKind::Account { account } => {
                Some(account)
            }
            _ => None,
        }
    }
}

/// The classes for `inputs`, the key's own account first.
pub fn classes(inputs: &Inputs, key_account: &str) -> Vec<PrincipalClass> {
    let mut named: Vec<(String, String, &'static str)> = vec![]; // (arn, account, what)
    let mut services: Vec<String> = vec![];
    let mut accounts: Vec<String> = vec![key_account.to_string()];
    let add_account = |a: &str, accounts: &mut Vec<String>| {
        if !accounts.iter().any(|x| x == a) {
            accounts.push(a.to_string());
        }
    };
    for st in inputs.key_policy.statements.iter() {
        for e in st.principal.iter().flat_map(|p| &p.entries) {
            match e {
                PrincipalEntry::Account(a) => add_account(a, &mut accounts),
                PrincipalEntry::Role { arn, account, .. } => push_named(&mut named, arn, account, "role"),
                PrincipalEntry::Exact(a) => {
                    if let Some(acc) = arn::account_id(a) {
                        push_named(&mut named, a, acc, "principal");
                    }
                }
                PrincipalEntry::Service(s) if !services.contains(s) => services.push(s.clone()),
                _ => {}
            }
        }
    }
    for st in inputs.policies().flat_map(|p| &p.statements) {
        for a in condition_accounts(st) {
            add_account(&a, &mut accounts);
        }
    }
    for g in &inputs.grants {
        grantee(&g.grantee, &mut named, &mut services, &mut accounts);
    }
    for (_, a, _) in &named {
        add_account(a, &mut accounts);
    }
    let mut out = vec![];
    for (arn, account, what) in &named {
        out.extend(class(
            format!("{what} {arn}"),
            ClassKind::Named { account: account.clone() },
            json!(arn),
            json!({}),
        ));
    }
    for s in &services {
        out.extend(class(format!("service {s}"), ClassKind::Service, json!(s), json!({})));
    }
    for a in &accounts {
        let own = if a == key_account { " (the key's)" } else { "" };
        // The root user apart: it needs no identity policy, so it would hide what the
        // key policy lets the account's other principals do on their own.
        out.extend(class(
            format!("root user of account {a}{own}"),
            ClassKind::Root { account: a.clone() },
            json!(a),
            json!({"StringEquals": {"aws:PrincipalType": "Account"}}),
        ));
        let label = format!("any other principal of account {a}{own}");
        out.extend(class(label, ClassKind::Account { account: a.clone() }, json!(a), json!({})));
    }
    out.extend(class(
        "any other account".into(),
        ClassKind::OtherAccount,
        json!("*"),
        json!({"Null": {"aws:PrincipalAccount": "false"}}),
    ));
    out.extend(class(
        "any other AWS service".into(),
        ClassKind::OtherService,
        json!("*"),
        json!({"Bool": {"aws:PrincipalIsAWSService": "true"}}),
    ));
    out.extend(class("anyone else (anonymous callers)".into(), ClassKind::Anyone, json!("*"), json!({})));
    out
}

fn push_named(named: &mut Vec<(String, String, &'static str)>, arn: &str, account: &str, what: &'static str) {
    if !named.iter().any(|(a, _, _)| a == arn) {
        named.push((arn.to_string(), account.to_string(), what));
    }
}

/// A grantee: an account, a role or user ARN, or a service principal.
fn grantee(
    g: &str,
    named: &mut Vec<(String, String, &'static str)>,
    services: &mut Vec<String>,
    accounts: &mut Vec<String>,
) {
    if let Some(a) = crate::model::grant::account_of(g) {
        if !accounts.contains(&a) {
            accounts.push(a);
        }
    } else if let Some(acc) = arn::account_id(g).filter(|_| g.starts_with("arn:")) {
        let what = if g.contains(":role/") { "role" } else { "principal" };
        push_named(named, g, acc, what);
    } else if g.ends_with(".amazonaws.com") && !services.iter().any(|s| s == g) {
        services.push(g.to_string());
    }
}

/// The account IDs a statement's conditions name for the caller's account.
fn condition_accounts(st: &Statement) -> Vec<String> {
    let caller_keys = ["kms:calleraccount", "aws:principalaccount"];
    st.conditions
        .iter()
        .filter(|c| caller_keys.contains(&c.key.to_ascii_lowercase().as_str()))
        .flat_map(|c| &c.values)
        .filter_map(|v| match v {
            CondValue::Text(p) => match p.as_slice() {
                [Piece::Text(t)] if arn::is_account_id(t) => Some(t.clone()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// A class from its property form; `None` when the property reader refuses the principal
/// (its callers then fall into a later class: its account's, or "anyone else").
fn class(label: String, kind: ClassKind, principal: Value, condition: Value) -> Option<PrincipalClass> {
    let doc = json!({"name": label, "expect": "never", "principal": principal, "action": "*", "condition": condition});
    let shape = properties_from_value(&doc, "<principal class>").ok()?.into_iter().next()?.shape;
    Some(PrincipalClass { label, kind, shape })
}
