//! `kmsproof who-can` on a synthetic account: 1,000 roles, 300 users, 50 groups, 20 keys
//! (target: who-can for one key ≤ 2 s on 2 cores). Run with `cargo bench --bench whocan`;
//! prints the dump's parse time and, per key asked, the median of 3 runs of the whole
//! analysis (graph, every edge and last hop decided, witnesses replayed). No timing
//! assertions: the numbers go in the README.

use kmsproof::model::policy::{parse_policy, PolicyKind};
use kmsproof::whocan::gaad::parse_account;
use kmsproof::whocan::kms::Key;
use kmsproof::whocan::{analyse, Options, Status};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const A: &str = "111122223333";
/// Rounds per key (the median is reported); `KMSPROOF_BENCH_ROUNDS` overrides.
static ROUNDS_DEFAULT: usize = 3;
const PARTNER: &str = "444455556666";
const SERVICES: [&str; 3] = ["lambda.amazonaws.com", "ec2.amazonaws.com", "ecs-tasks.amazonaws.com"];

fn doc(statements: Vec<Value>) -> Value {
    json!({"Version": "2012-10-17", "Statement": statements})
}

fn allow(action: &str, resource: &str) -> Value {
    json!({"Effect": "Allow", "Action": action, "Resource": resource})
}

fn inline(name: &str, d: Value) -> Value {
    json!({"PolicyName": name, "PolicyDocument": d})
}

fn role_arn(i: usize) -> String {
    format!("arn:aws:iam::{A}:role/app-{i}")
}

fn user_arn(i: usize) -> String {
    format!("arn:aws:iam::{A}:user/user-{i}")
}

fn managed_arn(i: usize) -> String {
    format!("arn:aws:iam::{A}:policy/team-{i}")
}

/// The fields a real `get-account-authorization-details` prints that who-can does not
/// read (paths, IDs, dates): present so that tools reading the full format (IAMSpy)
/// accept the same file.
fn full(mut item: Value, id_field: &str, id: String) -> Value {
    let o = item.as_object_mut().expect("object");
    o.insert("Path".into(), json!("/"));
    o.insert(id_field.into(), json!(id));
    o.insert("CreateDate".into(), json!(DATE));
    item
}

const DATE: &str = "2024-01-01T00:00:00Z";

/// A deterministic synthetic account.
fn account() -> Value {
    let groups: Vec<Value> = (0..50)
        .map(|g| {
            let p = match g % 5 {
                0 => doc(vec![allow("kms:Decrypt", "*")]),
                1 => doc(vec![allow("s3:*", "*")]),
                2 => doc(vec![allow("sts:AssumeRole", &role_arn(g * 20 + 1))]),
                _ => doc(vec![allow("ec2:Describe*", "*")]),
            };
            let item = json!({"GroupName": format!("group-{g}"), "Arn": format!("arn:aws:iam::{A}:group/group-{g}"),
                   "GroupPolicyList": [inline("p", p)], "AttachedManagedPolicies": []});
            full(item, "GroupId", format!("AGPA{g:016}"))
        })
        .collect();
    let users: Vec<Value> = (0..300)
        .map(|u| {
            let mut policies = vec![];
            if u % 10 == 0 {
                policies.push(inline("assume", doc(vec![allow("sts:AssumeRole", &role_arn((u * 3) % 1000))])));
            }
            if u % 30 == 7 {
                policies.push(inline("pass", doc(vec![allow("iam:PassRole", &role_arn(u)), allow("lambda:*", "*")])));
            }
            let attached: Vec<Value> =
                if u % 4 == 0 { vec![json!({"PolicyName": "t", "PolicyArn": managed_arn(u % 20)})] } else { vec![] };
            let item = json!({"UserName": format!("user-{u}"), "Arn": user_arn(u), "UserPolicyList": policies,
                   "GroupList": [format!("group-{}", u % 50), format!("group-{}", (u * 7 + 3) % 50)],
                   "AttachedManagedPolicies": attached});
            full(item, "UserId", format!("AIDA{u:016}"))
        })
        .collect();
    let roles: Vec<Value> = (0..1000)
        .map(|r| {
            let principal = match r % 20 {
                0..=11 => json!({"Service": SERVICES[r % 3]}),
                12..=16 => json!({"AWS": user_arn((r * 7) % 300)}),
                17 => json!({"AWS": role_arn((r + 1) % 1000)}),
                18 => json!({"AWS": format!("arn:aws:iam::{A}:root")}),
                _ => json!({"AWS": format!("arn:aws:iam::{PARTNER}:root")}),
            };
            let mut trust = json!({"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"});
            if r % 20 == 19 {
                trust["Condition"] = json!({"StringEquals": {"sts:ExternalId": format!("ext-{r}")}});
            }
            let p = match r % 4 {
                0 => doc(vec![
                    json!({"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": "*",
                                     "Condition": {"StringLike": {"kms:ViaService": "s3.*.amazonaws.com"}}}),
                ]),
                1 => doc(vec![allow("s3:GetObject", "*")]),
                2 => doc(vec![allow("sts:AssumeRole", &role_arn((r + 7) % 1000))]),
                _ => doc(vec![allow("logs:*", "*")]),
            };
            let attached: Vec<Value> =
                if r % 9 == 0 { vec![json!({"PolicyName": "t", "PolicyArn": managed_arn(r % 20)})] } else { vec![] };
            let item = json!({"RoleName": format!("app-{r}"), "Arn": role_arn(r), "AssumeRolePolicyDocument": doc(vec![trust]),
                   "InstanceProfileList": if r % 3 == 1 { json!([{"InstanceProfileName": "p"}]) } else { json!([]) },
                   "RolePolicyList": [inline("p", p)], "AttachedManagedPolicies": attached, "RoleLastUsed": {}});
            full(item, "RoleId", format!("AROA{r:016}"))
        })
        .collect();
    let policies: Vec<Value> = (0..20)
        .map(|m| {
            let d = if m % 2 == 0 {
                doc(vec![allow("cloudwatch:*", "*")])
            } else {
                doc(vec![allow("dynamodb:Query", "*")])
            };
            let item = json!({"PolicyName": format!("team-{m}"), "Arn": managed_arn(m), "DefaultVersionId": "v1",
                   "AttachmentCount": 1, "PermissionsBoundaryUsageCount": 0, "IsAttachable": true,
                   "UpdateDate": DATE, "PolicyVersionList": [{"Document": d, "VersionId": "v1",
                   "IsDefaultVersion": true, "CreateDate": DATE}]});
            full(item, "PolicyId", format!("ANPA{m:016}"))
        })
        .collect();
    json!({"UserDetailList": users, "GroupDetailList": groups, "RoleDetailList": roles, "Policies": policies})
}

/// Key `k`'s ARN and policy document.
fn key_doc(k: usize) -> (String, Value) {
    let principal = if k % 2 == 0 {
        json!({"AWS": format!("arn:aws:iam::{A}:root")})
    } else {
        json!({"AWS": (0..5).map(|i| role_arn(k * 40 + i * 4)).collect::<Vec<_>>()})
    };
    let policy = doc(vec![json!({"Effect": "Allow", "Principal": principal, "Action": "kms:*", "Resource": "*"})]);
    (format!("arn:aws:kms:us-east-1:{A}:key/0000000{k:02}-0000-0000-0000-000000000000"), policy)
}

/// Key `k`: even keys trust the account (IAM policies decide), odd keys name five roles.
fn key(k: usize) -> Key {
    let (arn, policy) = key_doc(k);
    let policy = parse_policy(&policy.to_string(), &format!("key-{k}.json"), PolicyKind::KeyPolicy).unwrap();
    Key { arn, policy, grants: vec![] }
}

/// With `KMSPROOF_WHOCAN_DUMP_DIR=DIR`, writes the synthetic dump (`DIR/account.json`,
/// as `get-account-authorization-details` prints it) and the two keys the bench asks
/// (`DIR/key-K.json`, with `DIR/key-K.arn` holding the key's ARN and
/// `DIR/key-K.resources.json` the key policy as a list of resource policies, the form
/// IAMSpy's `load-resources` reads), so other tools (the `kmsproof` binary, IAMSpy) can
/// be timed on the same input.
fn dump_inputs(text: &str) {
    let Some(dir) = std::env::var_os("KMSPROOF_WHOCAN_DUMP_DIR") else { return };
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let write = |name: &str, body: &str| {
        let path = dir.join(name);
        std::fs::write(&path, body).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    };
    write("account.json", text);
    for k in 0..2 {
        let (arn, policy) = key_doc(k);
        write(&format!("key-{k}.json"), &serde_json::to_string_pretty(&policy).unwrap());
        write(&format!("key-{k}.arn"), &arn);
        // The list of resource policies `iamspy load-resources` reads.
        let resources = json!([{"Resource": arn, "Policy": policy, "Account": A}]);
        write(&format!("key-{k}.resources.json"), &serde_json::to_string_pretty(&resources).unwrap());
    }
    println!("wrote the dump and keys 0 and 1 to {}", dir.display());
}

fn rounds() -> usize {
    std::env::var("KMSPROOF_BENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(ROUNDS_DEFAULT)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let text = account().to_string();
    dump_inputs(&text);
    let t = Instant::now();
    let account = parse_account(&text, "synthetic.json").unwrap_or_else(|e| panic!("{e}"));
    println!(
        "parse: {} users, {} groups, {} roles, {} managed policies in {:.2?} ({} KiB)",
        account.users.len(),
        account.groups.len(),
        account.roles.len(),
        account.managed.len(),
        t.elapsed(),
        text.len() / 1024
    );
    let keys: Vec<Key> = (0..20).map(key).collect();
    let opts = Options::default();
    let accounts = [account];
    let mut all = Vec::new();
    for (k, key) in keys.iter().enumerate().take(2) {
        let mut times = Vec::new();
        let mut summary = String::new();
        for _ in 0..rounds() {
            let t = Instant::now();
            let a = analyse(&accounts, &[], key, &opts).unwrap_or_else(|e| panic!("{e}"));
            times.push(t.elapsed());
            let can = a.status.iter().filter(|s| matches!(s, Status::Can(..))).count();
            let unknown = a.status.iter().filter(|s| matches!(s, Status::Unknown(_))).count();
            summary =
                format!("{} nodes, {} edges, {can} can, {unknown} unknown", a.graph.node_count(), a.graph.edge_count());
        }
        let m = median(times);
        all.push(m);
        println!(
            "who-can key {k} ({}): median of {} {m:.2?}; {summary}",
            if k % 2 == 0 { "trusts the account" } else { "names 5 roles" },
            rounds()
        );
    }
    println!(
        "who-can per key: median {:.2?}, max {:.2?} (target ≤ 2 s)",
        median(all.clone()),
        all.iter().max().unwrap()
    );
}
