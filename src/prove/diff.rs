//! Policy comparison: is NEW equivalent to OLD, more or less permissive, or incomparable?
//! Two reachability questions — "NEW allows and OLD denies" and the reverse — answered by
//! Z3 on one encoding of both sides, each witness replayed through the evaluator against
//! both sides before it is shown.
//!
//! Constructs the encoder cannot express (policy variables that compare two request
//! values, conditions on `aws:username`, `BinaryEquals`, …) become opaque atoms shared
//! by both sides (see [`Opaque`]): an `unsat` stays a proof, and a request found through
//! them counts only when the evaluator confirms it; otherwise the direction is `unknown`.

use crate::base::diag::Error;
use crate::base::pattern::Piece;
use crate::encode::{authorization, is_derived_key, policy_allows, policy_denies, Encoder, Opaque, Unsupported};
use crate::eval::{authorize, policy_decision, Decision};
use crate::facts::readings::Reading;
use crate::model::inputs::Inputs;
use crate::model::policy::operator::Family;
use crate::model::policy::CondValue;
use crate::model::policy::{parse_policy, Policy, PolicyKind};
use crate::model::request::CtxValue;
use crate::model::request::Request;
use crate::prove::engine::{bound_retry, confirm, rests_on, Bindings, Build, Query, Refuted, Replay, Replayed};
use crate::prove::reduce::NoPart;
use crate::prove::Mismatch;
use kmsproof_solver::{BoolVar, Glob, Limits, Model, Outcome, Term};
use serde_json::Value;

/// The caller's IAM policies when only key policies are compared: allowing everything.
const ANY_IAM_POLICY: &str = r#"{"Version": "2012-10-17", "Statement": [{"Sid": "AnyIamPermission", "Effect": "Allow", "Action": "*", "Resource": "*"}]}"#;
const ANY_IAM_LABEL: &str = "<the caller's IAM policies, assumed to allow>";

/// What one side of a comparison is.
#[derive(Debug, Clone)]
pub enum Side {
    /// A KMS authorization context (key policy, identity policies, grants, SCPs,
    /// boundary), decided as KMS decides requests on the key.
    Kms(Inputs),
    /// One IAM policy alone, over requests of any service (identity policies).
    Policy(Policy),
}

impl Side {
    /// The side's decision on a concrete request.
    pub fn decide(&self, req: &Request) -> Decision {
        match self {
            Side::Kms(inputs) => authorize(inputs, req),
            Side::Policy(p) => policy_decision(p, req),
        }
    }

    /// One policy file as a side: a key policy (it names principals) is compared under
    /// KMS authorization with the caller's IAM policies assumed to allow everything, so the
    /// comparison shows all the key policy itself lets through; any other policy is
    /// compared alone, over requests of any service.
    pub fn from_policy_text(text: &str, label: &str) -> Result<Side, Error> {
        let any = parse_policy(text, label, PolicyKind::Any)?;
        if !any.statements.iter().any(|s| s.principal.is_some()) {
            return Ok(Side::Policy(parse_policy(text, label, PolicyKind::Identity)?));
        }
        let key_policy = parse_policy(text, label, PolicyKind::KeyPolicy)?;
        let iam = parse_policy(ANY_IAM_POLICY, ANY_IAM_LABEL, PolicyKind::Identity)?;
        Ok(Side::Kms(Inputs {
            key_policy,
            identity: vec![iam],
            scps: vec![],
            boundary: None,
            grants: vec![],
            management_account: None,
        }))
    }

    /// The policies of the side as the user gave them (the assumed IAM policy left out).
    pub fn policies(&self) -> Vec<&Policy> {
        match self {
            Side::Kms(i) => i.policies().collect(),
            Side::Policy(p) => vec![p],
        }
    }

    /// Reads a witness back as this side's requests are read (KMS or any service).
    fn read_request(&self, text: &str) -> Result<Request, Error> {
        match self {
            Side::Kms(_) => Request::parse(text, "<witness>"),
            Side::Policy(_) => Request::parse_generic(text, "<witness>"),
        }
    }
}

/// The comparison's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiffVerdict {
    Equivalent,
    MorePermissive,
    LessPermissive,
    Incomparable,
    Unknown(String),
}

impl DiffVerdict {
    pub fn as_str(&self) -> &'static str {
        match self {
            DiffVerdict::Equivalent => "equivalent",
            DiffVerdict::MorePermissive => "more-permissive",
            DiffVerdict::LessPermissive => "less-permissive",
            DiffVerdict::Incomparable => "incomparable",
            DiffVerdict::Unknown(_) => "unknown",
        }
    }
}

/// A request one side allows and the other denies, with both decisions.
#[derive(Debug, Clone)]
pub struct Witness {
    /// The request as AWS sees it, in the format `eval --request` reads (what is shown).
    pub request: Value,
    /// The same request, typed (what the program reasons with).
    pub req: Request,
    pub old: Decision,
    pub new: Decision,
}

/// The answer to one direction ("requests X allows and Y denies").
#[derive(Debug, Clone)]
pub enum Direction {
    /// Z3 answered `unsat`: there is no such request.
    None,
    /// Replayed witnesses (at least one).
    Found(Vec<Witness>),
    Unknown(String),
}

/// Every action a direction reaches, each with one replayed witness: the per-action summary
/// a reviewer reads ("what became newly allowed"), and how far the list is known to go.
#[derive(Debug, Clone, Default)]
pub struct ActionList {
    /// One witness per action, in the order found.
    pub witnesses: Vec<Witness>,
    pub end: ListEnd,
}

/// Why an [`ActionList`] stops where it does.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ListEnd {
    /// Z3 answered `unsat` for every other action: the list is complete.
    #[default]
    Complete,
    /// The list reached [`DiffOptions::actions`]; more actions may be reached.
    Capped,
    /// The search for further actions was undecided (a timeout, or constructs not encoded
    /// exactly); more actions may be reached.
    Open(String),
}

#[derive(Debug, Clone)]
pub struct DiffResult {
    pub verdict: DiffVerdict,
    /// Requests NEW allows and OLD denies.
    pub new_allows: Direction,
    /// Requests OLD allows and NEW denies.
    pub old_allows: Direction,
    /// The actions NEW allows and OLD denies (for some request), one witness each.
    pub new_actions: ActionList,
    /// The actions OLD allows and NEW denies.
    pub old_actions: ActionList,
    /// The condition keys the policies test (to say what a witness lacks).
    pub keys: Vec<String>,
    /// Constructs not modelled exactly, left free in the proofs (opaque atoms): a `none`
    /// direction holds whatever they evaluate to, and the report says so.
    pub free: Vec<String>,
    /// Undocumented readings a `none` direction rests on (see `readings`).
    pub rests_on: Vec<String>,
}

/// Options of one comparison.
#[derive(Debug, Clone, Copy)]
pub struct DiffOptions {
    /// Witnesses per direction.
    pub examples: usize,
    /// Most actions listed per direction in the per-action summary (at least `examples`
    /// are sought anyway); each costs one solver query.
    pub actions: usize,
    pub limits: Limits,
}

impl DiffOptions {
    /// The defaults for comparing `side`s with `examples` witnesses per direction: the
    /// per-action list goes up to [`KMS_ACTION_LIST`] actions for KMS contexts (more than
    /// the 56 KMS actions, so a key policy's list is never cut short; each action costs one
    /// query). Identity policies range over every service's actions, so their list goes
    /// only as far as the witnesses unless `--actions` asks for more.
    pub fn defaults_for(side: &Side, examples: usize) -> DiffOptions {
        let actions = match side {
            Side::Kms(_) => KMS_ACTION_LIST,
            Side::Policy(_) => examples,
        };
        DiffOptions { examples, actions, limits: Limits::default() }
    }
}

/// Witnesses per direction by default (`--examples`).
pub const EXAMPLES: usize = 3;

/// Actions listed per direction by default for KMS contexts (the catalog has 56).
pub const KMS_ACTION_LIST: usize = 60;

/// How many times a witness found through opaque atoms is re-sought with the atoms pinned
/// to the evaluator's values on the previous candidate.
const REFINE_ROUNDS: usize = 4;

/// Compares OLD and NEW (both `Kms` or both `Policy`); `key_arn` is the key under analysis
/// for `Kms` sides.
pub fn diff(old: &Side, new: &Side, key_arn: &str, opts: DiffOptions) -> Result<DiffResult, Mismatch> {
    match (old, new) {
        (Side::Policy(o), Side::Policy(n)) => {
            let (new_allows, mut seen) = policy_direction(n, o, old, new, opts, Allowed::New)?;
            let (old_allows, more) = policy_direction(o, n, old, new, opts, Allowed::Old)?;
            seen.merge(more);
            Ok(result(new_allows, old_allows, seen))
        }
        _ => kms_diff(old, new, key_arn, opts),
    }
}

/// Both directions over one encoding of both KMS authorization contexts.
fn kms_diff(old: &Side, new: &Side, key_arn: &str, opts: DiffOptions) -> Result<DiffResult, Mismatch> {
    if !matches!((old, new), (Side::Kms(_), Side::Kms(_))) {
        let why = "one side is a key policy and the other an identity policy; compare policies of one kind".to_string();
        let unknown = |why: &String| (Direction::Unknown(why.clone()), ActionList::open(why));
        return Ok(result(unknown(&why), unknown(&why), Seen::default()));
    }
    // One encoding of both sides; each direction asks "YES allows and NO does not".
    let build = |who: Allowed| {
        move |bindings: Bindings, reading: Option<Reading>| -> Result<Query, Unsupported> {
            let policies: Vec<&Policy> = old.policies().into_iter().chain(new.policies()).collect();
            let mut enc = Encoder::new(key_arn, &policies, &[])
                .with_opaque_atoms()
                .with_bindings(bindings)
                .with_reading(reading)
                .with_deadline(opts.limits.deadline);
            let (a_old, a_new) = (allowed(&mut enc, old)?, allowed(&mut enc, new)?);
            let (yes, no) = if who == Allowed::New { (a_new, a_old) } else { (a_old, a_new) };
            Query::new(enc, Term::and([yes, Term::not(no)]))
        }
    };
    let (new_allows, mut seen) = search_direction(&build(Allowed::New), old, new, opts, Allowed::New)?;
    let (old_allows, more) = search_direction(&build(Allowed::Old), old, new, opts, Allowed::Old)?;
    seen.merge(more);
    Ok(result(new_allows, old_allows, seen))
}

/// One direction of an identity-policy diff ("`yes` allows, `no` denies"), as the union of
/// the exactly reduced queries of [`crate::prove::reduce::split`]; witnesses replay on the
/// full sides.
fn policy_direction(
    yes: &Policy,
    no: &Policy,
    old: &Side,
    new: &Side,
    opts: DiffOptions,
    who: Allowed,
) -> Result<((Direction, ActionList), Seen), Mismatch> {
    let mut parts = Vec::new();
    let mut seen = Seen::default();
    for (yes, no, part) in crate::prove::reduce::split(yes, no) {
        let build = |bindings: Bindings, reading: Option<Reading>| -> Result<Query, Unsupported> {
            let mut enc = Encoder::generic(&[&yes, &no])
                .with_opaque_atoms()
                .with_bindings(bindings)
                .with_reading(reading)
                .with_deadline(opts.limits.deadline);
            let a_yes = policy_allows(&mut enc, &yes)?;
            let question = match part {
                NoPart::Allows => Term::and([a_yes, Term::not(policy_allows(&mut enc, &no)?)]),
                NoPart::DenyApplies => Term::and([a_yes, policy_denies(&mut enc, &no)?]),
            };
            Query::new(enc, question)
        };
        let (d, more) = search_direction(&build, old, new, opts, who)?;
        seen.merge(more);
        parts.push(d);
    }
    let (directions, lists): (Vec<Direction>, Vec<ActionList>) = parts.into_iter().unzip();
    Ok(((union(directions, opts.examples), ActionList::union(lists, opts.actions)), seen))
}

/// The union of a direction's parts: witnesses if any part has some, else unknown if any
/// part is, else none.
fn union(parts: Vec<Direction>, examples: usize) -> Direction {
    let mut found = Vec::new();
    let mut unknown = None;
    for d in parts {
        match d {
            Direction::Found(ws) => found.extend(ws),
            Direction::Unknown(why) => unknown = unknown.or(Some(why)),
            Direction::None => {}
        }
    }
    match (found.is_empty(), unknown) {
        (false, _) => Direction::Found(found.into_iter().take(examples.max(1)).collect()),
        (true, Some(why)) => Direction::Unknown(why),
        (true, None) => Direction::None,
    }
}

impl ActionList {
    fn open(why: &str) -> ActionList {
        ActionList { witnesses: vec![], end: ListEnd::Open(why.to_string()) }
    }

    /// The actions of a direction's parts together (one witness per action, actions
    /// compared case-insensitively): complete only when every part's list is.
    fn union(parts: Vec<ActionList>, cap: usize) -> ActionList {
        let mut out = ActionList::default();
        for part in parts {
            for w in part.witnesses {
                let action = w.action().to_ascii_lowercase();
                if !out.witnesses.iter().any(|o| o.action().to_ascii_lowercase() == action) {
                    out.witnesses.push(w);
                }
            }
            out.end = match (out.end, part.end) {
                (ListEnd::Open(why), _) | (_, ListEnd::Open(why)) => ListEnd::Open(why),
                (ListEnd::Capped, _) | (_, ListEnd::Capped) => ListEnd::Capped,
                _ => ListEnd::Complete,
            };
        }
        if out.witnesses.len() > cap {
            out.witnesses.truncate(cap);
            if out.end == ListEnd::Complete {
                out.end = ListEnd::Capped;
            }
        }
        out
    }
}

impl Witness {
    /// The request's action, as the witness spells it.
    pub fn action(&self) -> &str {
        self.request.get("action").and_then(Value::as_str).unwrap_or_default()
    }
}

/// One direction, then — when opaque atoms left it unknown — a second, exact search among
/// the requests whose variable-read keys have fixed values (an under-approximation: only a
/// replayed witness counts; finding none there proves nothing and the direction stays
/// unknown). Returns the direction and the condition keys the policies test.
fn search_direction(
    build: &Build,
    old: &Side,
    new: &Side,
    opts: DiffOptions,
    who: Allowed,
) -> Result<((Direction, ActionList), Seen), Mismatch> {
    let q = match build(Bindings::new(), None) {
        Ok(q) => q,
        Err(u) => {
            let why = u.reason();
            return Ok(((Direction::Unknown(why.clone()), ActionList::open(&why)), Seen::default()));
        }
    };
    let keys = q.enc.keys.values().map(|(name, _)| name.clone()).collect();
    let first = Search { q: &q, old, new, opts }.direction(who)?;
    let rests_on = match first.0 {
        Direction::None => rests_on(build, &q, opts.limits),
        _ => vec![],
    };
    let seen = Seen { keys, free: q.free(), rests_on };
    if !matches!(first.0, Direction::Unknown(_)) {
        return Ok((first, seen));
    }
    let Some(q2) = bound_retry(build, &q) else { return Ok((first, seen)) };
    let (second, mut actions) = Search { q: &q2, old, new, opts }.direction(who)?;
    if !matches!(second, Direction::Found(_)) {
        return Ok((first, seen));
    }
    // Found among requests with fixed values for the keys variables read: other actions
    // may be reached with other values.
    if let (ListEnd::Complete, Direction::Unknown(why)) = (&actions.end, &first.0) {
        actions.end = ListEnd::Open(why.clone());
    }
    Ok(((second, actions), seen))
}

fn allowed(enc: &mut Encoder, side: &Side) -> Result<Term, Unsupported> {
    match side {
        Side::Kms(inputs) => authorization(enc, inputs),
        Side::Policy(p) => policy_allows(enc, p),
    }
}

/// What the encodings of a comparison tested: condition keys, and constructs left free.
#[derive(Debug, Clone, Default)]
struct Seen {
    keys: Vec<String>,
    free: Vec<String>,
    /// Undocumented readings a `none` direction rests on.
    rests_on: Vec<String>,
}

impl Seen {
    fn merge(&mut self, other: Seen) {
        let pairs = [(&mut self.keys, other.keys), (&mut self.free, other.free), (&mut self.rests_on, other.rests_on)];
        for (mine, more) in pairs {
            mine.extend(more);
            mine.sort();
            mine.dedup();
        }
    }
}

fn result(
    (new_allows, new_actions): (Direction, ActionList),
    (old_allows, old_actions): (Direction, ActionList),
    seen: Seen,
) -> DiffResult {
    let verdict = match (&new_allows, &old_allows) {
        (Direction::Unknown(why), _) | (_, Direction::Unknown(why)) => DiffVerdict::Unknown(why.clone()),
        (Direction::None, Direction::None) => DiffVerdict::Equivalent,
        (Direction::Found(_), Direction::None) => DiffVerdict::MorePermissive,
        (Direction::None, Direction::Found(_)) => DiffVerdict::LessPermissive,
        (Direction::Found(_), Direction::Found(_)) => DiffVerdict::Incomparable,
    };
    DiffResult {
        verdict,
        new_allows,
        old_allows,
        new_actions,
        old_actions,
        keys: seen.keys,
        free: seen.free,
        rests_on: seen.rests_on,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Allowed {
    Old,
    New,
}

/// One direction's search over its question: witnesses enumerated by action, each
/// replayed on both sides.
struct Search<'a> {
    q: &'a Query,
    old: &'a Side,
    new: &'a Side,
    opts: DiffOptions,
}

/// The answer to "one more witness?".
enum Sought {
    /// A replayed witness.
    Found(Witness),
    /// Z3 answered `unsat`: there is none.
    NoneLeft,
    /// A timeout, or models through opaque atoms that the evaluator never confirmed.
    Undecided(String),
}

/// The replay target of a direction: both sides' decisions on the request.
struct DiffReplay<'a> {
    old: &'a Side,
    new: &'a Side,
    who: Allowed,
}

impl Replay for DiffReplay<'_> {
    type Found = Witness;

    fn replay(&self, request: Value) -> Result<Witness, Refuted> {
        let text = request.to_string();
        let req = match self.old.read_request(&text) {
            Ok(r) => r,
            Err(e) => return Err(Refuted { request, req: None, got: format!("the request does not read back: {e}") }),
        };
        let (old, new) = (self.old.decide(&req), self.new.decide(&req));
        let confirmed = match self.who {
            Allowed::New => new.allowed() && !old.allowed(),
            Allowed::Old => old.allowed() && !new.allowed(),
        };
        if confirmed {
            // The request as AWS sees it (derived keys included), not the model's short form.
            return Ok(Witness { request: req.to_json(), req, old, new });
        }
        let got =
            format!("old: {} ({}); new: {} ({})", old.reason.as_str(), old.summary, new.reason.as_str(), new.summary);
        Err(Refuted { request, req: Some(req), got })
    }

    fn claim(&self) -> (String, String) {
        ("diff witness".into(), format!("allowed by {} and denied by the other side", self.who.name()))
    }
}

impl Search<'_> {
    /// Requests YES allows and NO denies: `None` (proved), witnesses, or unknown; and the
    /// actions reached. Actions are enumerated first (each witness's action blocked in the
    /// next query) up to the larger of `examples` and `actions`; when they run out before
    /// `examples` witnesses, the same actions are shown for other principals.
    fn direction(&self, who: Allowed) -> Result<(Direction, ActionList), Mismatch> {
        let replay = DiffReplay { old: self.old, new: self.new, who };
        let examples = self.opts.examples.max(1);
        let mut pins = Term::TRUE;
        let mut by_action: Vec<Witness> = Vec::new();
        let mut blocked: Vec<Term> = Vec::new();
        let end = loop {
            if by_action.len() >= examples.max(self.opts.actions) {
                break ListEnd::Capped;
            }
            match self.witness(&Term::and(blocked.clone()), &mut pins, &replay)? {
                Sought::Found(w) => {
                    blocked.push(self.block(&w, true));
                    by_action.push(w);
                }
                Sought::NoneLeft => break ListEnd::Complete,
                Sought::Undecided(why) if by_action.is_empty() => {
                    return Ok((Direction::Unknown(why.clone()), ActionList::open(&why)))
                }
                Sought::Undecided(why) => break ListEnd::Open(why),
            }
        };
        if by_action.is_empty() {
            return Ok((Direction::None, ActionList::default()));
        }
        let mut shown: Vec<Witness> = by_action.iter().take(examples).cloned().collect();
        if shown.len() < examples && end == ListEnd::Complete {
            // Every action is shown: the same actions by other principals.
            let mut blocked: Vec<Term> = shown.iter().map(|w| self.block(w, false)).collect();
            while shown.len() < examples {
                match self.witness(&Term::and(blocked.clone()), &mut pins, &replay)? {
                    Sought::Found(w) => {
                        blocked.push(self.block(&w, false));
                        shown.push(w);
                    }
                    Sought::NoneLeft | Sought::Undecided(_) => break,
                }
            }
        }
        Ok((Direction::Found(shown), ActionList { witnesses: by_action, end }))
    }

    /// Excludes what a witness showed: its action (different ways in), or its action with
    /// its principal.
    fn block(&self, w: &Witness, by_action: bool) -> Term {
        let action = self.q.enc.action_matches(&crate::base::pattern::literal_tokens(w.action()), true);
        if by_action {
            return Term::not(action);
        }
        let caller = Term::str_match(self.q.enc.caller.caller, Glob::literal(&self.caller_text(w), false));
        Term::not(Term::and([action, caller]))
    }

    fn caller_text(&self, w: &Witness) -> String {
        w.req
            .caller
            .principal_arn()
            .unwrap_or_else(|| w.request.get("principal").and_then(Value::as_str).unwrap_or_default().to_string())
    }

    /// One replayed witness of the question with `blocked`. Spurious models (possible only
    /// with opaque atoms) are refined by pinning the atoms to the evaluator's values on the
    /// candidate, a few rounds, then undecided.
    fn witness(&self, blocked: &Term, pins: &mut Term, replay: &DiffReplay) -> Result<Sought, Mismatch> {
        for round in 0..=REFINE_ROUNDS {
            let model = match self.q.solve(&Term::and([blocked.clone(), pins.clone()]), self.opts.limits, 1) {
                Outcome::Unsat if round == 0 || pins.is_const(true) => return Ok(Sought::NoneLeft),
                Outcome::Unsat => {
                    // The pins were a guess; without them the question stays open.
                    *pins = Term::TRUE;
                    return Ok(Sought::Undecided(self.opaque_reason()));
                }
                Outcome::Unknown(why) => return Ok(Sought::Undecided(why)),
                Outcome::Sat(mut models) => models.remove(0),
            };
            let refuted = match confirm(self.q, &model, replay)? {
                Replayed::Confirmed(w) => return Ok(Sought::Found(w)),
                Replayed::Spurious(refuted) => refuted,
            };
            let Some(req) = refuted.req else { break };
            if let Some(repaired) = repair(&refuted.request, &req, &model, &self.q.atoms()) {
                if let Ok(w) = replay.replay(repaired) {
                    return Ok(Sought::Found(w));
                }
            }
            *pins = self.q.pin(&req);
        }
        Ok(Sought::Undecided(self.opaque_reason()))
    }

    fn opaque_reason(&self) -> String {
        format!(
            "a difference may exist only through constructs not encoded exactly ({}); no request the evaluator confirms was found",
            self.q.free_summary()
        )
    }
}

impl Allowed {
    fn name(self) -> &'static str {
        match self {
            Allowed::Old => "OLD",
            Allowed::New => "NEW",
        }
    }
}

/// Realises opaque equalities between two request keys (`"aws:ResourceAccount":
/// "${aws:PrincipalAccount}"`, the common shape in AWS managed policies) the model wants
/// and the decoded request lacks, by copying one key's value to the other (never to a key
/// AWS derives from the caller). The evaluator then judges the repaired request.
fn repair(request: &Value, req: &Request, m: &Model, opaque: &[(BoolVar, &Opaque)]) -> Option<Value> {
    let mut out = request.clone();
    let mut changed = false;
    for (b, o) in opaque {
        let want = m.bool(*b);
        let Opaque::Condition(c) = o else { continue };
        if o.holds(req) == want || c.op.set.is_some() || c.op.spec.family != Family::String {
            continue;
        }
        let [CondValue::Text(pieces)] = c.values.as_slice() else { continue };
        let [Piece::Var { key: other, .. }] = pieces.as_slice() else { continue };
        let (from, to) = match (is_derived_key(&c.key), is_derived_key(other)) {
            (_, false) => (c.key.as_str(), other.as_str()),
            (false, true) => (other.as_str(), c.key.as_str()),
            (true, true) => continue,
        };
        let equal = want != c.op.spec.negated;
        let ctx = out.get_mut("context")?.as_object_mut()?;
        let value = match req.context.get(from) {
            Some(CtxValue::One(v)) if equal => v.clone(),
            Some(CtxValue::One(v)) => format!("{v}-other"),
            // Neither key is set (and `from` is not derived): give both one value.
            None if !is_derived_key(from) => {
                ctx.insert(from.to_string(), Value::String("kmsproof-value".into()));
                if equal { "kmsproof-value" } else { "kmsproof-other" }.to_string()
            }
            _ => continue,
        };
        ctx.insert(to.to_string(), Value::String(value));
        changed = true;
    }
    changed.then_some(out)
}
