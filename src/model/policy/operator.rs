//! Condition operators as a table: name → value family, comparison, negation.

use crate::facts::catalog::KeyType;

/// What kind of values an operator compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    String,
    Numeric,
    Date,
    Bool,
    Binary,
    Ip,
    Arn,
    Null,
}

/// The comparison one request value undergoes against one policy value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Equals,
    EqualsIgnoreCase,
    Like,
    LessThan,
    LessThanEquals,
    GreaterThan,
    GreaterThanEquals,
    InCidr,
    /// `Null`: compares presence, not values.
    IsNull,
}

/// One row of the operator table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpSpec {
    pub name: &'static str,
    pub family: Family,
    pub cmp: Cmp,
    /// Negated operators NOR their value list and are true on a missing key.
    pub negated: bool,
}

const fn op(name: &'static str, family: Family, cmp: Cmp, negated: bool) -> OpSpec {
    OpSpec { name, family, cmp, negated }
}

use Cmp::*;
use Family as F;

/// Every base operator IAM defines ([OPS] in `semantics.md`).
pub const OPERATORS: &[OpSpec] = &[
    op("StringEquals", F::String, Equals, false),
    op("StringNotEquals", F::String, Equals, true),
    op("StringEqualsIgnoreCase", F::String, EqualsIgnoreCase, false),
    op("StringNotEqualsIgnoreCase", F::String, EqualsIgnoreCase, true),
    op("StringLike", F::String, Like, false),
    op("StringNotLike", F::String, Like, true),
    op("NumericEquals", F::Numeric, Equals, false),
    op("NumericNotEquals", F::Numeric, Equals, true),
    op("NumericLessThan", F::Numeric, LessThan, false),
    op("NumericLessThanEquals", F::Numeric, LessThanEquals, false),
    op("NumericGreaterThan", F::Numeric, GreaterThan, false),
    op("NumericGreaterThanEquals", F::Numeric, GreaterThanEquals, false),
    op("DateEquals", F::Date, Equals, false),
    op("DateNotEquals", F::Date, Equals, true),
    op("DateLessThan", F::Date, LessThan, false),
    op("DateLessThanEquals", F::Date, LessThanEquals, false),
    op("DateGreaterThan", F::Date, GreaterThan, false),
    op("DateGreaterThanEquals", F::Date, GreaterThanEquals, false),
    op("Bool", F::Bool, Equals, false),
    op("BinaryEquals", F::Binary, Equals, false),
    op("IpAddress", F::Ip, InCidr, false),
    op("NotIpAddress", F::Ip, InCidr, true),
    op("ArnEquals", F::Arn, Like, false),
    op("ArnLike", F::Arn, Like, false),
    op("ArnNotEquals", F::Arn, Like, true),
    op("ArnNotLike", F::Arn, Like, true),
    op("Null", F::Null, IsNull, false),
];

/// `ForAllValues:` / `ForAnyValue:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetQualifier {
    ForAllValues,
    ForAnyValue,
}

/// A full operator as written: optional set qualifier, base operator, optional `IfExists`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operator {
    pub set: Option<SetQualifier>,
    pub spec: OpSpec,
    pub if_exists: bool,
}

/// Why a condition operator is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OperatorError {
    #[error("unknown condition operator \"{text}\" (expected one of {}, optionally with ForAllValues:/ForAnyValue: and IfExists){}", names(), .nearest.as_ref().map(|n| format!("; did you mean {n}?")).unwrap_or_default())]
    Unknown { text: String, nearest: Option<String> },
    #[error("\"NullIfExists\" does not exist: Null already tests presence")]
    NullIfExists,
}

/// The operator nearest a misspelt one, with and without `IfExists` (`BoolIfExist` →
/// `BoolIfExists`), keeping its set qualifier.
fn nearest_operator(text: &str) -> Option<String> {
    let (_, rest) = split_prefix(text);
    let prefix = &text[..text.len() - rest.len()];
    let names: Vec<String> = OPERATORS
        .iter()
        .flat_map(|o| [o.name.to_string(), format!("{}IfExists", o.name)])
        .filter(|n| n != "NullIfExists")
        .collect();
    crate::base::suggest::nearest(rest, names.iter().map(String::as_str)).map(|n| format!("{prefix}{n}"))
}

impl Operator {
    /// Reads an operator name. Names are matched case-insensitively (the result says
    /// whether the case differed, for a warning); `Err` explains what is wrong.
    pub fn parse(text: &str) -> Result<(Operator, bool), OperatorError> {
        let (set, rest) = split_prefix(text);
        let (base, if_exists) = match rest.len().checked_sub(8).filter(|&i| rest.is_char_boundary(i)) {
            Some(i) if rest[i..].eq_ignore_ascii_case("IfExists") => (&rest[..i], true),
            _ => (rest, false),
        };
        let spec = OPERATORS
            .iter()
            .find(|o| o.name.eq_ignore_ascii_case(base))
            .ok_or_else(|| OperatorError::Unknown { text: text.to_string(), nearest: nearest_operator(text) })?;
        if spec.family == Family::Null && if_exists {
            return Err(OperatorError::NullIfExists);
        }
        let op = Operator { set, spec: *spec, if_exists };
        Ok((op, op.canonical() != text))
    }

    /// The canonical spelling, e.g. `ForAnyValue:StringLikeIfExists`.
    pub fn canonical(&self) -> String {
        let set = match self.set {
            Some(SetQualifier::ForAllValues) => "ForAllValues:",
            Some(SetQualifier::ForAnyValue) => "ForAnyValue:",
            None => "",
        };
        format!("{set}{}{}", self.spec.name, if self.if_exists { "IfExists" } else { "" })
    }

    /// Whether a key of type `ty` is meant for this operator (`Null` works on every key;
    /// ARN keys also take String operators, [GKEYS]; ARN operators work on String keys
    /// whose values are ARNs, as AWS managed policies do with `kms:EncryptionContext:aws:s3:arn`).
    pub fn fits(&self, ty: KeyType) -> bool {
        match self.spec.family {
            F::Null => true,
            F::String => matches!(ty, KeyType::String | KeyType::Arn),
            F::Arn => matches!(ty, KeyType::Arn | KeyType::String),
            F::Numeric => ty == KeyType::Numeric,
            F::Date => ty == KeyType::Date,
            F::Bool => ty == KeyType::Bool,
            F::Binary => ty == KeyType::Binary,
            F::Ip => ty == KeyType::Ip,
        }
    }
}

fn split_prefix(text: &str) -> (Option<SetQualifier>, &str) {
    for (prefix, q) in [("ForAllValues:", SetQualifier::ForAllValues), ("ForAnyValue:", SetQualifier::ForAnyValue)] {
        if text.len() >= prefix.len()
            && text.is_char_boundary(prefix.len())
            && text[..prefix.len()].eq_ignore_ascii_case(prefix)
        {
            return (Some(q), &text[prefix.len()..]);
        }
    }
    (None, text)
}

fn names() -> String {
    OPERATORS.iter().map(|o| o.name).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prefixes_and_suffixes() {
        let (op, odd_case) = Operator::parse("ForAnyValue:StringNotLikeIfExists").unwrap();
        assert_eq!(op.set, Some(SetQualifier::ForAnyValue));
        assert!(op.if_exists && op.spec.negated && op.spec.cmp == Cmp::Like && !odd_case);
        assert!(Operator::parse("stringequals").unwrap().1);
    }

    #[test]
    fn rejects_unknown_and_null_if_exists() {
        assert!(Operator::parse("StringEqual").unwrap_err().to_string().contains("unknown condition operator"));
        assert!(Operator::parse("StringEqualz").unwrap_err().to_string().ends_with("; did you mean StringEquals?"));
        assert!(Operator::parse("NullIfExists").is_err());
        for (typo, fix) in [("BoolIfExist", "BoolIfExists"), ("StringEqualsIfExist", "StringEqualsIfExists")] {
            let e = Operator::parse(typo).unwrap_err().to_string();
            assert!(e.contains(&format!("did you mean {fix}?")), "{e}");
        }
        assert!(Operator::parse("ForSomeValues:StringEquals").is_err());
        assert!(Operator::parse("").is_err());
        assert!(Operator::parse("éIfExists").is_err());
    }
}
