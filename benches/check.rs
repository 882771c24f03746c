//! Per-property `check` latency over the corpus property files (`corpus/properties/`).
//! Run with `cargo bench --bench check`; prints p50/p99/max and the total, measured in
//! this process on this machine (no timing assertions anywhere: numbers go in the README).

use kmsproof::model::property::load_property_set;
use kmsproof::prove::check::check;
use kmsproof_solver::Limits;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("corpus/properties"))
        .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.to_string_lossy().ends_with(".props.json")).collect())
        .unwrap_or_default();
    files.sort();
    let rounds: usize = std::env::var("KMSPROOF_BENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(5);
    let mut samples: Vec<Duration> = Vec::new();
    for f in &files {
        let set = load_property_set(f).unwrap_or_else(|e| panic!("{e}"));
        let (inputs, key_arn, props) = (&set.inputs, &set.key_arn, &set.properties);
        for p in props {
            for round in 0..rounds + 1 {
                let t = Instant::now();
                let r =
                    check(inputs, key_arn, std::slice::from_ref(p), 1, Limits::default()).expect("no replay mismatch");
                let took = t.elapsed();
                std::hint::black_box(r);
                if round > 0 {
                    samples.push(took); // round 0 warms the thread's solver
                }
            }
        }
    }
    baseline(&files);
    samples.sort();
    let pct = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    let total: Duration = samples.iter().sum();
    println!("check: {} property runs ({} rounds) from {} files", samples.len(), rounds, files.len());
    println!(
        "  p50 {:.2?}  p90 {:.2?}  p99 {:.2?}  max {:.2?}  total {:.2?}",
        pct(0.5),
        pct(0.9),
        pct(0.99),
        samples[samples.len() - 1],
        total
    );
}

/// The same queries through Z3's string theory: time per query and agreement with the
/// partition encoding (sat vs unsat), one round each.
fn baseline(files: &[PathBuf]) {
    use kmsproof_solver::{baseline::solve_string_theory, solve, Outcome};
    let (mut part, mut strs) = (Vec::new(), Vec::new());
    let (mut skipped, mut undecided, mut disagree) = (0, 0, 0);
    for f in files {
        let set = load_property_set(f).unwrap_or_else(|e| panic!("{e}"));
        for p in &set.properties {
            let Ok(q) = kmsproof::prove::check::query(&set.inputs, &set.key_arn, p) else {
                continue;
            };
            let (enc, goal) = (&q.enc, q.goal());
            let t = Instant::now();
            let a = solve(enc.vocabulary(), goal, Limits::default(), 1);
            part.push(t.elapsed());
            let t = Instant::now();
            let b = solve_string_theory(enc.vocabulary(), goal, 5_000);
            let took = t.elapsed();
            match (&a, &b) {
                (_, Outcome::Unknown(why)) if why.contains("sets") => skipped += 1,
                (_, Outcome::Unknown(_)) => {
                    undecided += 1;
                    strs.push(took);
                }
                (Outcome::Sat(_), Outcome::Sat(_)) | (Outcome::Unsat, Outcome::Unsat) => strs.push(took),
                _ => {
                    disagree += 1;
                    strs.push(took);
                }
            }
        }
    }
    part.sort();
    strs.sort();
    let pct = |v: &[Duration], q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    println!(
        "baseline (one round): partition p50 {:.2?} p99 {:.2?} over {} queries",
        pct(&part, 0.5),
        pct(&part, 0.99),
        part.len()
    );
    if !strs.is_empty() {
        println!(
            "  string theory p50 {:.2?} p99 {:.2?} over {} queries; {undecided} undecided in 5 s, {disagree} disagreements, {skipped} skipped (sets)",
            pct(&strs, 0.5),
            pct(&strs, 0.99),
            strs.len()
        );
    }
}
