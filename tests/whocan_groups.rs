//! `who-can` decides the last hops of principals with the same inputs (up to their own
//! ARN) together (`kms::decide_group`): the answers must be those of each principal
//! decided alone (`kms::decide`), and the output the same bytes on any number of threads.

use kmsproof::model::policy::{parse_policy, PolicyKind};
use kmsproof::whocan::domain::Answer;
use kmsproof::whocan::gaad::{parse_account, Account};
use kmsproof::whocan::kms::{self, Key, KmsHop};
use kmsproof::whocan::{analyse, Analysis, Options};
use kmsproof_solver::Limits;
use serde_json::{json, Value};

use super::whocan_differential::{doc, role, user, Rng, A, KEY};

/// Few distinct identity policies over many principals, so groups are large.
fn identity(k: usize) -> Value {
    let via = |s: &str| json!({"StringLike": {"kms:ViaService": format!("{s}.*.amazonaws.com")}});
    match k {
        0 => doc(vec![json!({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*", "Condition": via("s3")})]),
        1 => doc(vec![json!({"Effect": "Allow", "Action": ["kms:Decrypt", "kms:Encrypt"], "Resource": "*",
                             "Condition": {"StringEquals": {"kms:EncryptionContext:Dept": "Finance"},
                                           "StringLike": {"kms:ViaService": "ec2.*.amazonaws.com"}}})]),
        2 => doc(vec![json!({"Effect": "Allow", "Action": "kms:*", "Resource": "*"})]),
        _ => doc(vec![json!({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})]),
    }
}

/// A key policy that trusts the account and treats some principals by name: a deny,
/// an allow with no condition, conditions on `aws:PrincipalArn`.
fn key_policy(rng: &mut Rng, n: usize) -> Value {
    let mut st = vec![json!({"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{A}:root")},
                             "Action": "kms:*", "Resource": "*"})];
    for _ in 0..rng.below(4) {
        let who = if rng.below(2) == 0 { role(rng.below(n)) } else { user(rng.below(n)) };
        st.push(match rng.below(4) {
            0 => json!({"Effect": "Deny", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*",
                        "Condition": {"StringEquals": {"aws:PrincipalArn": who}}}),
            1 => json!({"Effect": "Deny", "Principal": {"AWS": who}, "Action": "kms:*", "Resource": "*",
                        "Condition": {"Null": {"kms:EncryptionContext:Dept": "true"}}}),
            2 => json!({"Effect": "Allow", "Principal": {"AWS": who}, "Action": "kms:Decrypt", "Resource": "*",
                        "Condition": {"StringEquals": {"kms:EncryptionContext:Dept": "Ops"}}}),
            _ => json!({"Effect": "Deny", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*",
                        "Condition": {"StringNotLike": {"aws:PrincipalArn": format!("arn:aws:iam::{A}:role/r{}*", rng.below(n))},
                                      "StringLike": {"aws:PrincipalArn": format!("arn:aws:iam::{A}:role/*")}}}),
        });
    }
    doc(st)
}

fn dump(rng: &mut Rng, n: usize) -> Value {
    let inline = |k: usize| json!([{"PolicyName": "p", "PolicyDocument": identity(k)}]);
    let roles: Vec<Value> = (0..n)
        .map(|i| {
            let trust = doc(vec![json!({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                        "Action": "sts:AssumeRole"})]);
            json!({"RoleName": format!("r{i}"), "Arn": role(i), "AssumeRolePolicyDocument": trust,
                   "RolePolicyList": inline(rng.below(4)), "AttachedManagedPolicies": []})
        })
        .collect();
    let users: Vec<Value> = (0..n)
        .map(|i| {
            json!({"UserName": format!("u{i}"), "Arn": user(i), "UserPolicyList": inline(rng.below(4)),
                   "GroupList": [], "AttachedManagedPolicies": []})
        })
        .collect();
    json!({"UserDetailList": users, "GroupDetailList": [], "RoleDetailList": roles, "Policies": []})
}

fn options() -> Options {
    Options { max_hops: 4, escalation: false, ..Options::default() }
}

fn case(seed: u64) -> (Account, Key) {
    let mut rng = Rng(seed);
    let n = 4 + rng.below(5);
    let account = parse_account(&dump(&mut rng, n).to_string(), "random.json").unwrap_or_else(|e| panic!("{e}"));
    let policy = parse_policy(&key_policy(&mut rng, n).to_string(), "key.json", PolicyKind::KeyPolicy).unwrap();
    (account, Key { arn: KEY.into(), policy, grants: vec![] })
}

fn kind(h: &KmsHop) -> (&'static str, Vec<String>) {
    let k = match h.answer {
        Answer::Yes(_) => "yes",
        Answer::No => "no",
        Answer::Unknown(_) => "unknown",
    };
    (k, h.required.clone())
}

#[test]
fn grouped_last_hops_equal_each_principal_alone() {
    let limits = Limits::default();
    let mut grouped = 0;
    for seed in 0..30 {
        let (account, key) = case(seed);
        let a = analyse(std::slice::from_ref(&account), &[], &key, &options()).unwrap_or_else(|e| panic!("{e}"));
        for i in a.graph.node_indices() {
            let Some(actor) = &a.graph[i].actor else { continue };
            let Some(got) = &a.last[i.index()] else { continue };
            let alone = kms::decide(actor, &key, "kms:Decrypt", &[], limits).unwrap_or_else(|e| panic!("{e}"));
            // The pre-selection answers `no` without a query; alone, Z3 must agree.
            assert_eq!(kind(got), kind(&alone), "seed {seed}: {}", a.graph[i].label);
            grouped += usize::from(kms::signature(actor, &key, "kms:Decrypt", &[]).is_some());
        }
    }
    assert!(grouped > 100, "too few principals went through the grouped path: {grouped}");
}

fn json_of(a: &Analysis) -> String {
    kmsproof::report::whocan::json(&[a], None).to_string()
}

#[test]
fn output_is_the_same_bytes_on_any_number_of_threads() {
    for seed in [3, 11, 17] {
        let (account, key) = case(seed);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                json_of(
                    &analyse(std::slice::from_ref(&account), &[], &key, &options()).unwrap_or_else(|e| panic!("{e}")),
                )
            })
        };
        let one = run(1);
        assert_eq!(one, run(2), "seed {seed}: 1 and 2 threads differ");
        assert_eq!(one, run(3), "seed {seed}: 1 and 3 threads differ");
    }
}
