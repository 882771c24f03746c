//! YAML input (CloudFormation templates): read with `yaml-rust2`'s event parser into the
//! same positioned JSON tree a JSON file gives ([`Json`]), so every value keeps the line and
//! column it has in the YAML file and a finding points at the statement in the template.
//! Short-form intrinsic functions (`!Sub`, `!Ref`, `!GetAtt`, …) become their long form
//! (`Fn::Sub`, `Ref`, …), which [`super::intrinsics`] resolves.
//!
//! Why `yaml-rust2`: `serde_yaml` is archived and gives no positions for values; `yaml-rust2`
//! is maintained, pure Rust (no C library, builds offline from the vendored crate), and its
//! parser reports a marker (line, column) with every event and keeps local tags such as
//! `!Sub`. Scalars are typed by the YAML 1.2 core schema, as CloudFormation reads them
//! (`Version: 2012-10-17` stays a string).

use super::document::{Body, Document};
use crate::base::json::{self, Json, Kind, Member, Pos};
use std::collections::BTreeMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// The YAML file as JSON: its text (positions in it are the YAML file's, see
/// [`json::render_in_place`]) and its parsed form; when it is not YAML, where and why (the
/// message of an unreadable document).
pub fn to_json(file: &str, text: &str) -> Result<(String, Json), (Pos, String)> {
    let doc = read(text).map_err(|(pos, why)| {
        let at = if pos.line > 0 { format!(":{pos}") } else { String::new() };
        (pos, format!("{file}{at}: error: neither JSON nor YAML: {why}"))
    })?;
    Ok((json::render_in_place(&doc), doc))
}

/// The one YAML document in `text` as a positioned JSON tree.
fn read(text: &str) -> Result<Json, (Pos, String)> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut builder, true) {
        let m = e.marker();
        return Err((pos_of(m), explain(e.info(), text, pos_of(m))));
    }
    if let Some(pos) = builder.second_document {
        return Err((pos, "a second YAML document (`---`): a template is one document".into()));
    }
    builder.done.ok_or((Pos::default(), "the file holds no YAML document".into()))
}

/// The scanner's message, saying "tab" plainly when a tab character is the cause (YAML
/// indents with spaces only).
fn explain(info: &str, text: &str, pos: Pos) -> String {
    let line = text.lines().nth(pos.line.saturating_sub(1)).unwrap_or_default();
    if info.contains("tab") || line.trim_start_matches(' ').starts_with('\t') {
        return format!("{info}: a tab character indents this line; YAML indents with spaces only");
    }
    info.to_string()
}

fn pos_of(m: &Marker) -> Pos {
    Pos { line: m.line(), col: m.col() + 1 }
}

/// A container being built: its position, then its items (a mapping alternates keys and
/// values), and the tag it carried.
struct Open {
    pos: Pos,
    mapping: bool,
    items: Vec<Json>,
    tag: Option<Tag>,
    anchor: usize,
}

#[derive(Default)]
struct Builder {
    stack: Vec<Open>,
    anchors: BTreeMap<usize, Json>,
    done: Option<Json>,
    documents: usize,
    second_document: Option<Pos>,
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let pos = pos_of(&mark);
        match ev {
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents == 2 && self.second_document.is_none() {
                    self.second_document = Some(Pos { line: pos.line, col: 1 });
                }
            }
            Event::Scalar(value, style, anchor, tag) => {
                let v = tagged(scalar(value, style, tag.is_some(), pos), tag, pos);
                self.push(v, anchor);
            }
            Event::Alias(id) => {
                let v = self.anchors.get(&id).cloned().unwrap_or(Json { pos, kind: Kind::Null });
                self.push(v, 0);
            }
            Event::SequenceStart(anchor, tag) => {
                self.stack.push(Open { pos, mapping: false, items: vec![], tag, anchor })
            }
            Event::MappingStart(anchor, tag) => {
                self.stack.push(Open { pos, mapping: true, items: vec![], tag, anchor })
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(open) = self.stack.pop() {
                    let kind = if open.mapping { Kind::Object(members(open.items)) } else { Kind::Array(open.items) };
                    let v = tagged(Json { pos: open.pos, kind }, open.tag, open.pos);
                    self.push(v, open.anchor);
                }
            }
            _ => {}
        }
    }
}

impl Builder {
    fn push(&mut self, v: Json, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, v.clone());
        }
        match self.stack.last_mut() {
            Some(open) => open.items.push(v),
            None if self.documents <= 1 => self.done = Some(v),
            None => {}
        }
    }
}

/// Alternating keys and values as members (a later duplicate key replaces the earlier one,
/// as CloudFormation's reader does; a non-string key is its text).
fn members(items: Vec<Json>) -> Vec<Member> {
    let mut out: Vec<Member> = Vec::new();
    let mut it = items.into_iter();
    while let (Some(k), Some(value)) = (it.next(), it.next()) {
        let key = k.scalar_text().unwrap_or_else(|| k.type_name().to_string());
        out.retain(|m| m.key != key);
        out.push(Member { key, key_pos: k.pos, value });
    }
    out
}

/// A scalar typed by the YAML 1.2 core schema (quoted or tagged: always a string).
fn scalar(value: String, style: TScalarStyle, tagged: bool, pos: Pos) -> Json {
    let kind = if style != TScalarStyle::Plain || tagged {
        Kind::String(value)
    } else {
        match value.as_str() {
            "" | "~" | "null" | "Null" | "NULL" => Kind::Null,
            "true" | "True" | "TRUE" => Kind::Bool(true),
            "false" | "False" | "FALSE" => Kind::Bool(false),
            v if is_number(v) => Kind::Number(v.to_string()),
            _ => Kind::String(value),
        }
    };
    Json { pos, kind }
}

/// A JSON number (what the core schema's int and float forms CloudFormation uses are).
fn is_number(v: &str) -> bool {
    let digits = v.strip_prefix('-').unwrap_or(v);
    digits.starts_with(|c: char| c.is_ascii_digit())
        && serde_json::from_str::<serde_json::Number>(v).is_ok()
        && !(digits.len() > 1 && digits.starts_with('0') && !digits.starts_with("0."))
}

/// A short-form intrinsic (`!Sub x`) as its long form (`{"Fn::Sub": x}`); other tags
/// (`!!str`, …) leave the value as it is.
fn tagged(v: Json, tag: Option<Tag>, pos: Pos) -> Json {
    let Some(tag) = tag.filter(|t| t.handle == "!" && !t.suffix.is_empty()) else { return v };
    let name = tag.suffix;
    let long = if name == "Ref" || name == "Condition" { name } else { format!("Fn::{name}") };
    // `!GetAtt Role.Arn` is `Fn::GetAtt: [Role, Arn]` in long form.
    let v = match (&v.kind, long.as_str()) {
        (Kind::String(s), "Fn::GetAtt") if s.contains('.') => {
            let (res, attr) = s.split_once('.').unwrap_or_default();
            let part = |t: &str| Json { pos: v.pos, kind: Kind::String(t.to_string()) };
            Json { pos: v.pos, kind: Kind::Array(vec![part(res), part(attr)]) }
        }
        _ => v,
    };
    Json { pos, kind: Kind::Object(vec![Member { key: long, key_pos: pos, value: v }]) }
}

/// Points a document found in the JSON form back at the YAML file: positions are the
/// file's already; a policy given as text inside the YAML keeps its own label.
pub fn relocate(mut d: Document, _yaml_text: &str) -> Document {
    if let Body::Policy { label, exact: true, .. } = &mut d.body {
        *label = d.file.clone();
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::discover::documents_in;

    #[test]
    fn short_tags_become_long_forms_with_positions() {
        let t = "A:\n  B: !GetAtt Role.Arn\n  C: !Sub 'x-${AWS::Region}'\n  D: [1, true, ~, '2', 2012-10-17]\n";
        let (_, doc) = to_json("t.yaml", t).unwrap();
        let b = doc.get("A").and_then(|a| a.get("B")).unwrap();
        assert_eq!(b.pos, Pos { line: 2, col: 14 });
        let parts = b.get("Fn::GetAtt").unwrap();
        assert!(matches!(&parts.kind, Kind::Array(p) if p.len() == 2));
        assert!(doc.get("A").and_then(|a| a.get("C")).and_then(|c| c.get("Fn::Sub")).is_some());
        let d = doc.get("A").and_then(|a| a.get("D")).unwrap();
        let Kind::Array(items) = &d.kind else { panic!() };
        let kinds: Vec<&str> = items.iter().map(Json::type_name).collect();
        assert_eq!(kinds, ["a number", "a boolean", "null", "a string", "a string"]);
    }

    #[test]
    fn a_tab_error_says_tab() {
        let docs = documents_in("t.yaml", "Resources:\n\tKey:\n    Type: AWS::KMS::Key\n");
        match &docs[0].body {
            Body::Error(m) => assert!(m.contains("tab"), "{m}"),
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
