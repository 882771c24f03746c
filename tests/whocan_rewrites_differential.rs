//! Removing what blocks it (issue 19 item 3) and attaching a managed policy of the dump
//! (item 4) against brute force: one user per random dump, with inline, attached, group
//! and boundary policies drawn from Allow/Deny `kms:Decrypt` and the IAM permissions that
//! remove or add them. Brute force walks every set of changes the evaluator allows, step
//! by step on the user's policies as they are then (removing any inline policy, not only
//! one that denies; attaching every policy the conditions allow), and asks the evaluator
//! whether `kms:Decrypt` is allowed in some reachable state.

use crate::whocan_differential::{doc, user, Rng, A, KEY};
use kmsproof::eval::authorize;
use kmsproof::model::inputs::Inputs;
use kmsproof::model::policy::{parse_policy, Policy, PolicyKind};
use kmsproof::whocan::domain::{Actor, Who};
use kmsproof::whocan::gaad::parse_account;
use kmsproof::whocan::hop::{evaluate, Ask};
use kmsproof::whocan::kms::Key;
use kmsproof::whocan::{analyse, Options, Status};
use kmsproof::Request;
use serde_json::{json, Value};
use std::collections::BTreeSet;

fn managed(i: usize) -> String {
    format!("arn:aws:iam::{A}:policy/m{i}")
}

const GROUP: &str = "arn:aws:iam::111122223333:group/g";
const ADMIN: &str = "arn:aws:iam::aws:policy/AdministratorAccess";

fn statement(rng: &mut Rng) -> Value {
    let me = user(0);
    match rng.below(12) {
        0 | 1 => json!({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}),
        2 | 3 => json!({"Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"}),
        4 => json!({"Effect": "Allow", "Action": "iam:DeleteUserPolicy", "Resource": me}),
        5 => json!({"Effect": "Allow", "Action": "iam:DetachUserPolicy", "Resource": me,
                    "Condition": {"ArnEquals": {"iam:PolicyARN": managed(rng.below(2))}}}),
        6 | 7 => json!({"Effect": "Allow", "Action": "iam:DeleteUserPermissionsBoundary", "Resource": "*"}),
        8 => {
            let action = ["iam:RemoveUserFromGroup", "iam:DeleteGroupPolicy"][rng.below(2)];
            json!({"Effect": "Allow", "Action": action, "Resource": GROUP})
        }
        9 | 10 => json!({"Effect": "Allow", "Action": "iam:AttachUserPolicy", "Resource": me,
                    "Condition": {"ArnEquals": {"iam:PolicyARN": managed(2)}}}),
        _ => json!({"Effect": "Allow", "Action": "iam:PutUserPolicy", "Resource": me}),
    }
}

fn random_doc(rng: &mut Rng) -> Value {
    doc((0..1 + rng.below(2)).map(|_| statement(rng)).collect())
}

/// The user's policies in one state: (id, document) for identity policies, and the boundary.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
struct State {
    identity: BTreeSet<String>,
    boundary: bool,
}

struct World {
    docs: std::collections::BTreeMap<String, Policy>,
    boundary: Option<Policy>,
    key: Policy,
}

impl World {
    fn allowed(&self, s: &State, action: &str, resource: &str, ctx: Value) -> bool {
        let inputs = Inputs {
            key_policy: self.key.clone(),
            identity: s.identity.iter().map(|i| self.docs[i].clone()).collect(),
            scps: vec![],
            boundary: if s.boundary { self.boundary.clone() } else { None },
            grants: vec![],
            management_account: None,
        };
        let req = json!({"principal": user(0), "action": action, "resource": resource, "context": ctx});
        if action.starts_with("kms:") {
            return authorize(&inputs, &Request::parse(&req.to_string(), "<brute>").unwrap()).allowed();
        }
        // An IAM request: the caller's identity policies and boundary (the hop's evaluator).
        let actor = Actor {
            who: Who::Principal(user(0)),
            account: A.into(),
            identity: inputs.identity,
            boundary: inputs.boundary,
        };
        let ask = Ask { action: action.into(), resource: Some(resource.into()), condition: None, trust: None };
        evaluate(&actor, &ask, &[], &req).is_ok()
    }

    fn next(&self, s: &State) -> Vec<State> {
        let me = user(0);
        let mut out = Vec::new();
        let with = |f: &dyn Fn(&mut State)| {
            let mut t = s.clone();
            f(&mut t);
            t
        };
        for id in s.identity.iter() {
            let (action, resource, ctx) = match id.as_str() {
                i if i.starts_with("inline") => ("iam:DeleteUserPolicy", me.as_str(), json!({})),
                i if i.starts_with("group") => ("iam:DeleteGroupPolicy", GROUP, json!({})),
                i if i.starts_with("arn:") => ("iam:DetachUserPolicy", me.as_str(), json!({"iam:PolicyARN": i})),
                _ => continue,
            };
            if self.allowed(s, action, resource, ctx) {
                out.push(with(&|t| {
                    t.identity.remove(id);
                }));
            }
            if id.starts_with("inline") && self.allowed(s, "iam:PutUserPolicy", &me, json!({})) {
                out.push(with(&|t| {
                    t.identity.remove(id);
                    t.identity.insert("star".into());
                }));
            }
        }
        if self.allowed(s, "iam:PutUserPolicy", &me, json!({})) {
            out.push(with(&|t| {
                t.identity.insert("star".into());
            }));
        }
        if s.identity.iter().any(|i| i.starts_with("group"))
            && self.allowed(s, "iam:RemoveUserFromGroup", GROUP, json!({}))
        {
            out.push(with(&|t| t.identity.retain(|i| !i.starts_with("group"))));
        }
        if s.boundary && self.allowed(s, "iam:DeleteUserPermissionsBoundary", &me, json!({})) {
            out.push(with(&|t| t.boundary = false));
        }
        for p in [managed(0), managed(1), managed(2), ADMIN.to_string()] {
            if self.docs.contains_key(&p) && self.allowed(s, "iam:AttachUserPolicy", &me, json!({"iam:PolicyARN": p})) {
                out.push(with(&|t| {
                    t.identity.insert(p.clone());
                }));
            }
        }
        out
    }

    fn can(&self, start: State) -> bool {
        let mut seen = BTreeSet::from([start.clone()]);
        let mut todo = vec![start];
        while let Some(s) = todo.pop() {
            let ctx = json!({});
            if self.allowed(&s, "kms:Decrypt", KEY, ctx) {
                return true;
            }
            for t in self.next(&s) {
                if seen.insert(t.clone()) {
                    todo.push(t);
                }
            }
        }
        false
    }
}

#[test]
fn removing_and_attaching_equal_brute_force() {
    let mut rng = Rng(0x7e3a_11c5);
    let key_doc = doc(vec![
        json!({"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{A}:root")}, "Action": "kms:*", "Resource": "*"}),
    ]);
    let key = parse_policy(&key_doc.to_string(), "key", PolicyKind::KeyPolicy).unwrap();
    let (mut can, mut cannot) = (0, 0);
    for case in 0..60 {
        let inline: Vec<Value> = (0..1 + rng.below(2)).map(|_| random_doc(&mut rng)).collect();
        let mdocs: Vec<Value> = (0..3).map(|_| random_doc(&mut rng)).collect();
        let attached = rng.below(3); // 2: none of m0/m1 attached
        let in_group = rng.below(2) == 0;
        let gdoc = random_doc(&mut rng);
        let bounded = rng.below(2) == 0;
        let bound_action = ["iam:*", "iam:*", "s3:*"][rng.below(3)];
        let bdoc = doc(vec![json!({"Effect": "Allow", "Action": bound_action, "Resource": "*"})]);
        let mut u = json!({"UserName": "u0", "Arn": user(0),
            "UserPolicyList": inline.iter().enumerate().map(|(i, d)| json!({"PolicyName": format!("inline{i}"), "PolicyDocument": d})).collect::<Vec<_>>(),
            "GroupList": if in_group { json!(["g"]) } else { json!([]) },
            "AttachedManagedPolicies": if attached < 2 { json!([{"PolicyName": format!("m{attached}"), "PolicyArn": managed(attached)}]) } else { json!([]) }});
        let mut policies: Vec<Value> = mdocs
            .iter()
            .enumerate()
            .map(|(i, d)| json!({"PolicyName": format!("m{i}"), "Arn": managed(i), "PolicyVersionList": [{"VersionId": "v1", "IsDefaultVersion": true, "Document": d}]}))
            .collect();
        if bounded {
            u["PermissionsBoundary"] = json!({"PermissionsBoundaryArn": format!("arn:aws:iam::{A}:policy/b")});
            policies.push(json!({"PolicyName": "b", "Arn": format!("arn:aws:iam::{A}:policy/b"), "PolicyVersionList": [{"VersionId": "v1", "IsDefaultVersion": true, "Document": bdoc}]}));
        }
        let dump = json!({"UserDetailList": [u], "GroupDetailList": [{"GroupName": "g", "Arn": GROUP,
            "GroupPolicyList": [{"PolicyName": "gp", "PolicyDocument": gdoc}]}], "RoleDetailList": [], "Policies": policies});
        let account = parse_account(&dump.to_string(), "dump.json").unwrap_or_else(|e| panic!("{e}"));
        let k = Key { arn: KEY.into(), policy: key.clone(), grants: vec![] };
        let a = analyse(&[account], &[], &k, &Options::default()).unwrap_or_else(|e| panic!("{e}"));
        // Brute force's world: the same documents, by id.
        let p = |d: &Value| parse_policy(&d.to_string(), "p", PolicyKind::Identity).unwrap();
        let mut docs = std::collections::BTreeMap::new();
        let mut start = BTreeSet::new();
        for (i, d) in inline.iter().enumerate() {
            docs.insert(format!("inline{i}"), p(d));
            start.insert(format!("inline{i}"));
        }
        for (i, d) in mdocs.iter().enumerate() {
            docs.insert(managed(i), p(d));
        }
        if attached < 2 {
            start.insert(managed(attached));
        }
        docs.insert("group".into(), p(&gdoc));
        if in_group {
            start.insert("group".into());
        }
        let star = json!({"Effect": "Allow", "Action": "*", "Resource": "*"});
        docs.insert("star".into(), p(&doc(vec![star.clone()])));
        docs.insert(ADMIN.into(), p(&doc(vec![star])));
        let world = World { docs, boundary: bounded.then(|| p(&bdoc)), key: key.clone() };
        let want = world.can(State { identity: start, boundary: bounded });
        let i = a.graph.node_indices().find(|i| a.graph[*i].label == user(0)).unwrap();
        let got = match &a.status[i.index()] {
            Status::Can(..) => true,
            Status::Cannot => false,
            s => panic!("case {case}: undecided {s:?}\n{dump}"),
        };
        assert_eq!(got, want, "case {case}: {:?}\n{dump}", a.status[i.index()]);
        if want {
            can += 1
        } else {
            cannot += 1
        }
    }
    eprintln!("removing/attaching vs brute force: {can} can, {cannot} cannot");
    assert!(can > 8 && cannot > 8, "{can} {cannot}");
}
