//! `kmsproof who-can` / `can`: the fixtures of `corpus/who-can/`, input errors, the CLI.

use kmsproof::model::load::{load_policy, read_source};
use kmsproof::model::policy::PolicyKind;
use kmsproof::whocan::gaad::{parse_account, Account};
use kmsproof::whocan::kms::Key;
use kmsproof::whocan::{analyse, Analysis, Options, Status};
use std::path::Path;

const DIR: &str = "corpus/who-can";
const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const A: &str = "111122223333";

fn account(file: &str) -> Account {
    let (text, label) = read_source(&Path::new(DIR).join(file)).unwrap();
    parse_account(&text, &label).unwrap_or_else(|e| panic!("{e}"))
}

fn key(file: &str) -> Key {
    Key {
        arn: KEY.into(),
        policy: load_policy(&Path::new(DIR).join(file), PolicyKind::KeyPolicy).unwrap(),
        grants: vec![],
    }
}

fn options(escalation: bool) -> Options {
    Options { escalation, ..Options::default() }
}

fn run(accounts: &[&str], key_file: &str, scps: &[&str], escalation: bool) -> Analysis {
    let accounts: Vec<Account> = accounts.iter().map(|f| account(f)).collect();
    let scps: Vec<_> = scps.iter().map(|f| load_policy(&Path::new(DIR).join(f), PolicyKind::Scp).unwrap()).collect();
    analyse(&accounts, &scps, &key(key_file), &options(escalation)).unwrap_or_else(|e| panic!("{e}"))
}

fn user(name: &str) -> String {
    format!("arn:aws:iam::{A}:user/{name}")
}

fn role(name: &str) -> String {
    format!("arn:aws:iam::{A}:role/{name}")
}

/// The techniques on the principal's shortest path, or "cannot"/"unknown".
fn path(a: &Analysis, label: &str) -> Vec<String> {
    let i = a.graph.node_indices().find(|i| a.graph[*i].label == label).unwrap_or_else(|| panic!("no node {label}"));
    match &a.status[i.index()] {
        Status::Can(edges, _) => {
            let mut v: Vec<String> = edges.iter().map(|e| a.graph[*e].technique.label()).collect();
            v.insert(0, "can".into());
            v
        }
        Status::Cannot => vec!["cannot".into()],
        Status::BeyondHops => vec!["beyond".into()],
        Status::Unknown(why) => vec![format!("unknown: {why}")],
    }
}

fn assert_path(a: &Analysis, label: &str, want: &[&str]) {
    assert_eq!(path(a, label), want, "{label}");
}

#[test]
fn direct_group_and_role_chain() {
    let a = run(&["account.json"], "key-policy.json", &[], false);
    assert_path(&a, &user("alice"), &["can"]);
    assert_path(&a, &user("bob"), &["can"]);
    assert_path(&a, &user("carol"), &["can", "sts:AssumeRole", "sts:AssumeRole", "sts:AssumeRole"]);
    assert_path(&a, &user("zed"), &["cannot"]);
    // Without escalation edges, the escalating users cannot.
    assert_path(&a, &user("esc-put"), &["cannot"]);
}

#[test]
fn a_boundary_breaks_the_chain() {
    let a = run(&["account.json"], "key-policy.json", &[], false);
    // dave's identity policy allows sts:AssumeRole on *, and Guarded trusts the account,
    // but his boundary (s3:* only) does not allow sts:AssumeRole.
    assert_path(&a, &user("dave"), &["cannot"]);
    // The same dump without the boundary: dave assumes Guarded.
    let (text, label) = read_source(&Path::new(DIR).join("account.json")).unwrap();
    let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    for u in doc["UserDetailList"].as_array_mut().unwrap() {
        if u["UserName"] == "dave" {
            u.as_object_mut().unwrap().remove("PermissionsBoundary");
        }
    }
    let unbounded = parse_account(&doc.to_string(), &label).unwrap();
    let b = analyse(&[unbounded], &[], &key("key-policy.json"), &options(false)).unwrap();
    assert_eq!(path(&b, &user("dave"))[..2], ["can", "sts:AssumeRole"]);
}

#[test]
fn witnesses_are_replayed_requests() {
    let a = run(&["account.json"], "key-policy.json", &[], false);
    let i = a.graph.node_indices().find(|i| a.graph[*i].label == user("carol")).unwrap();
    let Status::Can(edges, end) = &a.status[i.index()] else { panic!("carol can") };
    let first = &a.graph[edges[0]].witnesses[0].request;
    assert_eq!(first["principal"], user("carol"));
    assert_eq!(first["action"], "sts:AssumeRole");
    assert_eq!(first["resource"], role("ChainA"));
    assert_eq!(a.graph[*end].label, role("ChainC"));
}

#[test]
fn external_id_trust_and_conditions_on_the_last_hop() {
    let a = run(&["account.json"], "key-policy.json", &[], false);
    let label = "any principal of account 444455556666";
    assert_path(&a, label, &["can", "sts:AssumeRole"]);
    let i = a.graph.node_indices().find(|i| a.graph[*i].label == label).unwrap();
    let Status::Can(edges, end) = &a.status[i.index()] else { panic!() };
    let w = &a.graph[edges[0]].witnesses[0].request;
    assert_eq!(w["context"]["sts:ExternalId"], "partner-7781");
    assert_ne!(w["principal"].as_str().unwrap().split(':').nth(4), Some(A));
    let hop = a.last[end.index()].as_ref().unwrap();
    assert_eq!(hop.required, ["aws:ViaAWSService", "kms:ViaService"]);
}

#[test]
fn org_id_trust_lets_in_other_accounts_of_the_organization() {
    let a = run(&["org-trust.json"], "key-policy.json", &[], false);
    let label = "any principal of any other account";
    assert_path(&a, label, &["can", "sts:AssumeRole"]);
    let i = a.graph.node_indices().find(|i| a.graph[*i].label == label).unwrap();
    let Status::Can(edges, _) = &a.status[i.index()] else { panic!() };
    assert_eq!(a.graph[edges[0]].witnesses[0].request["context"]["aws:PrincipalOrgID"], "o-a1b2c3d4e5");
}

#[test]
fn same_account_iam_counts_only_when_the_key_policy_trusts_the_account() {
    let a = run(&["account.json"], "key-policy-named-role.json", &[], false);
    assert_path(&a, &user("alice"), &["cannot"]);
    assert_path(&a, &user("bob"), &["cannot"]);
    assert_path(&a, &role("ChainC"), &["can"]);
    assert_path(&a, &user("carol"), &["can", "sts:AssumeRole", "sts:AssumeRole", "sts:AssumeRole"]);
    assert_path(&a, &format!("arn:aws:iam::{A}:root"), &["cannot"]);
}

#[test]
fn an_scp_caps_every_principal_of_the_account() {
    let a = run(&["account.json"], "key-policy.json", &["scp-decrypt-only-chain-roles.json"], false);
    assert_path(&a, &user("alice"), &["cannot"]);
    assert_path(&a, &role("Guarded"), &["cannot"]);
    assert_path(&a, &user("carol"), &["can", "sts:AssumeRole", "sts:AssumeRole", "sts:AssumeRole"]);
    // The SCPs of this organization do not cap other accounts.
    assert_path(&a, "any principal of account 555566667777", &["can"]);
}

#[test]
fn cross_account_chain() {
    let a = run(&["account.json", "partner-account.json"], "key-policy-named-role.json", &[], false);
    // xavier (555566667777) assumes CrossIn, whose trust names his account and whose
    // identity policy allows Decrypt, but this key names only ChainC.
    assert_path(&a, "arn:aws:iam::555566667777:user/xavier", &["cannot"]);
    let b = run(&["account.json", "partner-account.json"], "key-policy.json", &[], false);
    // The key trusts 555566667777 directly, but xavier's own policy does not allow Decrypt:
    // his path is through CrossIn.
    assert_path(&b, "arn:aws:iam::555566667777:user/xavier", &["can", "sts:AssumeRole"]);
    assert_path(&b, "arn:aws:iam::555566667777:user/yolanda", &["cannot"]);
}

#[test]
fn each_escalation_technique() {
    let a = run(&["account.json"], "key-policy.json", &[], true);
    let cases: &[(&str, &[&str])] = &[
        ("esc-put", &["can", "iam:PutUserPolicy"]),
        ("esc-attach", &["can", "iam:AttachUserPolicy"]),
        ("esc-group", &["can", "iam:PutGroupPolicy"]),
        ("esc-attach-group", &["can", "iam:AttachGroupPolicy"]),
        ("esc-version", &["can", "iam:CreatePolicyVersion"]),
        ("esc-addgroup", &["can", "iam:AddUserToGroup"]),
        ("esc-key", &["can", "iam:CreateAccessKey"]),
        ("esc-login", &["can", "iam:CreateLoginProfile"]),
        ("esc-update-login", &["can", "iam:UpdateLoginProfile"]),
        ("esc-trust", &["can", "iam:UpdateAssumeRolePolicy"]),
        ("esc-pass", &["can", "iam:PassRole to lambda.amazonaws.com"]),
        ("esc-pass-ec2", &["can", "iam:PassRole to ec2.amazonaws.com"]),
        ("esc-role", &["can", "sts:AssumeRole", "iam:PutRolePolicy"]),
        ("mallory", &["cannot"]),
        ("zed", &["cannot"]),
        ("dave", &["cannot"]),
    ];
    for (name, want) in cases {
        assert_path(&a, &user(name), want);
    }
}

#[test]
fn malformed_dumps_are_positioned_errors() {
    let missing = r#"{"UserDetailList": [{"UserName": "u", "Arn": "arn:aws:iam::111122223333:user/u",
        "AttachedManagedPolicies": [{"PolicyName": "P", "PolicyArn": "arn:aws:iam::111122223333:policy/P"}]}],
        "GroupDetailList": [], "RoleDetailList": [], "Policies": []}"#;
    // A managed policy the dump names but does not contain: read anyway, with a positioned
    // warning naming it, and its holder `unknown` (it may allow or deny anything).
    let acc = parse_account(missing, "dump.json").unwrap_or_else(|e| panic!("{e}"));
    let w = acc.warnings.iter().map(|w| w.to_string()).collect::<Vec<_>>().join("\n");
    assert!(w.contains("dump.json:2:37: warning: at UserDetailList[0].AttachedManagedPolicies[0]"), "{w}");
    assert!(w.contains("arn:aws:iam::111122223333:policy/P") && w.contains("does not contain it"), "{w}");
    let kp = key("key-policy.json");
    let a = analyse(&[acc], &[], &kp, &options(true)).unwrap();
    let got = path(&a, &user("u"));
    assert!(got[0].starts_with("unknown: ") && got[0].contains("policy/P"), "{got:?}");
    let bad_group =
        r#"{"UserDetailList": [{"UserName": "u", "Arn": "arn:aws:iam::111122223333:user/u", "GroupList": ["G"]}]}"#;
    let e = parse_account(bad_group, "dump.json").unwrap_err().to_string();
    assert!(e.contains("GroupList[0]") && e.contains("not in \"GroupDetailList\""), "{e}");
    let bad_trust = r#"{"RoleDetailList": [{"RoleName": "R", "Arn": "arn:aws:iam::111122223333:role/R",
        "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{"Effect": "Alow", "Principal": "*", "Action": "sts:AssumeRole"}]}}]}"#;
    let e = parse_account(bad_trust, "dump.json").unwrap_err().to_string();
    assert!(e.contains("dump.json:2:") && e.contains("RoleDetailList[0].AssumeRolePolicyDocument.Statement[0]"), "{e}");
    let e = parse_account("[1]", "dump.json").unwrap_err().to_string();
    assert!(e.contains("get-account-authorization-details"), "{e}");
    let two = r#"{"UserDetailList": [{"UserName": "u", "Arn": "arn:aws:iam::111122223333:user/u"},
        {"UserName": "v", "Arn": "arn:aws:iam::999988887777:user/v"}]}"#;
    let e = parse_account(two, "dump.json").unwrap_err().to_string();
    assert!(e.contains("differs from the dump's account"), "{e}");
}

fn kmsproof(args: &[&str]) -> (i32, String, String) {
    let out = super::util::kmsproof(args);
    (out.status.code().unwrap_or(-1), super::util::stdout(&out), super::util::stderr(&out))
}

#[test]
fn cli_formats_and_exit_codes() {
    let dump = format!("{DIR}/account.json");
    let kp = format!("{DIR}/key-policy-named-role.json");
    let base = ["--authorization-details", dump.as_str(), "--key-policy", kp.as_str(), "--no-escalation"];
    let (code, out, err) = kmsproof(&[&["who-can"], &base[..], &["--format", "json"]].concat());
    assert_eq!(code, 1, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let can: Vec<&str> = v["keys"][0]["principals"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["status"] == "can")
        .map(|p| p["principal"].as_str().unwrap())
        .collect();
    assert!(can.contains(&role("ChainC").as_str()) && can.contains(&user("carol").as_str()), "{can:?}");
    assert!(!can.contains(&user("alice").as_str()));
    let (code, out, _) = kmsproof(&[&["who-can"], &base[..], &["--format", "dot"]].concat());
    assert_eq!(code, 1);
    assert!(out.starts_with("digraph whocan {") && out.contains("sts:AssumeRole"), "{out}");
    let (code, out, _) = kmsproof(&[&["can", "--principal", &user("zed")], &base[..]].concat());
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("CANNOT arn:aws:iam::111122223333:user/zed"), "{out}");
    let (code, out, _) = kmsproof(&[&["can", "--principal", &user("carol")], &base[..]].concat());
    assert_eq!(code, 1);
    assert!(out.contains("CAN  arn:aws:iam::111122223333:user/carol (user) in 3 hop(s)"), "{out}");
    // Every principal that can is allowed: exit 0.
    let allowed: Vec<String> = can.iter().flat_map(|p| ["--allow".to_string(), p.to_string()]).collect();
    let allowed: Vec<&str> = allowed.iter().map(String::as_str).collect();
    let (code, _, _) = kmsproof(&[&["who-can"], &base[..], &allowed[..]].concat());
    assert_eq!(code, 0);
    let (code, _, err) =
        kmsproof(&["who-can", "--authorization-details", &format!("{DIR}/nope.json"), "--key-policy", &kp]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = kmsproof(&[&["who-can"], &base[..], &["--action", "kms:Decrpyt"]].concat());
    assert_eq!((code, err.contains("not a KMS action")), (2, true), "{err}");
}

/// A fresh directory under the target dir for one test's files.
fn scratch(name: &str) -> std::path::PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("whocan-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn a_directory_of_key_policies() {
    let dump = format!("{DIR}/account.json");
    let dir = format!("{DIR}/keys");
    let args =
        ["who-can", "--authorization-details", &dump, "--key-policy", &dir, "--no-escalation", "--format", "json"];
    let (code, out, err) = kmsproof(&args);
    assert_eq!(code, 1, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let keys = v["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    // Sorted by file name: the key id from the file name, then the file's KeyArn.
    assert_eq!(keys[0]["key"], KEY);
    let derived = keys[0]["key_source"].as_str().unwrap();
    assert!(
        derived.contains("derived: key id from the file name") && derived.contains("us-east-1 assumed"),
        "{derived}"
    );
    assert_eq!(keys[1]["key"], "arn:aws:kms:us-east-1:111122223333:key/0c1d2e3f-0000-4000-8000-00000000c0c0");
    assert!(keys[1]["key_source"].as_str().unwrap().contains("the file's KeyArn"));
    let status = |k: &serde_json::Value, p: &str| {
        k["principals"].as_array().unwrap().iter().find(|x| x["principal"] == p).unwrap()["status"].clone()
    };
    assert_eq!(status(&keys[0], &user("alice")), "can");
    assert_eq!(status(&keys[1], &user("alice")), "cannot");
    assert_eq!(status(&keys[1], &user("carol")), "can");
    let (_, table, _) = kmsproof(&args[..6]);
    assert!(table.starts_with(&format!("key {KEY} from {DIR}/keys/1234abcd")), "{table}");
}

#[test]
fn bad_key_policy_directories_are_errors() {
    let dump = format!("{DIR}/account.json");
    let policy = std::fs::read_to_string(format!("{DIR}/key-policy.json")).unwrap();
    let run =
        |dir: &Path| kmsproof(&["who-can", "--authorization-details", &dump, "--key-policy", dir.to_str().unwrap()]);
    // A file that is not JSON, a name that is no key id, a bad KeyArn: every one reported.
    let d = scratch("bad-keys");
    std::fs::write(d.join("README.md"), "keys").unwrap();
    std::fs::write(d.join("finance.json"), &policy).unwrap();
    std::fs::write(d.join("k.json"), "{\"KeyArn\": \"arn:aws:s3:::b\",\n \"Policy\": {}}").unwrap();
    let (code, _, err) = run(&d);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("README.md: error: not a .json file"), "{err}");
    assert!(err.contains("finance.json: error: cannot tell which key") && err.contains("KEY-ID.json"), "{err}");
    assert!(err.contains("k.json:1:12: error: at KeyArn: \"arn:aws:s3:::b\" is not a KMS key ARN"), "{err}");
    // Two files for one key.
    let d = scratch("dup-keys");
    std::fs::write(d.join("1234abcd-12ab-34cd-56ef-1234567890ab.json"), &policy).unwrap();
    let wrapped = serde_json::json!({"KeyArn": KEY, "Policy": policy}).to_string();
    std::fs::write(d.join("same.json"), wrapped).unwrap();
    let (code, _, err) = run(&d);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("same.json: error: key") && err.contains("is already given by"), "{err}");
    // KeyArn inside a policy document, and an empty directory.
    let d = scratch("inline-keyarn");
    let inside = policy.replacen('{', &format!("{{\"KeyArn\": \"{KEY}\","), 1);
    std::fs::write(d.join("x.json"), inside).unwrap();
    let (code, _, err) = run(&d);
    assert!(code == 2 && err.contains("goes beside \"Policy\""), "{err}");
    let (code, _, err) = run(&scratch("empty-keys"));
    assert!(code == 2 && err.contains("holds no .json file"), "{err}");
}

/// A dump of `extra` roles (name, trust statement, inline policy statements, instance
/// profile) and users (name, inline statements), in account A.
fn dump_of(
    roles: &[(&str, serde_json::Value, serde_json::Value, bool)],
    users: &[(&str, serde_json::Value)],
) -> Account {
    use serde_json::json;
    let doc = |st: &serde_json::Value| json!({"Version": "2012-10-17", "Statement": st});
    let roles: Vec<_> = roles
        .iter()
        .map(|(n, trust, pol, profile)| {
            json!({"RoleName": n, "Arn": role(n), "AssumeRolePolicyDocument": doc(&json!([trust])),
                "InstanceProfileList": if *profile { json!([{"InstanceProfileName": n}]) } else { json!([]) },
                "RolePolicyList": [{"PolicyName": "p", "PolicyDocument": doc(pol)}]})
        })
        .collect();
    let users: Vec<_> = users
        .iter()
        .map(|(n, pol)| json!({"UserName": n, "Arn": user(n), "UserPolicyList": [{"PolicyName": "p", "PolicyDocument": doc(pol)}]}))
        .collect();
    let text = json!({"UserDetailList": users, "RoleDetailList": roles}).to_string();
    parse_account(&text, "dump.json").unwrap_or_else(|e| panic!("{e}"))
}

/// `iam:PassRole` to a service whose trust statement has conditions (the service's own
/// request, e.g. `aws:SourceAccount`): undecided, never claimed; refuted when the caller
/// cannot pass the role; decided when the trust statement has no condition.
#[test]
fn pass_role_trust_conditions_are_undecided_not_claimed() {
    use serde_json::json;
    let decrypt = json!([{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}]);
    let lambda = |cond: Option<serde_json::Value>| {
        let mut t =
            json!({"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"});
        if let Some(c) = cond {
            t["Condition"] = c;
        }
        t
    };
    let source = json!({"StringEquals": {"aws:SourceAccount": A}});
    let passer = |r: &str| {
        json!([{"Effect": "Allow", "Action": "iam:PassRole", "Resource": role(r)},
               {"Effect": "Allow", "Action": ["lambda:CreateFunction", "lambda:InvokeFunction"], "Resource": "*"}])
    };
    let a = dump_of(
        &[("Guarded", lambda(Some(source)), decrypt.clone(), false), ("Open", lambda(None), decrypt.clone(), false)],
        &[
            ("p-guarded", passer("Guarded")),
            ("p-open", passer("Open")),
            ("p-none", json!([{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}])),
        ],
    );
    let b = analyse(&[a], &[], &key("key-policy.json"), &options(true)).unwrap();
    assert_path(&b, &user("p-open"), &["can", "iam:PassRole to lambda.amazonaws.com"]);
    let got = path(&b, &user("p-guarded"));
    assert!(
        got[0].starts_with("unknown:")
            && got[0].contains("aws:SourceAccount")
            && got[0].contains("only with some request contexts"),
        "{got:?}"
    );
    assert_path(&b, &user("p-none"), &["cannot"]);
}

/// Web-identity and SAML providers a trust policy admits are class nodes, undecided (the
/// provider's claims are outside the encoding) when the role can reach the key, and
/// proved unable when the role is.
#[test]
fn federated_providers_are_classes_never_claimed() {
    use serde_json::json;
    let github = "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com";
    let oidc = json!({"Effect": "Allow", "Principal": {"Federated": github}, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringLike": {"token.actions.githubusercontent.com:sub": "repo:org/app:*"},
                      "StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}}});
    let saml = json!({"Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::111122223333:saml-provider/Corp"},
        "Action": "sts:AssumeRoleWithSAML", "Condition": {"StringEquals": {"SAML:aud": "https://signin.aws.amazon.com/saml"}}});
    let decrypt = json!([{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}]);
    let nothing = json!([{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]);
    let a = dump_of(&[("Deploy", oidc, decrypt, false), ("Sso", saml, nothing, false)], &[]);
    let b = analyse(&[a], &[], &key("key-policy.json"), &options(true)).unwrap();
    let gh = format!("identities of provider {github} (sts:AssumeRoleWithWebIdentity)");
    let got = path(&b, &gh);
    assert!(got[0].starts_with("unknown:") && got[0].contains("token.actions.githubusercontent.com:sub"), "{got:?}");
    assert!(got[0].contains("the role's own status: can"), "{got:?}");
    assert_path(
        &b,
        "identities of provider arn:aws:iam::111122223333:saml-provider/Corp (sts:AssumeRoleWithSAML)",
        &["cannot"],
    );
    assert_path(&b, &role("Deploy"), &["can"]);
    // The closing line counts the provider as undecided.
    let text = kmsproof::report::whocan::text(&[&b], None);
    assert!(text.contains("1 undecided"), "{text}");
}

/// `iam:SetDefaultPolicyVersion`: switching a customer-managed policy attached to the
/// caller to an existing version gives exactly that version's permissions — its Allows
/// added, and the default version's statements (a Deny too) gone.
#[test]
fn set_default_policy_version_switches_to_an_existing_version() {
    use serde_json::json;
    let doc = |st: serde_json::Value| json!({"Version": "2012-10-17", "Statement": st});
    let pol = |n: &str| format!("arn:aws:iam::{A}:policy/{n}");
    let set_default = |n: &str| json!({"Effect": "Allow", "Action": "iam:SetDefaultPolicyVersion", "Resource": pol(n)});
    let decrypt = json!({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"});
    let s3 = json!({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"});
    let managed = |n: &str, default: serde_json::Value, other: serde_json::Value| {
        json!({"PolicyName": n, "Arn": pol(n), "PolicyVersionList": [
            {"VersionId": "v2", "IsDefaultVersion": true, "Document": doc(default)},
            {"VersionId": "v1", "IsDefaultVersion": false, "Document": doc(other)}]})
    };
    let deny = json!({"Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"});
    let policies = json!([
        // Version v1 allowed Decrypt; v2 (default) does not.
        managed("Widening", json!([s3, set_default("Widening")]), json!([decrypt])),
        // v1 allows nothing more.
        managed("Same", json!([s3, set_default("Same")]), json!([s3])),
        // v2 denies Decrypt (which the user's inline policy allows); v1 does not.
        managed("Denying", json!([deny, set_default("Denying")]), json!([s3])),
        // Decrypt in v1, but the user may not switch versions.
        managed("Locked", json!([s3]), json!([decrypt])),
    ]);
    let u = |n: &str, p: &str, inline: serde_json::Value| {
        json!({"UserName": n, "Arn": user(n), "AttachedManagedPolicies": [{"PolicyName": p, "PolicyArn": pol(p)}],
               "UserPolicyList": [{"PolicyName": "i", "PolicyDocument": doc(inline)}]})
    };
    let users = json!([
        u("widen", "Widening", json!([s3])),
        u("same", "Same", json!([s3])),
        u("undeny", "Denying", json!([decrypt])),
        u("locked", "Locked", json!([s3])),
    ]);
    let text = json!({"UserDetailList": users, "Policies": policies}).to_string();
    let a = parse_account(&text, "dump.json").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(a.versions[&pol("Widening")][0].0, "v1");
    let b = analyse(&[a], &[], &key("key-policy.json"), &options(true)).unwrap();
    assert_path(&b, &user("widen"), &["can", "iam:SetDefaultPolicyVersion"]);
    assert_path(&b, &user("undeny"), &["can", "iam:SetDefaultPolicyVersion"]);
    assert_path(&b, &user("same"), &["cannot"]);
    assert_path(&b, &user("locked"), &["cannot"]);
    let i = b.graph.node_indices().find(|i| b.graph[*i].label == user("widen")).unwrap();
    let Status::Can(edges, end) = &b.status[i.index()] else { panic!() };
    assert_eq!(b.graph[edges[0]].witnesses[0].request["resource"], pol("Widening"));
    assert!(b.graph[*end].label.ends_with("+ arn:aws:iam::111122223333:policy/Widening version v1"));
    // Without escalation, nobody of them can (undeny's own Allow is denied by v2).
    let c =
        analyse(&[parse_account(&text, "dump.json").unwrap()], &[], &key("key-policy.json"), &options(false)).unwrap();
    assert_path(&c, &user("undeny"), &["cannot"]);
    // A non-default version that does not parse is a positioned error.
    let bad = text.replace("\"VersionId\":\"v1\"", "\"VersionIdx\":\"v1\"");
    let e = parse_account(&bad, "dump.json").unwrap_err().to_string();
    assert!(e.contains("PolicyVersionList[1]") && e.contains("missing \"VersionId\""), "{e}");
}

/// Parser warnings on the dump's policies (an unknown `aws:` key in a trust policy) are
/// shown, with the position in the dump, never dropped.
#[test]
fn dump_policy_warnings_are_shown() {
    let d = scratch("warnings");
    let dump = d.join("dump.json");
    let text = r#"{"RoleDetailList": [{"RoleName": "R", "Arn": "arn:aws:iam::111122223333:role/R",
 "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
   "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "sts:AssumeRole",
   "Condition": {"StringEquals": {"aws:SourceAcount": "111122223333"}}}]}}]}"#;
    std::fs::write(&dump, text).unwrap();
    let kp = format!("{DIR}/key-policy.json");
    let (_, _, err) = kmsproof(&["who-can", "--authorization-details", dump.to_str().unwrap(), "--key-policy", &kp]);
    assert!(err.contains("dump.json:4:") && err.contains("unknown condition key \"aws:SourceAcount\""), "{err}");
}

/// A file's own `KeyArn` must agree with the ARN the command line gives.
#[test]
fn key_arn_of_the_file_and_of_the_command_line_agree() {
    let dump = format!("{DIR}/account.json");
    let file = format!("{DIR}/keys/finance-key.json");
    let other = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    let (code, _, err) =
        kmsproof(&["who-can", "--authorization-details", &dump, "--key-policy", &file, "--key-arn", other]);
    assert!(code == 2 && err.contains("finance-key.json:2:") && err.contains("but --key-arn gives"), "{err}");
    let (code, _, err) =
        kmsproof(&["who-can", "--authorization-details", &dump, "--key-policy", &format!("{other}={file}")]);
    assert!(code == 2 && err.contains("but ARN=FILE gives"), "{err}");
}

/// A path that needs the same policy switched twice (P to p1, which may switch Q; Q to q1,
/// which drops Q's Deny and may switch P; P to p2, which decrypts) is undecided, never
/// `cannot`: a second switch after another escalation is not modelled.
#[test]
fn switching_a_policy_twice_is_undecided_not_cannot() {
    use serde_json::json;
    let doc = |st: serde_json::Value| json!({"Version": "2012-10-17", "Statement": st});
    let pol = |n: &str| format!("arn:aws:iam::{A}:policy/{n}");
    let set_default = |n: &str| json!({"Effect": "Allow", "Action": "iam:SetDefaultPolicyVersion", "Resource": pol(n)});
    let version = |id: &str, default: bool, st: serde_json::Value| json!({"VersionId": id, "IsDefaultVersion": default, "Document": doc(st)});
    let p = json!({"PolicyName": "P", "Arn": pol("P"), "PolicyVersionList": [
        version("pA", true, json!([set_default("P")])),
        version("p1", false, json!([set_default("Q")])),
        version("p2", false, json!([{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}]))]});
    let q = json!({"PolicyName": "Q", "Arn": pol("Q"), "PolicyVersionList": [
        version("qA", true, json!([{"Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"}])),
        version("q1", false, json!([set_default("P")]))]});
    let u = json!({"UserName": "twice", "Arn": user("twice"), "AttachedManagedPolicies": [
        {"PolicyName": "P", "PolicyArn": pol("P")}, {"PolicyName": "Q", "PolicyArn": pol("Q")}]});
    let text = json!({"UserDetailList": [u], "Policies": [p, q]}).to_string();
    let a = parse_account(&text, "dump.json").unwrap_or_else(|e| panic!("{e}"));
    let b = analyse(&[a], &[], &key("key-policy.json"), &options(true)).unwrap();
    let got = path(&b, &user("twice"));
    assert!(got[0].starts_with("unknown:") && got[0].contains("again"), "{got:?}");
}

/// KMS's own escalations (issue 19 items 1–2) on the console's default key policy:
/// its administrators replace the key policy (`kms:Put*`), a principal allowed to grant
/// itself `Decrypt` does so; grants the encoding does not follow are `unknown`, never
/// `cannot`; a Deny on the administrator itself is bypassed through a role that the
/// replaced key policy then allows.
#[test]
fn kms_put_key_policy_and_create_grant() {
    let a = run(&["kms-escalation-account.json"], "key-policy-console-default.json", &[], true);
    assert_path(&a, &user("keyuser"), &["can"]);
    assert_path(&a, &user("keyadmin"), &["can", "kms:PutKeyPolicy"]);
    assert_path(&a, &user("granter"), &["can", "kms:CreateGrant"]);
    assert_path(&a, &user("denied-admin"), &["can", "kms:PutKeyPolicy", "sts:AssumeRole"]);
    assert_path(&a, &user("nobody"), &["cannot"]);
    for name in ["granter-other", "granter-constrained", "granter-aws-resource"] {
        let got = path(&a, &user(name));
        assert!(
            got.len() == 1 && got[0].starts_with("unknown: ") && got[0].contains("kms:CreateGrant"),
            "{name}: {got:?}"
        );
    }
    // Without escalation the administrators are `cannot`: the techniques are what finds them.
    let b = run(&["kms-escalation-account.json"], "key-policy-console-default.json", &[], false);
    assert_path(&b, &user("keyadmin"), &["cannot"]);
}

/// A `cannot` that rests on an undocumented reading says so, per principal, as `check`
/// does (issue 19 item 7): the role's boundary caps a key-policy Allow naming the role
/// ARN (boundary-caps-role-arn), and the user who can only reach that role rests on it too.
#[test]
fn cannot_carries_the_readings_it_rests_on() {
    let a = run(&["boundary-reading-account.json"], "key-policy-bounded-role.json", &[], true);
    for label in [role("Bounded"), user("assumer")] {
        assert_path(&a, &label, &["cannot"]);
        let i = a.graph.node_indices().find(|i| a.graph[*i].label == label).unwrap();
        let r = &a.rests_on[i.index()];
        assert!(r.len() == 1 && r[0].contains("boundary-caps-role-arn"), "{label}: {r:?}");
    }
    let v = kmsproof::report::whocan::json(&[&a], None);
    let p = v["keys"][0]["principals"].as_array().unwrap();
    let bounded = p.iter().find(|p| p["principal"] == role("Bounded")).unwrap();
    assert!(bounded["rests_on"][0].as_str().unwrap().contains("boundary-caps-role-arn"), "{bounded}");
    let root = p.iter().find(|p| p["principal"] == format!("arn:aws:iam::{A}:root")).unwrap();
    assert_eq!(root["rests_on"], serde_json::json!([]), "{root}");
    let text = kmsproof::report::whocan::text(&[&a], None);
    assert!(
        text.contains(&format!(
            "CANNOT {} (role): proved (every path refuted); rests on an UNCONFIRMED reading: ",
            role("Bounded")
        )),
        "{text}"
    );
}

/// Removing what blocks it and rewriting others' policies (issue 19 items 3–4), on the
/// key that delegates to the account: each principal's path uses exactly the technique
/// its policy allows; attaching only policies outside the dump is `unknown`.
#[test]
fn removing_a_deny_and_rewriting_other_policies() {
    let a = run(&["rewrites-account.json"], "key-policy.json", &[], true);
    let cases: &[(&str, &[&str])] = &[
        ("del-inline", &["can", "iam:DeleteUserPolicy"]),
        ("detach", &["can", "iam:DetachUserPolicy"]),
        ("unbound", &["can", "iam:DeleteUserPermissionsBoundary"]),
        ("leaver", &["can", "iam:RemoveUserFromGroup"]),
        ("attach-dump", &["can", "iam:AttachUserPolicy"]),
        ("role-writer", &["can", "iam:PutRolePolicy"]),
        ("plain", &["cannot"]),
    ];
    for (name, want) in cases {
        assert_path(&a, &user(name), want);
    }
    let got = path(&a, &user("attach-outside"));
    assert!(got[0].starts_with("unknown: ") && got[0].contains("not in the dump"), "{got:?}");
}

/// A key policy that needs a principal tag (issue 19 item 6): the role's session has the
/// tag only if its assumer passes it, which needs `sts:TagSession` in the trust policy
/// (here absent) — tags are not modelled, so the role and its assumer are `unknown`,
/// never `can` through a tag the caller cannot set.
#[test]
fn a_tag_the_caller_cannot_set_is_not_a_can() {
    let a = run(&["session-tags-account.json"], "key-policy-principal-tag.json", &[], true);
    for label in [role("Tagged"), user("tagger")] {
        let got = path(&a, &label);
        assert!(got[0].starts_with("unknown: ") && got[0].contains("aws:PrincipalTag/team"), "{label}: {got:?}");
    }
}

/// Role paths (issue 19 item 5): a key policy `ArnLike aws:PrincipalArn role/team/*`, and a
/// grant to `role/team/App`, reach the role at path `/team/` and the user who assumes it
/// — not the role `Other` at `/`. who-can narrows a role by the model's one derivation of
/// `aws:PrincipalArn` (`Caller::session_principal_arn`), so this holds once the model
/// carries the role path in it.
#[test]
fn role_paths_reach_the_role_and_its_assumer() {
    let a = run(&["role-path-account.json"], "key-policy-role-path.json", &[], true);
    assert_path(&a, &format!("arn:aws:iam::{A}:role/team/App"), &["can"]);
    assert_path(&a, &user("assumer"), &["can", "sts:AssumeRole"]);
    assert_path(&a, &role("Other"), &["cannot"]);
    let grants = kmsproof::model::load::load_grants(&Path::new(DIR).join("grant-role-path.json")).unwrap();
    let k = Key { grants, ..key("key-policy-no-users.json") };
    let b = analyse(&[account("role-path-account.json")], &[], &k, &options(true)).unwrap();
    assert_path(&b, &format!("arn:aws:iam::{A}:role/team/App"), &["can"]);
    assert_path(&b, &user("assumer"), &["can", "sts:AssumeRole"]);
    assert_path(&b, &role("Other"), &["cannot"]);
}
