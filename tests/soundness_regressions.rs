//! Soundness regressions: wrong answers once shipped (each test states what AWS does), and
//! brute force over every caller for RetireGrant and the request invariants. The random inputs are `differential.rs`'s (which
//! took the review's wider generators: role paths, service-linked-role sessions, retiring
//! principals in every form, principal tags, key-case encryption contexts, management
//! accounts); seeds and rounds here come from KMSPROOF_SOUNDNESS_SEED and KMSPROOF_SOUNDNESS_ROUNDS.

use super::differential::{inputs, sat, Rng, KEY, PRINCIPALS};
use kmsproof::encode::{authorization, Encoder};
use kmsproof::model::inputs::Inputs;
use kmsproof::model::property::parse_properties;
use kmsproof::prove::check::{check, Verdict};
use kmsproof::{authorize, parse_policy, PolicyKind, Request};
use kmsproof_solver::{Limits, Term};

fn seed(default: u64) -> u64 {
    std::env::var("KMSPROOF_SOUNDNESS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(default, |s: u64| default ^ s.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

fn rounds(default: usize) -> usize {
    std::env::var("KMSPROOF_SOUNDNESS_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

// ---------------------------------------------------------------------------------------
// Each test states what AWS does; each failed on 841ac09.

fn key_only(statements: &str) -> Inputs {
    let text = format!(r#"{{"Version": "2012-10-17", "Statement": {statements}}}"#);
    Inputs {
        key_policy: parse_policy(&text, "kp.json", PolicyKind::KeyPolicy).unwrap(),
        identity: vec![],
        scps: vec![],
        boundary: None,
        grants: vec![],
        management_account: None,
    }
}

fn verdict(inputs: &Inputs, property: &str, examples: usize) -> (Verdict, Vec<String>) {
    let props = parse_properties(property, "p.json").unwrap();
    let r = check(inputs, KEY, &props, examples, Limits::default()).unwrap_or_else(|m| panic!("{m}"));
    (r[0].verdict.clone(), r[0].rests_on.clone())
}

fn decrypt_by(principal: &str) -> Request {
    let text =
        format!(r#"{{"principal": "{principal}", "action": "kms:Decrypt", "resource": "{KEY}", "context": {{}}}}"#);
    Request::parse(&text, "r.json").unwrap()
}

/// Reads a `kms:Decrypt` request by `principal` with `context` (a JSON object); the reader's
/// error when it refuses it.
fn read_decrypt(principal: &str, context: &str) -> Result<(), String> {
    let text = format!(
        r#"{{"principal": "{principal}", "action": "kms:Decrypt", "resource": "{KEY}", "context": {context}}}"#
    );
    Request::parse(&text, "r.json").map(|_| ()).map_err(|e| e.to_string())
}

/// Role names are unique in an account whatever the path (IAM CreateRole: "IAM user, group,
/// role, and policy names must be unique within the account"), so a key policy naming
/// `role/team/App` names the role of every `assumed-role/App/…` session (8a84d8c allowed it).
#[test]
fn a_session_of_a_role_with_a_path_is_named_by_its_role_arn() {
    let inputs = key_only(
        r#"[{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/team/App"}, "Action": "kms:Decrypt", "Resource": "*"}]"#,
    );
    let d = authorize(&inputs, &decrypt_by("arn:aws:sts::111122223333:assumed-role/App/s1"));
    assert!(d.allowed(), "{}", d.summary);
    let (v, _) = verdict(
        &inputs,
        r#"{"name": "p", "expect": "never", "principal": {"AWS": "arn:aws:sts::111122223333:assumed-role/App/s1"}, "action": "kms:Decrypt"}"#,
        1,
    );
    assert!(!matches!(v, Verdict::Holds), "check proves the session never decrypts: {v:?}");
}

/// A service-linked role's sessions (`assumed-role/AWSServiceRoleForAutoScaling/AutoScaling`,
/// what CloudTrail shows) are not limited by SCPs ("SCPs don't affect service-linked roles")
/// and are named by the key policy's SLR ARN: `check --never` must not prove `holds`.
#[test]
fn a_service_linked_role_session_is_not_limited_by_an_scp() {
    let mut inputs = key_only(
        r#"[{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"}, "Action": "kms:Decrypt", "Resource": "*"}]"#,
    );
    let scp = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}, {"Effect": "Deny", "Action": "kms:*", "Resource": "*"}]}"#;
    inputs.scps.push(parse_policy(scp, "scp.json", PolicyKind::Scp).unwrap());
    let (v, _) = verdict(
        &inputs,
        r#"{"name": "p", "expect": "never", "principal": {"AWS": "arn:aws:sts::111122223333:assumed-role/AWSServiceRoleForAutoScaling/AutoScaling"}, "action": "kms:Decrypt"}"#,
        1,
    );
    assert!(!matches!(v, Verdict::Holds), "check proves the SLR session never decrypts: {v:?}");
}

/// Issue 13 item 6, "no verdict may depend on --examples": the root user (no tags) decrypts
/// any context through kp01's account statement, yet --examples 1 answers unknown and
/// --examples 10 violated.
#[test]
fn a_verdict_does_not_depend_on_examples() {
    let mut inputs = key_only(
        r#"[{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}]"#,
    );
    let ip = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*", "Condition": {"StringEquals": {"kms:EncryptionContext:team": "${aws:PrincipalTag/team}"}}}]}"#;
    inputs.identity.push(parse_policy(ip, "ip.json", PolicyKind::Identity).unwrap());
    let p = r#"{"name": "p", "expect": "never", "action": "kms:Decrypt", "condition": {"StringEquals": {"kms:EncryptionContext:team": "red"}}}"#;
    let few = format!("{:?}", verdict(&inputs, p, 1).0);
    let many = format!("{:?}", verdict(&inputs, p, 10).0);
    assert_eq!(few, many, "--examples 1 vs --examples 10");
}

/// semantics.md marks these UNCONFIRMED and the encoder decides them, but no proof says it
/// rests on them (issue 13 item 7: "Do the same for the other UNCONFIRMED points").
#[test]
fn proofs_name_every_unconfirmed_reading_they_rest_on() {
    // A set operator on a single-valued key: R = {v} (iam-simulate: false, not an array).
    let inputs = key_only(
        r#"[{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/App"}, "Action": "kms:Decrypt", "Resource": "*", "Condition": {"ForAnyValue:StringEquals": {"kms:ViaService": "ec2.us-east-1.amazonaws.com"}}}]"#,
    );
    let (v, rests) = verdict(
        &inputs,
        r#"{"name": "p", "expect": "always", "principal": {"AWS": "arn:aws:iam::111122223333:role/App"}, "action": "kms:Decrypt", "condition": {"StringEquals": {"kms:ViaService": "ec2.us-east-1.amazonaws.com"}}}"#,
        1,
    );
    assert!(matches!(v, Verdict::Holds) && !rests.is_empty(), "set operator on a single-valued key: {v:?} {rests:?}");
}

/// Bool values in another case: the parser reads "FALSE" as false and keeps no case, so
/// this reading is not tracked yet (listed as remaining in the README).
#[test]
#[ignore = "the case of a Bool value is not a tracked reading yet"]
fn bool_value_case_is_named() {
    // Bool values any case ("FALSE" read as false; UNCONFIRMED, semantics.md 3.3).
    let inputs = key_only(
        r#"[{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}, {"Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "FALSE"}}}]"#,
    );
    let (v, rests) = verdict(
        &inputs,
        r#"{"name": "p", "expect": "never", "action": "kms:Decrypt", "condition": {"Bool": {"aws:SecureTransport": "false"}}}"#,
        1,
    );
    assert!(matches!(v, Verdict::Holds) && !rests.is_empty(), "Bool value case: {v:?} {rests:?}");
}

/// `audit` prints "proved: unsat" for a lockout that holds only under the chosen
/// ForAnyValue:…IfExists reading, without saying so (check does say it).
#[test]
fn audit_proofs_name_the_readings_they_rest_on() {
    let dir = super::util::temp_dir("soundness");
    std::fs::write(
        dir.join("kp.json"),
        r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*", "Condition": {"ForAnyValue:StringEqualsIfExists": {"kms:EncryptionContextKeys": "Dept"}}}]}"#,
    )
    .unwrap();
    let o = super::util::kmsproof(&["audit", dir.to_str().unwrap(), "--format", "json"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("kms:PutKeyPolicy"), "{text}");
    assert!(text.contains("UNCONFIRMED"), "the lockout proof does not say it rests on a reading: {text}");
}

/// Every principal of the generator retiring every grant ID, against random inputs: the
/// encoding and the evaluator agree on each RetireGrant request.
#[test]
fn retire_grant_encoding_agrees_with_the_evaluator_for_every_caller() {
    let mut rng = Rng(seed(0x7e71_7e00_0000_0014));
    let mut compared = 0;
    for round in 0..rounds(3) {
        let mut inputs = inputs(&mut rng);
        if inputs.grants.is_empty() {
            inputs = self::inputs(&mut rng);
        }
        let policies: Vec<&kmsproof::Policy> = inputs.policies().collect();
        let mut enc = Encoder::new(KEY, &policies, &[]);
        let allowed = authorization(&mut enc, &inputs).expect("encoded");
        let inv = enc.invariants();
        for principal in PRINCIPALS {
            for id in ["g1", "g2", "g9", "grant[0]"] {
                let text = format!(
                    r#"{{"principal": "{principal}", "action": "kms:RetireGrant", "resource": "{KEY}", "context": {{}}, "grant_id": "{id}"}}"#
                );
                let req = Request::parse(&text, "r.json").unwrap();
                let rc = enc.request_constraint(&req);
                let can_allow = sat(enc.vocabulary(), &Term::and([inv.clone(), rc.clone(), allowed.clone()]));
                let can_deny = sat(enc.vocabulary(), &Term::and([inv.clone(), rc, Term::not(allowed.clone())]));
                let d = authorize(&inputs, &req);
                // A RetireGrant names one of the grants given (issue 18, item 6): a request
                // naming another is no request the encoding searches, and the evaluator denies it.
                if !inputs.grants.iter().any(|g| g.is_on_key(KEY) && g.id() == id) {
                    assert!(!can_allow && !can_deny && !d.allowed(), "round {round}: grant {id} is not given: {text}");
                    continue;
                }
                assert!(can_allow != can_deny, "round {round}: undetermined for {text}");
                assert_eq!(
                    can_allow,
                    d.allowed(),
                    "round {round}: encoding {can_allow}, evaluator {} ({})\n{text}\ngrants: {:?}\nscps: {}, boundary: {}, identity: {}, mgmt: {:?}",
                    d.reason.as_str(),
                    d.summary,
                    inputs.grants,
                    inputs.scps.len(),
                    inputs.boundary.is_some(),
                    inputs.identity.len(),
                    inputs.management_account
                );
                compared += 1;
            }
        }
    }
    eprintln!("retire: {compared} requests compared");
}

/// The request reader enforces the invariants AWS guarantees (no test did before): the
/// root user and service principals have no principal tags, encryption-context keys are
/// non-empty; and the encoder never searches a request that breaks one.
#[test]
fn request_invariants_are_enforced_on_both_sides() {
    let parse = read_decrypt;
    let tag = r#"{"aws:PrincipalTag/team": "blue"}"#;
    assert!(parse("arn:aws:iam::111122223333:root", tag).unwrap_err().contains("has no principal tags"));
    assert!(parse("logs.us-east-1.amazonaws.com", tag).unwrap_err().contains("has no principal tags"));
    assert!(parse("arn:aws:sts::111122223333:assumed-role/App/s1", tag).is_ok());
    let empty = r#"{"kms:EncryptionContextKeys": [""], "kms:EncryptionContext:": "x"}"#;
    assert!(parse("arn:aws:sts::111122223333:assumed-role/App/s1", empty).unwrap_err().contains("empty"));
    let inputs = key_only(r#"[{"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"}]"#);
    let (v, _) = verdict(
        &inputs,
        r#"{"name": "p", "expect": "sometimes", "action": "kms:Decrypt", "condition": {"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": ""}}}"#,
        1,
    );
    assert!(matches!(v, Verdict::Violated), "an empty encryption-context key was searched: {v:?}");
    let (v, _) = verdict(
        &inputs,
        r#"{"name": "p", "expect": "sometimes", "action": "kms:Decrypt", "condition": {"StringEquals": {"aws:PrincipalType": "Account", "aws:PrincipalTag/team": "blue"}}}"#,
        1,
    );
    assert!(matches!(v, Verdict::Violated), "a tagged root user was searched: {v:?}");
}

/// `aws:PrincipalOrgID`/`aws:PrincipalOrgPaths` are present only for principals of an
/// account in an organization (IAM User Guide, global condition keys, Availability): a
/// service principal or an anonymous caller has none. b47e15a searched service principals
/// carrying `aws:PrincipalOrgID`, so `Principal: "*"` + `StringEquals aws:PrincipalOrgID`
/// read as open to every AWS service, with a witness AWS can never send.
#[test]
fn services_and_anonymous_callers_belong_to_no_organization() {
    let parse = read_decrypt;
    let org = r#"{"aws:PrincipalOrgID": "o-a1b2c3d4e5"}"#;
    assert!(parse("logs.us-east-1.amazonaws.com", org).unwrap_err().contains("belongs to no organization"));
    assert!(parse("anonymous", org).unwrap_err().contains("belongs to no organization"));
    assert!(parse("arn:aws:iam::111122223333:root", org).is_ok());
    let inputs = key_only(
        r#"[{"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*",
             "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}}]"#,
    );
    let (v, _) = verdict(
        &inputs,
        r#"{"name": "p", "expect": "never", "action": "kms:Decrypt", "condition": {"Bool": {"aws:PrincipalIsAWSService": "true"}}}"#,
        1,
    );
    assert!(matches!(v, Verdict::Holds), "a service principal with an organization was searched: {v:?}");
}

/// Every request carries `aws:ViaAWSService` (IAM User Guide: "always included in the
/// request context for most services"; reading via-aws-service-always-present): false on a
/// direct call. f838f23 searched requests without it, so a `Deny … Bool aws:ViaAWSService
/// false` ("only through a service") let such a request through, and a diff or findings
/// witness showed a request AWS never sends. A proof that needs the key present says it
/// rests on the reading.
#[test]
fn every_request_says_whether_a_service_made_it() {
    let inputs = key_only(
        r#"[{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"},
            {"Effect": "Deny", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*",
             "Condition": {"Bool": {"aws:ViaAWSService": "false"}}}]"#,
    );
    let (v, rests) = verdict(
        &inputs,
        r#"{"name": "p", "expect": "never", "action": "kms:Decrypt", "condition": {"Null": {"kms:ViaService": "true", "aws:CalledVia": "true"}, "BoolIfExists": {"aws:ViaAWSService": "false"}}}"#,
        1,
    );
    assert!(matches!(v, Verdict::Holds), "a request without aws:ViaAWSService was searched: {v:?}");
    assert!(rests.iter().any(|r| r.contains("via-aws-service-always-present")), "{rests:?}");
    // The evaluator agrees: a direct call that does not give the key is denied.
    let req = decrypt_by("arn:aws:iam::111122223333:root");
    assert!(!authorize(&inputs, &req).allowed(), "a direct call without aws:ViaAWSService got through");
}
