//! A policy document found in an input file, and what the input says about its key: the
//! unit [`super::discover`] finds and [`super::audit_document`] audits.

use crate::base::json::Pos;

/// One policy document found in an input file.
#[derive(Debug, Clone)]
pub struct Document {
    /// The file as given on the command line (or `<stdin>`).
    pub file: String,
    /// Logical id, resource address or JSON path inside the file (empty: the whole file).
    pub location: String,
    /// Where the document starts in the file (line 0: unknown, e.g. YAML).
    pub pos: Pos,
    pub body: Body,
    /// The key's spec and usage when the input says (CloudFormation `KeySpec`/`KeyUsage`,
    /// terraform `customer_master_key_spec`/`key_spec`/`key_usage`); `audit --key-spec`
    /// fills the spec of the others.
    pub key: KeyProps,
    /// What reading the document assumed (a template's free values, the branch taken at
    /// an unknown `Fn::If`, a plan's values known after apply): every finding says it.
    pub assumed: Vec<String>,
}

/// What the input says about the key a policy belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyProps {
    pub spec: Option<String>,
    pub usage: Option<String>,
    /// The key's ARN when the input gives it (a `"KeyArn"` or `"KeyMetadata.Arn"` member
    /// beside `"Policy"`, terraform state's `arn` of `aws_kms_key` / `aws_kms_replica_key`
    /// or an ARN `key_id` of `aws_kms_key_policy`); `audit --key-arn` fills the others.
    /// Without one the audit's key is a placeholder of the policy's account.
    pub arn: Option<String>,
}

#[derive(Debug, Clone)]
pub enum Body {
    /// Policy text for `parse_policy`, and the source name its diagnostics carry. When
    /// `exact` is true, positions in the text are positions in the file.
    Policy { text: String, label: String, exact: bool },
    /// The file, or this part of it, cannot be audited: the message says why and where.
    Error(String),
    /// Valid JSON/YAML holding no policy (e.g. an index file): listed, not a finding.
    Skipped(String),
    /// A policy whose whole text is decided later (a terraform plan's value known after
    /// apply): every check is undecided, never clean; the message says why and where.
    Free(String),
}
