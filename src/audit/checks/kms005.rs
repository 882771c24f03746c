//! KMS005 — an `aws:SourceIp` / `aws:SourceVpc` condition that breaks AWS services.
//!
//! Why it matters: requests AWS services make on the caller's behalf (EBS, S3, RDS…) come
//! from AWS addresses, so a network condition without a service exemption denies them
//! (in a Deny) or never allows them (in an Allow).
//!
//! What it asks (structural): every statement that can apply to a KMS action and has a
//! network condition ([`NETWORK_KEYS`]) but no service exemption ([`SERVICE_EXEMPTIONS`]).
//!
//! Fix: add `"Bool": {"aws:ViaAWSService": "false"}` to the Deny (or exempt
//! `kms:ViaService`), or move the network restriction to a VPC endpoint policy.

use super::{may_match_kms, CheckInfo, Scope};
use crate::audit::{Ctx, Finding, Severity};
use crate::model::policy::Effect;
use crate::prove::Mismatch;

pub const CHECK: CheckInfo = CheckInfo {
    id: "KMS005",
    name: "source-ip-trap",
    severity: Severity::Medium,
    title: "aws:SourceIp/SourceVpc condition breaks AWS services",
    rationale: "Requests AWS services make on your behalf (EBS, S3, RDS…) come from AWS addresses, so a network condition without an aws:ViaAWSService / kms:ViaService exemption denies them.",
    fix: "Add \"Bool\": {\"aws:ViaAWSService\": \"false\"} to the Deny (or exempt kms:ViaService), or move the network restriction to a VPC endpoint policy.",
    method: "structural",
    scope: Scope::Both,
    example: corpus_example!("kms005-pos.json", "kms005-neg.json"),
    run: Some(kms005),
};

/// Keys that restrict the network a request comes from.
const NETWORK_KEYS: &[&str] = &["aws:sourceip", "aws:sourcevpc", "aws:sourcevpce"];
/// Keys that exempt requests AWS services make on the caller's behalf.
const SERVICE_EXEMPTIONS: &[&str] = &[
    "aws:viaawsservice",
    "kms:viaservice",
    "aws:calledvia",
    "aws:calledviafirst",
    "aws:calledvialast",
    "aws:principalisawsservice",
];

fn kms005(ctx: &Ctx) -> Result<Vec<Finding>, Mismatch> {
    let mut out = Vec::new();
    for st in ctx.policy.statements.iter().filter(|s| may_match_kms(s)) {
        let keys: Vec<String> = st.conditions.iter().map(|c| c.key.to_ascii_lowercase()).collect();
        let Some(net) = st.conditions.iter().find(|c| NETWORK_KEYS.contains(&c.key.to_ascii_lowercase().as_str()))
        else {
            continue;
        };
        if keys.iter().any(|k| SERVICE_EXEMPTIONS.contains(&k.as_str())) {
            continue;
        }
        let what = if st.effect == Effect::Deny { "denies" } else { "allows only" };
        out.push(ctx.finding("KMS005", ctx.pos(net.pos), format!("{} {what} requests by {} {} with no aws:ViaAWSService or kms:ViaService exemption: requests AWS services make for you come from AWS networks", st.label(), net.op.canonical(), net.key)).in_statement(st.index));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_the_failing_example_and_passes_the_other() {
        super::super::assert_examples(&super::CHECK);
    }
}
