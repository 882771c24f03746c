//! `findings` as text for people and JSON for tools.

use crate::facts::action_groups::ActionGroup;
use crate::findings::{Completeness, Finding, Findings};
use serde_json::{json, Value};

/// A group by its name when the finding reaches all of its actions, else the actions.
fn groups_text(f: &Finding) -> String {
    let one = |(g, actions): &(Option<&ActionGroup>, Vec<String>)| match g {
        None => "other actions on the key".to_string(),
        Some(g) if actions.len() == g.actions.len() => g.label.to_string(),
        Some(g) if 2 * actions.len() > g.actions.len() => {
            let missing: Vec<String> =
                g.actions.iter().filter(|a| !actions.iter().any(|x| x == *a)).map(|a| a.to_string()).collect();
            format!("{} (all but {})", g.label, kms(&missing).join(", "))
        }
        Some(g) => format!("{} (only {})", g.label, kms(actions).join(", ")),
    };
    f.groups.iter().map(one).collect::<Vec<_>>().join("; ")
}

fn kms(actions: &[String]) -> Vec<String> {
    actions.iter().map(|a| format!("kms:{a}")).collect()
}

fn groups_json(f: &Finding) -> Vec<Value> {
    let one = |(g, actions): &(Option<&ActionGroup>, Vec<String>)| {
        json!({"group": g.map_or("other", |g| g.id), "all": g.is_some_and(|g| g.actions.len() == actions.len()),
               "actions": kms(actions)})
    };
    f.groups.iter().map(one).collect()
}

fn exposure_text(f: &Finding) -> String {
    match f.via_services.is_empty() {
        true => f.exposure.as_str().to_string(),
        false => format!("{} via service ({})", f.exposure.as_str(), f.via_services.join(", ")),
    }
}

/// `complete: proved` or `complete: unknown (why)`.
pub fn complete_text(c: &Completeness) -> String {
    match c {
        Completeness::Proved => "complete: proved (Z3 unsat: no allowed request lies outside every finding)".into(),
        Completeness::Unknown(why) => format!("complete: unknown ({why})"),
    }
}

/// The text report.
pub fn findings_text(r: &Findings) -> String {
    let mut out = format!("key: {}\npremise: {}\n", r.key_arn, r.premise);
    if r.findings.is_empty() {
        out.push_str("no request on the key is allowed\n");
    }
    for (i, f) in r.findings.iter().enumerate() {
        out.push_str(&format!("\n[{}] {}\n", i + 1, f.principal));
        out.push_str(&format!("    can:        {}\n", groups_text(f)));
        let conds = if f.conditions.is_empty() { "none".to_string() } else { f.conditions.join("; ") };
        out.push_str(&format!("    conditions: {conds}\n"));
        if f.needs_iam {
            out.push_str(
                "    only where: the caller's own identity policy allows it (none of the policies given does)\n",
            );
        }
        if f.whole == Some(false) {
            out.push_str("    note:       not every request of this shape is allowed (further restrictions apply)\n");
        }
        out.push_str(&format!("    exposure:   {}\n", exposure_text(f)));
        if !f.quantities.is_empty() {
            out.push_str(&format!("    counts:     {}\n", f.quantities.join("; ")));
        }
        match f.examples.first() {
            Some(ex) => {
                out.push_str(&format!("    example:    {}\n", ex.request));
                out.push_str(&format!("    allowed by: {}\n", ex.allowed_by.join("; ")));
            }
            None => out.push_str(&format!("    example:    none ({})\n", f.note.as_deref().unwrap_or("none found"))),
        }
    }
    out.push_str(&format!(
        "\n{}\n{} finding(s), {} cell(s) explored, {} solver queries\n",
        complete_text(&r.complete),
        r.findings.len(),
        r.cells_explored,
        r.queries
    ));
    out
}

/// One finding as JSON.
pub fn finding_json(f: &Finding) -> Value {
    json!({
        "principal": f.principal,
        "actions": groups_json(f),
        "conditions": f.conditions,
        "needs_identity_policy": f.needs_iam,
        "whole": f.whole,
        "exposure": f.exposure.as_str(),
        "via_services": f.via_services,
        "quantities": f.quantities,
        "examples": f.examples.iter().map(|e| json!({"request": e.request, "allowed_by": e.allowed_by})).collect::<Vec<_>>(),
        "note": f.note,
    })
}

/// `{"key", "premise", "findings", "complete", "complete_reason", "cells_explored", "queries", "undecided"}`.
pub fn findings_json(r: &Findings) -> Value {
    let (complete, reason) = match &r.complete {
        Completeness::Proved => (true, None),
        Completeness::Unknown(why) => (false, Some(why.clone())),
    };
    json!({
        "key": r.key_arn,
        "premise": r.premise,
        "findings": r.findings.iter().map(finding_json).collect::<Vec<_>>(),
        "complete": complete,
        "complete_reason": reason,
        "cells_explored": r.cells_explored,
        "queries": r.queries,
        "undecided": r.undecided,
    })
}
