//! Exact reductions of one direction of an identity-policy diff ("YES allows, NO denies")
//! before encoding, so a policy of thousands of actions costs what its change costs.
//!
//! A statement with `Action: [a1, …, an]` is the OR of n statements with one action each
//! (same effect, resource, conditions): call each an *atom*. Then, exactly:
//! - a YES `Allow` atom identical to a NO `Allow` atom (same action, resource, conditions)
//!   allows nothing NO denies when every NO `Deny` atom is also a YES `Deny` atom (a
//!   witness then needs every NO `Allow` false): drop it from YES;
//! - every witness matches some remaining YES `Allow` atom's action, so any atom (either
//!   side, `Allow` or `Deny`) whose action pattern is disjoint from all of those is false
//!   on every witness: drop it.
//!
//! Witnesses are still replayed against the full policies.

use crate::base::pattern::{pieces_text, Piece};
use crate::model::policy::{Effect, Matcher, Policy, Statement};
use std::cell::OnceCell;
use std::collections::HashSet;
use std::rc::Rc;

/// What NO contributes to one query of a direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoPart {
    /// "NO allows" (the query is YES allows and NO does not).
    Allows,
    /// "Some NO `Deny` applies" (the query is YES allows and one of these denies applies).
    DenyApplies,
}

/// The queries whose union is the direction "YES allows, NO denies", each reduced. When
/// every NO `Deny` atom is also a YES `Deny` atom, one query ([`reduce`]). Otherwise two,
/// since NO denies when no NO `Allow` applies *or* a NO `Deny` applies:
/// - YES allows ∧ no NO `Allow` applies — NO's denies left out, so identical allows drop;
/// - YES allows ∧ a NO `Deny` that YES lacks applies — YES atoms whose actions cannot meet
///   those denies drop (a witness matches one of them).
pub fn split(yes: &Policy, no: &Policy) -> Vec<(Policy, Policy, NoPart)> {
    let yes_denies: HashSet<(String, String)> =
        atoms(yes).filter(|a| a.effect == Effect::Deny).map(|a| a.key()).collect();
    let new_deny = |a: &Atom| a.effect == Effect::Deny && !yes_denies.contains(&a.key());
    if !atoms(no).any(|a| new_deny(&a)) {
        let (y, n) = reduce(yes, no);
        return vec![(y, n, NoPart::Allows)];
    }
    let (y1, n1) = reduce(yes, &select(no, &|a: &Atom| a.effect == Effect::Allow));
    let denies = select(no, &new_deny);
    let reach: Vec<Shape> =
        denies.statements.iter().flat_map(|s| s.action.patterns.iter().map(|p| Shape::of(p))).collect();
    let any_reach = denies.statements.iter().any(|s| s.action.negated);
    let relevant = |a: &Atom| any_reach || a.pattern.is_none_or(|q| Shape::of(q).meets_any(&reach));
    vec![(y1, n1, NoPart::Allows), (select(yes, &relevant), denies, NoPart::DenyApplies)]
}

/// The two policies of one direction, reduced (see the module doc).
pub fn reduce(yes: &Policy, no: &Policy) -> (Policy, Policy) {
    let yes_denies: HashSet<(String, String)> =
        atoms(yes).filter(|a| a.effect == Effect::Deny).map(|a| a.key()).collect();
    let no_denies_in_yes = atoms(no).filter(|a| a.effect == Effect::Deny).all(|a| yes_denies.contains(&a.key()));
    let no_allows: HashSet<(String, String)> =
        atoms(no).filter(|a| a.effect == Effect::Allow).map(|a| a.key()).collect();
    let keep_yes = |a: &Atom| a.effect == Effect::Deny || !no_denies_in_yes || !no_allows.contains(&a.key());
    let yes_kept = select(yes, &keep_yes);
    let reach: Vec<Shape> = yes_kept
        .statements
        .iter()
        .filter(|s| s.effect == Effect::Allow)
        .flat_map(|s| s.action.patterns.iter().map(|p| Shape::of(p)))
        .collect();
    let any_reach = yes_kept.statements.iter().any(|s| s.effect == Effect::Allow && s.action.negated);
    let relevant = |a: &Atom| any_reach || a.pattern.is_none_or(|q| Shape::of(q).meets_any(&reach));
    (select(&yes_kept, &relevant), select(no, &relevant))
}

/// One action pattern of one statement (`pattern: None` for a `NotAction` statement, kept whole).
struct Atom<'a> {
    effect: Effect,
    st: &'a Statement,
    pattern: Option<&'a Vec<Piece>>,
    /// The statement's [`rest_key`], computed once for all its atoms (a statement may list
    /// hundreds of actions, and building the key was a fifth of a large diff's reduction).
    rest: Rc<OnceCell<String>>,
}

impl Atom<'_> {
    /// What makes two atoms the same statement: the action (case-insensitive) and the rest.
    fn key(&self) -> (String, String) {
        let action = match self.pattern {
            Some(p) => pieces_text(p).to_ascii_lowercase(),
            // A `NotAction` statement stays whole: its key is its whole (sorted) list.
            None => {
                let mut all: Vec<String> =
                    self.st.action.patterns.iter().map(|p| pieces_text(p).to_ascii_lowercase()).collect();
                all.sort();
                format!("not{all:?}")
            }
        };
        (action, self.rest.get_or_init(|| rest_key(self.st)).clone())
    }
}

fn atoms(p: &Policy) -> impl Iterator<Item = Atom<'_>> {
    p.statements.iter().flat_map(|st| {
        let pats: Vec<Option<&Vec<Piece>>> =
            if st.action.negated { vec![None] } else { st.action.patterns.iter().map(Some).collect() };
        let rest = Rc::new(OnceCell::new());
        pats.into_iter().map(move |pattern| Atom { effect: st.effect, st, pattern, rest: rest.clone() })
    })
}

/// The policy with only the atoms `keep` accepts (statements left without actions dropped).
fn select(p: &Policy, keep: &dyn Fn(&Atom) -> bool) -> Policy {
    let statements = p
        .statements
        .iter()
        .filter_map(|st| {
            let rest = Rc::new(OnceCell::new());
            if st.action.negated {
                return keep(&Atom { effect: st.effect, st, pattern: None, rest }).then(|| st.clone());
            }
            let patterns: Vec<Vec<Piece>> = st
                .action
                .patterns
                .iter()
                .filter(|pat| keep(&Atom { effect: st.effect, st, pattern: Some(pat), rest: rest.clone() }))
                .cloned()
                .collect();
            (!patterns.is_empty()).then(|| Statement { action: Matcher { negated: false, patterns }, ..st.clone() })
        })
        .collect();
    Policy { statements, ..p.clone() }
}

/// Everything but the action and the `Sid`, in a canonical form (lists sorted).
fn rest_key(st: &Statement) -> String {
    // Patterns by structure, not text: `${*}` (literal) and `*` (wildcard), or `${k}` (a
    // variable) and the same text under another `Version`, differ.
    let matcher = |m: &Option<Matcher>| {
        m.as_ref().map(|m| {
            let mut pats: Vec<String> = m.patterns.iter().map(|p| format!("{p:?}")).collect();
            pats.sort();
            format!("{}{pats:?}", m.negated)
        })
    };
    let mut conditions: Vec<String> = st
        .conditions
        .iter()
        .map(|c| {
            let mut values: Vec<String> = c.values.iter().map(|v| format!("{v:?}")).collect();
            values.sort();
            format!("{:?}|{}|{values:?}", c.op, c.key.to_ascii_lowercase())
        })
        .collect();
    conditions.sort();
    format!("{:?}|{:?}|{:?}|{conditions:?}", st.effect, st.principal, matcher(&st.resource))
}

/// Whether two action patterns may match a common action. Conservative: `false` only
/// when the literal texts before the first wildcard (or after the last) contradict.
#[cfg(test)]
fn may_meet(a: &[Piece], b: &[Piece]) -> bool {
    Shape::of(a).meets(&Shape::of(b))
}

/// An action pattern's lower-cased text and literal ends, computed once: relevance asks
/// [`Shape::meets`] for every pair of atoms (hundreds by hundreds on a large policy).
struct Shape {
    /// Mentions a policy variable: may match anything.
    var: bool,
    text: String,
    /// The text before the first wildcard ends here (the whole text when there is none).
    head_end: usize,
    /// The text after the last wildcard starts here.
    tail_start: usize,
    /// No wildcard at all.
    exact: bool,
}

impl Shape {
    fn of(p: &[Piece]) -> Shape {
        let var = p.iter().any(|p| matches!(p, Piece::Var { .. }));
        let text = pieces_text(p).to_ascii_lowercase();
        let wild = |c: char| c == '*' || c == '?';
        let head_end = text.find(wild).unwrap_or(text.len());
        let tail_start = text.rfind(wild).map_or(0, |i| i + 1);
        Shape { var, exact: head_end == text.len(), text, head_end, tail_start }
    }

    fn meets(&self, other: &Shape) -> bool {
        if self.var || other.var {
            return true;
        }
        let (ha, hb) = (&self.text[..self.head_end], &other.text[..other.head_end]);
        let (ta, tb) = (&self.text[self.tail_start..], &other.text[other.tail_start..]);
        let heads_agree = ha.starts_with(hb) || hb.starts_with(ha);
        let tails_agree = ta.ends_with(tb) || tb.ends_with(ta);
        heads_agree && tails_agree && (!(self.exact && other.exact) || self.text == other.text)
    }

    fn meets_any(&self, others: &[Shape]) -> bool {
        others.iter().any(|o| o.meets(self))
    }
}

#[cfg(test)]
mod tests {
    use super::may_meet;
    use crate::base::pattern::Piece;

    fn p(s: &str) -> Vec<Piece> {
        vec![Piece::Text(s.into())]
    }

    #[test]
    fn disjoint_only_when_literal_parts_contradict() {
        assert!(!may_meet(&p("s3:Get*"), &p("ec2:Describe*")));
        assert!(!may_meet(&p("s3:GetObject"), &p("s3:PutObject")));
        assert!(!may_meet(&p("s3:*Object"), &p("s3:*Bucket")));
        assert!(may_meet(&p("s3:Get*"), &p("S3:getobject")));
        assert!(may_meet(&p("*"), &p("ec2:Describe*")));
        assert!(may_meet(&p("s3:*"), &p("s3:*Object")));
        assert!(may_meet(&p("s?:Get*"), &p("s3:GetObject")));
    }
}
