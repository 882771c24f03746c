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

#[test]
fn sarif_has_one_result_per_finding_at_its_exposure_level() {
    let path = root().join("corpus/findings/cross-account.json");
    let p = path.to_str().unwrap();
    let findings = json(&kmsproof(&["findings", "--key-policy", p, "--format", "json"]));
    let out = kmsproof(&["findings", "--key-policy", p, "--format", "sarif"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v = json(&out);
    assert_eq!(v["version"], "2.1.0");
    let run = &v["runs"][0];
    assert_eq!(run["properties"]["complete"], true);
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), findings["findings"].as_array().unwrap().len(), "{v:#}");
    let rules: Vec<&str> =
        run["tool"]["driver"]["rules"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    for r in results {
        let exposure = r["properties"]["exposure"].as_str().unwrap();
        let level = match exposure {
            "external" => "error",
            "cross-account-via-service" => "warning",
            _ => "note",
        };
        assert_eq!(r["level"], level, "{r:#}");
        assert_eq!(r["ruleId"], format!("findings/{exposure}"));
        assert_eq!(rules[r["ruleIndex"].as_u64().unwrap() as usize], r["ruleId"]);
        assert!(r["partialFingerprints"]["kmsproofFinding/v1"].is_string());
        let loc = &r["locations"][0]["physicalLocation"];
        assert!(loc["artifactLocation"]["uri"].as_str().unwrap().ends_with("cross-account.json"), "{r:#}");
        assert!(loc["region"]["startLine"].as_u64().unwrap() >= 2, "{r:#}");
        assert!(r["message"]["text"].as_str().unwrap().contains("replayed, allowed"));
    }
    assert!(results.iter().any(|r| r["level"] == "error"), "the partner account's access is external");
    // Fingerprints are stable across runs and distinct across findings.
    let again = json(&kmsproof(&["findings", "--key-policy", p, "--format", "sarif"]));
    let fps = |v: &Value| -> Vec<String> {
        v["runs"][0]["results"].as_array().unwrap().iter().map(|r| r["partialFingerprints"].to_string()).collect()
    };
    assert_eq!(fps(&v), fps(&again));
    let mut unique = fps(&v);
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), results.len());
}

#[test]
fn html_is_one_self_contained_page_with_every_finding() {
    let path = root().join("corpus/audit/console-defaults/symmetric.json");
    let out = kmsproof(&["findings", "--key-policy", path.to_str().unwrap(), "--format", "html"]);
    assert_eq!(out.status.code(), Some(0));
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(page.starts_with("<!DOCTYPE html>") && page.trim_end().ends_with("</html>"));
    assert!(page.contains("<h1>kmsproof findings</h1>") && page.contains("id=\"generated\""));
    assert!(page.contains("complete: proved"));
    assert!(!page.contains("<script") && !page.contains("http://") && !page.contains("src="));
    // Seven findings, each linked from the index, each with a replayed request.
    assert_eq!(page.matches("<div class=\"finding ").count(), 7, "{page}");
    assert_eq!(page.matches("<li><a href=\"#f").count(), 7);
    assert_eq!(
        page.matches("Example request (replayed, allowed)").count(),
        page.matches("<pre class=\"request\">").count()
    );
    // Quotes from the policy (Sids) are escaped.
    assert!(page.contains("&quot;Allow use of the key&quot;"), "{page}");
}

#[test]
fn formats_each_mode_does_not_write_are_bad_input() {
    let p = root().join("corpus/findings/cross-account.json");
    let p = p.to_str().unwrap();
    let out = kmsproof(&["findings", "--key-policy", p, "--format", "markdown"]);
    assert_eq!(out.status.code(), Some(2));
    let out = kmsproof(&["findings", "--key-policy", p, "--old-key-policy", p, "--format", "sarif"]);
    assert_eq!(out.status.code(), Some(2));
    let out = kmsproof(&["findings", "--old-key-policy", p]);
    assert_eq!(out.status.code(), Some(2));
}

/// The inputs a diff's example is replayed on: the key policy, and every caller's identity
/// policies unknown (taken to allow everything, as the diff's premise says).
fn open_inputs(key_policy: &str) -> Inputs {
    let text = std::fs::read_to_string(root().join(key_policy)).unwrap();
    let kp = kmsproof::model::policy::parse_policy(&text, key_policy, kmsproof::model::policy::PolicyKind::KeyPolicy)
        .unwrap();
    let any = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
    let id =
        kmsproof::model::policy::parse_policy(any, "<any>", kmsproof::model::policy::PolicyKind::Identity).unwrap();
    Inputs {
        key_policy: kp,
        identity: vec![id],
        scps: vec![],
        boundary: None,
        grants: vec![],
        management_account: None,
    }
}

fn findings_diff(old: &str, new: &str, format: &str) -> (Option<i32>, String) {
    let (o, n) = (root().join(old), root().join(new));
    let out = kmsproof(&[
        "findings",
        "--old-key-policy",
        o.to_str().unwrap(),
        "--key-policy",
        n.to_str().unwrap(),
        "--format",
        format,
    ]);
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `findings_diff` as JSON, after checking its exit code.
fn findings_diff_json(old: &str, new: &str, code: i32) -> Value {
    let (got, text) = findings_diff(old, new, "json");
    assert_eq!(got, Some(code), "{text}");
    serde_json::from_str(&text).unwrap()
}

/// A change's example request, read back as a request.
fn example_request(change: &Value) -> Request {
    Request::parse(&change["example"]["request"].to_string(), "<example>").unwrap()
}

const CONSOLE: &str = "corpus/audit/console-defaults/symmetric.json";
const CONSOLE_SHARED: &str = "corpus/findings/console-default-cross-account.json";

#[test]
fn diff_lists_the_cross_account_statement_as_added_with_requests_new_allows_and_old_denies() {
    let v = findings_diff_json(CONSOLE, CONSOLE_SHARED, 1);
    assert_eq!(v["verdict"], "new-access");
    let changes = v["changes"].as_array().unwrap();
    let added: Vec<&Value> = changes.iter().filter(|c| c["change"] == "added").collect();
    assert!(!added.is_empty(), "{v:#}");
    assert!(changes.iter().all(|c| c["change"] == "added"), "only the partner's findings change: {v:#}");
    let (old, new) = (open_inputs(CONSOLE), open_inputs(CONSOLE_SHARED));
    for c in added {
        assert_eq!(c["side"], "new");
        assert!(c["finding"]["principal"].as_str().unwrap().contains("444455556666"), "{c:#}");
        assert_eq!(c["finding"]["exposure"], "external");
        let req = example_request(c);
        assert!(authorize(&new, &req).allowed(), "{c:#}");
        assert!(!authorize(&old, &req).allowed(), "{c:#}");
    }
    // The text and markdown forms say the same.
    let (code, text) = findings_diff(CONSOLE, CONSOLE_SHARED, "text");
    assert_eq!(code, Some(1));
    assert!(text.contains("added: root user of account 444455556666"), "{text}");
    assert!(text.contains("(allowed by NEW, denied by OLD)") && text.contains("NEW ADDS ACCESS"), "{text}");
    let (code, md) = findings_diff(CONSOLE, CONSOLE_SHARED, "markdown");
    assert_eq!(code, Some(1));
    assert!(md.contains("| 1 | added | root user of account 444455556666 |"), "{md}");
    assert!(md.contains("<details>"), "{md}");
}

#[test]
fn diff_the_other_way_loses_the_findings_and_adds_no_access() {
    let v = findings_diff_json(CONSOLE_SHARED, CONSOLE, 0);
    assert_eq!(v["verdict"], "no-new-access");
    let changes = v["changes"].as_array().unwrap();
    assert!(!changes.is_empty() && changes.iter().all(|c| c["change"] == "lost" && c["side"] == "old"), "{v:#}");
    let (old, new) = (open_inputs(CONSOLE_SHARED), open_inputs(CONSOLE));
    for c in changes {
        let req = example_request(c);
        assert!(authorize(&old, &req).allowed() && !authorize(&new, &req).allowed(), "{c:#}");
    }
}

#[test]
fn diff_of_a_policy_with_itself_is_empty() {
    let (code, text) = findings_diff(CONSOLE, CONSOLE, "text");
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("no finding added, lost or summarised differently"), "{text}");
    assert!(text.contains("NO NEW ACCESS (proved"), "{text}");
}

#[test]
fn diff_says_when_only_the_summary_changed() {
    // The organization-wide policy lets the key's account do all the via-service policy
    // does: NEW adds no access, yet its account finding is cut differently.
    let v = findings_diff_json("corpus/findings/org-wide.json", "corpus/findings/via-service-internal.json", 0);
    let reworded: Vec<&Value> =
        v["changes"].as_array().unwrap().iter().filter(|c| c["change"] == "summary-only").collect();
    assert!(!reworded.is_empty(), "{v:#}");
    let (old, new) =
        (open_inputs("corpus/findings/org-wide.json"), open_inputs("corpus/findings/via-service-internal.json"));
    for c in reworded {
        let req = example_request(c);
        assert!(authorize(&old, &req).allowed() && authorize(&new, &req).allowed(), "{c:#}");
        // The request that tells the summaries apart: the other version's finding it lies in.
        assert!(c["in_other"]["principal"].is_string(), "{c:#}");
        assert_ne!(c["in_other"], c["finding"], "{c:#}");
    }
}

/// Random pairs of versions (same identity policies, SCPs, grants; another key policy): an
/// added finding's request is allowed by NEW and denied by OLD; when the verdict is "no new
/// access", no random request NEW allows is denied by OLD.
#[test]
fn random_diffs_added_requests_replay_and_no_new_access_holds() {
    use kmsproof::findings::diff::{diff, Change, Verdict};
    let mut rng = Rng(0xd1ff_4665_0024_0005);
    // Requests from their own generator: the versions of each round do not depend on them.
    let mut requests = Rng(0xd1ff_4665_0024_0006);
    let settings = Settings { world: IamWorld::Closed, limits: Limits::default() };
    let (mut added, mut quiet, mut checked) = (0, 0, 0);
    for round in 0..16 {
        let old = inputs(&mut rng);
        let new = Inputs { key_policy: inputs(&mut rng).key_policy, ..old.clone() };
        let d = diff(&old, &new, KEY, &settings).unwrap_or_else(|m| panic!("round {round}: {m}"));
        for e in &d.entries {
            let Some(ex) = &e.example else { continue };
            let req = Request::parse(&ex.request.to_string(), "<example>").unwrap();
            let (this, other) = if e.in_new { (&new, &old) } else { (&old, &new) };
            match e.change {
                Change::Added | Change::Lost => {
                    assert!(authorize(this, &req).allowed() && !authorize(other, &req).allowed(), "round {round}");
                    added += 1;
                }
                Change::Reworded => assert!(authorize(this, &req).allowed() && authorize(other, &req).allowed()),
                Change::Undecided(_) => {}
            }
        }
        if d.verdict() != Verdict::NoNewAccess {
            continue;
        }
        quiet += 1;
        for _ in 0..2000 {
            let Ok(req) = Request::parse(&request(&mut requests).to_json().to_string(), "<random>") else {
                continue;
            };
            if req.resource.as_deref() != Some(KEY) || !authorize(&new, &req).allowed() {
                continue;
            }
            checked += 1;
            assert!(authorize(&old, &req).allowed(), "round {round}: NEW allows {} and OLD denies it", req.to_json());
        }
    }
    eprintln!("findings diff differential: {added} replayed changes, {quiet} no-new-access rounds, {checked} requests");
    assert!(added >= 5 && quiet >= 3 && checked >= 10, "too few: {added} changes, {quiet} rounds, {checked} requests");
}

#[test]
fn audit_findings_summarises_each_key_policy_only_when_asked() {
    let dir = root().join("examples");
    let d = dir.to_str().unwrap();
    let plain = kmsproof(&["audit", d]);
    let text = String::from_utf8_lossy(&plain.stdout);
    assert!(!text.contains("findings of each key policy"));
    let with = kmsproof(&["audit", d, "--findings"]);
    assert_eq!(with.status.code(), plain.status.code());
    let with_text = String::from_utf8_lossy(&with.stdout);
    // The audit's own output first, unchanged; the summaries after it.
    assert!(with_text.starts_with(&*text), "{with_text}");
    assert!(with_text.contains("examples/key-policy.json: ") && with_text.contains("complete: proved"), "{with_text}");
    let v = json(&kmsproof(&["audit", d, "--findings", "--format", "json"]));
    let per_doc = v["key_findings"].as_array().unwrap();
    assert!(!per_doc.is_empty());
    for k in per_doc {
        assert_eq!(k["findings"]["complete"], true, "{k:#}");
        assert!(!k["findings"]["findings"].as_array().unwrap().is_empty());
    }
    assert!(json(&kmsproof(&["audit", d, "--format", "json"])).get("key_findings").is_none());
    assert_eq!(kmsproof(&["audit", d, "--findings", "--format", "sarif"]).status.code(), Some(2));
}
