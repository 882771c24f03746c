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
    // The root user has no principal tags, so the caller is an IAM principal whose identity
    // policy allows.
    let ip = temp(
        "vars-ip.json",
        r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}}"#,
    );
    let o = kmsproof(&[
        "check",
        "--key-policy",
        kp.to_str().unwrap(),
        "--identity-policy",
        ip.to_str().unwrap(),
        "--never",
        "kms:Decrypt",
        "--format",
        "json",
    ]);
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

#[test]
fn verdicts_do_not_depend_on_examples() {
    // A property that pins the tag and the context value a policy variable compares is
    // decided exactly (issue 13, item 6): the same verdict for any --examples.
    let props =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/properties/issue13-pinned-variables.props.json");
    let set = kmsproof::query::load_property_set(&props).unwrap();
    for examples in [1, 3, 5] {
        let results =
            kmsproof::query::check(&set.inputs, &set.key_arn, &set.properties, examples, Default::default()).unwrap();
        let verdicts: Vec<String> = results.iter().map(|r| format!("{:?}", r.verdict)).collect();
        assert_eq!(verdicts, ["Holds", "Holds", "Holds"], "--examples {examples}");
    }
}

#[test]
fn proofs_name_the_unconfirmed_readings_they_rest_on() {
    // ForAnyValue:…IfExists on an absent key is read as false; the proof says it rests on
    // that reading, because under the other one the property is violated.
    let kp = temp(
        "foranyvalue-ifexists.json",
        r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/App"}, "Action": "kms:Decrypt", "Resource": "*", "Condition": {"ForAnyValue:StringLikeIfExists": {"kms:EncryptionContextKeys": "app*"}}}]}"#,
    );
    let args = |fmt: &'static str| {
        let kp = kp.to_str().unwrap().to_string();
        kmsproof(&[
            "check",
            "--key-policy",
            &kp,
            "--never",
            "kms:Decrypt",
            "--where",
            "Null kms:EncryptionContextKeys true",
            "--format",
            fmt,
        ])
    };
    let v = json(&args("json"));
    assert_eq!(v["results"][0]["verdict"], "holds", "{v}");
    let rests = v["results"][0]["rests_on"].as_array().unwrap();
    assert!(rests.len() == 1 && rests[0].as_str().unwrap().contains("foranyvalue-ifexists-absent"), "{v}");
    let text = String::from_utf8(args("text").stdout).unwrap();
    assert!(text.contains("rests on an UNCONFIRMED reading"), "{text}");
    // A proof the reading does not change says nothing of it.
    let v =
        json(&kmsproof(&["check", "--key-policy", kp.to_str().unwrap(), "--never", "kms:Encrypt", "--format", "json"]));
    assert_eq!(v["results"][0]["verdict"], "holds");
    assert_eq!(v["results"][0]["rests_on"], serde_json::json!([]), "{v}");
}

#[test]
fn diffs_name_the_unconfirmed_readings_they_rest_on() {
    // Adding ForAnyValue:…IfExists on context keys changes nothing for requests without a
    // context only under the chosen reading: the `none` direction says it rests on it.
    let old = temp(
        "fav-old.json",
        r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/App"}, "Action": "kms:Decrypt", "Resource": "*", "Condition": {"ForAnyValue:StringLike": {"kms:EncryptionContextKeys": "app*"}}}]}"#,
    );
    let new = temp(
        "fav-new.json",
        r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/App"}, "Action": "kms:Decrypt", "Resource": "*", "Condition": {"ForAnyValue:StringLikeIfExists": {"kms:EncryptionContextKeys": "app*"}}}]}"#,
    );
    let v = json(&kmsproof(&["diff", old.to_str().unwrap(), new.to_str().unwrap(), "--format", "json"]));
    assert_eq!(v["verdict"], "equivalent", "{v}");
    assert!(v["rests_on"][0].as_str().unwrap_or_default().contains("foranyvalue-ifexists-absent"), "{v}");
}

#[test]
fn check_says_which_callers_identity_policies_bind() {
    let o = kmsproof(&[
        "check",
        "--key-policy",
        "corpus/key-policies/kp01-default.json",
        "--identity-policy",
        "corpus/identity-policies/ip22-deny-decrypt.json",
        "--never",
        "kms:Decrypt",
    ]);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("scope: the 1 identity-policy(s) given bind") && text.contains("not root-user"), "{text}");
    assert!(text.contains("VIOLATED") && text.contains("arn:aws:iam::111122223333:root"), "{text}");
}
