//! KMS010: with account dumps (`audit --authorization-details`), the principals that can
//! `kms:Decrypt` a key only by a path its policy's authors would not see — a chain of at
//! least two `sts:AssumeRole` hops, or an escalation edge — found by `who-can`'s graph
//! (every edge and last hop decided by Z3, every witness replayed). A principal that can
//! directly, or by assuming one role that can, is what reading the key policy and the
//! roles' trust policies shows, and is not a finding. The graph is `who-can`'s own, on the
//! key as the input gives it: its real ARN when known (else audit's placeholder key), the
//! `--grant` grants on it and the `--scp` SCPs; an undecided principal is AUD002, and a
//! `cannot` resting on an UNCONFIRMED reading is said in an info finding.

use super::{Ctx, Finding, Severity};
use crate::prove::Mismatch;
use crate::whocan::domain::{Answer, Options, Status, Technique};
use crate::whocan::export;
use crate::whocan::graph::{analyse, Analysis};
use crate::whocan::kms::Key;
use petgraph::graph::NodeIndex;
use petgraph::visit::EdgeRef;

/// The action asked (the finding is about reading data).
const ACTION: &str = "kms:Decrypt";
/// Longest path looked for; a longer one is reported undecided, never clean.
const MAX_HOPS: usize = 8;

pub fn kms010(ctx: &Ctx) -> Result<Vec<Finding>, Mismatch> {
    if let Some(why) = unplaced_grants(ctx) {
        return Ok(vec![ctx.undecided("KMS010", &why)]);
    }
    // The key as `who-can` sees it: its own ARN when the input gives one (key-ARN
    // conditions and the grants' `KeyId` are read against it), its grants, the SCPs.
    let grants = ctx.grants.iter().filter(|g| g.is_on_key(&ctx.key_arn)).cloned().collect();
    let key = Key { arn: ctx.key_arn.clone(), policy: ctx.policy.clone(), grants };
    // Canonical models: each witness is a function of its question alone (any --jobs, shard).
    let opts = Options { action: ACTION.into(), max_hops: MAX_HOPS, limits: ctx.limits, ..Options::default() };
    let a = analyse(ctx.accounts, ctx.scps, &key, &opts)?;
    let mut out = Vec::new();
    let mut undecided = Vec::new();
    let mut readings: Vec<&str> = Vec::new();
    for n in a.listed() {
        match &a.status[n.index()] {
            Status::Can(path, end) if !visible(&a, n) => out.push(finding(ctx, &a, n, path, *end)),
            Status::Cannot => {
                for r in &a.rests_on[n.index()] {
                    if !readings.contains(&r.as_str()) {
                        readings.push(r);
                    }
                }
            }
            Status::Unknown(why) => undecided.push(format!("{}: {why}", a.graph[n].label)),
            Status::BeyondHops => {
                undecided.push(format!("{}: a path exists only beyond {MAX_HOPS} hops", a.graph[n].label))
            }
            _ => {}
        }
    }
    if let Some(first) = undecided.first() {
        let why = format!("{} principal(s) of the dumps undecided, e.g. {first}", undecided.len());
        out.push(ctx.undecided("KMS010", &why));
    }
    if !readings.is_empty() {
        out.push(resting(ctx, &readings));
    }
    Ok(out)
}

/// Why the grants cannot be placed on this document's key: some grant names a key
/// (`KeyId`) while the input does not say which key the policy is for. Leaving the grant
/// out could hide a path, and applying it could invent one: undecided, never clean.
fn unplaced_grants(ctx: &Ctx) -> Option<String> {
    if ctx.key_arn_known {
        return None;
    }
    let named = ctx.grants.iter().filter(|g| g.key_id.is_some()).count();
    (named > 0).then(|| {
        format!(
            "{named} grant(s) of --grant name a key, but the input does not say which key this policy is for \
             (add \"KeyArn\" beside \"Policy\", or give --key-arn)"
        )
    })
}

/// The principals' `cannot` rests on undocumented readings (as `check`'s `rests_on`): the
/// absence of a hidden path is stated with them, as an info finding, never silently.
fn resting(ctx: &Ctx, readings: &[&str]) -> Finding {
    let mut f = ctx.finding(
        "KMS010",
        ctx.doc.pos,
        format!(
            "no hidden path was found for the principals that cannot {ACTION} the key, but that rests on an UNCONFIRMED reading: {}",
            readings.join("; ")
        ),
    );
    f.severity = Severity::Info;
    f
}

/// Whether `n` can directly, by one `sts:AssumeRole` into a role that can directly, or
/// by one change of the key itself (`kms:PutKeyPolicy`, `kms:CreateGrant`): who may
/// change the key is what its policy says (its administrators, or the account's IAM
/// policies it delegates to), so the key policy's readers see that path.
fn visible(a: &Analysis, n: NodeIndex) -> bool {
    let yes = |i: NodeIndex| matches!(a.last[i.index()].as_ref().map(|h| &h.answer), Some(Answer::Yes(_)));
    let one_hop = |t: Technique| matches!(t, Technique::AssumeRole | Technique::PutKeyPolicy | Technique::CreateGrant);
    yes(n) || a.graph.edges(n).any(|e| one_hop(e.weight().technique) && yes(e.target()))
}

fn finding(ctx: &Ctx, a: &Analysis, n: NodeIndex, path: &[petgraph::graph::EdgeIndex], end: NodeIndex) -> Finding {
    let escalation = path.iter().any(|e| a.graph[*e].technique.is_escalation());
    let chain = path.iter().filter(|e| a.graph[**e].technique == Technique::AssumeRole).count();
    let steps: Vec<String> = path
        .iter()
        .map(|e| {
            format!(
                "{} → {}",
                a.graph[*e].technique.label(),
                a.graph[a.graph.edge_endpoints(*e).expect("an edge index taken from this graph").1].label
            )
        })
        .collect();
    let how = if escalation { "an escalation edge".to_string() } else { format!("a chain of {chain} assumed roles") };
    let node = &a.graph[n];
    let message = format!(
        "{} ({}) can {ACTION} the key only through {how}, which the key policy does not show: {}; last hop as {}",
        node.label,
        node.kind.as_str(),
        steps.join(", "),
        a.graph[end].label
    );
    let mut f = ctx.finding("KMS010", ctx.doc.pos, message);
    if escalation {
        f.severity = Severity::High;
    }
    let hops = export::json(&[a], Some(n));
    let principal = &hops["keys"][0]["principals"][0];
    f.path = principal["path"].as_array().cloned().unwrap_or_default();
    f.path.push(serde_json::json!({"last_hop": principal["last_hop"]}));
    f.counterexample = principal["last_hop"].get("request").cloned();
    f
}
