//! Many comparisons (and one, in the formats made for pull requests): a table, JSON, JSON
//! lines, SARIF and markdown (a GitHub job summary or PR comment). Every witness shown
//! here was replayed through the evaluator by `prove::diff` before it reached a report.

use super::{diff_json, md_cell as cell, verdict_line, witness_summary};
use crate::diffset::{answer, Answer, Change, Entry, FailOn, Outcome, Place};
use crate::prove::diff::{ActionList, DiffResult, Direction, ListEnd};
use serde_json::{json, Value};

/// The verdict word of an entry (a comparison's verdict, or what stood in its place).
pub fn verdict(e: &Entry) -> &'static str {
    match &e.outcome {
        Outcome::Compared(r) => r.verdict.as_str(),
        Outcome::Unchanged => "unchanged",
        Outcome::Error(_) => "error",
        Outcome::Skipped(_) => "skipped",
        Outcome::Undecided(_) => "unknown",
        Outcome::Mismatch(_) => "internal-error",
    }
}

/// Counts of changes and verdicts over the set, and its answer.
pub fn summary_json(entries: &[Entry], fail_on: FailOn) -> Value {
    let count = |f: &dyn Fn(&Entry) -> bool| entries.iter().filter(|e| f(e)).count();
    let mut verdicts = serde_json::Map::new();
    for e in entries {
        let v = verdicts.entry(verdict(e)).or_insert(json!(0));
        *v = json!(v.as_u64().unwrap_or(0) + 1);
    }
    json!({
        "pairs": entries.len(),
        "changed": count(&|e| e.change == Change::Changed),
        "added": count(&|e| e.change == Change::Added),
        "removed": count(&|e| e.change == Change::Removed),
        "unchanged": count(&|e| e.change == Change::Unchanged),
        "verdicts": verdicts,
        "fail_on": format!("{fail_on:?}").to_lowercase(),
        "answer": answer(entries, fail_on).as_str(),
    })
}

fn place_json(p: &Option<Place>) -> Value {
    match p {
        Some(p) => json!({"file": p.file, "location": p.location, "line": p.line}),
        None => Value::Null,
    }
}

/// One entry: where, what changed, the verdict, and the whole comparison (as `diff --format json`).
pub fn entry_json(e: &Entry) -> Value {
    let (result, message) = match &e.outcome {
        Outcome::Compared(r) => {
            let label = |p: &Option<Place>| p.as_ref().map_or_else(|| "(none)".to_string(), |p| p.file.clone());
            (diff_json(r, &label(&e.old), &label(&e.new), e.key.as_deref()), Value::Null)
        }
        Outcome::Error(m) | Outcome::Skipped(m) | Outcome::Undecided(m) | Outcome::Mismatch(m) => {
            (Value::Null, json!(m))
        }
        Outcome::Unchanged => (Value::Null, Value::Null),
    };
    json!({
        "name": e.name, "path": e.path, "location": e.location,
        "change": e.change.as_str(), "verdict": verdict(e),
        "old": place_json(&e.old), "new": place_json(&e.new), "key": e.key,
        "message": message, "notes": e.notes,
        "warnings": e.warnings.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "result": result,
    })
}

/// `{"summary": …, "entries": [...]}`.
pub fn json_report(entries: &[Entry], fail_on: FailOn) -> Value {
    json!({"summary": summary_json(entries, fail_on), "entries": entries.iter().map(entry_json).collect::<Vec<_>>()})
}

/// One entry per line, then `{"summary": …}`.
pub fn jsonl_report(entries: &[Entry], fail_on: FailOn) -> String {
    let mut out: String = entries.iter().map(|e| format!("{}\n", entry_json(e))).collect();
    out.push_str(&format!("{}\n", json!({"summary": summary_json(entries, fail_on)})));
    out
}

/// The actions of a list, comma-separated, and how the list ends.
fn actions(list: &ActionList) -> String {
    let names: Vec<&str> = list.witnesses.iter().map(|w| w.action()).collect();
    let more = match &list.end {
        ListEnd::Complete => "",
        ListEnd::Capped => ", … (capped)",
        ListEnd::Open(_) => ", … (others undecided)",
    };
    format!("{}{more}", names.join(", "))
}

/// The first line of a message (the rest is for JSON and the details).
fn first_line(m: &str) -> &str {
    m.lines().next().unwrap_or_default()
}

/// One row per pair that is not unchanged: change, verdict, name; under a difference, the
/// actions and one replayed example per direction; then the counts.
pub fn table_report(entries: &[Entry], fail_on: FailOn) -> String {
    let shown: Vec<&Entry> = entries.iter().filter(|e| e.change != Change::Unchanged).collect();
    let mut out = format!("{:<10} {:<16} POLICY\n", "CHANGE", "VERDICT");
    for e in &shown {
        out.push_str(&format!("{:<10} {:<16} {}\n", e.change.as_str(), verdict(e), e.name));
        match &e.outcome {
            Outcome::Compared(r) => direction_lines(&mut out, r),
            Outcome::Error(m) | Outcome::Skipped(m) | Outcome::Undecided(m) | Outcome::Mismatch(m) => {
                for line in m.lines() {
                    out.push_str(&format!("    {line}\n"));
                }
            }
            Outcome::Unchanged => {}
        }
    }
    out.push_str(&summary_line(entries, fail_on));
    out.push('\n');
    out
}

fn direction_lines(out: &mut String, r: &DiffResult) {
    let rows = [
        ("+ newly allowed", &r.new_allows, &r.new_actions, "newly allowed"),
        ("- no longer allowed", &r.old_allows, &r.old_actions, "no longer allowed"),
    ];
    for (title, d, list, verb) in rows {
        match d {
            Direction::Found(ws) => {
                out.push_str(&format!("    {title}: {}\n", actions(list)));
                if let Some(w) = ws.first() {
                    out.push_str(&format!("      e.g. {}\n", witness_summary(w, &r.keys, verb)));
                }
            }
            Direction::Unknown(why) => out.push_str(&format!("    {title}: unknown ({why})\n")),
            Direction::None => {}
        }
    }
}

/// `N pairs: …; answer: …`.
pub fn summary_line(entries: &[Entry], fail_on: FailOn) -> String {
    let s = summary_json(entries, fail_on);
    let verdicts: Vec<String> =
        s["verdicts"].as_object().into_iter().flatten().map(|(k, v)| format!("{v} {k}")).collect();
    format!(
        "{} pairs: {} changed, {} added, {} removed, {} unchanged ({}); answer: {}",
        s["pairs"],
        s["changed"],
        s["added"],
        s["removed"],
        s["unchanged"],
        verdicts.join(", "),
        s["answer"].as_str().unwrap_or_default()
    )
}

/// SARIF rules: one per kind of result a comparison gives.
const RULES: &[(&str, &str, &str)] = &[
    ("KMSDIFF001", "newly-allowed", "The new version allows requests the old one denies"),
    ("KMSDIFF002", "no-longer-allowed", "The new version denies requests the old one allows"),
    ("KMSDIFF003", "undecided", "The comparison could not be decided (a timeout or a construct not modelled exactly)"),
    ("KMSDIFF004", "not-compared", "The policies could not be compared (bad input), or kmsproof disagreed with itself"),
];

fn rule(id: &str, level: &str) -> Value {
    let (_, name, text) = RULES.iter().find(|(i, _, _)| *i == id).copied().unwrap_or(RULES[0]);
    json!({"id": id, "name": name, "shortDescription": {"text": text}, "defaultConfiguration": {"level": level},
           "properties": {"tags": ["security", "aws-kms", "diff"], "precision": "very-high"}})
}

/// SARIF `level` of a direction's difference: an error when `--fail-on` fails on it.
fn level(fails: bool) -> &'static str {
    if fails {
        "error"
    } else {
        "note"
    }
}

fn sarif_result(e: &Entry, id: &str, level: &str, text: String) -> Value {
    let place = e.new.as_ref().or(e.old.as_ref());
    let mut physical =
        json!({"artifactLocation": {"uri": place.map(|p| super::audit::uri(&p.file)).unwrap_or_default()}});
    if let Some(p) = place.filter(|p| p.line > 0) {
        physical["region"] = json!({"startLine": p.line});
    }
    let index = RULES.iter().position(|(i, _, _)| *i == id).unwrap_or(0);
    json!({
        "ruleId": id, "ruleIndex": index, "level": level,
        "message": {"text": text},
        "locations": [{"physicalLocation": physical, "logicalLocations": [{"fullyQualifiedName": e.name}]}],
        "partialFingerprints": {"kmsproofDiff/v1": format!("{id}:{}", e.name)},
        "properties": {"change": e.change.as_str(), "verdict": verdict(e), "location": e.location},
    })
}

/// The results of one entry: one per direction with a difference, or one for an entry
/// that is undecided or not compared; none when equivalent or unchanged.
fn sarif_results(e: &Entry, fail_on: FailOn) -> Vec<Value> {
    let r = match &e.outcome {
        Outcome::Compared(r) => r,
        Outcome::Undecided(m) => {
            return vec![sarif_result(e, "KMSDIFF003", "warning", format!("{}: undecided: {m}", e.name))]
        }
        Outcome::Error(m) | Outcome::Mismatch(m) => {
            return vec![sarif_result(e, "KMSDIFF004", "error", format!("{}: not compared: {}", e.name, first_line(m)))]
        }
        Outcome::Unchanged | Outcome::Skipped(_) => return vec![],
    };
    let mut out = Vec::new();
    let rows = [
        ("KMSDIFF001", &r.new_allows, &r.new_actions, "newly allowed", fail_on != FailOn::Never),
        ("KMSDIFF002", &r.old_allows, &r.old_actions, "no longer allowed", fail_on == FailOn::Any),
    ];
    for (id, d, list, verb, fails) in rows {
        match d {
            Direction::Found(ws) => {
                let example = ws
                    .first()
                    .map(|w| {
                        format!(
                            " For example (replayed): {}. Request: {}",
                            witness_summary(w, &r.keys, verb),
                            w.request
                        )
                    })
                    .unwrap_or_default();
                let text = format!(
                    "{} ({}, {}): {verb}: {}.{example}",
                    e.name,
                    e.change.as_str(),
                    r.verdict.as_str(),
                    actions(list)
                );
                let mut res = sarif_result(e, id, level(fails), text);
                res["properties"]["witnesses"] = json!(ws.iter().map(|w| &w.request).collect::<Vec<_>>());
                out.push(res);
            }
            Direction::Unknown(why) => {
                out.push(sarif_result(e, "KMSDIFF003", "warning", format!("{}: {verb}: undecided ({why})", e.name)))
            }
            Direction::None => {}
        }
    }
    out
}

/// SARIF 2.1.0: one run; results for differences (error when `--fail-on` fails on them,
/// else note), undecided comparisons (warning) and pairs not compared (error).
pub fn sarif_report(entries: &[Entry], fail_on: FailOn) -> Value {
    let fails_more = fail_on != FailOn::Never;
    let rules = vec![
        rule("KMSDIFF001", level(fails_more)),
        rule("KMSDIFF002", level(fail_on == FailOn::Any)),
        rule("KMSDIFF003", "warning"),
        rule("KMSDIFF004", "error"),
    ];
    let results: Vec<Value> = entries.iter().flat_map(|e| sarif_results(e, fail_on)).collect();
    let mut log = super::audit::sarif_log(rules, results);
    log["runs"][0]["properties"] = json!({"summary": summary_json(entries, fail_on)});
    log
}

/// The mark a reviewer scans the table by.
fn mark(e: &Entry, fail_on: FailOn) -> &'static str {
    match &e.outcome {
        Outcome::Compared(r) if fail_on.fails(r) => ":x:",
        Outcome::Compared(r) if matches!(r.verdict, crate::prove::diff::DiffVerdict::Unknown(_)) => ":warning:",
        Outcome::Compared(r) if r.verdict == crate::prove::diff::DiffVerdict::Equivalent => ":white_check_mark:",
        Outcome::Compared(_) => ":information_source:",
        Outcome::Undecided(_) => ":warning:",
        Outcome::Error(_) | Outcome::Mismatch(_) => ":no_entry:",
        Outcome::Unchanged | Outcome::Skipped(_) => "",
    }
}

fn md_actions(d: &Direction, list: &ActionList) -> String {
    match d {
        Direction::Found(_) => {
            list.witnesses.iter().map(|w| format!("`{}`", w.action())).collect::<Vec<_>>().join(", ")
                + match list.end {
                    ListEnd::Complete => "",
                    _ => ", …",
                }
        }
        Direction::None => "none".into(),
        Direction::Unknown(_) => "unknown".into(),
    }
}

/// Markdown for a GitHub job summary or PR comment: a headline, one table row per pair
/// that is not unchanged, then per difference the verdict, the witness summaries and the
/// replayed requests in a collapsed `<details>` block.
pub fn markdown_report(entries: &[Entry], fail_on: FailOn) -> String {
    let a = answer(entries, fail_on);
    let headline = match a {
        Answer::Ok => ":white_check_mark: no difference kmsproof fails on",
        Answer::Failed => ":x: differences found",
        Answer::Unknown => ":warning: some comparisons undecided",
        Answer::BadInput => ":no_entry: some policies could not be compared",
        Answer::Internal => ":no_entry: internal error (a witness did not replay): please report it",
    };
    let mut out = format!("### kmsproof diff: {headline}\n\n{}\n\n", summary_line(entries, fail_on));
    let shown: Vec<&Entry> = entries.iter().filter(|e| e.change != Change::Unchanged).collect();
    let (mut rows_left, mut sections_left) = (0, 0);
    if !shown.is_empty() {
        out.push_str(
            "| | policy | change | verdict | newly allowed | no longer allowed |\n|---|---|---|---|---|---|\n",
        );
        for e in &shown {
            let row = md_row(e, fail_on);
            if out.len() + row.len() > MARKDOWN_BUDGET {
                rows_left += 1;
                continue;
            }
            out.push_str(&row);
        }
        out.push('\n');
    }
    for e in shown {
        let mut section = String::new();
        md_entry(&mut section, e);
        if out.len() + section.len() > MARKDOWN_BUDGET {
            sections_left += usize::from(!section.is_empty());
            continue;
        }
        out.push_str(&section);
    }
    if rows_left + sections_left > 0 {
        out.push_str(&format!(
            "*{rows_left} table rows and {sections_left} sections not shown: a GitHub comment holds {GITHUB_COMMENT_LIMIT} characters. `--format json` or `sarif` has every pair.*\n"
        ));
    }
    out
}

/// The most characters a GitHub issue or PR comment holds (a job summary holds 1 MiB).
const GITHUB_COMMENT_LIMIT: usize = 65_536;

/// Where the markdown stops adding rows and sections (the closing note fits after it).
const MARKDOWN_BUDGET: usize = GITHUB_COMMENT_LIMIT - 1_536;

/// One table row.
fn md_row(e: &Entry, fail_on: FailOn) -> String {
    let (more, less) = match &e.outcome {
        Outcome::Compared(r) => (md_actions(&r.new_allows, &r.new_actions), md_actions(&r.old_allows, &r.old_actions)),
        _ => ("—".into(), "—".into()),
    };
    format!(
        "| {} | `{}` | {} | **{}** | {} | {} |\n",
        mark(e, fail_on),
        cell(&e.name),
        e.change.as_str(),
        verdict(e),
        cell(&more),
        cell(&less)
    )
}

/// The section of one pair that is not equivalent.
fn md_entry(out: &mut String, e: &Entry) {
    let r = match &e.outcome {
        Outcome::Compared(r) if r.verdict != crate::prove::diff::DiffVerdict::Equivalent => r,
        Outcome::Error(m) | Outcome::Undecided(m) | Outcome::Mismatch(m) => {
            out.push_str(&format!("#### `{}`: {}\n\n```text\n{m}\n```\n\n", e.name, verdict(e)));
            return;
        }
        _ => return,
    };
    out.push_str(&format!("#### `{}`: {}\n\n{}\n\n", e.name, r.verdict.as_str(), verdict_line(r)));
    if let Some(k) = &e.key {
        out.push_str(&format!("Key: `{k}`\n\n"));
    }
    for note in &e.notes {
        out.push_str(&format!("*Note: {note}.*\n\n"));
    }
    let rows = [
        ("Newly allowed (NEW allows, OLD denies)", &r.new_allows, "newly allowed"),
        ("No longer allowed (OLD allows, NEW denies)", &r.old_allows, "no longer allowed"),
    ];
    for (title, d, verb) in rows {
        match d {
            Direction::None => out.push_str(&format!("**{title}:** none (proved: unsat)\n\n")),
            Direction::Unknown(why) => out.push_str(&format!("**{title}:** unknown ({why})\n\n")),
            Direction::Found(ws) => {
                out.push_str(&format!("**{title}:**\n\n"));
                for w in ws {
                    out.push_str(&format!("- {}\n", witness_summary(w, &r.keys, verb)));
                }
                out.push_str("\n<details><summary>Witness requests (replayed through the evaluator; <code>kmsproof eval --request</code> reads them)</summary>\n\n");
                for w in ws {
                    let pretty = serde_json::to_string_pretty(&w.request).unwrap_or_default();
                    out.push_str(&format!(
                        "```json\n{pretty}\n```\nnew: {} ({}); old: {} ({})\n\n",
                        w.new.reason.as_str(),
                        w.new.summary,
                        w.old.reason.as_str(),
                        w.old.summary
                    ));
                }
                out.push_str("</details>\n\n");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_entry(i: usize) -> Entry {
        Entry {
            name: format!("policies/p{i:03}.json"),
            path: format!("policies/p{i:03}.json"),
            location: String::new(),
            change: Change::Changed,
            old: None,
            new: None,
            key: None,
            outcome: Outcome::Error("x".repeat(1_000)),
            notes: vec![],
            warnings: vec![],
        }
    }

    #[test]
    fn markdown_fits_a_github_comment_and_says_what_it_left_out() {
        let entries: Vec<Entry> = (0..300).map(error_entry).collect();
        let md = markdown_report(&entries, FailOn::More);
        assert!(md.chars().count() <= GITHUB_COMMENT_LIMIT, "{}", md.len());
        assert!(md.contains("| :no_entry: | `policies/p000.json` | changed | **error** |"));
        assert!(md.trim_end().ends_with("`--format json` or `sarif` has every pair.*"), "{}", &md[md.len() - 300..]);
        let few = markdown_report(&entries[..3], FailOn::More);
        assert!(!few.contains("not shown"));
        assert_eq!(few.matches("#### ").count(), 3);
    }
}
