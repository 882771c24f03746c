//! The `kmsproof` binary end to end: outputs, exit codes, error messages.

use super::util::{kmsproof_with as run, root, stderr, stdout};
use std::path::{Path, PathBuf};

fn temp_file(name: &str, text: &str) -> PathBuf {
    super::util::temp_file("cli", name, text)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn bundled_example_is_allowed_with_explanation() {
    let o = run(&["eval", "--key-policy", "examples/key-policy.json", "--request", "examples/request.json"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("ALLOW (allowed)"), "{out}");
    assert!(out.contains("* Allow key-policy \"Allow use of the key only through EC2 and Lambda\""), "{out}");
}

#[test]
fn json_output_has_the_documented_shape() {
    let req =
        std::fs::read_to_string(root().join("examples/request.json")).unwrap().replace("ec2.us-east-1", "s3.us-east-1");
    let o =
        run(&["eval", "--key-policy", "examples/key-policy.json", "--request", "-", "--format", "json"], Some(&req));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["decision"], "deny");
    assert_eq!(v["reason"], "implicit-deny");
    let st = &v["statements"][1];
    assert_eq!(st["policy"], "examples/key-policy.json");
    assert_eq!(st["statement"], "\"Allow use of the key only through EC2 and Lambda\"");
    assert_eq!(st["applies"], false);
    assert!(st["detail"].as_str().unwrap().contains("kms:ViaService"));
    assert_eq!(v["request"]["context"]["kms:CallerAccount"], "111122223333");
}

#[test]
fn policy_errors_name_file_line_column_and_path() {
    let bad = temp_file("bad.json", "{\n  \"Statement\": [{\n    \"Effect\": \"Allow\",\n    \"Principal\": \"*\",\n    \"Action\": \"kms:Decrypt\",\n    \"Resource\": \"*\",\n    \"Condition\": {\"StringEqualz\": {\"kms:ViaService\": \"x\"}}\n  }]\n}\n");
    let o = run(&["eval", "--key-policy", s(&bad), "--request", "examples/request.json"], None);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains(
            "bad.json:7:19: error: at Statement[0].Condition.StringEqualz: unknown condition operator \"StringEqualz\""
        ),
        "{err}"
    );
    assert!(stdout(&o).is_empty());
}

#[test]
fn request_errors_and_missing_files_exit_2() {
    let o = run(
        &["eval", "--key-policy", "examples/key-policy.json", "--request", "-"],
        Some(r#"{"principal": "arn:aws:iam::111122223333:role/App", "action": "kms:Decrpyt"}"#),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("<stdin>:1:63: error: at action: \"kms:Decrpyt\" is not a KMS action"),
        "{}",
        stderr(&o)
    );
    let o = run(&["eval", "--key-policy", "nope.json", "--request", "examples/request.json"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cannot read nope.json"), "{}", stderr(&o));
    let o = run(&["eval", "--request", "-", "--key-policy", "-"], Some("{}"));
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["eval", "--frobnicate"], None);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn cli_wrappers_and_warnings() {
    let inner = std::fs::read_to_string(root().join("examples/key-policy.json"))
        .unwrap()
        .replace("kms:Decrypt\",", "kms:Decrpyt\",");
    let wrapped = serde_json::json!({"Policy": inner, "PolicyName": "default"}).to_string();
    let f = temp_file("get-key-policy.json", &wrapped);
    let o = run(&["eval", "--key-policy", s(&f), "--request", "examples/request.json"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(
            "warning: at Statement[1].Action: \"kms:Decrpyt\" matches no KMS action (did you mean kms:Decrypt?)"
        ),
        "{}",
        stderr(&o)
    );
}

#[test]
fn identity_policy_grant_scp_and_boundary_flags() {
    let kp = temp_file(
        "root.json",
        r#"{"Statement": {"Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "kms:*", "Resource": "*"}}"#,
    );
    let idp = temp_file(
        "idp.json",
        r#"{"PolicyVersion": {"Document": {"Statement": {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}}}}"#,
    );
    let scp = temp_file("scp.json", r#"{"Statement": {"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*"}}"#);
    let req = std::fs::read_to_string(root().join("examples/request.json")).unwrap();
    let args = ["eval", "--key-policy", s(&kp), "--identity-policy", s(&idp), "--request", "-", "--format", "json"];
    let o = run(&args, Some(&req));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["decision"], "allow", "{v}");
    let mut with_scp = args.to_vec();
    with_scp.extend(["--scp", s(&scp)]);
    let o = run(&with_scp, Some(&req));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["reason"], "implicit-deny", "{v}");
    assert!(v["summary"].as_str().unwrap().contains("SCP"), "{v}");
}
