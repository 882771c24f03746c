//! One authorization context: everything that takes part in KMS's decision about a key.

use crate::base::arn::Arn;
use crate::base::pattern::Piece;
use crate::model::grant::Grant;
use crate::model::policy::{Policy, PolicyKind, PrincipalEntry};
use crate::model::request::Request;
use std::borrow::Cow;

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

/// The path of each role the inputs name by ARN, by `(account, role name)`: `Some(path)`
/// (`team/`, or empty for `/`), or `None` when two inputs name the role at different paths.
pub type RolePaths = std::collections::BTreeMap<(String, String), Option<String>>;

impl Inputs {
    /// Where the inputs say each role is: every role ARN a policy principal (`Principal`,
    /// `NotPrincipal`) or a grant (grantee, retiring principal) names. A role's name is
    /// unique in its account whatever its path (IAM CreateRole: "IAM user, group, role, and
    /// policy names must be unique within the account") and KMS stores a policy's or
    /// grant's role principal only while that role exists, so a role ARN with a path in the
    /// inputs says where the role of that name is.
    pub fn role_paths(&self) -> RolePaths {
        let entries = self.policies().flat_map(|p| &p.statements).filter_map(|s| s.principal.as_ref());
        let roles = entries.flat_map(|p| &p.entries).filter_map(|e| match e {
            PrincipalEntry::Role { arn, .. } => Some(arn.as_str()),
            _ => None,
        });
        let grants = self.grants.iter().flat_map(|g| std::iter::once(g.grantee.as_str()).chain(g.retiring.as_deref()));
        role_paths_of(roles.chain(grants))
    }

    /// `req` with its caller's role path filled in from [`Inputs::role_paths`] when the
    /// request did not say it (a session ARN without `aws:PrincipalArn`; `/` when no input
    /// names the role, or two name it at different paths), and `aws:PrincipalArn` derived
    /// with it: the one place a session's role path is
    /// derived, read by the evaluator (and by tests that pin a request on the encoder).
    pub fn resolve<'a>(&self, req: &'a Request) -> Cow<'a, Request> {
        if req.caller.pathless_role().is_none() {
            return Cow::Borrowed(req); // the common case: nothing to derive
        }
        resolve_role_path(&self.role_paths(), req)
    }
}

/// The paths of the role ARNs among `arns` (other principals are skipped), as
/// [`Inputs::role_paths`] reads them.
pub fn role_paths_of<'a>(arns: impl IntoIterator<Item = &'a str>) -> RolePaths {
    use crate::model::request::{Caller, IamKind};
    let mut out = RolePaths::new();
    for arn in arns {
        let Ok(Caller::Iam { arn, account, kind: IamKind::RoleSession { role, path: Some(path) } }) =
            Caller::parse(arn)
        else {
            continue;
        };
        if arn.contains(":iam:") {
            let entry = out.entry((account, role)).or_insert_with(|| Some(path.clone()));
            if entry.as_deref() != Some(path.as_str()) {
                *entry = None;
            }
        }
    }
    out
}

/// [`Inputs::resolve`] given the role paths.
pub fn resolve_role_path<'a>(paths: &RolePaths, req: &'a Request) -> Cow<'a, Request> {
    let Some((account, role)) = req.caller.pathless_role() else { return Cow::Borrowed(req) };
    // A role no input names (or two name at different paths) is taken to be at `/`.
    let path = match paths.get(&(account.to_string(), role.to_string())) {
        Some(Some(path)) => path.as_str(),
        _ => "",
    };
    let mut out = req.clone();
    out.caller = req.caller.at_path(path);
    if let Some(arn) = out.caller.principal_arn() {
        out.context.insert("aws:PrincipalArn", crate::model::request::CtxValue::One(arn));
    }
    Cow::Owned(out)
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

/// Whose identity policies the inputs describe. A reviewer of a key policy sees the key's
/// account's IAM policies at most, never a partner's: the identity policies given are the
/// policies of the callers of the `described` accounts (none given: they have none), and
/// every other caller's are unknown — its administrator decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IamWorld {
    /// Callers outside the described accounts may hold any identity policy.
    Open { described: Vec<String> },
    /// Every caller's identity policies are the ones given (`--closed-world`).
    Closed,
}

impl IamWorld {
    /// The premise a proof rests on, for the report; `assumed` says what the unknown
    /// identity policies are taken to do in this command.
    pub fn premise(&self, assumed: &str) -> String {
        match self {
            IamWorld::Closed => {
                "closed world (--closed-world): every caller's identity policies are the ones given (none: it has none)"
                    .into()
            }
            IamWorld::Open { described } => format!(
                "the identity policies given are those of account {}'s callers (none given: they have none); every \
                 other account's callers hold identity policies not given, {assumed} (--closed-world gives them none)",
                described.join(", ")
            ),
        }
    }

    /// What `check` assumes of unknown identity policies: the worst case of each question.
    pub const CHECK_ASSUMES: &'static str = "assumed to allow everything for never and sometimes properties and to \
                                              deny everything for always properties (the worst case of each)";
    /// What `diff` assumes: the same on both sides, allowing (the case that shows every difference).
    pub const DIFF_ASSUMES: &'static str = "assumed to allow everything, on both sides";

    /// The inputs a question is asked under: in an open world, one identity policy stands
    /// for the unknown ones of every caller outside the described accounts — allowing
    /// everything (`allow`: the most a never/sometimes question can meet) or denying
    /// everything (the worst case of an always question). Exact either way: it is a policy
    /// like any other, so evaluator and encoder read it alike and witnesses replay on it.
    pub fn inputs(&self, inputs: &Inputs, allow: bool) -> Inputs {
        let IamWorld::Open { described } = self else { return inputs.clone() };
        let effect = if allow { "Allow" } else { "Deny" };
        let text = serde_json::json!({"Version": "2012-10-17", "Statement": [{
            "Effect": effect, "Action": "*", "Resource": "*",
            "Condition": {"StringNotEquals": {"aws:PrincipalAccount": described}}}]})
        .to_string();
        let label = format!(
            "<identity policies of callers outside account {} (not given): assumed to {} everything>",
            described.join(", "),
            effect.to_lowercase()
        );
        let mut out = inputs.clone();
        // Cannot fail: a fixed statement over account IDs the caller validated.
        let unknown = crate::model::policy::parse_policy(&text, &label, crate::model::policy::PolicyKind::Identity)
            .expect("a fixed statement");
        out.identity.push(unknown);
        out
    }
}

/// What the user says of the key (`--key-spec`, `--key-usage`, `--key-metadata`): facts
/// every request on it carries when the key is in its context (KMS Developer Guide, key
/// spec reference; `aws kms describe-key`). Unknown facts range over the values that agree
/// with each other, the key ARN and the action (`model::invariants`, `key-facts`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyFacts {
    pub spec: Option<String>,
    pub usage: Option<String>,
    pub origin: Option<String>,
    pub multi_region_type: Option<String>,
    /// The key's ARN when the metadata gives it.
    pub arn: Option<String>,
}

/// Why key facts are refused: each message says what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyFactsError {
    #[error("key spec {0:?}: expected one of {specs}", specs = crate::facts::kms_rules::key_specs().join(", "))]
    Spec(String),
    #[error("key usage {0:?}: expected one of {usages}", usages = crate::facts::kms_rules::key_usages().join(", "))]
    Usage(String),
    #[error("no KMS key has key spec {spec} with key usage {usage} (KMS Developer Guide, key spec reference)")]
    Pair { spec: String, usage: String },
    #[error("{0}: expected `aws kms describe-key` output ({{\"KeyMetadata\": {{\"KeySpec\", \"KeyUsage\", …}}}})")]
    Metadata(String),
}

impl KeyFacts {
    /// Reads `aws kms describe-key` output (`KeyMetadata`).
    pub fn from_describe_key(v: &serde_json::Value) -> Result<KeyFacts, KeyFactsError> {
        let m = v.get("KeyMetadata").ok_or_else(|| KeyFactsError::Metadata("no \"KeyMetadata\"".into()))?;
        let text = |k: &str| m.get(k).and_then(|x| x.as_str()).map(str::to_string);
        let facts = KeyFacts {
            spec: text("KeySpec").or_else(|| text("CustomerMasterKeySpec")),
            usage: text("KeyUsage"),
            origin: text("Origin"),
            multi_region_type: m
                .get("MultiRegionConfiguration")
                .and_then(|c| c.get("MultiRegionKeyType"))
                .and_then(|x| x.as_str())
                .map(str::to_string),
            arn: text("Arn"),
        };
        facts.validated()
    }

    /// The facts, checked against the key spec table.
    pub fn validated(self) -> Result<KeyFacts, KeyFactsError> {
        use crate::facts::kms_rules::{key_specs, key_usages, KEY_USES};
        if let Some(s) = self.spec.as_deref().filter(|s| !key_specs().contains(s)) {
            return Err(KeyFactsError::Spec(s.into()));
        }
        if let Some(u) = self.usage.as_deref().filter(|u| !key_usages().contains(u)) {
            return Err(KeyFactsError::Usage(u.into()));
        }
        if let (Some(spec), Some(usage)) = (&self.spec, &self.usage) {
            if !KEY_USES.iter().any(|k| k.usage == usage && k.specs.contains(&spec.as_str())) {
                return Err(KeyFactsError::Pair { spec: spec.clone(), usage: usage.clone() });
            }
        }
        Ok(self)
    }

    /// The facts as a condition block every request on the key meets: `…IfExists`, since a
    /// fact is in a request's context only for the actions that carry its key.
    pub fn condition(&self) -> serde_json::Map<String, serde_json::Value> {
        let pairs = [
            ("kms:KeySpec", &self.spec),
            ("kms:KeyUsage", &self.usage),
            ("kms:KeyOrigin", &self.origin),
            ("kms:MultiRegionKeyType", &self.multi_region_type),
        ];
        pairs.into_iter().filter_map(|(k, v)| v.as_ref().map(|v| (k.to_string(), serde_json::json!(v)))).collect()
    }
}
