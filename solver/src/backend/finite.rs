//! Deciding `unsat` without Z3 where the partitions already decide (issue 21, item 1).
//!
//! After partitioning, a string variable is one of finitely many region indices, a set one
//! of finitely many membership bits per region, a flag one of two values. [`refutes`]
//! searches those values exhaustively, depth first, evaluating the goal in three-valued
//! (Kleene) logic on each partial assignment: a branch is closed only where the goal is
//! *definitely* false whatever the unassigned variables, integers and addresses are. It
//! answers "unsat" only when every branch closed, so the answer is an exact decision over
//! the same finite encoding Z3 gets (the region indices in range, no constraint on sets,
//! flags, integers or addresses beyond the goal) — never a heuristic. It gives up (`false`:
//! ask Z3) when it finds an assignment the goal may hold on, or when its work bound runs
//! out; a satisfiable goal always goes to Z3, so witnesses are Z3's as before.
//!
//! Off by default (see [`FiniteMode`] and docs/performance.md): an `unsat` decided here is
//! still reported by the commands as "Z3 unsat", and the reports' wording must change to
//! say honestly which procedure decided before it is switched on. `tests/finite.rs`
//! compares it with Z3 on every corpus query and on random ones.

use super::Partitions;
use crate::term::{Node, Term};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

/// Largest number of goal evaluations (nodes of the goal × search nodes) tried before
/// handing the query to Z3: a few milliseconds at most.
const WORK: usize = 2_000_000;

/// How queries use the Z3-free refutation (process-wide).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FiniteMode {
    /// Every query goes to Z3 (the default).
    Off,
    /// A query refuted here is answered `unsat` without Z3.
    On,
    /// Both run on every query; a refutation Z3 does not confirm with `unsat` panics (a
    /// soundness bug). For the differential test.
    CrossCheck,
}

static MODE: AtomicU8 = AtomicU8::new(u8::MAX);
/// Queries refuted here, and (cross-check) queries Z3 answered `unsat` that were not.
static REFUTED: AtomicUsize = AtomicUsize::new(0);
static MISSED: AtomicUsize = AtomicUsize::new(0);

/// Sets the mode for the whole process (default: `KMSPROOF_FINITE=1` is `On`, `=check`
/// is `CrossCheck`, otherwise `Off`).
pub fn set_finite_mode(m: FiniteMode) {
    MODE.store(m as u8, Ordering::Relaxed);
}

pub fn finite_mode() -> FiniteMode {
    let m = MODE.load(Ordering::Relaxed);
    if m == u8::MAX {
        let m = match std::env::var("KMSPROOF_FINITE").as_deref() {
            Ok("check") => FiniteMode::CrossCheck,
            Ok("0") | Err(_) => FiniteMode::Off,
            Ok(_) => FiniteMode::On,
        };
        set_finite_mode(m);
        return m;
    }
    [FiniteMode::Off, FiniteMode::On, FiniteMode::CrossCheck][usize::from(m)]
}

/// (queries refuted without Z3, queries Z3 found `unsat` that the search did not refute)
/// since the process started; the second is counted in `CrossCheck` mode only.
pub fn finite_stats() -> (usize, usize) {
    (REFUTED.load(Ordering::Relaxed), MISSED.load(Ordering::Relaxed))
}

pub(super) fn count(refuted: bool, z3_unsat: bool) {
    if refuted {
        REFUTED.fetch_add(1, Ordering::Relaxed);
    } else if z3_unsat {
        MISSED.fetch_add(1, Ordering::Relaxed);
    }
}

/// A partial assignment of the finite variables.
struct Partial {
    strs: Vec<Option<usize>>,
    sets: Vec<Vec<Option<bool>>>,
    bools: Vec<Option<bool>>,
}

/// One decision of the search.
#[derive(Clone, Copy)]
enum Slot {
    Str(usize, usize),
    SetBit(usize, usize),
    Bool(usize),
}

/// `true`: no assignment of the finite encoding satisfies `goal` (exact). `false`: not
/// shown here (maybe satisfiable, or the work bound ran out).
pub(super) fn refutes(goal: &Term, parts: &Partitions, bools: usize) -> bool {
    let mut used =
        Used { strs: vec![false; parts.strs.len()], sets: vec![false; parts.sets.len()], bools: vec![false; bools] };
    used.collect(goal);
    let mut slots = Vec::new();
    for (v, (_, p)) in parts.strs.iter().enumerate().filter(|(v, _)| used.strs[*v]) {
        slots.push(Slot::Str(v, p.regions.len()));
    }
    slots.extend((0..bools).filter(|b| used.bools[*b]).map(Slot::Bool));
    for (v, (_, p)) in parts.sets.iter().enumerate().filter(|(v, _)| used.sets[*v]) {
        slots.extend((0..p.regions.len()).map(|r| Slot::SetBit(v, r)));
    }
    let mut a = Partial {
        strs: vec![None; parts.strs.len()],
        sets: parts.sets.iter().map(|(_, p)| vec![None; p.regions.len()]).collect(),
        bools: vec![None; bools],
    };
    let size = size(goal).max(1);
    let mut budget = WORK / size;
    search(goal, parts, &slots, &mut a, &mut budget) == Some(true)
}

/// `Some(true)`: every completion of `a` falsifies the goal. `Some(false)`: some
/// completion may satisfy it. `None`: the work bound ran out.
fn search(goal: &Term, parts: &Partitions, slots: &[Slot], a: &mut Partial, budget: &mut usize) -> Option<bool> {
    if *budget == 0 {
        return None;
    }
    *budget -= 1;
    match value(goal, parts, a) {
        Some(false) => return Some(true),
        Some(true) => return Some(false),
        None => {}
    }
    let Some((&slot, rest)) = slots.split_first() else {
        // Every finite variable is fixed and the goal still depends on integers or
        // addresses: maybe satisfiable.
        return Some(false);
    };
    let values = match slot {
        Slot::Str(_, n) => n,
        Slot::SetBit(..) | Slot::Bool(_) => 2,
    };
    for x in 0..values {
        set(a, slot, Some(x));
        let closed = search(goal, parts, rest, a, budget);
        set(a, slot, None);
        if closed != Some(true) {
            return closed;
        }
    }
    Some(true)
}

fn set(a: &mut Partial, slot: Slot, x: Option<usize>) {
    match slot {
        Slot::Str(v, _) => a.strs[v] = x,
        Slot::SetBit(v, r) => a.sets[v][r] = x.map(|x| x == 1),
        Slot::Bool(b) => a.bools[b] = x.map(|x| x == 1),
    }
}

/// The goal's value on every completion of `a`, when it is the same for all (Kleene).
fn value(t: &Term, parts: &Partitions, a: &Partial) -> Option<bool> {
    match &t.0 {
        Node::Const(b) => Some(*b),
        Node::Bool(v) => a.bools[v.0],
        Node::Not(inner) => value(inner, parts, a).map(|b| !b),
        Node::And(ts) => junction(ts, false, parts, a),
        Node::Or(ts) => junction(ts, true, parts, a),
        Node::StrMatch(v, g) => {
            let (atoms, p) = &parts.strs[v.0];
            // A pattern missing from the partition compiles to `false` for Z3; not
            // reproduced here, only left open (never decides anything).
            let j = atoms.binary_search(g).ok()?;
            a.strs[v.0].map(|r| p.regions[r].signs[j])
        }
        Node::SetAny(v, pred) => {
            let (atoms, p) = &parts.sets[v.0];
            let mut open = false;
            for (r, region) in p.regions.iter().enumerate() {
                let holds = pred.eval(&|g| atoms.iter().position(|x| x == g).is_some_and(|j| region.signs[j]));
                match (holds, a.sets[v.0][r]) {
                    (true, Some(true)) => return Some(true),
                    (true, None) => open = true,
                    _ => {}
                }
            }
            (!open).then_some(false)
        }
        Node::IntCmp(..) | Node::IpIn(..) => None,
    }
}

/// A conjunction (`stop` false) or disjunction (`stop` true) in Kleene logic.
fn junction(ts: &[Term], stop: bool, parts: &Partitions, a: &Partial) -> Option<bool> {
    let mut open = false;
    for t in ts {
        match value(t, parts, a) {
            Some(b) if b == stop => return Some(stop),
            None => open = true,
            Some(_) => {}
        }
    }
    (!open).then_some(!stop)
}

fn size(t: &Term) -> usize {
    match &t.0 {
        Node::Not(inner) => 1 + size(inner),
        Node::And(ts) | Node::Or(ts) => 1 + ts.iter().map(size).sum::<usize>(),
        _ => 1,
    }
}

/// The variables a goal mentions.
struct Used {
    strs: Vec<bool>,
    sets: Vec<bool>,
    bools: Vec<bool>,
}

impl Used {
    fn collect(&mut self, t: &Term) {
        match &t.0 {
            Node::Bool(v) => self.bools[v.0] = true,
            Node::Not(inner) => self.collect(inner),
            Node::And(ts) | Node::Or(ts) => ts.iter().for_each(|t| self.collect(t)),
            Node::StrMatch(v, _) => self.strs[v.0] = true,
            Node::SetAny(v, _) => self.sets[v.0] = true,
            Node::Const(_) | Node::IntCmp(..) | Node::IpIn(..) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::backend::{solve, Limits, Outcome, Partitions};
    use crate::term::{Cmp, ElemPred, Term, Vocabulary};
    use crate::Glob;

    /// A small deterministic generator (xorshift), so a failure names its seed.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }

    const PATTERNS: [&str; 8] = ["a*", "*b", "ab", "a?", "*", "b*a", "abc", "?b*"];

    fn term(r: &mut Rng, v: &Vocabulary, depth: usize, ints: bool) -> Term {
        let (s, set, b, i) = (crate::StrVar(r.next(2)), crate::SetVar(0), crate::BoolVar(r.next(2)), crate::IntVar(0));
        let _ = v;
        match r.next(if depth == 0 { 4 } else { 7 }) {
            0 => Term::str_match(s, Glob::wildcard(PATTERNS[r.next(PATTERNS.len())])),
            1 => Term::var(b),
            2 => Term::set_any(set, ElemPred::matches(Glob::wildcard(PATTERNS[r.next(PATTERNS.len())]))),
            3 if ints => Term::int_cmp(i, Cmp::Lt, r.next(3) as i128),
            3 => Term::str_match(s, Glob::wildcard(PATTERNS[r.next(PATTERNS.len())])),
            4 => Term::not(term(r, v, depth - 1, ints)),
            5 => Term::and((0..1 + r.next(3)).map(|_| term(r, v, depth - 1, ints)).collect::<Vec<_>>()),
            _ => Term::or((0..1 + r.next(3)).map(|_| term(r, v, depth - 1, ints)).collect::<Vec<_>>()),
        }
    }

    /// On goals over finite variables alone the search is complete within its bound, so it
    /// refutes exactly the goals Z3 answers `unsat`; with integers it may only refute
    /// goals Z3 answers `unsat`.
    #[test]
    fn random_goals_agree_with_z3() {
        let mut refuted = 0;
        for seed in 1..=1500u64 {
            let mut r = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
            let mut v = Vocabulary::default();
            v.str_var("s0", vec!["ab".into()]);
            v.str_var("s1", vec![]);
            v.set_var("set", vec![]);
            v.bool_var("b0");
            v.bool_var("b1");
            v.int_var("i");
            let ints = seed % 3 == 0;
            let t = term(&mut r, &v, 4, ints);
            // Every other goal is unsat by construction (t ∧ ¬(t ∨ u)), but only a search
            // over the regions sees it: the constructors do not simplify it away.
            let goal = match seed % 2 {
                0 => t,
                _ => Term::and([t.clone(), Term::not(Term::or([t, term(&mut r, &v, 2, ints)]))]),
            };
            let parts = Partitions::compute(&v, &goal, Limits::default(), false).expect("small partitions");
            let here = super::refutes(&goal, &parts, 2);
            let z3 = solve(&v, &goal, Limits::default(), 1);
            match (&z3, here, ints) {
                (Outcome::Sat(_), true, _) => panic!("seed {seed}: refuted a satisfiable goal {goal:?}"),
                (Outcome::Unsat, false, false) => panic!("seed {seed}: missed an unsat finite goal {goal:?}"),
                (Outcome::Unknown(why), ..) => panic!("seed {seed}: Z3 undecided ({why})"),
                _ => {}
            }
            refuted += usize::from(here);
        }
        assert!(refuted > 600, "too few unsat goals generated: {refuted}");
    }
}
