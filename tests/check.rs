//! `kmsproof check` end to end: verdicts, exit codes, and counterexamples that `eval`
//! reads back to the same decision.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn kmsproof(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kmsproof"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .output()
        .expect("run kmsproof")
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
}

fn temp(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kmsproof-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

const ALLOW_ALL_KMS: &str =
    r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}}"#;

#[test]
fn bundled_properties_hold() {
    let o =
        kmsproof(&["check", "--key-policy", "examples/key-policy.json", "--properties", "examples/properties.json"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stdout));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("HOLDS (proved: Z3 unsat): Decrypt only through EC2 or Lambda (the account root user aside)"),
        "{out}"
    );
}

#[test]
fn violations_come_with_counterexamples_that_eval_confirms() {
    let idp = temp("allow-all.json", ALLOW_ALL_KMS);
    let idp = idp.to_str().unwrap();
    let o = kmsproof(&[
        "check",
        "--key-policy",
        "examples/key-policy.json",
        "--identity-policy",
        idp,
        "--properties",
        "examples/properties.json",
        "--format",
        "json",
        "--examples",
        "3",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v = json(&o);
    let first = &v["results"][0];
    assert_eq!(first["verdict"], "violated");
    assert!(first["examples"].as_array().unwrap().len() >= 2, "{first}");
    let statements = first["statements"].as_array().unwrap();
    assert!(statements.iter().any(|s| s["statement"] == "\"Enable IAM User Permissions\""), "{first}");
    for example in first["examples"].as_array().unwrap() {
        let req = temp("cex.json", &example["request"].to_string());
        let e = kmsproof(&[
            "eval",
            "--key-policy",
            "examples/key-policy.json",
            "--identity-policy",
            idp,
            "--request",
            req.to_str().unwrap(),
            "--format",
            "json",
        ]);
        assert_eq!(json(&e)["decision"], "allow", "{example}");
        let via = example["request"]["context"]["kms:ViaService"].as_str().unwrap_or("none");
        assert!(!via.starts_with("ec2.") && !via.starts_with("lambda."), "{via}");
    }
}

#[test]
fn inline_form() {
    let o = kmsproof(&[
        "check",
        "--key-policy",
        "examples/key-policy.json",
        "--never",
        "kms:Decrypt",
        "--where",
        "StringNotLike kms:ViaService ec2.*.amazonaws.com lambda.*.amazonaws.com",
    ]);
    assert_eq!(o.status.code(), Some(1), "the account's root user is not limited by ViaService");
    assert!(String::from_utf8_lossy(&o.stdout).contains(r#""principal":"arn:aws:iam::111122223333:root""#));
    let root_aside = "StringNotEquals aws:PrincipalType Account";
    let via = "StringNotLike kms:ViaService ec2.*.amazonaws.com lambda.*.amazonaws.com";
    let o = kmsproof(&[
        "check",
        "--key-policy",
        "examples/key-policy.json",
        "--never",
        "kms:Decrypt",
        "--where",
        via,
        "--where",
        root_aside,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stdout));
    let o = kmsproof(&[
        "check",
        "--key-policy",
        "examples/key-policy.json",
        "--sometimes",
        "kms:Decrypt",
        "--principal",
        "arn:aws:iam::111122223333:role/App",
        "--format",
        "json",
    ]);
    assert_eq!(json(&o)["results"][0]["verdict"], "holds");
    let o = kmsproof(&[
        "check",
        "--key-policy",
        "examples/key-policy.json",
        "--never",
        "kms:Decrypt",
        "--where",
        "StringNotLike",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("expected OPERATOR KEY VALUE"));
}

#[test]
fn caller_account_with_everyone_is_not_open_to_other_accounts() {
    // The seed's AWS-managed-key shape: Principal "*" limited by kms:CallerAccount.
    let kp = temp(
        "managed.json",
        r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"},
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:DescribeKey"], "Resource": "*",
            "Condition": {"StringEquals": {"kms:CallerAccount": "111122223333", "kms:ViaService": "ec2.us-west-2.amazonaws.com"}}},
           {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": ["kms:Describe*", "kms:Get*", "kms:List*"], "Resource": "*"}]}"#,
    );
    let props = temp(
        "props.json",
        r#"[{"name": "outsiders never", "expect": "never", "action": "kms:*", "condition": {"StringNotEquals": {"aws:PrincipalAccount": "111122223333"}}},
            {"name": "only through EBS", "expect": "never", "action": ["kms:Decrypt", "kms:Encrypt"], "condition": {"StringNotEqualsIfExists": {"kms:ViaService": "ec2.us-west-2.amazonaws.com"}}},
            {"name": "account users can use EBS", "expect": "sometimes", "principal": {"AWS": "arn:aws:iam::111122223333:user/alice"}, "action": "kms:Decrypt"}]"#,
    );
    let idp = temp("allow-all.json", ALLOW_ALL_KMS);
    let o = kmsproof(&[
        "check",
        "--key-policy",
        kp.to_str().unwrap(),
        "--properties",
        props.to_str().unwrap(),
        "--format",
        "json",
        "--key-arn",
        "arn:aws:kms:us-west-2:111122223333:key/k1",
    ]);
    let v = json(&o);
    assert_eq!(v["results"][1]["verdict"], "holds", "{v}");
    assert_eq!(v["results"][2]["verdict"], "holds", "{v}");
    // Outsiders: only the non-key actions their own IAM policies allow; the key itself is closed.
    let o = kmsproof(&[
        "check",
        "--key-policy",
        kp.to_str().unwrap(),
        "--identity-policy",
        idp.to_str().unwrap(),
        "--never",
        "kms:Decrypt,kms:Encrypt,kms:CreateGrant",
        "--where",
        "StringNotEquals aws:PrincipalAccount 111122223333",
        "--key-arn",
        "arn:aws:kms:us-west-2:111122223333:key/k1",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stdout));
}

#[test]
fn source_ip_deny_blocks_integrated_services() {
    let allow = r#"{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/App"}, "Action": "kms:Decrypt", "Resource": "*"}"#;
    let naive = temp(
        "naive.json",
        &format!(
            r#"{{"Version": "2012-10-17", "Statement": [{allow}, {{"Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*", "Condition": {{"NotIpAddress": {{"aws:SourceIp": "192.0.2.0/24"}}}}}}]}}"#
        ),
    );
    let fixed = temp(
        "fixed.json",
        &format!(
            r#"{{"Version": "2012-10-17", "Statement": [{allow}, {{"Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*", "Condition": {{"NotIpAddress": {{"aws:SourceIp": "192.0.2.0/24"}}, "Bool": {{"aws:ViaAWSService": "false"}}}}}}]}}"#
        ),
    );
    let props = temp(
        "ip-props.json",
        r#"[{"name": "EBS can decrypt for App from EC2's address", "expect": "sometimes", "principal": {"AWS": "arn:aws:iam::111122223333:role/App"}, "action": "kms:Decrypt",
        "condition": {"StringLike": {"kms:ViaService": "ec2.*.amazonaws.com"}, "Bool": {"aws:ViaAWSService": "true"}, "NotIpAddress": {"aws:SourceIp": "192.0.2.0/24"}}}]"#,
    );
    let run = |kp: &PathBuf| {
        json(&kmsproof(&[
            "check",
            "--key-policy",
            kp.to_str().unwrap(),
            "--properties",
            props.to_str().unwrap(),
            "--format",
            "json",
            "--key-arn",
            "arn:aws:kms:us-east-1:111122223333:key/k1",
        ]))
    };
    assert_eq!(run(&naive)["results"][0]["verdict"], "violated");
    assert_eq!(run(&fixed)["results"][0]["verdict"], "holds");
}

#[test]
fn policy_variables_are_decided_through_replayed_requests_or_unknown() {
    // The variable compares two request values: an opaque atom. A counterexample found
    // through it counts once the evaluator confirms it (here, with the tag bound).
    let kp = temp(
        "vars.json",
        r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*", "Condition": {"StringEquals": {"kms:EncryptionContext:owner": "${aws:PrincipalTag/team}"}}}}"#,
    );
    let o = kmsproof(&["check", "--key-policy", kp.to_str().unwrap(), "--never", "kms:Decrypt", "--format", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let v = json(&o);
    assert_eq!(v["results"][0]["verdict"], "violated");
    let ctx = &v["results"][0]["counterexample"]["context"];
    assert_eq!(ctx["aws:PrincipalTag/team"], ctx["kms:EncryptionContext:owner"], "{v}");
    // Contradictory conditions through the same variable: the free atoms allow a model no
    // real request realises, so the answer is unknown, never holds.
    let kp = temp(
        "vars2.json",
        r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*", "Condition": {"StringEquals": {"kms:EncryptionContext:owner": "${aws:PrincipalTag/team}"}, "StringNotEquals": {"kms:EncryptionContext:owner": "${aws:PrincipalTag/team}"}}}}"#,
    );
    let o = kmsproof(&["check", "--key-policy", kp.to_str().unwrap(), "--never", "kms:Decrypt", "--format", "json"]);
    assert_eq!(o.status.code(), Some(3));
    let v = json(&o);
    assert_eq!(v["results"][0]["verdict"], "unknown");
    assert!(v["results"][0]["reason"].as_str().unwrap().contains("not encoded exactly"), "{v}");
}

#[test]
fn bad_property_files_are_input_errors() {
    let props = temp("bad-props.json", "[{\"name\": \"x\",\n \"expect\": \"maybe\", \"action\": \"kms:Decrypt\"}]");
    let o = kmsproof(&["check", "--key-policy", "examples/key-policy.json", "--properties", props.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bad-props.json:2:12: error: at [0].expect: expected \"never\", \"always\" or \"sometimes\""),
        "{err}"
    );
    let o = kmsproof(&[
        "check",
        "--key-policy",
        "examples/key-policy.json",
        "--never",
        "kms:Decrypt",
        "--key-arn",
        "not-an-arn",
    ]);
    assert_eq!(o.status.code(), Some(2));
}

/// Queries are encoded on the statements that cover one of the shape's actions: the
/// others are left out (here the S3 one and the Deny on Encrypt), `NotAction` statements
/// that cover the action are kept, and the verdict is the one the whole policy gives.
#[test]
fn queries_are_encoded_on_the_statements_that_can_apply() {
    use kmsproof::eval::Inputs;
    use kmsproof::policy::{parse_policy, PolicyKind};
    let text = r#"{"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "s3:GetObject", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "NotAction": "kms:Encrypt", "Resource": "*"},
        {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "kms:Encrypt", "Resource": "*"}]}"#;
    let policy = parse_policy(text, "p.json", PolicyKind::KeyPolicy).expect("parses");
    let inputs = Inputs { key_policy: policy, identity: vec![], scps: vec![], boundary: None, grants: vec![] };
    let props = kmsproof::query::parse_properties(
        r#"{"name": "no decrypt", "expect": "never", "principal": {"AWS": "*"}, "action": "kms:Decrypt"}"#,
        "props.json",
    )
    .expect("reads");
    let sliced = kmsproof::query::relevant_inputs(&inputs, &props[0].shape).expect("statements left out");
    let kept: Vec<usize> = sliced.key_policy.statements.iter().map(|s| s.index).collect();
    assert_eq!(kept, vec![1], "only the NotAction statement covers kms:Decrypt");
    let key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    let r = kmsproof::query::check(&inputs, key, &props, 1, kmsproof_solver::Limits::default()).expect("no mismatch");
    assert!(matches!(r[0].verdict, kmsproof::query::Verdict::Violated), "{:?}", r[0].verdict);
}
