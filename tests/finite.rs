//! The Z3-free refutation (issue 21, `solver/src/backend/finite.rs`) against Z3 on every
//! query the corpus makes: every property of `corpus/properties`, every pair of
//! `corpus/diffs*`, and the real version pairs of `../shared/corpus` (skipped loudly when
//! absent). In cross-check mode every query runs both; a refutation of a query Z3 answers
//! `sat` panics inside the solver (a soundness bug). Random queries are compared in the
//! solver crate's own tests.

use kmsproof_solver::{finite_stats, set_finite_mode, FiniteMode};
use std::path::Path;

#[allow(dead_code)]
#[path = "diffs.rs"]
mod corpus_diffs;

#[test]
fn z3_free_refutations_agree_with_z3_on_every_corpus_query() {
    set_finite_mode(FiniteMode::CrossCheck);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (refuted_before, _) = finite_stats();
    let mut props = Vec::new();
    if let Ok(rd) = std::fs::read_dir(root.join("corpus/properties")) {
        props.extend(rd.flatten().map(|e| e.path()).filter(|p| p.to_string_lossy().ends_with(".props.json")));
    }
    props.sort();
    assert!(!props.is_empty(), "no property files");
    for path in &props {
        let set = kmsproof::model::property::load_property_set(path).expect("a valid property set");
        kmsproof::prove::check::check(
            &set.inputs,
            &set.key_arn,
            &set.properties,
            1,
            kmsproof_solver::Limits::default(),
        )
        .unwrap_or_else(|m| panic!("{}: {m}", path.display()));
    }
    let mut pairs: Vec<_> = ["corpus/diffs", "corpus/diffs-identity", "corpus/diffs-sets"]
        .iter()
        .flat_map(|d| corpus_diffs::pair_dirs(&root.join(d)))
        .collect();
    let shared = root.join("../shared/corpus/aws-managed-policies/version-pairs");
    if shared.is_dir() {
        pairs.extend(corpus_diffs::pair_dirs(&shared));
    } else {
        eprintln!("\n*** SKIPPING the version pairs in the Z3-free cross-check: {} not found ***\n", shared.display());
    }
    for dir in &pairs {
        corpus_diffs::diff_pair(dir, 1, None).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    }
    let (refuted, missed) = finite_stats();
    eprintln!(
        "Z3-free refutations: {} (queries Z3 found unsat that the search left to it: {missed})",
        refuted - refuted_before
    );
    assert!(refuted > refuted_before, "the cross-check never exercised a Z3-free refutation");
    set_finite_mode(FiniteMode::Off);
}
