//! YAML input (CloudFormation templates): read with `serde_yaml`, turned into JSON, then
//! sorted like a JSON file. Short-form intrinsic functions (`!Sub`, `!Ref`, …) become their
//! long form (`Fn::Sub`, `Ref`) so a policy using one is reported, not misread.
//!
//! `serde_yaml` gives no positions for values, so a document's line is the line of its
//! logical id in the file, and diagnostics inside a policy point into its JSON form.

use super::document::{Body, Document};
use crate::base::json::{self, Json, Pos};
use serde_json::{Map, Value};
use serde_yaml::Value as Yaml;

/// The YAML file as JSON: its text (the positions diagnostics give) and its parsed form;
/// when it is not YAML, where and why (the message of an unreadable document).
pub fn to_json(file: &str, text: &str) -> Result<(String, Json), (Pos, String)> {
    let yaml: Yaml = serde_yaml::from_str(text).map_err(|e| {
        // serde_yaml gives no location for a second document: its `---` is the place.
        let pos = e
            .location()
            .map(|l| Pos { line: l.line(), col: l.column() })
            .filter(|p| p.line > 0)
            .or_else(|| second_document(text))
            .unwrap_or_default();
        let at = if pos.line > 0 { format!(":{pos}") } else { String::new() };
        (pos, format!("{file}{at}: error: neither JSON nor YAML: {e}"))
    })?;
    let text_json = yaml_to_json(&yaml).to_string();
    let doc = json::parse(&text_json)
        .map_err(|_| (Pos::default(), format!("{file}: error: the YAML does not convert to JSON")))?;
    Ok((text_json, doc))
}

/// Where a second YAML document starts: the first `---` line after some content.
fn second_document(text: &str) -> Option<Pos> {
    let mut content = false;
    for (i, line) in text.lines().enumerate() {
        let marker = line == "---" || line.starts_with("--- ");
        if marker && content {
            return Some(Pos { line: i + 1, col: 1 });
        }
        let t = line.trim();
        content |= !marker && !t.is_empty() && !t.starts_with('#') && !t.starts_with('%');
    }
    None
}

/// Points a document found in the JSON form back at the YAML file.
pub fn relocate(mut d: Document, yaml_text: &str) -> Document {
    d.pos = line_of(yaml_text, &d.location);
    match &mut d.body {
        Body::Policy { label, exact, .. } => {
            *label = format!("{} ({}, YAML read as JSON; positions within that JSON)", d.file, d.location);
            *exact = false;
        }
        Body::Skipped(_) => {}
        Body::Error(msg) => {
            if let Some((_, rest)) = msg.split_once(": error: ") {
                *msg = format!("{}{}: error: {}", d.file, at(d.pos), without_json_position(rest));
            }
        }
    }
    d
}

/// Drops a `(at L:C)` that points into the JSON form, not the YAML file.
fn without_json_position(msg: &str) -> String {
    match (msg.find(" (at "), msg.find(')')) {
        (Some(i), Some(_)) => match msg[i..].find(')') {
            Some(j) => format!("{}{}", &msg[..i], &msg[i + j + 1..]),
            None => msg.to_string(),
        },
        _ => msg.to_string(),
    }
}

fn at(pos: Pos) -> String {
    if pos.line > 0 {
        format!(":{}", pos.line)
    } else {
        String::new()
    }
}

/// The line where the resource of `location` (`Resources.ID.…`) is defined.
fn line_of(text: &str, location: &str) -> Pos {
    let Some(id) = location.strip_prefix("Resources.").and_then(|r| r.split('.').next()) else {
        return Pos::default();
    };
    let want = format!("{id}:");
    text.lines()
        .position(|l| l.trim_start().starts_with(&want))
        .map(|i| Pos { line: i + 1, col: 1 })
        .unwrap_or_default()
}

fn yaml_to_json(y: &Yaml) -> Value {
    match y {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(*b),
        Yaml::Number(n) => serde_json::from_str(&n.to_string()).unwrap_or_else(|_| Value::String(n.to_string())),
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Sequence(items) => Value::Array(items.iter().map(yaml_to_json).collect()),
        Yaml::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let key = match k {
                    Yaml::String(s) => s.clone(),
                    other => serde_yaml::to_string(other).unwrap_or_default().trim().to_string(),
                };
                out.insert(key, yaml_to_json(v));
            }
            Value::Object(out)
        }
        Yaml::Tagged(t) => {
            let name = t.tag.to_string();
            let name = name.trim_start_matches('!');
            let long = if name == "Ref" || name == "Condition" { name.to_string() } else { format!("Fn::{name}") };
            let mut out = Map::new();
            out.insert(long, yaml_to_json(&t.value));
            Value::Object(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::discover::documents_in;

    #[test]
    fn short_tags_are_reported_not_misread() {
        let t = "Resources:\n  Key:\n    Type: AWS::KMS::Key\n    Properties:\n      KeyPolicy:\n        Statement:\n          - Effect: Allow\n            Principal: {AWS: !Sub 'arn:aws:iam::${AWS::AccountId}:root'}\n            Action: 'kms:*'\n            Resource: '*'\n";
        let docs = documents_in("t.yaml", t);
        assert_eq!(docs.len(), 1);
        match &docs[0].body {
            Body::Error(m) => assert!(m.contains("Fn::Sub") && m.starts_with("t.yaml:2: error"), "{m}"),
            b => panic!("{b:?}"),
        }
    }

    #[test]
    fn a_second_document_is_an_error_at_its_marker() {
        let docs = documents_in("m.yaml", "# two\n---\na: 1\n---\nb: 2\n");
        assert_eq!(docs[0].pos, Pos { line: 4, col: 1 });
        match &docs[0].body {
            Body::Error(m) => assert!(m.starts_with("m.yaml:4:1: error"), "{m}"),
            b => panic!("{b:?}"),
        }
    }
}
