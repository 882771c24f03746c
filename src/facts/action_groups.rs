//! KMS actions on a key, grouped as a reviewer reads a key policy: who can *use* the key,
//! who can hand it on (*grants*), who *administers* it, who can *read its metadata* and who
//! can *delete* it. The groups follow the KMS Developer Guide's default key policy
//! ("Allows key administrators to administer the KMS key", "Allows key users to use the
//! KMS key", "Allows key users to use the KMS key with AWS services") and its key-deletion
//! page; `findings` cuts the request space by them, so every on-key action of the catalog
//! is in exactly one group (a test says so) and an action the table forgets still lands in
//! `findings`' catch-all cell, never nowhere.

/// One group of actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionGroup {
    /// Stable identifier (JSON, SARIF rule IDs).
    pub id: &'static str,
    /// How a reviewer names it.
    pub label: &'static str,
    /// KMS action names, without the `kms:` prefix.
    pub actions: &'static [&'static str],
}

/// The groups, in reading order.
pub const ACTION_GROUPS: &[ActionGroup] = &[
    ActionGroup {
        id: "use",
        label: "use (cryptographic operations)",
        actions: &[
            "Encrypt",
            "Decrypt",
            "ReEncryptFrom",
            "ReEncryptTo",
            "GenerateDataKey",
            "GenerateDataKeyWithoutPlaintext",
            "GenerateDataKeyPair",
            "GenerateDataKeyPairWithoutPlaintext",
            "Sign",
            "Verify",
            "GenerateMac",
            "VerifyMac",
            "DeriveSharedSecret",
            "GetPublicKey",
        ],
    },
    ActionGroup {
        id: "grants",
        label: "grants",
        actions: &["CreateGrant", "ListGrants", "RevokeGrant", "RetireGrant"],
    },
    ActionGroup {
        id: "administration",
        label: "administration",
        actions: &[
            "PutKeyPolicy",
            "EnableKey",
            "DisableKey",
            "EnableKeyRotation",
            "DisableKeyRotation",
            "RotateKeyOnDemand",
            "TagResource",
            "UntagResource",
            "UpdateKeyDescription",
            "CreateAlias",
            "UpdateAlias",
            "DeleteAlias",
            "ImportKeyMaterial",
            "GetParametersForImport",
            "ReplicateKey",
            "UpdatePrimaryRegion",
            "SynchronizeMultiRegionKey",
        ],
    },
    ActionGroup {
        id: "read-only",
        label: "read-only metadata",
        actions: &[
            "DescribeKey",
            "GetKeyPolicy",
            "GetKeyRotationStatus",
            "ListKeyPolicies",
            "ListKeyRotations",
            "ListResourceTags",
            "GetKeyLastUsage",
        ],
    },
    ActionGroup {
        id: "deletion",
        label: "deletion",
        actions: &["ScheduleKeyDeletion", "CancelKeyDeletion", "DeleteImportedKeyMaterial"],
    },
];

/// The group of a KMS action (any case, without prefix); `None` for actions the table
/// does not list.
pub fn group_of(action: &str) -> Option<&'static ActionGroup> {
    ACTION_GROUPS.iter().find(|g| g.actions.iter().any(|a| a.eq_ignore_ascii_case(action)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_on_key_action_is_in_exactly_one_group() {
        let catalog = crate::facts::catalog::catalog();
        for a in catalog.kms_actions().filter(|a| a.on_key) {
            let n = ACTION_GROUPS.iter().filter(|g| g.actions.iter().any(|x| x.eq_ignore_ascii_case(&a.name))).count();
            assert_eq!(n, 1, "kms:{} is in {n} groups", a.name);
        }
        for g in ACTION_GROUPS {
            for a in g.actions {
                assert!(catalog.kms_action(a).is_some_and(|i| i.on_key), "kms:{a} is not an on-key action");
            }
        }
    }
}
