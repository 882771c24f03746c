//! Differential test of `who-can`: on random small dumps, the graph's answer (every hop
//! decided by Z3) equals brute force — every principal × every path of at most
//! `MAX_HOPS` assume-role hops, each hop decided by the evaluator on enumerated requests
//! (each caller, each context value the policies test) — with and without the sound
//! pre-selection of questions.

use kmsproof::eval::authorize;
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

pub(crate) const A: &str = "111122223333";
const MAX_HOPS: usize = 4;
pub(crate) const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

/// A small deterministic generator (the random dumps of the who-can tests).
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

pub(crate) fn doc(statements: Vec<Value>) -> Value {
    json!({"Version": "2012-10-17", "Statement": statements})
}

pub(crate) fn user(i: usize) -> String {
    format!("arn:aws:iam::{A}:user/u{i}")
}

pub(crate) fn role(i: usize) -> String {
    format!("arn:aws:iam::{A}:role/r{i}")
}

fn identity_statement(rng: &mut Rng) -> Value {
    let target = if rng.below(3) == 0 { "*".to_string() } else { role(rng.below(3)) };
    match rng.below(7) {
        0 | 1 => json!({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": target}),
        2 => json!({"Effect": "Deny", "Action": "sts:AssumeRole", "Resource": target}),
        3 => json!({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}),
        4 => json!({"Effect": "Allow", "Action": "kms:*", "Resource": "*",
                    "Condition": {"StringEquals": {"kms:ViaService": "ec2.us-east-1.amazonaws.com"}}}),
        5 => json!({"Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*",
                    "Condition": {"StringNotEquals": {"kms:ViaService": "ec2.us-east-1.amazonaws.com"}}}),
        _ => json!({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}),
    }
}

fn policies(rng: &mut Rng) -> Value {
    let n = rng.below(3);
    let statements: Vec<Value> = (0..n).map(|_| identity_statement(rng)).collect();
    if statements.is_empty() {
        json!([])
    } else {
        json!([{"PolicyName": "p", "PolicyDocument": doc(statements)}])
    }
}

fn trust(rng: &mut Rng) -> Value {
    let principal = match rng.below(5) {
        0 => json!({"AWS": user(rng.below(3))}),
        1 => json!({"AWS": role(rng.below(3))}),
        2 => json!({"AWS": format!("arn:aws:iam::{A}:root")}),
        3 => json!({"AWS": "arn:aws:iam::444455556666:root"}),
        _ => json!({"AWS": [user(rng.below(3)), role(rng.below(3))]}),
    };
    let mut st = json!({"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"});
    if rng.below(4) == 0 {
        st["Condition"] = json!({"StringEquals": {"sts:ExternalId": "e1"}});
    }
    doc(vec![st])
}

fn dump(rng: &mut Rng) -> Value {
    let boundary_arn = format!("arn:aws:iam::{A}:policy/b");
    let users: Vec<Value> = (0..3)
        .map(|i| {
            let mut u = json!({"UserName": format!("u{i}"), "Arn": user(i), "UserPolicyList": policies(rng),
                               "GroupList": if rng.below(2) == 0 { json!(["g"]) } else { json!([]) }});
            if rng.below(4) == 0 {
                u["PermissionsBoundary"] = json!({"PermissionsBoundaryArn": boundary_arn});
            }
            u
        })
        .collect();
    let roles: Vec<Value> = (0..3)
        .map(|i| {
            let mut r = json!({"RoleName": format!("r{i}"), "Arn": role(i), "AssumeRolePolicyDocument": trust(rng),
                               "RolePolicyList": policies(rng)});
            if rng.below(5) == 0 {
                r["PermissionsBoundary"] = json!({"PermissionsBoundaryArn": boundary_arn});
            }
            r
        })
        .collect();
    let boundary = if rng.below(2) == 0 { "kms:*" } else { "sts:*" };
    json!({"UserDetailList": users, "RoleDetailList": roles,
           "GroupDetailList": [{"GroupName": "g", "Arn": format!("arn:aws:iam::{A}:group/g"), "GroupPolicyList": policies(rng)}],
           "Policies": [{"PolicyName": "b", "Arn": boundary_arn,
                         "PolicyVersionList": [{"IsDefaultVersion": true, "Document": doc(vec![json!({"Effect": "Allow", "Action": boundary, "Resource": "*"})])}]}]})
}

fn key_policy(rng: &mut Rng) -> Value {
    let principal = match rng.below(3) {
        0 => json!({"AWS": format!("arn:aws:iam::{A}:root")}),
        1 => json!({"AWS": role(rng.below(3))}),
        _ => json!({"AWS": [user(rng.below(3)), "arn:aws:iam::444455556666:root"]}),
    };
    doc(vec![json!({"Effect": "Allow", "Principal": principal, "Action": "kms:Decrypt", "Resource": "*"})])
}

/// The request callers of an actor: its ARN, or a session for a role.
fn caller(actor: &Actor) -> String {
    let Who::Principal(arn) = &actor.who else { unreachable!("dump principals only") };
    match arn.split_once(":role/") {
        Some((_, name)) => format!("arn:aws:sts::{A}:assumed-role/{name}/s"),
        None => arn.clone(),
    }
}

fn can_assume(actor: &Actor, trust: &kmsproof::Policy, role_arn: &str) -> bool {
    if actor.is_root() {
        return false;
    }
    let ask = Ask {
        action: "sts:AssumeRole".into(),
        resource: Some(role_arn.into()),
        condition: None,
        trust: Some(Trust { policy: trust, account: A }),
    };
    [json!({}), json!({"sts:ExternalId": "e1"})].into_iter().any(|ctx| {
        let req = json!({"principal": caller(actor), "action": "sts:AssumeRole", "resource": role_arn, "context": ctx});
        evaluate(actor, &ask, &[], &req).is_ok()
    })
}

fn can_decrypt(actor: &Actor, key: &Key) -> bool {
    let inputs = Inputs {
        key_policy: key.policy.clone(),
        identity: actor.identity.clone(),
        scps: vec![],
        boundary: actor.boundary.clone(),
        grants: vec![],
        management_account: None,
    };
    [json!({}), json!({"kms:ViaService": "ec2.us-east-1.amazonaws.com"})].into_iter().any(|ctx| {
        let req = json!({"principal": caller(actor), "action": "kms:Decrypt", "resource": KEY, "context": ctx});
        authorize(&inputs, &Request::parse(&req.to_string(), "<brute force>").unwrap()).allowed()
    })
}

/// Brute force over the analysis's own principals: which can, within `MAX_HOPS`.
fn brute_force(a: &Analysis, roles: &[(String, kmsproof::Policy)], key: &Key) -> Vec<(String, bool)> {
    let principals: Vec<_> = a
        .graph
        .node_indices()
        .filter(|i| matches!(a.graph[*i].kind, NodeKind::User | NodeKind::Role | NodeKind::Root))
        .collect();
    let actor = |label: &str| {
        a.graph[principals.iter().copied().find(|i| a.graph[*i].label == label).unwrap()].actor.clone().unwrap()
    };
    let mut out = Vec::new();
    for p in &principals {
        let start = &a.graph[*p].label;
        let mut frontier = vec![start.clone()];
        let mut seen = vec![start.clone()];
        let mut can = false;
        for depth in 0..=MAX_HOPS {
            if frontier.iter().any(|l| can_decrypt(&actor(l), key)) {
                can = true;
                break;
            }
            if depth == MAX_HOPS {
                break;
            }
            let mut next = Vec::new();
            for l in &frontier {
                for (arn, trust) in roles {
                    if !seen.contains(arn) && can_assume(&actor(l), trust, arn) {
                        seen.push(arn.clone());
                        next.push(arn.clone());
                    }
                }
            }
            frontier = next;
        }
        out.push((start.clone(), can));
    }
    out
}

#[test]
fn who_can_equals_brute_force_on_random_dumps() {
    let mut rng = Rng(0x5eed_1234);
    let mut cans = 0;
    let mut total = 0;
    for case in 0..40 {
        let dump = dump(&mut rng);
        let account = parse_account(&dump.to_string(), "random.json").unwrap_or_else(|e| panic!("{e}\n{dump}"));
        let kp = key_policy(&mut rng);
        let key = Key {
            arn: KEY.into(),
            policy: parse_policy(&kp.to_string(), "key.json", PolicyKind::KeyPolicy).unwrap(),
            grants: vec![],
        };
        let roles: Vec<_> = account.roles.iter().map(|r| (r.arn.clone(), r.trust.clone())).collect();
        let mut results = Vec::new();
        for prefilter in [true, false] {
            let opts = Options {
                action: "kms:Decrypt".into(),
                max_hops: MAX_HOPS,
                escalation: false,
                limits: Limits::default(),
                prefilter,
            };
            results.push(analyse(std::slice::from_ref(&account), &[], &key, &opts).unwrap_or_else(|e| panic!("{e}")));
        }
        let expected = brute_force(&results[0], &roles, &key);
        for a in &results {
            for (label, can) in &expected {
                let i = a.graph.node_indices().find(|i| a.graph[*i].label == *label).unwrap();
                let got = match &a.status[i.index()] {
                    Status::Can(..) => true,
                    Status::Cannot => false,
                    s => panic!("case {case}: {label}: undecided {s:?}"),
                };
                assert_eq!(got, *can, "case {case}: {label}\ndump: {dump}\nkey policy: {kp}");
                total += 1;
                cans += usize::from(*can);
            }
        }
    }
    // The random dumps exercise both answers.
    assert!(cans > total / 10 && cans < total * 9 / 10, "{cans} of {total} can");
}

/// A random trust statement about services: principal, action, effect and a condition on
/// what a service's request may carry (`aws:SourceAccount`, `aws:SourceArn`).
fn service_trust_statement(rng: &mut Rng) -> Value {
    let principal = match rng.below(5) {
        0 | 1 => json!({"Service": "lambda.amazonaws.com"}),
        2 => json!({"Service": "ec2.amazonaws.com"}),
        3 => json!("*"),
        _ => json!({"Service": ["ec2.amazonaws.com", "lambda.amazonaws.com"]}),
    };
    let action = ["sts:AssumeRole", "sts:*", "s3:GetObject"][rng.below(3)];
    let effect = if rng.below(4) == 0 { "Deny" } else { "Allow" };
    let mut st = json!({"Effect": effect, "Principal": principal, "Action": action});
    let fa = format!("arn:aws:lambda:us-east-1:{A}:function:*");
    let cond = match rng.below(6) {
        0 => Some(json!({"StringEquals": {"aws:SourceAccount": A}})),
        1 => Some(json!({"StringNotEquals": {"aws:SourceAccount": A}})),
        2 => Some(json!({"ArnLike": {"aws:SourceArn": fa}})),
        3 => {
            let present = ["true", "false"][rng.below(2)];
            Some(json!({"Null": {"aws:SourceAccount": present}}))
        }
        _ => None,
    };
    if let Some(c) = cond {
        st["Condition"] = c;
    }
    st
}

/// The service side of `iam:PassRole` (`whocan::service::decide`, Z3 on the generic
/// encoding with service callers) against brute force: every combination of the context
/// values the statements test (and their absence), each request decided by the evaluator.
/// No request allowed ⇔ `No`; every one ⇔ `Yes`; some ⇔ undecided.
#[test]
fn service_trust_equals_brute_force() {
    use kmsproof::eval::{match_statement, Match};
    use kmsproof::whocan::service::{decide, ServiceTrust};
    let mut rng = Rng(0x5e41ce);
    let role_arn = format!("arn:aws:iam::{A}:role/svc");
    let accounts = [None, Some(A.to_string()), Some("444455556666".to_string())];
    let arns = [
        None,
        Some(format!("arn:aws:lambda:us-east-1:{A}:function:f")),
        Some("arn:aws:lambda:us-east-1:444455556666:function:f".to_string()),
    ];
    let mut seen = [0usize; 3];
    for round in 0..60 {
        let n = 1 + rng.below(3);
        let text = doc((0..n).map(|_| service_trust_statement(&mut rng)).collect()).to_string();
        let trust = kmsproof::whocan::gaad::trust_from_text(&text, "trust", &role_arn).unwrap();
        for service in ["lambda.amazonaws.com", "ec2.amazonaws.com"] {
            let (mut allowed, mut refused) = (false, false);
            for a in &accounts {
                for arn in &arns {
                    let mut context = serde_json::Map::new();
                    if let Some(a) = a {
                        context.insert("aws:SourceAccount".into(), json!(a));
                    }
                    if let Some(arn) = arn {
                        context.insert("aws:SourceArn".into(), json!(arn));
                    }
                    let r = json!({"principal": service, "action": "sts:AssumeRole", "resource": role_arn, "context": context});
                    let req = Request::parse_generic(&r.to_string(), "r").unwrap();
                    let applies = |effect: kmsproof::model::policy::Effect| {
                        trust
                            .statements
                            .iter()
                            .any(|s| s.effect == effect && matches!(match_statement(s, &req), Match::Applies { .. }))
                    };
                    let ok = !applies(kmsproof::model::policy::Effect::Deny)
                        && applies(kmsproof::model::policy::Effect::Allow);
                    allowed |= ok;
                    refused |= !ok;
                }
            }
            let got = decide(&trust, &role_arn, service, Limits::default()).unwrap_or_else(|e| panic!("{e}"));
            let want = match (allowed, refused) {
                (false, _) => 0,
                (true, false) => 1,
                (true, true) => 2,
            };
            let have = match &got {
                ServiceTrust::No => 0,
                ServiceTrust::Yes(_) => 1,
                ServiceTrust::Unknown(why) => {
                    assert!(why.contains("only with some request contexts"), "round {round}: {why}\n{text}");
                    2
                }
            };
            assert_eq!(have, want, "round {round}, {service}: {got:?}\n{text}");
            seen[want] += 1;
        }
    }
    eprintln!("service trust vs brute force: {seen:?} (no, yes, depends)");
    // Each outcome occurs (the generator is not degenerate).
    assert!(seen.iter().all(|n| *n > 3), "{seen:?}");
}

/// A random statement of a managed policy version (about decrypting and switching versions).
fn version_statement(rng: &mut Rng, own: &str) -> Value {
    match rng.below(6) {
        0 | 1 => json!({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}),
        2 => json!({"Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"}),
        3 => json!({"Effect": "Allow", "Action": "iam:SetDefaultPolicyVersion", "Resource": own}),
        4 => json!({"Effect": "Allow", "Action": "iam:SetDefaultPolicyVersion", "Resource": "*"}),
        _ => json!({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}),
    }
}

/// `iam:SetDefaultPolicyVersion` against brute force: users attach one customer-managed
/// policy with random versions (and maybe an inline policy); a user can decrypt iff some
/// reachable version — the default, or, when the evaluator allows the switch under the
/// default, any other — lets the evaluator allow kms:Decrypt (the key trusts the account).
#[test]
fn set_default_policy_version_equals_brute_force() {
    let mut rng = Rng(0xde7a017);
    let key = Key {
        arn: KEY.into(),
        policy: parse_policy(
            &doc(vec![json!({"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{A}:root")},
                "Action": "kms:*", "Resource": "*"})])
            .to_string(),
            "k",
            PolicyKind::KeyPolicy,
        )
        .unwrap(),
        grants: vec![],
    };
    let (mut can, mut cannot) = (0, 0);
    for round in 0..40 {
        let arn = |i: usize| format!("arn:aws:iam::{A}:policy/p{i}");
        let mut versions: Vec<Vec<Value>> = Vec::new();
        let policies: Vec<Value> = (0..3)
            .map(|i| {
                let n = 2 + rng.below(2);
                let docs: Vec<Value> = (0..n)
                    .map(|_| doc((0..1 + rng.below(2)).map(|_| version_statement(&mut rng, &arn(i))).collect()))
                    .collect();
                versions.push(docs.clone());
                let list: Vec<Value> = docs
                    .iter()
                    .enumerate()
                    .map(|(j, d)| json!({"VersionId": format!("v{j}"), "IsDefaultVersion": j == 0, "Document": d}))
                    .collect();
                json!({"PolicyName": format!("p{i}"), "Arn": arn(i), "PolicyVersionList": list})
            })
            .collect();
        let mut attached = Vec::new();
        let users: Vec<Value> = (0..3)
            .map(|u| {
                let p = rng.below(3);
                let inline = match rng.below(3) {
                    0 => Some(json!({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"})),
                    1 => Some(json!({"Effect": "Allow", "Action": "iam:SetDefaultPolicyVersion", "Resource": "*"})),
                    _ => None,
                };
                attached.push((p, inline.clone()));
                let list = inline.map_or(json!([]), |s| json!([{"PolicyName": "i", "PolicyDocument": doc(vec![s])}]));
                json!({"UserName": format!("u{u}"), "Arn": user(u), "UserPolicyList": list,
                       "AttachedManagedPolicies": [{"PolicyName": format!("p{p}"), "PolicyArn": arn(p)}]})
            })
            .collect();
        let text = json!({"UserDetailList": users, "Policies": policies}).to_string();
        let account = parse_account(&text, "dump.json").unwrap_or_else(|e| panic!("round {round}: {e}"));
        let opts = Options::default();
        let a = analyse(&[account], &[], &key, &opts).unwrap_or_else(|e| panic!("{e}"));
        for (u, (p, inline)) in attached.iter().enumerate() {
            let policy = |d: &Value| parse_policy(&d.to_string(), "v", PolicyKind::Identity).unwrap();
            let inline: Vec<kmsproof::Policy> = inline.iter().map(|s| policy(&doc(vec![s.clone()]))).collect();
            let actor = |d: &Value| Actor {
                who: Who::Principal(user(u)),
                account: A.into(),
                identity: inline.iter().cloned().chain([policy(d)]).collect(),
                boundary: None,
            };
            let base = actor(&versions[*p][0]);
            let ask = Ask {
                action: "iam:SetDefaultPolicyVersion".into(),
                resource: Some(arn(*p)),
                condition: None,
                trust: None,
            };
            let req = json!({"principal": user(u), "action": "iam:SetDefaultPolicyVersion", "resource": arn(*p), "context": {}});
            let switch = evaluate(&base, &ask, &[], &req).is_ok();
            let reachable: Vec<&Value> = if switch { versions[*p].iter().collect() } else { vec![&versions[*p][0]] };
            let want = reachable.iter().any(|d| can_decrypt(&actor(d), &key));
            let i = a.graph.node_indices().find(|i| a.graph[*i].label == user(u)).unwrap();
            let got = match &a.status[i.index()] {
                Status::Can(..) => true,
                Status::Cannot => false,
                s => panic!("round {round}: u{u} undecided: {s:?}\n{text}"),
            };
            assert_eq!(got, want, "round {round}: u{u}\n{text}");
            if want {
                can += 1
            } else {
                cannot += 1
            }
        }
    }
    eprintln!("SetDefaultPolicyVersion vs brute force: {can} can, {cannot} cannot");
    assert!(can > 10 && cannot > 10, "{can} {cannot}");
}
