//! KMS authorization facts that the SAR data does not carry, as tables with sources.

/// Actions a principal of another account can be allowed to perform on a key; any other
/// action granted across accounts has no effect ([KMSX] in `semantics.md` §4.2).
pub const CROSS_ACCOUNT_ACTIONS: &[&str] = &[
    "Decrypt",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateMac",
    "VerifyMac",
    "ReEncryptFrom",
    "ReEncryptTo",
    "Sign",
    "Verify",
    "DeriveSharedSecret",
    "CreateGrant",
    "DescribeKey",
    "GetKeyRotationStatus",
    "GetPublicKey",
    "ListGrants",
    "RetireGrant",
    "RevokeGrant",
];

/// Operations a grant can allow ([GRANTS]; DeriveSharedSecret per the current API docs).
pub const GRANT_OPERATIONS: &[&str] = &[
    "Decrypt",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateMac",
    "ReEncryptFrom",
    "ReEncryptTo",
    "Sign",
    "Verify",
    "VerifyMac",
    "CreateGrant",
    "DescribeKey",
    "GetPublicKey",
    "RetireGrant",
    "DeriveSharedSecret",
];

/// Grant operations on which encryption-context constraints are not checked ([GRANTS]).
pub const GRANT_OPS_IGNORING_CONSTRAINTS: &[&str] = &["DescribeKey", "RetireGrant", "GetPublicKey"];

pub fn is_cross_account_action(action: &str) -> bool {
    CROSS_ACCOUNT_ACTIONS.iter().any(|a| a.eq_ignore_ascii_case(action))
}

/// Keys the SAR data lists for an action but the KMS Developer Guide says never exist
/// for it: "kms:CallerAccount / kms:ViaService exist for all AWS KMS operations except
/// CreateKey, GenerateRandom, ListAliases, ListKeys, ListRetirableGrants, RetireGrant"
/// ([KMSCOND], conditions-kms.html). Where the two AWS sources disagree, the guide that
/// describes the runtime behaviour wins.
pub const KEYS_NEVER_PRESENT: &[(&str, &[&str])] = &[
    (
        "kms:CallerAccount",
        &["CreateKey", "GenerateRandom", "ListAliases", "ListKeys", "ListRetirableGrants", "RetireGrant"],
    ),
    (
        "kms:ViaService",
        &["CreateKey", "GenerateRandom", "ListAliases", "ListKeys", "ListRetirableGrants", "RetireGrant"],
    ),
];

/// The AWS partitions a real principal ARN can name.
pub const PARTITIONS: &[&str] =
    &["aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f", "aws-eusc"];

/// Service endpoint prefixes used to make readable `kms:ViaService` witnesses.
pub const VIA_SERVICE_EXAMPLES: &[&str] = &["ec2", "rds", "s3", "lambda", "dynamodb", "secretsmanager", "sqs", "sns"];
