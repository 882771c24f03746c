//! Compiling terms to Z3 and reading models back as plain values. The only module that
//! touches Z3; one solver per thread is reused with push/pop (setup, not solving, is what
//! a fresh solver per query costs).

use crate::glob::Glob;
use crate::partition::{partition_finite, partition_for, partition_until, Knowledge, Partition, Viability};
use crate::term::{shr, Cmp, Node, Term, Vocabulary};
use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use z3::ast::{Bool, Int, BV};
use z3::{Params, SatResult, Solver};

mod canonical;
mod finite;
use canonical::Assignment;
pub use finite::{finite_mode, finite_stats, set_finite_mode, FiniteMode, FiniteStats};

/// The Z3 this binary runs, and how it was linked: `kmsproof --version` prints it, because
/// an answer can depend on the Z3 release (timeouts, model choice) and a bug report needs it.
pub fn z3_version() -> String {
    let linked = if cfg!(feature = "static-z3") { "linked statically" } else { "system libz3" };
    format!("Z3 {}, {linked}", z3::full_version())
}

/// Resource limits of one query, and how its models are chosen.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The work budget of one query, in milliseconds: everything it does (partitions,
    /// compiling, each Z3 check) ends by then, and an answer not reached is `unknown`.
    pub timeout_ms: u32,
    /// The end of the work budget of the unit the query is part of (a property, a
    /// comparison, an audited document), set by the command; a query ends at the earlier
    /// of this and its own `timeout_ms`. `None`: the query's own budget alone.
    pub deadline: Option<Budget>,
    /// Largest product automaton explored when partitioning one variable.
    pub partition_states: usize,
    /// Largest product automaton explored for a full (goal-independent, cached) partition
    /// of a string variable; past it, only the regions the goal can use are searched for
    /// (up to `partition_states`). Measured on the 301 version pairs (`cargo bench --bench
    /// diff`, verdict only, three runs in a row): 20,000 gave the lowest total (8.2 s,
    /// against 11.2 s at 50,000 and 12.0 s at 5,000).
    pub full_partition_states: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { timeout_ms: 10_000, deadline: None, partition_states: 200_000, full_partition_states: 20_000 }
    }
}

/// The end of a work budget. Its `Debug` form is the same for every budget: limits are
/// part of cache keys (an answer depends on how long it may take, not on when it ran).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Budget(pub std::time::Instant);

impl std::fmt::Debug for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Budget")
    }
}

impl Limits {
    /// These limits with their budget ending `ms` from now at the latest (the unit of work
    /// starting now: a property, a comparison, a document).
    pub fn budget_from_now(self, ms: u32) -> Limits {
        self.budget_from(std::time::Instant::now(), std::time::Duration::from_millis(u64::from(ms)))
    }

    /// These limits with their budget ending `length` after `start` at the latest (the
    /// unit of work started then: a command, counted from the process's start).
    pub fn budget_from(self, start: std::time::Instant, length: std::time::Duration) -> Limits {
        let end = start + length;
        Limits { deadline: Some(Budget(self.deadline.map_or(end, |d| d.0.min(end)))), ..self }
    }

    /// Whether the budget has run out.
    pub fn expired(&self) -> bool {
        self.deadline.is_some_and(|d| std::time::Instant::now() >= d.0)
    }

    /// Milliseconds left of the budget (at most `timeout_ms`, at least 1: Z3 reads 0 as
    /// "no limit").
    fn ms_left(&self) -> u32 {
        match self.deadline {
            None => self.timeout_ms,
            Some(d) => {
                let left = d.0.saturating_duration_since(std::time::Instant::now()).as_millis();
                let left = u32::try_from(left).unwrap_or(u32::MAX);
                // Nearly the whole budget left is the whole budget: Z3's timeout is then
                // set once per thread, not once per query (setting it is not cheap).
                let slack = (self.timeout_ms / 10).min(1_000);
                if left.saturating_add(slack) >= self.timeout_ms {
                    self.timeout_ms.max(1)
                } else {
                    left.max(1)
                }
            }
        }
    }
}

/// Why a query stopped when its budget ran out.
pub const OUT_OF_BUDGET: &str = "the work budget ran out";

/// A satisfying assignment, as plain values indexed by variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    pub strs: Vec<String>,
    pub sets: Vec<Vec<String>>,
    pub ints: Vec<i128>,
    pub ips: Vec<IpAddr>,
    pub bools: Vec<bool>,
}

impl Model {
    pub fn str(&self, v: crate::StrVar) -> &str {
        &self.strs[v.0]
    }

    pub fn set(&self, v: crate::SetVar) -> &[String] {
        &self.sets[v.0]
    }

    pub fn int(&self, v: crate::IntVar) -> i128 {
        self.ints[v.0]
    }

    pub fn ip(&self, v: crate::IpVar) -> IpAddr {
        self.ips[v.0]
    }

    pub fn bool(&self, v: crate::BoolVar) -> bool {
        self.bools[v.0]
    }

    /// The same assignment with `v` set to `value`: a candidate to evaluate against a goal
    /// ([`eval`]), e.g. the same request with another action.
    pub fn with_str(&self, v: crate::StrVar, value: &str) -> Model {
        let mut out = self.clone();
        out.strs[v.0] = value.to_string();
        out
    }
}

/// The answer to "is `goal` satisfiable?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Satisfiable: up to the requested number of models, differing in some region or flag.
    Sat(Vec<Model>),
    /// Unsatisfiable: Z3 answered `unsat` on the exact encoding.
    Unsat,
    /// Not decided (timeout, Z3 `unknown`, or a partition too large), with the reason.
    Unknown(String),
}

/// This thread's Z3 solver and the timeout it is set to (setting parameters on a solver is
/// not cheap: Z3 updates its whole configuration, so it is done only when the timeout
/// changes). Created on the first query that needs Z3: a process whose queries are all
/// decided without Z3 never creates a context.
///
/// Never torn down at thread or process exit, knowingly leaked: deleting a Z3 context
/// costs about 5 % of a short `kmsproof diff` process (issue 21) and frees nothing the
/// operating system would not. The slot is `ManuallyDrop`, and the first use forgets one
/// extra handle to the thread's context, so neither `Z3_solver_dec_ref` nor
/// `Z3_del_context` runs at exit. A fresh solver (`with_fresh_solver`) drops the old one
/// normally; only the last one is leaked.
struct ThreadSolver {
    solver: std::mem::ManuallyDrop<Solver>,
    timeout: u32,
}

/// Which solver a query needs: the QF_BV one when its goal compares no integers (region
/// indices and addresses are bit-vectors), Z3's default (all theories) otherwise.
/// Measured on the whole-process bench (docs/performance.md, interleaved runs): the QF_BV
/// solver is set up faster — `diff` CPU p50 34.5 → 28.1 ms, `check` 26.7 → 21.7 ms — with
/// the same verdicts; Z3's tactic-based "smt" solver was as fast at the median and slower
/// in the tail. The QF_BV logic does not set up arithmetic, so a goal with integers must
/// not reach it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum SolverKind {
    BitVectors,
    General,
}

impl SolverKind {
    fn for_goal(goal: &Term) -> SolverKind {
        if has_int(goal) {
            SolverKind::General
        } else {
            SolverKind::BitVectors
        }
    }

    fn index(self) -> usize {
        match self {
            SolverKind::BitVectors => 0,
            SolverKind::General => 1,
        }
    }
}

fn has_int(t: &Term) -> bool {
    match &t.0 {
        Node::IntCmp(..) => true,
        Node::Not(inner) => has_int(inner),
        Node::And(ts) | Node::Or(ts) => ts.iter().any(has_int),
        _ => false,
    }
}

thread_local! {
    /// One solver per [`SolverKind`], each created on first need.
    static SOLVER: RefCell<[Option<ThreadSolver>; 2]> = const { RefCell::new([None, None]) };
    /// Whether this thread's default context is already leaked (once per thread), and
    /// whether a fresh context of [`with_fresh_solver`] is in place (that one is dropped).
    static LEAKED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static IN_FRESH: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

impl ThreadSolver {
    fn new(kind: SolverKind) -> ThreadSolver {
        if !IN_FRESH.get() && !LEAKED.replace(true) {
            std::mem::forget(z3::Context::thread_local());
        }
        let solver = match kind {
            SolverKind::BitVectors => Solver::new_for_logic("QF_BV").unwrap_or_default(),
            SolverKind::General => Solver::new(),
        };
        ThreadSolver { solver: std::mem::ManuallyDrop::new(solver), timeout: u32::MAX }
    }
}

/// Drops this thread's Z3 solver; the next query starts a fresh one. (The partition
/// cache stays: a partition is a function of its patterns and hints alone.)
fn reset_thread_solver() {
    let old = SOLVER.with(|cell| std::mem::take(&mut *cell.borrow_mut()));
    for s in old.into_iter().flatten() {
        drop(std::mem::ManuallyDrop::into_inner(s.solver));
    }
}

/// Runs `f` with a fresh Z3 context and solver on this thread, so the models it gets depend
/// only on the queries inside `f`, not on what the thread solved before (Z3's models do):
/// `kmsproof audit` prints the same counterexamples for any `--jobs`.
pub fn with_fresh_solver<R: Send + Sync>(f: impl FnOnce() -> R + Send + Sync) -> R {
    reset_thread_solver();
    let outer = IN_FRESH.replace(true);
    let out = z3::with_z3_config(&z3::Config::new(), f);
    IN_FRESH.set(outer);
    reset_thread_solver();
    out
}

/// Decides `goal` over `vocab`, returning up to `max_models` models when sat. Successive
/// models differ in the truth of some pattern of `relevant` (or in a flag), so they show
/// different ways in rather than different spellings of one; each model prefers regions
/// whose witness is a hint.
pub fn solve(vocab: &Vocabulary, goal: &Term, limits: Limits, max_models: usize) -> Outcome {
    solve_with(vocab, goal, goal, limits, max_models)
}

/// [`solve`], with the patterns that distinguish models taken from `relevant`.
pub fn solve_with(vocab: &Vocabulary, goal: &Term, relevant: &Term, limits: Limits, max_models: usize) -> Outcome {
    // The query's own budget covers everything below, not only Z3 (issue 20).
    let limits = limits.budget_from_now(limits.timeout_ms);
    if limits.expired() {
        return Outcome::Unknown(format!("{OUT_OF_BUDGET} before this query"));
    }
    let t0 = std::time::Instant::now();
    let debug = std::env::var_os("KMSPROOF_DEBUG").is_some();
    let parts = Partitions::compute(vocab, goal, limits, max_models > 1);
    if debug {
        eprintln!("partitions: {:?}", t0.elapsed());
    }
    let parts = match parts {
        Ok(p) => p,
        Err(why) => return Outcome::Unknown(why),
    };
    let mut relevant_strs = vec![Vec::new(); vocab.strs.len()];
    let mut relevant_sets = vec![Vec::new(); vocab.sets.len()];
    collect(relevant, &mut relevant_strs, &mut relevant_sets);
    let mode = finite_mode();
    // Z3 too shows canonical models (the least solutions, `backend/canonical.rs`): a function
    // of the query alone, never of what the reused solver saw before, and the same the search
    // finds, so a command's output is the same whichever procedure decides (and any `--jobs`).
    let z3 = || solve_parts(vocab, goal, &relevant_strs, limits, max_models, &parts);
    if mode == FiniteMode::Off {
        return z3();
    }
    let shape = finite::Shape {
        bools: vocab.bools.len(),
        ints: vocab.ints.len(),
        ips: vocab.ips.len(),
        str_guards: vocab.strs.iter().map(|d| d.guard.map(|g| g.0)).collect(),
        set_guards: vocab.sets.iter().map(|d| d.guard.map(|g| g.0)).collect(),
    };
    let decided = finite::decide(goal, &parts, &shape, &relevant_strs, max_models);
    decided.count();
    if debug {
        eprintln!("decided without Z3: {:?} after {:?}", std::mem::discriminant(&decided), t0.elapsed());
    }
    let here = match &decided {
        finite::Decision::Sat(found) => Some(Outcome::Sat(found.iter().map(|a| model_of(a, &parts)).collect())),
        finite::Decision::Unsat => Some(Outcome::Unsat),
        finite::Decision::HandOver => None,
    };
    match (mode, here) {
        (FiniteMode::CrossCheck, here) => {
            // Z3's canonical models are the least solutions in the search's order: the
            // two must agree on the answer and on every model.
            let theirs = z3();
            if let (Some(here), false) = (&here, matches!(theirs, Outcome::Unknown(_))) {
                assert_eq!(here, &theirs, "the Z3-free decision disagrees with Z3 on {goal:?}");
            }
            theirs
        }
        (_, Some(here)) => here,
        (_, None) => z3(),
    }
}

/// Asks Z3 about `goal` over the computed partitions.
fn solve_parts(
    vocab: &Vocabulary,
    goal: &Term,
    relevant_strs: &[Vec<Glob>],
    limits: Limits,
    max_models: usize,
    parts: &Partitions,
) -> Outcome {
    let t0 = std::time::Instant::now();
    let debug = std::env::var_os("KMSPROOF_DEBUG").is_some();
    let ask = |canonical: bool| {
        if limits.expired() {
            return Some(Outcome::Unknown(format!("{OUT_OF_BUDGET} before Z3 was asked")));
        }
        SOLVER.with(|cell| {
            let mut slot = cell.borrow_mut();
            let kind = SolverKind::for_goal(goal);
            let slot = slot[kind.index()].get_or_insert_with(|| ThreadSolver::new(kind));
            let ms = limits.ms_left();
            if slot.timeout != ms {
                set_timeout(&slot.solver, ms);
                slot.timeout = ms;
            }
            let solver = &*slot.solver;
            solver.push();
            let compiler = Compiler::new(vocab, parts);
            if debug {
                eprintln!("declared: {:?}", t0.elapsed());
            }
            let out = compiler.run(solver, goal, relevant_strs, max_models.max(1), limits, canonical);
            if debug {
                eprintln!("solved: {:?}", t0.elapsed());
            }
            solver.pop(1);
            out
        })
    };
    match ask(true) {
        Some(out) => out,
        // A canonical model could not be completed (a check of it timed out): Z3's own
        // model in a fresh context instead, which depends on this query alone too.
        None => with_fresh_solver(|| ask(false)).unwrap_or_else(|| Outcome::Unknown("no model".into())),
    }
}

/// A cached partition: what it was computed from (patterns, hints or domain, state
/// limit; `usize::MAX` for a finite domain), and the answer.
type PartitionEntry = (Vec<Glob>, Vec<String>, usize, Result<Partition, crate::partition::TooLarge>);

thread_local! {
    /// Partitions already computed on this thread, by the hash of what they were computed
    /// from: successive queries about one policy, and documents sharing patterns (the
    /// actions of a service, the shapes of ARNs), cut variables by the same patterns.
    /// Failures are kept too (at the same limit), so a query that needs a goal-pruned
    /// partition does not first repeat a search known to be too large. Looked up by hash
    /// and compared in place, so a hit clones nothing but the partition.
    static PARTITIONS: RefCell<HashMap<u64, Vec<PartitionEntry>>> = RefCell::new(HashMap::new());
}

/// Bound on cached partitions per thread (the cache is dropped whole when full).
const PARTITION_CACHE: usize = 4096;

/// A pattern set whose full partition was too large: the sorted patterns, the hints and the
/// limit it failed at.
type TooLargeEntry = (Vec<Glob>, Vec<String>, usize, crate::partition::TooLarge);

thread_local! {
    /// The last pattern sets whose full partition was too large. A superset of one (with the
    /// same hints, at no larger a limit) is too large as well: the product automaton of more
    /// patterns projects onto that of fewer, so it has at least as many states and words.
    /// Successive queries of one diff add a pattern each (an exclusion per action listed);
    /// without this each first built the full partition up to the limit only to fail.
    static TOO_LARGE: RefCell<Vec<TooLargeEntry>> = const { RefCell::new(Vec::new()) };
}

/// How many failed pattern sets [`TOO_LARGE`] keeps (the oldest goes first).
const TOO_LARGE_KEPT: usize = 16;

/// Whether sorted `small` is a subset of sorted `big`.
fn sorted_subset(small: &[Glob], big: &[Glob]) -> bool {
    let mut rest = big.iter();
    small.iter().all(|a| rest.by_ref().any(|b| b == a))
}

fn cached_partition(
    atoms: &[Glob],
    hints: &[String],
    limit: usize,
    deadline: Option<Budget>,
) -> Result<Partition, crate::partition::TooLarge> {
    let known = TOO_LARGE.with(|t| {
        t.borrow()
            .iter()
            .find(|(a, h, l, _)| limit <= *l && h.as_slice() == hints && sorted_subset(a, atoms))
            .map(|e| e.3.clone())
    });
    if let Some(too_large) = known {
        return Err(too_large);
    }
    let p = cached(atoms, hints, limit, || partition_until(atoms, hints, limit, deadline.map(|d| d.0)));
    if let Err(e) = &p {
        if !e.out_of_time && atoms.is_sorted() {
            TOO_LARGE.with(|t| {
                let mut t = t.borrow_mut();
                if t.len() >= TOO_LARGE_KEPT {
                    t.remove(0);
                }
                t.push((atoms.to_vec(), hints.to_vec(), limit, e.clone()));
            });
        }
    }
    p
}

/// The partition of a finite domain, cached like the others (matching every pattern
/// against every value of a large domain, e.g. the KMS actions, is not free).
fn cached_finite(atoms: &[Glob], values: &[String]) -> Partition {
    cached(atoms, values, usize::MAX, || Ok(partition_finite(atoms, values)))
        .unwrap_or_else(|_| Partition { regions: vec![] })
}

fn cached(
    atoms: &[Glob],
    strings: &[String],
    limit: usize,
    compute: impl FnOnce() -> Result<Partition, crate::partition::TooLarge>,
) -> Result<Partition, crate::partition::TooLarge> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (atoms, strings, limit).hash(&mut h);
    let key = h.finish();
    let same = |e: &&PartitionEntry| e.2 == limit && e.0 == atoms && e.1 == strings;
    if let Some(p) = PARTITIONS.with(|c| c.borrow().get(&key).and_then(|v| v.iter().find(same).map(|e| e.3.clone()))) {
        return p;
    }
    let p = compute();
    // Running out of time says nothing about the patterns: not kept.
    if p.as_ref().is_err_and(|e| e.out_of_time) {
        return p;
    }
    PARTITIONS.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= PARTITION_CACHE {
            c.clear();
        }
        c.entry(key).or_default().push((atoms.to_vec(), strings.to_vec(), limit, p.clone()));
    });
    p
}

/// The partition of every string and set variable, by the patterns the goal uses.
struct Partitions {
    strs: Vec<(Vec<Glob>, Partition)>,
    sets: Vec<(Vec<Glob>, Partition)>,
}

impl Partitions {
    /// `several`: more than one model is wanted, so a pruned partition keeps every region
    /// the goal can use (settling would keep one region for many the blocking formulas of
    /// later models need).
    fn compute(vocab: &Vocabulary, goal: &Term, limits: Limits, several: bool) -> Result<Partitions, String> {
        let mut str_atoms = vec![Vec::new(); vocab.strs.len()];
        let mut set_atoms = vec![Vec::new(); vocab.sets.len()];
        collect(goal, &mut str_atoms, &mut set_atoms);
        let build = |atoms: Vec<Glob>, decl: &crate::term::StrDecl, var: Option<usize>| {
            // Deduplicated before sorting: a goal mentions each pattern many times, and
            // hashing a pattern is one stored number while comparing walks its tokens.
            let mut atoms = atoms;
            let mut seen = std::collections::HashSet::with_capacity(atoms.len());
            atoms.retain(|g| seen.insert(g.clone()));
            atoms.sort();
            if let Some(values) = &decl.domain {
                let p = cached_finite(&atoms, values);
                return if p.regions.is_empty() {
                    Err(format!("{} has an empty domain", decl.name))
                } else {
                    Ok((atoms, p))
                };
            }
            // A full partition is reusable (cached) but can be large; past a first bound the
            // goal-pruned search below is tried instead, up to the full limit.
            let first = match var {
                Some(_) => limits.partition_states.min(limits.full_partition_states),
                None => limits.partition_states,
            };
            let full = cached_partition(&atoms, &decl.hints, first, limits.deadline);
            // Too large: keep only the regions this goal can still use (not cached: the
            // result serves this goal alone).
            let pruned = |var: usize| {
                if std::env::var_os("KMSPROOF_DEBUG").is_some() {
                    eprintln!("partition of {} too large: keeping the regions the goal can use", decl.name);
                }
                let viable = |know: &Knowledge| match viability(goal, var, &atoms, know) {
                    Viability::Open { .. } if several => Viability::Open { settle_if: None },
                    v => v,
                };
                partition_for(&atoms, &decl.hints, limits.partition_states, &viable, limits.deadline.map(|d| d.0))
            };
            let p = match (full, var) {
                (Err(e), Some(v)) if !e.out_of_time => pruned(v),
                (r, _) => r,
            };
            p.map(|mut p| {
                // Canonical models prefer hinted (readable) regions, in the order of the
                // hints (the caller lists its preferred witnesses first): they come first,
                // so "least region" is "first hint possible" when one is. Every decider
                // shows canonical models, so the order is always this one.
                let hint_rank = |r: &crate::partition::Region| {
                    decl.hints.iter().position(|h| *h == r.witness).filter(|_| r.hinted).unwrap_or(usize::MAX)
                };
                p.regions.sort_by_cached_key(|r| (!r.hinted, hint_rank(r)));
                (atoms.clone(), p)
            })
            .map_err(|e| match e.out_of_time {
                true => {
                    format!("{OUT_OF_BUDGET} while partitioning {} ({} automaton states built)", decl.name, e.states)
                }
                false => format!("the patterns on {} need more than {} automaton states", decl.name, e.states),
            })
        };
        let strs = str_atoms
            .into_iter()
            .zip(&vocab.strs)
            .enumerate()
            .map(|(i, (a, d))| build(a, d, Some(i)))
            .collect::<Result<_, _>>()?;
        let sets = set_atoms.into_iter().zip(&vocab.sets).map(|(a, d)| build(a, d, None)).collect::<Result<_, _>>()?;
        Ok(Partitions { strs, sets })
    }
}

/// What the goal can still do with the atoms of string variable `var` as `know` says (by
/// position in the sorted `atoms`) and everything else unknown: dead when constant-false;
/// otherwise the value each undecided atom must have for the string read so far to
/// dominate its extensions (see [`Viability`]).
fn viability(goal: &Term, var: usize, atoms: &[Glob], know: &Knowledge) -> Viability {
    let mut uses = Vec::new();
    if residual(goal, true, var, atoms, know, &mut uses) == Some(false) {
        return Viability::Dead;
    }
    uses.sort();
    uses.dedup();
    let both_ways = uses.windows(2).any(|w| w[0].0 == w[1].0);
    Viability::Open { settle_if: (!both_ways).then_some(uses) }
}

/// The term's value once the decided atoms of one string variable are substituted and
/// constants propagated: `Some(b)` whatever the other variables and undecided atoms are.
/// When it is not constant, the undecided atoms of `var` it still mentions are pushed to
/// `uses`, each with the value that makes the term larger (`true` where it occurs
/// positively, `false` under an odd number of negations).
fn residual(
    t: &Term,
    positive: bool,
    var: usize,
    atoms: &[Glob],
    know: &Knowledge,
    uses: &mut Vec<(usize, bool)>,
) -> Option<bool> {
    let mark = uses.len();
    let all = |ts: &[Term], stop: bool, uses: &mut Vec<(usize, bool)>| {
        let mut open = false;
        for t in ts {
            match residual(t, positive, var, atoms, know, uses) {
                Some(b) if b == stop => return Some(stop),
                None => open = true,
                Some(_) => {}
            }
        }
        (!open).then_some(!stop)
    };
    let value = match &t.0 {
        Node::Const(b) => Some(*b),
        Node::Not(inner) => residual(inner, !positive, var, atoms, know, uses).map(|b| !b),
        Node::And(ts) => all(ts, false, uses),
        Node::Or(ts) => all(ts, true, uses),
        Node::StrMatch(v, g) if v.0 == var => match atoms.binary_search(g) {
            Ok(i) if know[i].is_none() => {
                uses.push((i, positive));
                None
            }
            Ok(i) => know[i],
            Err(_) => None,
        },
        _ => None,
    };
    if value.is_some() {
        uses.truncate(mark);
    }
    value
}

fn collect(t: &Term, strs: &mut [Vec<Glob>], sets: &mut [Vec<Glob>]) {
    walk(t, &mut |n| match n {
        Node::StrMatch(v, g) => strs[v.0].push(g.clone()),
        Node::SetAny(v, p) => {
            let mut gs = Vec::new();
            p.globs(&mut gs);
            sets[v.0].extend(gs.into_iter().cloned());
        }
        _ => {}
    });
}

/// Calls `f` on every node of `t`, the node before its parts.
fn walk(t: &Term, f: &mut impl FnMut(&Node)) {
    f(&t.0);
    match &t.0 {
        Node::Not(inner) => walk(inner, f),
        Node::And(ts) | Node::Or(ts) => ts.iter().for_each(|t| walk(t, f)),
        Node::Const(_) | Node::Bool(_) | Node::StrMatch(..) | Node::SetAny(..) | Node::IntCmp(..) | Node::IpIn(..) => {}
    }
}

/// Time limit of each check that only makes a witness more readable.
const READABLE_TIMEOUT_MS: u32 = 500;

fn set_timeout(solver: &Solver, ms: u32) {
    let mut params = Params::new();
    params.set_u32("timeout", ms);
    solver.set_params(&params);
}

/// A region index: a bit-vector wide enough for the region count.
struct Region {
    bits: BV,
    width: u32,
    count: usize,
    /// `bits = i` for each region `i`, built once: every pattern's formula is a
    /// disjunction of these.
    cases: Vec<Bool>,
}

impl Region {
    fn new(name: &str, count: usize) -> Region {
        let width = (usize::BITS - count.saturating_sub(1).leading_zeros()).max(1);
        let bits = BV::new_const(name, width);
        let cases = (0..count).map(|i| bits.eq(BV::from_u64(i as u64, width))).collect();
        Region { bits, width, count, cases }
    }

    fn is(&self, i: usize) -> Bool {
        match self.cases.get(i) {
            Some(b) => b.clone(),
            None => self.bits.eq(BV::from_u64(i as u64, self.width)),
        }
    }

    fn in_range(&self) -> Bool {
        if self.count >= 1usize << self.width {
            Bool::from_bool(true)
        } else {
            self.bits.bvult(BV::from_u64(self.count as u64, self.width))
        }
    }

    fn read(&self, z: &z3::Model) -> usize {
        z.eval(&self.bits, true).and_then(|v| v.as_u64()).unwrap_or(0) as usize
    }
}

/// Z3 constants for every variable, and the term compiler.
struct Compiler<'a> {
    parts: &'a Partitions,
    /// Per string variable: pattern → its compiled "the value matches" formula.
    str_atoms: Vec<HashMap<&'a Glob, Bool>>,
    str_guards: Vec<Option<usize>>,
    set_guards: Vec<Option<usize>>,
    /// Region index of each string variable, as a bit-vector (bit-blasted: pure SAT).
    strs: Vec<Region>,
    sets: Vec<Vec<Bool>>,
    ints: Vec<Int>,
    ips: Vec<(Bool, BV)>,
    bools: Vec<Bool>,
}

impl<'a> Compiler<'a> {
    fn new(vocab: &Vocabulary, parts: &'a Partitions) -> Compiler<'a> {
        let strs: Vec<Region> = vocab
            .strs
            .iter()
            .zip(&parts.strs)
            .map(|(d, (_, p))| Region::new(&format!("str!{}", d.name), p.regions.len()))
            .collect();
        let str_atoms = parts
            .strs
            .iter()
            .zip(&strs)
            .map(|((atoms, p), idx)| {
                atoms
                    .iter()
                    .enumerate()
                    .map(|(j, g)| {
                        let hits: Vec<Bool> =
                            p.regions.iter().enumerate().filter(|(_, r)| r.signs[j]).map(|(i, _)| idx.is(i)).collect();
                        (g, Bool::or(&hits))
                    })
                    .collect()
            })
            .collect();
        Compiler {
            parts,
            str_atoms,
            str_guards: vocab.strs.iter().map(|d| d.guard.map(|g| g.0)).collect(),
            set_guards: vocab.sets.iter().map(|d| d.guard.map(|g| g.0)).collect(),
            strs,
            sets: vocab
                .sets
                .iter()
                .zip(&parts.sets)
                .map(|(d, (_, p))| {
                    (0..p.regions.len()).map(|r| Bool::new_const(format!("set!{}!{r}", d.name))).collect()
                })
                .collect(),
            ints: vocab.ints.iter().map(|n| Int::new_const(format!("int!{n}"))).collect(),
            ips: vocab
                .ips
                .iter()
                .map(|n| (Bool::new_const(format!("ip6!{n}")), BV::new_const(format!("ip!{n}"), 128)))
                .collect(),
            bools: vocab.bools.iter().map(|n| Bool::new_const(format!("bool!{n}"))).collect(),
        }
    }

    /// Domain constraints: region indices in range, IPv4 addresses in the low 32 bits.
    fn domains(&self, solver: &Solver) {
        for idx in &self.strs {
            solver.assert(idx.in_range());
        }
        for (v6, bits) in &self.ips {
            solver.assert(v6.not().implies(bits.bvult(BV::from_u64(1u64 << 32, 128))));
        }
    }

    /// `None`: a canonical model was asked for and could not be completed.
    fn run(
        &self,
        solver: &Solver,
        goal: &Term,
        relevant: &[Vec<Glob>],
        max_models: usize,
        limits: Limits,
        canonical: bool,
    ) -> Option<Outcome> {
        let timeout_ms = limits.ms_left();
        self.domains(solver);
        solver.assert(self.compile(goal));
        let mut models = Vec::new();
        let debug = std::env::var_os("KMSPROOF_DEBUG").is_some();
        while models.len() < max_models {
            let t0 = std::time::Instant::now();
            let answer = solver.check();
            if debug {
                eprintln!("check: {answer:?} in {:?}", t0.elapsed());
            }
            match answer {
                SatResult::Sat => {
                    let found = match canonical {
                        // Blocking formulas are not terms, so the shortcut through `goal`
                        // serves the first model only.
                        true => self.canonical(solver, models.is_empty().then_some(goal))?,
                        false => self.readable(solver, timeout_ms).map(|z| self.assignment(&z)),
                    };
                    let Some(a) = found else {
                        return Some(Outcome::Unknown("Z3 returned no model".into()));
                    };
                    // The blocking formula is only built when another model is wanted (it
                    // grows with patterns × regions).
                    let more = models.len() + 1 < max_models;
                    let (model, block) = self.read(&a, if more { relevant } else { &[] });
                    models.push(model);
                    if more {
                        solver.assert(block.not());
                    }
                }
                SatResult::Unsat if models.is_empty() => return Some(Outcome::Unsat),
                SatResult::Unsat => break,
                SatResult::Unknown if models.is_empty() => {
                    return Some(Outcome::Unknown(
                        solver.get_reason_unknown().unwrap_or_else(|| "Z3 answered unknown".into()),
                    ))
                }
                // A canonical run stops at the first unknown: which models follow would
                // depend on the timing.
                SatResult::Unknown if canonical => return None,
                SatResult::Unknown => break,
            }
        }
        Some(Outcome::Sat(models))
    }

    fn compile(&self, t: &Term) -> Bool {
        match &t.0 {
            Node::Const(b) => Bool::from_bool(*b),
            Node::Bool(v) => self.bools[v.0].clone(),
            Node::Not(inner) => self.compile(inner).not(),
            Node::And(ts) => Bool::and(&ts.iter().map(|t| self.compile(t)).collect::<Vec<_>>()),
            Node::Or(ts) => Bool::or(&ts.iter().map(|t| self.compile(t)).collect::<Vec<_>>()),
            Node::StrMatch(v, g) => self.str_atoms[v.0].get(g).cloned().unwrap_or_else(|| Bool::from_bool(false)),
            Node::SetAny(v, pred) => {
                let (atoms, p) = &self.parts.sets[v.0];
                let hits: Vec<Bool> = p
                    .regions
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| pred.eval(&|g| atoms.iter().position(|a| a == g).is_some_and(|j| r.signs[j])))
                    .map(|(i, _)| self.sets[v.0][i].clone())
                    .collect();
                Bool::or(&hits)
            }
            Node::IntCmp(v, cmp, k) => int_cmp(&self.ints[v.0], *cmp, *k),
            Node::IpIn(v, c) => ip_in(&self.ips[v.0], c),
        }
    }

    /// After a `sat`: moves each string variable, one at a time, into a region whose
    /// witness is a hint when the rest of the model allows it, and returns the model.
    /// Readable witnesses are a nicety: their checks get a short time limit (set only when
    /// a check is needed; a timeout there keeps the model Z3 already gave).
    fn readable(&self, solver: &Solver, timeout_ms: u32) -> Option<z3::Model> {
        let mut z = solver.get_model()?;
        let mut pinned = 0;
        let mut shortened = false;
        for (idx, (_, p)) in self.strs.iter().zip(&self.parts.strs) {
            let current = idx.read(&z);
            if p.regions.get(current).is_some_and(|r| r.hinted) {
                solver.push();
                solver.assert(idx.is(current));
                pinned += 1;
                continue;
            }
            // One check for "some hinted region" (not one per region: a variable can have
            // hundreds of hinted regions, e.g. the literal actions of a large policy).
            let hinted: Vec<Bool> =
                p.regions.iter().enumerate().filter(|(_, r)| r.hinted).map(|(i, _)| idx.is(i)).collect();
            if hinted.is_empty() {
                continue;
            }
            if !shortened {
                set_timeout(solver, timeout_ms.min(READABLE_TIMEOUT_MS));
                shortened = true;
            }
            solver.push();
            solver.assert(Bool::or(&hinted));
            let t0 = std::time::Instant::now();
            let answer = solver.check();
            if std::env::var_os("KMSPROOF_DEBUG").is_some() {
                eprintln!("readable: {} hinted of {}: {answer:?} in {:?}", hinted.len(), p.regions.len(), t0.elapsed());
            }
            // Without a model (not expected after `sat`) the earlier one stands.
            match (answer, solver.get_model()) {
                (SatResult::Sat, Some(m)) => {
                    pinned += 1;
                    z = m;
                }
                _ => solver.pop(1),
            }
        }
        // `z` is the model of the last satisfiable check, which had every pin in place.
        if pinned > 0 {
            solver.pop(pinned);
        }
        if shortened {
            set_timeout(solver, timeout_ms);
        }
        Some(z)
    }

    /// The value of every variable in a Z3 model.
    fn assignment(&self, z: &z3::Model) -> Assignment {
        let bit = |b: &Bool| z.eval(b, true).and_then(|v| v.as_bool()).unwrap_or(false);
        Assignment {
            strs: self.strs.iter().map(|idx| idx.read(z)).collect(),
            sets: self.sets.iter().map(|has| has.iter().map(bit).collect()).collect(),
            ints: self.ints.iter().map(|x| z.eval(x, true).and_then(|v| v.as_i128()).unwrap_or(0)).collect(),
            ips: self.ips.iter().map(|(v6, bits)| read_ip(z, v6, bits)).collect(),
            bools: self.bools.iter().map(bit).collect(),
        }
    }

    /// Reads an assignment as a model, and the formula that blocks it: the truth of every
    /// relevant pattern on each string variable, the regions present in each set, and
    /// every flag.
    fn read(&self, a: &Assignment, relevant: &[Vec<Glob>]) -> (Model, Bool) {
        let mut block = Vec::new();
        for (vi, ((idx, (atoms, p)), guard)) in self.strs.iter().zip(&self.parts.strs).zip(&self.str_guards).enumerate()
        {
            let rel = relevant.get(vi).map_or(&[][..], Vec::as_slice);
            let region = p.regions.get(a.strs[vi]);
            let matters = guard.is_none_or(|g| a.bools[g]);
            for g in rel.iter().filter(|_| matters) {
                let (Some(j), Some(r)) = (atoms.iter().position(|x| x == g), region) else { continue };
                let same: Vec<Bool> = p
                    .regions
                    .iter()
                    .enumerate()
                    .filter(|(_, other)| other.signs[j] == r.signs[j])
                    .map(|(k, _)| idx.is(k))
                    .collect();
                block.push(Bool::or(&same));
            }
        }
        for ((has, guard), on) in self.sets.iter().zip(&self.set_guards).zip(&a.sets) {
            if guard.is_none_or(|g| a.bools[g]) {
                block.extend(has.iter().zip(on).map(|(h, on)| if *on { h.clone() } else { h.not() }));
            }
        }
        for (b, on) in self.bools.iter().zip(&a.bools) {
            block.push(if *on { b.clone() } else { b.not() });
        }
        (model_of(a, self.parts), Bool::and(&block))
    }
}

/// An assignment read as plain values: each region's witness, the witnesses of the regions
/// a set holds. The one decoding of every model, whichever procedure found it.
fn model_of(a: &Assignment, parts: &Partitions) -> Model {
    let strs = parts
        .strs
        .iter()
        .zip(&a.strs)
        .map(|((_, p), &r)| p.regions.get(r).map(|r| r.witness.clone()).unwrap_or_default())
        .collect();
    let sets = parts
        .sets
        .iter()
        .zip(&a.sets)
        .map(|((_, p), on)| p.regions.iter().zip(on).filter(|(_, on)| **on).map(|(r, _)| r.witness.clone()).collect())
        .collect();
    let ips = a.ips.iter().map(|&(v6, n)| ip_value(v6, n)).collect();
    Model { strs, sets, ints: a.ints.clone(), ips, bools: a.bools.clone() }
}

/// `x cmp k` over Z3 integers (shared with the string-theory baseline).
pub(crate) fn int_cmp(x: &Int, cmp: Cmp, k: i128) -> Bool {
    let k = Int::from_i128(k);
    match cmp {
        Cmp::Lt => x.lt(&k),
        Cmp::Le => x.le(&k),
        Cmp::Eq => x.eq(&k),
        Cmp::Ge => x.ge(&k),
        Cmp::Gt => x.gt(&k),
    }
}

/// An address (IPv6 flag, 128 bits; IPv4 in the low 32) lies in a CIDR block.
pub(crate) fn ip_in((v6, bits): &(Bool, BV), c: &crate::term::Cidr) -> Bool {
    let shift = c.width() - c.prefix as u32;
    let lhs = bits.bvlshr(BV::from_u64(shift as u64, 128));
    let family = if c.v6 { v6.clone() } else { v6.not() };
    Bool::and(&[family, lhs.eq(bv128(shr(c.net, shift)))])
}

fn bv128(v: u128) -> BV {
    let hi = BV::from_u64((v >> 64) as u64, 64);
    let lo = BV::from_u64(v as u64, 64);
    hi.concat(&lo)
}

/// An address as (IPv6 flag, 128 bits; IPv4 in the low 32).
fn read_ip(z: &z3::Model, v6: &Bool, bits: &BV) -> (bool, u128) {
    let is6 = z.eval(v6, true).and_then(|b| b.as_bool()).unwrap_or(false);
    let hi = z.eval(&bits.extract(127, 64), true).and_then(|v| v.as_u64()).unwrap_or(0) as u128;
    let lo = z.eval(&bits.extract(63, 0), true).and_then(|v| v.as_u64()).unwrap_or(0) as u128;
    (is6, (hi << 64) | lo)
}

fn ip_value(v6: bool, n: u128) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(n))
    } else {
        IpAddr::V4(Ipv4Addr::from(n as u32))
    }
}

/// Evaluates a term on a model, as a cross-check of the encoding (no Z3 involved).
pub fn eval(t: &Term, m: &Model) -> bool {
    match &t.0 {
        Node::Const(b) => *b,
        Node::Bool(v) => m.bools[v.0],
        Node::Not(inner) => !eval(inner, m),
        Node::And(ts) => ts.iter().all(|t| eval(t, m)),
        Node::Or(ts) => ts.iter().any(|t| eval(t, m)),
        Node::StrMatch(v, g) => g.matches(&m.strs[v.0]),
        Node::SetAny(v, p) => m.sets[v.0].iter().any(|s| p.eval(&|g: &Glob| g.matches(s))),
        Node::IntCmp(v, cmp, k) => cmp.holds(m.ints[v.0], *k),
        Node::IpIn(v, c) => c.contains(m.ips[v.0]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_subset_is_subset() {
        let g = |s: &str| Glob::literal(s, false);
        let mut big = vec![g("a"), g("b"), g("c"), g("d")];
        big.sort();
        let mut small = vec![g("b"), g("d")];
        small.sort();
        assert!(sorted_subset(&small, &big));
        assert!(sorted_subset(&[], &big));
        assert!(sorted_subset(&big, &big));
        assert!(!sorted_subset(&big, &small));
        assert!(!sorted_subset(&[g("e")], &big));
    }
}
