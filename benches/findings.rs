//! `kmsproof findings` on every key policy of `../shared/corpus/kms-key-policies` (the
//! documents with a `Principal`; the IAM policy examples beside them are skipped):
//! time per policy (p50, p99, max), findings per policy (median, max), how many are
//! proved complete, and each exception with its reason (`cargo bench --bench findings`).
//! No timing assertions: the numbers go in `docs/findings.md`.

use kmsproof::findings::{findings, Completeness, Settings};
use kmsproof::model::inputs::IamWorld;
use kmsproof::{parse_policy, Inputs, PolicyKind};
use kmsproof_solver::Limits;
use std::path::{Path, PathBuf};
use std::time::Instant;

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/kms-key-policies");
    if !dir.is_dir() {
        eprintln!("\n*** SKIPPING findings bench: {} not found ***\n", dir.display());
        return;
    }
    let mut paths = vec![];
    files(&dir, &mut paths);
    paths.sort();
    let settings = Settings { world: IamWorld::Open { described: vec![] }, limits: Limits::default() };
    let (mut times, mut counts, mut cells, mut queries) = (vec![], vec![], 0usize, 0usize);
    let mut exceptions = vec![];
    let mut each: Vec<(f64, usize, String)> = vec![];
    for p in &paths {
        let text = std::fs::read_to_string(p).expect("readable");
        let Ok(policy) = parse_policy(&text, &p.display().to_string(), PolicyKind::KeyPolicy) else { continue };
        if !policy.statements.iter().any(|s| s.principal.is_some()) {
            continue;
        }
        let inputs = Inputs {
            key_policy: policy,
            identity: vec![],
            scps: vec![],
            boundary: None,
            grants: vec![],
            management_account: None,
        };
        let key =
            inputs.default_key_arn().unwrap_or_else(|| kmsproof::model::inputs::placeholder_key_arn("111122223333"));
        let t = Instant::now();
        let r = findings(&inputs, &key, &settings).unwrap_or_else(|m| panic!("{}: {m}", p.display()));
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        times.push(ms);
        each.push((ms, r.queries, p.strip_prefix(&dir).unwrap_or(p).display().to_string()));
        counts.push(r.findings.len());
        cells += r.cells_explored;
        queries += r.queries;
        if let Completeness::Unknown(why) = &r.complete {
            exceptions.push(format!("{}: {why}", p.strip_prefix(&dir).unwrap_or(p).display()));
        }
    }
    let n = times.len();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let mut c = counts.clone();
    c.sort();
    println!("findings bench: {n} key policies of {}", dir.display());
    println!(
        "  time per policy: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, total {:.2} s",
        pct(&sorted, 0.5),
        pct(&sorted, 0.99),
        sorted.last().copied().unwrap_or_default(),
        times.iter().sum::<f64>() / 1000.0
    );
    println!(
        "  findings per policy: median {}, max {}; cells explored {cells}, solver queries {queries}",
        c.get(c.len() / 2).copied().unwrap_or_default(),
        c.last().copied().unwrap_or_default()
    );
    println!("  complete: proved on {} of {n}; unknown on {}", n - exceptions.len(), exceptions.len());
    for e in &exceptions {
        println!("    unknown: {e}");
    }
    each.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap());
    println!("  slowest:");
    for (ms, q, p) in each.iter().take(5) {
        println!("    {ms:.1} ms, {q} queries: {p}");
    }
}
