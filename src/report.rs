//! Rendering decisions as text for people and JSON for scripts.

use crate::diag::Diagnostic;
use crate::eval::{Decision, Reason};
use crate::policy::Effect;
use crate::request::{CtxValue, Request};
use serde_json::{json, Map, Value};

/// A request in the exact format `kmsproof eval --request` reads (derived keys included;
/// they agree with the principal, so the file reads back to the same request).
pub fn request_json(req: &Request) -> Value {
    let principal = match &req.caller {
        crate::request::Caller::Iam { arn, .. } => arn.clone(),
        crate::request::Caller::Service(s) => s.clone(),
        crate::request::Caller::Anonymous => "anonymous".into(),
    };
    let mut context = Map::new();
    for (k, v) in req.context.iter() {
        let v = match v {
            CtxValue::One(s) => json!(s),
            CtxValue::Many(vs) => json!(vs),
        };
        context.insert(k.to_string(), v);
    }
    let mut out = Map::new();
    out.insert("principal".into(), json!(principal));
    out.insert("action".into(), json!(req.action_name()));
    if let Some(r) = &req.resource {
        out.insert("resource".into(), json!(r));
    }
    out.insert("context".into(), Value::Object(context));
    Value::Object(out)
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
        "request": request_json(req),
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
    let who = request_json(req);
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

use crate::query::{CheckResult, Verdict};

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
                    (Verdict::Holds, crate::query::Expect::Sometimes) => json!("witness replayed"),
                    (Verdict::Holds, _) | (Verdict::Violated, crate::query::Expect::Sometimes) => json!("z3: unsat"),
                    _ => Value::Null,
                },
                "counterexample": first.map(|e| e.request.clone()),
                "statements": first.map(|e| deciding(&e.decision)).unwrap_or_default(),
                "examples": r.examples.iter().map(|e| json!({"request": e.request, "decision": e.decision.reason.as_str(), "statements": deciding(&e.decision)})).collect::<Vec<_>>(),
                "reason": match &r.verdict { Verdict::Unknown(why) => json!(why), _ => Value::Null },
            })
        })
        .collect();
    json!({"key": key_arn, "results": rows})
}

/// One block per property: verdict, then each counterexample (one request per line, in
/// the format `kmsproof eval --request` reads) and what decided it.
pub fn check_text(results: &[CheckResult]) -> String {
    let mut out = String::new();
    for r in results {
        let label = match (&r.verdict, r.expect) {
            (Verdict::Holds, crate::query::Expect::Sometimes) => "HOLDS (witness found and replayed)".to_string(),
            (Verdict::Holds, _) => "HOLDS (proved: Z3 unsat)".to_string(),
            (Verdict::Violated, crate::query::Expect::Sometimes) => {
                "VIOLATED (proved: no request is allowed, Z3 unsat)".to_string()
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
