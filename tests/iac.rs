//! Infrastructure code as written (issue 22): CloudFormation templates with intrinsic
//! functions (a SAM/CFN YAML template, a CDK-synthesised JSON template), a terraform plan with
//! values known after apply, path-independent baselines, and KMS002's declared trust.

use crate::util::root;
use kmsproof::audit::discover::{documents_in_with, TemplateValues};
use kmsproof::audit::{audit_document, DocResult, Settings, Trust};
use std::process::{Command, Output};

fn settings(trust: Trust) -> Settings {
    Settings { trust, ..Settings::default() }
}

fn audit(rel: &str, values: &TemplateValues, trust: Trust) -> Vec<DocResult> {
    let text = std::fs::read_to_string(root().join(rel)).unwrap();
    let s = settings(trust);
    documents_in_with(rel, &text, values)
        .iter()
        .map(|d| audit_document(d, &s).unwrap_or_else(|m| panic!("{m}")))
        .collect()
}

fn checks(r: &[DocResult]) -> Vec<(&'static str, String)> {
    r.iter().flat_map(|d| d.findings.iter().map(|f| (f.check, f.severity.as_str().to_string()))).collect()
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kmsproof")).args(args).current_dir(root()).output().expect("spawn kmsproof")
}

const SAM: &str = "corpus/audit/iac/sam-intrinsics.yaml";
const CDK: &str = "corpus/audit/iac/cdk-synth.template.json";
const PLAN: &str = "corpus/audit/iac/plan-after-apply.json";

#[test]
fn a_sam_template_is_audited_as_written_with_lines() {
    let r = audit(SAM, &TemplateValues::default(), Trust::default());
    // `Env` has no default: `!If IsProd` gives both branches, each its own document.
    assert_eq!(r.len(), 2, "{r:#?}");
    assert!(r.iter().all(|d| d.kind == "key-policy"), "{r:#?}");
    assert!(r.iter().any(|d| d.location.ends_with("[Condition IsProd = true]")));
    for d in &r {
        assert_eq!(checks(std::slice::from_ref(d)), [("KMS002", "medium".to_string())], "{d:#?}");
        let f = &d.findings[0];
        // The partner's statement (`- Sid: PartnerViaS3`) is line 40 of the template.
        assert_eq!(f.pos.line, 40, "{f:#?}");
        assert!(f.message.contains("kms:Decrypt") && f.message.contains("kms:ViaService"), "{}", f.message);
        assert!(f.message.contains("free: AppRole.RoleName"), "{}", f.message);
    }
}

#[test]
fn declared_trust_is_not_a_finding() {
    let trust = Trust { accounts: vec!["444455556666".into()], orgs: vec![] };
    let r = audit(SAM, &TemplateValues::default(), trust);
    assert!(checks(&r).is_empty(), "{r:#?}");
}

#[test]
fn a_cdk_template_leaves_a_parameter_free_unless_given() {
    let r = audit(CDK, &TemplateValues::default(), Trust::default());
    let keys: Vec<&DocResult> = r.iter().filter(|d| d.kind == "key-policy").collect();
    // PartnerAccount has no default: the key's own account, or another one (free).
    assert_eq!(keys.len(), 2, "{r:#?}");
    let other = keys.iter().find(|d| d.location.contains("another account")).unwrap();
    let f = other.findings.iter().find(|f| f.check == "KMS002").unwrap_or_else(|| panic!("{other:#?}"));
    assert!(f.message.contains("free PartnerAccount"), "{}", f.message);
    let ce = f.counterexample.as_ref().unwrap();
    assert!(ce["context"]["kmsproof:free/PartnerAccount"].is_string(), "{ce}");
    assert!(!checks(&r).iter().any(|(c, _)| *c == "AUD001"), "{r:#?}");
    // Given, it is one document and a named partner.
    let given = TemplateValues { parameters: [("PartnerAccount".into(), "444455556666".into())].into(), key_arn: None };
    let r = audit(CDK, &given, Trust::default());
    let keys: Vec<&DocResult> = r.iter().filter(|d| d.kind == "key-policy").collect();
    assert_eq!(keys.len(), 1, "{r:#?}");
    let f = keys[0].findings.iter().find(|f| f.check == "KMS002").unwrap();
    assert!(f.message.contains("444455556666") && f.severity.as_str() == "high", "{}", f.message);
}

#[test]
fn a_plan_value_known_after_apply_is_undecided_not_skipped() {
    let r = audit(PLAN, &TemplateValues::default(), Trust::default());
    let shared = r.iter().find(|d| d.location == "aws_kms_key_policy.shared.policy").unwrap();
    let f = &shared.findings[0];
    assert_eq!(f.check, "AUD002");
    assert!(
        f.message.contains("known only after apply") && f.message.contains("aws_iam_role.app.arn"),
        "{}",
        f.message
    );
    let data = r.iter().find(|d| d.location == "aws_kms_key.data.policy").unwrap();
    assert!(data.findings.iter().any(|f| f.check == "KMS001"), "{data:#?}");
}

#[test]
fn baselines_match_however_the_path_is_spelled() {
    let dir = std::env::temp_dir().join(format!("kmsproof-baseline-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let base = dir.join("b.json");
    let o = run(&["audit", "--format", "json", "corpus/audit/kms002-pos.json"]);
    std::fs::write(&base, &o.stdout).unwrap();
    let abs = root().join("corpus/audit/kms002-pos.json");
    for spelling in ["./corpus/audit/kms002-pos.json", abs.to_str().unwrap()] {
        let o = run(&["audit", "--baseline", base.to_str().unwrap(), spelling]);
        assert_eq!(o.status.code(), Some(0), "{spelling}: {}", String::from_utf8_lossy(&o.stdout));
    }
    let o = run(&["audit", "--baseline", base.to_str().unwrap(), "corpus/audit/kms001-pos.json"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("match no finding"), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn diagnostics_suggest_the_fix() {
    let dir = std::env::temp_dir().join(format!("kmsproof-diag-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("key.json");
    std::fs::write(&key, r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}]}"#).unwrap();
    let req = dir.join("req.json");
    std::fs::write(
        &req,
        r#"{"principal": "arn:aws:iam::111122223333:role/R", "action": "kms:Decrypt", "resource": "*"}"#,
    )
    .unwrap();
    let o = run(&["eval", "--identity-policy", key.to_str().unwrap(), "--request", req.to_str().unwrap()]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("this looks like a key policy: use --key-policy"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_html_report_is_sorted_by_severity_with_links_version_and_date() {
    let o = Command::new(env!("CARGO_BIN_EXE_kmsproof"))
        .args(["audit", "--format", "html", "corpus/audit/kms003-pos.json", "corpus/audit/kms001-pos.json"])
        .env("SOURCE_DATE_EPOCH", "1764892800")
        .current_dir(root())
        .output()
        .unwrap();
    let page = String::from_utf8_lossy(&o.stdout);
    assert!(page.contains(&format!("kmsproof {} · 2025-12-05 00:00 UTC", env!("CARGO_PKG_VERSION"))), "{page}");
    assert!(page.contains("<a href=\"#f1\">critical KMS001"), "{page}");
    let rank = ["critical", "high", "medium", "low", "info"];
    let order: Vec<usize> = page
        .match_indices("<div class=\"finding ")
        .filter_map(|(i, m)| {
            let sev = page[i + m.len()..].split('"').next()?;
            rank.iter().position(|r| *r == sev)
        })
        .collect();
    assert!(order.len() >= 2 && order.windows(2).all(|w| w[0] <= w[1]), "most severe first: {order:?}");
}
