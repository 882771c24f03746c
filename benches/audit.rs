//! `kmsproof audit` throughput over the AWS managed policies and the KMS key policies of
//! `../shared/corpus/`, with every built-in check, at `--jobs 1` and `--jobs 2`.
//! Run with `cargo bench --bench audit`; prints wall time, documents per second and peak
//! RSS (VmHWM). Each `--jobs` setting runs in its own child process so each peak RSS is
//! its own. No timing assertions: the numbers go in the README.

use kmsproof::audit::{audit_all, discover, Settings};
use kmsproof_solver::Limits;
use std::path::Path;
use std::time::Instant;

const CHILD: &str = "KMSPROOF_AUDIT_BENCH_JOBS";

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    let dirs = [root.join("aws-managed-policies/current"), root.join("kms-key-policies")];
    if !dirs.iter().all(|d| d.is_dir()) {
        eprintln!("\n*** SKIPPING audit bench: {} not found ***\n", root.display());
        return;
    }
    if let Some(jobs) = std::env::var(CHILD).ok().and_then(|j| j.parse::<usize>().ok()) {
        return measure(&dirs, jobs);
    }
    let exe = std::env::current_exe().expect("bench executable");
    for jobs in [1, 2] {
        let status = std::process::Command::new(&exe).env(CHILD, jobs.to_string()).status().expect("run child");
        assert!(status.success(), "bench child for --jobs {jobs} failed");
    }
}

fn measure(dirs: &[std::path::PathBuf], jobs: usize) {
    let t = Instant::now();
    let docs = discover(dirs);
    let settings = Settings { checks: Settings::all_checks(), properties: vec![], limits: Limits::default() };
    let results = audit_all(&docs, &settings, jobs, &|_| {}).unwrap_or_else(|e| panic!("{e}"));
    let wall = t.elapsed();
    let findings: usize = results.iter().map(|d| d.findings.len()).sum();
    let solved = results.iter().filter(|d| d.note.is_none() && d.kind != "unreadable" && d.kind != "skipped").count();
    println!(
        "audit --jobs {jobs}: {} documents ({solved} needing the solver), {findings} findings, wall {:.2?}, {:.0} docs/s, peak RSS {}",
        docs.len(),
        wall,
        docs.len() as f64 / wall.as_secs_f64(),
        peak_rss()
    );
}

/// VmHWM from `/proc/self/status` (Linux), e.g. `123456 kB`.
fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l["VmHWM:".len()..].trim().to_string()))
        .unwrap_or_else(|| "unknown".into())
}
