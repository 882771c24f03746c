//! `kmsproof diff` end to end: verdicts, witnesses in request format, exit codes, errors.

use super::util::{kmsproof as run, stderr as err, stdout as out};
use std::path::PathBuf;

fn pair(name: &str) -> (String, String) {
    let dir = PathBuf::from("corpus/diffs").join(name);
    (dir.join("old.json").display().to_string(), dir.join("new.json").display().to_string())
}

#[test]
fn more_permissive_change_fails_with_replayable_witness() {
    let (old, new) = pair("14-add-external-account");
    let o = run(&["diff", &old, &new, "--format", "json"]);
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    let v: serde_json::Value = serde_json::from_str(&out(&o)).unwrap();
    assert_eq!(v["verdict"], "more-permissive");
    assert_eq!(v["old_allows_status"]["status"], "none");
    let w = &v["new_allows"][0];
    assert_eq!(v["key"], "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab");
    assert!(w["summary"].as_str().unwrap().contains("(account 777788889999)"), "{w}");
    assert_eq!(w["new_decision"], "allowed");
    assert!(!w["new_statements"].as_array().unwrap().is_empty());
    // The witness is a request `kmsproof eval` reads, and NEW allows it.
    let req = std::env::temp_dir().join(format!("kmsproof-diff-{}.json", std::process::id()));
    std::fs::write(&req, w["request"].to_string()).unwrap();
    let e = run(&["eval", "--key-policy", &new, "--request", req.to_str().unwrap()]);
    assert_eq!(e.status.code(), Some(0), "{}", err(&e));
}

#[test]
fn reordering_is_equivalent_and_exits_zero() {
    let (old, new) = pair("01-reorder-statements");
    let o = run(&["diff", &old, &new]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert!(out(&o).starts_with("EQUIVALENT (proved: unsat in both directions)"), "{}", out(&o));
}

#[test]
fn fail_on_decides_the_exit_code() {
    let (old, new) = pair("11-viaservice-tighten");
    let less = run(&["diff", &old, &new]);
    assert_eq!(less.status.code(), Some(0), "less permissive passes --fail-on more: {}", out(&less));
    assert!(out(&less).starts_with("LESS-PERMISSIVE"), "{}", out(&less));
    let any = run(&["diff", &old, &new, "--fail-on", "any", "--examples", "2"]);
    assert_eq!(any.status.code(), Some(1));
    assert!(out(&any).contains("No longer allowed (OLD allows, NEW denies):\n  1. "), "{}", out(&any));
}

#[test]
fn identity_policies_are_compared_over_any_service() {
    let dir = std::env::temp_dir().join(format!("kmsproof-diff-id-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let doc = |actions: &str| {
        format!(
            r#"{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", "Action": {actions}, "Resource": "*"}}]}}"#
        )
    };
    std::fs::write(dir.join("old.json"), doc(r#"["s3:GetObject", "ec2:Describe*"]"#)).unwrap();
    std::fs::write(dir.join("new.json"), doc(r#"["s3:Get*", "ec2:Describe*"]"#)).unwrap();
    let o = run(&[
        "diff",
        dir.join("old.json").to_str().unwrap(),
        dir.join("new.json").to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    let v: serde_json::Value = serde_json::from_str(&out(&o)).unwrap();
    assert_eq!(v["verdict"], "more-permissive");
    let action = v["new_allows"][0]["request"]["action"].as_str().unwrap().to_ascii_lowercase();
    assert!(action.starts_with("s3:get") && action != "s3:getobject", "{action}");
}

#[test]
fn bad_input_and_mixed_kinds_are_clear_errors() {
    let o = run(&["diff", "corpus/diffs/01-reorder-statements/old.json"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("give OLD and NEW policy files"), "{}", err(&o));
    let o = run(&[
        "diff",
        "corpus/diffs/01-reorder-statements/old.json",
        "corpus/identity-policies/ip01-decrypt-this-key.json",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("compare policies of one kind"), "{}", err(&o));
    let o = run(&["diff", "corpus/diffs/01-reorder-statements/old.json", "no-such-file.json"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("no-such-file.json"), "{}", err(&o));
}

#[test]
fn set_form_compares_whole_authorization_contexts() {
    let o = run(&[
        "diff",
        "--old-key-policy",
        "corpus/key-policies/kp01-default.json",
        "--new-key-policy",
        "corpus/key-policies/kp01-default.json",
        "--new-identity-policy",
        "corpus/identity-policies/ip01-decrypt-this-key.json",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}{}", out(&o), err(&o));
    assert!(out(&o).contains("kms:Decrypt is newly allowed"), "{}", out(&o));
}

#[test]
fn git_mode_compares_with_a_revision() {
    let o = run(&["diff", "--git", "HEAD", "corpus/key-policies/kp01-default.json"]);
    // A clean checkout of the file equals HEAD's; outside a git checkout, a clear error.
    match o.status.code() {
        Some(0) => assert!(out(&o).starts_with("EQUIVALENT"), "{}", out(&o)),
        Some(2) => assert!(err(&o).contains("git"), "{}", err(&o)),
        other => panic!("unexpected exit {other:?}: {}{}", out(&o), err(&o)),
    }
}

/// The per-action summary: every action the change newly allows (here the nine the new
/// statement gives account 777788889999, by hand from `new.json`), complete by Z3's
/// `unsat`, each with a request that `eval` allows under NEW and denies under OLD.
#[test]
fn action_list_names_every_newly_allowed_action() {
    let (old, new) = pair("14-add-external-account");
    let text = run(&["diff", &old, &new]);
    assert!(out(&text).contains("Newly allowed actions (all 9; unsat for any other action):\n"), "{}", out(&text));
    let o = run(&["diff", &old, &new, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out(&o)).unwrap();
    let list = &v["new_allows_actions"];
    assert_eq!(list["end"], "complete");
    let mut actions: Vec<&str> =
        list["actions"].as_array().unwrap().iter().map(|a| a["action"].as_str().unwrap()).collect();
    actions.sort();
    let want = [
        "kms:Decrypt",
        "kms:DescribeKey",
        "kms:Encrypt",
        "kms:GenerateDataKey",
        "kms:GenerateDataKeyPair",
        "kms:GenerateDataKeyPairWithoutPlaintext",
        "kms:GenerateDataKeyWithoutPlaintext",
        "kms:ReEncryptFrom",
        "kms:ReEncryptTo",
    ];
    assert_eq!(actions, want);
    assert_eq!(list["groups"][0]["who"], "a principal of account 777788889999", "{list}");
    assert_eq!(v["old_allows_actions"]["actions"].as_array().map(Vec::len), Some(0));
    // As `diff` of key policies alone assumes: the caller's IAM policies allow everything.
    let iam = std::env::temp_dir().join(format!("kmsproof-diff-any-iam-{}.json", std::process::id()));
    std::fs::write(
        &iam,
        r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}"#,
    )
    .unwrap();
    let req = std::env::temp_dir().join(format!("kmsproof-diff-actions-{}.json", std::process::id()));
    for a in list["actions"].as_array().unwrap() {
        std::fs::write(&req, a["request"].to_string()).unwrap();
        let (iam, req) = (iam.to_str().unwrap(), req.to_str().unwrap());
        let on = |policy: &str| run(&["eval", "--key-policy", policy, "--identity-policy", iam, "--request", req]);
        assert!(out(&on(&new)).starts_with("ALLOW"), "NEW must allow {}", a["request"]);
        assert!(out(&on(&old)).starts_with("DENY"), "OLD must deny {}", a["request"]);
    }
    // A lower cap says the list may go on.
    let capped = run(&["diff", &old, &new, "--actions", "4", "--examples", "2"]);
    assert!(
        out(&capped).contains("Newly allowed actions (the first 4; more may follow: raise --actions):"),
        "{}",
        out(&capped)
    );
}

/// The set form says which callers each side's policies bind, and the management account
/// takes its principals out of the SCPs (issue 13).
#[test]
fn set_form_says_which_callers_each_side_binds() {
    let kp = "corpus/key-policies/kp43-management-account.json";
    let (ip, scp) = ("corpus/identity-policies/ip21-allow-kms.json", "corpus/scps/scp03-deny-all-kms.json");
    let base = ["--old-key-policy", kp, "--old-identity-policy", ip, "--old-scp", scp];
    let new = ["--new-key-policy", kp, "--new-identity-policy", ip, "--new-scp", scp];
    let o = run(&[&["diff"], &base[..], &new[..]].concat());
    let text = out(&o);
    assert!(text.starts_with("EQUIVALENT"), "{text}");
    assert!(
        text.contains("scope (old): the 1 scp(s) given bind") && text.contains("scope (new): the 1 identity-policy(s)"),
        "{text}"
    );
    let o = run(&[&["diff"], &base[..], &new[..], &["--new-management-account", "111122223333"]].concat());
    assert!(out(&o).starts_with("MORE-PERMISSIVE"), "{}", out(&o));
    assert!(out(&o).contains("not principals of the management account 111122223333"), "{}", out(&o));
}
