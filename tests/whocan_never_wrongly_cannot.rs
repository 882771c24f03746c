//! Who-can never claims `cannot` where AWS would allow: policy-version switches, groups
//! joined on the path, global identity providers, services that run code. Each case is
//! checked against what the evaluator says about the real situation.

use kmsproof::model::load::load_policy;
use kmsproof::model::policy::PolicyKind;
use kmsproof::whocan::gaad::parse_account;
use kmsproof::whocan::kms::Key;
use kmsproof::whocan::{analyse, Analysis, Options, Status};
use serde_json::json;
use std::path::Path;

const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const A: &str = "111122223333";

fn key() -> Key {
    Key {
        arn: KEY.into(),
        policy: load_policy(Path::new("corpus/who-can/key-policy.json"), PolicyKind::KeyPolicy).unwrap(),
        grants: vec![],
    }
}

fn status(a: &Analysis, label: &str) -> String {
    let i = a.graph.node_indices().find(|i| a.graph[*i].label == label).unwrap_or_else(|| panic!("no node {label}"));
    match &a.status[i.index()] {
        Status::Can(..) => "can".into(),
        Status::Cannot => "cannot".into(),
        Status::BeyondHops => "beyond".into(),
        Status::Unknown(why) => format!("unknown: {why}"),
    }
}

/// The real end state on the evaluator: `user` of account A with these policies may call
/// kms:Decrypt on the key.
fn allowed_after(
    identity: Vec<kmsproof::model::policy::Policy>,
    boundary: Option<kmsproof::model::policy::Policy>,
    user: &str,
) -> bool {
    let inputs = kmsproof::model::inputs::Inputs {
        key_policy: key().policy,
        identity,
        scps: vec![],
        boundary,
        grants: vec![],
        management_account: None,
    };
    let req = json!({"principal": format!("arn:aws:iam::{A}:user/{user}"), "action": "kms:Decrypt", "resource": KEY, "context": {}});
    let req = kmsproof::model::request::Request::parse(&req.to_string(), "<review>").unwrap();
    kmsproof::eval::authorize(&inputs, &req).allowed()
}

/// The graph's status of `user` of account A in the dump `a`.
fn user_status(a: kmsproof::whocan::gaad::Account, user: &str) -> String {
    let b = analyse(&[a], &[], &key(), &Options::default()).unwrap();
    status(&b, &format!("arn:aws:iam::{A}:user/{user}"))
}

/// A customer-managed policy attached to a user *and* used as its permissions boundary:
/// switching its default version changes both. With v2 in force the user holds v2 as an
/// identity policy and as its boundary, and v2 allows kms:Decrypt, which the key policy
/// delegates to the account: the user can decrypt (the evaluator agrees, below). The
/// escalated node must not lose the identity copy.
#[test]
fn set_default_version_of_a_policy_that_is_also_the_boundary() {
    let doc = |st: serde_json::Value| json!({"Version": "2012-10-17", "Statement": st});
    let pol = format!("arn:aws:iam::{A}:policy/P");
    let set_default = json!({"Effect": "Allow", "Action": "iam:SetDefaultPolicyVersion", "Resource": pol});
    let decrypt = json!({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"});
    let p = json!({"PolicyName": "P", "Arn": pol, "PolicyVersionList": [
        {"VersionId": "v1", "IsDefaultVersion": true, "Document": doc(json!([set_default]))},
        {"VersionId": "v2", "IsDefaultVersion": false, "Document": doc(json!([decrypt]))}]});
    let u = json!({"UserName": "both", "Arn": format!("arn:aws:iam::{A}:user/both"),
        "AttachedManagedPolicies": [{"PolicyName": "P", "PolicyArn": pol}],
        "PermissionsBoundary": {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": pol}});
    let text = json!({"UserDetailList": [u], "Policies": [p]}).to_string();
    let a = parse_account(&text, "dump.json").unwrap_or_else(|e| panic!("{e}"));
    // The real situation after the switch, on the evaluator: identity v2, boundary v2.
    let v2 = a.versions[&pol][0].1.clone();
    let mut boundary = v2.clone();
    boundary.kind = PolicyKind::Boundary;
    assert!(allowed_after(vec![v2], Some(boundary), "both"), "the evaluator allows it after the switch");
    let got = user_status(a, "both");
    assert!(got != "cannot", "claimed cannot, but after the switch the user can: {got}");
}

/// A customer-managed policy named like an AWS managed policy the user also holds
/// (`arn:aws:iam::aws:policy/X` and `arn:aws:iam::A:policy/X`): switching the customer one
/// must leave the AWS one in force. Here the AWS one allows kms:Decrypt, the customer one's
/// default denies it and its other version does not: after the switch the user can.
#[test]
fn set_default_version_keeps_a_same_named_aws_managed_policy() {
    let doc = |st: serde_json::Value| json!({"Version": "2012-10-17", "Statement": st});
    let mine = format!("arn:aws:iam::{A}:policy/X");
    let aws = "arn:aws:iam::aws:policy/X";
    let set_default = json!({"Effect": "Allow", "Action": "iam:SetDefaultPolicyVersion", "Resource": mine});
    let deny = json!({"Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"});
    let decrypt = json!({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"});
    let p = json!({"PolicyName": "X", "Arn": mine, "PolicyVersionList": [
        {"VersionId": "v1", "IsDefaultVersion": true, "Document": doc(json!([set_default, deny]))},
        {"VersionId": "v2", "IsDefaultVersion": false, "Document": doc(json!([set_default]))}]});
    let q = json!({"PolicyName": "X", "Arn": aws, "PolicyVersionList": [
        {"VersionId": "v1", "IsDefaultVersion": true, "Document": doc(json!([decrypt]))}]});
    let u = json!({"UserName": "twin", "Arn": format!("arn:aws:iam::{A}:user/twin"),
        "AttachedManagedPolicies": [{"PolicyName": "X", "PolicyArn": mine}, {"PolicyName": "X", "PolicyArn": aws}]});
    let text = json!({"UserDetailList": [u], "Policies": [p, q]}).to_string();
    let a = parse_account(&text, "dump.json").unwrap_or_else(|e| panic!("{e}"));
    let b = analyse(&[a], &[], &key(), &Options::default()).unwrap();
    let got = status(&b, &format!("arn:aws:iam::{A}:user/twin"));
    assert!(got != "cannot", "claimed cannot, but after the switch the AWS managed X allows: {got}");
}

/// A user that may add itself to group G, whose customer-managed policy P it may then
/// switch to a version that decrypts: after `iam:AddUserToGroup`, P is attached to it
/// (through G), so `iam:SetDefaultPolicyVersion` on P is a candidate of the escalated node.
/// The evaluator allows the final request (inline + P v2).
#[test]
fn set_default_version_after_joining_a_group() {
    let doc = |st: serde_json::Value| json!({"Version": "2012-10-17", "Statement": st});
    let pol = format!("arn:aws:iam::{A}:policy/P");
    let grp = format!("arn:aws:iam::{A}:group/G");
    let set_default = json!({"Effect": "Allow", "Action": "iam:SetDefaultPolicyVersion", "Resource": pol});
    let decrypt = json!({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"});
    let join = json!([{"Effect": "Allow", "Action": "iam:AddUserToGroup", "Resource": grp}]);
    let p = json!({"PolicyName": "P", "Arn": pol, "PolicyVersionList": [
        {"VersionId": "v1", "IsDefaultVersion": true, "Document": doc(json!([set_default]))},
        {"VersionId": "v2", "IsDefaultVersion": false, "Document": doc(json!([decrypt]))}]});
    let g = json!({"GroupName": "G", "Arn": grp, "AttachedManagedPolicies": [{"PolicyName": "P", "PolicyArn": pol}]});
    let u = json!({"UserName": "joiner", "Arn": format!("arn:aws:iam::{A}:user/joiner"),
        "UserPolicyList": [{"PolicyName": "i", "PolicyDocument": doc(join)}]});
    let text = json!({"UserDetailList": [u], "GroupDetailList": [g], "Policies": [p]}).to_string();
    let a = parse_account(&text, "dump.json").unwrap_or_else(|e| panic!("{e}"));
    let mut identity = a.users[0].inline.to_vec();
    identity.push(a.versions[&pol][0].1.clone());
    assert!(allowed_after(identity, None, "joiner"), "the evaluator allows it after both steps");
    let got = user_status(a, "joiner");
    assert!(got != "cannot", "claimed cannot, but joining G then switching P decrypts: {got}");
}

/// A provider that is not an account's own (`accounts.google.com`, Cognito, `"*"`) can be
/// trusted by roles of any account, also outside the dumps. Here the key policy lets in
/// account 555566667777 (outside the dumps: the class "any principal of account
/// 555566667777" can), whose roles may trust Google identities as well: the Google
/// identities' class is proved unable only through the dump's role, which is not enough.
#[test]
fn a_global_provider_is_not_cannot_when_principals_outside_the_dumps_can() {
    let doc = |st: serde_json::Value| json!({"Version": "2012-10-17", "Statement": st});
    let trust = json!([{"Effect": "Allow", "Principal": {"Federated": "accounts.google.com"},
        "Action": "sts:AssumeRoleWithWebIdentity"}]);
    let r = json!({"RoleName": "Web", "Arn": format!("arn:aws:iam::{A}:role/Web"), "AssumeRolePolicyDocument": doc(trust),
        "RolePolicyList": [{"PolicyName": "p", "PolicyDocument": doc(json!([{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]))}]});
    let text = json!({"RoleDetailList": [r]}).to_string();
    let a = parse_account(&text, "dump.json").unwrap_or_else(|e| panic!("{e}"));
    let b = analyse(&[a], &[], &key(), &Options::default()).unwrap();
    assert_eq!(status(&b, "any principal of account 555566667777"), "can");
    let got = status(&b, "identities of provider accounts.google.com (sts:AssumeRoleWithWebIdentity)");
    assert!(got != "cannot", "claimed cannot for Google identities, who may assume roles of 555566667777: {got}");
}

/// Switching P (attached to the user; the user's inline policy may switch it) to v2, which
/// drops v1's Deny of kms:Decrypt and may add the user to group G; G has P attached too, an
/// inline Allow of kms:Decrypt and a Deny of iam:SetDefaultPolicyVersion. After the switch
/// P's default is v2 everywhere, G's copy included: joining G decrypts. The escalated node
/// must not bring P's old default (its Deny) back through the group.
#[test]
fn joining_a_group_after_a_switch_brings_the_switched_version() {
    let doc = |st: serde_json::Value| json!({"Version": "2012-10-17", "Statement": st});
    let pol = format!("arn:aws:iam::{A}:policy/P");
    let grp = format!("arn:aws:iam::{A}:group/G");
    let set_default = json!({"Effect": "Allow", "Action": "iam:SetDefaultPolicyVersion", "Resource": pol});
    let no_set_default = json!({"Effect": "Deny", "Action": "iam:SetDefaultPolicyVersion", "Resource": "*"});
    let join = json!({"Effect": "Allow", "Action": "iam:AddUserToGroup", "Resource": grp});
    let deny = json!({"Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"});
    let decrypt = json!({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"});
    let p = json!({"PolicyName": "P", "Arn": pol, "PolicyVersionList": [
        {"VersionId": "v1", "IsDefaultVersion": true, "Document": doc(json!([deny]))},
        {"VersionId": "v2", "IsDefaultVersion": false, "Document": doc(json!([join]))}]});
    let g = json!({"GroupName": "G", "Arn": grp, "AttachedManagedPolicies": [{"PolicyName": "P", "PolicyArn": pol}],
        "GroupPolicyList": [{"PolicyName": "g", "PolicyDocument": doc(json!([decrypt, no_set_default]))}]});
    let u = json!({"UserName": "later", "Arn": format!("arn:aws:iam::{A}:user/later"),
        "AttachedManagedPolicies": [{"PolicyName": "P", "PolicyArn": pol}],
        "UserPolicyList": [{"PolicyName": "i", "PolicyDocument": doc(json!([set_default]))}]});
    let text = json!({"UserDetailList": [u], "GroupDetailList": [g], "Policies": [p]}).to_string();
    let a = parse_account(&text, "dump.json").unwrap_or_else(|e| panic!("{e}"));
    // After both steps: the user's inline policy, P v2 (directly and through G), G's inline policy.
    let v2 = a.versions[&pol][0].1.clone();
    let mut identity = a.users[0].inline.to_vec();
    identity.extend([v2.clone(), v2]);
    identity.extend(a.groups[0].inline.iter().cloned());
    assert!(allowed_after(identity, None, "later"), "the evaluator allows it after both steps");
    let got = user_status(a, "later");
    assert!(got != "cannot", "claimed cannot, but switching P then joining G decrypts: {got}");
}

/// `iam:CreatePolicyVersion` on P (attached) writes a new default version of P: P's old
/// default, and its Deny of kms:Decrypt, is gone. The user can then decrypt; the escalated
/// node "+ any policy" keeps P's old Deny beside `"*"`.
#[test]
fn create_policy_version_drops_the_old_default() {
    let doc = |st: serde_json::Value| json!({"Version": "2012-10-17", "Statement": st});
    let pol = format!("arn:aws:iam::{A}:policy/P");
    let create = json!({"Effect": "Allow", "Action": "iam:CreatePolicyVersion", "Resource": pol});
    let deny = json!({"Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"});
    let p = json!({"PolicyName": "P", "Arn": pol, "PolicyVersionList": [
        {"VersionId": "v1", "IsDefaultVersion": true, "Document": doc(json!([create, deny]))}]});
    let u = json!({"UserName": "writer", "Arn": format!("arn:aws:iam::{A}:user/writer"),
        "AttachedManagedPolicies": [{"PolicyName": "P", "PolicyArn": pol}]});
    let text = json!({"UserDetailList": [u], "Policies": [p]}).to_string();
    let a = parse_account(&text, "dump.json").unwrap_or_else(|e| panic!("{e}"));
    let b = analyse(&[a], &[], &key(), &Options::default()).unwrap();
    let got = status(&b, &format!("arn:aws:iam::{A}:user/writer"));
    assert!(got != "cannot", "claimed cannot, but a new default version of P without the Deny decrypts: {got}");
}

/// `iam:PassRole` of a role trusted by a service that runs code but whose way in is not
/// modelled (CodeBuild): the user may run code as the role, which can decrypt, so the
/// user is undecided, never `cannot`; without the PassRole permission it is `cannot`.
#[test]
fn pass_role_to_an_unmodelled_code_runner_is_undecided() {
    let doc = |st: serde_json::Value| json!({"Version": "2012-10-17", "Statement": st});
    let role_arn = format!("arn:aws:iam::{A}:role/Build");
    let trust = doc(
        json!([{"Effect": "Allow", "Principal": {"Service": "codebuild.amazonaws.com"}, "Action": "sts:AssumeRole"}]),
    );
    let decrypt = doc(json!([{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}]));
    let role = json!({"RoleName": "Build", "Arn": role_arn, "AssumeRolePolicyDocument": trust,
        "RolePolicyList": [{"PolicyName": "d", "PolicyDocument": decrypt}], "AttachedManagedPolicies": []});
    let pass = doc(json!([{"Effect": "Allow", "Action": ["iam:PassRole", "codebuild:*"], "Resource": "*"}]));
    let user = |name: &str, policies: serde_json::Value| {
        json!({"UserName": name, "Arn": format!("arn:aws:iam::{A}:user/{name}"), "UserPolicyList": policies,
               "AttachedManagedPolicies": []})
    };
    let users =
        json!([user("builder", json!([{"PolicyName": "p", "PolicyDocument": pass}])), user("plain", json!([]))]);
    let text = json!({"UserDetailList": users, "RoleDetailList": [role]}).to_string();
    let a = parse_account(&text, "dump.json").unwrap_or_else(|e| panic!("{e}"));
    let b = analyse(&[a], &[], &key(), &Options::default()).unwrap();
    let builder = status(&b, &format!("arn:aws:iam::{A}:user/builder"));
    assert!(builder.starts_with("unknown") && builder.contains("codebuild"), "{builder}");
    assert_eq!(status(&b, &format!("arn:aws:iam::{A}:user/plain")), "cannot");
}
