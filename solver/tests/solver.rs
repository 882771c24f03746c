//! The logic layer against Z3 and against brute force.

use kmsproof_solver::*;
use proptest::prelude::*;

fn sat(v: &Vocabulary, t: &Term, n: usize) -> Vec<Model> {
    match solve(v, t, Limits::default(), n) {
        Outcome::Sat(ms) => {
            for m in &ms {
                assert!(eval(t, m), "model {m:?} does not satisfy the goal");
            }
            ms
        }
        other => panic!("expected sat, got {other:?}"),
    }
}

fn unsat(v: &Vocabulary, t: &Term) {
    assert_eq!(solve(v, t, Limits::default(), 1), Outcome::Unsat);
}

#[test]
fn strings_outside_patterns_get_hinted_witnesses() {
    let mut v = Vocabulary::default();
    let via = v.str_var("kms:ViaService", vec!["s3.us-east-1.amazonaws.com".into()]);
    let goal = Term::and([
        Term::not(Term::str_match(via, Glob::wildcard("ec2.*.amazonaws.com"))),
        Term::not(Term::str_match(via, Glob::wildcard("lambda.*.amazonaws.com"))),
    ]);
    let m = &sat(&v, &goal, 1)[0];
    assert_eq!(m.strs[0], "s3.us-east-1.amazonaws.com");
    unsat(&v, &Term::and([Term::str_match(via, Glob::wildcard("a")), Term::str_match(via, Glob::wildcard("b"))]));
}

#[test]
fn several_models_differ_in_region() {
    let mut v = Vocabulary::default();
    let a = v.str_var("action", vec![]);
    let goal = Term::or([
        Term::str_match(a, Glob::wildcard("kms:Decrypt")),
        Term::str_match(a, Glob::wildcard("kms:Encrypt")),
        Term::str_match(a, Glob::wildcard("kms:Re*")),
    ]);
    let ms = sat(&v, &goal, 10);
    let mut ws: Vec<&str> = ms.iter().map(|m| m.strs[0].as_str()).collect();
    ws.sort();
    assert_eq!(ws.len(), 3, "{ws:?}");
    assert!(ws.contains(&"kms:Decrypt") && ws.contains(&"kms:Encrypt"));
}

#[test]
fn sets_for_all_and_for_any() {
    let mut v = Vocabulary::default();
    let ops = v.set_var("kms:GrantOperations", vec![]);
    let allowed = ElemPred::or(vec![
        ElemPred::matches(Glob::wildcard("Encrypt")),
        ElemPred::matches(Glob::wildcard("ReEncryptTo")),
    ]);
    let only_allowed = Term::set_all(ops, allowed.clone());
    let has_decrypt = Term::set_any(ops, ElemPred::matches(Glob::wildcard("Decrypt")));
    unsat(&v, &Term::and([only_allowed.clone(), has_decrypt.clone()]));
    let m = &sat(&v, &Term::and([only_allowed.clone(), Term::not(Term::set_empty(ops))]), 1)[0];
    assert!(!m.sets[0].is_empty() && m.sets[0].iter().all(|s| s == "Encrypt" || s == "ReEncryptTo"), "{m:?}");
    let m = &sat(&v, &Term::and([Term::not(only_allowed), has_decrypt]), 1)[0];
    assert!(m.sets[0].contains(&"Decrypt".to_string()));
}

#[test]
fn integers_and_addresses() {
    let mut v = Vocabulary::default();
    let x = v.int_var("days");
    let m = &sat(&v, &Term::and([Term::int_cmp(x, Cmp::Gt, 5), Term::int_cmp(x, Cmp::Lt, 7)]), 1)[0];
    assert_eq!(m.ints[0], 6);
    unsat(&v, &Term::and([Term::int_cmp(x, Cmp::Gt, 5), Term::int_cmp(x, Cmp::Lt, 6)]));
    let ip = v.ip_var("aws:SourceIp");
    let net = |s: &str, p| Cidr::new(s.parse().unwrap(), p).unwrap();
    let goal = Term::and([Term::ip_in(ip, net("10.0.0.0", 8)), Term::not(Term::ip_in(ip, net("10.1.0.0", 16)))]);
    let m = &sat(&v, &goal, 1)[0];
    assert!(net("10.0.0.0", 8).contains(m.ips[0]) && !net("10.1.0.0", 16).contains(m.ips[0]), "{:?}", m.ips[0]);
    unsat(&v, &Term::and([Term::ip_in(ip, net("10.0.0.0", 8)), Term::ip_in(ip, net("2001:db8::", 32))]));
    let m = &sat(&v, &Term::not(Term::ip_in(ip, net("0.0.0.0", 0))), 1)[0];
    assert!(m.ips[0].is_ipv6(), "outside every IPv4 address is IPv6: {:?}", m.ips[0]);
}

/// Random formulas over one string variable: Z3's answer agrees with brute force over
/// every string of length ≤ 4 on the patterns' alphabet plus one other character.
fn arb_glob() -> impl Strategy<Value = String> {
    "[ab*?]{0,3}"
}

fn strings(alphabet: &[char], max: usize) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut frontier = vec![String::new()];
    for _ in 0..max {
        frontier = frontier.iter().flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}"))).collect();
        out.extend(frontier.iter().cloned());
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 120, .. ProptestConfig::default() })]
    #[test]
    fn agrees_with_brute_force(globs in proptest::collection::vec(arb_glob(), 1..4), picks in proptest::collection::vec((0usize..4, any::<bool>()), 1..4), disjunctive in any::<bool>()) {
        let mut v = Vocabulary::default();
        let s = v.str_var("s", vec![]);
        let lits: Vec<(Glob, bool)> = picks.iter().map(|(i, pos)| (Glob::wildcard(&globs[i % globs.len()]), *pos)).collect();
        let lit = |g: &Glob, pos: bool| if pos { Term::str_match(s, g.clone()) } else { Term::not(Term::str_match(s, g.clone())) };
        let terms: Vec<Term> = lits.iter().map(|(g, p)| lit(g, *p)).collect();
        let goal = if disjunctive { Term::or(terms) } else { Term::and(terms) };
        let brute = strings(&['a', 'b', 'x'], 4).into_iter().any(|w| lits.iter().map(|(g, p)| g.matches(&w) == *p).fold(!disjunctive, |acc, x| if disjunctive { acc || x } else { acc && x }));
        let got = solve(&v, &goal, Limits::default(), 1);
        match got {
            Outcome::Sat(ms) => { prop_assert!(brute, "solver sat, brute force unsat"); prop_assert!(eval(&goal, &ms[0])); }
            Outcome::Unsat => prop_assert!(!brute, "solver unsat, brute force found a string"),
            Outcome::Unknown(r) => prop_assert!(false, "unknown: {}", r),
        }
    }
}

/// A random formula over two string variables and a boolean, as data: built as a [`Term`]
/// and evaluated directly on the model the solver returns.
#[derive(Debug, Clone)]
enum F {
    Atom(usize, String),
    Flag,
    Not(Box<F>),
    And(Vec<F>),
    Or(Vec<F>),
}

fn arb_formula() -> impl Strategy<Value = F> {
    let atom = prop_oneof![
        (0usize..2, "[abc*]{0,4}").prop_map(|(v, g)| F::Atom(v, g)),
        (0usize..2, "[abc]{2,5}").prop_map(|(v, g)| F::Atom(v, format!("*{g}*"))),
        Just(F::Flag),
    ];
    atom.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            inner.clone().prop_map(|f| F::Not(Box::new(f))),
            proptest::collection::vec(inner.clone(), 1..4).prop_map(F::And),
            proptest::collection::vec(inner, 1..4).prop_map(F::Or),
        ]
    })
}

fn term_of(f: &F, vars: &[StrVar; 2], flag: BoolVar) -> Term {
    match f {
        F::Atom(v, g) => Term::str_match(vars[*v], Glob::wildcard(g)),
        F::Flag => Term::var(flag),
        F::Not(inner) => Term::not(term_of(inner, vars, flag)),
        F::And(fs) => Term::and(fs.iter().map(|f| term_of(f, vars, flag)).collect::<Vec<_>>()),
        F::Or(fs) => Term::or(fs.iter().map(|f| term_of(f, vars, flag)).collect::<Vec<_>>()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]
    /// With no full partitions (every string variable gets the goal-pruned one: regions the
    /// goal cannot use dropped, searches stopped where the string read so far dominates
    /// its extensions), the answer is the exact partition's, and every model satisfies the
    /// goal. A pruned search may still be too large (unknown): skipped.
    #[test]
    fn goal_pruned_partitions_are_exact(f in arb_formula(), states in 8usize..400) {
        let mut v = Vocabulary::default();
        let vars = [v.str_var("s", vec![]), v.str_var("t", vec![])];
        let flag = v.bool_var("flag");
        let goal = term_of(&f, &vars, flag);
        let exact = solve(&v, &goal, Limits::default(), 1);
        let pruned = solve(&v, &goal, Limits { full_partition_states: 0, partition_states: states, ..Limits::default() }, 1);
        match (&exact, &pruned) {
            (_, Outcome::Unknown(_)) => {}
            (Outcome::Sat(a), Outcome::Sat(b)) => { prop_assert!(eval(&goal, &a[0])); prop_assert!(eval(&goal, &b[0])); }
            (Outcome::Unsat, Outcome::Unsat) => {}
            _ => prop_assert!(false, "exact {exact:?}, pruned {pruned:?}"),
        }
    }
}

/// Several models from a goal-pruned partition: no region a later model needs is settled
/// away (`a*` decided at "a" must not hide the region of "ab").
#[test]
fn goal_pruned_partitions_keep_every_model() {
    let mut v = Vocabulary::default();
    let s = v.str_var("s", vec![]);
    let goal = Term::or([Term::str_match(s, Glob::wildcard("a*")), Term::str_match(s, Glob::wildcard("a*b*"))]);
    let count = |limits: Limits| match solve(&v, &goal, limits, 5) {
        Outcome::Sat(ms) => ms.len(),
        other => panic!("expected sat, got {other:?}"),
    };
    let exact = count(Limits::default());
    assert_eq!(count(Limits { full_partition_states: 0, ..Limits::default() }), exact);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 150, .. ProptestConfig::default() })]
    /// Canonical models on the reused solver are a function of the query alone: the same
    /// goal asked again after other queries gets the same models (Z3's own models depend
    /// on what the solver saw before), each satisfies the goal, and the flag, first in the
    /// order, is true only when it must be.
    #[test]
    fn canonical_models_do_not_depend_on_history(f in arb_formula(), history in proptest::collection::vec(arb_formula(), 1..4)) {
        let mut v = Vocabulary::default();
        let vars = [v.str_var("s", vec![]), v.str_var("t", vec!["ab".into()])];
        let flag = v.bool_var("flag");
        let days = v.int_var("days");
        let goal = Term::and([term_of(&f, &vars, flag), Term::int_cmp(days, Cmp::Gt, 3)]);
        let canonical = Limits::default();
        let first = solve(&v, &goal, canonical, 2);
        for h in &history {
            let other = Term::or([term_of(h, &vars, flag), Term::int_cmp(days, Cmp::Lt, -7)]);
            let _ = solve(&v, &other, canonical, 1);
        }
        let again = solve(&v, &goal, canonical, 2);
        prop_assert_eq!(&first, &again);
        if let Outcome::Sat(ms) = &first {
            prop_assert!(ms.iter().all(|m| eval(&goal, m)));
            prop_assert_eq!(ms[0].ints[0], 4, "the least integer above 3");
            if ms[0].bools[0] {
                let without = Term::and([goal.clone(), Term::not(Term::var(flag))]);
                prop_assert_eq!(solve(&v, &without, canonical, 1), Outcome::Unsat);
            }
        }
    }
}
