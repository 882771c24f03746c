//! Wildcard patterns as small NFAs: the atoms string variables are cut by.

/// A set of characters, or its complement.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CharSet {
    chars: Vec<char>,
    negated: bool,
}

impl CharSet {
    /// The characters of `chars`.
    pub fn of(chars: &str) -> CharSet {
        let mut v: Vec<char> = chars.chars().collect();
        v.sort();
        v.dedup();
        CharSet { chars: v, negated: false }
    }

    /// Every character except those of `chars`.
    pub fn except(chars: &str) -> CharSet {
        CharSet { negated: true, ..CharSet::of(chars) }
    }

    pub fn contains(&self, c: char) -> bool {
        self.chars.binary_search(&c).is_ok() != self.negated
    }
}

/// One pattern token.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tok {
    Char(char),
    /// Any sequence, including the empty one.
    Star,
    /// Exactly one character.
    One,
    /// One character of the set.
    In(CharSet),
    /// Any sequence of characters of the set.
    StarIn(CharSet),
}

/// A whole-string wildcard pattern; `fold` compares characters case-insensitively.
///
/// Shared, immutable and hashed once: a query's formula mentions the same pattern many
/// times, and partitioning collects, sorts, deduplicates and hashes every occurrence, so
/// a clone is a reference count and equality and hashing start from the stored hash.
#[derive(Clone)]
pub struct Glob(std::sync::Arc<GlobRepr>);

#[derive(Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct GlobData {
    toks: Vec<Tok>,
    fold: bool,
}

/// What a glob is made of, with its hash (computed once, in [`Glob::new`]).
struct GlobRepr {
    data: GlobData,
    hash: u64,
}

/// A set of NFA positions (indices into the token list; `len` = accepted), as a bitset:
/// partitioning hashes and compares millions of these.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct States {
    /// Positions 0..128, the common case, without allocation.
    low: u128,
    /// Positions 128.., for very long patterns (trailing zero words trimmed).
    high: Vec<u64>,
}

impl States {
    fn with(i: usize) -> States {
        let mut s = States::default();
        s.insert(i);
        s
    }

    /// Adds `i`; returns whether it was new.
    fn insert(&mut self, i: usize) -> bool {
        if i < 128 {
            let b = 1u128 << i;
            let new = self.low & b == 0;
            self.low |= b;
            return new;
        }
        let (w, b) = ((i - 128) / 64, 1u64 << ((i - 128) % 64));
        if self.high.len() <= w {
            self.high.resize(w + 1, 0);
        }
        let new = self.high[w] & b == 0;
        self.high[w] |= b;
        new
    }

    fn contains(&self, i: usize) -> bool {
        if i < 128 {
            return self.low & (1u128 << i) != 0;
        }
        self.high.get((i - 128) / 64).is_some_and(|w| w & (1u64 << ((i - 128) % 64)) != 0)
    }

    /// The set as one number, when it holds no position past 127 (the common case): a
    /// key compared and hashed in registers.
    pub(crate) fn inline(&self) -> Option<u128> {
        self.high.is_empty().then_some(self.low)
    }

    /// The 64-bit words the set takes beyond its inline part (its memory, for bounds).
    pub fn words(&self) -> usize {
        self.high.len()
    }

    pub fn is_empty(&self) -> bool {
        self.low == 0 && self.high.iter().all(|w| *w == 0)
    }

    fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        let mut low = self.low;
        let lows = std::iter::from_fn(move || {
            (low != 0).then(|| {
                let i = low.trailing_zeros() as usize;
                low &= low - 1;
                i
            })
        });
        let highs = self
            .high
            .iter()
            .enumerate()
            .flat_map(|(w, bits)| (0..64).filter(move |b| bits & (1u64 << b) != 0).map(move |b| 128 + w * 64 + b));
        lows.chain(highs)
    }
}

fn fold_char(c: char, fold: bool) -> char {
    if fold {
        c.to_ascii_lowercase()
    } else {
        c
    }
}

impl PartialEq for Glob {
    fn eq(&self, other: &Glob) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0) || (self.0.hash == other.0.hash && self.0.data == other.0.data)
    }
}

impl Eq for Glob {}

impl std::hash::Hash for Glob {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.0.hash);
    }
}

/// Ordered by tokens, then case folding (the order partitions list atoms in).
impl Ord for Glob {
    fn cmp(&self, other: &Glob) -> std::cmp::Ordering {
        if std::sync::Arc::ptr_eq(&self.0, &other.0) {
            return std::cmp::Ordering::Equal;
        }
        self.0.data.cmp(&other.0.data)
    }
}

impl PartialOrd for Glob {
    fn partial_cmp(&self, other: &Glob) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Debug for Glob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Glob").field("toks", &self.0.data.toks).field("fold", &self.0.data.fold).finish()
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
        let data = GlobData { toks, fold };
        let hash = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            data.hash(&mut h);
            h.finish()
        };
        Glob(std::sync::Arc::new(GlobRepr { data, hash }))
    }

    /// A case-sensitive pattern written with `*` and `?` as wildcards (tests, examples).
    pub fn wildcard(pattern: &str) -> Glob {
        let toks = pattern
            .chars()
            .map(|c| match c {
                '*' => Tok::Star,
                '?' => Tok::One,
                c => Tok::Char(c),
            })
            .collect();
        Glob::new(toks, false)
    }

    /// A pattern matching exactly `text`.
    pub fn literal(text: &str, fold: bool) -> Glob {
        Glob::new(text.chars().map(Tok::Char).collect(), fold)
    }

    pub fn tokens(&self) -> &[Tok] {
        &self.0.data.toks
    }

    /// Whether characters compare case-insensitively.
    pub fn folds(&self) -> bool {
        self.0.data.fold
    }

    /// Characters the pattern mentions (both cases when folding).
    pub fn alphabet(&self) -> impl Iterator<Item = char> + '_ {
        let chars = self.0.data.toks.iter().flat_map(|t| match t {
            Tok::Char(c) => vec![*c],
            Tok::In(set) | Tok::StarIn(set) => set.chars.clone(),
            Tok::Star | Tok::One => vec![],
        });
        chars.flat_map(move |c| {
            let mut v = vec![c];
            if self.0.data.fold {
                v.push(c.to_ascii_uppercase());
            }
            v
        })
    }

    /// Adds the positions reachable by skipping stars.
    fn close(&self, mut s: States) -> States {
        let mut stack: Vec<usize> = s.iter().collect();
        while let Some(i) = stack.pop() {
            if matches!(self.0.data.toks.get(i), Some(Tok::Star | Tok::StarIn(_))) && s.insert(i + 1) {
                stack.push(i + 1);
            }
        }
        s
    }

    pub fn start(&self) -> States {
        self.close(States::with(0))
    }

    pub fn step(&self, s: &States, c: char) -> States {
        let c = fold_char(c, self.0.data.fold);
        let mut next = States::default();
        for i in s.iter() {
            match self.0.data.toks.get(i) {
                Some(Tok::Star) => {
                    next.insert(i);
                }
                Some(Tok::One) => {
                    next.insert(i + 1);
                }
                Some(Tok::Char(p)) if *p == c => {
                    next.insert(i + 1);
                }
                Some(Tok::In(set)) if set.contains(c) => {
                    next.insert(i + 1);
                }
                Some(Tok::StarIn(set)) if set.contains(c) => {
                    next.insert(i);
                }
                _ => {}
            }
        }
        self.close(next)
    }

    /// The only characters on which `s` can step to a non-empty set, when every position
    /// in it reads one literal character (`None` when a wildcard or class can read more).
    /// Most product states of an action-name partition sit inside literal prefixes, where
    /// stepping every letter of the alphabet only to find the empty set was most of the
    /// partition work (issue 21).
    pub fn literal_next(&self, s: &States) -> Option<Vec<char>> {
        let mut chars = Vec::new();
        for i in s.iter() {
            match self.0.data.toks.get(i) {
                Some(Tok::Char(p)) => chars.push(*p),
                None => {}
                Some(_) => return None,
            }
        }
        Some(chars)
    }

    /// Whether `c` is read as the (already folded) pattern character `p`.
    pub fn reads_as(&self, c: char, p: char) -> bool {
        fold_char(c, self.0.data.fold) == p
    }

    pub fn accepts(&self, s: &States) -> bool {
        s.contains(self.0.data.toks.len())
    }

    /// Whether every continuation from `s` is accepted (a sufficient test: the NFA is at a
    /// trailing `*`), so the atom is decided true for every extension of the string.
    pub fn accepts_every_continuation(&self, s: &States) -> bool {
        matches!(self.0.data.toks.last(), Some(Tok::Star)) && s.contains(self.0.data.toks.len() - 1)
    }

    /// One representative of all subsets that accept every continuation (the NFA at its
    /// trailing `*`): they have the same residual language, so the partition search may
    /// treat them as one state. Other subsets are returned unchanged.
    pub fn canonical(&self, s: States) -> States {
        if self.accepts_every_continuation(&s) {
            self.close(States::with(self.0.data.toks.len() - 1))
        } else {
            s
        }
    }

    /// Which tokens `c` can be read by: characters with the same answer for every token
    /// of every atom are interchangeable when partitioning.
    pub fn signature(&self, c: char) -> Vec<bool> {
        let c = fold_char(c, self.0.data.fold);
        self.0
            .data
            .toks
            .iter()
            .map(|t| match t {
                Tok::Char(p) => *p == c,
                Tok::In(set) | Tok::StarIn(set) => set.contains(c),
                Tok::Star | Tok::One => true,
            })
            .collect()
    }

    /// Whether `text` matches (used to place hints and to check witnesses).
    pub fn matches(&self, text: &str) -> bool {
        // The literal prefix first, without the automaton: most patterns a value is
        // matched against (action names, ARNs) differ from it there, and a literal
        // pattern is decided by it alone.
        let mut chars = text.chars();
        let mut rest = text;
        for t in &self.0.data.toks {
            let Tok::Char(p) = t else {
                return self.matches_nfa(text);
            };
            match chars.next() {
                Some(c) if fold_char(c, self.0.data.fold) == *p => rest = chars.as_str(),
                _ => return false,
            }
        }
        rest.is_empty()
    }

    fn matches_nfa(&self, text: &str) -> bool {
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

    #[test]
    fn nfa_matches_like_a_glob() {
        assert!(Glob::wildcard("ec2.*.amazonaws.com").matches("ec2.us-east-1.amazonaws.com"));
        assert!(!Glob::wildcard("ec2.*.amazonaws.com").matches("ec2.amazonaws.com"));
        assert!(Glob::wildcard("a?c*").matches("abc") && !Glob::wildcard("a?c*").matches("ac"));
        assert!(Glob::wildcard("*").matches("") && Glob::wildcard("").matches("") && !Glob::wildcard("").matches("x"));
        assert!(Glob::literal("Decrypt", true).matches("DECRYPT"));
        assert!(!Glob::literal("Decrypt", false).matches("decrypt"));
        let digits = CharSet::of("0123456789");
        let account = Glob::new(vec![Tok::In(digits.clone()); 3], false);
        assert!(account.matches("123") && !account.matches("12a") && !account.matches("1234"));
        let segment = Glob::new(vec![Tok::StarIn(CharSet::except(":")), Tok::Char(':')], false);
        assert!(segment.matches("abc:") && !segment.matches("a:b:"));
    }

    #[test]
    fn literal_next_lists_the_only_characters_that_step_somewhere() {
        let g = Glob::literal("Kms:De", true);
        let s = g.step(&g.start(), 'K');
        assert_eq!(g.literal_next(&s), Some(vec!['m']));
        assert!(g.reads_as('M', 'm') && !g.reads_as('n', 'm'));
        let end = "ms:de".chars().fold(s, |s, c| g.step(&s, c));
        assert_eq!(g.literal_next(&end), Some(vec![]), "the accepting end reads nothing");
        let w = Glob::wildcard("a*b");
        assert_eq!(w.literal_next(&w.step(&w.start(), 'a')), None, "a star reads anything");
        // Every letter outside the list steps to the empty set.
        for c in "abcxyz:".chars() {
            assert!(g.step(&g.start(), c).is_empty());
        }
    }

    #[test]
    fn long_patterns_past_128_positions() {
        let text = "a".repeat(150) + "b";
        let long = Glob::wildcard(&format!("{}*b", "a".repeat(150)));
        assert!(long.matches(&text) && long.matches(&format!("{}xxb", "a".repeat(150))));
        assert!(!long.matches(&"a".repeat(151)));
    }
}
