//! `who-can` end to end on an account dump built from real AWS managed policies
//! (`../shared/corpus/aws-managed-policies/current/`): users and roles attach
//! AdministratorAccess, PowerUserAccess, ReadOnlyAccess, job-function policies, IAM and KMS
//! policies, and the answers are the ones AWS documents for them. Skipped loudly when the
//! shared corpus is absent.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};

const A: &str = "111122223333";
const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn managed_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/aws-managed-policies/current")
}

/// The policies used: (name in the corpus, ARN — job functions live under `job-function/`).
const POLICIES: &[(&str, &str)] = &[
    ("AdministratorAccess", "arn:aws:iam::aws:policy/AdministratorAccess"),
    ("PowerUserAccess", "arn:aws:iam::aws:policy/PowerUserAccess"),
    ("ReadOnlyAccess", "arn:aws:iam::aws:policy/ReadOnlyAccess"),
    ("ViewOnlyAccess", "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess"),
    ("SystemAdministrator", "arn:aws:iam::aws:policy/job-function/SystemAdministrator"),
    ("DatabaseAdministrator", "arn:aws:iam::aws:policy/job-function/DatabaseAdministrator"),
    ("IAMFullAccess", "arn:aws:iam::aws:policy/IAMFullAccess"),
    ("AWSKeyManagementServicePowerUser", "arn:aws:iam::aws:policy/AWSKeyManagementServicePowerUser"),
    ("SecurityAudit", "arn:aws:iam::aws:policy/SecurityAudit"),
    ("AWSBackupOperatorPolicy", "arn:aws:iam::aws:policy/AWSBackupOperatorPolicy"),
];

/// Users and the managed policy each attaches.
const USERS: &[(&str, &str)] = &[
    ("admin", "AdministratorAccess"),
    ("poweruser", "PowerUserAccess"),
    ("readonly", "ReadOnlyAccess"),
    ("viewonly", "ViewOnlyAccess"),
    ("sysadmin", "SystemAdministrator"),
    ("dba", "DatabaseAdministrator"),
    ("iamadmin", "IAMFullAccess"),
    ("kmspower", "AWSKeyManagementServicePowerUser"),
    ("auditor", "SecurityAudit"),
];

fn arn_of(name: &str) -> &'static str {
    POLICIES.iter().find(|(n, _)| *n == name).map(|(_, a)| *a).unwrap()
}

fn attached(name: &str) -> Value {
    json!([{"PolicyName": name, "PolicyArn": arn_of(name)}])
}

/// The dump: the users above, and two roles with AWSBackupOperatorPolicy (which allows
/// kms:Decrypt on `*`): `ec2-sysadmin-backup`, trusted by EC2 and in an instance profile
/// (SystemAdministrator may pass `role/ec2-sysadmin-*` and run instances), and
/// `BackupOperator`, trusted by the account.
fn dump() -> Value {
    let dir = managed_dir();
    let policies: Vec<Value> = POLICIES
        .iter()
        .map(|(name, arn)| {
            let text = std::fs::read_to_string(dir.join(format!("{name}.json"))).unwrap();
            let doc: Value = serde_json::from_str(&text).unwrap();
            json!({"PolicyName": name, "Arn": arn, "DefaultVersionId": "v1", "AttachmentCount": 1,
                   "IsAttachable": true, "PolicyVersionList": [{"Document": doc, "VersionId": "v1", "IsDefaultVersion": true}]})
        })
        .collect();
    let users: Vec<Value> = USERS
        .iter()
        .map(|(u, p)| {
            json!({"Path": "/", "UserName": u, "UserId": format!("AIDA{}", u.to_uppercase()),
                   "Arn": format!("arn:aws:iam::{A}:user/{u}"), "UserPolicyList": [], "GroupList": [],
                   "AttachedManagedPolicies": attached(p), "Tags": []})
        })
        .collect();
    let role = |name: &str, principal: Value, profile: bool| {
        let profiles = if profile { json!([{"InstanceProfileName": name}]) } else { json!([]) };
        json!({"Path": "/", "RoleName": name, "RoleId": format!("AROA{}", name.len()),
               "Arn": format!("arn:aws:iam::{A}:role/{name}"),
               "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [
                   {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}]},
               "InstanceProfileList": profiles, "RolePolicyList": [],
               "AttachedManagedPolicies": attached("AWSBackupOperatorPolicy"), "Tags": []})
    };
    let roles = vec![
        role("ec2-sysadmin-backup", json!({"Service": "ec2.amazonaws.com"}), true),
        role("BackupOperator", json!({"AWS": format!("arn:aws:iam::{A}:root")}), false),
    ];
    json!({"UserDetailList": users, "GroupDetailList": [], "RoleDetailList": roles, "Policies": policies})
}

/// The default key policy: the account (its IAM policies) may use the key.
fn default_key_policy() -> Value {
    json!({"Version": "2012-10-17", "Statement": [{"Sid": "Enable IAM User Permissions", "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{A}:root")}, "Action": "kms:*", "Resource": "*"}]})
}

fn who_can(dump: &Path, key: &Path) -> Value {
    let key = format!("{KEY}={}", key.display());
    let args = ["who-can", "--authorization-details", dump.to_str().unwrap(), "--key-policy", &key, "--format", "json"];
    let out = super::util::kmsproof(&args);
    assert_eq!(out.status.code(), Some(1), "{}", super::util::stderr(&out));
    super::util::json(&out)
}

/// (status, techniques of the path) of a principal.
fn status(v: &Value, principal: &str) -> (String, Vec<String>) {
    let p = v["keys"][0]["principals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["principal"] == principal)
        .unwrap_or_else(|| panic!("no {principal}"));
    let path = p["path"]
        .as_array()
        .map_or(vec![], |h| h.iter().map(|x| x["technique"].as_str().unwrap().to_string()).collect());
    (p["status"].as_str().unwrap().to_string(), path)
}

#[test]
fn managed_policies_end_to_end() {
    if !managed_dir().is_dir() {
        eprintln!(
            "\n*** SKIPPING who-can on managed policies: {} not found (the shared corpus lives beside the project root) ***\n",
            managed_dir().display()
        );
        return;
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("whocan-managed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (gaad, key) = (dir.join("gaad.json"), dir.join("key.json"));
    std::fs::write(&gaad, serde_json::to_string_pretty(&dump()).unwrap()).unwrap();
    std::fs::write(&key, default_key_policy().to_string()).unwrap();
    let v = who_can(&gaad, &key);
    let user = |u: &str| format!("arn:aws:iam::{A}:user/{u}");
    let can = |s: &str| (s.to_string(), vec![]);
    // "*" on "*", and PowerUserAccess's NotAction iam/organizations/account: KMS included.
    assert_eq!(status(&v, &user("admin")), can("can"));
    assert_eq!(status(&v, &user("poweruser")), can("can"));
    assert_eq!(status(&v, &format!("arn:aws:iam::{A}:root")), can("can"));
    // Read-only and audit policies read keys (kms:Describe*, Get*, List*) but never decrypt,
    // and hold no IAM write or sts:AssumeRole: proved cannot.
    for u in ["readonly", "viewonly", "auditor", "kmspower", "dba"] {
        assert_eq!(status(&v, &user(u)), can("cannot"), "{u}");
    }
    // SystemAdministrator may pass `role/ec2-sysadmin-*` to EC2 and run instances.
    assert_eq!(status(&v, &user("sysadmin")), ("can".into(), vec!["iam:PassRole to ec2.amazonaws.com".into()]));
    // IAMFullAccess escalates in one edge: a policy for itself, or credentials of a user
    // who can (which one the shortest path takes is the first edge found).
    const ESCALATIONS: &[&str] = &[
        "iam:PutUserPolicy",
        "iam:AttachUserPolicy",
        "iam:CreateAccessKey",
        "iam:CreateLoginProfile",
        "iam:UpdateLoginProfile",
        "iam:UpdateAssumeRolePolicy",
    ];
    let (s, path) = status(&v, &user("iamadmin"));
    assert_eq!((s.as_str(), path.len()), ("can", 1), "{path:?}");
    assert!(ESCALATIONS.contains(&path[0].as_str()), "{path:?}");
    // Both roles hold AWSBackupOperatorPolicy (kms:Decrypt on *).
    assert_eq!(status(&v, &format!("arn:aws:iam::{A}:role/BackupOperator")), can("can"));
    assert_eq!(status(&v, &format!("arn:aws:iam::{A}:role/ec2-sysadmin-backup")), can("can"));
    // A key that names only BackupOperator: the account's IAM policies no longer count, so
    // admin and poweruser reach it only by assuming the role (sts:AssumeRole is theirs).
    let named = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{A}:role/BackupOperator")}, "Action": "kms:Decrypt", "Resource": "*"}]});
    std::fs::write(&key, named.to_string()).unwrap();
    let v = who_can(&gaad, &key);
    for u in ["admin", "poweruser"] {
        assert_eq!(status(&v, &user(u)), ("can".into(), vec!["sts:AssumeRole".into()]), "{u}");
    }
    assert_eq!(status(&v, &user("sysadmin")), can("cannot"));
    assert_eq!(status(&v, &user("readonly")), can("cannot"));
    // IAMFullAccess: rewrite the role's trust policy, or escalate and then assume it.
    let (s, path) = status(&v, &user("iamadmin"));
    assert!(s == "can" && (1..=2).contains(&path.len()) && ESCALATIONS.contains(&path[0].as_str()), "{path:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
