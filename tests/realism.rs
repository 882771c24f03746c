//! Issue 18: only requests AWS can send, only premises the user gave. One test per rule,
//! each through the binary as a user runs it (eval, check, diff).

use crate::util::{kmsproof, stderr, stdout, temp_file};

const SEED: &str = "corpus/key-policies/kp45-seed-deny-source-ip.json";
const SEED_FIXED: &str = "corpus/key-policies/kp46-seed-deny-source-ip-fixed.json";
const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn request(context: &str) -> String {
    format!(
        r#"{{"principal": "arn:aws:sts::111122223333:assumed-role/AppRole/s1", "action": "kms:Decrypt",
            "resource": "{KEY}", "context": {context}}}"#
    )
}

/// A call EC2 makes for the user carries EC2's address, never the user's office address.
#[test]
fn eval_refuses_a_service_call_from_a_range_the_policies_name() {
    let r = temp_file(
        "realism",
        "office-via-ec2.json",
        &request(r#"{"kms:ViaService": "ec2.us-east-1.amazonaws.com", "aws:SourceIp": "192.0.2.7"}"#),
    );
    let o = kmsproof(&["eval", "--key-policy", SEED, "--request", r.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}{}", stdout(&o), stderr(&o));
    assert!(stderr(&o).contains("the service's own address"), "{}", stderr(&o));
}

/// `kms:ViaService` means a service made the call: `aws:ViaAWSService` is true.
#[test]
fn eval_refuses_via_service_with_via_aws_service_false() {
    let r = temp_file(
        "realism",
        "via-false.json",
        &request(r#"{"kms:ViaService": "ec2.us-east-1.amazonaws.com", "aws:ViaAWSService": false}"#),
    );
    let o = kmsproof(&["eval", "--key-policy", SEED, "--request", r.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}{}", stdout(&o), stderr(&o));
    assert!(stderr(&o).contains("aws:ViaAWSService is true"), "{}", stderr(&o));
}

/// The seed's question, as the issue asks it: EBS cannot create a grant under the
/// source-IP Deny, and the proof says which UNCONFIRMED reading it rests on.
#[test]
fn check_answers_the_seed_source_ip_trap() {
    let ask = |policy: &str| {
        kmsproof(&[
            "check",
            "--key-policy",
            policy,
            "--sometimes",
            "kms:CreateGrant",
            "--principal",
            "arn:aws:iam::111122223333:role/AppRole",
            "--where",
            "StringLike kms:ViaService ec2.*.amazonaws.com",
            "--where",
            "Bool kms:GrantIsForAWSResource true",
        ])
    };
    let o = ask(SEED);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).lines().any(|l| l.starts_with("VIOLATED")), "{}", stdout(&o));
    assert!(stdout(&o).contains("service-call-network"), "{}", stdout(&o));
    let o = ask(SEED_FIXED);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains(r#""aws:ViaAWSService":"true""#), "{}", stdout(&o));
}

/// The fix the seed recommends is strictly more permissive, and only for calls AWS services
/// make on the caller's behalf from outside the office: every witness says a service made it
/// (`aws:ViaAWSService` true — every request carries the key, reading
/// via-aws-service-always-present) and none comes from the office's ranges.
#[test]
fn diff_of_the_seed_fix_shows_a_service_call() {
    let o = kmsproof(&["diff", SEED, SEED_FIXED, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&o)));
    assert_eq!(v["verdict"], "more-permissive", "{v}");
    let mut witnesses = 0;
    let mut stack = vec![&v];
    while let Some(x) = stack.pop() {
        if let Some(ctx) = x.get("context").filter(|c| c.is_object()) {
            witnesses += 1;
            assert_eq!(ctx["aws:ViaAWSService"], "true", "{x}");
            let ip = ctx.get("aws:SourceIp").and_then(|i| i.as_str()).unwrap_or("");
            assert!(!ip.starts_with("192.0.2.") && !ip.starts_with("203.0.113."), "{x}");
        }
        match x {
            serde_json::Value::Object(m) => stack.extend(m.values()),
            serde_json::Value::Array(a) => stack.extend(a.iter()),
            _ => {}
        }
    }
    assert!(witnesses > 0, "no witness: {v}");
}

/// `kms:KeyUsage` describes the key: no key that decrypts has usage SIGN_VERIFY, and a key
/// whose ID does not start with `mrk-` is not multi-Region.
#[test]
fn eval_refuses_key_facts_the_key_cannot_have() {
    for (name, context, says) in [
        ("sign-key.json", r#"{"kms:KeyUsage": "SIGN_VERIFY"}"#, "works only with a key whose usage is ENCRYPT_DECRYPT"),
        ("mrk.json", r#"{"kms:MultiRegion": "true"}"#, "does not start with mrk-"),
    ] {
        let r = temp_file("realism", name, &request(context));
        let o = kmsproof(&[
            "eval",
            "--key-policy",
            "corpus/key-policies/kp47-key-facts.json",
            "--request",
            r.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(2), "{}{}", stdout(&o), stderr(&o));
        assert!(stderr(&o).contains(says), "{}", stderr(&o));
    }
}

/// A reviewer of a key policy cannot see a partner's IAM: a key policy that trusts
/// account 444455556666 lets its roles decrypt if their administrator allows it (open
/// world, the default); `--closed-world` keeps the reading "they have no identity policy".
/// Every answer prints its premise.
#[test]
fn unknown_iam_is_not_no_iam() {
    let kp = temp_file(
        "realism",
        "trusts-partner.json",
        r#"{"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"},
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"}, "Action": "kms:Decrypt", "Resource": "*"}]}"#,
    );
    let ask = |extra: &[&str]| {
        let mut args = vec![
            "check",
            "--key-policy",
            kp.to_str().unwrap(),
            "--never",
            "kms:Decrypt",
            "--principal",
            "arn:aws:iam::444455556666:role/*",
        ];
        args.extend(extra);
        kmsproof(&args)
    };
    let open = ask(&[]);
    assert_eq!(open.status.code(), Some(1), "{}{}", stdout(&open), stderr(&open));
    assert!(
        stdout(&open).contains("premise: the identity policies given are those of account 111122223333"),
        "{}",
        stdout(&open)
    );
    assert!(stdout(&open).contains("assumed to allow everything"), "{}", stdout(&open));
    let closed = ask(&["--closed-world"]);
    assert_eq!(closed.status.code(), Some(0), "{}{}", stdout(&closed), stderr(&closed));
    // The partner's account described (its IAM given: none) is the closed reading for it.
    let described = ask(&["--identity-account", "444455556666"]);
    assert_eq!(described.status.code(), Some(0), "{}{}", stdout(&described), stderr(&described));
    // An always property meets the worst case the other way: the partner's IAM may deny.
    let always = kmsproof(&[
        "check",
        "--key-policy",
        kp.to_str().unwrap(),
        "--always",
        "kms:Decrypt",
        "--principal",
        "arn:aws:iam::444455556666:role/*",
    ]);
    assert_eq!(always.status.code(), Some(1), "{}{}", stdout(&always), stderr(&always));
}

/// The key under analysis is the scope: another account's own custom key store is not
/// about this key unless the property names it.
#[test]
fn a_key_policy_property_is_about_the_key() {
    let o = kmsproof(&[
        "check",
        "--key-policy",
        "corpus/key-policies/kp01-default.json",
        "--never",
        "kms:*",
        "--principal",
        "arn:aws:iam::444455556666:*",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
}

/// Facts of the key given by flag or by `aws kms describe-key` output fix what requests
/// on it carry; a spec and usage no key has is an input error.
#[test]
fn key_facts_by_flag_and_metadata() {
    let ask = |action: &str, facts: &[&str]| {
        let mut args = vec!["check", "--key-policy", "corpus/key-policies/kp47-key-facts.json", "--sometimes", action];
        args.extend(facts);
        kmsproof(&args)
    };
    let o = ask("kms:Decrypt", &["--key-usage", "SIGN_VERIFY"]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    let o = ask("kms:Sign", &["--key-metadata", "corpus/key-metadata/mrk-sign.json"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("key/mrk-1234abcd") && text.contains(r#""kms:MultiRegion":"true""#), "{text}");
    let o = ask("kms:Sign", &["--key-spec", "SYMMETRIC_DEFAULT", "--key-usage", "SIGN_VERIFY"]);
    assert_eq!(o.status.code(), Some(2), "{}{}", stdout(&o), stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("no KMS key has key spec SYMMETRIC_DEFAULT with key usage SIGN_VERIFY"), "{err}");
}

/// The set form of `diff` takes a partner's IAM as unknown too, and says so; under
/// `--closed-world` only the partner's root user (who needs no identity policy) gains.
#[test]
fn diff_set_form_takes_a_partners_iam_as_unknown() {
    let old = temp_file(
        "realism",
        "own-only.json",
        r#"{"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}]}"#,
    );
    let new = temp_file(
        "realism",
        "with-partner.json",
        r#"{"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"}, "Action": "kms:Decrypt", "Resource": "*"}]}"#,
    );
    let (old, new) = (old.to_str().unwrap(), new.to_str().unwrap());
    let o = kmsproof(&["diff", "--old-key-policy", old, "--new-key-policy", new]);
    assert!(stdout(&o).starts_with("MORE-PERMISSIVE"), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("premise: the identity policies given are those of account 111122223333"),
        "{}",
        stdout(&o)
    );
    let o = kmsproof(&["diff", "--old-key-policy", old, "--new-key-policy", new, "--closed-world", "--examples", "5"]);
    assert!(stdout(&o).contains("premise: closed world"), "{}{}", stdout(&o), stderr(&o));
    assert!(!stdout(&o).contains("assumed-role"), "only the root user gains: {}", stdout(&o));
}

/// A key policy trusting account 111122223333 that denies everything under `condition`.
fn root_key_policy_denying(name: &str, condition: &str) -> std::path::PathBuf {
    temp_file(
        "realism",
        name,
        &format!(
            r#"{{"Version": "2012-10-17", "Statement": [
                {{"Sid": "Root", "Effect": "Allow", "Principal": {{"AWS": "arn:aws:iam::111122223333:root"}}, "Action": "kms:*", "Resource": "*"}},
                {{"Sid": "Deny", "Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*", "Condition": {condition}}}]}}"#
        ),
    )
}

/// AWS puts `aws:SecureTransport`, `aws:CurrentTime` and `aws:EpochTime` in every request
/// (invariant `always-sent`): a key policy that denies every non-TLS call is proved to,
/// where kmsproof used to show a request without the key, which AWS never sends. The other
/// side stays open: a request over plain HTTP is still found where nothing denies it, and
/// a time-bound policy's witnesses carry the time.
#[test]
fn keys_aws_always_sends_are_in_every_witness() {
    let tls_only = root_key_policy_denying("tls-only.json", r#"{"Bool": {"aws:SecureTransport": "false"}}"#);
    let ask = |policy: &str, condition: &str| {
        kmsproof(&["check", "--key-policy", policy, "--never", "kms:Decrypt", "--where", condition])
    };
    let o = ask(tls_only.to_str().unwrap(), "BoolIfExists aws:SecureTransport false");
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("HOLDS (proved: unsat)"), "{}", stdout(&o));
    // A request written without the key still evaluates, with a warning that none is real.
    let bare = temp_file("realism", "no-tls-key.json", &request("{}"));
    let o = kmsproof(&["eval", "--key-policy", tls_only.to_str().unwrap(), "--request", bare.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stderr(&o).contains("aws:SecureTransport, which AWS puts in every request"), "{}", stderr(&o));
    let o = ask(SEED, "BoolIfExists aws:SecureTransport false");
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains(r#""aws:SecureTransport":"false""#), "{}", stdout(&o));

    let expiry = root_key_policy_denying(
        "expires-2030.json",
        r#"{"DateGreaterThanEquals": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}"#,
    );
    let o = ask(expiry.to_str().unwrap(), "DateGreaterThanEqualsIfExists aws:CurrentTime 2030-01-01T00:00:00Z");
    assert_eq!(o.status.code(), Some(0), "no request without the time gets through: {}{}", stdout(&o), stderr(&o));
    let o = kmsproof(&["check", "--key-policy", expiry.to_str().unwrap(), "--sometimes", "kms:Decrypt"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains(r#""aws:CurrentTime":"#), "the witness says when: {}", stdout(&o));
}
