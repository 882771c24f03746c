//! An analysis as JSON: the one machine-readable form of a who-can answer, used by the
//! JSON output and by audit's KMS010 finding (which carries the replayed path).

use super::domain::{Answer, NodeKind, Status, Witness};
use super::graph::Analysis;
use petgraph::graph::NodeIndex;
use serde_json::{json, Value};

fn hop_json(a: &Analysis, e: petgraph::graph::EdgeIndex) -> Value {
    let (from, to) = a.graph.edge_endpoints(e).expect("an edge index taken from this graph");
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

pub fn json(analyses: &[&Analysis], only: Option<NodeIndex>) -> Value {
    let keys: Vec<Value> = analyses
        .iter()
        .map(|a| {
            let principals: Vec<Value> = a.listed()
                .filter(|i| only.is_none_or(|o| o == *i))
                .map(|i| {
                    let node = &a.graph[i];
                    let mut v = json!({"principal": node.label, "kind": node.kind.as_str(), "status": a.status[i.index()].as_str()});
                    match &a.status[i.index()] {
                        Status::Can(path, end) => {
                            v["path"] = json!(path.iter().map(|e| hop_json(a, *e)).collect::<Vec<_>>());
                            v["last_hop"] = last_json(a, *end);
                        }
                        Status::Unknown(why) => v["reason"] = json!(why),
                        _ => {}
                    }
                    v["rests_on"] = json!(a.rests_on[i.index()]);
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
    for i in a.listed() {
        match &a.status[i.index()] {
            Status::Can(..) => can.push(a.graph[i].label.clone()),
            Status::Unknown(_) | Status::BeyondHops => unknown += 1,
            Status::Cannot => cannot += 1,
        }
    }
    let classes: Vec<&str> = a
        .listed()
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
        "{} of {} principals and classes can {}; the other {cannot} cannot (every edge and last hop refuted (unsat), or no statement can apply); {outside}{undecided}",
        can.len(),
        can.len() + cannot + unknown,
        a.action
    )
}
