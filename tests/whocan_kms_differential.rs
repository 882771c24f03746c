//! KMS's own escalations (`kms:PutKeyPolicy`, `kms:CreateGrant`) against brute force: on
//! random dumps, every principal × every path of assume-role hops, where at each step
//! the evaluator alone decides (on enumerated requests) whether the principal can
//! decrypt, replace the key policy (then the key policy is one that names the caller
//! exactly, for every principal reached afterwards), or grant itself `Decrypt` (then the
//! key has that grant). A `CreateGrant` the evaluator allows only for another grantee,
//! more operations or with a constraint marks the state as one who-can must call
//! `unknown` (never `cannot`) unless another path decides.

use crate::whocan_differential::{doc, role, user, Rng, A, KEY};
use kmsproof::eval::authorize;
use kmsproof::model::grant::Grant;
use kmsproof::model::inputs::Inputs;
use kmsproof::model::policy::{parse_policy, PolicyKind};
use kmsproof::whocan::domain::{Actor, NodeKind, Who};
use kmsproof::whocan::gaad::parse_account;
use kmsproof::whocan::hop::{evaluate, Ask, Trust};
use kmsproof::whocan::kms::Key;
use kmsproof::whocan::{analyse, Analysis, Options, Status};
use kmsproof::Request;
use kmsproof_solver::Limits;
use serde_json::{json, Value};

/// Enough for every state (5 principals × 2 key policies): brute force is exhaustive.
const MAX_HOPS: usize = 12;

fn create_grant(rng: &mut Rng, me: &str) -> Value {
    let cond = match rng.below(6) {
        0 => json!({}),
        1 => json!({"ForAllValues:StringEquals": {"kms:GrantOperations": ["Decrypt", "Encrypt"]}}),
        2 => json!({"ForAllValues:StringEquals": {"kms:GrantOperations": ["Encrypt"]}}),
        3 => json!({"StringEquals": {"kms:GranteePrincipal": me}}),
        4 => json!({"StringEquals": {"kms:GranteePrincipal": role(0)}}),
        _ => json!({"Null": {"kms:GrantConstraintType": "false"}}),
    };
    json!({"Effect": "Allow", "Action": "kms:CreateGrant", "Resource": "*", "Condition": cond})
}

fn statement(rng: &mut Rng, me: &str) -> Value {
    match rng.below(7) {
        0 => json!({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role(rng.below(2))}),
        1 => json!({"Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"}),
        2 => json!({"Effect": "Allow", "Action": "kms:PutKeyPolicy", "Resource": "*"}),
        3 | 4 => create_grant(rng, me),
        5 => json!({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*",
                    "Condition": {"StringEquals": {"kms:ViaService": "ec2.us-east-1.amazonaws.com"}}}),
        _ => json!({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}),
    }
}

fn policies(rng: &mut Rng, me: &str) -> Value {
    let statements: Vec<Value> = (0..rng.below(4)).map(|_| statement(rng, me)).collect();
    if statements.is_empty() {
        json!([])
    } else {
        json!([{"PolicyName": "p", "PolicyDocument": doc(statements)}])
    }
}

fn dump(rng: &mut Rng) -> Value {
    let boundary_arn = format!("arn:aws:iam::{A}:policy/b");
    let users: Vec<Value> = (0..3)
        .map(|i| {
            let mut u = json!({"UserName": format!("u{i}"), "Arn": user(i), "UserPolicyList": policies(rng, &user(i))});
            if rng.below(4) == 0 {
                u["PermissionsBoundary"] = json!({"PermissionsBoundaryArn": boundary_arn});
            }
            u
        })
        .collect();
    let roles: Vec<Value> = (0..2)
        .map(|i| {
            let who =
                if rng.below(2) == 0 { json!(user(rng.below(3))) } else { json!(format!("arn:aws:iam::{A}:root")) };
            let trust = doc(vec![json!({"Effect": "Allow", "Principal": {"AWS": who}, "Action": "sts:AssumeRole"})]);
            let mut r = json!({"RoleName": format!("r{i}"), "Arn": role(i), "AssumeRolePolicyDocument": trust,
                               "RolePolicyList": policies(rng, &role(i))});
            if rng.below(4) == 0 {
                r["PermissionsBoundary"] = json!({"PermissionsBoundaryArn": boundary_arn});
            }
            r
        })
        .collect();
    let boundary = if rng.below(2) == 0 { "sts:*" } else { "kms:CreateGrant" };
    json!({"UserDetailList": users, "RoleDetailList": roles, "GroupDetailList": [],
           "Policies": [{"PolicyName": "b", "Arn": boundary_arn,
                         "PolicyVersionList": [{"IsDefaultVersion": true, "Document": doc(vec![json!({"Effect": "Allow", "Action": boundary, "Resource": "*"})])}]}]})
}

fn key_policy(rng: &mut Rng) -> Value {
    let root = format!("arn:aws:iam::{A}:root");
    let mut st = vec![json!({"Effect": "Allow", "Principal": {"AWS": root}, "Action": "kms:*", "Resource": "*"})];
    if rng.below(2) == 0 {
        st.push(json!({"Effect": "Allow", "Principal": {"AWS": user(rng.below(3))}, "Action": ["kms:Put*", "kms:Describe*"], "Resource": "*"}));
    }
    doc(st)
}

/// A request caller of the actor: the user, or a session `s` of the role.
fn caller(actor: &Actor) -> String {
    let Who::Principal(arn) = &actor.who else { unreachable!() };
    match arn.split_once(":role/") {
        Some((_, name)) => format!("arn:aws:sts::{A}:assumed-role/{name}/s"),
        None => arn.clone(),
    }
}

fn allowed(actor: &Actor, policy: &kmsproof::Policy, grants: &[Grant], action: &str, ctx: Value) -> bool {
    let inputs = Inputs {
        key_policy: policy.clone(),
        identity: actor.identity.clone(),
        scps: vec![],
        boundary: actor.boundary.clone(),
        grants: grants.to_vec(),
        management_account: None,
    };
    let req = json!({"principal": caller(actor), "action": action, "resource": KEY, "context": ctx});
    authorize(&inputs, &Request::parse(&req.to_string(), "<brute force>").unwrap()).allowed()
}

fn decrypts(actor: &Actor, policy: &kmsproof::Policy, grants: &[Grant]) -> bool {
    [json!({}), json!({"kms:ViaService": "ec2.us-east-1.amazonaws.com"})]
        .into_iter()
        .any(|ctx| allowed(actor, policy, grants, "kms:Decrypt", ctx))
}

/// The key policy a writer names the caller in exactly (and everyone), independent of
/// who-can's own rewriting.
fn names_caller(actor: &Actor) -> kmsproof::Policy {
    let st = json!({"Effect": "Allow", "Principal": {"AWS": caller(actor)}, "Action": "kms:*", "Resource": "*"});
    let all = json!({"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"});
    parse_policy(&doc(vec![st, all]).to_string(), "rewritten", PolicyKind::KeyPolicy).unwrap()
}

fn grant_to(grantee: &str) -> Grant {
    let text = json!({"Grants": [{"GrantId": "g", "GranteePrincipal": grantee, "Operations": ["Decrypt"]}]});
    kmsproof::model::grant::parse_grants(&text.to_string(), "g.json").unwrap().remove(0)
}

/// What the evaluator lets the actor do with the key as it is: (grants itself Decrypt
/// exactly, some other CreateGrant that names Decrypt).
fn grants(actor: &Actor, policy: &kmsproof::Policy, me: &str) -> (bool, bool) {
    let ask = |ops: Value, grantee: &str, constraint: bool| {
        let mut ctx = json!({"kms:GrantOperations": ops, "kms:GranteePrincipal": grantee});
        if constraint {
            ctx["kms:GrantConstraintType"] = json!("EncryptionContextSubset");
        }
        allowed(actor, policy, &[], "kms:CreateGrant", ctx)
    };
    let exact = ask(json!(["Decrypt"]), me, false);
    let other = [json!(["Decrypt"]), json!(["Decrypt", "Encrypt"])].into_iter().any(|ops| {
        [me, role(0).as_str()].into_iter().any(|g| [false, true].into_iter().any(|c| ask(ops.clone(), g, c)))
    });
    (exact, other)
}

fn can_assume(actor: &Actor, trust: &kmsproof::Policy, role_arn: &str) -> bool {
    let ask = Ask {
        action: "sts:AssumeRole".into(),
        resource: Some(role_arn.into()),
        condition: None,
        trust: Some(Trust { policy: trust, account: A }),
    };
    let req = json!({"principal": caller(actor), "action": "sts:AssumeRole", "resource": role_arn, "context": {}});
    !actor.is_root() && evaluate(actor, &ask, &[], &req).is_ok()
}

/// Brute force: `Some(true)` can, `Some(false)` cannot, `None` only an unmodelled grant
/// stands between (who-can must say `unknown`).
fn brute(a: &Analysis, roles: &[(String, kmsproof::Policy)], key: &Key, start: &str) -> Option<bool> {
    let actor = |label: &str| {
        let i = a.graph.node_indices().find(|i| a.graph[*i].label == label).unwrap();
        a.graph[i].actor.clone().unwrap()
    };
    // States: (principal, key policy replaced).
    let mut frontier = vec![(start.to_string(), false)];
    let mut seen = frontier.clone();
    let mut open = false;
    for depth in 0..=MAX_HOPS {
        let mut next = Vec::new();
        for (label, replaced) in &frontier {
            let me = actor(label);
            let Who::Principal(arn) = &me.who else { unreachable!() };
            let policy = if *replaced { names_caller(&me) } else { key.policy.clone() };
            if decrypts(&me, &policy, &[]) {
                return Some(true);
            }
            if !*replaced {
                let (exact, other) = grants(&me, &policy, arn);
                if exact && decrypts(&me, &policy, &[grant_to(arn)]) {
                    return Some(true);
                }
                open |= other && !exact;
                if allowed(&me, &policy, &[], "kms:PutKeyPolicy", json!({})) {
                    next.push((label.clone(), true));
                }
            }
            for (r, trust) in roles {
                if can_assume(&me, trust, r) {
                    next.push((r.clone(), *replaced));
                }
            }
        }
        if depth == MAX_HOPS {
            break;
        }
        next.retain(|s| !seen.contains(s));
        next.dedup();
        seen.extend(next.iter().cloned());
        frontier = next;
    }
    if open {
        None
    } else {
        Some(false)
    }
}

#[test]
fn kms_escalations_equal_brute_force() {
    let mut rng = Rng(0x6b6d_5e5c);
    let mut seen = [0usize; 3];
    for case in 0..40 {
        let dump = dump(&mut rng);
        let account = parse_account(&dump.to_string(), "random.json").unwrap_or_else(|e| panic!("{e}\n{dump}"));
        let kp = key_policy(&mut rng);
        let policy = parse_policy(&kp.to_string(), "key.json", PolicyKind::KeyPolicy).unwrap();
        let key = Key { arn: KEY.into(), policy, grants: vec![] };
        let roles: Vec<_> = account.roles.iter().map(|r| (r.arn.clone(), r.trust.clone())).collect();
        for prefilter in [true, false] {
            let opts = Options { max_hops: MAX_HOPS, limits: Limits::default(), prefilter, ..Options::default() };
            let a = analyse(std::slice::from_ref(&account), &[], &key, &opts).unwrap_or_else(|e| panic!("{e}"));
            for i in a.listed().filter(|i| matches!(a.graph[*i].kind, NodeKind::User | NodeKind::Role)) {
                let label = a.graph[i].label.clone();
                let want = brute(&a, &roles, &key, &label);
                let got = match &a.status[i.index()] {
                    Status::Can(..) => Some(true),
                    Status::Cannot => Some(false),
                    Status::Unknown(_) => None,
                    s => panic!("case {case}: {label}: {s:?}"),
                };
                assert_eq!(got, want, "case {case} {label}: {:?}\ndump: {dump}\nkey policy: {kp}", a.status[i.index()]);
                seen[match want {
                    Some(true) => 0,
                    Some(false) => 1,
                    None => 2,
                }] += 1;
            }
        }
    }
    eprintln!("KMS escalations vs brute force: {seen:?} (can, cannot, unknown)");
    assert!(seen.iter().all(|n| *n > 5), "{seen:?}");
}
