//! Federated callers: one class node per identity provider a trust policy admits for
//! `sts:AssumeRoleWithWebIdentity` or `sts:AssumeRoleWithSAML` (an OIDC or SAML provider ARN,
//! `accounts.google.com`, `cognito-identity.amazonaws.com`, …, or `"*"`).
//!
//! A federated caller is outside the generic encoding (its request carries the provider's
//! claims — `token.actions.githubusercontent.com:sub`, `SAML:aud` — not an IAM principal),
//! so the edge into the role is never claimed: the class is **unknown** when a role it may
//! assume can (or may) reach the key, with the trust statement and the condition keys it
//! tests, and **cannot** only when every such role is proved unable — a federated session
//! is a session of the role, with the role's policies and boundary (session policies only
//! narrow them), and the role's last hop ranges over every context value Z3 can choose.
//! A global provider (an issuer such as `accounts.google.com`, not one account's provider
//! ARN) may be trusted by roles of accounts outside the dumps as well, so it is `cannot`
//! only when, besides, every class of principals outside the dumps is proved unable.

use super::domain::{Edge, Node, NodeKind, Status, Technique, Undecided};
use super::gaad::Account;
use super::kms::KmsHop;
use super::preselect::action_may_match;
use crate::model::policy::{Effect, PrincipalEntry, Statement};

/// The two federation calls and what their provider entries look like.
const CALLS: &[&str] = &["sts:AssumeRoleWithWebIdentity", "sts:AssumeRoleWithSAML"];

/// One identity provider and the roles whose trust policies admit it.
#[derive(Debug, Clone)]
pub struct Provider {
    pub label: String,
    /// Not an account's own provider (an issuer such as `accounts.google.com`, or any
    /// provider): roles of accounts outside the dumps may trust it too.
    pub global: bool,
    /// (role ARN, why the edge is undecided).
    pub roles: Vec<(String, String)>,
}

/// Every provider the dumps' trust policies admit, in a stable order.
pub fn providers(accounts: &[Account]) -> Vec<Provider> {
    let mut out: Vec<Provider> = Vec::new();
    for a in accounts {
        for r in &a.roles {
            let allows = r.trust.statements.iter().filter(|s| s.effect == Effect::Allow);
            for st in allows {
                for call in CALLS.iter().filter(|c| action_may_match(&st.action, c)) {
                    for (name, global) in provider_names(st) {
                        let label = format!("identities of {name} ({call})");
                        let why = format!(
                            "{call} from {name} into role {} is not modelled (a federated caller is outside the encoding); {} admits it{}",
                            r.name,
                            st.label(),
                            tested(st)
                        );
                        match out.iter_mut().find(|p| p.label == label) {
                            Some(p) => p.roles.push((r.arn.clone(), why)),
                            None => out.push(Provider { label, global, roles: vec![(r.arn.clone(), why)] }),
                        }
                    }
                }
            }
        }
    }
    out.sort_by(|a, b| a.label.cmp(&b.label));
    out
}

/// The providers a statement's principal names (`"*"` and `NotPrincipal` admit any), each
/// with whether it is global (not an `oidc-provider`/`saml-provider` ARN of one account).
fn provider_names(st: &Statement) -> Vec<(String, bool)> {
    let Some(p) = &st.principal else { return vec![] };
    if p.negated {
        return vec![("any identity provider (NotPrincipal)".into(), true)];
    }
    p.entries
        .iter()
        .filter_map(|e| match e {
            PrincipalEntry::Everyone => Some(("any identity provider (Principal \"*\")".to_string(), true)),
            PrincipalEntry::Other(x) => {
                x.strip_prefix("Federated:").map(|f| (format!("provider {f}"), !f.starts_with("arn:")))
            }
            _ => None,
        })
        .collect()
}

/// The condition keys a statement tests, for the reason text.
fn tested(st: &Statement) -> String {
    if st.conditions.is_empty() {
        return " with no condition".into();
    }
    let keys: Vec<String> = st.conditions.iter().map(|c| format!("{} {}", c.op.canonical(), c.key)).collect();
    format!(" under {} (not decided)", keys.join(", "))
}

/// Adds a class node per provider to a decided analysis, with its status: unknown when a
/// role it may assume is not proved unable, else cannot (see the module comment).
pub fn attach(
    accounts: &[Account],
    graph: &mut petgraph::graph::DiGraph<Node, Edge>,
    last: &mut Vec<Option<KmsHop>>,
    status: &mut Vec<Status>,
    undecided: &mut Vec<Undecided>,
) {
    for p in providers(accounts) {
        let node = Node {
            label: p.label.clone(),
            kind: NodeKind::Class,
            actor: None,
            base: None,
            added: Default::default(),
            key: Default::default(),
        };
        let n = graph.add_node(node);
        last.push(None);
        let call = CALLS.iter().find(|c| p.label.ends_with(&format!("({c})"))).copied().unwrap_or(CALLS[0]);
        let mut open = None;
        for (role, why) in &p.roles {
            let Some(r) = graph.node_indices().find(|i| graph[*i].label == *role) else { continue };
            undecided.push(Undecided { from: n, to: r, technique: Technique::Federated(call), why: why.clone() });
            if open.is_none() && !matches!(status[r.index()], Status::Cannot) {
                let role_status = status[r.index()].as_str();
                open = Some(format!("{why}; the role's own status: {role_status}"));
            }
        }
        if open.is_none() && p.global {
            // Roles outside the dumps may trust this provider: their principals' classes.
            let outside = graph.node_indices().find(|i| {
                graph[*i].kind == NodeKind::Class
                    && graph[*i].actor.is_some()
                    && !matches!(status[i.index()], Status::Cannot)
            });
            open = outside.map(|i| {
                format!(
                    "roles outside the dumps may trust {} too, and {} is not proved unable ({})",
                    p.label,
                    graph[i].label,
                    status[i.index()].as_str()
                )
            });
        }
        status.push(match open {
            Some(why) => Status::Unknown(why),
            None => Status::Cannot,
        });
    }
}
