//! KMS grants, in the shape `aws kms list-grants` prints them.

use crate::base::diag::{Error, Sink};
use crate::base::json::{Json, Kind, Pos};
use crate::facts::kms_rules::GRANT_OPERATIONS;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A grant's encryption-context constraint ([GRANTS]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Constraint {
    /// The request's encryption context must be exactly these pairs.
    Equals(BTreeMap<String, String>),
    /// The request's encryption context must include these pairs.
    Subset(BTreeMap<String, String>),
}

impl Constraint {
    /// "In a grant constraint, the key in each key-value pair is not case sensitive, but
    /// the value is case sensitive" (KMS API reference, GrantConstraints): a pair of the
    /// constraint is met by a pair of the request whose key is equal up to ASCII case and
    /// whose value is equal. `Equals` also needs every request pair to meet one of its own.
    pub fn allows(&self, ec: &BTreeMap<String, String>) -> bool {
        let meets = |(k, v): (&String, &String), (k2, v2): (&String, &String)| k.eq_ignore_ascii_case(k2) && v == v2;
        let covered = |want: &BTreeMap<String, String>| want.iter().all(|w| ec.iter().any(|e| meets(w, e)));
        match self {
            Constraint::Equals(want) => covered(want) && ec.iter().all(|e| want.iter().any(|w| meets(w, e))),
            Constraint::Subset(want) => covered(want),
        }
    }
}

/// `kms:GrantConstraintType` of a `CreateGrant` whose constraint is `EncryptionContextEquals`.
pub const EQUALS_CONSTRAINT: &str = "EncryptionContextEquals";

/// One grant on a key.
#[derive(Debug, Clone)]
pub struct Grant {
    pub source: Arc<str>,
    /// `Name`, else `GrantId`, else `grant[i]`, for explanations.
    pub label: String,
    /// `KeyId` as given (ARN or bare key ID); `None` means "the key under analysis".
    pub key_id: Option<String>,
    /// `GranteePrincipal`, or `GranteeServicePrincipal` (a service principal such as
    /// `cloudtrail.amazonaws.com`, which the grant reaches when the service calls KMS itself).
    pub grantee: String,
    /// `GrantId` as given: what a `RetireGrant` request names.
    pub grant_id: Option<String>,
    /// `RetiringPrincipal` or `RetiringServicePrincipal`: who may retire the grant.
    pub retiring: Option<String>,
    /// The account the grant was created in (`IssuingAccount`, as an account ID); `None`:
    /// the key's account.
    pub issuing_account: Option<String>,
    /// Proper-case operation names, e.g. `Decrypt`.
    pub operations: Vec<String>,
    /// The encryption-context constraints.
    pub constraints: Vec<Constraint>,
    /// The `SourceArn` constraint: "allows the permissions in the grant only when the request
    /// is made on behalf of a specific AWS resource … effectively the same as having the
    /// aws:SourceArn global condition key in the grant" (KMS API reference, GrantConstraints).
    pub source_arn: Option<String>,
    pub pos: Pos,
}

impl Grant {
    /// The identifier a `RetireGrant` request names: `GrantId`, else the label.
    pub fn id(&self) -> &str {
        self.grant_id.as_deref().unwrap_or(&self.label)
    }

    /// The account the grant was created in: `IssuingAccount`, else the key's account.
    pub fn issued_in<'a>(&'a self, key_account: &'a str) -> &'a str {
        self.issuing_account.as_deref().unwrap_or(key_account)
    }

    /// Whether a `CreateGrant` request this grant allows creates a grant KMS lets its
    /// grantee create ("Granting CreateGrant permission", KMS Developer Guide: "The grantee
    /// principal can only create grants that allow some or all of the operations in the
    /// parent grant. The grant constraints in the grants they create must be at least as
    /// strict as those in the parent grant … the child grant can add pairs to an
    /// EncryptionContextSubset constraint in the parent grant, but it cannot remove them. The
    /// child grant can change an EncryptionContextSubset constraint to an
    /// EncryptionContextEquals constraint, but not the reverse."). The child's operations are
    /// `kms:GrantOperations`; its constraint pairs are the request's encryption context
    /// (checked by [`Constraint::allows`] like any constrained operation: a `Subset` parent's
    /// pairs must all be among the child's, an `Equals` parent's must be exactly the child's);
    /// here: the operations are a subset, and an `Equals` parent needs an `Equals` child
    /// (`kms:GrantConstraintType`). `Err`: why not.
    pub fn allows_child(&self, ctx: &crate::model::request::Context) -> Result<(), String> {
        use crate::model::request::CtxValue;
        let ops: Vec<&str> = match ctx.get("kms:GrantOperations") {
            Some(CtxValue::Many(ops)) => ops.iter().map(String::as_str).collect(),
            Some(CtxValue::One(op)) => vec![op.as_str()],
            None => vec![],
        };
        if let Some(extra) = ops.iter().find(|o| !self.has_operation(o)) {
            return Err(format!(
                "the new grant's operation {extra} is not among this grant's {:?} (a grant's grantee creates grants for a subset of its operations only)",
                self.operations
            ));
        }
        let equals_parent = self.constraints.iter().any(|c| matches!(c, Constraint::Equals(_)));
        let child_type = match ctx.get("kms:GrantConstraintType") {
            Some(CtxValue::One(t)) => Some(t.as_str()),
            _ => None,
        };
        if equals_parent && child_type != Some(EQUALS_CONSTRAINT) {
            return Err(format!(
                "this grant's EncryptionContextEquals constraint needs the new grant's to be EncryptionContextEquals too (kms:GrantConstraintType is {})",
                child_type.unwrap_or("absent")
            ));
        }
        Ok(())
    }

    pub fn has_operation(&self, op: &str) -> bool {
        self.operations.iter().any(|o| o == op)
    }

    /// Whether the grant is on `key_arn` (a bare key ID matches the ARN's `key/ID`).
    pub fn is_on_key(&self, key_arn: &str) -> bool {
        match &self.key_id {
            None => true,
            Some(id) if id.starts_with("arn:") => id == key_arn,
            Some(id) => key_arn.ends_with(&format!(":key/{id}")),
        }
    }
}

const GRANT_FIELDS: &[&str] = &[
    "KeyId",
    "GrantId",
    "Name",
    "CreationDate",
    "GranteePrincipal",
    "GranteeServicePrincipal",
    "RetiringPrincipal",
    "RetiringServicePrincipal",
    "IssuingAccount",
    "Operations",
    "Constraints",
    "GrantTokens",
];

/// Reads a grant file: one grant object, a list of them, or `{"Grants": [...]}`.
pub fn parse_grants(text: &str, source: &str) -> Result<Vec<Grant>, Error> {
    let mut sink = Sink::new(source);
    let doc = sink.document(text)?;
    let (items, prefix): (Vec<&Json>, &str) = match (&doc.kind, doc.get("Grants")) {
        (_, Some(Json { kind: Kind::Array(items), .. })) => (items.iter().collect(), "Grants"),
        (Kind::Array(items), _) => (items.iter().collect(), ""),
        (Kind::Object(_), _) => (vec![&doc], ""),
        _ => (vec![], ""),
    };
    if items.is_empty() {
        sink.error(
            doc.pos,
            "",
            "expected a grant object, a list of grants, or {\"Grants\": [...]} with at least one grant",
        );
    }
    let many = !prefix.is_empty() || matches!(doc.kind, Kind::Array(_));
    let grants: Vec<Grant> = items
        .iter()
        .enumerate()
        .filter_map(|(i, g)| {
            let path = if many { format!("{prefix}[{i}]") } else { String::new() };
            read_grant(g, &path, i, &mut sink)
        })
        .collect();
    if sink.has_errors() {
        return Err(Error::Invalid(sink.items));
    }
    Ok(grants)
}

fn read_grant(g: &Json, path: &str, index: usize, sink: &mut Sink) -> Option<Grant> {
    let Some(members) = g.members() else {
        sink.error(g.pos, path, format!("expected a grant object, found {}", g.type_name()));
        return None;
    };
    let at = |field: &str| {
        if path.is_empty() {
            field.to_string()
        } else {
            format!("{path}.{field}")
        }
    };
    for m in members {
        if !GRANT_FIELDS.contains(&m.key.as_str()) {
            sink.error(
                m.key_pos,
                &at(&m.key),
                format!("unknown grant field \"{}\" (expected one of {})", m.key, GRANT_FIELDS.join(", ")),
            );
        }
    }
    let text = |field: &str, sink: &mut Sink| -> Option<String> {
        let v = g.get(field)?;
        let s = v.as_str().map(str::to_string);
        if s.is_none() {
            sink.error(v.pos, &at(field), format!("expected a string, found {}", v.type_name()));
        }
        s
    };
    // A grant names its grantee one way: an AWS principal, or a service principal (KMS API
    // reference, CreateGrant: GranteePrincipal or GranteeServicePrincipal).
    let grantee = match (g.get("GranteePrincipal"), g.get("GranteeServicePrincipal")) {
        (Some(_), Some(v)) => {
            sink.error(
                v.pos,
                &at("GranteeServicePrincipal"),
                "a grant has one grantee: give GranteePrincipal or GranteeServicePrincipal, not both",
            );
            None
        }
        (None, None) => {
            sink.error(g.pos, path, "missing \"GranteePrincipal\" (or \"GranteeServicePrincipal\")");
            None
        }
        (Some(_), None) => text("GranteePrincipal", sink),
        (None, Some(_)) => service_principal(g, "GranteeServicePrincipal", &at, sink),
    };
    let label = text("Name", sink)
        .filter(|n| !n.is_empty())
        .or_else(|| text("GrantId", sink))
        .unwrap_or_else(|| format!("grant[{index}]"));
    let key_id = text("KeyId", sink);
    let grant_id = text("GrantId", sink);
    let retiring = match (g.get("RetiringPrincipal"), g.get("RetiringServicePrincipal")) {
        (Some(_), Some(v)) => {
            sink.error(
                v.pos,
                &at("RetiringServicePrincipal"),
                "a grant has one retiring principal: give RetiringPrincipal or RetiringServicePrincipal, not both",
            );
            None
        }
        (None, Some(_)) => service_principal(g, "RetiringServicePrincipal", &at, sink),
        _ => text("RetiringPrincipal", sink),
    };
    let issuing_account = text("IssuingAccount", sink).and_then(|a| match account_of(&a) {
        Some(id) => Some(id),
        None => {
            let pos = g.get("IssuingAccount").map_or(g.pos, |v| v.pos);
            sink.error(
                pos,
                &at("IssuingAccount"),
                format!("\"{a}\" is not an account (expected arn:aws:iam::ACCOUNT:root or a 12-digit account ID)"),
            );
            None
        }
    });
    let operations = read_operations(g.get("Operations"), &at("Operations"), g.pos, sink);
    let (constraints, source_arn) =
        g.get("Constraints").map(|c| read_constraints(c, &at("Constraints"), sink)).unwrap_or_default();
    Some(Grant {
        source: sink.source.clone(),
        label,
        key_id,
        grantee: grantee?,
        grant_id,
        retiring,
        issuing_account,
        operations,
        constraints,
        source_arn,
        pos: g.pos,
    })
}

/// A service principal field (`GranteeServicePrincipal`, `RetiringServicePrincipal`): a
/// name such as `cloudtrail.amazonaws.com`, as a request's service caller is written.
fn service_principal(g: &Json, field: &str, at: &dyn Fn(&str) -> String, sink: &mut Sink) -> Option<String> {
    let v = g.get(field)?;
    match v.as_str() {
        Some(name)
            if matches!(crate::model::request::Caller::parse(name), Ok(crate::model::request::Caller::Service(_))) =>
        {
            Some(name.to_string())
        }
        Some(name) => {
            sink.error(
                v.pos,
                &at(field),
                format!("\"{name}\" is not a service principal (expected e.g. cloudtrail.amazonaws.com)"),
            );
            None
        }
        None => {
            sink.error(v.pos, &at(field), format!("expected a string, found {}", v.type_name()));
            None
        }
    }
}

/// The account a grant principal names as an account (`A` or `arn:PARTITION:iam::A:root`).
pub fn account_of(principal: &str) -> Option<String> {
    if crate::base::arn::is_account_id(principal) {
        return Some(principal.to_string());
    }
    let (_, rest) = principal.strip_prefix("arn:")?.split_once(":iam::")?;
    rest.strip_suffix(":root").filter(|a| crate::base::arn::is_account_id(a)).map(str::to_string)
}

fn read_operations(v: Option<&Json>, path: &str, grant_pos: Pos, sink: &mut Sink) -> Vec<String> {
    let items = match v.map(|v| &v.kind) {
        Some(Kind::Array(items)) if !items.is_empty() => items,
        _ => {
            sink.error(
                v.map_or(grant_pos, |v| v.pos),
                path,
                "expected a non-empty list of grant operations such as [\"Decrypt\"]",
            );
            return vec![];
        }
    };
    let mut ops = Vec::new();
    for (i, it) in items.iter().enumerate() {
        let name = it.as_str().unwrap_or_default();
        match GRANT_OPERATIONS.iter().find(|op| op.eq_ignore_ascii_case(name.trim_start_matches("kms:"))) {
            Some(op) => ops.push(op.to_string()),
            None => sink.error(
                it.pos,
                &format!("{path}[{i}]"),
                format!("\"{name}\" is not a grant operation (expected one of {})", GRANT_OPERATIONS.join(", ")),
            ),
        }
    }
    ops
}

/// The encryption-context constraints and the `SourceArn` constraint.
fn read_constraints(c: &Json, path: &str, sink: &mut Sink) -> (Vec<Constraint>, Option<String>) {
    let Some(members) = c.members() else {
        sink.error(c.pos, path, format!("expected an object, found {}", c.type_name()));
        return (vec![], None);
    };
    let mut out = Vec::new();
    let mut source_arn = None;
    for m in members {
        let mpath = format!("{path}.{}", m.key);
        let make: fn(BTreeMap<String, String>) -> Constraint = match m.key.as_str() {
            "EncryptionContextEquals" => Constraint::Equals,
            "EncryptionContextSubset" => Constraint::Subset,
            "SourceArn" => {
                match m.value.as_str().filter(|a| a.starts_with("arn:")) {
                    Some(arn) => source_arn = Some(arn.to_string()),
                    None => sink.error(m.value.pos, &mpath, "expected the ARN of the AWS resource the grant is for"),
                }
                continue;
            }
            _ => {
                sink.error(
                    m.key_pos,
                    &mpath,
                    "unknown constraint (expected EncryptionContextEquals, EncryptionContextSubset or SourceArn)",
                );
                continue;
            }
        };
        let mut pairs = BTreeMap::new();
        for p in m.value.members().unwrap_or(&[]) {
            match p.value.as_str() {
                Some(v) => {
                    pairs.insert(p.key.clone(), v.to_string());
                }
                None => sink.error(p.value.pos, &format!("{mpath}.{}", p.key), "encryption-context values are strings"),
            }
        }
        if m.value.members().is_none() {
            sink.error(m.value.pos, &mpath, "expected an object of encryption-context pairs");
        }
        out.push(make(pairs));
    }
    (out, source_arn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_list_grants_output() {
        let text = r#"{"Grants": [{"KeyId": "arn:aws:kms:us-east-1:111122223333:key/k1", "GrantId": "g1", "Name": "", "GranteePrincipal": "arn:aws:iam::111122223333:role/EbsRole", "Operations": ["Decrypt", "GenerateDataKeyWithoutPlaintext"], "Constraints": {"EncryptionContextSubset": {"aws:ebs:id": "vol-1"}}}]}"#;
        let g = &parse_grants(text, "g.json").unwrap()[0];
        assert_eq!(g.label, "g1");
        assert!(g.is_on_key("arn:aws:kms:us-east-1:111122223333:key/k1"));
        let ec = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert!(g.constraints[0].allows(&ec(&[("aws:ebs:id", "vol-1"), ("x", "y")])));
        assert!(!g.constraints[0].allows(&ec(&[("aws:ebs:id", "VOL-1")])));
        // Keys match case-insensitively, values case-sensitively (API GrantConstraints).
        assert!(g.constraints[0].allows(&ec(&[("AWS:EBS:ID", "vol-1")])));
        assert!(Constraint::Equals(ec(&[("Dept", "Finance")])).allows(&ec(&[("dept", "Finance")])));
        assert!(!Constraint::Equals(ec(&[("Dept", "Finance")])).allows(&ec(&[("dept", "finance")])));
        assert!(Constraint::Equals(ec(&[("a", "b")])).allows(&ec(&[("a", "b")])));
        assert!(!Constraint::Equals(ec(&[("a", "b")])).allows(&ec(&[("a", "b"), ("c", "d")])));
    }

    #[test]
    fn reads_service_principal_grants_and_limits_child_grants() {
        let text = r#"{"GranteeServicePrincipal": "cloudtrail.amazonaws.com", "RetiringServicePrincipal": "cloudtrail.amazonaws.com", "Operations": ["GenerateDataKey", "CreateGrant"], "Constraints": {"SourceArn": "arn:aws:cloudtrail:us-east-1:111122223333:trail/t1", "EncryptionContextEquals": {"Dept": "IT"}}}"#;
        let g = &parse_grants(text, "g.json").unwrap()[0];
        assert_eq!(g.grantee, "cloudtrail.amazonaws.com");
        assert_eq!(g.retiring.as_deref(), Some("cloudtrail.amazonaws.com"));
        assert_eq!(g.source_arn.as_deref(), Some("arn:aws:cloudtrail:us-east-1:111122223333:trail/t1"));
        let ctx = |ops: &[&str], kind: Option<&str>| {
            let mut c = crate::model::request::Context::default();
            let ops = ops.iter().map(|o| o.to_string()).collect();
            c.insert("kms:GrantOperations", crate::model::request::CtxValue::Many(ops));
            if let Some(k) = kind {
                c.insert("kms:GrantConstraintType", crate::model::request::CtxValue::One(k.into()));
            }
            c
        };
        assert!(g.allows_child(&ctx(&["GenerateDataKey"], Some("EncryptionContextEquals"))).is_ok());
        assert!(g.allows_child(&ctx(&["Decrypt"], Some("EncryptionContextEquals"))).is_err());
        assert!(g.allows_child(&ctx(&["GenerateDataKey"], Some("EncryptionContextSubset"))).is_err());
        assert!(g.allows_child(&ctx(&["GenerateDataKey"], None)).is_err());
    }

    #[test]
    fn bad_grants_are_errors() {
        for (text, want) in [
            (r#"{"GranteePrincipal": "x", "Operations": ["Decrpyt"]}"#, "not a grant operation"),
            (r#"{"Operations": ["Decrypt"]}"#, "missing \"GranteePrincipal\""),
            (
                r#"{"GranteePrincipal": "x", "GranteeServicePrincipal": "logs.amazonaws.com", "Operations": ["Decrypt"]}"#,
                "one grantee",
            ),
            (
                r#"{"GranteeServicePrincipal": "arn:aws:iam::111122223333:root", "Operations": ["Decrypt"]}"#,
                "not a service principal",
            ),
            (r#"{"GranteePrincipal": "x", "Operations": []}"#, "non-empty list"),
            (
                r#"{"GranteePrincipal": "x", "Operations": ["Decrypt"], "Constraints": {"EncryptionContextLike": {}}}"#,
                "unknown constraint",
            ),
            ("[]", "at least one grant"),
        ] {
            let e = parse_grants(text, "g").unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
    }
}
