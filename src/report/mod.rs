//! Rendering only: typed results as text for people and JSON, JSON lines, SARIF, HTML and
//! DOT for tools. Nothing here decides anything.

pub mod audit;
pub mod diffset;
pub mod findings;
pub mod html;
pub mod whocan;

use crate::base::diag::Diagnostic;
use crate::eval::{Decision, Reason};
use crate::model::policy::Effect;
use crate::model::request::Request;
use serde_json::{json, Value};

/// A markdown table cell: pipes escaped, newlines as spaces.
pub(crate) fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// A request in the exact format `kmsproof eval --request` reads: [`Request::to_json`].
pub fn request_json(req: &Request) -> Value {
    req.to_json()
}

fn effect(e: Effect) -> &'static str {
    match e {
        Effect::Allow => "Allow",
        Effect::Deny => "Deny",
    }
}

/// `{"decision", "reason", "summary", "request", "statements", "grants", "notes", "warnings"}`.
pub fn decision_json(d: &Decision, req: &Request, warnings: &[Diagnostic]) -> Value {
    let statements: Vec<Value> = d
        .statements
        .iter()
        .map(|s| {
            json!({"policy": &*s.policy, "kind": s.kind.label(), "statement": s.statement, "index": s.index,
                   "effect": effect(s.effect), "applies": s.applies, "decisive": s.decisive, "detail": s.detail})
        })
        .collect();
    let grants: Vec<Value> = d
        .grants
        .iter()
        .map(|g| json!({"source": &*g.source, "grant": g.grant, "applies": g.applies, "decisive": g.decisive, "detail": g.detail}))
        .collect();
    json!({
        "decision": if d.allowed() { "allow" } else { "deny" },
        "reason": d.reason.as_str(),
        "summary": d.summary,
        "request": req.to_json(),
        "statements": statements,
        "grants": grants,
        "notes": d.notes,
        "warnings": warnings.iter().map(|w| w.to_string()).collect::<Vec<_>>(),
    })
}

/// A short report: the decision, then the statements that decided, then the rest.
pub fn decision_text(d: &Decision, req: &Request) -> String {
    let mut out = String::new();
    let verdict = match d.reason {
        Reason::Allowed => "ALLOW",
        _ => "DENY",
    };
    out.push_str(&format!("{verdict} ({}): {}\n", d.reason.as_str(), d.summary));
    let who = req.to_json();
    out.push_str(&format!("request: {} -> {}", who["principal"].as_str().unwrap_or(""), req.action_name()));
    if let Some(r) = &req.resource {
        out.push_str(&format!(" on {r}"));
    }
    out.push('\n');
    let mut rows: Vec<_> = d.statements.iter().collect();
    rows.sort_by_key(|s| (!s.decisive, !s.applies));
    if !rows.is_empty() {
        out.push_str("statements:\n");
    }
    for s in rows {
        let mark = if s.decisive {
            "*"
        } else if s.applies {
            "+"
        } else {
            "-"
        };
        out.push_str(&format!(
            "  {mark} {:<5} {} {} in {}: {}\n",
            effect(s.effect),
            s.kind.label(),
            s.statement,
            s.policy,
            s.detail
        ));
    }
    for g in &d.grants {
        let mark = if g.decisive {
            "*"
        } else if g.applies {
            "+"
        } else {
            "-"
        };
        out.push_str(&format!("  {mark} grant {} in {}: {}\n", g.grant, g.source, g.detail));
    }
    for n in &d.notes {
        out.push_str(&format!("note: {n}\n"));
    }
    out.push_str("legend: * decided, + applies, - does not apply\n");
    out
}

use crate::prove::check::{CheckResult, Verdict};

fn verdict_str(v: &Verdict) -> &'static str {
    match v {
        Verdict::Holds => "holds",
        Verdict::Violated => "violated",
        Verdict::Unknown(_) => "unknown",
    }
}

/// The statements and grants that decided a replayed request.
fn deciding(d: &Decision) -> Vec<Value> {
    let mut out: Vec<Value> = d
        .statements
        .iter()
        .filter(|s| s.decisive)
        .map(|s| json!({"policy": &*s.policy, "kind": s.kind.label(), "statement": s.statement, "index": s.index, "effect": effect(s.effect)}))
        .collect();
    out.extend(d.grants.iter().filter(|g| g.decisive).map(|g| json!({"grant": g.grant, "source": &*g.source})));
    out
}

/// `{"key": ..., "results": [{"name", "expect", "verdict", "proof", "counterexample", "statements", "examples", "reason"}]}`.
pub fn check_json(results: &[CheckResult], key_arn: &str) -> Value {
    let rows: Vec<Value> = results
        .iter()
        .map(|r| {
            let first = r.examples.first();
            json!({
                "name": r.name,
                "expect": r.expect.as_str(),
                "verdict": verdict_str(&r.verdict),
                "proof": match (&r.verdict, r.expect) {
                    (Verdict::Holds, crate::prove::check::Expect::Sometimes) => json!("witness replayed"),
                    (Verdict::Holds, _) | (Verdict::Violated, crate::prove::check::Expect::Sometimes) => json!("unsat"),
                    _ => Value::Null,
                },
                "counterexample": first.map(|e| e.request.clone()),
                "statements": first.map(|e| deciding(&e.decision)).unwrap_or_default(),
                "examples": r.examples.iter().map(|e| json!({"request": e.request, "decision": e.decision.reason.as_str(), "statements": deciding(&e.decision)})).collect::<Vec<_>>(),
                "reason": match &r.verdict { Verdict::Unknown(why) => json!(why), _ => Value::Null },
                "free": r.free,
                "rests_on": r.rests_on,
            })
        })
        .collect();
    json!({"key": key_arn, "results": rows})
}

/// "unsat", saying which constructs not modelled exactly the proof left free (it holds
/// whatever they evaluate to, within lemmas every request satisfies).
fn free_note(proof: &str, free: &[String]) -> String {
    if free.is_empty() {
        return proof.to_string();
    }
    format!(
        "{proof} with {} construct(s) not modelled exactly left free (bound only by facts every request satisfies): {}",
        free.len(),
        free.join("; ")
    )
}

/// "unsat", with the constructs left free and the undocumented readings it rests on.
fn proof_note(free: &[String], rests_on: &[String]) -> String {
    let unsat = free_note("unsat", free);
    match rests_on {
        [] => unsat,
        readings => format!("{unsat}; rests on an UNCONFIRMED reading: {}", readings.join("; ")),
    }
}

/// One block per property: verdict, then each counterexample (one request per line, in
/// the format `kmsproof eval --request` reads) and what decided it.
pub fn check_text(results: &[CheckResult]) -> String {
    let mut out = String::new();
    for r in results {
        let unsat = proof_note(&r.free, &r.rests_on);
        let label = match (&r.verdict, r.expect) {
            (Verdict::Holds, crate::prove::check::Expect::Sometimes) => {
                "HOLDS (witness found and replayed)".to_string()
            }
            (Verdict::Holds, _) => format!("HOLDS (proved: {unsat})"),
            (Verdict::Violated, crate::prove::check::Expect::Sometimes) => {
                format!("VIOLATED (proved: no request is allowed, {unsat})")
            }
            (Verdict::Violated, _) => "VIOLATED".to_string(),
            (Verdict::Unknown(why), _) => format!("UNKNOWN ({why})"),
        };
        out.push_str(&format!("{label}: {} [expect {}]\n", r.name, r.expect.as_str()));
        for (i, e) in r.examples.iter().enumerate() {
            let what = if matches!(r.verdict, Verdict::Holds) { "witness" } else { "counterexample" };
            out.push_str(&format!("  {what} {}: {}\n", i + 1, e.request));
            out.push_str(&format!("    {}: {}\n", e.decision.reason.as_str(), e.decision.summary));
            for s in e.decision.statements.iter().filter(|s| s.decisive) {
                out.push_str(&format!(
                    "    by {} {} {} in {}\n",
                    effect(s.effect),
                    s.kind.label(),
                    s.statement,
                    s.policy
                ));
            }
            for g in e.decision.grants.iter().filter(|g| g.decisive) {
                out.push_str(&format!("    by grant {} in {}\n", g.grant, g.source));
            }
        }
    }
    out
}

use crate::prove::diff::{ActionList, DiffResult, DiffVerdict, Direction, ListEnd, Witness};

/// One line a reviewer reads in a pull request: the action, who, and the context keys
/// that mattered (present with their values, or tested by the policies and absent).
pub fn witness_summary(w: &Witness, keys: &[String], verb: &str) -> String {
    let text = |k: &str| w.request.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    let principal = text("principal");
    let mut out = format!("{} is {verb} for {principal}", w.action());
    if let Some(a) = w.req.caller.account() {
        out.push_str(&format!(" (account {a})"));
    }
    let resource = text("resource");
    if !resource.is_empty() {
        out.push_str(&format!(" on {resource}"));
    }
    out + &context_summary(w, keys)
}

/// The context part of a summary: ` with k = v, …` and/or ` without k, …` (the condition
/// keys the policies test that the request lacks; keys derived from the caller left out).
fn context_summary(w: &Witness, keys: &[String]) -> String {
    let ctx = w.request.get("context").and_then(Value::as_object);
    // Derived keys follow from the principal, which the summary names already.
    let present: Vec<String> = ctx
        .into_iter()
        .flatten()
        .filter(|(k, _)| !crate::encode::is_derived_key(k))
        .map(|(k, v)| format!("{k} = {v}"))
        .collect();
    let absent: Vec<&String> = keys
        .iter()
        .filter(|k| !ctx.is_some_and(|c| c.keys().any(|ck| ck.eq_ignore_ascii_case(k))))
        .filter(|k| !crate::encode::is_derived_key(k))
        .collect();
    let mut out = String::new();
    if !present.is_empty() {
        out.push_str(&format!(" with {}", present.join(", ")));
    }
    match absent.len() {
        0 => {}
        1..=3 => {
            let names: Vec<&str> = absent.iter().map(|k| k.as_str()).collect();
            out.push_str(&format!("{} without {}", if present.is_empty() { "" } else { " and" }, names.join(", ")));
        }
        n => out.push_str(&format!(" ({n} other condition keys the policies test absent)")),
    }
    out
}

/// Actions of an [`ActionList`] whose witnesses reach the same kind of caller (an account,
/// or the service/anonymous principal itself) in the same context: one summary line.
struct ActionGroup<'a> {
    who: String,
    context: String,
    witnesses: Vec<&'a Witness>,
}

fn action_groups<'a>(list: &'a ActionList, keys: &[String]) -> Vec<ActionGroup<'a>> {
    let mut groups: Vec<ActionGroup> = Vec::new();
    for w in &list.witnesses {
        let principal = w.request.get("principal").and_then(Value::as_str).unwrap_or_default();
        let who =
            w.req.caller.account().map_or_else(|| principal.to_string(), |a| format!("a principal of account {a}"));
        let context = context_summary(w, keys);
        match groups.iter_mut().find(|g| g.who == who && g.context == context) {
            Some(g) => g.witnesses.push(w),
            None => groups.push(ActionGroup { who, context, witnesses: vec![w] }),
        }
    }
    for g in &mut groups {
        g.witnesses.sort_by_key(|w| w.action().to_ascii_lowercase());
    }
    groups
}

fn list_end(list: &ActionList, cap: &str) -> String {
    let n = list.witnesses.len();
    match &list.end {
        ListEnd::Complete => format!("all {n}; unsat for any other action"),
        ListEnd::Capped => format!("the first {n}; more may follow: {cap}"),
        ListEnd::Open(why) => format!("{n} found; others undecided: {why}"),
    }
}

/// The per-action summary of one direction: actions grouped by whom and under which
/// context their witness reaches, with one example principal per group.
fn actions_text(out: &mut String, title: &str, list: &ActionList, keys: &[String]) {
    if list.witnesses.is_empty() {
        return;
    }
    out.push_str(&format!(
        "{title} ({}):
",
        list_end(list, "raise --actions")
    ));
    for g in action_groups(list, keys) {
        let actions: Vec<&str> = g.witnesses.iter().map(|w| w.action()).collect();
        let example = g.witnesses[0].request.get("principal").and_then(Value::as_str).unwrap_or_default();
        let eg = if g.who == example { String::new() } else { format!(" (e.g. {example})") };
        out.push_str(&format!(
            "  {}: {}{}{eg}
",
            actions.join(", "),
            g.who,
            g.context
        ));
    }
}

fn actions_json(list: &ActionList, keys: &[String], verb: &str) -> Value {
    let (end, reason) = match &list.end {
        ListEnd::Complete => ("complete", Value::Null),
        ListEnd::Capped => ("capped", Value::Null),
        ListEnd::Open(why) => ("undecided", json!(why)),
    };
    let groups: Vec<Value> = action_groups(list, keys)
        .iter()
        .map(|g| {
            json!({"actions": g.witnesses.iter().map(|w| w.action()).collect::<Vec<_>>(), "who": g.who,
                   "context": g.context.trim(), "example_principal": g.witnesses[0].request["principal"]})
        })
        .collect();
    json!({
        "end": end,
        "reason": reason,
        "actions": list.witnesses.iter().map(|w| json!({"action": w.action(), "summary": witness_summary(w, keys, verb), "request": w.request})).collect::<Vec<_>>(),
        "groups": groups,
    })
}

fn direction_json(d: &Direction, keys: &[String], verb: &str) -> Value {
    let rows = match d {
        Direction::Found(ws) => ws
            .iter()
            .map(|w| {
                json!({"request": w.request, "summary": witness_summary(w, keys, verb),
                       "new_decision": w.new.reason.as_str(), "new_statements": deciding(&w.new),
                       "old_decision": w.old.reason.as_str(), "old_statements": deciding(&w.old)})
            })
            .collect(),
        _ => vec![],
    };
    Value::Array(rows)
}

fn direction_status(d: &Direction) -> Value {
    match d {
        Direction::None => json!({"status": "none", "proof": "unsat"}),
        Direction::Found(ws) => json!({"status": "found", "count": ws.len()}),
        Direction::Unknown(why) => json!({"status": "unknown", "reason": why}),
    }
}

/// `{"verdict", "key", "reason", "old", "new", "new_allows": [...], "old_allows": [...], "new_allows_status", "old_allows_status", "new_allows_actions", "old_allows_actions"}`.
pub fn diff_json(r: &DiffResult, old: &str, new: &str, key: Option<&str>) -> Value {
    json!({
        "verdict": r.verdict.as_str(),
        "key": key,
        "reason": match &r.verdict { DiffVerdict::Unknown(why) => json!(why), _ => Value::Null },
        "old": old,
        "new": new,
        "new_allows": direction_json(&r.new_allows, &r.keys, "newly allowed"),
        "old_allows": direction_json(&r.old_allows, &r.keys, "no longer allowed"),
        "new_allows_status": direction_status(&r.new_allows),
        "old_allows_status": direction_status(&r.old_allows),
        "new_allows_actions": actions_json(&r.new_actions, &r.keys, "newly allowed"),
        "old_allows_actions": actions_json(&r.old_actions, &r.keys, "no longer allowed"),
        "free": r.free,
        "rests_on": r.rests_on,
    })
}

pub fn verdict_line(r: &DiffResult) -> String {
    let unsat = proof_note(&r.free, &r.rests_on);
    match &r.verdict {
        DiffVerdict::Equivalent => format!("EQUIVALENT (proved: {} in both directions)", unsat),
        DiffVerdict::MorePermissive => {
            format!("MORE-PERMISSIVE: NEW allows requests OLD denies; it denies none OLD allows (proved: {unsat})")
        }
        DiffVerdict::LessPermissive => {
            format!("LESS-PERMISSIVE: NEW denies requests OLD allows; it allows none OLD denies (proved: {unsat})")
        }
        DiffVerdict::Incomparable => "INCOMPARABLE: each allows requests the other denies".into(),
        DiffVerdict::Unknown(why) => format!("UNKNOWN ({why})"),
    }
}

fn direction_text(out: &mut String, title: &str, d: &Direction, keys: &[String], verb: &str) {
    match d {
        Direction::None => out.push_str(&format!("{title}: none (proved: unsat)\n")),
        Direction::Unknown(why) => out.push_str(&format!("{title}: unknown ({why})\n")),
        Direction::Found(ws) => {
            out.push_str(&format!("{title}:\n"));
            for (i, w) in ws.iter().enumerate() {
                out.push_str(&format!("  {}. {}\n", i + 1, witness_summary(w, keys, verb)));
                out.push_str(&format!("     request: {}\n", w.request));
                for (side, d) in [("new", &w.new), ("old", &w.old)] {
                    out.push_str(&format!("     {side}: {} ({})\n", d.reason.as_str(), d.summary));
                }
            }
        }
    }
}

/// The verdict, then each direction's witnesses (one request per line, in the format
/// `kmsproof eval --request` reads) with what decided them on each side.
pub fn diff_text(r: &DiffResult, old: &str, new: &str, key: Option<&str>) -> String {
    let mut out = format!("{}\nold: {old}\nnew: {new}\n", verdict_line(r));
    if let Some(k) = key {
        out.push_str(&format!("key: {k}\n"));
    }
    actions_text(&mut out, "Newly allowed actions", &r.new_actions, &r.keys);
    actions_text(&mut out, "No longer allowed actions", &r.old_actions, &r.keys);
    direction_text(&mut out, "Newly allowed (NEW allows, OLD denies)", &r.new_allows, &r.keys, "newly allowed");
    direction_text(&mut out, "No longer allowed (OLD allows, NEW denies)", &r.old_allows, &r.keys, "no longer allowed");
    out
}
