//! Policy → logic. One encoder with the evaluator's semantics, over variables that can
//! only describe real requests (each invariant says where it comes from).
//!
//! The request is: a caller (one string holding the principal ARN as AWS derives
//! `aws:PrincipalArn` — the role ARN for a role session — or a service principal, or
//! `anonymous`), a session name, an action, the key under analysis (a constant), and one
//! variable per condition key the inputs mention. Keys derived from the caller
//! (`kms:CallerAccount`, `aws:PrincipalAccount`, `aws:PrincipalArn`, ...) are not
//! variables of their own: conditions on them become patterns on the caller, so a model
//! can never contradict its principal.

mod authz;
mod caller;
mod condition;
mod decode;
mod invariant;
mod lemma;

pub use authz::{authorization, policy_allows, policy_denies};
pub use decode::decode;

use crate::base::arn::Arn;
use crate::base::pattern::Piece;
use crate::facts::catalog::{catalog, KeyType};
use crate::facts::kms_rules::VIA_SERVICE_EXAMPLES;
use crate::model::policy::{CondValue, Policy, Statement};
use caller::CallerVars;
use kmsproof_solver::{BoolVar, Glob, IntVar, IpVar, SetVar, StrVar, Term, Tok, Vocabulary};
use std::collections::BTreeMap;

/// A construct the encoder does not model exactly yet; the query is reported `unknown`,
/// never `holds`. The message names the construct (and where it is).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not encoded exactly: {0}")]
pub struct Unsupported(pub String);

/// What an encoding stopped by its work budget says (the solver's wording, so audit's
/// "said once per document" rule sees it too).
const OUT_OF_BUDGET_WHILE_ENCODING: &str = "while encoding";

impl Unsupported {
    /// The work budget ran out before the encoding was complete: the query is `unknown`,
    /// like one the solver did not finish.
    pub fn out_of_budget() -> Unsupported {
        Unsupported(format!("{} {OUT_OF_BUDGET_WHILE_ENCODING}", kmsproof_solver::backend::OUT_OF_BUDGET))
    }

    /// Whether the encoding stopped because the work budget ran out (not a construct the
    /// encoder lacks).
    pub fn is_out_of_budget(&self) -> bool {
        *self == Unsupported::out_of_budget()
    }

    /// The reason an `unknown` answer gives: the construct not encoded, or the budget.
    pub fn reason(&self) -> String {
        if self.is_out_of_budget() {
            self.0.clone()
        } else {
            self.to_string()
        }
    }
}

/// The variable standing for one condition key.
#[derive(Debug, Clone)]
pub(crate) enum KeyVar {
    Str {
        present: BoolVar,
        v: StrVar,
    },
    Set {
        present: BoolVar,
        v: SetVar,
    },
    /// Numbers scaled by 10^scale; dates as nanoseconds since the epoch.
    Int {
        present: BoolVar,
        v: IntVar,
        date: bool,
    },
    Ip {
        present: BoolVar,
        v: IpVar,
    },
    /// A key the catalog does not know: absent, one value (`single`), or a list.
    Either {
        present: BoolVar,
        single: BoolVar,
        one: StrVar,
        many: SetVar,
    },
    /// A key AWS derives from the caller: conditions become caller patterns.
    Derived(Derived),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Derived {
    CallerAccount,
    PrincipalAccount,
    PrincipalArn,
    PrincipalType,
    PrincipalIsAwsService,
    PrincipalServiceName,
}

/// Keys derived from the caller, by lower-cased name.
const DERIVED: &[(&str, Derived)] = &[
    ("kms:calleraccount", Derived::CallerAccount),
    ("aws:principalaccount", Derived::PrincipalAccount),
    ("aws:principalarn", Derived::PrincipalArn),
    ("aws:principaltype", Derived::PrincipalType),
    ("aws:principalisawsservice", Derived::PrincipalIsAwsService),
    ("aws:principalservicename", Derived::PrincipalServiceName),
];

/// Whether AWS derives `key` from the caller (never written in a request by kmsproof).
pub fn is_derived_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    DERIVED.iter().any(|(k, _)| *k == lower) || NOT_MODELLED.contains(&lower.as_str())
}

/// Keys whose value the evaluator derives in ways the encoder does not model yet.
const NOT_MODELLED: &[&str] = &["aws:username", "aws:userid"];

/// A part of a policy the encoder cannot express exactly, stood in for by a free boolean
/// (an opaque atom). Sound for "no request does X": every real request gives each atom
/// some truth value, so `unsat` with the atoms free implies `unsat` with them exact. A
/// `sat` answer may be spurious, so a request found this way counts only once the
/// evaluator confirms it.
#[derive(Debug, Clone)]
pub enum Opaque {
    Condition(crate::model::policy::Condition),
    Resource(crate::model::policy::Matcher),
    /// The same, matched against the alias of an alias action (`eval`'s alias side).
    AliasResource(crate::model::policy::Matcher),
}

impl Opaque {
    /// The atom's truth on a concrete request, as the evaluator decides it.
    pub fn holds(&self, req: &crate::model::request::Request) -> bool {
        match self {
            Opaque::Condition(c) => crate::eval::evaluate_condition(c, &req.context).holds,
            Opaque::Resource(m) => crate::eval::resource_covers(m, req),
            Opaque::AliasResource(m) => req.on_alias().is_some_and(|r| crate::eval::resource_covers(m, &r)),
        }
    }

    /// The request keys its policy variables read.
    pub fn variables(&self) -> Vec<String> {
        let pieces: Vec<&Piece> = match self {
            Opaque::Condition(c) => c
                .values
                .iter()
                .filter_map(|v| if let CondValue::Text(p) = v { Some(p) } else { None })
                .flatten()
                .collect(),
            Opaque::Resource(m) | Opaque::AliasResource(m) => m.patterns.iter().flatten().collect(),
        };
        pieces
            .into_iter()
            .filter_map(|p| if let Piece::Var { key, .. } = p { Some(key.clone()) } else { None })
            .collect()
    }

    /// Where the atom comes from, for `unknown` reasons.
    pub fn describe(&self) -> String {
        match self {
            Opaque::Condition(c) => format!("the condition at {}", c.path),
            Opaque::Resource(m) | Opaque::AliasResource(m) => {
                let first = m.patterns.first().map(|p| crate::base::pattern::pieces_text(p)).unwrap_or_default();
                format!("a Resource with policy variables ({first})")
            }
        }
    }
}

/// The request's action.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ActionVar {
    /// One of the KMS actions (`kms:Decrypt`), a finite domain.
    Kms(StrVar),
    /// Any `service:Name`, as two variables: an action has exactly one colon, so every
    /// action pattern splits exactly into a service part and a name part, and the name
    /// patterns of a large policy (`Get*`, `List*`, … across services) share few regions.
    Split { service: StrVar, name: StrVar },
}

/// The encoder's state: the vocabulary, the request variables and the invariants.
pub struct Encoder {
    pub(crate) vocab: Vocabulary,
    pub(crate) caller: CallerVars,
    pub(crate) action: ActionVar,
    /// The key under analysis (every key-resource action targets it); empty for generic
    /// requests.
    pub(crate) key_arn: String,
    /// Generic requests: the resource is a variable and actions are of any service.
    pub(crate) resource: Option<StrVar>,
    /// Opaque atoms by canonical text, when enabled (`None`: report `Unsupported`).
    pub(crate) opaque: Option<BTreeMap<String, (BoolVar, Opaque)>>,
    /// What an opaque atom over free values implies (see `lemma::widened`): `atom → term`.
    pub(crate) free_lemmas: Vec<Term>,
    /// Values of keys that policy variables read, when fixed (lower-cased key → value).
    pub(crate) bindings: BTreeMap<String, String>,
    /// The same, keys as written (the witness spells them so).
    pub(crate) bound: BTreeMap<String, String>,
    pub(crate) keys: BTreeMap<String, (String, KeyVar)>,
    /// The grant a `RetireGrant` request names (created when a grant is encoded).
    pub(crate) grant: Option<StrVar>,
    /// The alias an alias action names (created when an authorization is encoded).
    pub(crate) alias: Option<StrVar>,
    /// While encoding the alias side of an alias action: the variable `Resource` patterns
    /// match (the alias ARN) instead of the key.
    pub(crate) resource_target: Option<StrVar>,
    /// The IDs of the grants on the key of every input set encoded so far (`None`: no
    /// authorization encoded, so no grant set to range over): a `RetireGrant` request
    /// names one of them (see [`Encoder::invariants`]).
    pub(crate) grant_ids: Option<std::collections::BTreeSet<String>>,
    /// Where the roles the inputs name are, over every input set encoded so far (see
    /// `Inputs::role_paths`): a session of such a role is at that path.
    pub(crate) role_paths: crate::model::inputs::RolePaths,
    /// The constants each date key (lower-cased) is compared with, 0 included (dates are
    /// never before the epoch): a date witness is moved to a whole second within its cell
    /// (see [`Encoder::whole_second`]).
    pub(crate) date_bounds: std::cell::RefCell<BTreeMap<String, std::collections::BTreeSet<i128>>>,
    /// The undocumented reading encoded the other way (`None`: every chosen reading).
    pub(crate) alternate: Option<crate::facts::readings::Reading>,
    /// The undocumented readings the encoding so far depended on.
    pub(crate) consulted: std::cell::RefCell<std::collections::BTreeSet<crate::facts::readings::Reading>>,
    /// Numbers are compared as integers scaled by 10^scale.
    pub(crate) scale: usize,
    /// The `aws:SourceIp` ranges the statements name (`model::invariants::named_ranges`):
    /// a service's own address lies outside all of them.
    pub(crate) ranges: Vec<crate::base::value::Cidr>,
    invariants: Vec<Term>,
    /// The end of the work budget of the query being encoded (`None`: no end): encoding a
    /// policy of tens of thousands of statements takes seconds and is checked against it
    /// statement by statement.
    deadline: Option<std::time::Instant>,
    /// [`Encoder::on_key`], built once: every statement's `Resource` asks for it, and
    /// building it per statement (an `Or` of every key action) was most of the memory of
    /// encoding a policy of 50,000 statements.
    on_key: std::cell::OnceCell<Term>,
    /// A constant `Resource`'s term, by whether it covers the key and whether it covers
    /// `*` (see `Encoder::resource_matcher`), shared by every statement.
    pub(crate) constant_resource: [std::cell::OnceCell<Term>; 4],
}

impl Encoder {
    /// An encoder for requests on `key_arn`, sized for the numbers in `policies`.
    pub fn new(key_arn: &str, policies: &[&Policy], extra: &[&Statement]) -> Encoder {
        let mut vocab = Vocabulary::default();
        let statements: Vec<&Statement> =
            policies.iter().flat_map(|p| p.statements.iter()).chain(extra.iter().copied()).collect();
        let caller = CallerVars::new(&mut vocab, &statements, key_arn);
        // Invariant: the request is a KMS request (the request format accepts only KMS actions).
        let mut actions: Vec<String> = catalog().kms_actions().map(|a| format!("kms:{}", a.name)).collect();
        actions.sort();
        let action = ActionVar::Kms(vocab.enum_var("action", actions));
        let mut enc = Encoder::blank(vocab, caller, action, key_arn, None, &statements);
        let key_partition = Arn::parse(key_arn).map_or("aws", |a| a.partition).to_string();
        let caller_invariant = enc.caller.invariant(Some(&key_partition));
        enc.invariants.push(caller_invariant);
        enc
    }

    /// An encoder over its request variables, with no keys or invariants yet, sized for the
    /// numbers in `statements`.
    fn blank(
        vocab: Vocabulary,
        caller: CallerVars,
        action: ActionVar,
        key_arn: &str,
        resource: Option<StrVar>,
        statements: &[&Statement],
    ) -> Encoder {
        Encoder {
            vocab,
            caller,
            action,
            key_arn: key_arn.to_string(),
            resource,
            opaque: None,
            free_lemmas: vec![],
            bindings: BTreeMap::new(),
            bound: BTreeMap::new(),
            keys: BTreeMap::new(),
            grant: None,
            alias: None,
            resource_target: None,
            grant_ids: None,
            role_paths: Default::default(),
            date_bounds: Default::default(),
            alternate: None,
            consulted: Default::default(),
            scale: numeric_scale(statements) + 1,
            ranges: crate::model::invariants::named_ranges(statements.iter().copied()),
            invariants: Vec::new(),
            deadline: None,
            on_key: Default::default(),
            constant_resource: Default::default(),
        }
    }

    /// An encoder for generic requests — any action of any service on any resource, by an
    /// IAM caller — as one identity policy alone decides them (`diff` of IAM policies).
    pub fn generic(policies: &[&Policy]) -> Encoder {
        Encoder::generic_callers(policies, true)
    }

    /// [`Encoder::generic`], with service principals among the callers too when
    /// `iam_only` is false (a resource policy's answer to a service's own request, e.g. a
    /// trust policy's to `sts:AssumeRole` by `lambda.amazonaws.com`).
    pub fn generic_callers(policies: &[&Policy], iam_only: bool) -> Encoder {
        let mut vocab = Vocabulary::default();
        let statements: Vec<&Statement> = policies.iter().flat_map(|p| p.statements.iter()).collect();
        let caller = CallerVars::new(&mut vocab, &statements, "");
        let (services, names) = action_hints(&statements);
        let (service, name) = (vocab.str_var("service", services), vocab.str_var("action-name", names));
        let resource = vocab.str_var("resource", resource_hints(&statements));
        let action = ActionVar::Split { service, name };
        let mut enc = Encoder::blank(vocab, caller, action, "", Some(resource), &statements);
        let caller_invariant = enc.caller.invariant(None);
        // Invariants: identity policies are attached to IAM identities; an action is
        // `service:Name` as `Request::parse_generic` reads it, a KMS one spelled as KMS does.
        let iam = enc.caller.is_iam();
        let word = |extra: &str| kmsproof_solver::CharSet::of(&format!("abcdefghijklmnopqrstuvwxyz0123456789{extra}"));
        let shape = |extra: &str| Glob::new(vec![Tok::In(word(extra)), Tok::StarIn(word(extra))], false);
        let shaped = Term::and([
            Term::str_match(service, shape("-")),
            Term::str_match(name, shape("ABCDEFGHIJKLMNOPQRSTUVWXYZ")),
        ]);
        let kms = Term::str_match(service, Glob::literal("kms", false));
        let kms_exact = Term::implies(kms, enc.action_in(|_| true));
        // A request names a resource: a non-empty string (`Request::parse_generic`).
        let named = Glob::new(vec![Tok::One, Tok::Star], false);
        let named = Term::str_match(resource, named);
        let iam = if iam_only { iam } else { Term::TRUE };
        enc.invariants.extend([caller_invariant, iam, shaped, kms_exact, named]);
        enc
    }

    /// Stand in for constructs the encoder cannot express by opaque atoms (see [`Opaque`])
    /// instead of failing with `Unsupported`.
    pub fn with_opaque_atoms(mut self) -> Encoder {
        self.opaque = Some(BTreeMap::new());
        self
    }

    /// Stop with [`Unsupported::out_of_budget`] once `deadline` has passed (see
    /// [`Encoder::within_budget`]).
    pub fn with_deadline(mut self, deadline: Option<kmsproof_solver::backend::Budget>) -> Encoder {
        self.deadline = deadline.map(|d| d.0);
        self
    }

    /// `Err` once the work budget has run out; asked once per statement (a clock read is
    /// tens of nanoseconds, a statement's encoding microseconds).
    pub(crate) fn within_budget(&self) -> Result<(), Unsupported> {
        match self.deadline {
            Some(end) if std::time::Instant::now() >= end => Err(Unsupported::out_of_budget()),
            _ => Ok(()),
        }
    }

    /// Encode `r` the other way (see `readings`): to ask whether a proof rests on it.
    pub fn with_alternate(mut self, r: crate::facts::readings::Reading) -> Encoder {
        self.alternate = Some(r);
        self
    }

    /// [`Encoder::with_alternate`] when `r` is given.
    pub fn with_reading(self, r: Option<crate::facts::readings::Reading>) -> Encoder {
        match r {
            Some(r) => self.with_alternate(r),
            None => self,
        }
    }

    /// Whether the other reading of `r` is in force; records that the encoding depends on `r`.
    pub(crate) fn alternative(&self, r: crate::facts::readings::Reading) -> bool {
        self.consulted.borrow_mut().insert(r);
        self.alternate == Some(r)
    }

    /// The undocumented readings the encoding depended on.
    pub fn consulted(&self) -> Vec<crate::facts::readings::Reading> {
        self.consulted.borrow().iter().copied().collect()
    }

    /// The opaque atoms created so far.
    pub fn opaque_atoms(&self) -> Vec<(BoolVar, &Opaque)> {
        self.opaque.iter().flat_map(|m| m.values()).map(|(b, o)| (*b, o)).collect()
    }

    /// The opaque atom for `what` (one per canonical text), or `None` when disabled.
    pub(crate) fn opaque_atom(&mut self, text: String, what: impl FnOnce() -> Opaque) -> Option<Term> {
        let n = self.opaque.as_ref()?.len();
        let map = self.opaque.as_mut()?;
        if let Some((b, _)) = map.get(&text) {
            return Some(Term::var(*b));
        }
        let b = self.vocab.bool_var(&format!("opaque{n}"));
        self.opaque.as_mut()?.insert(text, (b, what()));
        Some(Term::var(b))
    }

    /// Every invariant of real requests collected so far, and: a `RetireGrant` request
    /// names one of the grants given (of any input set encoded; none given: no such request).
    /// A grant ID nobody gave is a request AWS answers with `NotFoundException`, so it is
    /// no counterexample to anything (issue 18, item 6).
    pub fn invariants(&self) -> Term {
        let mut all = self.invariants.clone();
        if let Some(ids) = &self.grant_ids {
            let named = match self.grant {
                Some(v) => {
                    Term::or(ids.iter().map(|id| Term::str_match(v, Glob::literal(id, false))).collect::<Vec<_>>())
                }
                None => Term::FALSE,
            };
            all.push(Term::implies(self.action_is("RetireGrant"), named));
        }
        // Role names are unique in an account: a role the inputs name at one path is there
        // (`Inputs::role_paths`, the evaluator's `Inputs::resolve`).
        for ((account, name), path) in &self.role_paths {
            if let Some(path) = path.as_deref().filter(|p| !p.is_empty()) {
                all.push(self.caller.role_at(account, name, path));
            }
        }
        Term::and(all)
    }

    /// Records the grants (on the key) of one input set: a `RetireGrant` request ranges over
    /// their IDs, whatever other input set is compared with it.
    pub(crate) fn note_grants<'a>(&mut self, ids: impl IntoIterator<Item = &'a str>) {
        let ids: Vec<&str> = ids.into_iter().collect();
        if let Some(id) = ids.first() {
            let _ = self.grant_is(id); // creates the variable
        }
        self.grant_ids.get_or_insert_with(Default::default).extend(ids.into_iter().map(str::to_string));
    }

    /// Records where the roles of one input set are; a role two input sets put at different
    /// paths is at none in particular.
    pub(crate) fn note_role_paths(&mut self, paths: crate::model::inputs::RolePaths) {
        for (k, v) in paths {
            let entry = self.role_paths.entry(k).or_insert_with(|| v.clone());
            if *entry != v {
                *entry = None;
            }
        }
    }

    /// Records the constants a date key is compared with (see [`Encoder::whole_second`]).
    pub(crate) fn note_date_bounds(&self, key: &str, bounds: impl IntoIterator<Item = i128>) {
        let mut map = self.date_bounds.borrow_mut();
        let set = map.entry(key.to_ascii_lowercase()).or_insert_with(|| [0].into());
        set.extend(bounds);
    }

    /// A date witness (`nanos`, the model's value of date key `key`) as the first whole second
    /// of its cell: every atom on a date variable compares it with one of the recorded
    /// constants (and the invariant with 0), so every value strictly between two adjacent
    /// constants satisfies the same atoms. The first whole second after the lower constant is
    /// taken when it lies below the upper one; a constant itself, or a cell without a whole
    /// second (two constants within one second), keeps the model's value.
    pub(crate) fn whole_second(&self, key: &str, nanos: i128) -> i128 {
        const SECOND: i128 = 1_000_000_000;
        let opaque_reads = self.opaque_atoms().iter().any(|(_, o)| match o {
            Opaque::Condition(c) => c.key.eq_ignore_ascii_case(key),
            Opaque::Resource(_) | Opaque::AliasResource(_) => false,
        });
        if opaque_reads {
            return nanos; // an atom the cells do not describe reads the value
        }
        let map = self.date_bounds.borrow();
        let zero = std::collections::BTreeSet::from([0]);
        let bounds = map.get(&key.to_ascii_lowercase()).unwrap_or(&zero);
        if bounds.contains(&nanos) {
            return nanos;
        }
        let Some(lo) = bounds.range(..nanos).next_back() else { return nanos };
        let first = (lo.div_euclid(SECOND) + 1) * SECOND;
        match bounds.range(nanos..).next() {
            Some(hi) if first >= *hi => nanos,
            _ => first,
        }
    }

    /// The `aws:SourceIp` ranges the encoded statements name (a service's own address lies
    /// outside all of them: `model::invariants::service_address`).
    pub fn named_ranges(&self) -> &[crate::base::value::Cidr] {
        &self.ranges
    }

    pub fn vocabulary(&self) -> &Vocabulary {
        &self.vocab
    }

    /// The request names the grant `id` (a `RetireGrant` request; see `eval::retire_path`).
    pub(crate) fn grant_is(&mut self, id: &str) -> Term {
        let v = match self.grant {
            Some(v) => v,
            None => {
                let v = *self.grant.insert(self.vocab.str_var("grant", vec![]));
                // A request names its grant by a non-empty ID (`Request` reads it so).
                self.invariants.push(Term::str_match(v, Glob::new(vec![Tok::One, Tok::Star], false)));
                v
            }
        };
        Term::str_match(v, Glob::literal(id, false))
    }

    /// The alias variable: an alias ARN in the key's partition, account and Region, named as
    /// CreateAlias accepts and not under `alias/aws/` (as `Request` reads an `alias`).
    pub(crate) fn alias_var(&mut self) -> StrVar {
        if let Some(v) = self.alias {
            return v;
        }
        let key =
            Arn::parse(&self.key_arn).map(|a| (a.partition.to_string(), a.region.to_string(), a.account.to_string()));
        let (partition, region, account) = key.unwrap_or_default();
        let prefix = format!("arn:{partition}:kms:{region}:{account}:alias/");
        let v = self.vocab.str_var("alias", vec![format!("{prefix}example")]);
        let name = kmsproof_solver::CharSet::of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/_-");
        let shaped = Glob::new([literal_toks(&prefix), vec![Tok::In(name.clone()), Tok::StarIn(name)]].concat(), false);
        let reserved = Glob::new([literal_toks(&format!("{prefix}aws/")), vec![Tok::Star]].concat(), false);
        self.invariants.push(Term::str_match(v, shaped));
        self.invariants.push(Term::not(Term::str_match(v, reserved)));
        self.alias = Some(v);
        v
    }

    /// The action is `kms:{name}` (exact spelling of the catalog).
    pub(crate) fn action_is(&self, name: &str) -> Term {
        thread_local! {
            /// `kms:<name>` as a pattern: asked for every statement and action of every
            /// query, of the same few dozen names.
            static LITERAL: std::cell::RefCell<std::collections::HashMap<String, Glob>> = Default::default();
        }
        let ActionVar::Kms(v) = self.action else {
            return self.action_matches(&crate::base::pattern::literal_tokens(&format!("kms:{name}")), false);
        };
        let glob = LITERAL.with(|c| {
            if let Some(g) = c.borrow().get(name) {
                return g.clone();
            }
            let g = Glob::new(solver_tokens(&crate::base::pattern::literal_tokens(&format!("kms:{name}"))), false);
            c.borrow_mut().insert(name.to_string(), g.clone());
            g
        });
        Term::str_match(v, glob)
    }

    /// The action matches the pattern (`fold`: case-insensitively, as IAM matches actions).
    pub(crate) fn action_matches(&self, toks: &[crate::base::pattern::Tok], fold: bool) -> Term {
        use crate::base::pattern::Tok as P;
        let (service, name) = match self.action {
            ActionVar::Kms(v) => return Term::str_match(v, Glob::new(solver_tokens(toks), fold)),
            ActionVar::Split { service, name } => (service, name),
        };
        let part = |v: StrVar, t: Vec<P>| action_part(v, &t, fold);
        match colons(toks).as_slice() {
            // The action's one colon is the pattern's literal colon.
            [i] => Term::and([part(service, toks[..*i].to_vec()), part(name, toks[i + 1..].to_vec())]),
            // Else some wildcard covers the colon: `*` spans it, `?` is it.
            [] => Term::or(
                toks.iter()
                    .enumerate()
                    .filter_map(|(j, t)| match t {
                        P::Star => Some(Term::and([
                            part(service, [&toks[..j], &[P::Star]].concat()),
                            part(name, [&[P::Star], &toks[j + 1..]].concat()),
                        ])),
                        P::One => {
                            Some(Term::and([part(service, toks[..j].to_vec()), part(name, toks[j + 1..].to_vec())]))
                        }
                        P::Char(_) => None,
                    })
                    .collect::<Vec<_>>(),
            ),
            _ => Term::FALSE,
        }
    }

    /// Whether the action matches any of `patterns`. Patterns with one literal colon are
    /// grouped by their service part (`service ∧ (name₁ ∨ name₂ ∨ …)`, the same formula
    /// rearranged), so the name atoms of one service sit in one disjunction, which the
    /// partition search can see decided as soon as one of them is.
    pub(crate) fn action_matches_any(&self, patterns: &[Vec<crate::base::pattern::Tok>], fold: bool) -> Term {
        use crate::base::pattern::Tok as P;
        let ActionVar::Split { service, name } = self.action else {
            return Term::or(patterns.iter().map(|t| self.action_matches(t, fold)).collect::<Vec<_>>());
        };
        let mut by_service: Vec<(Vec<P>, Vec<Term>)> = Vec::new();
        let mut others = Vec::new();
        for toks in patterns {
            let [i] = colons(toks)[..] else {
                others.push(self.action_matches(toks, fold));
                continue;
            };
            let (svc, rest) = (toks[..i].to_vec(), action_part(name, &toks[i + 1..], fold));
            match by_service.iter_mut().find(|(s, _)| *s == svc) {
                Some((_, names)) => names.push(rest),
                None => by_service.push((svc, vec![rest])),
            }
        }
        let grouped =
            by_service.into_iter().map(|(svc, names)| Term::and([action_part(service, &svc, fold), Term::or(names)]));
        Term::or(grouped.chain(others).collect::<Vec<_>>())
    }

    /// The model with its action replaced by `kms:{name}` (`None` when the action is not one
    /// variable of KMS actions): a candidate assignment, to be evaluated against a goal.
    pub(crate) fn with_action(&self, m: &kmsproof_solver::Model, name: &str) -> Option<kmsproof_solver::Model> {
        let ActionVar::Kms(v) = self.action else { return None };
        Some(m.with_str(v, &format!("kms:{name}")))
    }

    /// The action a model holds, as `service:Name`.
    pub(crate) fn action_text(&self, m: &kmsproof_solver::Model) -> String {
        match self.action {
            ActionVar::Kms(v) => m.str(v).to_string(),
            ActionVar::Split { service, name } => format!("{}:{}", m.str(service), m.str(name)),
        }
    }

    /// The action is one of the KMS actions satisfying `pred`.
    pub(crate) fn action_in(&self, pred: impl Fn(&crate::facts::catalog::ActionInfo) -> bool) -> Term {
        Term::or(catalog().kms_actions().filter(|a| pred(a)).map(|a| self.action_is(&a.name)).collect::<Vec<_>>())
    }

    /// The action targets the key (key policies and grants apply).
    pub(crate) fn on_key(&self) -> Term {
        self.on_key.get_or_init(|| self.action_in(|a| a.on_key)).clone()
    }

    /// The variable of condition key `key` (any case), created on first use with the type
    /// the catalog gives (or the operator's family for keys it does not know).
    pub(crate) fn key_var(&mut self, key: &str, family_type: KeyType) -> Result<KeyVar, Unsupported> {
        let lower = key.to_ascii_lowercase();
        if let Some((_, v)) = self.keys.get(&lower) {
            return Ok(v.clone());
        }
        if NOT_MODELLED.contains(&lower.as_str()) {
            return Err(Unsupported(format!("conditions on {key} are not encoded yet")));
        }
        let var = match DERIVED.iter().find(|(k, _)| *k == lower) {
            Some((_, d)) => KeyVar::Derived(*d),
            None => self.new_key_var(key, family_type),
        };
        self.keys.insert(lower, (key.to_string(), var.clone()));
        Ok(var)
    }

    fn new_key_var(&mut self, key: &str, family_type: KeyType) -> KeyVar {
        let info = catalog().key(key).cloned();
        let ty = info.as_ref().map_or(family_type, |i| i.ty);
        let multi = info.as_ref().is_some_and(|i| i.multi);
        let present = self.vocab.bool_var(&format!("has:{key}"));
        let var = if info.is_none() {
            // A key the catalog does not know (other services' keys, in generic requests): a
            // request may give it one value or a list, of any text; nothing is assumed.
            KeyVar::Either {
                present,
                single: self.vocab.bool_var(&format!("single:{key}")),
                one: self.vocab.str_var_when(key, vec![], present),
                many: self.vocab.set_var_when(&format!("{key}[]"), vec![], present),
            }
        } else if multi {
            KeyVar::Set { present, v: self.vocab.set_var_when(key, vec![], present) }
        } else {
            match ty {
                KeyType::Numeric => KeyVar::Int { present, v: self.vocab.int_var(key), date: false },
                KeyType::Date => KeyVar::Int { present, v: self.vocab.int_var(key), date: true },
                KeyType::Ip => KeyVar::Ip { present, v: self.vocab.ip_var(key) },
                KeyType::Bool => KeyVar::Str {
                    present,
                    v: self.vocab.str_var_when(key, vec!["true".into(), "false".into()], present),
                },
                KeyType::String | KeyType::Arn | KeyType::Binary => {
                    let hints = self.hints_for(key);
                    KeyVar::Str { present, v: self.vocab.str_var_when(key, hints, present) }
                }
            }
        };
        self.add_key_invariants(key, &var, ty);
        var
    }

    fn hints_for(&self, key: &str) -> Vec<String> {
        if !key.eq_ignore_ascii_case("kms:ViaService") {
            return vec![];
        }
        let region = Arn::parse(&self.key_arn).map(|a| a.region.to_string()).unwrap_or_else(|| "us-east-1".into());
        VIA_SERVICE_EXAMPLES.iter().map(|s| format!("{s}.{region}.amazonaws.com")).collect()
    }

    /// Invariants of a key: it exists only for the actions the SAR/KMS tables give, holds
    /// values of its type, and (for encryption-context keys) agrees with
    /// `kms:EncryptionContextKeys`.
    fn add_key_invariants(&mut self, key: &str, var: &KeyVar, ty: KeyType) {
        let lower = key.to_ascii_lowercase();
        let present = present_of(var);
        let known = catalog().key(key).is_some();
        let applicable = if known && lower.starts_with("kms:") {
            self.action_in(|a| a.has_key(key))
        } else if lower.starts_with("aws:")
            || known
            || lower.starts_with(crate::base::pattern::FREE_VALUE_PREFIX)
            || (self.resource.is_some() && !lower.starts_with("kms:"))
        {
            // A template's free value is carried by every request as a binding (see
            // `base::pattern::FREE_VALUE_PREFIX`), never sent by AWS.
            // Other services' keys exist for generic requests (no applicability data).
            Term::TRUE
        } else {
            // Unknown kms: keys (typos) and other services' keys never reach KMS.
            Term::FALSE
        };
        if let Some(p) = present {
            self.invariants.push(Term::implies(Term::var(p), applicable));
        }
        match (var, ty) {
            (KeyVar::Str { v, .. }, KeyType::Bool) => {
                let t = Term::or([
                    Term::str_match(*v, Glob::literal("true", false)),
                    Term::str_match(*v, Glob::literal("false", false)),
                ]);
                self.invariants.push(t);
            }
            (KeyVar::Int { v, date: true, .. }, _) => {
                self.invariants.push(Term::int_cmp(*v, kmsproof_solver::Cmp::Ge, 0))
            }
            _ => {}
        }
        if let (Some(ec_key), Some(p)) = (lower.strip_prefix("kms:encryptioncontext:"), present) {
            // Cannot cut a character: `lower` is `key` ASCII-lowercased, starting with the prefix.
            let name = key["kms:encryptioncontext:".len()..].to_string();
            let _ = ec_key;
            if let Ok(KeyVar::Set { present: set_present, v: set }) =
                self.key_var("kms:EncryptionContextKeys", KeyType::String)
            {
                // A pair k=v in the encryption context puts k in kms:EncryptionContextKeys ([KMSCOND]).
                let listed = Term::set_any(set, kmsproof_solver::ElemPred::matches(Glob::literal(&name, true)));
                self.invariants.push(Term::iff(Term::var(p), Term::and([Term::var(set_present), listed])));
            }
        }
        if let Some(p) = present {
            for inv in invariant::KEY_INVARIANTS.iter().filter(|i| (i.about)(key)) {
                let terms = (inv.encode)(self, key, var, p);
                self.invariants.extend(terms);
            }
        }
    }
}

impl Encoder {
    /// Whether condition key `key` is in the request (its variable created if need be).
    pub(crate) fn key_present(&mut self, key: &str) -> Term {
        match self.key_var(key, KeyType::String).ok().as_ref().and_then(present_of) {
            Some(p) => Term::var(p),
            None => Term::FALSE,
        }
    }

    /// `aws:ViaAWSService` is given and true.
    pub(crate) fn via_aws_service(&mut self) -> Term {
        match self.key_var("aws:ViaAWSService", KeyType::Bool) {
            Ok(KeyVar::Str { present, v }) => {
                Term::and([Term::var(present), Term::str_match(v, Glob::literal("true", true))])
            }
            _ => Term::FALSE,
        }
    }

    /// The request is a call an AWS service makes on the caller's behalf
    /// (`model::invariants::is_service_call`): `kms:ViaService` given, `aws:ViaAWSService`
    /// true, or (when a policy mentions them) an `aws:CalledVia*` key given.
    pub(crate) fn service_call(&mut self) -> Term {
        let mut any = vec![self.key_present("kms:ViaService"), self.via_aws_service()];
        for k in &crate::model::invariants::SERVICE_CALL_KEYS[1..] {
            if let Some(p) = self.keys.get(&k.to_ascii_lowercase()).and_then(|(_, v)| present_of(v)) {
                any.push(Term::var(p));
            }
        }
        Term::or(any)
    }
}

pub(crate) fn present_of(v: &KeyVar) -> Option<BoolVar> {
    match v {
        KeyVar::Str { present, .. }
        | KeyVar::Set { present, .. }
        | KeyVar::Int { present, .. }
        | KeyVar::Ip { present, .. }
        | KeyVar::Either { present, .. } => Some(*present),
        KeyVar::Derived(_) => None,
    }
}

/// Readable witnesses for the two halves of actions: the services and names written
/// literally in `Action`/`NotAction`.
fn action_hints(statements: &[&Statement]) -> (Vec<String>, Vec<String>) {
    let (mut services, mut names) = (Vec::new(), Vec::new());
    for (svc, name) in literal_hints(statements, |s| Some(&s.action)).iter().filter_map(|a| a.split_once(':')) {
        services.push(svc.to_ascii_lowercase());
        names.push(name.to_string());
    }
    for v in [&mut services, &mut names] {
        v.sort();
        v.dedup();
    }
    (services, names)
}

/// Readable resources: the literal ones, and each wildcard ARN pattern filled in
/// (`arn:aws:s3:::bucket/*` → `arn:aws:s3:::bucket/example`, a `*` region → `us-east-1`, a
/// `*` account → `111122223333`).
fn resource_hints(statements: &[&Statement]) -> Vec<String> {
    let mut out = literal_hints(statements, |s| s.resource.as_ref());
    let patterns = statements.iter().filter_map(|s| s.resource.as_ref()).flat_map(|m| m.patterns.iter());
    for p in patterns {
        let [Piece::Text(t)] = p.as_slice() else { continue };
        if !t.contains(['*', '?']) || t == "*" {
            continue;
        }
        let parts: Vec<String> = t
            .splitn(6, ':')
            .enumerate()
            .map(|(i, part)| match (i, part) {
                (3, "*") => "us-east-1".to_string(),
                (4, "*") => "111122223333".to_string(),
                _ => part.replace('*', "example").replace('?', "x"),
            })
            .collect();
        out.push(parts.join(":"));
    }
    out.sort();
    out.dedup();
    out
}

/// Literal (wildcard- and variable-free) patterns of `Action`/`Resource`: readable witnesses.
fn literal_hints(
    statements: &[&Statement],
    pick: impl Fn(&Statement) -> Option<&crate::model::policy::Matcher>,
) -> Vec<String> {
    let mut out: Vec<String> = statements
        .iter()
        .filter_map(|s| pick(s))
        .flat_map(|m| m.patterns.iter())
        .filter_map(|p| match p.as_slice() {
            [Piece::Text(t)] if !t.contains(['*', '?']) => Some(t.clone()),
            _ => None,
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The largest number of decimals among numeric condition values.
fn numeric_scale(statements: &[&Statement]) -> usize {
    statements
        .iter()
        .flat_map(|s| s.conditions.iter())
        .flat_map(|c| c.values.iter())
        .filter_map(|v| if let CondValue::Number(d) = v { Some(d.scale()) } else { None })
        .max()
        .unwrap_or(0)
}

fn literal_toks(s: &str) -> Vec<Tok> {
    s.chars().map(Tok::Char).collect()
}

/// Converts policy pattern tokens to solver tokens.
pub(crate) fn solver_tokens(toks: &[crate::base::pattern::Tok]) -> Vec<Tok> {
    toks.iter()
        .map(|t| match t {
            crate::base::pattern::Tok::Char(c) => Tok::Char(*c),
            crate::base::pattern::Tok::Star => Tok::Star,
            crate::base::pattern::Tok::One => Tok::One,
        })
        .collect()
}

impl Encoder {
    /// Resolves a value: `${*}`-style specials are literal; a variable is substituted when
    /// the encoder binds its key (see [`Encoder::with_bindings`]), else it compares two
    /// request values, which the partition does not express: `Unsupported`.
    pub(crate) fn resolve_value(
        &self,
        pieces: &[Piece],
        wild: bool,
    ) -> Result<Vec<crate::base::pattern::Tok>, Unsupported> {
        let lookup = |k: &str| self.bindings.get(&k.to_ascii_lowercase()).cloned();
        if let Some(Piece::Var { key, .. }) =
            pieces.iter().find(|p| matches!(p, Piece::Var { key, .. } if lookup(key).is_none()))
        {
            return Err(Unsupported(format!(
                "policy variable ${{{key}}} compares two request values; not encoded yet"
            )));
        }
        Ok(crate::base::pattern::resolve(pieces, wild, &lookup).unwrap_or_default())
    }

    /// Fixes the value of request keys that policy variables read (key → value), so values naming them become plain patterns. An under-approximation used
    /// to find witnesses: only requests with exactly these values are searched (see
    /// [`Encoder::binding_constraint`]). Set before encoding any statement.
    pub fn with_bindings(mut self, bindings: BTreeMap<String, String>) -> Encoder {
        self.bindings = bindings.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.clone())).collect();
        self.bound = bindings;
        self
    }

    /// One value for every request key the opaque atoms' policy variables read: a fresh,
    /// readable token (`KmsKeyId-1`), or for `${aws:PrincipalAccount}` an account. Keys AWS
    /// derives otherwise from the caller are left unbound.
    pub fn variable_bindings(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (_, o) in self.opaque_atoms() {
            for key in o.variables() {
                let free_account = key.starts_with(crate::base::pattern::FREE_VALUE_PREFIX)
                    && matches!(o, Opaque::Condition(c) if c.key.to_ascii_lowercase().contains("account"));
                let value = if key.eq_ignore_ascii_case("aws:PrincipalAccount") {
                    "111122223333".to_string()
                } else if free_account {
                    // A template's account left free: one account no input names.
                    "210987654321".to_string()
                } else if key.eq_ignore_ascii_case("aws:username") {
                    "alice".to_string()
                } else if is_derived_key(&key) {
                    continue;
                } else {
                    let tail = key.rsplit(['/', ':']).next().unwrap_or("value");
                    let tail: String = tail.chars().filter(char::is_ascii_alphanumeric).collect();
                    format!("{}-1", if tail.is_empty() { "value" } else { &tail })
                };
                out.insert(key, value);
            }
        }
        out
    }

    /// "The request has the bound values": `aws:PrincipalAccount` and `aws:username` through
    /// the caller, other keys as string values. Bindings of other derived keys are not allowed.
    pub fn binding_constraint(&mut self) -> Result<Term, Unsupported> {
        let mut parts = Vec::new();
        for (key, value) in self.bound.clone() {
            if key.eq_ignore_ascii_case("aws:username") {
                parts.push(self.caller.user_named(&value));
                continue;
            }
            match self.key_var(&key, KeyType::String)? {
                KeyVar::Derived(Derived::PrincipalAccount) => parts.push(self.caller.account_is(&value)),
                KeyVar::Str { present, v } | KeyVar::Either { present, one: v, .. } => {
                    parts.push(Term::var(present));
                    parts.push(Term::str_match(v, Glob::literal(&value, false)));
                    if let KeyVar::Either { single, .. } = self.key_var(&key, KeyType::String)? {
                        parts.push(Term::var(single));
                    }
                }
                _ => return Err(Unsupported(format!("{key} cannot be bound"))),
            }
        }
        Ok(Term::and(parts))
    }
}

impl Encoder {
    /// The request `req` as constraints on the encoder's variables (for differential
    /// tests: the encoding evaluated on one concrete request). Keys the encoder does not
    /// know are irrelevant to every formula it built.
    pub fn request_constraint(&self, req: &crate::model::request::Request) -> Term {
        use crate::model::request::{Caller, CtxValue};
        // The session's role path as the evaluator derives it from the inputs encoded.
        let resolved = crate::model::inputs::resolve_role_path(&self.role_paths, req);
        let req = &*resolved;
        let mut parts = vec![self.action_is(&req.action)];
        if let (Some(v), Some(id)) = (self.grant, &req.grant_id) {
            parts.push(Term::str_match(v, Glob::literal(id, false)));
        }
        if let (Some(v), Some(alias)) = (self.alias, &req.alias) {
            parts.push(Term::str_match(v, Glob::literal(alias, false)));
        }
        let (caller, session) = match &req.caller {
            Caller::Iam { arn, kind: crate::model::request::IamKind::RoleSession { .. }, .. } => {
                let session = arn.rsplit('/').next().filter(|_| arn.contains(":sts:")).unwrap_or("kmsproof-session");
                (req.caller.principal_arn().unwrap_or_default(), session.to_string())
            }
            Caller::Iam { arn, .. } => (arn.clone(), "kmsproof-session".into()),
            Caller::Service(s) => (s.clone(), "kmsproof-session".into()),
            Caller::Anonymous => ("anonymous".into(), "kmsproof-session".into()),
        };
        parts.push(Term::str_match(self.caller.caller, Glob::literal(&caller, false)));
        parts.push(Term::str_match(self.caller.session, Glob::literal(&session, false)));
        for (lower, (_, var)) in &self.keys {
            let value = req.context.get(lower);
            let Some(p) = present_of(var) else { continue };
            let Some(value) = value else {
                parts.push(Term::not(Term::var(p)));
                continue;
            };
            parts.push(Term::var(p));
            parts.push(match (var, value) {
                (KeyVar::Str { v, .. }, CtxValue::One(s)) => Term::str_match(*v, Glob::literal(s, false)),
                (KeyVar::Either { single, one, .. }, CtxValue::One(s)) => {
                    Term::and([Term::var(*single), Term::str_match(*one, Glob::literal(s, false))])
                }
                (KeyVar::Either { single, many, .. }, CtxValue::Many(items)) => {
                    let each = items
                        .iter()
                        .map(|s| Term::set_any(*many, kmsproof_solver::ElemPred::matches(Glob::literal(s, false))));
                    let only = kmsproof_solver::ElemPred::or(
                        items.iter().map(|s| kmsproof_solver::ElemPred::matches(Glob::literal(s, false))).collect(),
                    );
                    Term::and(
                        each.chain([Term::set_all(*many, only), Term::not(Term::var(*single))]).collect::<Vec<_>>(),
                    )
                }
                (KeyVar::Set { v, .. }, CtxValue::Many(items)) => {
                    let each = items
                        .iter()
                        .map(|s| Term::set_any(*v, kmsproof_solver::ElemPred::matches(Glob::literal(s, false))));
                    let only = kmsproof_solver::ElemPred::or(
                        items.iter().map(|s| kmsproof_solver::ElemPred::matches(Glob::literal(s, false))).collect(),
                    );
                    Term::and(each.chain([Term::set_all(*v, only)]).collect::<Vec<_>>())
                }
                (KeyVar::Int { v, date: false, .. }, CtxValue::One(s)) => {
                    match crate::base::value::Decimal::parse(s).and_then(|d| d.scaled(self.scale)) {
                        Some(k) => Term::int_cmp(*v, kmsproof_solver::Cmp::Eq, k),
                        None => Term::FALSE,
                    }
                }
                (KeyVar::Int { v, date: true, .. }, CtxValue::One(s)) => match crate::base::value::parse_date(s) {
                    Some((at, _)) => Term::int_cmp(*v, kmsproof_solver::Cmp::Eq, at.0),
                    None => Term::FALSE,
                },
                (KeyVar::Ip { v, .. }, CtxValue::One(s)) => match crate::base::value::parse_ip(s) {
                    Some(ip) => {
                        let full = if ip.is_ipv4() { 32 } else { 128 };
                        kmsproof_solver::Cidr::new(ip, full).map_or(Term::FALSE, |c| Term::ip_in(*v, c))
                    }
                    None => Term::FALSE,
                },
                _ => Term::FALSE,
            });
        }
        Term::and(parts)
    }
}

/// Where an action pattern has literal colons (an action has exactly one, between service
/// and name).
fn colons(toks: &[crate::base::pattern::Tok]) -> Vec<usize> {
    toks.iter().enumerate().filter(|(_, t)| **t == crate::base::pattern::Tok::Char(':')).map(|(i, _)| i).collect()
}

/// One part (service or name) of a split action matching `toks`.
fn action_part(v: StrVar, toks: &[crate::base::pattern::Tok], fold: bool) -> Term {
    Term::str_match(v, Glob::new(solver_tokens(toks), fold))
}
