//! KMS authorization facts that the SAR data does not carry, as tables with sources.

/// Actions a principal of another account can be allowed to perform on a key; any other
/// action granted across accounts has no effect ([KMSX] in `semantics.md` §4.2).
/// The actions a reviewer fears most, first first: a finding whose question allows several
/// actions leads with the first of these that is allowed (reading data, then handing out
/// access, then taking the key over), not with whatever the solver picks.
pub const FEARED_ACTIONS: &[&str] = &[
    "kms:Decrypt",
    "kms:CreateGrant",
    "kms:PutKeyPolicy",
    "kms:ScheduleKeyDeletion",
    "kms:DisableKey",
    "kms:ReEncryptFrom",
    "kms:GenerateDataKey",
    "kms:Encrypt",
    "kms:Sign",
];

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

/// Condition keys always present for these actions, because they come from a required
/// request parameter: CreateGrant's `Operations` is required (CreateGrant API reference),
/// so `kms:GrantOperations` is never missing for it.
pub const KEYS_ALWAYS_PRESENT: &[(&str, &[&str])] = &[("kms:GrantOperations", &["CreateGrant"])];

/// The AWS partitions a real principal ARN can name.
pub const PARTITIONS: &[&str] =
    &["aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f", "aws-eusc"];

/// Service endpoint prefixes used to make readable `kms:ViaService` witnesses.
pub const VIA_SERVICE_EXAMPLES: &[&str] = &["ec2", "rds", "s3", "lambda", "dynamodb", "secretsmanager", "sqs", "sns"];

/// Grant operations every KMS key supports, whatever its key spec ([GRANTS]).
pub const GRANT_OPERATIONS_ANY_KEY: &[&str] = &["CreateGrant", "DescribeKey", "RetireGrant"];

/// The key spec CreateKey uses when none is given (and `audit --key-spec`'s default).
pub const DEFAULT_KEY_SPEC: &str = "SYMMETRIC_DEFAULT";

/// One key usage of some key specs and the grant operations a key with it supports.
pub struct KeyUse {
    pub usage: &'static str,
    pub specs: &'static [&'static str],
    pub operations: &'static [&'static str],
}

/// Key spec × key usage → supported grant operations, from the KMS Developer Guide's key
/// spec reference (symm-asymm-choose-key-spec.html) and the CreateKey `KeyUsage` values:
/// symmetric encryption keys encrypt and make data keys; RSA and SM2 pairs encrypt (no data
/// keys) or sign; NIST curves and SM2 sign or agree keys; secp256k1, Ed25519 and ML-DSA only
/// sign; HMAC keys make and verify MACs. CreateGrant fails with a ValidationException for an
/// operation the key does not support (CreateGrant API reference), so a grant for it can
/// never exist on the key.
pub const KEY_USES: &[KeyUse] = &[
    KeyUse {
        usage: "ENCRYPT_DECRYPT",
        specs: &["SYMMETRIC_DEFAULT"],
        operations: &[
            "Encrypt",
            "Decrypt",
            "ReEncryptFrom",
            "ReEncryptTo",
            "GenerateDataKey",
            "GenerateDataKeyWithoutPlaintext",
            "GenerateDataKeyPair",
            "GenerateDataKeyPairWithoutPlaintext",
        ],
    },
    KeyUse {
        usage: "ENCRYPT_DECRYPT",
        specs: &["RSA_2048", "RSA_3072", "RSA_4096", "SM2"],
        operations: &["Encrypt", "Decrypt", "ReEncryptFrom", "ReEncryptTo", "GetPublicKey"],
    },
    KeyUse {
        usage: "SIGN_VERIFY",
        specs: &[
            "RSA_2048",
            "RSA_3072",
            "RSA_4096",
            "ECC_NIST_P256",
            "ECC_NIST_P384",
            "ECC_NIST_P521",
            "ECC_SECG_P256K1",
            "ECC_NIST_EDWARDS25519",
            "ML_DSA_44",
            "ML_DSA_65",
            "ML_DSA_87",
            "SM2",
        ],
        operations: &["Sign", "Verify", "GetPublicKey"],
    },
    KeyUse {
        usage: "KEY_AGREEMENT",
        specs: &["ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "SM2"],
        operations: &["DeriveSharedSecret", "GetPublicKey"],
    },
    KeyUse {
        usage: "GENERATE_VERIFY_MAC",
        specs: &["HMAC_224", "HMAC_256", "HMAC_384", "HMAC_512"],
        operations: &["GenerateMac", "VerifyMac"],
    },
];

/// The rows of [`KEY_USES`] under which `action` works; `None` when it works on every key
/// (administration, metadata, grants), whatever its spec and usage.
pub fn uses_for_action(action: &str) -> Option<Vec<&'static KeyUse>> {
    let rows: Vec<&KeyUse> = KEY_USES.iter().filter(|u| u.operations.contains(&action)).collect();
    (!rows.is_empty()).then_some(rows)
}

/// Every key usage [`KEY_USES`] knows.
pub fn key_usages() -> Vec<&'static str> {
    let mut v: Vec<&str> = KEY_USES.iter().map(|u| u.usage).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// The origins of key material (CreateKey `Origin`, `kms:KeyOrigin`).
pub const KEY_ORIGINS: &[&str] = &["AWS_KMS", "EXTERNAL", "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"];

/// Origins of keys in a custom key store: only symmetric encryption keys, never multi-Region
/// (KMS Developer Guide, custom key stores: "symmetric encryption KMS keys"; multi-Region keys
/// "cannot be created in a custom key store").
pub const CUSTOM_KEY_STORE_ORIGINS: &[&str] = &["AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"];

/// A multi-Region key's ID starts with `mrk-` (KMS Developer Guide, multi-Region keys:
/// "multi-Region key IDs begin with mrk-"); `kms:MultiRegion` is true exactly for them.
pub const MULTI_REGION_KEY_PREFIX: &str = "mrk-";

/// The values of `kms:MultiRegionKeyType` (only multi-Region keys have one).
pub const MULTI_REGION_KEY_TYPES: &[&str] = &["PRIMARY", "REPLICA"];

/// Condition keys that describe the key, not the request (the model's invariant
/// `key-facts`): one key has one value of each, consistent with its ARN and its spec.
pub const KEY_FACT_KEYS: &[&str] =
    &["kms:KeySpec", "kms:KeyUsage", "kms:KeyOrigin", "kms:MultiRegion", "kms:MultiRegionKeyType"];

/// Whether the key ARN names a multi-Region key.
pub fn is_multi_region_key(key_arn: &str) -> bool {
    key_arn.rsplit_once(":key/").is_some_and(|(_, id)| id.starts_with(MULTI_REGION_KEY_PREFIX))
}

/// Every key spec [`KEY_USES`] knows, sorted, for messages.
pub fn key_specs() -> Vec<&'static str> {
    let mut v: Vec<&str> = KEY_USES.iter().flat_map(|u| u.specs.iter().copied()).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// The grant operations a key of `spec` (and `usage`, when known) supports; `None` for a
/// spec the table does not know. Without a usage, every usage the spec allows counts (the
/// union: never fewer operations than the key may have).
pub fn grant_operations_for(spec: &str, usage: Option<&str>) -> Option<Vec<&'static str>> {
    let uses: Vec<&KeyUse> = KEY_USES.iter().filter(|u| u.specs.iter().any(|s| s.eq_ignore_ascii_case(spec))).collect();
    if uses.is_empty() {
        return None;
    }
    let chosen: Vec<&&KeyUse> = match usage {
        Some(k) if uses.iter().any(|u| u.usage.eq_ignore_ascii_case(k)) => {
            uses.iter().filter(|u| u.usage.eq_ignore_ascii_case(k)).collect()
        }
        _ => uses.iter().collect(),
    };
    let mut ops: Vec<&str> = GRANT_OPERATIONS_ANY_KEY.to_vec();
    ops.extend(chosen.iter().flat_map(|u| u.operations.iter().copied()));
    Some(GRANT_OPERATIONS.iter().copied().filter(|o| ops.contains(o)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symmetric_keys_support_no_signing_mac_or_agreement_grants() {
        let ops = grant_operations_for("SYMMETRIC_DEFAULT", None).unwrap();
        for no in ["Sign", "Verify", "GenerateMac", "VerifyMac", "GetPublicKey", "DeriveSharedSecret"] {
            assert!(!ops.contains(&no), "{no}");
        }
        assert!(ops.contains(&"Decrypt") && ops.contains(&"RetireGrant"));
        let hmac = grant_operations_for("hmac_256", None).unwrap();
        assert!(hmac.contains(&"GenerateMac") && !hmac.contains(&"Decrypt"));
        let rsa_sign = grant_operations_for("RSA_2048", Some("SIGN_VERIFY")).unwrap();
        assert!(rsa_sign.contains(&"Sign") && !rsa_sign.contains(&"Decrypt"));
        let rsa_any = grant_operations_for("RSA_2048", None).unwrap();
        assert!(rsa_any.contains(&"Sign") && rsa_any.contains(&"Decrypt") && !rsa_any.contains(&"GenerateDataKey"));
        assert!(grant_operations_for("AES_999", None).is_none());
        // Every operation of the table is a grant operation.
        for u in KEY_USES {
            assert!(u.operations.iter().all(|o| GRANT_OPERATIONS.contains(o)), "{}", u.usage);
        }
    }
}
