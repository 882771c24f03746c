//! The examples of the two seed documents (`../shared/seeds/`), each with requests it
//! allows and requests it denies. Policies are inlined so the tests need no shared/.

use crate::util::Setup;

const USER: &str = "arn:aws:iam::111122223333:user/ExampleUser";
const APP_ROLE: &str = "arn:aws:iam::111122223333:role/RoleForExampleApp";
const APP_SESSION: &str = "arn:aws:sts::111122223333:assumed-role/RoleForExampleApp/s-1";
const OTHER_ACCOUNT: &str = "arn:aws:iam::444455556666:role/Intruder";

#[test]
fn via_service_ec2_and_rds() {
    let s = Setup::key_policy(&format!(
        r#"{{"Effect": "Allow", "Principal": {{"AWS": "{USER}"}},
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:ListGrants", "kms:DescribeKey"],
            "Resource": "*",
            "Condition": {{"StringEquals": {{"kms:ViaService": ["ec2.us-west-2.amazonaws.com", "rds.us-west-2.amazonaws.com"]}}}}}}"#
    ));
    s.expect(USER, "kms:Decrypt", r#"{"kms:ViaService": "ec2.us-west-2.amazonaws.com"}"#, "allowed");
    s.expect(USER, "kms:ReEncryptFrom", r#"{"kms:ViaService": "rds.us-west-2.amazonaws.com"}"#, "allowed");
    s.expect(USER, "kms:Decrypt", "{}", "implicit-deny");
    s.expect(USER, "kms:Decrypt", r#"{"kms:ViaService": "ec2.us-east-1.amazonaws.com"}"#, "implicit-deny");
    s.expect(USER, "kms:Decrypt", r#"{"kms:ViaService": "lambda.us-west-2.amazonaws.com"}"#, "implicit-deny");
    s.expect(USER, "kms:ScheduleKeyDeletion", r#"{"kms:ViaService": "ec2.us-west-2.amazonaws.com"}"#, "implicit-deny");
}

#[test]
fn via_service_seed_policy_with_ec2_and_lambda() {
    // The first seed's example: the service names lack a Region, so real requests
    // (which carry ec2.REGION.amazonaws.com) never match — the policy is dead as written.
    let s = Setup::key_policy(
        r#"{"Sid": "Allow use of the key", "Effect": "Allow",
            "Principal": {"AWS": ["arn:aws:iam::123456789012:user/user-name", "arn:aws:iam::123456789012:role/role-name"]},
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey", "kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:CallerAccount": "123456789012", "kms:ViaService": ["ec2.amazonaws.com", "lambda.amazonaws.com"]}}}"#,
    );
    let role = "arn:aws:sts::123456789012:assumed-role/role-name/s";
    let key = crate::util::KEY.replace("111122223333", "123456789012");
    let d = |ctx: &str| {
        let text =
            format!(r#"{{"principal": "{role}", "action": "kms:Decrypt", "resource": "{key}", "context": {ctx}}}"#);
        kmsproof::authorize(&s.inputs, &kmsproof::Request::parse(&text, "r").unwrap()).reason.as_str()
    };
    assert_eq!(d(r#"{"kms:ViaService": "lambda.amazonaws.com"}"#), "allowed");
    assert_eq!(d(r#"{"kms:ViaService": "lambda.us-east-1.amazonaws.com"}"#), "implicit-deny");
    assert_eq!(d("{}"), "implicit-deny");
}

#[test]
fn caller_account_with_via_service_for_everyone() {
    let s = Setup::key_policy(
        r#"{"Sid": "Allow access through EBS for all principals in the account that are authorized to use EBS",
            "Effect": "Allow", "Principal": {"AWS": "*"},
            "Condition": {"StringEquals": {"kms:CallerAccount": "111122223333", "kms:ViaService": "ec2.us-west-2.amazonaws.com"}},
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:DescribeKey"],
            "Resource": "*"}"#,
    );
    let ebs = r#"{"kms:ViaService": "ec2.us-west-2.amazonaws.com"}"#;
    s.expect(APP_SESSION, "kms:Decrypt", ebs, "allowed");
    let ebs_grant = r#"{"kms:ViaService": "ec2.us-west-2.amazonaws.com", "kms:GrantOperations": ["Decrypt"]}"#;
    s.expect("arn:aws:iam::111122223333:user/anyone", "kms:CreateGrant", ebs_grant, "allowed");
    // Another account's principal: kms:CallerAccount is derived from the caller, so it cannot pass.
    s.expect(OTHER_ACCOUNT, "kms:Decrypt", ebs, "implicit-deny");
    s.expect(APP_SESSION, "kms:Decrypt", "{}", "implicit-deny");
    s.expect(APP_SESSION, "kms:Decrypt", r#"{"kms:ViaService": "s3.us-west-2.amazonaws.com"}"#, "implicit-deny");
}

#[test]
fn encryption_context_pairs() {
    let s = Setup::key_policy(&format!(
        r#"{{"Effect": "Allow", "Principal": {{"AWS": "{APP_ROLE}"}}, "Action": "kms:GenerateDataKey", "Resource": "*",
            "Condition": {{"StringEquals": {{"kms:EncryptionContext:AppName": "ExampleApp", "kms:EncryptionContext:FilePath": "/var/opt/secrets/"}}}}}}"#
    ));
    let both = r#"{"kms:EncryptionContext:AppName": "ExampleApp", "kms:EncryptionContext:FilePath": "/var/opt/secrets/", "kms:EncryptionContextKeys": ["AppName", "FilePath"]}"#;
    s.expect(APP_SESSION, "kms:GenerateDataKey", both, "allowed");
    // The EC key name is case-insensitive in the condition key ([KMSCOND]).
    s.expect(
        APP_SESSION,
        "kms:GenerateDataKey",
        r#"{"kms:EncryptionContext:appname": "ExampleApp", "kms:EncryptionContext:filepath": "/var/opt/secrets/"}"#,
        "allowed",
    );
    s.expect(APP_SESSION, "kms:GenerateDataKey", r#"{"kms:EncryptionContext:AppName": "ExampleApp"}"#, "implicit-deny");
    s.expect(
        APP_SESSION,
        "kms:GenerateDataKey",
        r#"{"kms:EncryptionContext:AppName": "exampleapp", "kms:EncryptionContext:FilePath": "/var/opt/secrets/"}"#,
        "implicit-deny",
    );
    s.expect(APP_SESSION, "kms:Decrypt", both, "implicit-deny");
}

#[test]
fn encryption_context_keys_with_null() {
    let s = Setup::key_policy(&format!(
        r#"{{"Effect": "Allow", "Principal": {{"AWS": "{APP_ROLE}"}}, "Action": ["kms:Encrypt", "kms:GenerateDataKey*"], "Resource": "*",
            "Condition": {{"Null": {{"kms:EncryptionContextKeys": false}}}}}}"#
    ));
    s.expect(
        APP_SESSION,
        "kms:Encrypt",
        r#"{"kms:EncryptionContextKeys": ["Dept"], "kms:EncryptionContext:Dept": "IT"}"#,
        "allowed",
    );
    s.expect(
        APP_SESSION,
        "kms:GenerateDataKeyWithoutPlaintext",
        r#"{"kms:EncryptionContextKeys": ["a", "b"]}"#,
        "allowed",
    );
    s.expect(APP_SESSION, "kms:Encrypt", "{}", "implicit-deny");
    s.expect(APP_SESSION, "kms:Encrypt", r#"{"kms:EncryptionContextKeys": []}"#, "implicit-deny");
}

#[test]
fn grant_operations_with_for_all_values() {
    let s = Setup::key_policy(&format!(
        r#"{{"Effect": "Allow", "Principal": {{"AWS": "{USER}"}}, "Action": "kms:CreateGrant", "Resource": "*",
            "Condition": {{"ForAllValues:StringEquals": {{"kms:GrantOperations": ["Encrypt", "ReEncryptTo"]}}}}}}"#
    ));
    s.expect(USER, "kms:CreateGrant", r#"{"kms:GrantOperations": ["Encrypt"]}"#, "allowed");
    s.expect(USER, "kms:CreateGrant", r#"{"kms:GrantOperations": ["Encrypt", "ReEncryptTo"]}"#, "allowed");
    s.expect(USER, "kms:CreateGrant", r#"{"kms:GrantOperations": ["Encrypt", "Decrypt"]}"#, "implicit-deny");
    // The ForAllValues trap (a request without the key satisfies it vacuously) cannot open
    // for CreateGrant: its Operations parameter is required, so the key is always there.
    let text = format!(r#"{{"principal": "{USER}", "action": "kms:CreateGrant", "resource": "{}"}}"#, crate::util::KEY);
    let e = kmsproof::Request::parse(&text, "r.json").unwrap_err().to_string();
    assert!(e.contains("always carries kms:GrantOperations"), "{e}");
}

#[test]
fn grant_constraint_type_and_aws_resource() {
    let s = Setup::key_policy(&format!(
        r#"[{{"Effect": "Allow", "Principal": {{"AWS": "{USER}"}}, "Action": "kms:CreateGrant", "Resource": "*",
              "Condition": {{"StringEquals": {{"kms:GrantConstraintType": "EncryptionContextEquals"}}}}}},
            {{"Effect": "Allow", "Principal": {{"AWS": "arn:aws:iam::111122223333:user/Other"}}, "Action": "kms:CreateGrant", "Resource": "*",
              "Condition": {{"Bool": {{"kms:GrantIsForAWSResource": true}}}}}}]"#
    ));
    let ops = r#""kms:GrantOperations": ["Decrypt"]"#;
    let ctx = |extra: &str| format!("{{{ops}{extra}}}");
    s.expect(USER, "kms:CreateGrant", &ctx(r#", "kms:GrantConstraintType": "EncryptionContextEquals""#), "allowed");
    s.expect(
        USER,
        "kms:CreateGrant",
        &ctx(r#", "kms:GrantConstraintType": "EncryptionContextSubset""#),
        "implicit-deny",
    );
    s.expect(USER, "kms:CreateGrant", &ctx(""), "implicit-deny");
    let other = "arn:aws:iam::111122223333:user/Other";
    s.expect(
        other,
        "kms:CreateGrant",
        &ctx(r#", "kms:GrantIsForAWSResource": true, "kms:ViaService": "ec2.us-west-2.amazonaws.com""#),
        "allowed",
    );
    s.expect(other, "kms:CreateGrant", &ctx(r#", "kms:GrantIsForAWSResource": false"#), "implicit-deny");
}

#[test]
fn reencrypt_on_same_key() {
    // The seed writes "Action": "ReEncrypt*" without the kms: prefix; AWS rejects that.
    let bad = crate::util::doc(&format!(
        r#"{{"Effect": "Allow", "Principal": {{"AWS": "{USER}"}}, "Action": "ReEncrypt*", "Resource": "*"}}"#
    ));
    let e = kmsproof::parse_policy(&bad, "seed.json", kmsproof::PolicyKind::KeyPolicy).unwrap_err().to_string();
    assert!(e.contains("seed.json:1:") && e.contains("malformed action \"ReEncrypt*\""), "{e}");
    let s = Setup::key_policy(&format!(
        r#"{{"Effect": "Allow", "Principal": {{"AWS": "{USER}"}}, "Action": "kms:ReEncrypt*", "Resource": "*",
            "Condition": {{"Bool": {{"kms:ReEncryptOnSameKey": true}}}}}}"#
    ));
    s.expect(USER, "kms:ReEncryptFrom", r#"{"kms:ReEncryptOnSameKey": true}"#, "allowed");
    s.expect(USER, "kms:ReEncryptTo", r#"{"kms:ReEncryptOnSameKey": "true"}"#, "allowed");
    s.expect(USER, "kms:ReEncryptTo", r#"{"kms:ReEncryptOnSameKey": false}"#, "implicit-deny");
    s.expect(USER, "kms:ReEncryptFrom", "{}", "implicit-deny");
}

#[test]
fn bypass_policy_lockout_safety_check() {
    let admin = "arn:aws:iam::111122223333:role/KeyAdmin";
    let s = Setup::key_policy(r#"{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}"#)
        .identity(r#"{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}"#)
        .identity(r#"{"Effect": "Deny", "Action": "kms:CreateKey", "Resource": "*", "Condition": {"Bool": {"kms:BypassPolicyLockoutSafetyCheck": true}}}"#);
    s.expect(admin, "kms:CreateKey", r#"{"kms:BypassPolicyLockoutSafetyCheck": false}"#, "allowed");
    s.expect(admin, "kms:CreateKey", r#"{"kms:BypassPolicyLockoutSafetyCheck": true}"#, "explicit-deny");
    // The key policy plays no part for CreateKey: IAM alone decides.
    let d = s.decide(admin, "kms:CreateKey", "{}");
    assert!(d
        .statements
        .iter()
        .filter(|st| st.kind == kmsproof::PolicyKind::KeyPolicy)
        .all(|st| st.detail.starts_with("not consulted")));
    s.expect(admin, "kms:PutKeyPolicy", r#"{"kms:BypassPolicyLockoutSafetyCheck": true}"#, "allowed");
}

#[test]
fn source_ip_deny_and_integrated_services() {
    // The seed's warning: a Deny on aws:SourceIp also denies EC2 decrypting an EBS volume
    // (the request comes from EC2's address), unless it exempts aws:ViaAWSService.
    let allow = format!(
        r#"{{"Effect": "Allow", "Principal": {{"AWS": "{APP_ROLE}"}}, "Action": "kms:Decrypt", "Resource": "*"}}"#
    );
    let naive = Setup::key_policy(&format!(
        r#"[{allow}, {{"Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*", "Condition": {{"NotIpAddress": {{"aws:SourceIp": "192.0.2.0/24"}}}}}}]"#
    ));
    let via_ec2 =
        r#"{"aws:SourceIp": "54.240.1.1", "kms:ViaService": "ec2.us-west-2.amazonaws.com", "aws:ViaAWSService": true}"#;
    naive.expect(APP_SESSION, "kms:Decrypt", r#"{"aws:SourceIp": "192.0.2.10"}"#, "allowed");
    naive.expect(APP_SESSION, "kms:Decrypt", via_ec2, "explicit-deny");
    let fixed = Setup::key_policy(&format!(
        r#"[{allow}, {{"Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*",
              "Condition": {{"NotIpAddress": {{"aws:SourceIp": "192.0.2.0/24"}}, "Bool": {{"aws:ViaAWSService": "false"}}}}}}]"#
    ));
    fixed.expect(APP_SESSION, "kms:Decrypt", via_ec2, "allowed");
    fixed.expect(
        APP_SESSION,
        "kms:Decrypt",
        r#"{"aws:SourceIp": "198.51.100.1", "aws:ViaAWSService": false}"#,
        "explicit-deny",
    );
}

#[test]
fn account_delegation_needs_an_identity_policy() {
    let root = r#"{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}"#;
    let bare = Setup::key_policy(root);
    bare.expect(APP_SESSION, "kms:Decrypt", "{}", "implicit-deny");
    let with_iam = Setup::key_policy(root)
        .identity(&format!(r#"{{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "{}"}}"#, crate::util::KEY));
    with_iam.expect(APP_SESSION, "kms:Decrypt", "{}", "allowed");
    with_iam.expect(APP_SESSION, "kms:Encrypt", "{}", "implicit-deny");
    // Without the root statement, an identity policy alone allows nothing.
    let no_root = Setup::key_policy(r#"{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/Admin"}, "Action": "kms:*", "Resource": "*"}"#)
        .identity(r#"{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}"#);
    no_root.expect(APP_SESSION, "kms:Decrypt", "{}", "implicit-deny");
}

#[test]
fn cross_account_needs_both_sides() {
    let kp = r#"{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"}, "Action": ["kms:Decrypt", "kms:PutKeyPolicy"], "Resource": "*"}"#;
    Setup::key_policy(kp).expect(OTHER_ACCOUNT, "kms:Decrypt", "{}", "implicit-deny");
    let both = Setup::key_policy(kp).identity(r#"{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}"#);
    both.expect(OTHER_ACCOUNT, "kms:Decrypt", "{}", "allowed");
    // PutKeyPolicy is not a cross-account operation.
    both.expect(OTHER_ACCOUNT, "kms:PutKeyPolicy", "{}", "implicit-deny");
}

#[test]
fn grants_allow_and_denies_still_win() {
    let grant = format!(
        r#"{{"KeyId": "{}", "GrantId": "g-ebs", "GranteePrincipal": "{APP_ROLE}", "Operations": ["Decrypt"],
            "Constraints": {{"EncryptionContextSubset": {{"aws:ebs:id": "vol-1"}}}}}}"#,
        crate::util::KEY
    );
    let s = Setup::key_policy(r#"{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/Admin"}, "Action": "kms:*", "Resource": "*"}"#).grant(&grant);
    s.expect(
        APP_SESSION,
        "kms:Decrypt",
        r#"{"kms:EncryptionContext:aws:ebs:id": "vol-1", "kms:EncryptionContextKeys": ["aws:ebs:id"]}"#,
        "allowed",
    );
    s.expect(APP_SESSION, "kms:Decrypt", r#"{"kms:EncryptionContext:aws:ebs:id": "vol-2"}"#, "implicit-deny");
    s.expect(APP_SESSION, "kms:Encrypt", r#"{"kms:EncryptionContext:aws:ebs:id": "vol-1"}"#, "implicit-deny");
    let denied = s.identity(r#"{"Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"}"#);
    denied.expect(APP_SESSION, "kms:Decrypt", r#"{"kms:EncryptionContext:aws:ebs:id": "vol-1"}"#, "explicit-deny");
}

#[test]
fn not_principal_deny_exempts_only_fully_listed_callers() {
    // AWS's pattern: list the session, its role and the account to exempt a session.
    let s = Setup::key_policy(
        r#"[{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"},
            {"Effect": "Deny", "NotPrincipal": {"AWS": ["arn:aws:sts::111122223333:assumed-role/KeyAdmin/ops", "arn:aws:iam::111122223333:role/KeyAdmin",
                                                 "arn:aws:iam::111122223333:user/Bob", "arn:aws:iam::111122223333:root"]},
             "Action": "kms:PutKeyPolicy", "Resource": "*"}]"#,
    )
    .identity(r#"{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}"#);
    s.expect("arn:aws:sts::111122223333:assumed-role/KeyAdmin/ops", "kms:PutKeyPolicy", "{}", "allowed");
    s.expect("arn:aws:iam::111122223333:user/Bob", "kms:PutKeyPolicy", "{}", "allowed");
    s.expect("arn:aws:iam::111122223333:root", "kms:PutKeyPolicy", "{}", "allowed");
    // Listing the account does not exempt its other users, nor other sessions of the role.
    s.expect("arn:aws:iam::111122223333:user/Alice", "kms:PutKeyPolicy", "{}", "explicit-deny");
    s.expect("arn:aws:sts::111122223333:assumed-role/KeyAdmin/other", "kms:PutKeyPolicy", "{}", "explicit-deny");
    s.expect("arn:aws:sts::111122223333:assumed-role/App/ops", "kms:PutKeyPolicy", "{}", "explicit-deny");
}
