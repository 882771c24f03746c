//! Rendering an analysis: text table, JSON, Graphviz dot.

use super::graph::{Analysis, NodeKind, Status};
use super::hop::{Answer, Witness};
use petgraph::graph::NodeIndex;
use petgraph::visit::EdgeRef;
use serde_json::{json, Value};

/// The nodes a report lists: principals and classes (groups act through their members).
pub fn listed(a: &Analysis) -> impl Iterator<Item = NodeIndex> + '_ {
    a.graph
        .node_indices()
        .filter(move |i| a.graph[*i].kind != NodeKind::Group && a.graph[*i].kind != NodeKind::Escalated)
}

fn hop_json(a: &Analysis, e: petgraph::graph::EdgeIndex) -> Value {
    let (from, to) = a.graph.edge_endpoints(e).expect("edge");
    let edge = &a.graph[e];
    json!({"from": a.graph[from].label, "to": a.graph[to].label, "technique": edge.technique.label(),
           "escalation": edge.technique.is_escalation(), "detail": edge.detail,
           "witnesses": edge.witnesses.iter().map(witness_json).collect::<Vec<_>>()})
}

fn witness_json(w: &Witness) -> Value {
    json!({"request": w.request, "why": w.why})
}

fn last_json(a: &Analysis, at: NodeIndex) -> Value {
    match a.last[at.index()].as_ref() {
        Some(h) => match &h.answer {
            Answer::Yes(w) => {
                json!({"principal": a.graph[at].label, "request": w.request, "why": w.why, "requires": h.required})
            }
            _ => Value::Null,
        },
        None => Value::Null,
    }
}

pub fn status_str(s: &Status) -> &'static str {
    match s {
        Status::Can(..) => "can",
        Status::Cannot => "cannot",
        Status::BeyondHops => "beyond-max-hops",
        Status::Unknown(_) => "unknown",
    }
}

pub fn json(analyses: &[&Analysis], only: Option<NodeIndex>) -> Value {
    let keys: Vec<Value> = analyses
        .iter()
        .map(|a| {
            let principals: Vec<Value> = listed(a)
                .filter(|i| only.map_or(true, |o| o == *i))
                .map(|i| {
                    let node = &a.graph[i];
                    let mut v = json!({"principal": node.label, "kind": node.kind.as_str(), "status": status_str(&a.status[i.index()])});
                    match &a.status[i.index()] {
                        Status::Can(path, end) => {
                            v["path"] = json!(path.iter().map(|e| hop_json(a, *e)).collect::<Vec<_>>());
                            v["last_hop"] = last_json(a, *end);
                        }
                        Status::Unknown(why) => v["reason"] = json!(why),
                        _ => {}
                    }
                    v
                })
                .collect();
            json!({"key": a.key, "action": a.action, "principals": principals, "closing": closing(a)})
        })
        .collect();
    json!({"tool": "kmsproof who-can", "keys": keys})
}

/// The closing line: which classes of principals can or cannot, as decided.
pub fn closing(a: &Analysis) -> String {
    let mut can = Vec::new();
    let mut unknown = 0;
    let mut cannot = 0;
    for i in listed(a) {
        match &a.status[i.index()] {
            Status::Can(..) => can.push(a.graph[i].label.clone()),
            Status::Unknown(_) | Status::BeyondHops => unknown += 1,
            Status::Cannot => cannot += 1,
        }
    }
    let classes: Vec<&str> = listed(a)
        .filter(|i| a.graph[*i].kind == NodeKind::Class && matches!(a.status[i.index()], Status::Can(..)))
        .map(|i| a.graph[i].label.as_str())
        .collect();
    let outside = if classes.is_empty() {
        "no principal outside the dumps (of any other account) can".to_string()
    } else {
        format!("outside the dumps, {} can", classes.join("; "))
    };
    let undecided = if unknown > 0 {
        format!("; {unknown} undecided (see above), so this is not a proof for them")
    } else {
        String::new()
    };
    format!(
        "{} of {} principals and classes can {}; the other {cannot} cannot (every edge and last hop refuted by Z3 unsat, or no statement can apply); {outside}{undecided}",
        can.len(),
        can.len() + cannot + unknown,
        a.action
    )
}

pub fn text(analyses: &[&Analysis], only: Option<NodeIndex>) -> String {
    let mut out = String::new();
    for a in analyses {
        out += &format!("Key {} — who can {}:\n", a.key, a.action);
        for i in listed(a).filter(|i| only.map_or(true, |o| o == *i)) {
            let node = &a.graph[i];
            match &a.status[i.index()] {
                Status::Can(path, end) => {
                    let how =
                        if path.is_empty() { "directly".to_string() } else { format!("in {} hop(s)", path.len()) };
                    out += &format!("\nCAN  {} ({}) {how}\n", node.label, node.kind.as_str());
                    for (k, e) in path.iter().enumerate() {
                        let (_, to) = a.graph.edge_endpoints(*e).expect("edge");
                        let edge = &a.graph[*e];
                        out += &format!(
                            "  {}. {} → {}: {}\n",
                            k + 1,
                            edge.technique.label(),
                            a.graph[to].label,
                            edge.detail
                        );
                        for w in &edge.witnesses {
                            out += &format!("     request: {}\n     why: {}\n", w.request, w.why);
                        }
                    }
                    if let Some(h) = a.last[end.index()].as_ref() {
                        if let Answer::Yes(w) = &h.answer {
                            out += &format!(
                                "  last hop: {} as {}\n     request: {}\n     why: {}\n",
                                a.action, a.graph[*end].label, w.request, w.why
                            );
                            out += &format!("     conditions: {}\n", conditions(h, w));
                        }
                    }
                }
                Status::Cannot => {
                    if only.is_some() {
                        out +=
                            &format!("\nCANNOT {} ({}): proved (every path refuted)\n", node.label, node.kind.as_str());
                    }
                }
                Status::BeyondHops => {
                    out += &format!("\nUNKNOWN {}: a path exists only beyond --max-hops\n", node.label)
                }
                Status::Unknown(why) => out += &format!("\nUNKNOWN {}: {why}\n", node.label),
            }
        }
        out += &format!("\n{}\n\n", closing(a));
    }
    out
}

fn conditions(h: &super::kms::KmsHop, w: &Witness) -> String {
    let empty = w.request.get("context").and_then(|c| c.as_object()).map_or(true, |c| c.is_empty());
    if empty {
        return "none (the request above, with no context, is allowed)".into();
    }
    if h.required.is_empty() {
        return "none required (Z3: an allowed request exists without each context key of the witness)".into();
    }
    let ctx = w.request.get("context");
    h.required
        .iter()
        .map(|k| {
            let v = ctx.and_then(|c| c.get(k)).map(|v| v.to_string()).unwrap_or_default();
            format!("only with {k} (Z3: no allowed request lacks it; e.g. {v})")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

pub fn dot(a: &Analysis) -> String {
    let mut out = String::from("digraph whocan {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n");
    out += "  key [label=\"key\", shape=doubleoctagon];\n";
    for i in a.graph.node_indices() {
        let node = &a.graph[i];
        let can = matches!(a.status[i.index()], Status::Can(..));
        let style = if can { ", style=filled, fillcolor=\"#f4cccc\"" } else { "" };
        out += &format!("  n{} [label={:?}{style}];\n", i.index(), format!("{}\n({})", node.label, node.kind.as_str()));
        if let Some(Answer::Yes(_)) = a.last[i.index()].as_ref().map(|h| &h.answer) {
            out += &format!("  n{} -> key [label={:?}, color=red];\n", i.index(), a.action);
        }
    }
    for e in a.graph.edge_references() {
        out += &format!(
            "  n{} -> n{} [label={:?}];\n",
            e.source().index(),
            e.target().index(),
            e.weight().technique.label()
        );
    }
    out += "}\n";
    out
}
