//! JSON → [`Policy`], collecting every error with its position and JSON path.

use super::operator::{Family, Operator};
use super::{
    validate, CondValue, Condition, Effect, Matcher, Policy, PolicyKind, PrincipalEntry, Principals, Statement,
};
use crate::base::arn::{is_account_id, split as split_arn};
use crate::base::diag::{Error, Sink};
use crate::base::json::{self, Json, Kind};
use crate::base::pattern::{pieces, Piece};
use crate::base::value::{parse_base64, parse_bool, parse_date, Cidr, DateForm, Decimal};

const TOP_ELEMENTS: &[&str] = &["Version", "Id", "Statement"];
const STATEMENT_ELEMENTS: &[&str] =
    &["Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition"];

/// Parses a policy document (or a CLI wrapper around one) read from `source`.
/// Errors come back together; warnings travel in [`Policy::warnings`].
pub fn parse_policy(text: &str, source: &str, kind: PolicyKind) -> Result<Policy, Error> {
    let mut sink = Sink::new(source);
    let doc = sink.document(text)?;
    let Some(doc) = unwrap_document(doc, &mut sink) else {
        return Err(Error::Invalid(sink.items));
    };
    let (policy, whole) = read_policy(&doc, kind, &mut sink);
    if !whole {
        return Err(Error::BudgetSpent { file: sink.source.to_string() });
    }
    if sink.has_errors() {
        return Err(Error::Invalid(sink.items));
    }
    let mut policy = policy;
    validate::check(&policy, &mut sink);
    if sink.has_errors() {
        return Err(Error::Invalid(sink.items));
    }
    policy.warnings = sink.items;
    Ok(policy)
}

/// Strips the wrappers that AWS CLIs print around a policy: `aws kms get-key-policy`
/// (`{"Policy": "<json text>"}`) and `aws iam get-policy-version`
/// (`{"PolicyVersion": {"Document": <object or URL-encoded text>}}`). Positions inside
/// an embedded text are relative to that text, and the source name says so.
pub fn unwrap_document(doc: Json, sink: &mut Sink) -> Option<Json> {
    if doc.get("Statement").is_some() {
        return Some(doc);
    }
    let (inner, label) = if let Some(p) = doc.get("Policy") {
        (p.clone(), "Policy")
    } else if let Some(d) = doc.get("PolicyVersion").and_then(|v| v.get("Document")) {
        (d.clone(), "PolicyVersion.Document")
    } else if let Some(d) = doc.get("Document") {
        (d.clone(), "Document")
    } else {
        return Some(doc);
    };
    let Some(text) = inner.as_str() else {
        return Some(inner);
    };
    let decoded = if text.trim_start().starts_with('{') { text.to_string() } else { url_decode(text)? };
    sink.retarget(format!("{} (embedded {label}, positions within it)", sink.source), &decoded);
    match json::parse(&decoded) {
        Ok(d) => Some(d),
        Err(e) => {
            sink.error(e.pos, label, format!("the embedded policy text is not valid JSON: {}", e.message));
            None
        }
    }
}

/// Percent-decoding as IAM applies it to `Document` (RFC 3986; `+` is a plus sign).
fn url_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The policy, and whether it was read whole: a policy of thousands of statements stops
/// early once the command's reading budget is spent (see [`crate::base::budget`]); small
/// ones, kmsproof's own fixed policies among them, are always read whole.
fn read_policy(doc: &Json, kind: PolicyKind, sink: &mut Sink) -> (Policy, bool) {
    let mut policy = Policy {
        source: sink.source.clone(),
        kind,
        version: None,
        id: None,
        statements: Vec::new(),
        warnings: Vec::new(),
    };
    let Some(members) = doc.members() else {
        sink.error(
            doc.pos,
            "",
            format!("expected a policy document (a JSON object with \"Statement\"), found {}", doc.type_name()),
        );
        return (policy, true);
    };
    for m in members {
        if !TOP_ELEMENTS.contains(&m.key.as_str()) {
            sink.error(
                m.key_pos,
                &m.key,
                format!("unknown policy element \"{}\" (expected one of {})", m.key, TOP_ELEMENTS.join(", ")),
            );
        }
    }
    policy.version = scalar_string(doc.get("Version"), "Version", sink);
    if let Some(v) = &policy.version {
        if v != "2012-10-17" && v != "2008-10-17" {
            sink.error(
                doc.get("Version").map(|v| v.pos).unwrap_or_default(),
                "Version",
                format!("unsupported Version \"{v}\" (expected \"2012-10-17\" or \"2008-10-17\")"),
            );
        }
    }
    policy.id = scalar_string(doc.get("Id"), "Id", sink);
    let vars = policy.substitutes_variables();
    match doc.get("Statement") {
        None => sink.error(doc.pos, "", "missing \"Statement\""),
        Some(s) => match &s.kind {
            Kind::Object(_) => policy.statements.extend(read_statement(s, 0, "Statement", vars, sink)),
            Kind::Array(items) if items.is_empty() => sink.error(s.pos, "Statement", "empty statement list"),
            Kind::Array(items) => {
                for (i, st) in items.iter().enumerate() {
                    if i % 1024 == 1023 && crate::base::budget::reading_spent() {
                        return (policy, false);
                    }
                    policy.statements.extend(read_statement(st, i, &format!("Statement[{i}]"), vars, sink));
                }
            }
            _ => sink.error(
                s.pos,
                "Statement",
                format!("expected a statement object or an array of them, found {}", s.type_name()),
            ),
        },
    }
    (policy, true)
}

fn scalar_string(v: Option<&Json>, path: &str, sink: &mut Sink) -> Option<String> {
    let v = v?;
    match v.as_str() {
        Some(s) => Some(s.to_string()),
        None => {
            sink.error(v.pos, path, format!("expected a string, found {}", v.type_name()));
            None
        }
    }
}

/// Reads one statement object (also used for the statement shape of a property).
pub fn read_statement(st: &Json, index: usize, path: &str, vars: bool, sink: &mut Sink) -> Option<Statement> {
    let Some(members) = st.members() else {
        sink.error(st.pos, path, format!("expected a statement object, found {}", st.type_name()));
        return None;
    };
    for m in members {
        if !STATEMENT_ELEMENTS.contains(&m.key.as_str()) {
            sink.error(
                m.key_pos,
                path,
                format!("unknown statement element \"{}\" (expected one of {})", m.key, STATEMENT_ELEMENTS.join(", ")),
            );
        }
    }
    let sid = scalar_string(st.get("Sid"), &format!("{path}.Sid"), sink);
    let effect = match st.get("Effect") {
        None => {
            sink.error(st.pos, path, "missing \"Effect\" (expected \"Allow\" or \"Deny\")");
            None
        }
        Some(e) => match e.as_str() {
            Some("Allow") => Some(Effect::Allow),
            Some("Deny") => Some(Effect::Deny),
            _ => {
                sink.error(
                    e.pos,
                    &format!("{path}.Effect"),
                    format!("expected \"Allow\" or \"Deny\", found {}", show(e)),
                );
                None
            }
        },
    };
    let principal = read_principals(st, path, sink);
    let mut action_pos = Vec::new();
    let action = pair(st, "Action", "NotAction", path, sink).map(|(v, negated, p)| {
        let (patterns, positions) = read_actions(v, &p, sink).into_iter().unzip();
        action_pos = positions;
        Matcher { negated, patterns }
    });
    if action.is_none() && st.get("Action").is_none() && st.get("NotAction").is_none() {
        sink.error(st.pos, path, "missing \"Action\" or \"NotAction\"");
    }
    let resource = pair(st, "Resource", "NotResource", path, sink)
        .map(|(v, negated, p)| Matcher { negated, patterns: read_resources(v, &p, vars, sink) });
    let conditions =
        st.get("Condition").map(|c| read_conditions(c, &format!("{path}.Condition"), vars, sink)).unwrap_or_default();
    let effect = effect?;
    Some(Statement { index, sid, effect, principal, action: action?, resource, conditions, pos: st.pos, action_pos })
}

fn show(v: &Json) -> String {
    match v.as_str() {
        Some(s) => format!("\"{s}\""),
        None => v.type_name().to_string(),
    }
}

/// Reads `X`/`NotX`, refusing both at once. Returns the value, whether negated, its path.
fn pair<'a>(
    st: &'a Json,
    pos_name: &str,
    neg_name: &str,
    path: &str,
    sink: &mut Sink,
) -> Option<(&'a Json, bool, String)> {
    match (st.get(pos_name), st.get(neg_name)) {
        (Some(_), Some(n)) => {
            sink.error(n.pos, path, format!("a statement cannot have both \"{pos_name}\" and \"{neg_name}\""));
            None
        }
        (Some(v), None) => Some((v, false, format!("{path}.{pos_name}"))),
        (None, Some(v)) => Some((v, true, format!("{path}.{neg_name}"))),
        (None, None) => None,
    }
}

/// A string or a non-empty list of strings.
fn string_list<'a>(v: &'a Json, path: &str, sink: &mut Sink) -> Vec<(&'a str, &'a Json)> {
    match &v.kind {
        Kind::String(s) => vec![(s.as_str(), v)],
        Kind::Array(items) if items.is_empty() => {
            sink.error(v.pos, path, "empty list (expected at least one value)");
            vec![]
        }
        Kind::Array(items) => items
            .iter()
            .enumerate()
            .filter_map(|(i, it)| match it.as_str() {
                Some(s) => Some((s, it)),
                None => {
                    sink.error(it.pos, &format!("{path}[{i}]"), format!("expected a string, found {}", it.type_name()));
                    None
                }
            })
            .collect(),
        _ => {
            sink.error(v.pos, path, format!("expected a string or a list of strings, found {}", v.type_name()));
            vec![]
        }
    }
}

/// Each action pattern with where it was written.
fn read_actions(v: &Json, path: &str, sink: &mut Sink) -> Vec<(Vec<Piece>, json::Pos)> {
    let mut out = Vec::new();
    for (a, at) in string_list(v, path, sink) {
        let ok = a == "*"
            || a.split_once(':')
                .is_some_and(|(svc, name)| !svc.is_empty() && !name.is_empty() && !svc.contains(['*', '?']));
        if !ok {
            sink.error(at.pos, path, format!("malformed action \"{a}\" (expected \"service:Action\", wildcards allowed in the action name, or \"*\")"));
        }
        out.push((vec![Piece::Text(a.to_string())], at.pos));
    }
    out
}

fn read_resources(v: &Json, path: &str, vars: bool, sink: &mut Sink) -> Vec<Vec<Piece>> {
    let mut out = Vec::new();
    for (r, rt) in string_list(v, path, sink) {
        if r != "*" && !r.starts_with("arn:") {
            sink.error(rt.pos, path, format!("malformed resource \"{r}\" (expected an ARN or \"*\")"));
        }
        out.push(pieces(r, vars));
    }
    out
}

fn read_principals(st: &Json, path: &str, sink: &mut Sink) -> Option<Principals> {
    let (v, negated, p) = pair(st, "Principal", "NotPrincipal", path, sink)?;
    let mut entries = Vec::new();
    match &v.kind {
        Kind::String(s) if s == "*" => entries.push(PrincipalEntry::Everyone),
        Kind::Object(members) if !members.is_empty() => object_principals(members, &p, false, &mut entries, sink),
        _ => {
            sink.error(v.pos, &p, format!("expected \"*\" or an object such as {{\"AWS\": [...]}}, found {}", show(v)))
        }
    }
    Some(Principals { negated, entries })
}

/// `{"AWS": [...], "Service": [...]}`; `patterns` admits ARN patterns (property shapes).
fn object_principals(
    members: &[json::Member],
    path: &str,
    patterns: bool,
    entries: &mut Vec<PrincipalEntry>,
    sink: &mut Sink,
) {
    for m in members {
        let mpath = format!("{path}.{}", m.key);
        for (value, vj) in string_list(&m.value, &mpath, sink) {
            let entry = match m.key.as_str() {
                "AWS" if patterns && value.starts_with("arn:") && value.contains(['*', '?']) => {
                    principal_pattern(value)
                }
                _ => classify_principal(&m.key, value),
            };
            match entry {
                Ok(e) => entries.push(e),
                Err(e) => sink.error(vj.pos, &mpath, e.to_string()),
            }
        }
    }
}

/// A property's `principal`/`not_principal` ([`crate::prove::check`]): `"*"`, IAM object syntax,
/// or one plain principal or a list of them — a 12-digit account ID, an IAM/STS ARN (read
/// as in a policy's `{"AWS": ...}`), an ARN pattern with `*`/`?`, a service principal.
pub fn read_property_principals(v: &Json, negated: bool, path: &str, sink: &mut Sink) -> Principals {
    let mut entries = Vec::new();
    match &v.kind {
        Kind::Object(members) if !members.is_empty() => object_principals(members, path, true, &mut entries, sink),
        Kind::String(_) | Kind::Array(_) => {
            for (value, vj) in string_list(v, path, sink) {
                match classify_property_principal(value) {
                    Ok(e) => entries.push(e),
                    Err(e) => sink.error(vj.pos, path, e.to_string()),
                }
            }
        }
        _ => sink.error(
            v.pos,
            path,
            format!(
                "expected a principal, a list of principals or an object such as {{\"AWS\": [...]}}, found {}",
                show(v)
            ),
        ),
    }
    Principals { negated, entries }
}

/// Why a principal value is refused; each message says what was expected instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrincipalError {
    #[error("unknown principal \"{0}\" (expected \"*\", a 12-digit account ID, an IAM/STS ARN such as arn:aws:iam::111122223333:role/App, an ARN pattern such as arn:aws:iam::111122223333:role/*, or a service principal such as ec2.amazonaws.com)")]
    Unknown(String),
    #[error("ARN pattern \"{pattern}\" {why}, so it matches no caller (expected e.g. arn:aws:iam::111122223333:role/*, arn:aws:iam::*:role/App or arn:aws:iam::111122223333:*)")]
    NeverMatches { pattern: String, why: String },
    #[error("malformed service principal \"{0}\" (expected a name such as \"ec2.amazonaws.com\")")]
    Service(String),
    #[error("unknown principal type \"{0}\" (expected AWS, Service, Federated or CanonicalUser)")]
    Kind(String),
    #[error("malformed principal ARN \"{0}\" (expected \"*\", a 12-digit account ID, or an IAM/STS ARN such as arn:aws:iam::111122223333:role/Name; partial wildcards are not allowed)")]
    Arn(String),
}

fn classify_property_principal(value: &str) -> Result<PrincipalEntry, PrincipalError> {
    if value == "*" || is_account_id(value) {
        return classify_aws_principal(value);
    }
    if value.starts_with("arn:") {
        return if value.contains(['*', '?']) { principal_pattern(value) } else { classify_aws_principal(value) };
    }
    if value.contains('.') && !value.contains([':', '/']) {
        return classify_principal("Service", value);
    }
    Err(PrincipalError::Unknown(value.to_string()))
}

/// An ARN pattern in a property: it must be able to match some caller's `aws:PrincipalArn`
/// (an `iam`/`sts` ARN with no region and a 12-digit account), else it is a typo.
fn principal_pattern(value: &str) -> Result<PrincipalEntry, PrincipalError> {
    let bad = |why: &str| PrincipalError::NeverMatches { pattern: value.to_string(), why: why.to_string() };
    let [_, partition, service, region, account, resource] =
        split_arn(value).ok_or_else(|| bad("has fewer than six colon-separated parts"))?;
    let can_match =
        |part: &str, text: &str| crate::base::pattern::glob_match(&crate::base::pattern::glob_tokens(part), text);
    if partition.is_empty() {
        return Err(bad("has an empty partition"));
    }
    if !can_match(service, "iam") && !can_match(service, "sts") {
        return Err(bad(&format!("names the service \"{service}\" (principals are iam or sts ARNs)")));
    }
    if !can_match(region, "") {
        return Err(bad("has a region (principal ARNs have none)"));
    }
    let fixed = account.chars().filter(|c| *c != '*').count();
    let account_ok = account.chars().all(|c| c.is_ascii_digit() || c == '*' || c == '?')
        && (fixed == 12 || (fixed < 12 && account.contains('*')));
    if !account_ok {
        return Err(bad(&format!("has the account part \"{account}\" (expected 12 digits, wildcards allowed)")));
    }
    if resource.is_empty() {
        return Err(bad("has an empty resource part"));
    }
    Ok(PrincipalEntry::Pattern(value.to_string()))
}

/// Classifies one principal value of type `kind` (`AWS`, `Service`, ...).
fn classify_principal(kind: &str, value: &str) -> Result<PrincipalEntry, PrincipalError> {
    match kind {
        "AWS" => classify_aws_principal(value),
        "Service" if value == "*" => Ok(PrincipalEntry::Everyone),
        "Service" if !value.is_empty() && !value.contains(['*', '?', ' ']) => {
            Ok(PrincipalEntry::Service(value.to_string()))
        }
        "Service" => Err(PrincipalError::Service(value.to_string())),
        "Federated" | "CanonicalUser" => Ok(PrincipalEntry::Other(format!("{kind}:{value}"))),
        _ => Err(PrincipalError::Kind(kind.to_string())),
    }
}

fn classify_aws_principal(value: &str) -> Result<PrincipalEntry, PrincipalError> {
    if value == "*" {
        return Ok(PrincipalEntry::Everyone);
    }
    if is_account_id(value) {
        return Ok(PrincipalEntry::Account(value.to_string()));
    }
    // Unique IDs (AIDA…, AROA…) appear where a named role or user was deleted.
    if value.len() >= 16
        && value.starts_with('A')
        && value.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        return Ok(PrincipalEntry::Other(value.to_string()));
    }
    let bad = || PrincipalError::Arn(value.to_string());
    let parts = split_arn(value).ok_or_else(bad)?;
    let [_, partition, service, region, account, resource] = parts;
    if partition.is_empty() || !region.is_empty() || !is_account_id(account) || value.contains(['*', '?']) {
        return Err(bad());
    }
    let (rtype, rest) = resource.split_once('/').unwrap_or((resource, ""));
    match (service, rtype) {
        ("iam", "root") if rest.is_empty() => Ok(PrincipalEntry::Account(account.to_string())),
        ("iam", "role") if !rest.is_empty() => {
            let name = rest.rsplit('/').next().unwrap_or(rest).to_string();
            Ok(PrincipalEntry::Role { arn: value.to_string(), account: account.to_string(), name })
        }
        ("iam", "user") | ("sts", "assumed-role") | ("sts", "federated-user") if !rest.is_empty() => {
            Ok(PrincipalEntry::Exact(value.to_string()))
        }
        _ => Err(bad()),
    }
}

fn read_conditions(c: &Json, path: &str, vars: bool, sink: &mut Sink) -> Vec<Condition> {
    let Some(blocks) = c.members() else {
        sink.error(c.pos, path, format!("expected an object of operators, found {}", c.type_name()));
        return vec![];
    };
    let mut out = Vec::new();
    for block in blocks {
        let bpath = format!("{path}.{}", block.key);
        let op = match Operator::parse(&block.key) {
            Ok((op, odd_case)) => {
                if odd_case {
                    sink.warn(
                        block.key_pos,
                        &bpath,
                        format!(
                            "operator written \"{}\"; the documented spelling is \"{}\"",
                            block.key,
                            op.canonical()
                        ),
                    );
                }
                op
            }
            Err(msg) => {
                sink.error(block.key_pos, &bpath, msg.to_string());
                continue;
            }
        };
        let Some(keys) = block.value.members() else {
            sink.error(
                block.value.pos,
                &bpath,
                format!("expected an object of condition keys, found {}", block.value.type_name()),
            );
            continue;
        };
        for k in keys {
            let kpath = format!("{bpath}.{}", k.key);
            let values = read_values(&k.value, op, &kpath, vars, sink);
            out.push(Condition { op, key: k.key.clone(), values, pos: k.key_pos, path: kpath });
        }
    }
    out
}

fn read_values(v: &Json, op: Operator, path: &str, vars: bool, sink: &mut Sink) -> Vec<CondValue> {
    let items: Vec<&Json> = match &v.kind {
        Kind::Array(items) if items.is_empty() => {
            sink.error(v.pos, path, "empty list of condition values");
            return vec![];
        }
        Kind::Array(items) => items.iter().collect(),
        _ => vec![v],
    };
    items.into_iter().filter_map(|it| read_value(it, op, path, vars, sink)).collect()
}

/// Reads one policy value into the operator's type; a value that does not read is an error.
fn read_value(v: &Json, op: Operator, path: &str, vars: bool, sink: &mut Sink) -> Option<CondValue> {
    let Some(text) = v.scalar_text() else {
        sink.error(
            v.pos,
            path,
            format!("expected a string, number or boolean condition value, found {}", v.type_name()),
        );
        return None;
    };
    let family = op.spec.family;
    let parsed = match family {
        Family::String | Family::Arn => Some(CondValue::Text(pieces(&text, vars))),
        Family::Bool => parse_bool(&text)
            .map(CondValue::Bool)
            .or_else(|| (vars && text.contains("${")).then(|| CondValue::Text(pieces(&text, vars)))),
        Family::Null => parse_bool(&text).map(CondValue::Null),
        Family::Numeric => Decimal::parse(&text).map(CondValue::Number),
        Family::Date => parse_date(&text).map(|(at, form)| {
            if form == DateForm::Unzoned {
                sink.warn(v.pos, path, format!("date \"{text}\" has no time zone; read as UTC"));
            }
            CondValue::Date(at)
        }),
        Family::Binary => parse_base64(&text).map(CondValue::Binary),
        Family::Ip => Cidr::parse(&text).map(CondValue::Cidr),
    };
    if parsed.is_none() {
        let expected = match family {
            Family::Bool | Family::Null => "\"true\" or \"false\"",
            Family::Numeric => "a number such as 10 or 2.5",
            Family::Date => "an ISO 8601 date (2024-01-31T12:00:00Z) or epoch seconds",
            Family::Binary => "base64 text",
            Family::Ip => "an IPv4 or IPv6 address or CIDR block (203.0.113.0/24)",
            Family::String | Family::Arn => "text",
        };
        sink.error(v.pos, path, format!("{} value \"{text}\" does not read as {expected}", op.spec.name));
    }
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::diag::Severity;

    fn errors(text: &str) -> Vec<String> {
        match parse_policy(text, "p.json", PolicyKind::Any) {
            Ok(_) => vec![],
            Err(Error::Invalid(d)) => {
                d.iter().filter(|d| d.severity == Severity::Error).map(|d| d.to_string()).collect()
            }
            Err(e) => vec![e.to_string()],
        }
    }

    fn stmt(body: &str) -> String {
        format!(
            r#"{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*", {body}}}]}}"#
        )
    }

    #[test]
    fn single_statement_object_and_lists() {
        let p = parse_policy(r#"{"Statement": {"Effect": "Deny", "NotAction": ["kms:Decrypt", "kms:Encrypt"], "NotResource": "arn:aws:kms:*:*:key/*"}}"#, "p", PolicyKind::Any).unwrap();
        assert_eq!(p.statements.len(), 1);
        assert!(p.statements[0].action.negated && p.statements[0].resource.as_ref().unwrap().negated);
    }

    #[test]
    fn errors_carry_line_column_and_path() {
        let e = errors("{\"Statement\": [\n {\"Effect\": \"Allow\", \"Action\": \"kms:Decrypt\", \"Resource\": \"*\"},\n {\"Effect\": \"allow\", \"Action\": \"kms:Decrypt\", \"Resource\": \"*\"}]}");
        assert_eq!(
            e,
            vec!["p.json:3:13: error: at Statement[1].Effect: expected \"Allow\" or \"Deny\", found \"allow\""]
        );
    }

    #[test]
    fn what_aws_rejects_is_an_error() {
        let cases = [
            (stmt(r#""Condition": {"StringEqual": {"kms:ViaService": "x"}}"#), "unknown condition operator"),
            (stmt(r#""NotAction": "kms:Encrypt""#), "both \"Action\" and \"NotAction\""),
            (stmt(r#""Principal": {"AWS": "arn:aws:iam::12345:root"}"#), "malformed principal ARN"),
            (stmt(r#""Principal": {"AWS": "arn:aws:iam::*:role/x"}"#), "malformed principal ARN"),
            (stmt(r#""Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/33"}}"#), "does not read as an IPv4"),
            (
                stmt(r#""Condition": {"NumericLessThan": {"kms:ScheduleKeyDeletionPendingWindowInDays": "ten"}}"#),
                "does not read as a number",
            ),
            (stmt(r#""Condition": {"DateGreaterThan": {"aws:CurrentTime": "tomorrow"}}"#), "ISO 8601"),
            (stmt(r#""Condition": {"Bool": {"aws:SecureTransport": "yes"}}"#), "\"true\" or \"false\""),
            (stmt(r#""Condition": {"StringEquals": {"kms:ViaService": []}}"#), "empty list"),
            (
                stmt(r#""Condition": {"StringEquals": {"kms:ViaService": {"a": 1}}}"#),
                "expected a string, number or boolean",
            ),
            (stmt(r#""Effect2": "Allow""#), "unknown statement element"),
            (r#"{"Statement": []}"#.to_string(), "empty statement list"),
            (
                r#"{"Version": "2020-01-01", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}"#
                    .to_string(),
                "unsupported Version",
            ),
            (r#"{"Statement": {"Effect": "Allow", "Resource": "*"}}"#.to_string(), "missing \"Action\""),
            (
                r#"{"Statement": {"Effect": "Allow", "Action": "Decrypt", "Resource": "*"}}"#.to_string(),
                "malformed action",
            ),
            (r#"[1, 2]"#.to_string(), "expected a policy document"),
        ];
        for (text, want) in cases {
            let e = errors(&text);
            assert!(e.iter().any(|m| m.contains(want)), "{text}\n  wanted {want:?}\n  got {e:?}");
        }
    }

    #[test]
    fn cli_wrappers_are_unwrapped() {
        let inner = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}"#;
        let kms = format!(r#"{{"Policy": {}, "PolicyName": "default"}}"#, serde_json::to_string(inner).unwrap());
        assert_eq!(parse_policy(&kms, "k", PolicyKind::KeyPolicy).unwrap().statements.len(), 1);
        let encoded: String = inner
            .bytes()
            .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
            .collect();
        let iam = format!(r#"{{"PolicyVersion": {{"Document": "{encoded}", "VersionId": "v1"}}}}"#);
        assert_eq!(parse_policy(&iam, "i", PolicyKind::Any).unwrap().statements.len(), 1);
        let e = errors(r#"{"Policy": "{\"Statement\": 5}"}"#);
        assert!(e[0].contains("embedded Policy"), "{e:?}");
    }

    #[test]
    fn principals_are_classified() {
        let p = parse_policy(&stmt(r#""Principal": {"AWS": ["111122223333", "arn:aws:iam::444455556666:root", "arn:aws:iam::111122223333:role/path/App", "arn:aws:sts::111122223333:assumed-role/App/s1"], "Service": "ec2.amazonaws.com"}"#), "p", PolicyKind::Any).unwrap();
        let e = &p.statements[0].principal.as_ref().unwrap().entries;
        assert_eq!(e[0], PrincipalEntry::Account("111122223333".into()));
        assert_eq!(e[1], PrincipalEntry::Account("444455556666".into()));
        assert!(matches!(&e[2], PrincipalEntry::Role { name, .. } if name == "App"));
        assert!(matches!(&e[3], PrincipalEntry::Exact(_)));
        assert_eq!(e[4], PrincipalEntry::Service("ec2.amazonaws.com".into()));
    }
}
