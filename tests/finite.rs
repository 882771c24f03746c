//! The Z3-free decision (issue 21, `solver/src/backend/finite.rs`) against Z3 on every
//! query the corpus makes: every property of `corpus/properties`, every pair of
//! `corpus/diffs*`, the audit of `corpus/audit`, and the real version pairs of
//! `../shared/corpus` (skipped loudly when absent). In cross-check mode every query runs
//! both; a different answer (`sat` against `unsat`) or a different model (against Z3's
//! canonical one) panics inside the solver (a soundness bug), and every model is replayed
//! by the commands as usual. Random queries are compared in the solver crate's own tests.

use kmsproof_solver::{finite_mode, finite_stats, set_finite_mode, FiniteMode};
use std::path::Path;

#[allow(dead_code)]
#[path = "diffs.rs"]
mod corpus_diffs;

#[test]
fn z3_free_decisions_agree_with_z3_on_every_corpus_query() {
    let mode = finite_mode();
    set_finite_mode(FiniteMode::CrossCheck);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let before = finite_stats();
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
    // The audit's queries (canonical models; who-can's too, for KMS010): the local
    // fixtures, and every eighth document of the shared corpus (all of it in release).
    let mut docs = kmsproof::audit::discover(&[root.join("corpus/audit")]);
    let shared = root.join("../shared/corpus");
    if shared.is_dir() {
        let step = if cfg!(debug_assertions) { 8 } else { 1 };
        docs.extend(kmsproof::audit::discover(&[shared]).into_iter().step_by(step));
    } else {
        eprintln!("\n*** SKIPPING the shared corpus audit in the Z3-free cross-check: not found ***\n");
    }
    kmsproof::audit::audit_all(&docs, &kmsproof::audit::Settings::default(), 2, &|_| {})
        .unwrap_or_else(|e| panic!("{e}"));
    let after = finite_stats();
    let (sat, unsat, handed_over) =
        (after.sat - before.sat, after.unsat - before.unsat, after.handed_over - before.handed_over);
    eprintln!("decided without Z3: {sat} sat, {unsat} unsat; handed to Z3: {handed_over} (counts include other tests running meanwhile)");
    assert!(sat > 0 && unsat > 0, "the cross-check never exercised both answers");
    set_finite_mode(mode);
}

/// `--decider` chooses who decides, never what is shown: the same verdicts, the same
/// canonical witnesses and the same exit code from the search, from Z3 alone and from both.
#[test]
fn every_decider_gives_the_same_output() {
    use crate::util::{kmsproof, stdout};
    let runs: [&[&str]; 3] = [
        &["diff", "examples/key-policy.json", "examples/key-policy-pr.json"],
        &["check", "--key-policy", "examples/key-policy.json", "--properties", "examples/properties.json"],
        &["findings", "--key-policy", "corpus/findings/org-wide.json"],
    ];
    for args in runs {
        let outs: Vec<_> =
            ["auto", "z3", "both"].iter().map(|d| kmsproof(&[&["--decider", d][..], args].concat())).collect();
        for (o, d) in outs.iter().zip(["auto", "z3", "both"]) {
            assert_eq!(o.status.code(), outs[0].status.code(), "{args:?} --decider {d}");
            assert_eq!(stdout(o), stdout(&outs[0]), "{args:?} --decider {d}");
        }
    }
}
