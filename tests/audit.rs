//! `kmsproof audit`: each check's positive and negative corpus policies, snapshots of the
//! finding text, the command's exit codes, sharding, determinism, SARIF structure, and a
//! crash-free audit of `../shared/corpus/` (skipped loudly when absent).
//!
//! Snapshots live in `corpus/audit/snapshots/`; `KMSPROOF_BLESS=1 cargo test --test tests audit::`
//! rewrites them (review the diff before committing).

use kmsproof::audit::checks::CHECKS;
use kmsproof::audit::discover::{documents_in, Document};
use kmsproof::audit::{audit_all, audit_document, DocResult, Settings};
use kmsproof::report::audit::finding_text;
use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn settings() -> Settings {
    Settings::default()
}

/// The corpus files under `corpus/audit/`, relative to the project root, sorted.
fn corpus_files() -> Vec<String> {
    let mut out = Vec::new();
    for dir in ["corpus/audit", "corpus/audit/formats", "corpus/audit/console-defaults"] {
        let mut names: Vec<String> = std::fs::read_dir(root().join(dir))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .map(|p| format!("{dir}/{}", p.file_name().unwrap().to_string_lossy()))
            .collect();
        names.sort();
        out.extend(names);
    }
    out
}

/// The settings a corpus file is audited with: a check that needs account dumps
/// (`Scope::Account`) reads its files with `corpus/audit/{id}-account.json`.
fn settings_for(rel: &str) -> Settings {
    let mut s = settings();
    for c in CHECKS.iter().filter(|c| c.scope == kmsproof::audit::checks::Scope::Account) {
        let dump = format!("corpus/audit/{}-account.json", c.id.to_ascii_lowercase());
        if rel.starts_with(&format!("corpus/audit/{}-", c.id.to_ascii_lowercase())) && rel != dump {
            let text = std::fs::read_to_string(root().join(&dump)).unwrap();
            s.accounts.push(kmsproof::whocan::gaad::parse_account(&text, &dump).unwrap_or_else(|e| panic!("{e}")));
        }
    }
    s
}

fn audit_file(rel: &str) -> Vec<DocResult> {
    let text = std::fs::read_to_string(root().join(rel)).unwrap();
    let settings = settings_for(rel);
    documents_in(rel, &text).iter().map(|d| audit_document(d, &settings).unwrap_or_else(|m| panic!("{m}"))).collect()
}

/// The snapshot form: one header line per document, then its findings' text.
fn snapshot_text(results: &[DocResult]) -> String {
    let mut out = String::new();
    for d in results {
        let loc = if d.location.is_empty() { String::new() } else { format!(" [{}]", d.location) };
        out.push_str(&format!("document {}{loc}: {}\n", d.file, d.kind));
        for f in &d.findings {
            out.push_str(&finding_text(f));
        }
    }
    out
}

/// Every `kmsNNN-…pos.json` has a finding of check KMSNNN and every `kmsNNN-…neg.json`
/// none (and neither is undecided); each check has at least `-pos` and `-neg`.
#[test]
fn each_check_has_a_positive_and_a_negative_policy() {
    let mut failures = Vec::new();
    let files = corpus_files();
    for c in CHECKS.iter().filter(|c| c.run.is_some()) {
        let prefix = format!("corpus/audit/{}-", c.id.to_ascii_lowercase());
        for must in ["pos.json", "neg.json"] {
            if !files.contains(&format!("{prefix}{must}")) {
                failures.push(format!("{prefix}{must} is missing"));
            }
        }
        for rel in files.iter().filter(|f| f.starts_with(&prefix)) {
            let want = rel.ends_with("pos.json");
            let results = audit_file(rel);
            let got = results.iter().flat_map(|d| &d.findings).any(|f| f.check == c.id);
            let undecided = results.iter().flat_map(|d| &d.findings).any(|f| f.check == "AUD002");
            if got != want || undecided {
                let what = if want { "a" } else { "no" };
                failures.push(format!("{rel}: expected {what} {} finding\n{}", c.id, snapshot_text(&results)));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The AWS console's default key policies (symmetric with key administrators, key users
/// and "Allow attachment of persistent resources"; HMAC in CloudFormation with `KeySpec`;
/// RSA signing in terraform) audit clean: what AWS recommends is not flagged. The same
/// symmetric policy on a key of unknown spec does give KMS004 (the signing, MAC and
/// agreement operations then count), so the key spec is what makes it clean.
#[test]
fn console_default_key_policies_audit_clean() {
    let dir = "corpus/audit/console-defaults";
    let mut names: Vec<_> = std::fs::read_dir(root().join(dir)).unwrap().flatten().map(|e| e.file_name()).collect();
    names.sort();
    assert!(names.len() >= 4, "{names:?}");
    let mut noisy = Vec::new();
    for n in &names {
        let results = audit_file(&format!("{dir}/{}", n.to_string_lossy()));
        assert!(results.iter().all(|d| d.kind == "key-policy"), "{}", snapshot_text(&results));
        if results.iter().any(|d| !d.findings.is_empty()) {
            noisy.push(snapshot_text(&results));
        }
    }
    assert!(noisy.is_empty(), "console defaults must audit clean:\n{}", noisy.join("\n"));
    let rel = format!("{dir}/symmetric.json");
    let text = std::fs::read_to_string(root().join(&rel)).unwrap();
    let mut doc = documents_in(&rel, &text).remove(0);
    doc.key.spec = Some("NOT_A_KEY_SPEC".into());
    let r = audit_document(&doc, &settings()).unwrap();
    assert!(r.findings.iter().any(|f| f.check == "KMS004" && f.message.contains("Sign")), "{}", snapshot_text(&[r]));
}

#[test]
fn finding_text_matches_the_snapshots() {
    let bless = std::env::var_os("KMSPROOF_BLESS").is_some();
    let mut failures = Vec::new();
    for rel in corpus_files() {
        let got = snapshot_text(&audit_file(&rel));
        let name = rel.trim_start_matches("corpus/audit/").replace('/', "-");
        let snap = root().join("corpus/audit/snapshots").join(format!("{name}.txt"));
        if bless {
            std::fs::write(&snap, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&snap).unwrap_or_default();
        if want != got {
            failures.push(format!("{}:\n--- expected\n{want}--- got\n{got}", snap.display()));
        }
    }
    assert!(failures.is_empty(), "snapshot mismatches (KMSPROOF_BLESS=1 rewrites them):\n{}", failures.join("\n"));
}

fn run(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kmsproof"))
        .arg("audit")
        .args(args)
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kmsproof");
    if let Some(text) = stdin {
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    } else {
        drop(child.stdin.take());
    }
    child.wait_with_output().unwrap()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn exit_codes() {
    for bad in [
        vec!["--shard", "2/2", "corpus/audit"],
        vec!["--shard", "x", "corpus/audit"],
        vec!["--min-severity", "severe", "corpus/audit"],
        vec!["--checks", "KMS999", "corpus/audit"],
        vec!["--jobs", "0", "corpus/audit"],
        vec!["--format", "xml", "corpus/audit"],
        vec![],
    ] {
        let o = run(&bad, None);
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", String::from_utf8_lossy(&o.stderr));
    }
    assert_eq!(run(&["corpus/audit/kms001-pos.json"], None).status.code(), Some(1));
    assert_eq!(run(&["corpus/audit/kms001-neg.json"], None).status.code(), Some(0));
    // A medium finding fails only when --fail-on asks for it.
    assert_eq!(run(&["corpus/audit/kms005-pos.json"], None).status.code(), Some(0));
    assert_eq!(run(&["--fail-on", "medium", "corpus/audit/kms005-pos.json"], None).status.code(), Some(1));
    let stdin = std::fs::read_to_string(root().join("corpus/audit/kms001-pos.json")).unwrap();
    let o = run(&["--format", "jsonl", "-"], Some(&stdin));
    assert_eq!(o.status.code(), Some(1));
    assert!(out(&o).contains("\"file\":\"<stdin>\"") && out(&o).contains("KMS001"), "{}", out(&o));
}

#[test]
fn shards_concatenate_and_jobs_do_not_change_the_output() {
    let full = out(&run(&["--format", "jsonl", "--jobs", "2", "corpus/audit"], None));
    let mut shards = String::new();
    for i in 0..3 {
        shards.push_str(&out(&run(
            &["--format", "jsonl", "--jobs", "1", "--shard", &format!("{i}/3"), "corpus/audit"],
            None,
        )));
    }
    let sorted = |s: &str| {
        let mut v: Vec<String> = s.lines().map(str::to_string).collect();
        v.sort();
        v
    };
    assert!(full.lines().count() > 20);
    assert_eq!(sorted(&full), sorted(&shards));
    let one = out(&run(&["--format", "json", "--jobs", "1", "corpus/audit"], None));
    let two = out(&run(&["--format", "json", "--jobs", "2", "corpus/audit"], None));
    assert_eq!(one, two);
}

/// The parts of SARIF 2.1.0 that GitHub code scanning requires, checked field by field
/// (the schema itself cannot be downloaded here).
#[test]
fn sarif_has_the_required_structure() {
    let o = run(&["--format", "sarif", "corpus/audit"], None);
    let v: Value = serde_json::from_str(&out(&o)).expect("SARIF is JSON");
    assert_eq!(v["version"], "2.1.0");
    assert!(v["$schema"].as_str().is_some_and(|s| s.contains("sarif-2.1.0")));
    let runs = v["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 1);
    let driver = &runs[0]["tool"]["driver"];
    assert_eq!(driver["name"], "kmsproof");
    assert!(driver["informationUri"].as_str().is_some_and(|u| u.starts_with("https://")));
    assert!(driver["version"].is_string());
    let rules = driver["rules"].as_array().expect("rules");
    let levels = ["none", "note", "warning", "error"];
    for r in rules {
        for field in ["id", "name"] {
            assert!(r[field].is_string(), "rule {field}: {r}");
        }
        for field in ["shortDescription", "fullDescription", "help"] {
            assert!(r[field]["text"].as_str().is_some_and(|t| !t.is_empty()), "rule {field}: {r}");
        }
        assert!(levels.contains(&r["defaultConfiguration"]["level"].as_str().unwrap_or("")), "{r}");
        let score: f64 = r["properties"]["security-severity"].as_str().and_then(|s| s.parse().ok()).expect("score");
        assert!((0.0..=10.0).contains(&score));
    }
    let results = runs[0]["results"].as_array().expect("results");
    assert!(!results.is_empty());
    for r in results {
        let id = r["ruleId"].as_str().expect("ruleId");
        let index = r["ruleIndex"].as_u64().expect("ruleIndex") as usize;
        assert_eq!(rules[index]["id"], id);
        assert!(levels.contains(&r["level"].as_str().unwrap_or("")), "{r}");
        assert!(r["message"]["text"].as_str().is_some_and(|t| !t.is_empty()));
        let loc = &r["locations"][0]["physicalLocation"];
        let uri = loc["artifactLocation"]["uri"].as_str().expect("uri");
        assert!(!uri.starts_with('/') && !uri.contains('\\') && !uri.contains(' '), "relative URI: {uri}");
        if let Some(region) = loc.get("region") {
            assert!(region["startLine"].as_u64().is_some_and(|l| l >= 1), "{region}");
            assert!(region["startColumn"].as_u64().is_some_and(|c| c >= 1), "{region}");
        }
    }
    let kms001 = results.iter().find(|r| r["ruleId"] == "KMS001").expect("a KMS001 result");
    assert!(kms001["message"]["text"].as_str().unwrap().contains("\"principal\""), "counterexample in the message");
}

/// Audits `../shared/corpus/` without a crash (no replay mismatch) and prints the counts.
/// Debug builds audit every fourth document to stay fast on 2 cores; release builds
/// (`cargo test --release audit::shared`) audit all of it.
#[test]
fn shared_corpus_audits_without_a_crash() {
    let dir = root().join("../shared/corpus");
    if !dir.is_dir() {
        eprintln!(
            "\n*** SKIPPING shared-corpus audit: {} not found (it lives beside the project root) ***\n",
            dir.display()
        );
        return;
    }
    let step = if cfg!(debug_assertions) { 4 } else { 1 };
    let docs: Vec<Document> = kmsproof::audit::discover(&[dir]).into_iter().step_by(step).collect();
    let t = std::time::Instant::now();
    let results = audit_all(&docs, &settings(), 2, &|_| {}).unwrap_or_else(|e| panic!("{e}"));
    let mut counts = std::collections::BTreeMap::new();
    for f in results.iter().flat_map(|d| &d.findings) {
        *counts.entry(f.check).or_insert(0usize) += 1;
    }
    let kinds = |k: &str| results.iter().filter(|d| d.kind == k).count();
    eprintln!(
        "shared corpus audit (every {step}th document): {} documents ({} key, {} identity, {} unreadable, {} skipped) in {:.1?}; findings {counts:?}",
        results.len(),
        kinds("key-policy"),
        kinds("identity-policy"),
        kinds("unreadable"),
        kinds("skipped"),
        t.elapsed()
    );
    assert!(results.len() * step >= 3000, "expected about 3,100 documents, found {}", results.len() * step);
}

#[test]
fn missing_paths_and_empty_runs_are_bad_input() {
    let o = run(&["--format", "jsonl", "corpus/audit/no-such-file.json"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("no-such-file.json: no such file"), "{}", err(&o));
    let empty = std::env::temp_dir().join(format!("kmsproof-empty-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let o = run(&[empty.to_str().unwrap()], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("nothing to audit"), "{}", err(&o));
    std::fs::remove_dir_all(&empty).ok();
}

#[test]
fn user_properties_are_asked_of_every_key_policy() {
    let props = std::env::temp_dir().join(format!("kmsproof-audit-props-{}.json", std::process::id()));
    std::fs::write(&props, r#"[{"name": "no decrypt by Partner", "expect": "never", "principal": {"AWS": "arn:aws:iam::444455556666:root"}, "action": "kms:Decrypt"}]"#).unwrap();
    let p = props.to_string_lossy().to_string();
    let o = run(
        &[
            "--format",
            "jsonl",
            "--checks",
            "KMS009",
            "--properties",
            &p,
            "corpus/audit/kms002-pos.json",
            "corpus/audit/kms002-neg.json",
        ],
        None,
    );
    let text = out(&o);
    assert_eq!(text.matches("AUD003").count(), 1, "{text}");
    assert!(text.contains("no decrypt by Partner") && text.contains("kms002-pos.json"), "{text}");
    let bad = run(&["--properties", "corpus/audit/no-such-props.json", "corpus/audit"], None);
    assert_eq!(bad.status.code(), Some(2));
    let _ = std::fs::remove_file(props);
}

fn run_cmd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kmsproof")).args(args).current_dir(root()).output().expect("spawn kmsproof")
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("kmsproof-audit-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn json_of(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", out(o)))
}

/// `--baseline`: findings of an earlier JSON (or SARIF) output are held back and counted;
/// only new ones are shown and decide the exit code.
#[test]
fn baseline_shows_only_new_findings() {
    let dir = temp_dir("baseline");
    let old = ["corpus/audit/kms004-pos.json", "corpus/audit/kms005-pos.json"];
    for format in ["json", "sarif"] {
        let o = run(&[&["--format", format], &old[..]].concat(), None);
        let base = dir.join(format!("old.{format}"));
        std::fs::write(&base, &o.stdout).unwrap();
        let base = base.to_string_lossy().into_owned();
        let o = run(&[&["--format", "json", "--fail-on", "low", "--baseline", &base], &old[..]].concat(), None);
        let v = json_of(&o);
        assert_eq!(v["findings"].as_array().unwrap().len(), 0, "{format}: {v}");
        assert_eq!(v["baselined"], 3, "{format}: {v}");
        assert_eq!(o.status.code(), Some(0), "{format}: everything is in the baseline");
        let o = run(&["--format", "json", "--baseline", &base, old[0], old[1], "corpus/audit/kms001-pos.json"], None);
        let v = json_of(&o);
        let checks: Vec<&str> =
            v["findings"].as_array().unwrap().iter().map(|f| f["check"].as_str().unwrap()).collect();
        assert!(
            !checks.is_empty()
                && checks.iter().all(|c| c.starts_with("KMS00") && *c != "KMS004" && *c != "KMS005")
                && checks.contains(&"KMS001"),
            "{format}: {checks:?}"
        );
        assert_eq!(o.status.code(), Some(1), "{format}: the new critical finding fails");
    }
    let bad = dir.join("bad.json");
    std::fs::write(&bad, "{\"nothing\": 1}").unwrap();
    let o = run(&["--baseline", &bad.to_string_lossy(), "corpus/audit/kms001-pos.json"], None);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("bad.json"));
}

/// An ignore file rule (check + path glob + optional Sid + reason) suppresses findings;
/// each is listed with its reason in every format, never dropped; a rule without a
/// reason is a bad invocation naming the line.
#[test]
fn ignore_file_suppressions_are_listed_with_their_reason() {
    let dir = temp_dir("ignore");
    let rules = dir.join("ignore");
    std::fs::write(
        &rules,
        "# reviewed suppressions\nKMS005 corpus/audit/kms005-*.json -- office network only, reviewed in SEC-1\nKMS004 corpus/audit/kms004-*.json sid=NoSuchSid -- does not match\n",
    )
    .unwrap();
    let rules = rules.to_string_lossy().into_owned();
    let files = ["corpus/audit/kms005-pos.json", "corpus/audit/kms004-pos.json"];
    let o = run(&[&["--format", "json", "--fail-on", "medium", "--ignore-file", &rules], &files[..]].concat(), None);
    let v = json_of(&o);
    let shown: Vec<&str> = v["findings"].as_array().unwrap().iter().map(|f| f["check"].as_str().unwrap()).collect();
    assert!(!shown.contains(&"KMS005") && shown.contains(&"KMS004"), "{shown:?}");
    let sup = v["suppressed"].as_array().unwrap();
    assert_eq!(sup.len(), 1, "{v}");
    assert_eq!(sup[0]["check"], "KMS005");
    assert_eq!(sup[0]["suppressed"]["reason"], "office network only, reviewed in SEC-1");
    assert!(sup[0]["suppressed"]["by"].as_str().unwrap().ends_with(":2"), "{}", sup[0]);
    let table = out(&run(&["--ignore-file", &rules, files[0]], None));
    assert!(table.contains("1 suppressed") && table.contains("office network only, reviewed in SEC-1"), "{table}");
    let o = run(&["--format", "sarif", "--ignore-file", &rules, files[0]], None);
    let sarif = json_of(&o);
    let res = &sarif["runs"][0]["results"][0];
    assert_eq!(res["suppressions"][0]["kind"], "external", "{res}");
    // The only finding is suppressed: --fail-on medium passes.
    assert_eq!(run(&["--fail-on", "medium", "--ignore-file", &rules, files[0]], None).status.code(), Some(0));
    let bad = dir.join("bad-ignore");
    std::fs::write(&bad, "\nKMS005 corpus/audit/*.json\n").unwrap();
    let o = run(&["--ignore-file", &bad.to_string_lossy(), files[0]], None);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bad-ignore:2") && err.contains("reason"), "{err}");
}

/// A `Sid` containing `kmsproof-ignore-KMS005` suppresses that check's findings on the
/// statement (listed as inline, SARIF `inSource`); other checks on the file still report.
#[test]
fn inline_sid_marker_suppresses_its_check_on_its_statement() {
    let file = "corpus/audit/suppress/inline-marker.json";
    let v = json_of(&run(&["--format", "json", file], None));
    let shown: Vec<&str> = v["findings"].as_array().unwrap().iter().map(|f| f["check"].as_str().unwrap()).collect();
    assert!(!shown.contains(&"KMS005") && shown.contains(&"KMS004"), "{shown:?}");
    let sup = v["suppressed"].as_array().unwrap();
    assert_eq!(sup.len(), 1, "{v}");
    assert_eq!(sup[0]["check"], "KMS005");
    assert_eq!(sup[0]["suppressed"]["kind"], "inline");
    assert!(sup[0]["suppressed"]["reason"].as_str().unwrap().contains("kmsproof-ignore-KMS005"));
    let sarif = json_of(&run(&["--format", "sarif", file], None));
    let kinds: Vec<&Value> = sarif["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["suppressions"][0].get("kind"))
        .collect();
    assert_eq!(kinds, vec![&Value::from("inSource")]);
    // Without the marker the same statement gives KMS005.
    let text = std::fs::read_to_string(root().join(file)).unwrap().replace("kmsproof-ignore-KMS005", "reviewed");
    let v = json_of(&run(&["--format", "json", "-"], Some(&text)));
    assert!(v["findings"].as_array().unwrap().iter().any(|f| f["check"] == "KMS005"), "{v}");
}

/// `kmsproof explain ID`: rationale, fix and the example pair from the check table; every
/// check explains; an unknown id is a bad invocation.
#[test]
fn explain_prints_rationale_example_and_fix() {
    let o = run_cmd(&["explain", "kms004"]);
    assert_eq!(o.status.code(), Some(0));
    let text = out(&o);
    for want in [
        "KMS004",
        "Why it matters:",
        "SYMMETRIC_DEFAULT",
        "Fix:",
        "kms:GrantIsForAWSResource",
        "Example that gives this finding (corpus/audit/kms004-pos.json)",
        "Example that passes",
    ] {
        assert!(text.contains(want), "{want}:\n{text}");
    }
    for c in CHECKS {
        let o = run_cmd(&["explain", c.id]);
        assert_eq!(o.status.code(), Some(0), "{}", c.id);
        assert!(out(&o).contains(c.rationale), "{}", c.id);
    }
    assert!(out(&run_cmd(&["explain"])).contains("KMS009"));
    assert_eq!(run_cmd(&["explain", "KMS999"]).status.code(), Some(2));
}

fn html_of(files: &[&str]) -> String {
    let o = run(&[&["--format", "html"], files].concat(), None);
    String::from_utf8(o.stdout).unwrap()
}

/// The HTML page is one self-contained document (no script, no external resource) with the
/// summary, a section per file, counterexamples and statements, input escaped.
#[test]
fn html_report_is_self_contained_and_escaped() {
    let page = html_of(&["corpus/audit/suppress/inline-marker.json", "corpus/audit/kms001-pos.json"]);
    assert!(page.starts_with("<!DOCTYPE html>") && page.trim_end().ends_with("</html>"));
    for want in [
        "id=\"summary\"",
        "<section id=\"findings\">",
        "corpus/audit/kms001-pos.json",
        "class=\"request\"",
        "class=\"statement\"",
        "id=\"suppressed\"",
        "Grants &lt;script&gt;alert(1)&lt;/script&gt; &amp; more",
    ] {
        assert!(page.contains(want), "{want}");
    }
    for never in ["<script", "src=", "@import", "url("] {
        assert!(!page.contains(never), "{never}");
    }
    // Links stay within the page (the summary's index of findings).
    assert!(page.match_indices("href=").all(|(i, _)| page[i..].starts_with("href=\"#")), "an external link");
}

/// Renders the page in headless Chromium and asserts on the DOM it built. Skipped loudly
/// when `chromium` is missing — except in CI (`CI=true`), where `.ci/run` installs it and
/// a missing browser fails.
#[test]
fn html_report_renders_in_headless_chromium() {
    let browser = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|b| Command::new(b).arg("--version").output().is_ok_and(|o| o.status.success()));
    let Some(browser) = browser else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("chromium is not installed: .ci/run installs it (Debian package `chromium`)");
        }
        eprintln!("\n*** SKIPPED html_report_renders_in_headless_chromium: chromium not found (apt-get install chromium) ***\n");
        return;
    };
    let dir = temp_dir("html");
    let page = dir.join("report.html");
    std::fs::write(&page, html_of(&["corpus/audit/suppress/inline-marker.json", "corpus/audit/kms001-pos.json"]))
        .unwrap();
    let o = Command::new(browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && dom.contains("<body>"), "chromium failed: {}", String::from_utf8_lossy(&o.stderr));
    // The browser parsed the sections and kept the escaped Sid as text, not as a script.
    assert_eq!(dom.matches("<section id=\"findings\">").count(), 1, "{dom}");
    assert!(dom.contains("<p id=\"summary\">2 documents audited"), "{dom}");
    assert!(dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !dom.contains("<script"), "{dom}");
    assert!(dom.contains("assumed-role/App/kmsproof-session"), "counterexample request missing");
    assert!(dom.contains("suppressed: Sid"), "suppression reason missing");
}

/// The key spec comes from the input (CloudFormation `KeySpec`/`KeyUsage`, terraform
/// `customer_master_key_spec`/`key_usage`), else `--key-spec`; it decides which operations
/// KMS004 counts; an unknown `--key-spec` is a bad invocation.
#[test]
fn key_spec_from_the_input_or_the_flag() {
    let read = |rel: &str| documents_in(rel, &std::fs::read_to_string(root().join(rel)).unwrap());
    let cfn = read("corpus/audit/console-defaults/cloudformation.json");
    let specs: Vec<_> = cfn.iter().map(|d| (d.key.spec.as_deref(), d.key.usage.as_deref())).collect();
    assert_eq!(specs, vec![(Some("HMAC_256"), Some("GENERATE_VERIFY_MAC")), (None, None)]);
    let tf = read("corpus/audit/console-defaults/terraform-show.json");
    assert_eq!((tf[0].key.spec.as_deref(), tf[0].key.usage.as_deref()), (Some("RSA_2048"), Some("SIGN_VERIFY")));
    let file = "corpus/audit/kms004-escalation-pos.json";
    let message = |spec: &str| {
        let v = json_of(&run(&["--format", "json", "--checks", "KMS004", "--key-spec", spec, file], None));
        v["findings"].as_array().unwrap().iter().map(|f| f["message"].as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    let symmetric = message("SYMMETRIC_DEFAULT").join("\n");
    assert!(symmetric.contains("GenerateDataKey") && !symmetric.contains("Sign"), "{symmetric}");
    let hmac = message("hmac_256").join("\n");
    assert!(hmac.contains("GenerateMac") && !hmac.contains("GenerateDataKey"), "{hmac}");
    let o = run(&["--key-spec", "AES_999", file], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("SYMMETRIC_DEFAULT"));
}

#[test]
fn user_properties_take_principal_patterns() {
    let props = std::env::temp_dir().join(format!("kmsproof-audit-pattern-props-{}.json", std::process::id()));
    std::fs::write(&props, r#"[{"name": "no decrypt by any principal of Partner", "expect": "never", "principal": "arn:aws:iam::444455556666:*", "action": "kms:Decrypt"}]"#).unwrap();
    let p = props.to_string_lossy().to_string();
    let args = ["--format", "jsonl", "--checks", "KMS009", "--properties", &p];
    let o = run(&[&args[..], &["corpus/audit/kms002-pos.json", "corpus/audit/kms002-neg.json"]].concat(), None);
    let text = out(&o);
    assert_eq!(text.matches("AUD003").count(), 1, "{text}");
    assert!(text.contains("no decrypt by any principal of Partner") && text.contains("kms002-pos.json"), "{text}");
    let _ = std::fs::remove_file(props);
}

/// KMS010 with account dumps: the finding carries the who-can path (each hop's witness
/// replayed), is the same for any --jobs and shard, and needs --authorization-details.
#[test]
fn who_can_finding_with_account_dumps() {
    let dump = "corpus/audit/kms010-account.json";
    let files = ["corpus/audit/kms010-pos.json", "corpus/audit/kms010-neg.json", "corpus/audit/kms001-pos.json"];
    let with = |extra: &[&str]| {
        let mut args = vec!["--format", "jsonl", "--authorization-details", dump];
        args.extend(extra);
        args.extend(files);
        out(&run(&args, None))
    };
    let full = with(&["--jobs", "2"]);
    let mut shards = String::new();
    for i in 0..2 {
        shards.push_str(&with(&["--jobs", "1", "--shard", &format!("{i}/2")]));
    }
    let sorted = |s: &str| {
        let mut v: Vec<String> = s.lines().map(str::to_string).collect();
        v.sort();
        v
    };
    assert_eq!(sorted(&full), sorted(&shards));
    assert_eq!(with(&["--jobs", "1"]), with(&["--jobs", "2"]));
    let findings: Vec<Value> = full
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["type"] == "finding" && v["check"] == "KMS010")
        .collect();
    // pos: the user of a 2-role chain (medium) and the user who adds itself to a group (high);
    // neg (the key names its users): none.
    let on = |file: &str| findings.iter().filter(|f| f["file"] == file).collect::<Vec<_>>();
    let pos = on(files[0]);
    assert_eq!(pos.len(), 2, "{full}");
    assert!(on(files[1]).is_empty(), "{full}");
    let chain = pos.iter().find(|f| f["message"].as_str().unwrap().contains("user/chain")).unwrap();
    assert_eq!(chain["severity"], "medium");
    let path = chain["path"].as_array().unwrap();
    assert_eq!(path.len(), 3, "two hops and the last hop");
    assert_eq!(path[0]["witnesses"][0]["request"]["principal"], "arn:aws:iam::111122223333:user/chain");
    assert_eq!(path[1]["witnesses"][0]["request"]["resource"], "arn:aws:iam::111122223333:role/Reader");
    assert_eq!(path[2]["last_hop"]["request"], chain["counterexample"]);
    let esc = pos.iter().find(|f| f["message"].as_str().unwrap().contains("user/escalator")).unwrap();
    assert_eq!(esc["severity"], "high");
    assert_eq!(esc["path"][0]["technique"], "iam:AddUserToGroup");
    // The direct user and the one-hop user are what the key policy shows: no finding.
    assert!(!pos.iter().any(|f| f["message"].as_str().unwrap().contains("user/direct (")));
    assert!(!pos.iter().any(|f| f["message"].as_str().unwrap().contains("user/one-hop")));
    // The last hop's request is allowed by the evaluator (replayed here once more, with
    // the role's own policies from the dump).
    let text = std::fs::read_to_string(root().join(dump)).unwrap();
    let account = kmsproof::whocan::gaad::parse_account(&text, dump).unwrap();
    let reader = account.roles.iter().find(|r| r.name == "Reader").unwrap();
    let inputs = kmsproof::model::inputs::Inputs {
        key_policy: kmsproof::model::load::load_policy(
            &root().join(files[0]),
            kmsproof::model::policy::PolicyKind::KeyPolicy,
        )
        .unwrap(),
        identity: account.role_policies(reader),
        scps: vec![],
        boundary: None,
        grants: vec![],
        management_account: None,
    };
    let req = kmsproof::Request::parse(&chain["counterexample"].to_string(), "<finding>").unwrap();
    assert!(kmsproof::eval::authorize(&inputs, &req).allowed());
    // Without dumps KMS010 does not run; asked for by name it is an error.
    let o = run(&["--checks", "KMS010", files[0]], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("needs account dumps"));
    let plain = out(&run(&["--format", "jsonl", files[0]], None));
    assert!(!plain.contains("KMS010"), "{plain}");
    // A malformed dump is a positioned error.
    let o = run(&["--authorization-details", "corpus/who-can/key-policy.json", files[0]], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("get-account-authorization-details"));
    // The HTML report shows the path.
    let html = out(&run(&["--format", "html", "--authorization-details", dump, files[0]], None));
    assert!(html.contains("Who-can path") && html.contains("sts:AssumeRole → arn:aws:iam::111122223333:role/Hop1"));
}

/// KMS010 reads the key as `who-can` does: its real ARN (here a `"KeyArn"` beside
/// `"Policy"`), the grants on that key and the SCPs. The grant on the key lets role/Reader
/// decrypt, so user/chain reaches it through two roles; the same grant is not on another
/// key (`--key-arn`), an SCP denying the decrypt removes the path, and a grant that names a
/// key the input does not tie to the policy is undecided, never clean.
#[test]
fn who_can_finding_reads_the_real_key_grants_and_scps() {
    let dump = "corpus/audit/kms010-account.json";
    let key = "corpus/audit/kms010-graph/key-policy.json";
    let grants = "corpus/audit/kms010-graph/grants.json";
    let scp = "corpus/audit/kms010-graph/scp-deny-decrypt.json";
    let findings = |extra: &[&str], file: &str| -> Vec<Value> {
        let mut args = vec!["--format", "jsonl", "--checks", "KMS010", "--authorization-details", dump];
        args.extend(extra);
        args.push(file);
        out(&run(&args, None))
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|v| v["type"] == "finding")
            .collect()
    };
    assert!(findings(&[], key).is_empty(), "without the grant Reader cannot decrypt");
    let with_grant = findings(&["--grant", grants], key);
    assert_eq!(with_grant.len(), 1, "{with_grant:?}");
    let f = &with_grant[0];
    assert_eq!(f["check"], "KMS010");
    assert!(f["message"].as_str().unwrap().contains("user/chain"), "{f}");
    let real = "arn:aws:kms:eu-west-1:111122223333:key/0a1b2c3d-1111-2222-3333-444455556666";
    assert_eq!(f["counterexample"]["resource"], real, "the last hop asks about the real key");
    assert!(findings(&["--grant", grants, "--scp", scp], key).is_empty(), "the SCP denies the decrypt");
    // A plain key policy: the grant is on the key --key-arn names, or on none known.
    let plain = "corpus/audit/kms010-neg.json";
    let other = "arn:aws:kms:eu-west-1:111122223333:key/99999999-1111-2222-3333-444455556666";
    assert!(findings(&["--grant", grants, "--key-arn", other], plain).is_empty());
    let unplaced = findings(&["--grant", grants], plain);
    assert_eq!(unplaced.len(), 1, "{unplaced:?}");
    assert_eq!(unplaced[0]["check"], "AUD002");
    assert!(unplaced[0]["message"].as_str().unwrap().contains("--key-arn"), "{unplaced:?}");
    // Grants and SCPs without account dumps, or a bad --key-arn: errors, not ignored.
    for bad in [vec!["--grant", grants, plain], vec!["--scp", scp, plain], vec!["--key-arn", "alias/x", plain]] {
        assert_eq!(run(&bad, None).status.code(), Some(2), "{bad:?}");
    }
}
