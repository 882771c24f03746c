//! The finite partition of a string variable: which combinations of its atoms some string
//! satisfies, each with a readable witness.
//!
//! Exact by construction: a breadth-first search over the product of the atoms' NFAs
//! (determinised on the fly) visits every reachable product state, so every non-empty
//! region is found, and the path to it is a string that lies in it. Characters no atom
//! mentions all behave alike, so one representative stands for them.

use crate::glob::{Glob, States};
use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};

/// One non-empty region: which atoms hold, and a string in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    pub signs: Vec<bool>,
    pub witness: String,
}

/// All non-empty regions of one variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    pub regions: Vec<Region>,
}

/// The product automaton grew past the limit; the caller reports `unknown`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooLarge {
    pub states: usize,
}

/// Characters tried, in order, as the stand-in for "any character no atom mentions".
const OTHER: &str = "xyzqjkvwabcdefghilmnoprstu0123456789-_";

/// Computes the partition of the strings by `atoms`. `hints` are preferred witnesses
/// (e.g. real service names) used for whichever region they fall in.
pub fn partition(atoms: &[Glob], hints: &[String], limit: usize) -> Result<Partition, TooLarge> {
    let mut alphabet: BTreeSet<char> = atoms.iter().flat_map(Glob::alphabet).collect();
    if let Some(other) = OTHER.chars().find(|c| !alphabet.contains(c)) {
        alphabet.insert(other);
    }
    let start: Vec<States> = atoms.iter().map(Glob::start).collect();
    let mut found: BTreeMap<Vec<bool>, String> = BTreeMap::new();
    let mut seen: HashSet<Vec<States>> = HashSet::from([start.clone()]);
    let mut queue = VecDeque::from([(start, String::new())]);
    while let Some((state, text)) = queue.pop_front() {
        let signs: Vec<bool> = atoms.iter().zip(&state).map(|(a, s)| a.accepts(s)).collect();
        let slot = found.entry(signs).or_insert_with(|| text.clone());
        if slot.is_empty() && !text.is_empty() {
            *slot = text.clone();
        }
        for &c in &alphabet {
            let next: Vec<States> = atoms.iter().zip(&state).map(|(a, s)| a.step(s, c)).collect();
            if seen.insert(next.clone()) {
                if seen.len() > limit {
                    return Err(TooLarge { states: seen.len() });
                }
                queue.push_back((next, format!("{text}{c}")));
            }
        }
    }
    for hint in hints.iter().rev() {
        let signs: Vec<bool> = atoms.iter().map(|a| a.matches(hint)).collect();
        if let Some(w) = found.get_mut(&signs) {
            *w = hint.clone();
        }
    }
    let regions = found.into_iter().map(|(signs, witness)| Region { signs, witness }).collect();
    Ok(Partition { regions })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::glob::Tok;

    fn g(p: &str) -> Glob {
        Glob::new(
            p.chars()
                .map(|c| match c {
                    '*' => Tok::Star,
                    '?' => Tok::One,
                    c => Tok::Char(c),
                })
                .collect(),
            false,
        )
    }

    fn signs(p: &Partition) -> Vec<Vec<bool>> {
        p.regions.iter().map(|r| r.signs.clone()).collect()
    }

    #[test]
    fn nested_patterns_leave_out_impossible_regions() {
        // "ec2.us-east-1.amazonaws.com" ⊂ "ec2.*.amazonaws.com": no string is in the first only.
        let atoms = [g("ec2.us-east-1.amazonaws.com"), g("ec2.*.amazonaws.com")];
        let p = partition(&atoms, &[], 10_000).unwrap();
        assert_eq!(signs(&p), vec![vec![false, false], vec![false, true], vec![true, true]]);
        for r in &p.regions {
            assert_eq!(atoms.iter().map(|a| a.matches(&r.witness)).collect::<Vec<_>>(), r.signs, "{r:?}");
        }
    }

    #[test]
    fn disjoint_and_overlapping_patterns() {
        let p = partition(&[g("a*"), g("*b")], &[], 10_000).unwrap();
        assert_eq!(p.regions.len(), 4);
        let p = partition(&[g("abc"), g("abd")], &[], 10_000).unwrap();
        assert_eq!(p.regions.len(), 3, "no string equals both");
    }

    #[test]
    fn hints_become_witnesses_and_empty_strings_are_avoided() {
        let atoms = [g("ec2.*.amazonaws.com"), g("lambda.*.amazonaws.com")];
        let hints = vec!["s3.us-east-1.amazonaws.com".to_string(), "ec2.eu-west-1.amazonaws.com".to_string()];
        let p = partition(&atoms, &hints, 10_000).unwrap();
        let w: Vec<&str> = p.regions.iter().map(|r| r.witness.as_str()).collect();
        assert!(w.contains(&"s3.us-east-1.amazonaws.com") && w.contains(&"ec2.eu-west-1.amazonaws.com"), "{w:?}");
        assert!(w.iter().all(|w| !w.is_empty()));
    }

    #[test]
    fn case_folding_atoms() {
        let p =
            partition(&[Glob::literal("kms:decrypt", true), Glob::literal("kms:Decrypt", false)], &[], 10_000).unwrap();
        assert_eq!(signs(&p), vec![vec![false, false], vec![true, false], vec![true, true]]);
    }

    #[test]
    fn limit_reports_too_large() {
        let atoms: Vec<Glob> =
            (0..12).map(|i| g(&format!("*{}*{}*", (b'a' + i) as char, (b'b' + i) as char))).collect();
        assert!(partition(&atoms, &[], 50).is_err());
    }
}
