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
    assert!(stdout(&o).starts_with("VIOLATED"), "{}", stdout(&o));
    assert!(stdout(&o).contains("service-call-network"), "{}", stdout(&o));
    let o = ask(SEED_FIXED);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains(r#""aws:ViaAWSService":"true""#), "{}", stdout(&o));
}

/// The fix the seed recommends is strictly more permissive: the witness is a service's
/// call, never one from the user's own range.
#[test]
fn diff_of_the_seed_fix_shows_a_service_call() {
    let o = kmsproof(&["diff", SEED, SEED_FIXED, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&o)));
    assert_eq!(v["verdict"], "more-permissive", "{v}");
    let text = v.to_string();
    assert!(
        text.contains(r#"\"aws:ViaAWSService\":\"true\""#) || text.contains(r#""aws:ViaAWSService":"true""#),
        "{v}"
    );
    assert!(!text.contains("192.0.2.") || !text.contains("kms:ViaService"), "{v}");
}
