//! Many diffs in one process (#21.4): the 301 real AWS managed-policy version pairs of
//! `../shared/corpus/aws-managed-policies/version-pairs/` as one manifest, compared by
//! `diffset::compare_all` in this process and by one `kmsproof diff --manifest` process,
//! each with the CLI's defaults (3 replayed witnesses per direction, per-action lists),
//! on every core and on one. Prints wall and CPU time of each run (CPU from
//! `/proc/self/stat`: this process's own, and the waited child's), and the verdicts.
//! Run with `cargo bench --bench diffset`. No timing assertions anywhere.

use kmsproof::diffset::{answer, compare_all, pairs, FailOn, Outcome, Settings};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// CPU seconds from `/proc/self/stat`: (this process, its waited children).
fn cpu() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at field 3.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let f: Vec<f64> = rest.split_whitespace().map(|x| x.parse().unwrap_or(0.0)).collect();
    let tick = clock_ticks();
    let at = |field: usize| f.get(field - 3).copied().unwrap_or(0.0) / tick;
    (at(14) + at(15), at(16) + at(17))
}

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// A manifest of every pair (absolute paths), written to a temporary file.
fn manifest(dir: &Path) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect())
        .unwrap_or_default();
    dirs.sort();
    let text: String =
        dirs.iter().map(|d| format!("{}\t{}\n", d.join("old.json").display(), d.join("new.json").display())).collect();
    let path = std::env::temp_dir().join(format!("kmsproof-diffset-bench-{}.txt", std::process::id()));
    std::fs::write(&path, text).expect("temporary manifest written");
    path
}

fn report(name: &str, wall: Duration, cpu: f64, n: usize) {
    println!("{name}: {n} pairs, wall {:.2} s, CPU {:.2} s", wall.as_secs_f64(), cpu);
}

fn in_process(manifest: &Path, jobs: usize) {
    let (cpu0, _) = cpu();
    let start = Instant::now();
    let pairs = pairs::manifest(manifest).expect("manifest readable");
    let settings = Settings { key_arn: None, examples: 3, actions: None, pair_timeout_ms: 10_000 };
    let entries = compare_all(&pairs, &settings, jobs).expect("thread pool");
    let wall = start.elapsed();
    let (cpu1, _) = cpu();
    report(&format!("in process, --jobs {jobs}"), wall, cpu1 - cpu0, entries.len());
    let mut verdicts: BTreeMap<&str, usize> = BTreeMap::new();
    for e in &entries {
        *verdicts.entry(kmsproof::report::diffset::verdict(e)).or_default() += 1;
        if let Outcome::Mismatch(m) = &e.outcome {
            println!("  MISMATCH {}: {m}", e.name);
        }
    }
    println!("  verdicts {verdicts:?}; answer {}", answer(&entries, FailOn::More).as_str());
}

fn whole_process(manifest: &Path, jobs: usize) {
    let n = std::fs::read_to_string(manifest).unwrap_or_default().lines().count();
    let (_, child0) = cpu();
    let start = Instant::now();
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_kmsproof"))
        .args(["diff", "--format", "jsonl", "--jobs", &jobs.to_string(), "--manifest"])
        .arg(manifest)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("kmsproof runs");
    let wall = start.elapsed();
    let (_, child1) = cpu();
    report(
        &format!("one `kmsproof diff --manifest` process, --jobs {jobs} (exit {:?})", status.code()),
        wall,
        child1 - child0,
        n,
    );
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = root.join("../shared/corpus/aws-managed-policies/version-pairs");
    if !shared.is_dir() {
        eprintln!("\n*** SKIPPING the diffset bench: {} not found ***\n", shared.display());
        return;
    }
    let m = manifest(&shared);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    whole_process(&m, cores);
    whole_process(&m, 1);
    in_process(&m, cores);
    let _ = std::fs::remove_file(&m);
}
