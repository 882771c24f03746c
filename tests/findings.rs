//! `kmsproof findings` (issue 24): the expected findings of known policies, and a
//! differential test — every random request the evaluator allows lies in some finding,
//! and every finding's example is allowed.

use crate::differential::{inputs, request, sat, Rng, KEY};
use crate::util::{json, kmsproof, root};
use kmsproof::findings::classes::classes;
use kmsproof::findings::{findings, Completeness, Findings, Settings};
use kmsproof::model::inputs::IamWorld;
use kmsproof::{authorize, Inputs, Request};
use kmsproof_solver::Limits;
use serde_json::Value;

fn run(policy: &str) -> Value {
    let path = root().join(policy);
    let out = kmsproof(&["findings", "--key-policy", path.to_str().unwrap(), "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v = json(&out);
    assert_eq!(v["complete"], true, "{v:#}");
    v
}

fn by<'a>(v: &'a Value, principal: &str, needs_iam: bool) -> Vec<&'a Value> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["principal"].as_str().unwrap().starts_with(principal) && f["needs_identity_policy"] == needs_iam)
        .collect()
}

fn actions(f: &Value) -> Vec<String> {
    f["actions"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["actions"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()))
        .collect()
}

/// Each finding's examples are allowed by `eval` on the same inputs (with the premise's
/// identity policy when the finding needs one).
fn examples_carry_requests(v: &Value) {
    for f in v["findings"].as_array().unwrap() {
        let ex = f["examples"].as_array().unwrap();
        assert!(!ex.is_empty(), "a finding without a replayed example: {f:#}");
        for e in ex {
            assert!(e["request"]["action"].as_str().unwrap().starts_with("kms:"));
            assert!(!e["allowed_by"].as_array().unwrap().is_empty());
        }
    }
}

#[test]
fn console_default_policy() {
    let v = run("corpus/audit/console-defaults/symmetric.json");
    examples_carry_requests(&v);
    // The root user: everything, by the key policy alone.
    let root_user = by(&v, "root user of account 111122223333", false);
    assert_eq!(root_user.len(), 1, "{v:#}");
    assert!(actions(root_user[0]).contains(&"kms:PutKeyPolicy".to_string()));
    // Key administrators administer without an identity policy, and cannot decrypt without one.
    let admin = by(&v, "role arn:aws:iam::111122223333:role/KeyAdmin", false);
    assert!(admin.iter().any(|f| actions(f).contains(&"kms:PutKeyPolicy".to_string())), "{v:#}");
    assert!(admin.iter().all(|f| !actions(f).contains(&"kms:Decrypt".to_string())), "{v:#}");
    // Key users use the key, and create grants only for AWS resources.
    let user = by(&v, "role arn:aws:iam::111122223333:role/KeyUser", false);
    assert!(user
        .iter()
        .any(|f| actions(f).contains(&"kms:Decrypt".to_string()) && f["conditions"] == serde_json::json!([])));
    let grants: Vec<_> = user.iter().filter(|f| actions(f).contains(&"kms:CreateGrant".to_string())).collect();
    assert_eq!(grants.len(), 1, "{v:#}");
    assert_eq!(grants[0]["conditions"], serde_json::json!(["Bool kms:GrantIsForAWSResource true"]));
    assert!(v["findings"].as_array().unwrap().iter().all(|f| f["exposure"] == "internal"));
    assert!(v["findings"].as_array().unwrap().len() <= 8, "{v:#}");
}

#[test]
fn principal_star_with_caller_account_and_via_service_is_internal_via_service() {
    let v = run("corpus/findings/via-service-internal.json");
    let others = by(&v, "any other principal of account 111122223333", false);
    assert_eq!(others.len(), 1, "{v:#}");
    assert_eq!(others[0]["exposure"], "internal");
    assert_eq!(others[0]["via_services"], serde_json::json!(["ec2.us-east-1.amazonaws.com"]));
    assert!(v["findings"].as_array().unwrap().iter().all(|f| f["exposure"] == "internal"), "{v:#}");
}

#[test]
fn cross_account_policy_is_external() {
    let v = run("corpus/findings/cross-account.json");
    let partner: Vec<_> = by(&v, "any other principal of account 444455556666", false)
        .into_iter()
        .chain(by(&v, "root user of account 444455556666", false))
        .collect();
    assert!(!partner.is_empty(), "{v:#}");
    for f in partner {
        assert_eq!(f["exposure"], "external");
        let mut a = actions(f);
        a.sort();
        assert_eq!(a, ["kms:Decrypt", "kms:DescribeKey"]);
    }
    assert!(by(&v, "any other account", false).is_empty());
}

#[test]
fn organization_wide_policy_counts_addresses() {
    let v = run("corpus/findings/org-wide.json");
    let any = by(&v, "any other account", false);
    assert_eq!(any.len(), 1, "{v:#}");
    let conds = any[0]["conditions"].as_array().unwrap();
    assert!(conds.contains(&serde_json::json!("StringEquals aws:PrincipalOrgID o-a1b2c3d4e5")));
    let q: Vec<&str> = any[0]["quantities"].as_array().unwrap().iter().map(|q| q.as_str().unwrap()).collect();
    assert!(q.contains(&"any account of organization o-a1b2c3d4e5"), "{q:?}");
    assert!(q.iter().any(|s| s.starts_with("272 addresses")), "{q:?}");
    assert_eq!(any[0]["exposure"], "external");
}

#[test]
fn seed_source_ip_policies_are_complete() {
    for p in
        ["corpus/key-policies/kp45-seed-deny-source-ip.json", "corpus/key-policies/kp46-seed-deny-source-ip-fixed.json"]
    {
        let v = run(p);
        examples_carry_requests(&v);
    }
}

#[test]
fn text_output_says_complete_proved() {
    let path = root().join("corpus/findings/via-service-internal.json");
    let out = kmsproof(&["findings", "--key-policy", path.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("complete: proved"), "{text}");
    assert!(text.contains("internal via service (ec2.us-east-1.amazonaws.com)"), "{text}");
}

/// Whether `req` lies in finding `f` of `r`: the first class it matches, an action of the
/// finding's groups, every remaining condition.
fn covers(r: &Findings, inputs: &Inputs, f: &kmsproof::findings::Finding, req: &Request) -> bool {
    use kmsproof::eval::{match_statement, Match};
    // As the evaluator reads it: a role session's aws:PrincipalArn is its role's ARN.
    let req = &*inputs.resolve(req);
    let account = kmsproof::base::arn::account_of(&r.key_arn).unwrap();
    let cs = classes(inputs, account);
    let class = cs.iter().find(|c| matches!(match_statement(&c.shape, req), Match::Applies { .. }));
    let in_class = class.is_some_and(|c| c.label == f.principal);
    let in_group = f.groups.iter().any(|(g, actions)| match g {
        Some(_) => actions.iter().any(|a| a == &req.action),
        None => kmsproof::facts::action_groups::group_of(&req.action).is_none(),
    });
    let meets = f.restrictions.iter().all(|s| matches!(match_statement(s, req), Match::Applies { .. }));
    in_class && in_group && meets
}

#[test]
fn random_allowed_requests_are_covered_and_examples_are_allowed() {
    let mut rng = Rng(0xf1d1_4665_0024_0001);
    let (mut covered, mut rounds) = (0, 0);
    let settings = Settings { world: IamWorld::Closed, limits: Limits::default() };
    for round in 0..25 {
        let inputs = inputs(&mut rng);
        let r = findings(&inputs, KEY, &settings).unwrap_or_else(|m| panic!("round {round}: {m}"));
        if r.complete != Completeness::Proved {
            continue;
        }
        rounds += 1;
        for f in &r.findings {
            for e in &f.examples {
                let req = Request::parse(&e.request.to_string(), "<example>").unwrap();
                assert!(authorize(&inputs, &req).allowed(), "round {round}: example not allowed: {}", e.request);
                assert!(covers(&r, &inputs, f, &req), "round {round}: example outside its finding: {}", e.request);
            }
        }
        // Only requests AWS can send (the encoder's invariants; the generator makes others).
        let policies: Vec<&kmsproof::Policy> = inputs.policies().collect();
        let enc = kmsproof::encode::Encoder::new(KEY, &policies, &[]);
        let inv = enc.invariants();
        for _ in 0..400 {
            // Read back as `eval` reads a request: the keys AWS derives from the caller added.
            let Ok(req) = Request::parse(&request(&mut rng).to_json().to_string(), "<random>") else { continue };
            if req.resource.as_deref() != Some(KEY) || !authorize(&inputs, &req).allowed() {
                continue;
            }
            if !sat(enc.vocabulary(), &kmsproof_solver::Term::and([inv.clone(), enc.request_constraint(&req)])) {
                continue;
            }
            let hit = r.findings.iter().any(|f| covers(&r, &inputs, f, &req));
            let brief: Vec<String> = r
                .findings
                .iter()
                .map(|f| {
                    format!(
                        "{} {:?} {:?} {}",
                        f.principal,
                        f.groups.iter().map(|(g, a)| (g.map(|g| g.id), a)).collect::<Vec<_>>(),
                        f.conditions,
                        f.needs_iam
                    )
                })
                .collect();
            assert!(
                hit,
                "round {round}: allowed request in no finding: {}\nfindings: {brief:#?}\n{:?}",
                req.to_json(),
                inputs
                    .key_policy
                    .statements
                    .iter()
                    .map(|s| s.conditions.iter().map(kmsproof::findings::conditions::render).collect::<Vec<_>>())
                    .collect::<Vec<_>>()
            );
            covered += 1;
        }
    }
    eprintln!("findings differential: {rounds} proved rounds, {covered} allowed requests covered");
    assert!(rounds >= 15 && covered >= 20, "too few: {rounds} rounds, {covered} requests");
}
