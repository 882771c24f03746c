//! The caller: one string variable holding what AWS puts in `aws:PrincipalArn` (the role
//! ARN for a role session), a service principal name, or `anonymous`; plus the session
//! name. Its shapes are the ones `Request` accepts, over the real AWS partitions.

use super::Derived;
use crate::base::arn::{account_of, is_account_id, split as split_arn};
use crate::model::binding::{CallerClass, SERVICE_LINKED_ROLE_PATH, SERVICE_LINKED_ROLE_PREFIX};
use crate::model::policy::{PrincipalEntry, Statement};
use kmsproof_solver::{CharSet, Glob, StrVar, Term, Tok, Vocabulary};

/// The kinds of callers, each a family of shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Root,
    User,
    Role,
    Federated,
    Service,
    Anonymous,
}

const KINDS: &[Kind] = &[Kind::Root, Kind::User, Kind::Role, Kind::Federated, Kind::Service, Kind::Anonymous];

impl Kind {
    /// `aws:PrincipalType` for this kind ([GKEYS]).
    fn principal_type(self) -> Option<&'static str> {
        match self {
            Kind::Root => Some("Account"),
            Kind::User => Some("User"),
            Kind::Role => Some("AssumedRole"),
            Kind::Federated => Some("FederatedUser"),
            Kind::Anonymous => Some("Anonymous"),
            Kind::Service => None,
        }
    }

    fn is_iam(self) -> bool {
        matches!(self, Kind::Root | Kind::User | Kind::Role | Kind::Federated)
    }
}

pub(crate) struct CallerVars {
    pub caller: StrVar,
    pub session: StrVar,
    /// [`CallerVars::is`] of each kind, and the service-linked-role test, built once:
    /// every statement of a query asks them.
    kinds: std::cell::RefCell<[Option<Term>; KINDS.len()]>,
    service_linked: std::cell::OnceCell<Term>,
}

fn lit(s: &str) -> Vec<Tok> {
    s.chars().map(Tok::Char).collect()
}

fn digits12() -> Vec<Tok> {
    vec![Tok::In(CharSet::of("0123456789")); 12]
}

/// A non-empty name without `/`, `:`, wildcards or spaces (what `Request` accepts).
fn name() -> Vec<Tok> {
    vec![Tok::In(CharSet::except("/:*? ")), Tok::StarIn(CharSet::except("/:*? "))]
}

/// A user name with an optional path: no `:`, wildcards or spaces, not starting with `/`
/// (a trailing `/` and empty segments are excluded by the caller invariant).
fn user_path() -> Vec<Tok> {
    vec![Tok::In(CharSet::except("/:*? ")), Tok::StarIn(CharSet::except(":*? "))]
}

fn glob(parts: Vec<Vec<Tok>>) -> Glob {
    Glob::new(parts.concat(), false)
}

/// The shape of one kind, in any partition (the partition is pinned by its own atoms).
fn shape(kind: Kind) -> Vec<Glob> {
    let partition = || vec![Tok::In(CharSet::except(":/*? ")), Tok::StarIn(CharSet::except(":/*? "))];
    let iam = |rest: Vec<Vec<Tok>>| glob([vec![lit("arn:"), partition(), lit(":iam::"), digits12()], rest].concat());
    match kind {
        Kind::Root => vec![iam(vec![lit(":root")])],
        Kind::User => vec![iam(vec![lit(":user/"), user_path()])],
        // A role may have a path (`role/aws-service-role/logs.amazonaws.com/AWSServiceRoleForLogs`).
        Kind::Role => vec![iam(vec![lit(":role/"), user_path()])],
        Kind::Federated => {
            vec![glob(vec![lit("arn:"), partition(), lit(":sts::"), digits12(), lit(":federated-user/"), name()])]
        }
        Kind::Service => vec![],
        Kind::Anonymous => vec![],
    }
}

/// A pattern over one colon-delimited ARN part: wildcards stay inside the part.
fn in_part(toks: &[crate::base::pattern::Tok]) -> Vec<Tok> {
    toks.iter()
        .map(|t| match t {
            crate::base::pattern::Tok::Char(c) => Tok::Char(*c),
            crate::base::pattern::Tok::Star => Tok::StarIn(CharSet::except(":")),
            crate::base::pattern::Tok::One => Tok::In(CharSet::except(":")),
        })
        .collect()
}

/// `ArnLike` as one whole-string pattern: parts 1–5 keep their wildcards inside the part,
/// the resource part may span colons. `None` when the pattern cannot match any ARN.
pub(crate) fn arn_like(toks: &[crate::base::pattern::Tok]) -> Option<Glob> {
    let mut parts: Vec<&[crate::base::pattern::Tok]> = Vec::new();
    let mut start = 0;
    for (i, t) in toks.iter().enumerate() {
        if parts.len() < 5 && *t == crate::base::pattern::Tok::Char(':') {
            parts.push(&toks[start..i]);
            start = i + 1;
        }
    }
    parts.push(&toks[start..]);
    if parts.len() != 6 || !crate::base::pattern::glob_match(parts[0], "arn") {
        return None;
    }
    let mut out = lit("arn");
    for p in &parts[1..5] {
        out.push(Tok::Char(':'));
        out.extend(in_part(p));
    }
    out.push(Tok::Char(':'));
    out.extend(super::solver_tokens(parts[5]));
    Some(Glob::new(out, false))
}

/// A pattern on the account part of an IAM/STS ARN.
fn account_part(account: Vec<Tok>) -> Glob {
    let any = || vec![Tok::StarIn(CharSet::except(":"))];
    glob(vec![lit("arn:"), any(), lit(":"), any(), lit(":"), any(), lit(":"), account, lit(":"), vec![Tok::Star]])
}

impl CallerVars {
    pub fn new(vocab: &mut Vocabulary, statements: &[&Statement], key_arn: &str) -> CallerVars {
        let hints = caller_hints(statements, key_arn);
        CallerVars {
            caller: vocab.str_var("principal", hints),
            session: vocab.str_var("session", vec!["kmsproof-session".into()]),
            kinds: Default::default(),
            service_linked: Default::default(),
        }
    }

    fn matches(&self, g: Glob) -> Term {
        Term::str_match(self.caller, g)
    }

    pub fn is(&self, kind: Kind) -> Term {
        let i = kind as usize; // KINDS lists the kinds in declaration order
        if let Some(t) = &self.kinds.borrow()[i] {
            return t.clone();
        }
        let t = self.build_is(kind);
        self.kinds.borrow_mut()[i] = Some(t.clone());
        t
    }

    fn build_is(&self, kind: Kind) -> Term {
        match kind {
            Kind::Service => {
                let plain = || Tok::StarIn(CharSet::except(":/*? "));
                self.matches(Glob::new(vec![plain(), Tok::Char('.'), plain()], false))
            }
            Kind::Anonymous => self.matches(Glob::literal("anonymous", false)),
            k => Term::or(shape(k).into_iter().map(|g| self.matches(g)).collect::<Vec<_>>()),
        }
    }

    /// The caller is of `class` (as `CallerClass::of` reads a request).
    pub fn class_is(&self, class: CallerClass) -> Term {
        let slr = || self.service_linked.get_or_init(|| self.service_linked_role()).clone();
        match class {
            CallerClass::Root => self.is(Kind::Root),
            CallerClass::User => self.is(Kind::User),
            CallerClass::Role => Term::and([self.is(Kind::Role), Term::not(slr())]),
            CallerClass::ServiceLinkedRole => Term::and([self.is(Kind::Role), slr()]),
            CallerClass::Federated => self.is(Kind::Federated),
            CallerClass::Service => self.is(Kind::Service),
            CallerClass::Anonymous => self.is(Kind::Anonymous),
        }
    }

    /// A role caller is service-linked: by its path, or (a pathless session ARN) by the name.
    fn service_linked_role(&self) -> Term {
        let any = || vec![Tok::StarIn(CharSet::except(":"))];
        let iam = |rest: &str, tail: Tok| {
            self.matches(glob(vec![lit("arn:"), any(), lit(":iam::"), any(), lit(rest), vec![tail]]))
        };
        let by_path = iam(&format!(":{SERVICE_LINKED_ROLE_PATH}"), Tok::Star);
        // A pathless caller (a session ARN) named as IAM names service-linked roles.
        let by_name = iam(&format!(":role/{SERVICE_LINKED_ROLE_PREFIX}"), Tok::StarIn(CharSet::except("/:*? ")));
        Term::or([by_path, by_name])
    }

    /// A policy of `kind` binds the caller (the `binding` table).
    pub fn bound_by(&self, kind: crate::model::policy::PolicyKind, management_account: Option<&str>) -> Term {
        let Some(rule) = crate::model::binding::rule(kind) else { return Term::TRUE };
        // Both kinds of role sessions bound: no need to tell them apart.
        let both_roles = [CallerClass::Role, CallerClass::ServiceLinkedRole].iter().all(|c| rule.binds.contains(c));
        let classes = rule.binds.iter().map(|c| match c {
            CallerClass::Role | CallerClass::ServiceLinkedRole if both_roles => self.is(Kind::Role),
            c => self.class_is(*c),
        });
        let classes = Term::or(classes.collect::<Vec<_>>());
        match management_account.filter(|_| rule.management_exempt) {
            Some(m) => Term::and([classes, Term::not(self.account_is(m))]),
            None => classes,
        }
    }

    pub fn is_iam(&self) -> Term {
        Term::or(KINDS.iter().filter(|k| k.is_iam()).map(|k| self.is(*k)).collect::<Vec<_>>())
    }

    /// Invariant: the caller has one of the shapes `Request` accepts, an IAM caller is in
    /// the key's partition (when there is a key) (no request crosses partitions: accounts and credentials are
    /// partition-specific), user paths have no empty segment, and session names are names.
    /// `key_partition: None` (generic requests: an identity policy works in any partition)
    /// leaves the partition free.
    pub fn invariant(&self, key_partition: Option<&str>) -> Term {
        let any_kind = Term::or(KINDS.iter().map(|k| self.is(*k)).collect::<Vec<_>>());
        let real_partition = match key_partition {
            Some(p) => {
                let partition = self.matches(Glob::new([lit(&format!("arn:{p}:")), vec![Tok::Star]].concat(), false));
                Term::implies(self.is_iam(), partition)
            }
            None => Term::TRUE,
        };
        let no_empty_segment = Term::and([
            Term::not(self.matches(Glob::new([vec![Tok::Star], lit("//"), vec![Tok::Star]].concat(), false))),
            Term::not(self.matches(Glob::new([vec![Tok::Star], lit("/")].concat(), false))),
        ]);
        let session = Term::str_match(self.session, glob(vec![name()]));
        Term::and([any_kind, real_partition, no_empty_segment, session])
    }

    /// The caller's account (an IAM caller) matches `toks`.
    pub fn account_matches(&self, toks: Vec<Tok>) -> Term {
        self.matches(account_part(toks))
    }

    pub fn account_is(&self, account: &str) -> Term {
        self.account_matches(lit(account))
    }

    /// The caller is an IAM user named `name` (its `aws:username`: the last path segment).
    pub fn user_named(&self, name: &str) -> Term {
        let part = || vec![Tok::StarIn(CharSet::except(":"))];
        let user =
            |path: Vec<Tok>| glob(vec![lit("arn:"), part(), lit(":iam::"), part(), lit(":user/"), path, lit(name)]);
        Term::and([
            self.is(Kind::User),
            Term::or([self.matches(user(vec![])), self.matches(user([vec![Tok::Star], lit("/")].concat()))]),
        ])
    }

    /// Whether the statement principal entry covers the caller (as `entry_via` does).
    pub fn entry(&self, e: &PrincipalEntry) -> Term {
        match e {
            PrincipalEntry::Everyone => Term::TRUE,
            PrincipalEntry::Account(a) => self.account_is(a),
            PrincipalEntry::Role { account, arn, .. } => {
                // The role with exactly this path and name, as `role_entry_matches`: the
                // caller variable is the role ARN with its path.
                let any = || vec![Tok::StarIn(CharSet::except(":"))];
                let path_name = crate::eval::role_path_name(arn).unwrap_or_default();
                let role = |rest: &str| glob(vec![lit("arn:"), any(), lit(&format!(":iam::{account}:role/{rest}"))]);
                Term::and([self.is(Kind::Role), self.matches(role(path_name))])
            }
            PrincipalEntry::Exact(arn) => self.exact(arn),
            PrincipalEntry::Service(s) => self.matches(Glob::literal(s, false)),
            // The caller variable is what AWS puts in `aws:PrincipalArn`, so the pattern is
            // an `ArnLike` pattern on it (a role's sessions hold the role ARN).
            PrincipalEntry::Pattern(p) => match arn_like(&crate::base::pattern::glob_tokens(p)) {
                Some(g) => Term::and([self.is_iam(), self.matches(g)]),
                None => Term::FALSE,
            },
            PrincipalEntry::Other(_) => Term::FALSE,
        }
    }

    /// Whether a `NotPrincipal` list exempts the caller: every identity AWS checks for it
    /// is listed (as `eval::statement::not_principal_exempts`).
    pub fn not_principal_exempts(&self, entries: &[PrincipalEntry]) -> Term {
        if entries.contains(&PrincipalEntry::Everyone) {
            return Term::TRUE;
        }
        let any = |pick: &dyn Fn(&PrincipalEntry) -> bool| {
            Term::or(entries.iter().filter(|e| pick(e)).map(|e| self.entry(e)).collect::<Vec<_>>())
        };
        let account = any(&|e| matches!(e, PrincipalEntry::Account(_)));
        let exact = any(&|e| matches!(e, PrincipalEntry::Exact(_)));
        let role = any(&|e| matches!(e, PrincipalEntry::Role { .. }));
        let service = any(&|e| matches!(e, PrincipalEntry::Service(_)));
        let pattern = any(&|e| matches!(e, PrincipalEntry::Pattern(_)));
        Term::or([
            pattern,
            Term::and([self.is(Kind::Root), account.clone()]),
            Term::and([self.is(Kind::User), exact.clone(), account.clone()]),
            Term::and([self.is(Kind::Federated), exact.clone(), account.clone()]),
            Term::and([self.is(Kind::Role), exact, role, account]),
            Term::and([self.is(Kind::Service), service]),
        ])
    }

    /// The request principal is exactly `arn`: a session ARN is a session of that name of
    /// the role of that name, whatever its path (the session ARN does not carry it).
    fn exact(&self, arn: &str) -> Term {
        if let Some([_, partition, "sts", _, account, resource]) = split_arn(arn) {
            if let Some(rest) = resource.strip_prefix("assumed-role/") {
                if let Some((role, session)) = rest.split_once('/') {
                    return Term::and([
                        self.role_named(partition, account, role),
                        Term::str_match(self.session, Glob::literal(session, false)),
                    ]);
                }
            }
        }
        self.matches(Glob::literal(arn, false))
    }

    /// "A session of the role `name` of `account` (any partition) is one of the role at
    /// `path`": the caller variable of such a session holds that role ARN.
    pub fn role_at(&self, account: &str, name: &str, path: &str) -> Term {
        let any = || vec![Tok::StarIn(CharSet::except(":"))];
        let head = |rest: Vec<Tok>| glob(vec![lit("arn:"), any(), lit(&format!(":iam::{account}:role/")), rest]);
        let named = Term::or([
            self.matches(head(lit(name))),
            self.matches(head([vec![Tok::Star], lit(&format!("/{name}"))].concat())),
        ]);
        Term::implies(named, self.matches(head(lit(&format!("{path}{name}")))))
    }

    /// The caller is a session of the role `name` of `account` in `partition`, at any path.
    fn role_named(&self, partition: &str, account: &str, name: &str) -> Term {
        let head = format!("arn:{partition}:iam::{account}:role/");
        let at_root = Glob::literal(&format!("{head}{name}"), false);
        let under_path = glob(vec![lit(&head), vec![Tok::Star], lit(&format!("/{name}"))]);
        Term::or([self.matches(at_root), self.matches(under_path)])
    }

    /// Whether a derived key is present, and its value matches `g` (a pattern on the text
    /// of the key), as the evaluator derives it.
    pub fn derived(&self, d: Derived, g: &Glob, has_caller_account: Term) -> (Term, Term) {
        let per_kind = |value: &dyn Fn(Kind) -> Option<&'static str>| {
            Term::or(
                KINDS
                    .iter()
                    .filter_map(|k| value(*k).map(|v| (k, v)))
                    .filter(|(_, v)| g.matches(v))
                    .map(|(k, _)| self.is(*k))
                    .collect::<Vec<_>>(),
            )
        };
        match d {
            Derived::CallerAccount => (Term::and([self.is_iam(), has_caller_account]), self.matches(account_glob(g))),
            Derived::PrincipalAccount => (self.is_iam(), self.matches(account_glob(g))),
            Derived::PrincipalArn => (self.is_iam(), self.matches(g.clone())),
            Derived::PrincipalType => (Term::not(self.is(Kind::Service)), per_kind(&|k: Kind| k.principal_type())),
            Derived::PrincipalIsAwsService => (
                Term::not(self.is(Kind::Anonymous)),
                per_kind(&|k: Kind| match k {
                    Kind::Service => Some("true"),
                    Kind::Anonymous => None,
                    _ => Some("false"),
                }),
            ),
            Derived::PrincipalServiceName => (self.is(Kind::Service), self.matches(g.clone())),
        }
    }
}

/// A pattern on an account ID becomes a pattern on the caller ARN's account part.
fn account_glob(g: &Glob) -> Glob {
    account_part(g.tokens().to_vec())
}

/// Readable callers for each account the inputs mention, and one no input mentions.
fn caller_hints(statements: &[&Statement], key_arn: &str) -> Vec<String> {
    let mut accounts: Vec<String> = statements
        .iter()
        .filter_map(|s| s.principal.as_ref())
        .flat_map(|p| p.entries.iter())
        .filter_map(|e| match e {
            PrincipalEntry::Account(a) | PrincipalEntry::Role { account: a, .. } => Some(a.clone()),
            PrincipalEntry::Pattern(p) => account_of(p).filter(|a| is_account_id(a)).map(str::to_string),
            _ => None,
        })
        .collect();
    if let Some(a) = account_of(key_arn) {
        accounts.insert(0, a.to_string());
    }
    accounts.push("999988887777".into());
    accounts.dedup();
    let mut hints: Vec<String> = statements
        .iter()
        .filter_map(|s| s.principal.as_ref())
        .flat_map(|p| p.entries.iter())
        .filter_map(|e| match e {
            PrincipalEntry::Role { account, name, .. } => Some(format!("arn:aws:iam::{account}:role/{name}")),
            PrincipalEntry::Exact(arn) => Some(match split_arn(arn) {
                Some([_, partition, "sts", _, account, resource]) if resource.starts_with("assumed-role/") => {
                    let role = resource.split('/').nth(1).unwrap_or_default();
                    format!("arn:{partition}:iam::{account}:role/{role}")
                }
                _ => arn.clone(),
            }),
            PrincipalEntry::Service(s) => Some(s.clone()),
            _ => None,
        })
        .collect();
    for a in &accounts {
        hints.push(format!("arn:aws:iam::{a}:role/AppRole"));
        hints.push(format!("arn:aws:iam::{a}:user/alice"));
        hints.push(format!("arn:aws:iam::{a}:root"));
        hints.push(format!("arn:aws:sts::{a}:federated-user/bob"));
    }
    hints.extend(["ec2.amazonaws.com".to_string(), "anonymous".to_string()]);
    hints
}

#[cfg(test)]
mod tests {
    /// `CallerVars::is` indexes its memo by `kind as usize`: KINDS must list every kind
    /// in declaration order.
    #[test]
    fn kinds_are_listed_in_declaration_order() {
        for (i, k) in super::KINDS.iter().enumerate() {
            assert_eq!(*k as usize, i, "{k:?}");
        }
        assert_eq!(super::KINDS.len(), super::Kind::Anonymous as usize + 1);
    }
}
