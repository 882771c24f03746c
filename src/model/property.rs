//! Properties: a request shape (an `Allow` statement read from `principal`, `action`,
//! `resource`, `condition`) with an expectation (`never`, `always`, `sometimes`), as
//! `check` and the audit's `--properties` read them.

use crate::base::diag::{Error, Sink};
use crate::base::json::{Json, Kind, Member};
use crate::model::inputs::Inputs;
use crate::model::policy::{read_property_principals, read_statement, PrincipalEntry, Principals, Statement};

/// What a property expects of the requests matching its shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// No matching request is allowed.
    Never,
    /// Every matching request is allowed.
    Always,
    /// At least one matching request is allowed.
    Sometimes,
}

impl Expect {
    pub fn as_str(self) -> &'static str {
        match self {
            Expect::Never => "never",
            Expect::Always => "always",
            Expect::Sometimes => "sometimes",
        }
    }
}

/// A property: an IAM statement shape plus an expectation. Its principal may also be a
/// plain string or list (account IDs, ARNs, service principals) and ARN patterns
/// ([`PrincipalEntry::Pattern`]), which a policy's `Principal` cannot hold.
#[derive(Debug, Clone)]
pub struct Property {
    pub name: String,
    pub expect: Expect,
    /// The request shape, read as an `Allow` statement (principal `*` when omitted).
    pub shape: Statement,
    /// The verdict a corpus file says this property has (`holds`, `violated`), if any.
    pub expected: Option<String>,
    /// The readings (`facts::readings` ids) a corpus file says the proof rests on.
    pub expected_rests_on: Option<Vec<String>>,
    /// Whether the property names a resource. A property about a key policy is about that
    /// key: without a resource it covers the actions on the key, and the actions that are
    /// not on a key (CreateKey, ListKeys, custom key stores, …) only where it names them.
    pub resource_given: bool,
}

impl Property {
    /// The KMS actions not on a key that the property names literally (no wildcard):
    /// without a resource, the only such actions it covers.
    pub fn named_keyless_actions(&self) -> Vec<String> {
        if self.resource_given || self.shape.action.negated {
            return vec![];
        }
        let catalog = crate::facts::catalog::catalog();
        self.shape
            .action
            .patterns
            .iter()
            .filter_map(|p| match p.as_slice() {
                [crate::base::pattern::Piece::Text(t)] if !t.contains(['*', '?']) => {
                    let (svc, name) = t.split_once(':')?;
                    let info = catalog.kms_action(name).filter(|_| svc.eq_ignore_ascii_case("kms"))?;
                    (!info.on_key).then(|| info.name.clone())
                }
                _ => None,
            })
            .collect()
    }
}

const PROPERTY_FIELDS: &[(&str, &str)] =
    &[("action", "Action"), ("not_action", "NotAction"), ("resource", "Resource"), ("condition", "Condition")];

/// Reads a property file: one property object or a list of them.
pub fn parse_properties(text: &str, source: &str) -> Result<Vec<Property>, Error> {
    let mut sink = Sink::new(source);
    let doc = sink.document(text)?;
    let props = properties_from(&doc, "", &mut sink);
    if sink.has_errors() {
        return Err(Error::Invalid(sink.items));
    }
    Ok(props)
}

/// Reads properties the program built (the command line's inline form, the audit's own
/// questions): the same reader as a file, without a text round trip.
pub fn properties_from_value(doc: &serde_json::Value, source: &str) -> Result<Vec<Property>, Error> {
    let mut sink = Sink::new(source);
    let props = properties_from(&Json::from(doc), "", &mut sink);
    if sink.has_errors() {
        return Err(Error::Invalid(sink.items));
    }
    Ok(props)
}

/// Properties from a parsed value: one object or a non-empty list.
fn properties_from(doc: &Json, path: &str, sink: &mut Sink) -> Vec<Property> {
    let items: Vec<&Json> = match &doc.kind {
        Kind::Array(items) => items.iter().collect(),
        Kind::Object(_) => vec![doc],
        _ => vec![],
    };
    if items.is_empty() {
        sink.error(doc.pos, path, "expected a property object or a non-empty list of them");
    }
    items.iter().enumerate().filter_map(|(i, p)| read_property(p, &format!("{path}[{i}]"), i, sink)).collect()
}

/// A corpus property set: the authorization context and properties with expected verdicts.
pub struct PropertySet {
    pub inputs: Inputs,
    pub key_arn: String,
    pub properties: Vec<Property>,
}

/// Reads a `.props.json` file: `{"key_policy", "identity_policies", "grants", "scps",
/// "boundary", "key_arn", "properties"}`, paths relative to the file.
pub fn load_property_set(path: &std::path::Path) -> Result<PropertySet, Error> {
    let (text, label) = crate::model::load::read_source(path)?;
    let mut sink = Sink::new(&label);
    let doc = sink.document(&text)?;
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    let one = |k: &str| doc.get(k).and_then(Json::as_str).map(|p| dir.join(p));
    let many = |k: &str| -> Vec<std::path::PathBuf> {
        match doc.get(k).map(|v| &v.kind) {
            Some(Kind::Array(items)) => items.iter().filter_map(Json::as_str).map(|p| dir.join(p)).collect(),
            _ => vec![],
        }
    };
    let (kp, idp, grants, scps, boundary) =
        (one("key_policy"), many("identity_policies"), many("grants"), many("scps"), one("boundary"));
    let paths = crate::model::load::InputPaths {
        key_policy: kp.as_deref(),
        identity: idp.iter().map(|p| p.as_path()).collect(),
        scps: scps.iter().map(|p| p.as_path()).collect(),
        boundary: boundary.as_deref(),
        grants: grants.iter().map(|p| p.as_path()).collect(),
    };
    let mut inputs = crate::model::load::load_inputs(&paths)?;
    inputs.management_account = doc.get("management_account").and_then(Json::as_str).map(str::to_string);
    let properties = match doc.get("properties") {
        Some(p) => properties_from(p, "properties", &mut sink),
        None => {
            sink.error(doc.pos, "", "missing \"properties\"");
            vec![]
        }
    };
    let key_arn = doc.get("key_arn").and_then(Json::as_str).map(str::to_string).or_else(|| inputs.default_key_arn());
    if key_arn.is_none() {
        sink.error(doc.pos, "key_arn", "missing \"key_arn\" and the key policy names no account");
    }
    if sink.has_errors() {
        return Err(Error::Invalid(sink.items));
    }
    Ok(PropertySet { inputs, key_arn: key_arn.unwrap_or_default(), properties })
}

fn read_property(p: &Json, path: &str, index: usize, sink: &mut Sink) -> Option<Property> {
    let Some(members) = p.members() else {
        sink.error(p.pos, path, format!("expected a property object, found {}", p.type_name()));
        return None;
    };
    let mut shape = vec![Member {
        key: "Effect".into(),
        key_pos: p.pos,
        value: Json { pos: p.pos, kind: Kind::String("Allow".into()) },
    }];
    let mut name = format!("property {index}");
    let mut expect = None;
    let mut expected = None;
    let mut expected_rests_on = None;
    let mut principal = None;
    for m in members {
        match (m.key.as_str(), PROPERTY_FIELDS.iter().find(|(k, _)| *k == m.key)) {
            ("name", _) => name = m.value.as_str().unwrap_or(&name).to_string(),
            ("principal" | "not_principal", _) if principal.is_some() => sink.error(
                m.key_pos,
                path,
                "a property cannot have both \"principal\" and \"not_principal\"",
            ),
            ("principal" | "not_principal", _) => {
                let negated = m.key == "not_principal";
                principal = Some(read_property_principals(&m.value, negated, &format!("{path}.{}", m.key), sink));
            }
            ("description", _) => {}
            ("verdict", _) => expected = m.value.as_str().map(str::to_string),
            ("rests_on", _) => {
                expected_rests_on = match &m.value.kind {
                    Kind::Array(items) => Some(items.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()),
                    _ => None,
                }
            }
            ("expect", _) => {
                expect = match m.value.as_str() {
                    Some("never") => Some(Expect::Never),
                    Some("always") => Some(Expect::Always),
                    Some("sometimes") => Some(Expect::Sometimes),
                    _ => {
                        sink.error(m.value.pos, &format!("{path}.expect"), "expected \"never\", \"always\" or \"sometimes\"");
                        None
                    }
                }
            }
            (_, Some((_, element))) => shape.push(Member { key: element.to_string(), key_pos: m.key_pos, value: m.value.clone() }),
            _ => sink.error(m.key_pos, &format!("{path}.{}", m.key), format!("unknown property field \"{}\" (expected name, expect, principal, action, not_action, resource, condition)", m.key)),
        }
    }
    let resource_given = shape.iter().any(|m| m.key == "Resource");
    if !resource_given {
        shape.push(Member {
            key: "Resource".into(),
            key_pos: p.pos,
            value: Json { pos: p.pos, kind: Kind::String("*".into()) },
        });
    }
    if expect.is_none() && !sink.has_errors() {
        sink.error(p.pos, path, "missing \"expect\" (never, always or sometimes)");
    }
    let mut shape = read_statement(&Json { pos: p.pos, kind: Kind::Object(shape) }, index, path, true, sink)?;
    shape.principal = Some(principal.unwrap_or(Principals { negated: false, entries: vec![PrincipalEntry::Everyone] }));
    Some(Property { name, expect: expect?, shape, expected, expected_rests_on, resource_given })
}
