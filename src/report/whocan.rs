//! Rendering an analysis: text table, JSON, Graphviz dot.

use crate::whocan::domain::{Answer, Status, Witness};
pub use crate::whocan::export::{closing, json};
use crate::whocan::graph::Analysis;
use petgraph::graph::NodeIndex;
use petgraph::visit::EdgeRef;

pub fn text(analyses: &[&Analysis], only: Option<NodeIndex>) -> String {
    let mut out = String::new();
    for a in analyses {
        out += &format!("Key {} — who can {}:\n", a.key, a.action);
        for i in a.listed().filter(|i| only.is_none_or(|o| o == *i)) {
            let node = &a.graph[i];
            match &a.status[i.index()] {
                Status::Can(path, end) => {
                    let how =
                        if path.is_empty() { "directly".to_string() } else { format!("in {} hop(s)", path.len()) };
                    out += &format!("\nCAN  {} ({}) {how}\n", node.label, node.kind.as_str());
                    for (k, e) in path.iter().enumerate() {
                        let (_, to) = a.graph.edge_endpoints(*e).expect("an edge index taken from this graph");
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
                    // Listed alone, or when the proof rests on a reading (as `check` says).
                    let readings = &a.rests_on[i.index()];
                    if only.is_some() || !readings.is_empty() {
                        let rests = match readings.as_slice() {
                            [] => String::new(),
                            r => format!("; rests on an UNCONFIRMED reading: {}", r.join("; ")),
                        };
                        out += &format!(
                            "\nCANNOT {} ({}): proved (every path refuted){rests}\n",
                            node.label,
                            node.kind.as_str()
                        );
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

fn conditions(h: &crate::whocan::kms::KmsHop, w: &Witness) -> String {
    let empty = w.request.get("context").and_then(|c| c.as_object()).is_none_or(|c| c.is_empty());
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
