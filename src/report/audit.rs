//! Audit output: a table for people, one JSON object or JSON lines for scripts, SARIF
//! 2.1.0 for code-scanning dashboards. Every format lists findings in the same order.

use crate::audit::baseline::{fingerprint, FINGERPRINT_KEY};
use crate::audit::checks::{info, CheckInfo, CHECKS};
use crate::audit::suppress::Suppression;
use crate::audit::{DocResult, Finding, Severity, SEVERITIES};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// A finding left out of the findings by a suppression, with why.
pub struct Suppressed<'a> {
    pub finding: &'a Finding,
    pub why: Suppression,
}

/// What an output shows: the documents, the findings, the suppressed findings (always
/// listed), and how many findings the baseline held back.
pub struct Report<'a> {
    pub docs: &'a [DocResult],
    pub shown: Vec<&'a Finding>,
    pub suppressed: Vec<Suppressed<'a>>,
    pub baselined: usize,
}

/// `file:line:col` (or `file` when the line is unknown).
pub fn place(f: &Finding) -> String {
    match f.pos.line {
        0 => f.file.clone(),
        _ => format!("{}:{}:{}", f.file, f.pos.line, f.pos.col),
    }
}

/// One finding as text (the form the snapshot tests compare).
pub fn finding_text(f: &Finding) -> String {
    let loc = if f.location.is_empty() { String::new() } else { format!(" [{}]", f.location) };
    let mut out =
        format!("{}{loc}: {} {} {}: {}\n", place(f), f.severity.as_str(), f.check, info(f.check).title, f.message);
    if let Some(c) = &f.counterexample {
        out.push_str(&format!("  counterexample (replayed, allowed): {c}\n"));
    }
    out.push_str(&path_text(f, "  "));
    out
}

/// A KMS010 finding's path, a line per hop and per replayed witness request.
pub fn path_text(f: &Finding, indent: &str) -> String {
    let mut out = String::new();
    for (k, hop) in f.path.iter().enumerate() {
        if let Some(last) = hop.get("last_hop") {
            out.push_str(&format!(
                "{indent}last hop as {}: {}\n",
                last["principal"].as_str().unwrap_or("?"),
                last["request"]
            ));
            continue;
        }
        let (t, to) = (hop["technique"].as_str().unwrap_or("?"), hop["to"].as_str().unwrap_or("?"));
        out.push_str(&format!("{indent}hop {}: {t} → {to} ({})\n", k + 1, hop["detail"].as_str().unwrap_or("")));
        for w in hop["witnesses"].as_array().into_iter().flatten() {
            out.push_str(&format!("{indent}  request (replayed, allowed): {}\n", w["request"]));
        }
    }
    out
}

fn finding_json(f: &Finding) -> Value {
    let mut v = json!({
        "check": f.check, "severity": f.severity.as_str(), "title": info(f.check).title,
        "file": f.file, "location": f.location, "line": f.pos.line, "column": f.pos.col,
        "message": f.message, "counterexample": f.counterexample, "fix": info(f.check).fix,
        "fingerprint": fingerprint(f),
        "statements": f.statements.iter().map(|s| json!({"index": s.index, "sid": s.sid})).collect::<Vec<_>>(),
    });
    if !f.accounts.is_empty() {
        v["accounts"] = json!(f.accounts);
    }
    if !f.path.is_empty() {
        v["path"] = json!(f.path);
    }
    v
}

fn document_json(d: &DocResult, shown: usize) -> Value {
    json!({"file": d.file, "location": d.location, "line": d.pos.line, "kind": d.kind,
           "checks_run": d.checks_run, "note": d.note, "findings": shown})
}

/// Counts by check id and severity, for the summaries.
fn counts<'a>(findings: impl Iterator<Item = &'a Finding>) -> BTreeMap<(&'static str, Severity), usize> {
    let mut m = BTreeMap::new();
    for f in findings {
        *m.entry((f.check, f.severity)).or_insert(0) += 1;
    }
    m
}

fn suppressed_json(s: &Suppressed) -> Value {
    let mut v = finding_json(s.finding);
    v["suppressed"] = json!({"reason": s.why.reason, "by": s.why.by, "kind": s.why.kind});
    v
}

/// The whole audit as one JSON object.
pub fn json_report(r: &Report) -> Value {
    let summary: Vec<Value> = counts(r.shown.iter().copied())
        .iter()
        .map(|((c, s), n)| json!({"check": c, "severity": s.as_str(), "count": n}))
        .collect();
    json!({
        "tool": "kmsproof audit", "version": env!("CARGO_PKG_VERSION"),
        "documents": r.docs.iter().map(|d| document_json(d, r.shown.iter().filter(|f| f.file == d.file && f.location == d.location).count())).collect::<Vec<_>>(),
        "findings": r.shown.iter().map(|f| finding_json(f)).collect::<Vec<_>>(),
        "suppressed": r.suppressed.iter().map(suppressed_json).collect::<Vec<_>>(),
        "baselined": r.baselined,
        "summary": summary,
    })
}

/// JSON lines: one `{"type": "document", …}` line per document followed by one
/// `{"type": "finding", …}` line per finding, so the outputs of shards concatenate.
pub fn jsonl_report(r: &Report) -> String {
    let mut out = String::new();
    for d in r.docs {
        let mine: Vec<&&Finding> = r.shown.iter().filter(|f| f.file == d.file && f.location == d.location).collect();
        let mut line = document_json(d, mine.len());
        line["type"] = json!("document");
        out.push_str(&line.to_string());
        out.push('\n');
        for f in mine {
            let mut line = finding_json(f);
            line["type"] = json!("finding");
            out.push_str(&line.to_string());
            out.push('\n');
        }
        for s in r.suppressed.iter().filter(|s| s.finding.file == d.file && s.finding.location == d.location) {
            let mut line = suppressed_json(s);
            line["type"] = json!("suppressed");
            out.push_str(&line.to_string());
            out.push('\n');
        }
    }
    out
}

/// A findings table, the counterexamples under it, and a summary by check and severity.
pub fn table_report(r: &Report) -> String {
    let mut out = findings_table(r.docs, &r.shown);
    out.push_str(&suppressed_text(r));
    out
}

/// The suppressed findings, one line each with the reason, and the baseline count.
fn suppressed_text(r: &Report) -> String {
    let mut out = String::new();
    if !r.suppressed.is_empty() {
        out.push_str(&format!("{} suppressed (not counted, not failing):\n", r.suppressed.len()));
        for s in &r.suppressed {
            let f = s.finding;
            out.push_str(&format!(
                "  {} {} {}: {} — {} ({})\n",
                f.severity.as_str(),
                f.check,
                place(f),
                f.message,
                s.why.reason,
                s.why.by
            ));
        }
    }
    if r.baselined > 0 {
        out.push_str(&format!("{} findings already in the baseline not shown\n", r.baselined));
    }
    out
}

fn findings_table(docs: &[DocResult], shown: &[&Finding]) -> String {
    use tabled::settings::{object::Columns, Modify, Style, Width};
    let mut rows: Vec<[String; 5]> = Vec::new();
    for (i, f) in shown.iter().enumerate() {
        rows.push([
            (i + 1).to_string(),
            f.severity.as_str().into(),
            f.check.into(),
            location_cell(f),
            f.message.clone(),
        ]);
    }
    let mut out = String::new();
    if !rows.is_empty() {
        let mut b = tabled::builder::Builder::default();
        b.push_record(["#", "severity", "check", "where", "finding"]);
        for r in rows {
            b.push_record(r);
        }
        let mut t = b.build();
        t.with(Style::rounded()).with(Modify::new(Columns::new(3..5)).with(Width::wrap(60).keep_words()));
        out.push_str(&t.to_string());
        out.push('\n');
        let examples: Vec<String> = shown
            .iter()
            .enumerate()
            .filter_map(|(i, f)| f.counterexample.as_ref().map(|c| format!("  #{}: {c}\n", i + 1)))
            .collect();
        if !examples.is_empty() {
            out.push_str("counterexamples (replayed through the evaluator, each allowed):\n");
            out.extend(examples);
        }
        let paths: Vec<String> = shown
            .iter()
            .enumerate()
            .filter(|(_, f)| !f.path.is_empty())
            .map(|(i, f)| format!("  #{}:\n{}", i + 1, path_text(f, "    ")))
            .collect();
        if !paths.is_empty() {
            out.push_str("who-can paths (each hop decided by Z3, its requests replayed):\n");
            out.extend(paths);
        }
    }
    out.push_str(&summary_table(docs, shown));
    out
}

fn location_cell(f: &Finding) -> String {
    if f.location.is_empty() {
        place(f)
    } else {
        format!("{}\n{}", place(f), f.location)
    }
}

/// How many skipped files the table names before it only counts them.
const MAX_SKIPPED_LISTED: usize = 10;

fn summary_table(docs: &[DocResult], shown: &[&Finding]) -> String {
    let mut b = tabled::builder::Builder::default();
    b.push_record(["check", "severity", "title", "findings"]);
    for ((c, s), n) in counts(shown.iter().copied()) {
        b.push_record([c.to_string(), s.as_str().to_string(), info(c).title.to_string(), n.to_string()]);
    }
    let unreadable = docs.iter().filter(|d| d.kind == "unreadable").count();
    let skipped = docs.iter().filter(|d| d.kind == "skipped").count();
    let mut out = format!(
        "{} documents audited ({} key policies, {} identity policies, {unreadable} unreadable, {skipped} skipped: no policy to audit), {} findings\n",
        docs.len(),
        docs.iter().filter(|d| d.kind == "key-policy").count(),
        docs.iter().filter(|d| d.kind == "identity-policy").count(),
        shown.len()
    );
    for d in docs.iter().filter(|d| d.kind == "skipped").take(MAX_SKIPPED_LISTED) {
        out.push_str(&format!("  {}\n", d.note.as_deref().unwrap_or("skipped")));
    }
    if skipped > MAX_SKIPPED_LISTED {
        out.push_str(&format!(
            "  … and {} more skipped (--format json lists every document)\n",
            skipped - MAX_SKIPPED_LISTED
        ));
    }
    if !shown.is_empty() {
        let mut t = b.build();
        t.with(tabled::settings::Style::rounded());
        out.push_str(&t.to_string());
        out.push('\n');
    }
    out
}

/// SARIF `level` for a severity.
pub fn sarif_level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// GitHub's `security-severity` score for a severity (critical ≥ 9.0, high ≥ 7.0, …).
fn security_severity(s: Severity) -> &'static str {
    const SCORES: &[(Severity, &str)] = &[
        (Severity::Critical, "9.5"),
        (Severity::High, "7.5"),
        (Severity::Medium, "5.0"),
        (Severity::Low, "2.0"),
        (Severity::Info, "0.0"),
    ];
    SCORES.iter().find(|(k, _)| *k == s).map(|(_, v)| *v).unwrap_or("0.0")
}

fn sarif_rule(c: &CheckInfo) -> Value {
    json!({
        "id": c.id, "name": c.name,
        "shortDescription": {"text": c.title},
        "fullDescription": {"text": c.rationale},
        "help": {"text": format!("{} Fix: {} (method: {})", c.rationale, c.fix, c.method),
                 "markdown": format!("{}\n\n**Fix:** {}\n\n*Method:* {}", c.rationale, c.fix, c.method)},
        "defaultConfiguration": {"level": sarif_level(c.severity)},
        "properties": {"security-severity": security_severity(c.severity), "tags": ["security", "aws-kms"], "precision": "very-high"},
    })
}

/// A path as a URI: relative to the working directory when under it (`./` stripped,
/// backslashes as slashes, spaces escaped), else absolute `file://`.
pub fn uri(file: &str) -> String {
    let rel = file.strip_prefix("./").unwrap_or(file).replace('\\', "/");
    let rel = match std::env::current_dir()
        .ok()
        .and_then(|d| std::path::Path::new(&rel).strip_prefix(d).ok().map(|p| p.display().to_string()))
    {
        Some(r) => r,
        None => rel,
    };
    let escaped = rel.replace('%', "%25").replace(' ', "%20");
    // Outside the working directory: an absolute `file://` URI (code scanning maps those
    // it can; a bare absolute path is not a relative reference).
    if escaped.starts_with('/') {
        format!("file://{escaped}")
    } else {
        escaped
    }
}

fn sarif_result(f: &Finding, rule_index: usize, why: Option<&Suppression>) -> Value {
    let mut text = format!("{}: {}", info(f.check).title, f.message);
    if let Some(c) = &f.counterexample {
        text.push_str(&format!(". Counterexample (replayed, allowed): {c}"));
    }
    if !f.location.is_empty() {
        text.push_str(&format!(" [{}]", f.location));
    }
    let mut physical = json!({"artifactLocation": {"uri": uri(&f.file)}});
    if f.pos.line > 0 {
        physical["region"] = json!({"startLine": f.pos.line, "startColumn": f.pos.col.max(1)});
    }
    let mut result = json!({
        "ruleId": f.check, "ruleIndex": rule_index, "level": sarif_level(f.severity),
        "message": {"text": text},
        "locations": [{"physicalLocation": physical}],
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint(f)},
        "properties": {"severity": f.severity.as_str(), "counterexample": f.counterexample, "location": f.location},
    });
    if !f.path.is_empty() {
        result["properties"]["path"] = json!(f.path);
    }
    if let Some(w) = why {
        let kind = if w.kind == "inline" { "inSource" } else { "external" };
        result["suppressions"] = json!([{"kind": kind, "justification": format!("{} ({})", w.reason, w.by)}]);
    }
    result
}

/// SARIF 2.1.0: one run, every check as a rule, one result per finding, and the
/// suppressed ones with their `suppressions` (code scanning shows them as dismissed).
pub fn sarif_report(r: &Report) -> Value {
    let rules: Vec<Value> = CHECKS.iter().map(sarif_rule).collect();
    let index = |f: &Finding| CHECKS.iter().position(|c| c.id == f.check).unwrap_or(0);
    let results: Vec<Value> = r
        .shown
        .iter()
        .map(|f| sarif_result(f, index(f), None))
        .chain(r.suppressed.iter().map(|s| sarif_result(s.finding, index(s.finding), Some(&s.why))))
        .collect();
    sarif_log(rules, results)
}

/// One SARIF 2.1.0 log of one kmsproof run (audit and diff write the same envelope).
pub fn sarif_log(rules: Vec<Value>, results: Vec<Value>) -> Value {
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "kmsproof", "informationUri": "https://github.com/kmsproof/kmsproof",
                                 "version": env!("CARGO_PKG_VERSION"), "semanticVersion": env!("CARGO_PKG_VERSION"), "rules": rules}},
            "results": results,
            "columnKind": "unicodeCodePoints",
        }],
    })
}

/// Severity names, for help and error messages.
pub fn severity_names() -> String {
    SEVERITIES.iter().map(|(_, n)| *n).collect::<Vec<_>>().join(", ")
}
