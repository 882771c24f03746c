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
