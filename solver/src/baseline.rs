//! The same terms compiled to Z3's string theory (sequences and regular expressions),
//! kept only as a benchmark baseline so the partition encoding's speed-up stays measured.
//! It answers sat/unsat without models; queries over sets of strings are not supported.

use crate::backend::{int_cmp, ip_in};
use crate::glob::{CharSet, Glob, Tok};
use crate::term::{Node, Term, Vocabulary};
use crate::Outcome;
use z3::ast::{Bool, Int, Regexp, BV};
use z3::{Params, SatResult, Solver};

/// Printable ASCII: the alphabet the baseline lets "any character" range over.
const LO: char = ' ';
const HI: char = '~';

/// Z3 reads `\u{..}` escapes in string literals; anything but plain printable ASCII is
/// escaped so that it keeps its meaning.
pub fn escape(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '\\' || c == ' ' {
                c.to_string()
            } else {
                format!("\\u{{{:x}}}", c as u32)
            }
        })
        .collect()
}

fn lit(c: char, fold: bool) -> Regexp {
    let one = |c: char| Regexp::literal(&escape(&c.to_string()));
    if fold && c.is_alphabetic() {
        let upper: Vec<Regexp> = c.to_uppercase().chain(c.to_lowercase()).map(one).collect();
        Regexp::union(&upper.iter().collect::<Vec<_>>())
    } else {
        one(c)
    }
}

fn class(set: &CharSet) -> Regexp {
    let chars: Vec<Regexp> = (LO..=HI).filter(|c| set.contains(*c)).map(|c| lit(c, false)).collect();
    if chars.is_empty() {
        return Regexp::empty();
    }
    Regexp::union(&chars.iter().collect::<Vec<_>>())
}

fn regex(g: &Glob) -> Regexp {
    let fold = g.folds();
    let any = || Regexp::range(&LO, &HI);
    let parts: Vec<Regexp> = g
        .tokens()
        .iter()
        .map(|t| match t {
            Tok::Char(c) => lit(*c, fold),
            Tok::Star => any().star(),
            Tok::One => any(),
            Tok::In(set) => class(set),
            Tok::StarIn(set) => class(set).star(),
        })
        .collect();
    if parts.is_empty() {
        return Regexp::literal("");
    }
    Regexp::concat(&parts.iter().collect::<Vec<_>>())
}

/// Decides `goal` with the string theory; `Unknown` for sets and on timeouts.
pub fn solve_string_theory(vocab: &Vocabulary, goal: &Term, timeout_ms: u32) -> Outcome {
    let solver = Solver::new();
    let mut params = Params::new();
    params.set_u32("timeout", timeout_ms);
    solver.set_params(&params);
    let strs: Vec<z3::ast::String> =
        vocab.strs.iter().map(|d| z3::ast::String::new_const(format!("s!{}", d.name))).collect();
    for (s, d) in strs.iter().zip(&vocab.strs) {
        solver.assert(s.regex_matches(&Regexp::range(&LO, &HI).star()));
        if let Some(values) = &d.domain {
            let eq: Vec<Bool> = values.iter().map(|v| s.regex_matches(&Regexp::literal(&escape(v)))).collect();
            solver.assert(Bool::or(&eq));
        }
    }
    let ints: Vec<Int> = vocab.ints.iter().map(|n| Int::new_const(format!("i!{n}"))).collect();
    let ips: Vec<(Bool, BV)> = vocab
        .ips
        .iter()
        .map(|n| (Bool::new_const(format!("ip6!{n}")), BV::new_const(format!("ip!{n}"), 128)))
        .collect();
    for (v6, bits) in &ips {
        solver.assert(v6.not().implies(bits.bvult(BV::from_u64(1u64 << 32, 128))));
    }
    let bools: Vec<Bool> = vocab.bools.iter().map(|n| Bool::new_const(format!("b!{n}"))).collect();
    let env = Env { strs, ints, ips, bools };
    let Some(f) = env.compile(goal) else {
        return Outcome::Unknown("sets of strings are not in the string-theory baseline".into());
    };
    solver.assert(f);
    match solver.check() {
        SatResult::Sat => Outcome::Sat(vec![]),
        SatResult::Unsat => Outcome::Unsat,
        SatResult::Unknown => Outcome::Unknown(solver.get_reason_unknown().unwrap_or_else(|| "unknown".into())),
    }
}

struct Env {
    strs: Vec<z3::ast::String>,
    ints: Vec<Int>,
    ips: Vec<(Bool, BV)>,
    bools: Vec<Bool>,
}

impl Env {
    fn compile(&self, t: &Term) -> Option<Bool> {
        Some(match &t.0 {
            Node::Const(b) => Bool::from_bool(*b),
            Node::Bool(v) => self.bools[v.0].clone(),
            Node::Not(inner) => self.compile(inner)?.not(),
            Node::And(ts) => Bool::and(&ts.iter().map(|t| self.compile(t)).collect::<Option<Vec<_>>>()?),
            Node::Or(ts) => Bool::or(&ts.iter().map(|t| self.compile(t)).collect::<Option<Vec<_>>>()?),
            Node::StrMatch(v, g) => self.strs[v.0].regex_matches(&regex(g)),
            Node::SetAny(..) => return None,
            Node::IntCmp(v, cmp, k) => int_cmp(&self.ints[v.0], *cmp, *k),
            Node::IpIn(v, c) => ip_in(&self.ips[v.0], c),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{solve, Limits, Vocabulary};

    #[test]
    fn escaping_keeps_non_ascii_and_backslashes_literal() {
        assert_eq!(escape("a\\b"), "a\\u{5c}b");
        assert_eq!(escape("é😀"), "\\u{e9}\\u{1f600}");
        let mut v = Vocabulary::default();
        let s = v.str_var("s", vec![]);
        // A literal with a backslash: equal to itself, different from the unescaped reading.
        let g = Glob::literal("x\\u{41}", false);
        let goal = Term::and([Term::str_match(s, g), Term::str_match(s, Glob::literal("xA", false))]);
        assert_eq!(solve_string_theory(&v, &goal, 5_000), Outcome::Unsat);
        assert_eq!(solve(&v, &goal, Limits::default(), 1), Outcome::Unsat);
        let both = Term::str_match(s, Glob::literal("x\\u{41}", false));
        assert!(matches!(solve_string_theory(&v, &both, 5_000), Outcome::Sat(_)));
    }
}
