//! Sound pre-selection: whether a policy statement *can* cover a question (an action, a
//! resource, a caller), whatever its conditions. A question no `Allow` can answer `yes`
//! is not asked; one that may be is decided by Z3. Shared by the edges, the federated
//! classes, the service trust side and the last hop.

use super::domain::{Actor, Who};
use crate::base::pattern::{glob_match_ignore_case, resolve, tokens_text};
use crate::model::policy::{Effect, Matcher, Policy, PrincipalEntry};

/// Whether some `Allow` of `policies` has an `Action` that can cover `action`.
pub fn may_allow(policies: &[Policy], action: &str, resource: Option<&str>) -> bool {
    policies.iter().flat_map(|p| &p.statements).any(|s| {
        s.effect == Effect::Allow
            && action_may_match(&s.action, action)
            && resource.is_none_or(|r| s.resource.as_ref().is_some_and(|m| resource_may_match(m, r)))
    })
}

/// Whether `Resource`/`NotResource` can cover `resource` (a pattern with variables: maybe).
fn resource_may_match(m: &Matcher, resource: &str) -> bool {
    may_hit(m, |toks| crate::base::pattern::resource_match(toks, resource))
}

/// Whether `Action`/`NotAction` can cover `action` (a pattern with variables: maybe).
pub fn action_may_match(m: &Matcher, action: &str) -> bool {
    // Plain text patterns (no variables) read as themselves: matched without resolving.
    fn text(p: &[crate::base::pattern::Piece]) -> Option<&str> {
        match p {
            [crate::base::pattern::Piece::Text(t)] => Some(t),
            _ => None,
        }
    }
    if m.patterns.iter().all(|p| text(p).is_some()) {
        return m.patterns.iter().filter_map(|p| text(p)).any(|t| glob_match_ignore_case(t, action)) != m.negated;
    }
    may_hit(m, |toks| glob_match_ignore_case(&tokens_text(toks), action))
}

/// Whether a matcher can cover a target, `hit` deciding each variable-free pattern; a
/// pattern with policy variables may cover anything (and, under `Not…`, may exclude nothing).
fn may_hit(m: &Matcher, hit: impl Fn(&[crate::base::pattern::Tok]) -> bool) -> bool {
    let hit = |p: &[crate::base::pattern::Piece]| {
        let variable = p.iter().any(|x| matches!(x, crate::base::pattern::Piece::Var { .. }));
        if variable {
            None
        } else {
            resolve(p, true, &|_| None).map(|t| hit(&t))
        }
    };
    if m.negated {
        !m.patterns.iter().any(|p| hit(p) == Some(true))
    } else {
        m.patterns.iter().any(|p| hit(p) != Some(false))
    }
}

/// How a principal entry can cover an actor's callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cover {
    /// By name (or `*`).
    Direct,
    /// Through its account (delegation to IAM policies).
    Account,
}

/// Whether entry `e` can cover some caller of `actor` (an over-approximation).
pub fn entry_may_cover(e: &PrincipalEntry, actor: &Actor) -> Option<Cover> {
    let in_class = |account: &str| match &actor.who {
        Who::Principal(_) => false,
        Who::AnyOf(x) => x == account,
        Who::AnyOtherAccount(known) => !known.iter().any(|k| k == account),
    };
    match e {
        PrincipalEntry::Everyone => Some(Cover::Direct),
        PrincipalEntry::Account(a) if *a == actor.account || in_class(a) => Some(Cover::Account),
        PrincipalEntry::Role { account, name, .. } => {
            // `arn:aws:iam::{account}:role/[path/]{name}`, compared by account and role
            // name only (an over-approximation: whichever path either side carries).
            let last = |x: &str| x.rsplit('/').next().unwrap_or(x).to_string();
            let is_role = |arn: &str| {
                let rest = arn.strip_prefix("arn:aws:iam::").and_then(|r| r.strip_prefix(account.as_str()));
                rest.and_then(|r| r.strip_prefix(":role/")).is_some_and(|r| last(r) == last(name))
            };
            let own = matches!(&actor.who, Who::Principal(arn) if is_role(arn));
            (own || in_class(account)).then_some(Cover::Direct)
        }
        PrincipalEntry::Exact(x) => {
            let account = crate::base::arn::account_of(x).unwrap_or("");
            let session_of = |arn: &str| {
                let role = arn.rsplit('/').next().unwrap_or_default();
                x.contains(&format!(":sts::{account}:assumed-role/{role}/"))
            };
            let own = matches!(&actor.who, Who::Principal(arn) if arn == x || x.contains(":sts::") && session_of(arn));
            (own || in_class(account)).then_some(Cover::Direct)
        }
        _ => None,
    }
}

/// Whether a trust policy can let `actor` call `sts:AssumeRole` (conditions aside), and
/// how: `Direct` when some entry can name it (then no identity policy is needed in its account).
pub fn trust_may_admit(trust: &Policy, actor: &Actor) -> Option<Cover> {
    let allows =
        trust.statements.iter().filter(|s| s.effect == Effect::Allow && action_may_match(&s.action, "sts:AssumeRole"));
    let mut best = None;
    for p in allows.filter_map(|s| s.principal.as_ref()) {
        let covers: Vec<Cover> = if p.negated {
            vec![Cover::Direct]
        } else {
            p.entries.iter().filter_map(|e| entry_may_cover(e, actor)).collect()
        };
        for c in covers {
            if c == Cover::Direct {
                return Some(c);
            }
            best = Some(c);
        }
    }
    best
}

/// Whether some `Allow` of the trust policy can name `service` (or `*`, or `NotPrincipal`)
/// for `sts:AssumeRole`: when none can, no request of the service is allowed (the sound
/// pre-selection); otherwise Z3 decides with the conditions ([`super::service`]).
pub fn service_may_trust(trust: &Policy, service: &str) -> bool {
    trust.statements.iter().filter(|s| s.effect == Effect::Allow && action_may_match(&s.action, "sts:AssumeRole")).any(
        |s| {
            s.principal.as_ref().is_some_and(|p| {
                p.negated
                    || p.entries.iter().any(|e| {
                        matches!(e, PrincipalEntry::Service(x) if x == service) || *e == PrincipalEntry::Everyone
                    })
            })
        },
    )
}
