//! Canonical models. Z3's model depends on what its solver saw before, so a solver reused
//! across queries (cheap: no new context per query) would print different counterexamples
//! for different `--jobs` or shards. Instead, after `sat`, each variable in a fixed order
//! is moved to its least value that keeps the query satisfiable with the earlier ones
//! fixed (under push/pop): the result is the least solution in that order, a function of
//! the query's solutions alone.
//!
//! The order: flags false before true, each string variable's regions as the partition
//! lists them (hinted regions first, see [`super::Partitions::compute`]), each set region
//! absent before present, integers by absolute value (0, −1, 1, −2, …), addresses IPv4
//! before IPv6 and then numerically.
//!
//! Most steps need no search: a value already least is fixed without a check, and before
//! asking Z3 whether a smaller one is possible, smaller regions and flags are tried on the
//! goal directly (a concrete evaluation, no Z3), so Z3 usually answers one `unsat` per
//! variable that is not at its least value. Bisection bounds the rest.

use super::{bv128, Compiler};
use crate::term::{shr, Node, Term};
use z3::ast::{Bool, Int, BV};
use z3::{SatResult, Solver};

/// The value of every variable: a region index per string variable, region membership
/// per set, integers, addresses as (IPv6, bits), flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Assignment {
    pub strs: Vec<usize>,
    pub sets: Vec<Vec<bool>>,
    pub ints: Vec<i128>,
    pub ips: Vec<(bool, u128)>,
    pub bools: Vec<bool>,
}

/// One coordinate of the order, with its values ranked from 0 (least).
#[derive(Debug, Clone, Copy)]
enum Component {
    Bool(usize),
    Str(usize),
    Set(usize, usize),
    Int(usize),
    Ip6(usize),
    IpBits(usize),
}

/// How many smaller values are tried on the goal before asking Z3.
const SHORTCUT_CANDIDATES: u128 = 64;

impl Compiler<'_> {
    /// The least model of what `solver` holds (it answered `sat`), in the order above.
    /// `goal` (the only assertion besides the domains, when given) lets smaller values be
    /// tried without Z3. `None`: some check was undecided (timeout), so the least model is
    /// not known; `Some(None)`: Z3 gave no model.
    pub(super) fn canonical(&self, solver: &Solver, goal: Option<&Term>) -> Option<Option<Assignment>> {
        let Some(z) = solver.get_model() else { return Some(None) };
        let mut a = self.assignment(&z);
        solver.push();
        let done = self.components().into_iter().try_for_each(|c| self.settle(solver, goal, &mut a, c));
        solver.pop(1);
        done.map(|()| Some(a))
    }

    /// Fixes `c` at its least value given the components fixed before it.
    fn settle(&self, solver: &Solver, goal: Option<&Term>, a: &mut Assignment, c: Component) -> Option<()> {
        let mut cur = rank(a, c);
        let mut lo = 0;
        if let Some(goal) = goal.filter(|_| concrete(c)) {
            for r in lo..cur.min(SHORTCUT_CANDIDATES) {
                let before = rank(a, c);
                set_rank(a, c, r);
                if self.holds(goal, a) {
                    cur = r;
                    break;
                }
                set_rank(a, c, before);
            }
        }
        let mut first = true;
        while lo < cur {
            // First "anything smaller?" (usually `unsat`: one check), then bisection.
            let t = if first { cur } else { lo + (cur - lo).div_ceil(2) };
            first = false;
            solver.push();
            solver.assert(self.below(c, t));
            let answer = solver.check();
            let model = (answer == SatResult::Sat).then(|| solver.get_model()).flatten();
            solver.pop(1);
            match (answer, model) {
                (SatResult::Sat, Some(z)) => {
                    *a = self.assignment(&z);
                    cur = rank(a, c);
                }
                (SatResult::Unsat, _) => lo = t,
                _ => return None,
            }
        }
        solver.assert(self.pin(c, cur));
        Some(())
    }

    fn components(&self) -> Vec<Component> {
        let mut out: Vec<Component> = (0..self.bools.len()).map(Component::Bool).collect();
        out.extend((0..self.strs.len()).map(Component::Str));
        for (v, has) in self.sets.iter().enumerate() {
            out.extend((0..has.len()).map(|r| Component::Set(v, r)));
        }
        out.extend((0..self.ints.len()).map(Component::Int));
        for v in 0..self.ips.len() {
            out.extend([Component::Ip6(v), Component::IpBits(v)]);
        }
        out
    }

    /// The component's rank is below `t` (t ≥ 1).
    fn below(&self, c: Component, t: u128) -> Bool {
        match c {
            Component::Bool(i) => self.bools[i].not(),
            Component::Set(v, r) => self.sets[v][r].not(),
            Component::Ip6(v) => self.ips[v].0.not(),
            Component::Str(v) => {
                let idx = &self.strs[v];
                idx.bits.bvult(BV::from_u64(t as u64, idx.width))
            }
            Component::IpBits(v) => self.ips[v].1.bvult(bv128(t)),
            // Ranks 0, 1, 2, … are 0, −1, 1, …: below t is −⌊t/2⌋ ≤ x ≤ ⌊(t−1)/2⌋.
            Component::Int(v) => {
                let x = &self.ints[v];
                let (lo, hi) = (-((t / 2) as i128), ((t - 1) / 2) as i128);
                Bool::and(&[x.ge(Int::from_i128(lo)), x.le(Int::from_i128(hi))])
            }
        }
    }

    /// The component has rank `r`.
    fn pin(&self, c: Component, r: u128) -> Bool {
        let flag = |b: &Bool| if r == 0 { b.not() } else { b.clone() };
        match c {
            Component::Bool(i) => flag(&self.bools[i]),
            Component::Set(v, k) => flag(&self.sets[v][k]),
            Component::Ip6(v) => flag(&self.ips[v].0),
            Component::Str(v) => self.strs[v].is(r as usize),
            Component::IpBits(v) => self.ips[v].1.eq(bv128(r)),
            Component::Int(v) => self.ints[v].eq(Int::from_i128(int_of_rank(r))),
        }
    }

    /// The goal's value under an assignment, as [`Compiler::compile`] encodes it.
    fn holds(&self, t: &Term, a: &Assignment) -> bool {
        match &t.0 {
            Node::Const(b) => *b,
            Node::Bool(v) => a.bools[v.0],
            Node::Not(inner) => !self.holds(inner, a),
            Node::And(ts) => ts.iter().all(|t| self.holds(t, a)),
            Node::Or(ts) => ts.iter().any(|t| self.holds(t, a)),
            Node::StrMatch(v, g) => {
                let (atoms, p) = &self.parts.strs[v.0];
                let region = p.regions.get(a.strs[v.0]);
                atoms.binary_search(g).is_ok_and(|j| region.is_some_and(|r| r.signs[j]))
            }
            Node::SetAny(v, pred) => {
                let (atoms, p) = &self.parts.sets[v.0];
                p.regions
                    .iter()
                    .zip(&a.sets[v.0])
                    .any(|(r, on)| *on && pred.eval(&|g| atoms.iter().position(|x| x == g).is_some_and(|j| r.signs[j])))
            }
            Node::IntCmp(v, cmp, k) => cmp.holds(a.ints[v.0], *k),
            Node::IpIn(v, c) => {
                let (v6, bits) = a.ips[v.0];
                let shift = c.width() - c.prefix as u32;
                v6 == c.v6 && shr(bits, shift) == shr(c.net, shift)
            }
        }
    }
}

/// Components whose smaller values are tried on the goal directly (addresses and integers
/// have domain constraints or too many values; Z3 searches those).
fn concrete(c: Component) -> bool {
    matches!(c, Component::Bool(_) | Component::Str(_) | Component::Set(..))
}

fn rank(a: &Assignment, c: Component) -> u128 {
    match c {
        Component::Bool(i) => a.bools[i] as u128,
        Component::Set(v, r) => a.sets[v][r] as u128,
        Component::Ip6(v) => a.ips[v].0 as u128,
        Component::Str(v) => a.strs[v] as u128,
        Component::IpBits(v) => a.ips[v].1,
        Component::Int(v) => {
            let x = a.ints[v];
            if x >= 0 {
                (x as u128) * 2
            } else {
                x.unsigned_abs() * 2 - 1
            }
        }
    }
}

fn int_of_rank(r: u128) -> i128 {
    if r % 2 == 0 {
        (r / 2) as i128
    } else {
        -(r.div_ceil(2) as i128)
    }
}

/// Sets a concrete component's rank (see [`concrete`]).
fn set_rank(a: &mut Assignment, c: Component, r: u128) {
    match c {
        Component::Bool(i) => a.bools[i] = r != 0,
        Component::Set(v, k) => a.sets[v][k] = r != 0,
        Component::Str(v) => a.strs[v] = r as usize,
        Component::Int(_) | Component::Ip6(_) | Component::IpBits(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_ranks_round_trip() {
        for x in [-3i128, -2, -1, 0, 1, 2, 3, 1_700_000_000_000_000_000] {
            let a = Assignment { strs: vec![], sets: vec![], ints: vec![x], ips: vec![], bools: vec![] };
            assert_eq!(int_of_rank(rank(&a, Component::Int(0))), x);
        }
    }
}
