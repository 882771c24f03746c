//! One authorization context: everything that takes part in KMS's decision about a key.

use crate::base::arn::Arn;
use crate::base::pattern::Piece;
use crate::model::grant::Grant;
use crate::model::policy::{Policy, PolicyKind, PrincipalEntry};

/// Everything that takes part in a decision about one key.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub key_policy: Policy,
    pub identity: Vec<Policy>,
    /// One policy per level of the organization (root, OUs, account): each must allow.
    pub scps: Vec<Policy>,
    pub boundary: Option<Policy>,
    pub grants: Vec<Grant>,
    /// The organization's management account, whose principals SCPs do not limit; `None`:
    /// the caller's account is a member account (see `binding`).
    pub management_account: Option<String>,
}

impl Inputs {
    /// Every policy that takes part: the key policy, identity policies, SCPs, boundary.
    pub fn policies(&self) -> impl Iterator<Item = &Policy> + Clone {
        std::iter::once(&self.key_policy).chain(&self.identity).chain(&self.scps).chain(&self.boundary)
    }
}

impl Inputs {
    /// The key a key policy is about, when the caller does not name it: in the account
    /// [`key_policy_account`] reads off the key policy, with a placeholder key ID.
    pub fn default_key_arn(&self) -> Option<String> {
        key_policy_account(&self.key_policy).map(|account| placeholder_key_arn(&account))
    }
}

/// The account of the key a policy is about, when nothing names the key: the one place
/// `check` (through [`Inputs::default_key_arn`]) and `audit` guess it.
///
/// - A key policy: [`key_policy_account`].
/// - Any other (identity) policy: the account of the first literal KMS key ARN in its
///   `Resource`, so resource-scoped statements apply to the key under analysis.
///
/// `None` when the policy names no account.
pub fn key_account(policy: &Policy) -> Option<String> {
    match policy.kind {
        PolicyKind::KeyPolicy => key_policy_account(policy),
        _ => first_kms_key_account(policy),
    }
}

/// The account a key policy's principals name most often (the key's own admins and users
/// usually outnumber external accounts; the first named wins a tie).
pub fn key_policy_account(key_policy: &Policy) -> Option<String> {
    let mut counts: Vec<(String, usize)> = Vec::new();
    let entries = key_policy
        .statements
        .iter()
        .filter_map(|s| s.principal.as_ref())
        .filter(|p| !p.negated)
        .flat_map(|p| p.entries.iter());
    for e in entries {
        let account = match e {
            PrincipalEntry::Account(a) | PrincipalEntry::Role { account: a, .. } => a.clone(),
            PrincipalEntry::Exact(arn) => match crate::base::arn::account_of(arn) {
                Some(a) => a.to_string(),
                None => continue,
            },
            _ => continue,
        };
        match counts.iter_mut().find(|(a, _)| *a == account) {
            Some((_, n)) => *n += 1,
            None => counts.push((account, 1)),
        }
    }
    let best = counts.iter().map(|(_, n)| *n).max()?;
    counts.into_iter().find(|(_, n)| *n == best).map(|(account, _)| account)
}

/// The account of the first literal (wildcard-free) KMS key ARN a policy's `Resource` names.
fn first_kms_key_account(policy: &Policy) -> Option<String> {
    policy.statements.iter().filter_map(|s| s.resource.as_ref()).flat_map(|r| r.patterns.iter()).find_map(|p| {
        match p.as_slice() {
            [Piece::Text(t)] => Arn::parse(t)
                .filter(|a| a.service == "kms" && crate::base::arn::is_account_id(a.account))
                .map(|a| a.account.to_string()),
            _ => None,
        }
    })
}

/// The ARN of a key in `account` whose ARN is derived rather than given.
pub fn placeholder_key_arn(account: &str) -> String {
    format!("arn:aws:kms:us-east-1:{account}:key/{PLACEHOLDER_KEY_ID}")
}

/// The account of a key whose policy names none (all its principals `*`) and whose ARN is
/// not given: a placeholder, said wherever it is used (`audit`, `check`, `diff`).
pub const PLACEHOLDER_ACCOUNT: &str = "111122223333";

/// The key ID of a key whose ARN is derived rather than given.
pub const PLACEHOLDER_KEY_ID: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";
