//! Whether one statement applies to a request, and why not when it does not.

use super::condition::{evaluate, variable_lookup};
use crate::base::pattern::{
    arn_match, glob_match, glob_match_ignore_case, glob_tokens, resolve, resource_match, tokens_text, Piece,
};
use crate::model::policy::{Matcher, PrincipalEntry, Principals, Statement};
use crate::model::request::{Caller, IamKind, Request};

/// How the statement's principal element reached the caller; it decides which KMS
/// authorization path an Allow opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// No principal element (identity policies, SCPs, boundaries).
    Attached,
    /// `*` or a `NotPrincipal` that excludes the caller.
    Everyone,
    /// The caller's account (`arn:aws:iam::A:root`): delegation to IAM policies.
    Account,
    /// A role, matching its sessions.
    Role,
    /// The exact user or session ARN.
    Exact,
    /// The service principal.
    Service,
}

/// The result of matching one statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    Applies { via: Via, notes: Vec<String> },
    NotApplicable(String),
}

/// Matches `st` against `req`. Policy variables were already told apart at parse time
/// (only `Version: 2012-10-17` has them).
pub fn match_statement(st: &Statement, req: &Request) -> Match {
    let via = match &st.principal {
        None => Via::Attached,
        Some(p) => match principal_via(p, &req.caller) {
            Some(via) => via,
            None => return Match::NotApplicable(format!("principal does not match {}", caller_text(&req.caller))),
        },
    };
    let action = req.action_name();
    if !action_covers(&st.action, &action) {
        return Match::NotApplicable(format!(
            "{} does not cover {action}",
            if st.action.negated { "NotAction" } else { "Action" }
        ));
    }
    let Some(resource) = &st.resource else {
        return Match::NotApplicable("no Resource: KMS treats the statement as applying to nothing".into());
    };
    let target = req.resource.as_deref().unwrap_or("*");
    let lookup = variable_lookup(&req.context);
    if !matcher_hits(resource, |pat| resolve(pat, true, &lookup).is_some_and(|toks| resource_match(&toks, target))) {
        return Match::NotApplicable(format!(
            "{} does not cover {target}",
            if resource.negated { "NotResource" } else { "Resource" }
        ));
    }
    let mut notes = Vec::new();
    for c in &st.conditions {
        let out = evaluate(c, &req.context);
        notes.extend(out.note);
        if !out.holds {
            return Match::NotApplicable(format!(
                "condition {} on {} is false ({})",
                c.op.canonical(),
                c.key,
                describe_value(req, &c.key)
            ));
        }
    }
    Match::Applies { via, notes }
}

/// Whether `Resource`/`NotResource` covers the request's resource (`*` when it has none),
/// policy variables resolved from the request.
pub fn resource_covers(m: &Matcher, req: &Request) -> bool {
    let target = req.resource.as_deref().unwrap_or("*");
    let lookup = variable_lookup(&req.context);
    matcher_hits(m, |pat| resolve(pat, true, &lookup).is_some_and(|toks| resource_match(&toks, target)))
}

/// Whether `Action`/`NotAction` covers the action (`service:Name`), as IAM matches it.
pub fn action_covers(m: &Matcher, action: &str) -> bool {
    matcher_hits(m, |pat| glob_match_ignore_case(&tokens_text(&resolve_plain(pat)), action))
}

/// Which of the catalog's KMS actions `m` covers: bit `i` is the `i`-th of
/// [`crate::facts::catalog::Catalog::kms_actions`]. The same as asking [`action_covers`] of each,
/// with each plain pattern's answer cached on the thread: audits ask it of every statement
/// for every query, and policies repeat the same few action patterns.
pub fn kms_action_coverage(m: &Matcher) -> u64 {
    thread_local! {
        static COVERAGE: std::cell::RefCell<std::collections::HashMap<String, u64>> = Default::default();
    }
    let names = kms_action_names();
    let compute = |pat: &[Piece]| {
        let text = tokens_text(&resolve_plain(pat)).to_ascii_lowercase();
        // Most patterns of an audit name another service: no KMS action can match them.
        let service = text.split(':').next().unwrap_or("");
        if !service.contains(['*', '?']) && service != "kms" {
            return 0;
        }
        let toks = glob_tokens(&text);
        names.iter().enumerate().filter(|(_, a)| glob_match(&toks, a)).fold(0, |acc, (i, _)| acc | 1 << i)
    };
    let covered = m.patterns.iter().fold(0u64, |acc, pat| {
        acc | match pat.as_slice() {
            [Piece::Text(t)] => COVERAGE.with(|c| {
                if let Some(bits) = c.borrow().get(t.as_str()) {
                    return *bits;
                }
                let bits = compute(pat);
                c.borrow_mut().insert(t.clone(), bits);
                bits
            }),
            _ => compute(pat),
        }
    });
    if m.negated {
        !covered & all_bits(names.len())
    } else {
        covered
    }
}

fn all_bits(n: usize) -> u64 {
    if n >= 64 {
        u64::MAX
    } else {
        (1u64 << n) - 1
    }
}

/// `kms:<name>` of each catalog action, lower-cased (IAM matches actions ignoring case), in
/// catalog order (at most 64: see [`kms_action_coverage`]).
fn kms_action_names() -> &'static [String] {
    static NAMES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| {
        let names: Vec<String> = crate::facts::catalog::catalog()
            .kms_actions()
            .map(|a| format!("kms:{}", a.name).to_ascii_lowercase())
            .collect();
        assert!(names.len() <= 64, "the KMS action coverage bit set holds 64 actions");
        names
    })
}

fn resolve_plain(pat: &[Piece]) -> Vec<crate::base::pattern::Tok> {
    resolve(pat, true, &|_| None).unwrap_or_default()
}

fn matcher_hits(m: &Matcher, hit: impl Fn(&[Piece]) -> bool) -> bool {
    m.patterns.iter().any(|p| hit(p)) != m.negated
}

fn describe_value(req: &Request, key: &str) -> String {
    match req.context.get(key) {
        None => format!("{key} is absent"),
        Some(v) => format!("request has {key} = {v}"),
    }
}

fn caller_text(c: &Caller) -> String {
    match c {
        Caller::Iam { arn, .. } => arn.clone(),
        Caller::Service(s) => s.clone(),
        Caller::Anonymous => "an anonymous caller".into(),
    }
}

/// How `p` covers `caller`, if it does.
fn principal_via(p: &Principals, caller: &Caller) -> Option<Via> {
    if p.negated {
        return (!not_principal_exempts(&p.entries, caller)).then_some(Via::Everyone);
    }
    p.entries.iter().filter_map(|e| entry_via(e, caller)).min_by_key(|v| rank(*v))
}

/// `NotPrincipal` exempts a caller only when every identity AWS checks for it is listed:
/// its own ARN, its role (for a session) and its account ([NOTPRIN]: "you must also
/// include the account ARN", and the session, role and account in AWS's role example).
/// Listing only the account does not exempt the account's users.
pub(crate) fn not_principal_exempts(entries: &[PrincipalEntry], caller: &Caller) -> bool {
    let listed =
        |pick: &dyn Fn(&PrincipalEntry) -> bool| entries.iter().any(|e| *e == PrincipalEntry::Everyone || pick(e));
    let account = || listed(&|e| matches!((e, caller.account()), (PrincipalEntry::Account(a), Some(c)) if a == c));
    let exact = || listed(&|e| entry_via(e, caller) == Some(Via::Exact));
    if entries.iter().any(|e| matches!(e, PrincipalEntry::Pattern(_)) && entry_via(e, caller).is_some()) {
        return true; // a property's pattern on `aws:PrincipalArn` exempts whom it matches
    }
    match caller {
        Caller::Iam { kind: IamKind::Root, .. } => account(),
        Caller::Iam { kind: IamKind::RoleSession { .. }, .. } => {
            exact() && listed(&|e| entry_via(e, caller) == Some(Via::Role)) && account()
        }
        Caller::Iam { .. } => exact() && account(),
        Caller::Service(_) => listed(&|e| entry_via(e, caller) == Some(Via::Service)),
        Caller::Anonymous => listed(&|_| false),
    }
}

/// Prefer the most specific way in: a direct name beats `*`, which beats the account.
fn rank(v: Via) -> u8 {
    match v {
        Via::Exact => 0,
        Via::Role => 1,
        Via::Service => 2,
        Via::Everyone => 3,
        Via::Account => 4,
        Via::Attached => 5,
    }
}

fn entry_via(e: &PrincipalEntry, caller: &Caller) -> Option<Via> {
    match (e, caller) {
        (PrincipalEntry::Everyone, _) => Some(Via::Everyone),
        (PrincipalEntry::Account(a), Caller::Iam { account, .. }) if a == account => Some(Via::Account),
        // A role named in a policy by its ARN (path included) reaches the sessions of that
        // role: the caller's role ARN (`aws:PrincipalArn`, with the path the request gives)
        // must have exactly that path and name.
        (
            PrincipalEntry::Role { account: ra, arn: want, .. },
            Caller::Iam { account, kind: IamKind::RoleSession { .. }, .. },
        ) if ra == account && role_entry_matches(want, caller) => Some(Via::Role),
        (PrincipalEntry::Exact(want), Caller::Iam { arn, .. }) if want == arn => Some(Via::Exact),
        (PrincipalEntry::Service(want), Caller::Service(name)) if want == name => Some(Via::Service),
        (PrincipalEntry::Pattern(p), Caller::Iam { .. })
            if caller.principal_arn().is_some_and(|arn| arn_match(&glob_tokens(p), &arn)) =>
        {
            Some(Via::Exact)
        }
        _ => None,
    }
}

/// `path/Name` of a role ARN (what follows `:role/`).
pub fn role_path_name(arn: &str) -> Option<&str> {
    arn.split_once(":role/").map(|(_, rest)| rest)
}

/// Whether a policy's role ARN `want` covers a session of the caller's role: the same path
/// and name (a role's name is unique in its account, and IAM names it with its path).
fn role_entry_matches(want: &str, caller: &Caller) -> bool {
    let got = caller.principal_arn();
    got.as_deref().and_then(role_path_name).is_some_and(|p| role_path_name(want) == Some(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::policy::{parse_policy, PolicyKind};

    /// The cached bit set answers as `action_covers` does, action by action, for patterns
    /// of every kind the parser accepts (exact, any case, `*`, wildcards in the name, other services,
    /// `NotAction`, a policy variable), asked twice so the second answer is the cached one.
    #[test]
    fn kms_action_coverage_is_action_covers_of_each_action() {
        let actions = [
            r#""kms:Decrypt""#,
            r#""KMS:decrypt""#,
            r#""kms:*""#,
            r#""*""#,
            r#""kms:Create*""#,
            r#""kms:?ncrypt""#,
            r#""s3:GetObject""#,
            r#"["kms:Re*", "ec2:*"]"#,
            r#""kms:${aws:username}""#,
        ];
        for (negated, key) in [(false, "Action"), (true, "NotAction")] {
            for a in actions {
                let text = format!(
                    r#"{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", "{key}": {a}, "Resource": "*"}}]}}"#
                );
                let p = parse_policy(&text, "t.json", PolicyKind::Identity).expect("policy");
                let m = &p.statements[0].action;
                assert_eq!(m.negated, negated);
                for _ in 0..2 {
                    let bits = kms_action_coverage(m);
                    for (i, info) in crate::facts::catalog::catalog().kms_actions().enumerate() {
                        let name = format!("kms:{}", info.name);
                        assert_eq!(bits >> i & 1 == 1, action_covers(m, &name), "{key} {a} on {name}");
                    }
                }
            }
        }
    }
}
