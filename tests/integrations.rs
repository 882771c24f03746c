//! What a user installs and wires into CI: `--version` (with Z3's), shell completions and
//! the man page, the GitHub Action's two steps (`action/*.sh`, as `action.yml` runs them)
//! and the pre-commit hooks' entries, each run on `examples/`. The GitHub side (SARIF
//! upload, job summaries) cannot run here.

use super::util::{kmsproof, root, stderr, stdout, temp_dir};
use std::path::Path;
use std::process::Command;

/// The subcommands every generated artefact must mention.
const COMMANDS: &[&str] = &["eval", "check", "diff", "audit", "explain", "who-can", "can", "completions", "man"];

#[test]
fn version_names_kmsproof_and_z3() {
    let o = kmsproof(&["--version"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let line = stdout(&o);
    // Debian's libz3 is Z3 4; the static build (`--features static-z3`) compiles Z3 5.
    let z3 = line.strip_prefix(&format!("kmsproof {} (Z3 ", env!("CARGO_PKG_VERSION")));
    assert!(z3.is_some_and(|v| v.starts_with("4.") || v.starts_with("5.")), "{line}");
    assert!(line.contains("system libz3") || line.contains("linked statically"), "{line}");
}

#[test]
fn completions_for_every_shell_know_every_command() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let o = kmsproof(&["completions", shell]);
        assert_eq!(o.status.code(), Some(0), "{shell}: {}", stderr(&o));
        let script = stdout(&o);
        for c in COMMANDS {
            assert!(script.contains(c), "{shell} completions miss `{c}`");
        }
        assert!(script.contains("key-policy") && script.contains("fail-on"), "{shell}: flags missing");
    }
    let o = kmsproof(&["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(2), "an unknown shell is bad input");
}

#[test]
fn man_page_documents_every_command_and_flag() {
    let o = kmsproof(&["man"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let page = stdout(&o);
    assert!(page.starts_with(".ie"), "roff expected: {}", &page[..page.len().min(80)]);
    assert!(page.contains(".TH kmsproof 1"), "no title");
    for c in COMMANDS {
        assert!(page.contains(&format!(".SH \"KMSPROOF {}\"", c.to_uppercase())), "no section for `{c}`");
    }
    assert!(page.contains(r"\-\-key\-policy") && page.contains(r"\-\-fail\-on"), "flags missing");
}

fn bash(script: &Path, env: &[(&str, &str)], dir: &Path) -> std::process::Output {
    let mut cmd = Command::new("bash");
    cmd.arg(script).current_dir(dir).env("KMSPROOF", env!("CARGO_BIN_EXE_kmsproof"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run bash")
}

/// `examples/` holds a key policy that passes and a pull request's version that fails
/// (`key-policy-pr.json` lets every account use the key through EC2 or Lambda).
#[test]
fn action_audit_step_writes_sarif_and_fails_on_examples_findings() {
    let sarif = temp_dir("integrations").join("examples.sarif");
    let env =
        [("KMSPROOF_PATHS", "examples"), ("KMSPROOF_FAIL_ON", "high"), ("KMSPROOF_SARIF", sarif.to_str().unwrap())];
    let o = bash(&root().join("action/audit.sh"), &env, &root());
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&sarif).unwrap()).unwrap();
    assert_eq!(v["version"], "2.1.0");
    assert_eq!(v["runs"][0]["tool"]["driver"]["name"], "kmsproof");
    let results = v["runs"][0]["results"].as_array().unwrap();
    assert!(!results.is_empty(), "{v}");
    for r in results {
        let uri = r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].as_str().unwrap_or_default();
        assert!(uri.ends_with("key-policy-pr.json"), "{r}");
    }
}

#[test]
fn action_audit_step_passes_a_clean_policy() {
    let sarif = temp_dir("integrations").join("clean.sarif");
    let env = [
        ("KMSPROOF_PATHS", "examples/key-policy.json examples/request.json"),
        ("KMSPROOF_SARIF", sarif.to_str().unwrap()),
    ];
    let o = bash(&root().join("action/audit.sh"), &env, &root());
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&sarif).unwrap()).unwrap();
    assert_eq!(v["runs"][0]["results"].as_array().map(Vec::len), Some(0), "{v}");
}

fn git(dir: &Path, args: &[&str]) {
    let o = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git");
    assert!(o.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

/// The pull-request step on a repository whose change widens `examples/key-policy.json`:
/// the job summary says the new version is more permissive.
#[test]
fn action_diff_step_summarises_a_changed_policy() {
    let dir = temp_dir("integrations-diff");
    let _ = std::fs::remove_dir_all(dir.join(".git"));
    let policy = std::fs::read_to_string(root().join("examples/key-policy.json")).unwrap();
    std::fs::write(dir.join("key-policy.json"), &policy).unwrap();
    git(&dir, &["init", "-q"]);
    git(&dir, &["add", "key-policy.json"]);
    git(&dir, &["commit", "-q", "-m", "base"]);
    // The App statement handed to another account: new access (widening only the
    // kms:ViaService list would change nothing, since the root statement delegates to the
    // account's IAM, assumed to allow everything when compared alone).
    let widened = policy.replace("arn:aws:iam::111122223333:role/App", "arn:aws:iam::444455556666:root");
    assert_ne!(widened, policy);
    std::fs::write(dir.join("key-policy.json"), widened).unwrap();
    let summary = dir.join("summary.md");
    let env = [("KMSPROOF_BASE", "HEAD"), ("KMSPROOF_PATHS", "."), ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap())];
    let o = bash(&root().join("action/diff.sh"), &env, &dir);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(0), "{err}");
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.to_lowercase().contains("more-permissive") || md.to_lowercase().contains("more permissive"), "{md}");
}

#[test]
fn pre_commit_hooks_run_their_entry_on_examples() {
    let text = std::fs::read_to_string(root().join(".pre-commit-hooks.yaml")).unwrap();
    let docs = yaml_rust2::YamlLoader::load_from_str(&text).unwrap();
    let hooks = docs[0].as_vec().expect("a list of hooks");
    assert!(!hooks.is_empty());
    for hook in hooks {
        let entry = hook["entry"].as_str().unwrap();
        let mut words = entry.split_whitespace();
        assert_eq!(words.next(), Some("kmsproof"), "{entry}");
        let files = ["examples/key-policy.json", "examples/request.json", "examples/properties.json"];
        let args: Vec<&str> = words.chain(files).collect();
        let o = kmsproof(&args);
        assert_eq!(o.status.code(), Some(0), "{entry}: {}", stderr(&o));
        assert!(stdout(&o).contains("1 key policies"), "{}", stdout(&o));
    }
}

/// A binary built with `--features static-z3` needs no libz3 (`cargo test --features
/// static-z3` asks it; the default build links the system's, which is checked instead).
#[test]
fn a_static_z3_build_links_no_libz3() {
    let version = stdout(&kmsproof(&["--version"]));
    let Ok(o) = Command::new("ldd").arg(env!("CARGO_BIN_EXE_kmsproof")).output() else {
        eprintln!("SKIPPED: no ldd on this machine");
        return;
    };
    let libs = String::from_utf8_lossy(&o.stdout);
    let links_libz3 = libs.lines().any(|l| l.trim_start().starts_with("libz3"));
    assert_eq!(links_libz3, !version.contains("linked statically"), "{version}\n{libs}");
}
