//! The stratified search: principal classes first, then action groups where a class has
//! an allowed request, then the conditions that remain in each allowed cell; the findings
//! merged where they say the same; completeness proved last.

use super::classes::{classes, ClassKind, PrincipalClass};
use super::conditions::{candidates, Candidate};
use super::{Beyond, Completeness, Example, Exposure, Finding, Findings};
use crate::encode::{authorization, Encoder, Unsupported};
use crate::eval::{authorize, match_statement, Match};
use crate::facts::action_groups::{group_of, ACTION_GROUPS};
use crate::model::inputs::{IamWorld, Inputs};
use crate::model::policy::{parse_policy, CondValue, Effect, PolicyKind, Statement};
use crate::prove::engine::{confirm, Query, Refuted, Replay, Replayed};
use crate::prove::Mismatch;
use kmsproof_solver::backend::eval;
use kmsproof_solver::{Limits, Model, Outcome, Term};
use serde_json::Value;

/// How a search runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Whose identity policies are given (see [`IamWorld`]); an open world with no
    /// described account means none is given: every caller's are unknown.
    pub world: IamWorld,
    /// Per query; the deadline, if any, bounds the whole search.
    pub limits: Limits,
}

/// The cells: the classes in order, then the groups (the last, `None`, is the catch-all).
type Cell = (usize, Option<usize>);

/// The encoded question, built once: every term a cell query needs.
struct Encoded {
    q: Query,
    allowed_open: Term,
    allowed_closed: Term,
    classes: Vec<Term>,
    groups: Vec<Term>,
    candidates: Vec<Term>,
    /// What the other version allows (open world), when comparing two versions.
    other_open: Option<Term>,
}

/// The findings of `inputs` on `key_arn`. A replay mismatch is a bug, never a result.
pub fn findings(inputs: &Inputs, key_arn: &str, settings: &Settings) -> Result<Findings, Mismatch> {
    findings_against(inputs, None, key_arn, settings)
}

/// The findings of `inputs`, each also asked, when `other` is given, for a request it allows
/// that `other` denies ([`Finding::beyond`]): the diff of two versions (`other` read in the
/// same open world).
pub fn findings_against(
    inputs: &Inputs,
    other: Option<&Inputs>,
    key_arn: &str,
    settings: &Settings,
) -> Result<Findings, Mismatch> {
    let key_account = crate::base::arn::account_of(key_arn).unwrap_or_default().to_string();
    let (open, premise) = open_world(inputs, &settings.world);
    let other_open = other.map(|o| open_world(o, &settings.world).0);
    let classes = classes(inputs, &key_account);
    let base = classes.last().map(|c| c.shape.clone()).unwrap_or_else(any_shape);
    let cands = candidates(inputs, &base);
    let mut out = Findings {
        key_arn: key_arn.to_string(),
        findings: vec![],
        complete: Completeness::Unknown(String::new()),
        cells_explored: 0,
        queries: 0,
        premise,
        undecided: vec![],
    };
    let enc = match encode(inputs, &open, other_open.as_ref(), key_arn, &classes, &cands, settings) {
        Ok(e) => e,
        Err(u) => {
            out.complete = Completeness::Unknown(u.reason());
            return Ok(out);
        }
    };
    let mut s = Search { enc: &enc, limits: settings.limits, queries: 0, pool: vec![] };
    let cx = Context {
        classes: &classes,
        open: &open,
        given: inputs,
        other: other_open.as_ref(),
        cands: &cands,
        key_account: &key_account,
    };
    let mut raw = vec![];
    for (k, class) in classes.iter().enumerate() {
        out.cells_explored += 1;
        s.pool.clear();
        match s.find(&Term::and([enc.allowed_open.clone(), enc.classes[k].clone()]), &[]) {
            Outcome::Unsat => continue,
            Outcome::Unknown(why) => {
                out.undecided.push(format!("{}: {why}", class.label));
                continue;
            }
            Outcome::Sat(_) => {}
        }
        for g in (0..ACTION_GROUPS.len()).map(Some).chain([None]) {
            out.cells_explored += 1;
            let cell = (k, g);
            match s.cell(cell, &cx)? {
                CellAnswer::Empty => {}
                CellAnswer::Undecided(why) => {
                    out.undecided.push(format!("{} × {}: {why}", class.label, group_label(g)))
                }
                CellAnswer::Found(fs) => raw.extend(fs.into_iter().map(|(f, shape)| (cell, f, shape))),
            }
        }
    }
    out.complete = if out.undecided.is_empty() {
        s.complete(raw.iter().map(|(_, _, t)| t.clone()).collect())
    } else {
        Completeness::Unknown(format!("{} cell(s) undecided: {}", out.undecided.len(), out.undecided.join("; ")))
    };
    out.findings = merge(raw.into_iter().map(|(c, f, _)| (c, f)).collect());
    out.queries = s.queries;
    Ok(out)
}

/// The inputs with the unknown identity policies allowing everything (what the caller's
/// own IAM may add), and the premise that says so.
pub(super) fn open_world(inputs: &Inputs, world: &IamWorld) -> (Inputs, String) {
    const ASSUMED: &str = "assumed to allow everything (a finding that needs them says so)";
    match world {
        IamWorld::Open { described } if described.is_empty() => {
            let text = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
            let label = "<identity policies of every caller (none given): assumed to allow everything>";
            let mut out = inputs.clone();
            // A fixed document: it always reads.
            if let Ok(p) = parse_policy(text, label, PolicyKind::Identity) {
                out.identity.push(p);
            }
            (out, format!("no identity policy given: every caller's identity policies are unknown, {ASSUMED}"))
        }
        _ => (world.inputs(inputs, true), world.premise(ASSUMED)),
    }
}

/// `Principal *`, `Action *`, `Resource *`: the base of the candidate shapes when no class reads.
fn any_shape() -> Statement {
    let doc = serde_json::json!({"name": "any", "expect": "never", "principal": "*", "action": "*"});
    crate::model::property::properties_from_value(&doc, "<any>")
        .ok()
        .and_then(|v| v.into_iter().next())
        .map(|p| p.shape)
        .expect("a fixed shape reads")
}

fn encode(
    given: &Inputs,
    open: &Inputs,
    other: Option<&Inputs>,
    key_arn: &str,
    classes: &[PrincipalClass],
    cands: &[Candidate],
    settings: &Settings,
) -> Result<Encoded, Unsupported> {
    let policies: Vec<&crate::model::policy::Policy> =
        open.policies().chain(other.into_iter().flat_map(|o| o.policies())).collect();
    let extra: Vec<&Statement> = classes.iter().map(|c| &c.shape).chain(cands.iter().map(|c| &c.shape)).collect();
    let mut enc = Encoder::new(key_arn, &policies, &extra).with_opaque_atoms().with_deadline(settings.limits.deadline);
    let allowed_open = authorization(&mut enc, open)?;
    let allowed_closed = authorization(&mut enc, given)?;
    let other_open = other.map(|o| authorization(&mut enc, o)).transpose()?;
    let mut class_terms = vec![];
    let mut earlier = vec![];
    for c in classes {
        let applies = enc.statement(&c.shape)?.applies;
        class_terms.push(Term::and([applies.clone(), Term::not(Term::or(earlier.clone()))]));
        earlier.push(applies);
    }
    let mut groups: Vec<Term> = ACTION_GROUPS
        .iter()
        .map(|g| Term::or(g.actions.iter().map(|a| enc.action_is(a)).collect::<Vec<_>>()))
        .collect();
    groups.push(Term::not(Term::or(groups.clone())));
    let candidates = cands.iter().map(|c| enc.statement(&c.shape).map(|t| t.applies)).collect::<Result<_, _>>()?;
    let on_key = enc.on_key();
    let q = Query::new(enc, on_key)?;
    Ok(Encoded { q, allowed_open, allowed_closed, classes: class_terms, groups, candidates, other_open })
}

fn group_label(g: Option<usize>) -> &'static str {
    g.map_or("other actions on the key", |i| ACTION_GROUPS[i].label)
}

enum CellAnswer {
    Empty,
    Undecided(String),
    /// The cell's findings (allowed by the policies given; allowed only where the caller's
    /// own IAM allows), each with its shape.
    Found(Vec<(Finding, Term)>),
}

/// The part of a cell a finding describes: what the policies given allow, or what only the
/// caller's unknown identity policies can add.
struct Part {
    allowed: Term,
    needs_iam: bool,
}

struct Search<'a> {
    enc: &'a Encoded,
    limits: Limits,
    queries: usize,
    /// Models found in the current principal class, latest last (at most [`POOL`]): tried
    /// first, by evaluation, before Z3 is asked (see [`Search::find`]).
    pool: Vec<Model>,
}

/// How many models of a class [`Search::find`] tries before asking Z3, and of how many
/// (the latest) it tries the same request with another action.
const POOL: usize = 24;
const VARIED: usize = 4;

/// What a cell's findings are read against.
struct Context<'a> {
    classes: &'a [PrincipalClass],
    open: &'a Inputs,
    given: &'a Inputs,
    /// The other version (open world), when comparing two.
    other: Option<&'a Inputs>,
    cands: &'a [Candidate],
    key_account: &'a str,
}

impl Search<'_> {
    fn ask(&mut self, terms: &[Term]) -> Outcome {
        self.queries += 1;
        self.enc.q.solve(&Term::and(terms.iter().cloned()), self.limits, 1)
    }

    /// A request of `within`: a model found before, or one with its action replaced by one
    /// of `actions`, when evaluation (no Z3) shows it satisfies the query's whole goal and
    /// `within` — an exact answer "sat", with a model, as Z3's would be; else Z3's answer.
    /// Most questions of a cell are "is there another request, with another action or
    /// outside one condition?", which an earlier model, or the same request with another
    /// action, answers.
    fn find(&mut self, within: &Term, actions: &[&str]) -> Outcome {
        // `within` first: it rejects most candidates before the whole goal is evaluated.
        let region = Term::and([within.clone(), self.enc.q.goal().clone()]);
        let known = self.pool.iter().rev().find(|m| eval(&region, m)).cloned();
        let varied = || {
            self.pool.iter().rev().take(VARIED).find_map(|m| {
                actions.iter().filter_map(|a| self.enc.q.enc.with_action(m, a)).find(|v| eval(&region, v))
            })
        };
        if let Some(m) = known {
            return Outcome::Sat(vec![m]);
        }
        if let Some(m) = varied() {
            self.remember(std::slice::from_ref(&m));
            return Outcome::Sat(vec![m]);
        }
        let out = self.ask(std::slice::from_ref(within));
        if let Outcome::Sat(ms) = &out {
            self.remember(ms);
        }
        out
    }

    fn remember(&mut self, ms: &[Model]) {
        self.pool.extend(ms.iter().cloned());
        let extra = self.pool.len().saturating_sub(POOL);
        self.pool.drain(..extra);
    }

    /// Whether `term` holds on every request of `within` (unsat of `within ∧ ¬term`,
    /// unless a model found before breaks it). `None`: not decided.
    fn holds_on(&mut self, within: &Term, term: &Term) -> Option<bool> {
        match self.find(&Term::and([within.clone(), Term::not(term.clone())]), &[]) {
            Outcome::Unsat => Some(true),
            Outcome::Sat(_) => Some(false),
            Outcome::Unknown(_) => None,
        }
    }

    fn cell_term(&self, (k, g): Cell) -> Term {
        Term::and([self.enc.classes[k].clone(), self.enc.groups[g.unwrap_or(ACTION_GROUPS.len())].clone()])
    }

    /// One cell: empty, undecided, or its findings: the part the policies given allow and
    /// the part only the caller's own identity policy can allow, each with the actions it
    /// reaches and the conditions that remain.
    fn cell(&mut self, cell: Cell, cx: &Context) -> Result<CellAnswer, Mismatch> {
        let e = self.enc;
        let here = self.cell_term(cell);
        match self.find(&Term::and([e.allowed_open.clone(), here.clone()]), group_actions(cell.1)) {
            Outcome::Unsat => return Ok(CellAnswer::Empty),
            Outcome::Unknown(why) => return Ok(CellAnswer::Undecided(why)),
            Outcome::Sat(_) => {}
        }
        // Conditions the cell alone forces are no restriction: decided once per cell, and
        // only for a condition a part keeps.
        let mut forced: Vec<Option<bool>> = vec![None; e.candidates.len()];
        let parts = [
            Part { allowed: e.allowed_closed.clone(), needs_iam: false },
            Part { allowed: Term::and([e.allowed_open.clone(), Term::not(e.allowed_closed.clone())]), needs_iam: true },
        ];
        let mut found = vec![];
        for part in &parts {
            match self.part(cell, &here, part, &mut forced, cx)? {
                CellAnswer::Empty => {}
                CellAnswer::Undecided(why) => return Ok(CellAnswer::Undecided(why)),
                CellAnswer::Found(mut f) => found.append(&mut f),
            }
        }
        Ok(if found.is_empty() { CellAnswer::Empty } else { CellAnswer::Found(found) })
    }

    fn part(
        &mut self,
        cell: Cell,
        here: &Term,
        part: &Part,
        forced: &mut [Option<bool>],
        cx: &Context,
    ) -> Result<CellAnswer, Mismatch> {
        let e = self.enc;
        let inside = Term::and([here.clone(), part.allowed.clone()]);
        let model = match self.find(&inside, group_actions(cell.1)) {
            Outcome::Unsat => return Ok(CellAnswer::Empty),
            Outcome::Unknown(why) => return Ok(CellAnswer::Undecided(why)),
            Outcome::Sat(mut m) => m.remove(0),
        };
        let replay = CellReplay {
            open: cx.open,
            given: cx.given,
            classes: cx.classes,
            cell,
            needs_iam: part.needs_iam,
            denied_by: None,
        };
        let (examples, note) = match confirm(&e.q, &model, &replay)? {
            Replayed::Confirmed(ex) => (vec![ex], None),
            Replayed::Spurious(r) => {
                (vec![], Some(format!("no request was confirmed by the evaluator ({}): {}", e.q.free_summary(), r.got)))
            }
        };
        // The actions of the group the part reaches: each model names one more.
        let actions = match self.actions(cell, &inside) {
            Ok(a) => a,
            Err(why) => return Ok(CellAnswer::Undecided(why)),
        };
        let reached = Term::or(actions.iter().map(|a| e.q.enc.action_is(a)).collect::<Vec<_>>());
        let inside = if cell.1.is_some() { Term::and([inside, reached.clone()]) } else { inside };
        // A condition remains when every allowed request of the part meets it and the cell
        // alone does not force it.
        let met: Vec<usize> =
            (0..e.candidates.len()).filter(|&i| self.holds_on(&inside, &e.candidates[i]) == Some(true)).collect();
        let mut kept = vec![];
        for i in met {
            let is_forced = match forced[i] {
                Some(f) => f,
                None => {
                    let f = self.holds_on(here, &e.candidates[i]) == Some(true);
                    forced[i] = Some(f);
                    f
                }
            };
            if !is_forced {
                kept.push(i);
            }
        }
        let mut shape = Term::and(std::iter::once(here.clone()).chain(kept.iter().map(|&i| e.candidates[i].clone())));
        if cell.1.is_some() {
            shape = Term::and([shape, reached]);
        }
        // Part 1 is whole when the policies given allow all of its shape; part 2 when the
        // caller's own IAM can add all of it (the given policies deny it there anyway).
        let judge = if part.needs_iam { &e.allowed_open } else { &e.allowed_closed };
        let whole = match self.ask(&[shape.clone(), Term::not(judge.clone())]) {
            Outcome::Unsat => Some(true),
            Outcome::Sat(_) => Some(false),
            Outcome::Unknown(_) => None,
        };
        let beyond = match (e.other_open.as_ref(), cx.other) {
            (Some(other), Some(other_inputs)) => {
                let replay = CellReplay { denied_by: Some(other_inputs), ..replay };
                Some(self.beyond(&[shape.clone(), part.allowed.clone(), Term::not(other.clone())], &replay)?)
            }
            _ => None,
        };
        let class = &cx.classes[cell.0];
        let kept: Vec<&Candidate> = kept.iter().map(|&i| &cx.cands[i]).collect();
        let via_services = via_services(&kept);
        let finding = Finding {
            principal: class.label.clone(),
            kind: class.kind.clone(),
            groups: vec![(cell.1.map(|g| &ACTION_GROUPS[g]), actions)],
            conditions: kept.iter().map(|c| c.text.clone()).collect(),
            restrictions: kept.iter().map(|c| c.shape.clone()).collect(),
            needs_iam: part.needs_iam,
            whole,
            exposure: exposure(class, cx.key_account, &via_services),
            quantities: quantities(class, &kept),
            via_services,
            examples,
            note,
            beyond,
        };
        Ok(CellAnswer::Found(vec![(finding, shape)]))
    }

    /// The actions of the cell's group with an allowed request in `inside`: ask for one
    /// outside those found so far until there is none (the catch-all group lists none).
    fn actions(&mut self, cell: Cell, inside: &Term) -> Result<Vec<String>, String> {
        let Some(g) = cell.1 else { return Ok(vec![]) };
        let mut found: Vec<String> = vec![];
        let group = &ACTION_GROUPS[g];
        loop {
            let seen_actions = Term::or(found.iter().map(|a| self.enc.q.enc.action_is(a)).collect::<Vec<_>>());
            let rest: Vec<&str> = group.actions.iter().copied().filter(|a| !found.iter().any(|f| f == a)).collect();
            let model = match self.find(&Term::and([inside.clone(), Term::not(seen_actions)]), &rest) {
                Outcome::Unsat => break,
                Outcome::Unknown(why) => return Err(why),
                Outcome::Sat(mut m) => m.remove(0),
            };
            let request = self.enc.q.decode(&model);
            let name = request["action"].as_str().and_then(|a| a.strip_prefix("kms:")).unwrap_or_default();
            match group.actions.iter().find(|a| a.eq_ignore_ascii_case(name)) {
                Some(a) if !found.iter().any(|f| f == a) => found.push(a.to_string()),
                // The model's action is not one the group's term allows: the encoding and
                // the table disagree; stop rather than loop (the replay of the example
                // already checks the group on the evaluator's side).
                _ => return Err(format!("the solver's action {name:?} is not one of group {}", group.id)),
            }
        }
        found.sort_by_key(|a| group.actions.iter().position(|x| x == a));
        Ok(found)
    }

    /// A request of a finding this version allows and the other denies (`terms`), replayed.
    fn beyond(&mut self, terms: &[Term], replay: &CellReplay) -> Result<Beyond, Mismatch> {
        let model = match self.ask(terms) {
            Outcome::Unsat => return Ok(Beyond::Nothing),
            Outcome::Unknown(why) => return Ok(Beyond::Unknown(why)),
            Outcome::Sat(mut m) => m.remove(0),
        };
        Ok(match confirm(&self.enc.q, &model, replay)? {
            Replayed::Confirmed(ex) => Beyond::Example(ex),
            Replayed::Spurious(r) => Beyond::Unknown(format!(
                "no request was confirmed by the evaluator ({}): {}",
                self.enc.q.free_summary(),
                r.got
            )),
        })
    }

    /// `unsat` of "allowed ∧ ¬ any finding".
    fn complete(&mut self, shapes: Vec<Term>) -> Completeness {
        match self.ask(&[self.enc.allowed_open.clone(), Term::not(Term::or(shapes))]) {
            Outcome::Unsat => Completeness::Proved,
            Outcome::Unknown(why) => Completeness::Unknown(why),
            // Cannot happen on an exact encoding: the cells cover every request and each
            // kept condition was proved to hold on the cell's allowed requests.
            Outcome::Sat(_) => {
                Completeness::Unknown("the solver found an allowed request outside every finding".into())
            }
        }
    }
}

/// The actions of a group (none for the catch-all).
fn group_actions(g: Option<usize>) -> &'static [&'static str] {
    g.map_or(&[], |g| ACTION_GROUPS[g].actions)
}

/// Whether a condition restricts a key with a positive string operator (`StringEquals`,
/// `StringLike`, …, without `IfExists`), so its values are the only ones allowed.
fn positive_on(c: &Candidate, key: &str) -> bool {
    let op = &c.condition.op;
    c.condition.key.eq_ignore_ascii_case(key) && !op.spec.negated && !op.if_exists && op.set.is_none()
}

fn via_services(kept: &[&Candidate]) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    for c in kept.iter().filter(|c| positive_on(c, "kms:ViaService")) {
        for v in &c.condition.values {
            let t = super::conditions::value_text(v);
            if !out.contains(&t) {
                out.push(t);
            }
        }
    }
    out
}

fn exposure(class: &PrincipalClass, key_account: &str, via: &[String]) -> Exposure {
    let outside = match &class.kind {
        ClassKind::Named { account } | ClassKind::Root { account } | ClassKind::Account { account } => {
            account != key_account
        }
        ClassKind::Service | ClassKind::OtherService => false,
        ClassKind::OtherAccount | ClassKind::Anyone => true,
    };
    match (outside, via.is_empty(), &class.kind) {
        (false, _, _) => Exposure::Internal,
        (true, false, k) if *k != ClassKind::Anyone => Exposure::CrossAccountViaService,
        _ => Exposure::External,
    }
}

/// What a reviewer counts: accounts (of those named; any account stays any account),
/// addresses of the source ranges that remain, organizations.
fn quantities(class: &PrincipalClass, kept: &[&Candidate]) -> Vec<String> {
    let mut out = vec![];
    let orgs: Vec<String> = kept
        .iter()
        .filter(|c| positive_on(c, "aws:PrincipalOrgID"))
        .flat_map(|c| c.condition.values.iter().map(super::conditions::value_text))
        .collect();
    match (&class.kind, orgs.is_empty()) {
        (ClassKind::Named { .. } | ClassKind::Root { .. } | ClassKind::Account { .. }, _) => {
            out.push("1 account".to_string())
        }
        (ClassKind::OtherAccount, true) => out.push("any account".to_string()),
        (ClassKind::OtherAccount, false) => out.push(format!("any account of organization {}", orgs.join(" or "))),
        _ => {}
    }
    for c in kept.iter().filter(|c| c.condition.op.spec.name == "IpAddress" && !c.condition.op.if_exists) {
        out.push(format!("{} addresses of {} ({})", addresses(&c.condition.values), c.condition.key, ranges(c)));
    }
    if let Some(n) = kept.iter().find(|c| positive_on(c, "kms:ViaService")).map(|c| c.condition.values.len()) {
        out.push(format!("{n} service pattern(s) via kms:ViaService"));
    }
    out
}

fn ranges(c: &Candidate) -> String {
    c.condition.values.iter().map(super::conditions::value_text).collect::<Vec<_>>().join(", ")
}

/// How many addresses a list of CIDR blocks covers: blocks nest or are disjoint, so the
/// union is the sum over the blocks no other block contains.
pub fn addresses(values: &[CondValue]) -> String {
    let blocks: Vec<(std::net::IpAddr, u8)> = values
        .iter()
        .filter_map(|v| match v {
            CondValue::Cidr(c) => Some(c.parts()),
            _ => None,
        })
        .collect();
    let inside = |(a, p): (std::net::IpAddr, u8), (b, q): (std::net::IpAddr, u8)| {
        q <= p && crate::base::value::Cidr::parse(&format!("{b}/{q}")).is_some_and(|c| c.contains(a))
    };
    let mut total: u128 = 0;
    let mut saturated = false;
    for (i, &blk) in blocks.iter().enumerate() {
        let covered = blocks.iter().enumerate().any(|(j, &o)| j != i && inside(blk, o) && (o.1 < blk.1 || j < i));
        if covered {
            continue;
        }
        let bits = if blk.0.is_ipv4() { 32 } else { 128 } - u32::from(blk.1);
        match 1u128.checked_shl(bits).and_then(|n| total.checked_add(n)) {
            Some(t) => total = t,
            None => saturated = true,
        }
    }
    if saturated {
        "2^128".into()
    } else {
        total.to_string()
    }
}

/// Findings of the same class with the same remaining conditions (and the same answer to
/// "needs IAM", "whole") mean one thing over the union of their groups: one finding.
fn merge(raw: Vec<(Cell, Finding)>) -> Vec<Finding> {
    let mut out: Vec<(usize, Finding)> = vec![];
    for ((k, _), f) in raw {
        let same = out.iter_mut().find(|(k2, g)| {
            *k2 == k && g.conditions == f.conditions && g.needs_iam == f.needs_iam && g.whole == f.whole
        });
        match same {
            Some((_, g)) => {
                g.beyond = Beyond::either(g.beyond.take(), f.beyond);
                g.groups.extend(f.groups);
                g.examples.extend(f.examples);
                if g.note.is_none() {
                    g.note = f.note;
                }
            }
            None => out.push((k, f)),
        }
    }
    out.into_iter().map(|(_, f)| f).collect()
}

/// The replay target of a cell: allowed by the open-world inputs, of the cell's class
/// (the first class whose shape the caller matches) and group, on the key.
struct CellReplay<'a> {
    open: &'a Inputs,
    given: &'a Inputs,
    classes: &'a [PrincipalClass],
    cell: Cell,
    /// The part only the caller's unknown identity policy allows: the inputs given deny it.
    needs_iam: bool,
    /// Comparing two versions: the other version, which must deny the request.
    denied_by: Option<&'a Inputs>,
}

impl CellReplay<'_> {
    /// The line statement `index` of policy `source` starts at (0 when unknown).
    fn line_of(&self, source: &str, index: usize) -> usize {
        let policy = self.open.policies().find(|p| &*p.source == source);
        policy.and_then(|p| p.statements.iter().find(|s| s.index == index)).map_or(0, |s| s.pos.line)
    }
}

impl Replay for CellReplay<'_> {
    type Found = Example;

    fn replay(&self, request: Value) -> Result<Example, Refuted> {
        let req = Refuted::read_back(&request, "<finding example>")?;
        let decision = authorize(self.open, &req);
        let refuted = |got: String| Err(Refuted { request: request.clone(), req: Some(req.clone()), got });
        if !decision.allowed() {
            return refuted(format!("{} ({})", decision.reason.as_str(), decision.summary));
        }
        if authorize(self.given, &req).allowed() == self.needs_iam {
            return refuted(format!("the policies given {} it", if self.needs_iam { "allow" } else { "deny" }));
        }
        if self.denied_by.is_some_and(|o| authorize(o, &req).allowed()) {
            return refuted("the other version allows it too".into());
        }
        if req.resource.is_none() {
            return refuted("not a request on the key".into());
        }
        // As the evaluator reads it (a role session's aws:PrincipalArn is its role's ARN).
        let resolved = self.open.resolve(&req);
        let class =
            self.classes.iter().position(|c| matches!(match_statement(&c.shape, &resolved), Match::Applies { .. }));
        if class != Some(self.cell.0) {
            return refuted(format!("of another principal class ({class:?})"));
        }
        let group = group_of(&req.action).and_then(|g| ACTION_GROUPS.iter().position(|x| x.id == g.id));
        if group != self.cell.1 {
            return refuted(format!("of another action group (kms:{})", req.action));
        }
        let allowing: Vec<_> = decision.statements.iter().filter(|s| s.decisive && s.effect == Effect::Allow).collect();
        let mut allowed_by: Vec<String> = allowing.iter().map(|s| format!("{}: {}", s.policy, s.statement)).collect();
        allowed_by.extend(decision.grants.iter().filter(|g| g.decisive).map(|g| format!("grant {}", g.grant)));
        let places = allowing.iter().map(|s| (s.policy.to_string(), self.line_of(&s.policy, s.index))).collect();
        Ok(Example { request: req.to_json(), allowed_by, places })
    }

    fn claim(&self) -> (String, String) {
        let given = if self.needs_iam { "denied" } else { "allowed" };
        let other = if self.denied_by.is_some() { ", denied by the other version" } else { "" };
        let what = format!(
            "allowed, {given} by the policies given{other}, on the key, of the cell's principal class and action group"
        );
        ("findings cell".into(), what)
    }
}
