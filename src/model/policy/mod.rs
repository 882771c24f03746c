//! The policy model: what a policy document says, with where each part came from.

pub mod operator;
mod parse;
mod validate;

pub use parse::{parse_policy, read_property_principals, read_statement, unwrap_document};

use crate::base::diag::Diagnostic;
use crate::base::json::Pos;
use crate::base::pattern::Piece;
use crate::base::value::{Cidr, Decimal, Instant};
use operator::Operator;
use std::sync::Arc;

/// The role a policy plays in an authorization decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    KeyPolicy,
    Identity,
    Scp,
    Boundary,
    /// Parsed without a role (e.g. corpus scans): no role-specific checks.
    Any,
}

impl PolicyKind {
    pub fn label(self) -> &'static str {
        match self {
            PolicyKind::KeyPolicy => "key-policy",
            PolicyKind::Identity => "identity-policy",
            PolicyKind::Scp => "scp",
            PolicyKind::Boundary => "permissions-boundary",
            PolicyKind::Any => "policy",
        }
    }
}

/// A parsed policy document.
#[derive(Debug, Clone)]
pub struct Policy {
    /// File name (or `<stdin>`) for explanations.
    pub source: Arc<str>,
    pub kind: PolicyKind,
    pub version: Option<String>,
    pub id: Option<String>,
    pub statements: Vec<Statement>,
    /// Warnings found while reading (errors make parsing fail).
    pub warnings: Vec<Diagnostic>,
}

impl Policy {
    /// Policy variables are substituted only under `Version: 2012-10-17` ([VARS]).
    pub fn substitutes_variables(&self) -> bool {
        self.version.as_deref() == Some("2012-10-17")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// A statement of a policy.
#[derive(Debug, Clone)]
pub struct Statement {
    /// Position in the `Statement` list (0 for a lone statement object).
    pub index: usize,
    pub sid: Option<String>,
    pub effect: Effect,
    /// `None`: no `Principal`/`NotPrincipal` (identity policies).
    pub principal: Option<Principals>,
    pub action: Matcher,
    /// `None`: no `Resource`/`NotResource` (a key-policy statement without it applies to nothing).
    pub resource: Option<Matcher>,
    pub conditions: Vec<Condition>,
    pub pos: Pos,
    /// Where each `Action`/`NotAction` pattern was written, for diagnostics on it.
    pub action_pos: Vec<Pos>,
}

impl Statement {
    /// `Sid` if it has one, else `Statement[i]`, for explanations.
    pub fn label(&self) -> String {
        match &self.sid {
            Some(s) if !s.is_empty() => format!("\"{s}\""),
            _ => format!("Statement[{}]", self.index),
        }
    }
}

/// `Action`/`NotAction` or `Resource`/`NotResource`: patterns, possibly negated.
#[derive(Debug, Clone)]
pub struct Matcher {
    pub negated: bool,
    /// Each pattern split into text and policy variables.
    pub patterns: Vec<Vec<Piece>>,
}

/// `Principal`/`NotPrincipal`.
#[derive(Debug, Clone)]
pub struct Principals {
    pub negated: bool,
    pub entries: Vec<PrincipalEntry>,
}

/// One principal named in a policy, already classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalEntry {
    /// `"*"` or `{"AWS": "*"}`: everyone, including anonymous callers.
    Everyone,
    /// `"111122223333"` or `arn:aws:iam::111122223333:root`: the account, which in a
    /// KMS key policy delegates to the account's IAM policies.
    Account(String),
    /// An IAM role; its sessions (`assumed-role/NAME/...`) match too.
    Role { arn: String, account: String, name: String },
    /// An IAM user, an assumed-role session or a federated user: exact ARN.
    Exact(String),
    /// `{"Service": "ec2.amazonaws.com"}`.
    Service(String),
    /// `Federated`, `CanonicalUser` or a unique ID: never a KMS caller here.
    Other(String),
    /// An ARN pattern with `*`/`?`, in property shapes only (AWS rejects partial wildcards
    /// in a policy's `Principal`): the callers whose `aws:PrincipalArn` matches it as
    /// `ArnLike` does, so a role pattern covers the role's sessions.
    Pattern(String),
}

/// One key under one operator, e.g. `StringEquals: {"kms:ViaService": [...]}`.
#[derive(Debug, Clone)]
pub struct Condition {
    pub op: Operator,
    /// The key as written (matching is case-insensitive).
    pub key: String,
    pub values: Vec<CondValue>,
    pub pos: Pos,
    /// JSON path, e.g. `Statement[0].Condition.StringEquals.kms:ViaService`.
    pub path: String,
}

/// A policy-side condition value, read into the operator's type when the policy is parsed.
#[derive(Debug, Clone, PartialEq)]
pub enum CondValue {
    /// String, ARN and Bool operators may hold policy variables.
    Text(Vec<Piece>),
    Number(Decimal),
    Date(Instant),
    Bool(bool),
    Binary(Vec<u8>),
    Cidr(Cidr),
    /// `Null`: `true` requires the key to be absent.
    Null(bool),
}
