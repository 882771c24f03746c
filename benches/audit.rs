//! `kmsproof audit` throughput, with every built-in check (`cargo bench --bench audit`):
//! - the AWS managed policies and the KMS key policies of `../shared/corpus/` (1,511
//!   documents) at `--jobs 1` and `--jobs 2`;
//! - the whole shared corpus (3,149 documents) at `--jobs 2`;
//! - scaling: 1k, 3k, 10k and 30k documents synthesised from the shared corpus's
//!   policies, each copy with its own accounts (every 12-digit number renamed), so the
//!   patterns, partitions and counterexamples differ from copy to copy, at `--jobs 2`.
//!
//! Prints wall time, documents per second, CPU time and peak RSS (VmHWM). Each measurement runs in
//! its own child process so each peak RSS is its own. No timing assertions: the numbers
//! go in the README. `KMSPROOF_AUDIT_BENCH_SCALING=0` skips the scaling runs.

use kmsproof::audit::discover::{Body, Document};
use kmsproof::audit::{audit_all, discover, Settings};
use std::path::{Path, PathBuf};
use std::time::Instant;

const CHILD: &str = "KMSPROOF_AUDIT_BENCH_CHILD";
const SCALING: &[usize] = &[1_000, 3_000, 10_000, 30_000];

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    let bench = [root.join("aws-managed-policies/current"), root.join("kms-key-policies")];
    if !bench.iter().all(|d| d.is_dir()) {
        eprintln!("\n*** SKIPPING audit bench: {} not found ***\n", root.display());
        return;
    }
    if let Ok(spec) = std::env::var(CHILD) {
        return child(&spec, &root, &bench);
    }
    let mut runs = vec!["bench:1".to_string(), "bench:2".into(), "corpus:2".into()];
    if std::env::var("KMSPROOF_AUDIT_BENCH_SCALING").map_or(true, |v| v != "0") {
        runs.extend(SCALING.iter().map(|n| format!("synthetic{n}:2")));
    }
    let exe = std::env::current_exe().expect("bench executable");
    for spec in runs {
        let status = std::process::Command::new(&exe).env(CHILD, &spec).status().expect("run child");
        assert!(status.success(), "bench child {spec} failed");
    }
}

/// One measurement: `SET:JOBS`.
fn child(spec: &str, root: &Path, bench: &[PathBuf]) {
    let (set, jobs) = spec.split_once(':').expect("SET:JOBS");
    let jobs: usize = jobs.parse().expect("jobs");
    let t = Instant::now();
    let (label, docs) = match set {
        "bench" => ("managed + key policies".to_string(), discover(bench)),
        "corpus" => ("whole shared corpus".to_string(), discover(&[root.to_path_buf()])),
        n => {
            let n: usize = n.trim_start_matches("synthetic").parse().expect("synthetic size");
            (format!("synthetic {n}"), synthetic(&discover(&[root.to_path_buf()]), n))
        }
    };
    let settings = Settings::default();
    let results = audit_all(&docs, &settings, jobs, &|_| {}).unwrap_or_else(|e| panic!("{e}"));
    let wall = t.elapsed();
    let findings: usize = results.iter().map(|d| d.findings.len()).sum();
    let solved = results.iter().filter(|d| d.note.is_none() && d.kind != "unreadable" && d.kind != "skipped").count();
    println!(
        "audit {label} --jobs {jobs}: {} documents ({solved} needing the solver), {findings} findings, wall {:.2?}, {:.0} docs/s, {:.2} ms/doc, CPU {:.2} s ({:.2} ms/doc), peak RSS {}",
        docs.len(),
        wall,
        docs.len() as f64 / wall.as_secs_f64(),
        wall.as_secs_f64() * 1e3 / docs.len() as f64,
        cpu_seconds(),
        cpu_seconds() * 1e3 / docs.len() as f64,
        peak_rss()
    );
}

/// `n` policies cycled from the corpus's readable ones; copy `k` of a policy has each
/// 12-digit number shifted to an account of its own, so copies share no account.
fn synthetic(corpus: &[Document], n: usize) -> Vec<Document> {
    let policies: Vec<(&Document, &str)> = corpus
        .iter()
        .filter_map(|d| match &d.body {
            Body::Policy { text, .. } => Some((d, text.as_str())),
            _ => None,
        })
        .collect();
    // A stride coprime to the count visits every policy once per copy in a mixed order,
    // so every size has the corpus's mix (its sorted order starts with identity policies).
    let len = policies.len();
    let stride = (7_919..).find(|s| gcd(*s, len) == 1).unwrap_or(1);
    (0..n)
        .map(|i| {
            let (doc, text) = policies[(i * stride) % len];
            let copy = i / len;
            let text = rename_accounts(text, copy);
            let file = format!("synthetic/{copy}/{}", doc.file);
            Document {
                file: file.clone(),
                location: doc.location.clone(),
                pos: doc.pos,
                body: Body::Policy { text, label: file, exact: true },
                key: doc.key.clone(),
                assumed: doc.assumed.clone(),
            }
        })
        .collect()
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Every run of exactly 12 digits becomes an account of copy `copy` (copy 0 keeps them).
fn rename_accounts(text: &str, copy: usize) -> String {
    if copy == 0 {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut digits = String::new();
    let flush = |digits: &mut String, out: &mut String| {
        if digits.len() == 12 {
            let n: u64 = digits.parse().unwrap_or(0);
            out.push_str(&format!("{:012}", (n + copy as u64 * 7_919) % 1_000_000_000_000));
        } else {
            out.push_str(digits);
        }
        digits.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            flush(&mut digits, &mut out);
            out.push(c);
        }
    }
    flush(&mut digits, &mut out);
    out
}

/// User + system CPU time of this process (`/proc/self/stat`, clock ticks of 1/100 s):
/// on a shared machine, less disturbed by other load than wall time.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// VmHWM from `/proc/self/status` (Linux), e.g. `123456 kB`.
fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l["VmHWM:".len()..].trim().to_string()))
        .unwrap_or_else(|| "unknown".into())
}
