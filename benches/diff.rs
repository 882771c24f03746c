//! `diff` latency over the real AWS managed-policy version pairs of
//! `../shared/corpus/aws-managed-policies/version-pairs/` (301 old/new pairs) and the
//! `corpus/diffs/` key-policy edits. Run with `cargo bench --bench diff`: prints p50/p90/
//! p99/max per pair (parse + both directions), the total in one process, and the slowest
//! pairs, twice: with the CLI's defaults (3 replayed witnesses per direction, and for key
//! policies the per-action list of up to 60 actions) and verdict-only (one witness per
//! direction, no action list). No timing assertions anywhere: numbers go in the README.

use kmsproof::model::load::read_source;
use kmsproof::prove::diff::{diff, DiffOptions, Side};
use kmsproof_solver::Limits;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn pair_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect())
        .unwrap_or_default();
    out.sort();
    out
}

/// The verdict and one witness per direction.
fn verdict_only() -> DiffOptions {
    DiffOptions { examples: 1, actions: 1, limits: Limits::default() }
}

/// Parses and diffs one pair; returns the verdict.
/// `opts: None`: the CLI's defaults for the pair's kind.
fn run(dir: &Path, opts: Option<DiffOptions>) -> String {
    let side = |name: &str| {
        let (text, label) = read_source(&dir.join(name)).expect("readable pair");
        Side::from_policy_text(&text, &label).expect("parsable pair")
    };
    let (old, new) = (side("old.json"), side("new.json"));
    let opts = opts.unwrap_or_else(|| DiffOptions::defaults_for(&old, kmsproof::prove::diff::EXAMPLES));
    let key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    diff(&old, &new, key, opts).expect("no replay mismatch").verdict.as_str().to_string()
}

fn measure(name: &str, dirs: &[PathBuf], opts: Option<DiffOptions>) {
    if dirs.is_empty() {
        println!("{name}: no pairs found (skipped)");
        return;
    }
    let _ = run(&dirs[0], opts); // warms the thread's solver
    let start = Instant::now();
    let mut samples: Vec<(Duration, String, String)> = dirs
        .iter()
        .map(|d| {
            let t = Instant::now();
            let verdict = run(d, opts);
            (t.elapsed(), d.file_name().unwrap_or_default().to_string_lossy().to_string(), verdict)
        })
        .collect();
    let wall = start.elapsed();
    samples.sort();
    let pct = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize].0;
    println!("{name}: {} pairs, total {:.2?} in one process (one thread)", samples.len(), wall);
    println!(
        "  p50 {:.2?}  p90 {:.2?}  p99 {:.2?}  max {:.2?}",
        pct(0.5),
        pct(0.9),
        pct(0.99),
        samples[samples.len() - 1].0
    );
    for (t, n, v) in samples.iter().rev().take(5) {
        println!("  slowest: {n} {t:.2?} ({v})");
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let defaults = None;
    measure("corpus/diffs, CLI defaults", &pair_dirs(&root.join("corpus/diffs")), defaults);
    measure("corpus/diffs, verdict only", &pair_dirs(&root.join("corpus/diffs")), Some(verdict_only()));
    let shared = root.join("../shared/corpus/aws-managed-policies/version-pairs");
    if !shared.is_dir() {
        eprintln!("\n*** SKIPPING version pairs: {} not found ***\n", shared.display());
    }
    let pairs = pair_dirs(&shared);
    measure("version pairs, CLI defaults", &pairs, defaults);
    measure("version pairs, verdict only", &pairs, Some(verdict_only()));
    parallel("version pairs, verdict only", &pairs, 2, Some(verdict_only()));
}

/// All pairs again on `threads` threads of one process (each thread with its own solver):
/// the wall time a CI job with that many cores sees.
fn parallel(name: &str, dirs: &[PathBuf], threads: usize, opts: Option<DiffOptions>) {
    use rayon::prelude::*;
    if dirs.is_empty() {
        return;
    }
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("a thread pool");
    let start = Instant::now();
    let verdicts: Vec<String> = pool.install(|| dirs.par_iter().map(|d| run(d, opts)).collect());
    println!("{name}: {} pairs on {threads} threads, wall {:.2?}", verdicts.len(), start.elapsed());
}
