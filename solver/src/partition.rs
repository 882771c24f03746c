//! The finite partition of a string variable: which combinations of its atoms some string
//! satisfies, each with a readable witness.
//!
//! Exact by construction: a breadth-first search over the product of the atoms' NFAs
//! (determinised on the fly) visits every reachable product state, so every non-empty
//! region is found, and the path to it is a string that lies in it. Characters no atom
//! mentions all behave alike, so one representative stands for them.

use crate::glob::{Glob, States};
use std::collections::HashMap;
use std::collections::{BTreeMap, BTreeSet};

/// A fast non-cryptographic hasher (the rustc "Fx" scheme) for the product-state table:
/// the partition search hashes millions of small integer vectors, where SipHash dominates.
#[derive(Default, Clone, Copy)]
struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// The hasher of `u128` keys: both halves folded and mixed (murmur3's finaliser), so the
/// low bits the table indexes by depend on every position of the set.
#[derive(Default, Clone, Copy)]
struct Mix128(u64);

impl std::hash::Hasher for Mix128 {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u128(&mut self, n: u128) {
        let mut h = (n as u64) ^ ((n >> 64) as u64).rotate_left(29);
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        self.0 = h ^ (h >> 33);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type FxMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<FxHasher>>;

/// One non-empty region: which atoms hold, and a string in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    pub signs: Vec<bool>,
    pub witness: String,
    /// Whether the witness is one of the caller's hints (readable by construction).
    pub hinted: bool,
}

/// All non-empty regions of one variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    pub regions: Vec<Region>,
}

/// The product automaton grew past the limit (states, or the memory its determinised
/// atoms take), or the work budget ran out while it was built; the caller reports
/// `unknown`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooLarge {
    pub states: usize,
    /// The deadline passed (not a property of the patterns: never cached).
    pub out_of_time: bool,
}

/// Bound on the memory of one search, in 64-bit words (256 MiB): the determinised atoms'
/// state sets and transition tables, and the product states. A 100 KB pattern (`a*` ×
/// 50,000) has states of 100,000 positions each, and 50,000 principal ARNs make product
/// states of 50,000 pairs each, so the state limit alone would let either take gigabytes.
const MAX_WORDS: usize = 32 << 20;

/// How often (in product states) the search adds up the memory it holds; the clock is
/// looked at every state (one state of 50,000 live atoms is already milliseconds of work).
const CHECK_EVERY: usize = 64;

/// The product states seen by one search, interned by a hash computed once per state,
/// while the state is built (issue 21: the slowest pairs spent most of their partition
/// time hashing whole state vectors twice — look-up, then insert — and cloning them into
/// the key). States are stored once, end to end in one vector; states with equal hashes
/// are chained, and a look-up compares whole states only within its chain.
#[derive(Default)]
struct StateTable {
    flat: Vec<(u32, u32)>,
    /// Where state `i` starts in `flat` (state `i` ends where `i + 1` starts).
    starts: Vec<usize>,
    /// The latest state with each hash, and for each state the previous one with its hash.
    by_hash: HashMap<u64, u32, std::hash::BuildHasherDefault<Identity>>,
    chain: Vec<u32>,
}

impl StateTable {
    /// The hash input of one (atom, DFA state) pair.
    fn word(atom: u32, state: u32) -> u64 {
        (u64::from(atom) << 32) | u64::from(state)
    }

    fn hash(s: &[(u32, u32)]) -> u64 {
        let mut h = FxHasher::default();
        s.iter().for_each(|(a, n)| h.add(StateTable::word(*a, *n)));
        h.0
    }

    fn len(&self) -> usize {
        self.starts.len()
    }

    fn get(&self, i: usize) -> &[(u32, u32)] {
        let end = self.starts.get(i + 1).copied().unwrap_or(self.flat.len());
        &self.flat[self.starts[i]..end]
    }

    /// The id of state `s`, whose hash is `h`.
    fn find(&self, s: &[(u32, u32)], h: u64) -> Option<usize> {
        let mut id = *self.by_hash.get(&h)?;
        loop {
            if self.get(id as usize) == s {
                return Some(id as usize);
            }
            id = self.chain[id as usize];
            if id == u32::MAX {
                return None;
            }
        }
    }

    /// Adds `s` (not present), whose hash is `h`.
    fn insert(&mut self, s: &[(u32, u32)], h: u64) {
        let id = self.len() as u32;
        self.starts.push(self.flat.len());
        self.flat.extend_from_slice(s);
        self.chain.push(self.by_hash.insert(h, id).unwrap_or(u32::MAX));
    }
}

/// The hasher of keys that are hashes already.
#[derive(Default, Clone, Copy)]
struct Identity(u64);

impl std::hash::Hasher for Identity {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// One atom's NFA, determinised lazily: subsets get small ids, transitions are cached.
struct Dfa<'a> {
    glob: &'a Glob,
    ids: FxMap<States, u32>,
    /// The ids of subsets that hold no position past 127, by their bits: looking a
    /// `States` up in `ids` compares its (empty) long part with `memcmp` on every probe,
    /// which was 28–32 % of partition building (perf, issue 21).
    short: HashMap<u128, u32, std::hash::BuildHasherDefault<Mix128>>,
    subsets: Vec<States>,
    /// Per state, once computed: see [`Dfa::live`].
    live: Vec<Option<Vec<(u32, u32)>>>,
    accepting: Vec<bool>,
    /// No continuation can be accepted (the empty subset): the atom is decided false.
    dead: Vec<bool>,
    /// Every continuation is accepted: the atom is decided true.
    sure: Vec<bool>,
    /// `next[id * letters + letter]`, `u32::MAX` until computed.
    next: Vec<u32>,
    letters: usize,
    /// The memory of `subsets`, in words (see [`MAX_SUBSET_WORDS`]).
    words: usize,
}

impl<'a> Dfa<'a> {
    fn new(glob: &'a Glob, letters: usize) -> Dfa<'a> {
        let mut d = Dfa {
            glob,
            ids: FxMap::default(),
            short: HashMap::default(),
            subsets: Vec::new(),
            live: Vec::new(),
            accepting: Vec::new(),
            dead: Vec::new(),
            sure: Vec::new(),
            next: Vec::new(),
            letters,
            words: 0,
        };
        d.intern(glob.start());
        d
    }

    fn intern(&mut self, s: States) -> u32 {
        // A decided-true atom keeps one state whatever partial matches it still tracks
        // (`*Contact*` after "Contact"): otherwise those would multiply product states.
        let s = self.glob.canonical(s);
        let bits = s.inline();
        let known = match bits {
            Some(bits) => self.short.get(&bits),
            None => self.ids.get(&s),
        };
        if let Some(id) = known {
            return *id;
        }
        let id = self.subsets.len() as u32;
        self.accepting.push(self.glob.accepts(&s));
        self.dead.push(s.is_empty());
        self.sure.push(self.glob.accepts_every_continuation(&s));
        self.words += 4 + s.words() + self.letters / 2;
        match bits {
            Some(bits) => {
                self.short.insert(bits, id);
                self.subsets.push(s);
            }
            None => {
                self.subsets.push(s.clone());
                self.ids.insert(s, id);
            }
        }
        self.next.resize(self.subsets.len() * self.letters, u32::MAX);
        id
    }

    /// The letters on which state `id` has a live successor, with the successor, in
    /// letter order (computed once per state). A product state is expanded through these:
    /// an atom with a literal prefix lives on one letter of fifty, so looking at each
    /// (atom, letter) pair was most of the work on the slow pairs (issue 21).
    fn live(&mut self, id: u32, alphabet: &[char]) -> &[(u32, u32)] {
        let i = id as usize;
        if self.live.len() <= i {
            self.live.resize(i + 1, None);
        }
        if self.live[i].is_none() {
            let mut out = Vec::new();
            let literal = self.glob.literal_next(&self.subsets[i]);
            for (li, &c) in alphabet.iter().enumerate() {
                if literal.as_ref().is_some_and(|ps| !ps.iter().any(|p| self.glob.reads_as(c, *p))) {
                    continue; // the empty set, without computing it
                }
                let n = self.step(id, li, c);
                if !self.dead[n as usize] {
                    out.push((li as u32, n));
                }
            }
            self.live[i] = Some(out);
        }
        self.live[i].as_deref().unwrap_or(&[])
    }

    fn step(&mut self, id: u32, letter: usize, c: char) -> u32 {
        let slot = id as usize * self.letters + letter;
        if self.next[slot] != u32::MAX {
            return self.next[slot];
        }
        let s = self.glob.step(&self.subsets[id as usize], c);
        let n = self.intern(s);
        self.next[slot] = n;
        n
    }
}

/// Lower is more readable: letters, then digits, then punctuation.
fn readability(c: char) -> (u8, char) {
    let rank = if c.is_ascii_lowercase() {
        0
    } else if c.is_ascii_uppercase() {
        1
    } else if c.is_ascii_digit() {
        2
    } else if c.is_ascii_graphic() {
        3
    } else {
        4
    };
    (rank, c)
}

fn readable_first(chars: &BTreeSet<char>) -> Vec<char> {
    let mut v: Vec<char> = chars.iter().copied().collect();
    v.sort_by_key(|c| readability(*c));
    v
}

/// Characters tried, in order, as the stand-in for "any character no atom mentions".
const OTHER: &str = "xyzqjkvwabcdefghilmnoprstu0123456789-_";

/// The partition of a finite domain: its values grouped by which atoms they satisfy.
pub fn partition_finite(atoms: &[Glob], values: &[String]) -> Partition {
    let mut found: BTreeMap<Vec<bool>, String> = BTreeMap::new();
    for v in values {
        found.entry(atoms.iter().map(|a| a.matches(v)).collect()).or_insert_with(|| v.clone());
    }
    Partition { regions: found.into_iter().map(|(signs, witness)| Region { signs, witness, hinted: true }).collect() }
}

/// Computes the partition of the strings by `atoms`. `hints` are preferred witnesses
/// (e.g. real service names) used for whichever region they fall in.
pub fn partition(atoms: &[Glob], hints: &[String], limit: usize) -> Result<Partition, TooLarge> {
    search(atoms, hints, limit, None, None)
}

/// [`partition`], given up (`out_of_time`) when `deadline` passes.
pub fn partition_until(
    atoms: &[Glob],
    hints: &[String],
    limit: usize,
    deadline: Option<std::time::Instant>,
) -> Result<Partition, TooLarge> {
    search(atoms, hints, limit, None, deadline)
}

/// What is already decided about each atom at a point of the search, for every extension
/// of the string: `Some(false)` (no extension matches), `Some(true)` (every one does) or
/// `None`.
pub type Knowledge = [Option<bool>];

/// What a formula can still do at a point of the search, given what is decided there
/// about the atoms (for every extension of the string read so far).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Viability {
    /// The formula is false on every extension: no region below is of use.
    Dead,
    /// The search goes on, unless the string read so far gives every atom in `settle_if`
    /// the value listed there: the formula is monotone in each undecided atom it still
    /// mentions, towards that value, so this string's region makes it true whenever an
    /// extension's region would, and stands for them all. `None`: some undecided atom
    /// occurs both ways, so nothing settles here.
    Open { settle_if: Option<Vec<(usize, bool)>> },
}

/// [`partition`], keeping only the regions a formula can still use: `viable` says what the
/// formula can still do given what is decided about the atoms. The search does not go on
/// from a point where it is [`Viability::Dead`] (every region below makes it false) or
/// settled (every region below is dominated by the one found there; see [`Viability`]).
/// Exact for satisfiability of that formula, not a partition to reuse for another.
pub fn partition_for(
    atoms: &[Glob],
    hints: &[String],
    limit: usize,
    viable: &dyn Fn(&Knowledge) -> Viability,
    deadline: Option<std::time::Instant>,
) -> Result<Partition, TooLarge> {
    search(atoms, hints, limit, Some(viable), deadline)
}

fn search(
    atoms: &[Glob],
    hints: &[String],
    limit: usize,
    viable: Option<&dyn Fn(&Knowledge) -> Viability>,
    deadline: Option<std::time::Instant>,
) -> Result<Partition, TooLarge> {
    let mut alphabet: BTreeSet<char> = atoms.iter().flat_map(Glob::alphabet).collect();
    if let Some(other) = OTHER.chars().find(|c| !alphabet.contains(c)) {
        alphabet.insert(other);
    }
    // One representative per class of interchangeable characters; prefer readable ones.
    // With tens of thousands of atoms the classes and automata below take seconds before
    // the first product state: the clock is read here too (once per letter, once per
    // CHECK_EVERY automata).
    let out_of_time = || deadline.is_some_and(|d| std::time::Instant::now() >= d);
    let too_late = TooLarge { states: 0, out_of_time: true };
    let mut classes: BTreeMap<Vec<Vec<bool>>, char> = BTreeMap::new();
    for c in readable_first(&alphabet) {
        if out_of_time() {
            return Err(too_late);
        }
        classes.entry(atoms.iter().map(|a| a.signature(c)).collect()).or_insert(c);
    }
    let mut alphabet: Vec<char> = classes.into_values().collect();
    alphabet.sort_by_key(|c| readability(*c));
    let mut dfas: Vec<Dfa> = Vec::with_capacity(atoms.len());
    for (i, a) in atoms.iter().enumerate() {
        if i % CHECK_EVERY == 0 && out_of_time() {
            return Err(too_late);
        }
        dfas.push(Dfa::new(a, alphabet.len()));
    }
    // A product state lists only the atoms still alive, as (atom, DFA state): atoms with a
    // literal prefix die after a few letters, so most steps touch a handful of atoms.
    let start: Vec<(u32, u32)> =
        (0..atoms.len() as u32).filter(|i| !dfas[*i as usize].dead[0]).map(|i| (i, 0)).collect();
    // States are interned once; the queue holds ids, and each state's witness is kept as
    // (parent, letter), spelled out only for the first state of each region.
    let mut found: BTreeMap<Vec<bool>, usize> = BTreeMap::new();
    let mut states = StateTable::default();
    states.insert(&start, StateTable::hash(&start));
    let mut current: Vec<(u32, u32)> = Vec::new();
    let mut parent: Vec<(usize, char)> = vec![(usize::MAX, ' ')];
    let mut buckets: Vec<(Vec<(u32, u32)>, FxHasher)> = vec![(Vec::new(), FxHasher::default()); alphabet.len()];
    let mut signs = vec![false; atoms.len()];
    let mut head = 0;
    let mut verdicts: FxMap<Vec<Option<bool>>, Viability> = FxMap::default();
    let mut knowledge: Vec<Option<bool>> = vec![Some(false); atoms.len()];
    // Words held by the product states (each is stored twice: in `states` and as a key of `ids`).
    // (Kept at the size of the former table, which held each state twice, so that the
    // same patterns are "too large" as before: issue 21 changed the speed, not answers.)
    let mut product_words = 2 * start.len();
    while head < states.len() {
        if out_of_time() {
            return Err(TooLarge { states: states.len(), out_of_time: true });
        }
        if head % CHECK_EVERY == 0 && product_words + dfas.iter().map(|d| d.words).sum::<usize>() > MAX_WORDS {
            return Err(TooLarge { states: states.len(), out_of_time: false });
        }
        let mut settle_if = None;
        if let Some(viable) = viable {
            knowledge.iter_mut().for_each(|k| *k = Some(false));
            for (a, s) in states.get(head) {
                let d = &dfas[*a as usize];
                knowledge[*a as usize] = if d.sure[*s as usize] { Some(true) } else { None };
            }
            if !verdicts.contains_key(&knowledge) {
                verdicts.insert(knowledge.clone(), viable(&knowledge));
            }
            match &verdicts[&knowledge] {
                Viability::Dead if head != 0 => {
                    head += 1;
                    continue;
                }
                Viability::Dead => {}
                Viability::Open { settle_if: s } => settle_if = s.clone(),
            }
        }
        signs.iter_mut().for_each(|b| *b = false);
        for (a, s) in states.get(head) {
            signs[*a as usize] = dfas[*a as usize].accepting[*s as usize];
        }
        match found.get_mut(&signs) {
            None => {
                found.insert(signs.clone(), head);
            }
            Some(first) if *first == 0 && head != 0 => *first = head,
            Some(_) => {}
        }
        if settle_if.is_some_and(|needs| needs.iter().all(|(a, v)| signs[*a] == *v)) {
            head += 1;
            continue;
        }
        current.clear();
        current.extend_from_slice(states.get(head));
        // Each letter's successor, built atom by atom from the live transitions (atoms in
        // increasing order, as before: the same product states in the same order).
        buckets.iter_mut().for_each(|(b, h)| {
            b.clear();
            *h = FxHasher::default();
        });
        for (a, s) in &current {
            for &(li, n) in dfas[*a as usize].live(*s, &alphabet) {
                let (b, h) = &mut buckets[li as usize];
                b.push((*a, n));
                h.add(StateTable::word(*a, n));
            }
        }
        for (li, &c) in alphabet.iter().enumerate() {
            let (next, h) = &buckets[li];
            let h = h.0;
            if states.find(next, h).is_none() {
                if states.len() >= limit {
                    return Err(TooLarge { states: states.len() + 1, out_of_time: false });
                }
                product_words += 2 * next.len() + 8;
                states.insert(next, h);
                parent.push((head, c));
            }
        }
        head += 1;
    }
    if std::env::var_os("KMSPROOF_DEBUG").is_some() && viable.is_some() {
        let dead = verdicts.values().filter(|x| **x == Viability::Dead).count();
        eprintln!("goal-pruned search: {} knowledge vectors, {dead} dead", verdicts.len());
    }
    let spell = |mut id: usize| {
        let mut chars = Vec::new();
        while id != 0 {
            let (p, c) = parent[id];
            chars.push(c);
            id = p;
        }
        chars.iter().rev().collect::<String>()
    };
    let mut found: BTreeMap<Vec<bool>, String> = found.into_iter().map(|(k, id)| (k, spell(id))).collect();
    if std::env::var_os("KMSPROOF_DEBUG").is_some() {
        eprintln!(
            "partition: {} atoms, {} letters, {} states, {} regions",
            atoms.len(),
            alphabet.len(),
            states.len(),
            found.len()
        );
    }
    let mut hinted = BTreeSet::new();
    for hint in hints.iter().rev() {
        let signs: Vec<bool> = atoms.iter().map(|a| a.matches(hint)).collect();
        if let Some(w) = found.get_mut(&signs) {
            *w = hint.clone();
            hinted.insert(signs);
        }
    }
    let regions =
        found.into_iter().map(|(signs, witness)| Region { hinted: hinted.contains(&signs), signs, witness }).collect();
    Ok(Partition { regions })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signs(p: &Partition) -> Vec<Vec<bool>> {
        p.regions.iter().map(|r| r.signs.clone()).collect()
    }

    #[test]
    fn nested_patterns_leave_out_impossible_regions() {
        // "ec2.us-east-1.amazonaws.com" ⊂ "ec2.*.amazonaws.com": no string is in the first only.
        let atoms = [Glob::wildcard("ec2.us-east-1.amazonaws.com"), Glob::wildcard("ec2.*.amazonaws.com")];
        let p = partition(&atoms, &[], 10_000).unwrap();
        assert_eq!(signs(&p), vec![vec![false, false], vec![false, true], vec![true, true]]);
        for r in &p.regions {
            assert_eq!(atoms.iter().map(|a| a.matches(&r.witness)).collect::<Vec<_>>(), r.signs, "{r:?}");
        }
    }

    #[test]
    fn disjoint_and_overlapping_patterns() {
        let p = partition(&[Glob::wildcard("a*"), Glob::wildcard("*b")], &[], 10_000).unwrap();
        assert_eq!(p.regions.len(), 4);
        let p = partition(&[Glob::wildcard("abc"), Glob::wildcard("abd")], &[], 10_000).unwrap();
        assert_eq!(p.regions.len(), 3, "no string equals both");
    }

    #[test]
    fn hints_become_witnesses_and_empty_strings_are_avoided() {
        let atoms = [Glob::wildcard("ec2.*.amazonaws.com"), Glob::wildcard("lambda.*.amazonaws.com")];
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
    fn a_deadline_ends_the_search() {
        let long = Glob::wildcard(&"a*".repeat(2_000));
        let past = std::time::Instant::now();
        let e = partition_until(&[long], &[], 200_000, Some(past)).unwrap_err();
        assert!(e.out_of_time, "{e:?}");
    }

    #[test]
    fn limit_reports_too_large() {
        let atoms: Vec<Glob> =
            (0..12).map(|i| Glob::wildcard(&format!("*{}*{}*", (b'a' + i) as char, (b'b' + i) as char))).collect();
        assert!(partition(&atoms, &[], 50).is_err());
    }
}
