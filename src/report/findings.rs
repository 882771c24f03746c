//! `findings` as text for people, JSON for tools, SARIF for code scanning and one HTML page.

use crate::audit::baseline::{fingerprint_of, FINGERPRINT_KEY};
use crate::facts::action_groups::ActionGroup;
use crate::findings::diff::{Change, Entry, FindingsDiff, Verdict};
use crate::findings::{Completeness, Exposure, Finding, Findings};
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
        Completeness::Proved => "complete: proved (unsat: no allowed request lies outside every finding)".into(),
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
        out.push_str(&finding_body(f));
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

/// A finding's lines under its title, up to its example: actions, conditions, exposure, counts.
fn finding_body(f: &Finding) -> String {
    let mut out = String::new();
    out.push_str(&format!("    can:        {}\n", groups_text(f)));
    let conds = if f.conditions.is_empty() { "none".to_string() } else { f.conditions.join("; ") };
    out.push_str(&format!("    conditions: {conds}\n"));
    if f.needs_iam {
        out.push_str("    only where: the caller's own identity policy allows it (none of the policies given does)\n");
    }
    if f.whole == Some(false) {
        out.push_str("    note:       not every request of this shape is allowed (further restrictions apply)\n");
    }
    out.push_str(&format!("    exposure:   {}\n", exposure_text(f)));
    if !f.quantities.is_empty() {
        out.push_str(&format!("    counts:     {}\n", f.quantities.join("; ")));
    }
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

/// The SARIF rule of each exposure class: a finding's rule id says whose access it is.
const SARIF_RULES: &[(Exposure, &str, &str, &str)] = &[
    (
        Exposure::External,
        "error",
        "Access from outside the account",
        "Another account, anonymous callers or anyone can act on the key (as IAM Access Analyzer's external access findings).",
    ),
    (
        Exposure::CrossAccountViaService,
        "warning",
        "Access from another account, through an AWS service",
        "Another account can act on the key, only through the AWS services kms:ViaService names.",
    ),
    (
        Exposure::Internal,
        "note",
        "Access from the key's account or an AWS service principal",
        "What the key's own account and AWS service principals can do: listed so a review sees everything the key allows.",
    ),
];

fn sarif_rule_id(e: Exposure) -> String {
    format!("findings/{}", e.as_str())
}

/// What one finding says, in one sentence: who, what, under which conditions.
pub fn finding_sentence(f: &Finding) -> String {
    let conds = if f.conditions.is_empty() { "no condition".to_string() } else { f.conditions.join("; ") };
    let iam = if f.needs_iam { ", where the caller's own identity policy allows it" } else { "" };
    format!("{} can {} ({conds}{iam}; {})", f.principal, groups_text(f), exposure_text(f))
}

/// Where a finding points: the first allowing statement of its example that lies in a file,
/// else the key policy.
fn sarif_location(f: &Finding, key_policy: &str) -> Value {
    let place = f.examples.iter().flat_map(|e| &e.places).find(|(file, _)| !file.starts_with('<'));
    let (file, line) = place.map_or((key_policy, 0), |(file, line)| (file.as_str(), *line));
    let mut physical = json!({"artifactLocation": {"uri": super::audit::uri(file)}});
    if line > 0 {
        physical["region"] = json!({"startLine": line});
    }
    json!({"physicalLocation": physical})
}

fn sarif_result(f: &Finding, key_policy: &str) -> Value {
    let rule = SARIF_RULES.iter().position(|(e, ..)| *e == f.exposure).unwrap_or(0);
    let mut text = finding_sentence(f);
    if let Some(ex) = f.examples.first() {
        text.push_str(&format!(". Example request (replayed, allowed): {}", ex.request));
    }
    let file = crate::audit::baseline::stable_path(key_policy);
    let id = sarif_rule_id(f.exposure);
    json!({
        "ruleId": id, "ruleIndex": rule, "level": SARIF_RULES[rule].1,
        "message": {"text": text},
        "locations": [sarif_location(f, key_policy)],
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint_of(&id, &file, &f.principal, &finding_sentence(f))},
        "properties": finding_json(f),
    })
}

/// SARIF 2.1.0, the envelope `audit` writes: one result per finding, external ones at level
/// error, cross-account via a service at warning, internal as notes; completeness is the
/// run's property (`complete`, and why not).
pub fn findings_sarif(r: &Findings, key_policy: &str) -> Value {
    let rules: Vec<Value> = SARIF_RULES
        .iter()
        .map(|(e, level, title, why)| {
            json!({"id": sarif_rule_id(*e), "name": e.as_str(), "shortDescription": {"text": title},
                   "fullDescription": {"text": why}, "defaultConfiguration": {"level": level},
                   "properties": {"tags": ["security", "aws-kms"], "precision": "very-high"}})
        })
        .collect();
    let results = r.findings.iter().map(|f| sarif_result(f, key_policy)).collect();
    let mut log = super::audit::sarif_log(rules, results);
    let summary = findings_json(r);
    log["runs"][0]["properties"] = json!({"key": summary["key"], "premise": summary["premise"],
        "complete": summary["complete"], "complete_reason": summary["complete_reason"],
        "cells_explored": summary["cells_explored"], "queries": summary["queries"]});
    log
}

/// The CSS class (from the audit page's style) of an exposure: external as high, cross-account
/// via a service as medium, internal as info.
fn html_class(e: Exposure) -> &'static str {
    match e {
        Exposure::External => "high",
        Exposure::CrossAccountViaService => "medium",
        Exposure::Internal => "info",
    }
}

/// One self-contained page: the audit page's head and style, the completeness verdict, an
/// index, then each finding with its example requests and the statements that allow them.
pub fn findings_html(r: &Findings) -> String {
    use super::html::{escape, page_head};
    let mut out = page_head("kmsproof findings");
    out.push_str(&format!(
        "<p id=\"summary\">key <code>{}</code><br>{}<br><b>{}</b><br>{} finding(s), {} cell(s) explored, {} solver queries</p>\n",
        escape(&r.key_arn),
        escape(&r.premise),
        escape(&complete_text(&r.complete)),
        r.findings.len(),
        r.cells_explored,
        r.queries
    ));
    if !r.findings.is_empty() {
        out.push_str("<ol id=\"index\">\n");
        for (i, f) in r.findings.iter().enumerate() {
            out.push_str(&format!(
                "<li><a href=\"#f{}\">{} · {}</a></li>\n",
                i + 1,
                f.exposure.as_str(),
                escape(&f.principal)
            ));
        }
        out.push_str("</ol>\n");
    }
    out.push_str("<section id=\"findings\">\n");
    for (i, f) in r.findings.iter().enumerate() {
        out.push_str(&finding_html(i + 1, f));
    }
    out.push_str("</section>\n</body></html>\n");
    out
}

fn finding_html(n: usize, f: &Finding) -> String {
    use super::html::escape;
    let class = html_class(f.exposure);
    let conds = if f.conditions.is_empty() { "none".to_string() } else { f.conditions.join("; ") };
    let mut out = format!(
        "<a id=\"f{n}\"></a><div class=\"finding {class}\"><span class=\"sev\">{}</span> <b>{}</b>\
         <p>can: {}<br>conditions: {}",
        escape(&exposure_text(f)),
        escape(&f.principal),
        escape(&groups_text(f)),
        escape(&conds)
    );
    if f.needs_iam {
        out.push_str("<br>only where: the caller's own identity policy allows it (none of the policies given does)");
    }
    if f.whole == Some(false) {
        out.push_str("<br>note: not every request of this shape is allowed (further restrictions apply)");
    }
    if !f.quantities.is_empty() {
        out.push_str(&format!("<br>counts: {}", escape(&f.quantities.join("; "))));
    }
    out.push_str("</p>");
    for ex in &f.examples {
        let text = serde_json::to_string_pretty(&ex.request).unwrap_or_default();
        out.push_str(&format!(
            "<div>Example request (replayed, allowed), allowed by {}:</div><pre class=\"request\">{}</pre>",
            escape(&ex.allowed_by.join("; ")),
            escape(&text)
        ));
    }
    if f.examples.is_empty() {
        out.push_str(&format!(
            "<p class=\"muted\">example: none ({})</p>",
            escape(f.note.as_deref().unwrap_or("none found"))
        ));
    }
    out.push_str("</div>\n");
    out
}

/// How a diff entry is titled, and what its example request shows.
fn change_words(e: &Entry) -> (&'static str, &'static str) {
    match (&e.change, e.in_new) {
        (Change::Added, _) => ("added", "allowed by NEW, denied by OLD"),
        (Change::Lost, _) => ("lost", "allowed by OLD, denied by NEW"),
        (Change::Reworded, true) => ("summary only (NEW)", "allowed by NEW and by OLD"),
        (Change::Reworded, false) => ("summary only (OLD)", "allowed by OLD and by NEW"),
        (Change::Undecided(_), true) => ("undecided (NEW)", ""),
        (Change::Undecided(_), false) => ("undecided (OLD)", ""),
    }
}

fn change_note(e: &Entry) -> Option<String> {
    match &e.change {
        Change::Undecided(why) => Some(format!("whether the other version allows all of it: unknown ({why})")),
        Change::Reworded => Some(
            "the other version allows every request of it too (unsat): the same access, summarised differently".into(),
        ),
        _ if e.same_summary_in_other => {
            Some("the other version has a finding with the same summary: these words cover other requests now".into())
        }
        _ => None,
    }
}

/// Summary only: the other version's finding the entry's example lies in.
fn other_finding<'a>(d: &'a FindingsDiff, e: &Entry) -> Option<&'a Finding> {
    let other = if e.in_new { &d.old } else { &d.new };
    e.in_other.and_then(|i| other.findings.get(i))
}

/// The verdict line: `CheckNoNewAccess`'s answer, with why.
pub fn verdict_text(d: &FindingsDiff) -> String {
    let added = d.entries.iter().filter(|e| e.change == Change::Added).count();
    match d.verdict() {
        Verdict::NewAccess => format!("NEW ADDS ACCESS: {added} finding(s) with a request NEW allows and OLD denies"),
        Verdict::NoNewAccess => {
            "NO NEW ACCESS (proved: unsat for every finding of NEW, and NEW's findings are complete)".into()
        }
        Verdict::Unknown(why) => format!("UNKNOWN whether NEW adds access ({why})"),
    }
}

/// The diff as text: each change with its finding and its replayed request, then the verdict.
pub fn diff_text(d: &FindingsDiff, old: &str, new: &str) -> String {
    let mut out = format!("old: {old}\nnew: {new}\nkey: {}\npremise: {}\n", d.new.key_arn, d.new.premise);
    if d.entries.is_empty() {
        out.push_str("\nno finding added, lost or summarised differently\n");
    }
    for (i, e) in d.entries.iter().enumerate() {
        let (title, shows) = change_words(e);
        out.push_str(&format!("\n[{}] {title}: {}\n", i + 1, e.finding.principal));
        out.push_str(&finding_body(&e.finding));
        if let Some(n) = change_note(e) {
            out.push_str(&format!("    change:     {n}\n"));
        }
        if let Some(ex) = &e.example {
            out.push_str(&format!("    example:    {} ({shows})\n", ex.request));
            out.push_str(&format!("    allowed by: {}\n", ex.allowed_by.join("; ")));
        }
        if let Some(g) = other_finding(d, e) {
            let other = if e.in_new { "OLD" } else { "NEW" };
            out.push_str(&format!("    in {other}:     this request lies in: {}\n", finding_sentence(g)));
        }
    }
    out.push_str(&format!(
        "\nOLD {}\nNEW {}\n{}\n",
        complete_text(&d.old.complete),
        complete_text(&d.new.complete),
        verdict_text(d)
    ));
    out
}

fn verdict_id(v: &Verdict) -> &'static str {
    match v {
        Verdict::NewAccess => "new-access",
        Verdict::NoNewAccess => "no-new-access",
        Verdict::Unknown(_) => "unknown",
    }
}

fn change_id(c: &Change) -> &'static str {
    match c {
        Change::Added => "added",
        Change::Lost => "lost",
        Change::Reworded => "summary-only",
        Change::Undecided(_) => "undecided",
    }
}

/// The diff as one JSON object: `verdict`, the `changes` (each a finding of `side` with its
/// example), both versions' findings in full.
pub fn diff_json(d: &FindingsDiff, old: &str, new: &str) -> Value {
    let v = d.verdict();
    let changes: Vec<Value> = d
        .entries
        .iter()
        .map(|e| {
            json!({"change": change_id(&e.change), "side": if e.in_new { "new" } else { "old" },
                   "finding": finding_json(&e.finding), "same_summary_in_other": e.same_summary_in_other,
                   "example": e.example.as_ref().map(|x| json!({"request": x.request, "allowed_by": x.allowed_by})),
                   "note": change_note(e),
                   "in_other": other_finding(d, e).map(finding_json)})
        })
        .collect();
    json!({
        "old": old, "new": new, "key": d.new.key_arn,
        "verdict": verdict_id(&v),
        "verdict_reason": match &v { Verdict::Unknown(why) => Some(why.clone()), _ => None },
        "changes": changes,
        "old_findings": findings_json(&d.old),
        "new_findings": findings_json(&d.new),
    })
}

/// The diff as markdown (a job summary or PR comment): the verdict, a table of the changes,
/// each example request under `<details>`.
pub fn diff_markdown(d: &FindingsDiff, old: &str, new: &str) -> String {
    use super::md_cell as cell;
    let mut out =
        format!("### kmsproof findings: `{}` → `{}`\n\n**{}**\n\n", cell(old), cell(new), cell(&verdict_text(d)));
    if !d.entries.is_empty() {
        out.push_str("| # | change | principal | can | conditions | exposure |\n|---|---|---|---|---|---|\n");
        for (i, e) in d.entries.iter().enumerate() {
            let f = &e.finding;
            let mut conds = if f.conditions.is_empty() { "none".to_string() } else { f.conditions.join("; ") };
            if f.needs_iam {
                conds.push_str("; only where the caller's own identity policy allows it");
            }
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                i + 1,
                change_words(e).0,
                cell(&f.principal),
                cell(&groups_text(f)),
                cell(&conds),
                cell(&exposure_text(f))
            ));
        }
        for (i, e) in d.entries.iter().enumerate() {
            if let Some(ex) = &e.example {
                let text = serde_json::to_string_pretty(&ex.request).unwrap_or_default();
                out.push_str(&format!(
                    "\n<details><summary>#{} example request ({}, replayed)</summary>\n\n```json\n{text}\n```\n</details>\n",
                    i + 1,
                    change_words(e).1
                ));
            }
        }
    }
    out.push_str(&format!("\nOLD {}; NEW {}\n", complete_text(&d.old.complete), complete_text(&d.new.complete)));
    out
}

/// `audit --findings`, for people: each key policy's findings, one line each, after the
/// audit's own output.
pub fn audit_summary_text(docs: &[crate::audit::DocResult]) -> String {
    let mut out = String::new();
    for d in docs {
        let Some(r) = &d.summary else { continue };
        let at = if d.location.is_empty() { d.file.clone() } else { format!("{} [{}]", d.file, d.location) };
        out.push_str(&format!("\n{at}: {} finding(s); {}\n", r.findings.len(), complete_text(&r.complete)));
        for (i, f) in r.findings.iter().enumerate() {
            out.push_str(&format!("  [{}] {}\n", i + 1, finding_sentence(f)));
        }
    }
    if out.is_empty() {
        return out;
    }
    format!("\nfindings of each key policy (the key policy alone; every caller's identity policies unknown, assumed to allow):{out}")
}

/// `audit --findings`, for tools: `key_findings`, one object per key policy (file, location,
/// and the `findings --format json` object).
pub fn audit_summary_json(docs: &[crate::audit::DocResult]) -> Value {
    let per_doc: Vec<Value> = docs
        .iter()
        .filter_map(|d| {
            let r = d.summary.as_ref()?;
            Some(json!({"file": d.file, "location": d.location, "findings": findings_json(r)}))
        })
        .collect();
    json!(per_doc)
}
