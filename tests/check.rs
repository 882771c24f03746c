//! `kmsproof check` end to end: verdicts, exit codes, and counterexamples that `eval`
//! reads back to the same decision.

use super::util::{json, kmsproof};
use std::path::PathBuf;

fn temp(name: &str, text: &str) -> PathBuf {
    super::util::temp_file("check", name, text)
}

/// `eval --format json` of `request` against a key policy (and identity policies).
fn eval_json(key_policy: &str, identity: &[&str], request: &serde_json::Value) -> serde_json::Value {
    // One file per call: tests run in parallel and would overwrite a shared one.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let req = temp(&format!("replayed-request-{n}.json"), &request.to_string());
    let mut args = vec!["eval", "--key-policy", key_policy, "--request", req.to_str().unwrap(), "--format", "json"];
    for i in identity {
        args.extend(["--identity-policy", i]);
    }
    json(&kmsproof(&args))
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
        out.contains("HOLDS (proved: unsat): Decrypt only through EC2 or Lambda (the account root user aside)"),
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
        let replayed = eval_json("examples/key-policy.json", &[idp], &example["request"]);
        assert_eq!(replayed["decision"], "allow", "{example}");
        // Portable: the witness is the request as AWS sees it, derived keys included, so
        // eval reads it back to the very same request.
        assert_eq!(replayed["request"], example["request"], "{example}");
        let ctx = &example["request"]["context"];
        if example["request"]["principal"].as_str().is_some_and(|p| p.starts_with("arn:")) {
            for k in ["aws:PrincipalArn", "aws:PrincipalAccount", "aws:PrincipalType", "kms:CallerAccount"] {
                assert!(ctx.get(k).is_some(), "{k} missing from {example}");
            }
        }
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

const PRINCIPAL_FORMS_KEY: &str = r#"{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:role/Reader"}, "Action": "kms:Decrypt", "Resource": "*"},
  {"Effect": "Allow", "Principal": {"Service": "logs.amazonaws.com"}, "Action": "kms:Encrypt", "Resource": "*"},
  {"Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "kms:*", "Resource": "*"}]}"#;

/// Every principal form a property accepts, each with the verdict it must get; every
/// counterexample or witness is replayed by `check` itself, and read back by `eval` here.
#[test]
fn principal_forms_in_properties() {
    let key = temp("principal-forms-key.json", PRINCIPAL_FORMS_KEY);
    let cases = [
        (
            "role pattern reaches its sessions",
            "sometimes",
            r#""arn:aws:iam::444455556666:role/*""#,
            "kms:Decrypt",
            "holds",
        ),
        ("account pattern", "never", r#""arn:aws:iam::444455556666:*""#, "kms:Encrypt", "holds"),
        ("any role anywhere", "never", r#""arn:aws:iam::*:role/*""#, "kms:Decrypt", "violated"),
        ("? in the account", "never", r#""arn:aws:iam::44445555666?:role/Rea?er""#, "kms:Decrypt", "violated"),
        ("pattern not crossing colons", "never", r#""arn:aws:iam::*:user/*""#, "kms:Decrypt", "holds"),
        (
            "list",
            "never",
            r#"["arn:aws:iam::444455556666:user/*", "arn:aws:sts::444455556666:federated-user/*"]"#,
            "kms:Decrypt",
            "holds",
        ),
        ("plain role ARN", "sometimes", r#""arn:aws:iam::444455556666:role/Reader""#, "kms:Decrypt", "holds"),
        ("bare account", "never", r#""444455556666""#, "kms:Decrypt", "violated"),
        ("service", "sometimes", r#""logs.amazonaws.com""#, "kms:Encrypt", "holds"),
        ("object syntax with a pattern", "never", r#"{"AWS": "arn:aws:iam::*:role/*"}"#, "kms:Decrypt", "violated"),
    ];
    let props: Vec<String> = cases
        .iter()
        .map(|(name, expect, p, action, _)| {
            format!(r#"{{"name": "{name}", "expect": "{expect}", "principal": {p}, "action": "{action}"}}"#)
        })
        .collect();
    let negated = [
        // Exempting the role by pattern and account 111122223333's IAM principals leaves nobody.
        (r#"["arn:aws:iam::444455556666:role/Read*", "arn:aws:iam::111122223333:*"]"#, "holds"),
        (r#"["arn:aws:iam::111122223333:*"]"#, "violated"),
    ];
    let props: Vec<String> = props
        .into_iter()
        .chain(negated.iter().enumerate().map(|(i, (p, _))| {
            format!(
                r#"{{"name": "not_principal {i}", "expect": "never", "not_principal": {p}, "action": "kms:Decrypt"}}"#
            )
        }))
        .collect();
    let file = temp("principal-forms.json", &format!("[{}]", props.join(",\n")));
    let o = kmsproof(&[
        "check",
        "--key-policy",
        key.to_str().unwrap(),
        "--properties",
        file.to_str().unwrap(),
        "--format",
        "json",
        // The evaluator replays below without identity policies: the closed-world reading.
        "--closed-world",
    ]);
    let v = json(&o);
    let want = cases
        .iter()
        .map(|c| (c.0.to_string(), c.4))
        .chain(negated.iter().enumerate().map(|(i, n)| (format!("not_principal {i}"), n.1)));
    for (r, (name, verdict)) in v["results"].as_array().unwrap().iter().zip(want) {
        assert_eq!((r["name"].as_str().unwrap(), r["verdict"].as_str().unwrap()), (name.as_str(), verdict), "{r}");
        if let Some(request) = r["counterexample"].as_object() {
            let e = eval_json(key.to_str().unwrap(), &[], &serde_json::Value::Object(request.clone()));
            assert_eq!(e["decision"], "allow", "{r}");
        }
    }
    let violated = &v["results"][2]["counterexample"]["principal"];
    assert!(violated.as_str().unwrap().starts_with("arn:aws:sts::444455556666:assumed-role/Reader/"), "{violated}");
}

#[test]
fn bad_principals_in_properties_are_precise_errors() {
    let cases = [
        (r#""arn:aws:s3:::bucket/*""#, "names the service \"s3\""),
        (r#""arn:aws:iam::*""#, "fewer than six colon-separated parts"),
        (r#""arn:aws:iam:us-east-1:*:role/*""#, "has a region"),
        (r#""arn:aws:iam::1234:role/*""#, "the account part \"1234\""),
        (r#""bob""#, "unknown principal \"bob\""),
        (r#"["*", 7]"#, "expected a string, found a number"),
        (r#""arn:aws:iam::111122223333:group/G""#, "malformed principal ARN"),
    ];
    for (p, want) in cases {
        let file =
            temp("bad-principal.json", &format!(r#"{{"expect": "never", "action": "kms:Decrypt", "principal": {p}}}"#));
        let o =
            kmsproof(&["check", "--key-policy", "examples/key-policy.json", "--properties", file.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{p}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("bad-principal.json:1:") && err.contains("at [0].principal") && err.contains(want),
            "{p}: {err}"
        );
    }
}

#[test]
fn inline_principal_pattern() {
    let key = temp("principal-forms-key.json", PRINCIPAL_FORMS_KEY);
    let run = |p: &str| {
        let o = kmsproof(&[
            "check",
            "--key-policy",
            key.to_str().unwrap(),
            "--never",
            "kms:Decrypt",
            "--principal",
            p,
            "--format",
            "json",
        ]);
        json(&o)["results"][0]["verdict"].as_str().unwrap().to_string()
    };
    assert_eq!(run("arn:aws:iam::444455556666:role/*"), "violated");
    assert_eq!(run("arn:aws:iam::444455556666:user/*"), "holds");
    assert_eq!(run("444455556666"), "violated");
    assert_eq!(run("logs.amazonaws.com"), "holds");
}

/// Witness values in the notation AWS sends: ISO 8601 dates, epoch seconds, decimals
/// without trailing zeros; and `eval` reads the witness back to the same decision.
#[test]
fn witness_values_in_aws_notation() {
    let key = temp(
        "dated-key.json",
        r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/App"},
          "Action": "kms:Decrypt", "Resource": "*", "Condition": {
            "DateLessThan": {"aws:CurrentTime": "2029-12-31T23:59:59Z"},
            "DateGreaterThanEquals": {"aws:EpochTime": "1893455999", "aws:TokenIssueTime": "2020-06-30T12:00:00Z"},
            "NumericGreaterThan": {"aws:MultiFactorAuthAge": "1.5"}}}]}"#,
    );
    let o =
        kmsproof(&["check", "--key-policy", key.to_str().unwrap(), "--sometimes", "kms:Decrypt", "--format", "json"]);
    let v = json(&o);
    let witness = &v["results"][0]["examples"][0]["request"];
    let ctx = &witness["context"];
    let text = |k: &str| ctx[k].as_str().unwrap_or_else(|| panic!("{k} missing: {witness}")).to_string();
    for k in ["aws:CurrentTime", "aws:TokenIssueTime"] {
        let t = text(k);
        assert!(t.len() >= 20 && t.as_bytes()[10] == b'T' && t.ends_with('Z'), "{k} = {t}");
    }
    let epoch = text("aws:EpochTime");
    assert!(epoch.bytes().all(|b| b.is_ascii_digit()) && epoch.parse::<u64>().unwrap() >= 1_893_455_999, "{epoch}");
    let age = text("aws:MultiFactorAuthAge");
    assert!(!age.contains('.') || !age.ends_with('0'), "{age}");
    let e = eval_json(key.to_str().unwrap(), &[], witness);
    assert_eq!(e["decision"], "allow", "{witness}");
    assert_eq!(&e["request"], witness);
}

/// Errors and warnings read like a compiler's: the grep-able first line, then the line of
/// the file with carets under the value and the suggestion when there is one.
#[test]
fn diagnostics_show_the_offending_line() {
    let props = temp("caret-props.json", "[{\"name\": \"x\",\n \"expect\": \"maybe\", \"action\": \"kms:Decrypt\"}]");
    let o = kmsproof(&["check", "--key-policy", "examples/key-policy.json", "--properties", props.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    let want = "caret-props.json:2:12: error: at [0].expect: expected \"never\", \"always\" or \"sometimes\"\n  |\n2 |  \"expect\": \"maybe\", \"action\": \"kms:Decrypt\"}]\n  |            ^^^^^^^\n";
    assert!(err.contains(want), "{err}");
    let key = temp(
        "caret-key.json",
        "{\"Version\": \"2012-10-17\", \"Statement\": [{\"Effect\": \"Allow\", \"Principal\": \"*\",\n  \"Action\": [\"kms:Decrypt\", \"kms:Encrpyt\"], \"Resource\": \"*\"}]}",
    );
    let o = kmsproof(&["check", "--key-policy", key.to_str().unwrap(), "--sometimes", "kms:Decrypt"]);
    let err = String::from_utf8_lossy(&o.stderr);
    let want = "2 |   \"Action\": [\"kms:Decrypt\", \"kms:Encrpyt\"], \"Resource\": \"*\"}]}\n  |                             ^^^^^^^^^^^^^ did you mean kms:Encrypt?\n";
    assert!(err.contains("caret-key.json:2:29: warning: at Statement[0].Action:") && err.contains(want), "{err}");
}

#[test]
fn verdicts_do_not_depend_on_examples() {
    // A property that pins the tag and the context value a policy variable compares is
    // decided exactly (issue 13, item 6): the same verdict for any --examples.
    let props =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/properties/issue13-pinned-variables.props.json");
    let set = kmsproof::model::property::load_property_set(&props).unwrap();
    for examples in [1, 3, 5] {
        let results =
            kmsproof::prove::check::check(&set.inputs, &set.key_arn, &set.properties, examples, Default::default())
                .unwrap();
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

/// Queries are encoded on the statements that cover one of the shape's actions: the
/// others are left out (here the S3 one and the Deny on Encrypt), `NotAction` statements
/// that cover the action are kept, and the verdict is the one the whole policy gives.
#[test]
fn queries_are_encoded_on_the_statements_that_can_apply() {
    use kmsproof::model::inputs::Inputs;
    use kmsproof::model::policy::{parse_policy, PolicyKind};
    let text = r#"{"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "s3:GetObject", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "NotAction": "kms:Encrypt", "Resource": "*"},
        {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "kms:Encrypt", "Resource": "*"}]}"#;
    let policy = parse_policy(text, "p.json", PolicyKind::KeyPolicy).expect("parses");
    let inputs = Inputs {
        key_policy: policy,
        identity: vec![],
        scps: vec![],
        boundary: None,
        grants: vec![],
        management_account: None,
    };
    let props = kmsproof::model::property::parse_properties(
        r#"{"name": "no decrypt", "expect": "never", "principal": {"AWS": "*"}, "action": "kms:Decrypt"}"#,
        "props.json",
    )
    .expect("reads");
    let sliced = kmsproof::prove::check::relevant_inputs(&inputs, &props[0].shape).expect("statements left out");
    let kept: Vec<usize> = sliced.key_policy.statements.iter().map(|s| s.index).collect();
    assert_eq!(kept, vec![1], "only the NotAction statement covers kms:Decrypt");
    let key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    let r = kmsproof::prove::check::check(&inputs, key, &props, 1, kmsproof_solver::Limits::default())
        .expect("no mismatch");
    assert!(matches!(r[0].verdict, kmsproof::prove::check::Verdict::Violated), "{:?}", r[0].verdict);
}
