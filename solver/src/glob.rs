//! Wildcard patterns as small NFAs: the atoms string variables are cut by.

use std::collections::BTreeSet;

/// One pattern token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tok {
    Char(char),
    /// Any sequence, including the empty one.
    Star,
    /// Exactly one character.
    One,
}

/// A whole-string wildcard pattern; `fold` compares characters case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Glob {
    toks: Vec<Tok>,
    fold: bool,
}

/// A set of NFA positions (indices into the token list; `len` = accepted).
pub type States = BTreeSet<usize>;

fn fold_char(c: char, fold: bool) -> char {
    if fold {
        c.to_lowercase().next().unwrap_or(c)
    } else {
        c
    }
}

impl Glob {
    /// A pattern; characters are lower-cased when `fold` is set.
    pub fn new(toks: Vec<Tok>, fold: bool) -> Glob {
        let toks = toks
            .into_iter()
            .map(|t| match t {
                Tok::Char(c) => Tok::Char(fold_char(c, fold)),
                t => t,
            })
            .collect();
        Glob { toks, fold }
    }

    /// A pattern matching exactly `text`.
    pub fn literal(text: &str, fold: bool) -> Glob {
        Glob::new(text.chars().map(Tok::Char).collect(), fold)
    }

    pub fn tokens(&self) -> &[Tok] {
        &self.toks
    }

    /// Characters the pattern mentions (both cases when folding).
    pub fn alphabet(&self) -> impl Iterator<Item = char> + '_ {
        self.toks.iter().filter_map(|t| if let Tok::Char(c) = t { Some(*c) } else { None }).flat_map(move |c| {
            let mut v = vec![c];
            if self.fold {
                v.extend(c.to_uppercase());
            }
            v
        })
    }

    /// Adds the positions reachable by skipping stars.
    fn close(&self, mut s: States) -> States {
        let mut stack: Vec<usize> = s.iter().copied().collect();
        while let Some(i) = stack.pop() {
            if self.toks.get(i) == Some(&Tok::Star) && s.insert(i + 1) {
                stack.push(i + 1);
            }
        }
        s
    }

    pub fn start(&self) -> States {
        self.close(States::from([0]))
    }

    pub fn step(&self, s: &States, c: char) -> States {
        let c = fold_char(c, self.fold);
        let mut next = States::new();
        for &i in s {
            match self.toks.get(i) {
                Some(Tok::Star) => {
                    next.insert(i);
                }
                Some(Tok::One) => {
                    next.insert(i + 1);
                }
                Some(Tok::Char(p)) if *p == c => {
                    next.insert(i + 1);
                }
                _ => {}
            }
        }
        self.close(next)
    }

    pub fn accepts(&self, s: &States) -> bool {
        s.contains(&self.toks.len())
    }

    /// Whether `text` matches (used to place hints and to check witnesses).
    pub fn matches(&self, text: &str) -> bool {
        let mut s = self.start();
        for c in text.chars() {
            s = self.step(&s, c);
            if s.is_empty() {
                return false;
            }
        }
        self.accepts(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn nfa_matches_like_a_glob() {
        assert!(g("ec2.*.amazonaws.com").matches("ec2.us-east-1.amazonaws.com"));
        assert!(!g("ec2.*.amazonaws.com").matches("ec2.amazonaws.com"));
        assert!(g("a?c*").matches("abc") && !g("a?c*").matches("ac"));
        assert!(g("*").matches("") && g("").matches("") && !g("").matches("x"));
        assert!(Glob::literal("Decrypt", true).matches("DECRYPT"));
        assert!(!Glob::literal("Decrypt", false).matches("decrypt"));
    }
}
