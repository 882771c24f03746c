//! KMS006 — a `kms:ViaService` value that matches no service endpoint.
//!
//! Why it matters: `kms:ViaService` holds `SERVICE.REGION.amazonaws.com`; any other value
//! never matches (the restriction silently allows nothing), and a wildcard service in an
//! Allow allows every service.
//!
//! What it asks (structural): the shape of every `kms:ViaService` value
//! ([`via_service_shape`]): wildcards count only with a `…Like` operator.
//!
//! Fix: write values such as `ec2.us-east-1.amazonaws.com` (wildcards only in the region
//! part).

use super::{text_of, CheckInfo, Scope};
use crate::audit::{Ctx, Finding, Severity};
use crate::model::policy::Effect;
use crate::prove::Mismatch;

pub const CHECK: CheckInfo = CheckInfo {
    id: "KMS006",
    name: "via-service-shape",
    severity: Severity::Medium,
    title: "kms:ViaService value matches no service endpoint",
    rationale: "kms:ViaService holds SERVICE.REGION.amazonaws.com; other values never match (the restriction silently allows nothing) and a wildcard service allows every service.",
    fix: "Write values such as ec2.us-east-1.amazonaws.com (wildcards only in the region part).",
    method: "structural",
    scope: Scope::Both,
    example: corpus_example!("kms006-pos.json", "kms006-neg.json"),
    run: Some(kms006),
};

fn kms006(ctx: &Ctx) -> Result<Vec<Finding>, Mismatch> {
    let mut out = Vec::new();
    for st in &ctx.policy.statements {
        for c in st.conditions.iter().filter(|c| c.key.eq_ignore_ascii_case("kms:ViaService")) {
            let wild = c.op.spec.name.ends_with("Like");
            for v in &c.values {
                let crate::model::policy::CondValue::Text(p) = v else { continue };
                let text = text_of(p);
                let problem = match via_service_shape(&text, wild) {
                    Shape::AnyService if st.effect == Effect::Allow && !c.op.spec.negated => {
                        "allows every service, so the restriction restricts nothing"
                    }
                    Shape::Bad => "matches no service endpoint name (SERVICE.REGION.amazonaws.com)",
                    Shape::Real | Shape::AnyService => continue,
                };
                let message = format!("{} {} {}: \"{text}\" {problem}", st.label(), c.op.canonical(), c.key);
                out.push(ctx.finding("KMS006", ctx.pos(c.pos), message).in_statement(st.index));
            }
        }
    }
    Ok(out)
}

enum Shape {
    Real,
    AnyService,
    Bad,
}

/// Endpoint suffixes by partition family.
const ENDPOINT_SUFFIXES: &[&str] = &[".amazonaws.com.cn", ".amazonaws.com", ".c2s.ic.gov", ".sc2s.sgov.gov"];

/// Whether `v` can be `SERVICE.REGION.amazonaws.com` (with `*`/`?` when `wild`).
fn via_service_shape(v: &str, wild: bool) -> Shape {
    let is_wild = |s: &str| wild && s.contains(['*', '?']);
    if is_wild(v) && v.chars().all(|c| c == '*' || c == '?') {
        return Shape::AnyService;
    }
    let Some(head) = ENDPOINT_SUFFIXES.iter().find_map(|s| v.strip_suffix(s)) else {
        return if is_wild(v) && v.ends_with('*') { Shape::Real } else { Shape::Bad };
    };
    let Some((service, region)) = head.split_once('.') else { return Shape::Bad };
    let label_ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || (wild && (c == '*' || c == '?')))
    };
    let region_ok = is_wild(region) && label_ok(&region.replace('.', "")) || is_region(region);
    match (label_ok(service), region_ok) {
        (true, true) if is_wild(service) && service.trim_matches(['*', '?']).is_empty() => Shape::AnyService,
        (true, true) => Shape::Real,
        _ => Shape::Bad,
    }
}

/// `us-east-1`, `us-gov-west-1`, `cn-north-1`, `ap-southeast-5`, …: letters-…-digits.
fn is_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1].iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].chars().all(|c| c.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn via_service_shapes() {
        for ok in [
            "ec2.us-east-1.amazonaws.com",
            "rds.*.amazonaws.com",
            "s3.cn-north-1.amazonaws.com.cn",
            "lambda.us-gov-west-1.amazonaws.com",
        ] {
            assert!(matches!(via_service_shape(ok, true), Shape::Real), "{ok}");
        }
        for bad in ["ec2.amazonaws.com", "ec2", "ec2.us-east-1.amazonaws.org", "ec2.useast1.amazonaws.com"] {
            assert!(matches!(via_service_shape(bad, false), Shape::Bad), "{bad}");
        }
        for any in ["*", "*.us-east-1.amazonaws.com", "*.*.amazonaws.com"] {
            assert!(matches!(via_service_shape(any, true), Shape::AnyService), "{any}");
        }
    }

    #[test]
    fn finds_the_failing_example_and_passes_the_other() {
        super::super::assert_examples(&super::CHECK);
    }
}
