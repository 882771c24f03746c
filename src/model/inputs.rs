//! One authorization context: everything that takes part in KMS's decision about a key.

use crate::model::grant::Grant;
use crate::model::policy::{Policy, PrincipalEntry};

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
    /// The key a key policy is about, when the caller does not name it: in the account its
    /// principals name most often (the key's own admins and users usually outnumber external
    /// accounts; the first named wins a tie), with a placeholder key ID.
    pub fn default_key_arn(&self) -> Option<String> {
        let mut counts: Vec<(String, usize)> = Vec::new();
        let entries = self
            .key_policy
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
        let (account, _) = counts.into_iter().find(|(_, n)| *n == best)?;
        Some(format!("arn:aws:kms:us-east-1:{account}:key/{PLACEHOLDER_KEY_ID}"))
    }
}

/// The key ID of a key whose ARN is derived rather than given.
pub const PLACEHOLDER_KEY_ID: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";
