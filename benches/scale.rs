//! The scale inputs of issue 20, end to end through the binary: a 1,000-statement key policy
//! (check, diff, audit), a 50,000-statement key policy (15 MB; check), a 100 KB pattern (`"a*"` × 50,000; check and diff), a 5,000-role
//! account dump (who-can), a 30,000-file audit. Prints, per input, wall time, peak RSS of
//! the child process (`/usr/bin/time -f %M` when present) and the outcome (exit code and the
//! first line of output). No timing assertions: the numbers go in the README and reports.
//!
//! `cargo bench --bench scale`; `KMSPROOF_BENCH_BIN=/path/to/kmsproof` measures another
//! build (e.g. main's, for a before/after table); `KMSPROOF_BENCH_ONLY=pattern` runs the
//! rows whose name contains it; `KMSPROOF_BENCH_LIMIT_S` caps each run (default 300 s).

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const A: &str = "111122223333";

fn key_policy(statements: usize) -> Value {
    let mut st = vec![json!({"Sid": "root", "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{A}:root")},
        "Action": "kms:*", "Resource": "*"})];
    for i in 0..statements {
        st.push(json!({"Sid": format!("s{i}"), "Effect": if i % 3 == 0 { "Deny" } else { "Allow" },
            "Principal": {"AWS": format!("arn:aws:iam::{A}:role/App{i}")},
            "Action": ["kms:Decrypt", "kms:Encrypt", format!("kms:GenerateDataKey{}", if i % 2 == 0 { "*" } else { "" })],
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:EncryptionContext:team": format!("t{i}")},
                          "StringLike": {"kms:ViaService": format!("s{}.*.amazonaws.com", i % 17)}}}));
    }
    json!({"Version": "2012-10-17", "Statement": st})
}

fn pattern_policy() -> Value {
    json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{A}:root")}, "Action": "kms:*", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{A}:role/App")}, "Action": "kms:Decrypt",
         "Resource": "*", "Condition": {"StringLike": {"kms:ViaService": "a*".repeat(50_000)}}}]})
}

fn dump(roles: usize) -> Value {
    let role = |i: usize| {
        json!({"RoleName": format!("app-{i}"), "Arn": format!("arn:aws:iam::{A}:role/app-{i}"), "Path": "/",
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"AWS": if i > 0 { format!("arn:aws:iam::{A}:role/app-{}", i - 1) } else { format!("arn:aws:iam::{A}:root") }},
                "Action": "sts:AssumeRole"}]},
            "RolePolicyList": [{"PolicyName": "p", "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": if i % 10 == 0 { "kms:Decrypt" } else { "s3:GetObject" }, "Resource": "*"}]}}],
            "AttachedManagedPolicies": [], "InstanceProfileList": [], "Tags": []})
    };
    json!({"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": (0..roles).map(role).collect::<Vec<_>>(), "Policies": []})
}

fn write(dir: &Path, name: &str, v: &Value) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_string_pretty(v).unwrap()).unwrap();
    p
}

fn run(bin: &str, name: &str, args: &[&str], limit_s: u64) {
    if std::env::var("KMSPROOF_BENCH_ONLY").is_ok_and(|only| !name.contains(&only)) {
        return;
    }
    let timed = Path::new("/usr/bin/time").exists();
    let rss_file = std::env::temp_dir().join(format!("kmsproof-scale-rss-{}", std::process::id()));
    let mut cmd = if timed {
        let mut c = Command::new("/usr/bin/time");
        c.args(["-f", "%M", "-o", rss_file.to_str().unwrap(), "timeout", &limit_s.to_string(), bin]);
        c
    } else {
        Command::new(bin)
    };
    let t0 = Instant::now();
    let out = cmd.args(args).output().expect("run kmsproof");
    let wall = t0.elapsed();
    let rss = std::fs::read_to_string(&rss_file)
        .ok()
        .and_then(|s| s.lines().last().map(|l| format!("{} MB", l.trim().parse::<u64>().unwrap_or(0) / 1024)))
        .unwrap_or_else(|| "n/a".into());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary = stdout.lines().find(|l| l.contains("documents audited")).or_else(|| stdout.lines().next());
    let first = summary.unwrap_or("").chars().take(110).collect::<String>();
    let code = match out.status.code() {
        Some(124) => "killed at the limit".to_string(),
        Some(c) => format!("exit {c}"),
        None => "signal".into(),
    };
    println!("| {name} | {:.2} s | {rss} | {code}: {first} |", wall.as_secs_f64());
}

fn main() {
    let bin = std::env::var("KMSPROOF_BENCH_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_kmsproof").to_string());
    let limit: u64 = std::env::var("KMSPROOF_BENCH_LIMIT_S").ok().and_then(|s| s.parse().ok()).unwrap_or(300);
    let dir = std::env::temp_dir().join(format!("kmsproof-scale-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kp = write(&dir, "kp1000.json", &key_policy(1_000));
    let mut changed = key_policy(1_000);
    changed["Statement"][500]["Action"] = json!("kms:*");
    let kp_b = write(&dir, "kp1000-b.json", &changed);
    let huge = dir.join("kp50000.json");
    std::fs::write(&huge, key_policy(50_000).to_string()).unwrap();
    let pattern = write(&dir, "pattern100k.json", &pattern_policy());
    let roles = write(&dir, "dump5000.json", &dump(5_000));
    let many = dir.join("audit30000");
    std::fs::create_dir_all(&many).unwrap();
    for i in 0..30_000 {
        let small = key_policy(1 + i % 3);
        std::fs::write(many.join(format!("k{i:05}.json")), small.to_string()).unwrap();
    }
    let s = |p: &PathBuf| p.to_str().unwrap().to_string();
    let (kp, kp_b, huge, pattern, roles, many) = (s(&kp), s(&kp_b), s(&huge), s(&pattern), s(&roles), s(&many));
    println!("binary: {bin}\n\n| input | time | peak RSS | outcome |\n|---|---|---|---|");
    run(
        &bin,
        "check: 1,000-statement key policy",
        &["check", "--key-policy", &kp, "--never", "kms:Decrypt", "--principal", "arn:aws:iam::444455556666:role/*"],
        limit,
    );
    run(&bin, "diff: 1,000-statement key policies", &["diff", &kp, &kp_b], limit);
    run(&bin, "audit: 1,000-statement key policy", &["audit", &kp], limit);
    run(
        &bin,
        "check: 50,000-statement key policy (15 MB), --timeout-ms 10000",
        &[
            "check",
            "--key-policy",
            &huge,
            "--never",
            "kms:Decrypt",
            "--principal",
            "arn:aws:iam::444455556666:role/*",
            "--timeout-ms",
            "10000",
        ],
        limit,
    );
    run(
        &bin,
        "check: 100 KB pattern, --timeout-ms 3000",
        &["check", "--key-policy", &pattern, "--never", "kms:Decrypt", "--timeout-ms", "3000"],
        limit,
    );
    run(&bin, "diff: 100 KB pattern, --timeout-ms 3000", &["diff", &kp_b, &pattern, "--timeout-ms", "3000"], limit);
    run(&bin, "who-can: 5,000-role dump", &["who-can", "--authorization-details", &roles, "--key-policy", &kp], limit);
    run(&bin, "audit: 30,000 files", &["audit", &many], limit);
    let _ = std::fs::remove_dir_all(&dir);
}
