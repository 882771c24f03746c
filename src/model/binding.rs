//! Which callers each kind of policy binds: one table, read by the evaluator and the
//! encoder alike (an identity policy cannot limit a caller it cannot be attached to).

use crate::model::policy::PolicyKind;
use crate::model::request::{Caller, IamKind};

/// The classes of callers the binding rules tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerClass {
    /// The account's root user (`arn:aws:iam::A:root`).
    Root,
    User,
    /// A session of a role that is not service-linked.
    Role,
    /// A session of a service-linked role (role path `/aws-service-role/`).
    ServiceLinkedRole,
    /// A federated user (`GetFederationToken`): its IAM user's policies and boundary apply.
    Federated,
    /// An AWS service principal (`logs.us-east-1.amazonaws.com`).
    Service,
    Anonymous,
}

/// The path every service-linked role has ([IAM] "Using service-linked roles").
pub const SERVICE_LINKED_ROLE_PATH: &str = "role/aws-service-role/";

/// The name every service-linked role begins with: how a session ARN, which carries no
/// path, is known to be a service-linked role's.
pub const SERVICE_LINKED_ROLE_PREFIX: &str = "AWSServiceRoleFor";

/// One binding rule: the policy kind, the classes it binds, and the source.
pub struct Binding {
    pub kind: PolicyKind,
    pub binds: &'static [CallerClass],
    /// Whether principals of the organization's management account are exempt.
    pub management_exempt: bool,
    pub source: &'static str,
}

use CallerClass::*;

/// Key policies bind every caller. The rest, with their sources.
pub const BINDINGS: &[Binding] = &[
    Binding {
        kind: PolicyKind::Identity,
        binds: &[User, Role, ServiceLinkedRole, Federated],
        management_exempt: false,
        source: "identity policies are attached to IAM users, groups and roles (a federated user's are its IAM \
                 user's); the root user cannot have identity policies attached and service principals have none \
                 (IAM User Guide, root user and identity-based policies)",
    },
    Binding {
        kind: PolicyKind::Scp,
        binds: &[Root, User, Role, Federated],
        management_exempt: true,
        source: "SCPs set the maximum permissions of the IAM users and roles (and the root user) of member \
                 accounts; \"SCPs don't affect service-linked roles\", service principals are not principals of \
                 the account, and SCPs don't affect users or roles in the management account (Organizations, SCPs)",
    },
    Binding {
        kind: PolicyKind::Boundary,
        binds: &[User, Role, Federated],
        management_exempt: false,
        source: "a permissions boundary is set on an IAM user or role; \"you cannot set the boundary for a \
                 service-linked role\" (IAM PutRolePermissionsBoundary), the root user and service principals have \
                 none (IAM User Guide, permissions boundaries)",
    },
];

impl CallerClass {
    pub fn of(caller: &Caller) -> CallerClass {
        match caller {
            Caller::Iam { kind: IamKind::Root, .. } => Root,
            Caller::Iam { kind: IamKind::User { .. }, .. } => User,
            Caller::Iam { kind: IamKind::FederatedUser { .. }, .. } => Federated,
            Caller::Iam { kind: IamKind::RoleSession { .. }, .. } => {
                let arn = caller.principal_arn().unwrap_or_default();
                let rest = arn.split_once(":iam::").map_or("", |(_, rest)| rest);
                let by_path = rest.contains(&format!(":{SERVICE_LINKED_ROLE_PATH}"));
                let pathless_name = rest.split_once(":role/").map(|(_, r)| r).filter(|r| !r.contains('/'));
                if by_path || pathless_name.is_some_and(|n| n.starts_with(SERVICE_LINKED_ROLE_PREFIX)) {
                    ServiceLinkedRole
                } else {
                    Role
                }
            }
            Caller::Service(_) => Service,
            Caller::Anonymous => Anonymous,
        }
    }
}

/// The rule for `kind`; `None` for key policies (they bind every caller).
pub fn rule(kind: PolicyKind) -> Option<&'static Binding> {
    BINDINGS.iter().find(|b| b.kind == kind)
}

/// A `--management-account` value that is not an account ID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--management-account: \"{0}\" is not a 12-digit account ID")]
pub struct NotAnAccount(pub String);

/// Reads a `--management-account` value: a 12-digit account ID.
pub fn management_account(text: &str) -> Result<String, NotAnAccount> {
    if crate::base::arn::is_account_id(text) {
        Ok(text.to_string())
    } else {
        Err(NotAnAccount(text.to_string()))
    }
}

/// Why a policy of `kind` does not bind `caller`, or `None` when it does.
pub fn exemption(kind: PolicyKind, caller: &Caller, management_account: Option<&str>) -> Option<String> {
    let rule = rule(kind)?;
    let class = CallerClass::of(caller);
    if !rule.binds.contains(&class) {
        return Some(format!("a {} does not bind a {} caller: {}", kind.label(), class.label(), rule.source));
    }
    let in_management = management_account.is_some_and(|m| caller.account() == Some(m));
    if rule.management_exempt && in_management {
        return Some(format!(
            "a {} does not bind principals of the management account {}: {}",
            kind.label(),
            management_account.unwrap_or_default(),
            rule.source
        ));
    }
    None
}

/// What a proof over `inputs` covers: for each kind of policy given, the callers it binds
/// (a `Deny` in an identity policy, say, does not bind the root user).
pub fn scope(inputs: &crate::model::inputs::Inputs) -> Vec<String> {
    let given = [
        (PolicyKind::Identity, inputs.identity.len()),
        (PolicyKind::Scp, inputs.scps.len()),
        (PolicyKind::Boundary, usize::from(inputs.boundary.is_some())),
    ];
    given
        .iter()
        .filter(|(_, n)| *n > 0)
        .filter_map(|(kind, n)| {
            let rule = rule(*kind)?;
            let bound: Vec<&str> = rule.binds.iter().map(|c| c.label()).collect();
            let free: Vec<&str> = ALL.iter().filter(|c| !rule.binds.contains(c)).map(|c| c.label()).collect();
            let mgmt = match (&inputs.management_account, rule.management_exempt) {
                (Some(m), true) => format!(" (not principals of the management account {m})"),
                (None, true) => {
                    " (the caller's account is taken to be a member account; see --management-account)".into()
                }
                _ => String::new(),
            };
            Some(format!(
                "the {n} {}(s) given bind {} callers{mgmt}; not {} callers: {}",
                kind.label(),
                bound.join(", "),
                free.join(", "),
                rule.source
            ))
        })
        .collect()
}

const ALL: &[CallerClass] = &[Root, User, Role, ServiceLinkedRole, Federated, Service, Anonymous];

impl CallerClass {
    pub fn label(self) -> &'static str {
        match self {
            Root => "root-user",
            User => "IAM user",
            Role => "role-session",
            ServiceLinkedRole => "service-linked-role",
            Federated => "federated-user",
            Service => "service-principal",
            Anonymous => "anonymous",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(arn: &str) -> Caller {
        Caller::parse(arn).unwrap()
    }

    #[test]
    fn classes_and_exemptions() {
        let slr = caller("arn:aws:iam::111122223333:role/aws-service-role/logs.amazonaws.com/AWSServiceRoleForLogs");
        assert_eq!(CallerClass::of(&slr), ServiceLinkedRole);
        let session = caller("arn:aws:sts::111122223333:assumed-role/AWSServiceRoleForAutoScaling/AutoScaling");
        assert_eq!(CallerClass::of(&session), ServiceLinkedRole);
        assert!(exemption(PolicyKind::Scp, &slr, None).is_some());
        assert!(exemption(PolicyKind::Boundary, &slr, None).is_some());
        assert!(exemption(PolicyKind::Identity, &slr, None).is_none());
        let root = caller("arn:aws:iam::111122223333:root");
        assert!(exemption(PolicyKind::Identity, &root, None).is_some());
        assert!(exemption(PolicyKind::Scp, &root, None).is_none());
        assert!(exemption(PolicyKind::Scp, &root, Some("111122223333")).is_some());
        let service = caller("logs.us-east-1.amazonaws.com");
        assert!(exemption(PolicyKind::Scp, &service, None).is_some());
        let role = caller("arn:aws:sts::111122223333:assumed-role/App/s");
        assert!(exemption(PolicyKind::Scp, &role, Some("444455556666")).is_none());
        assert!(exemption(PolicyKind::KeyPolicy, &service, None).is_none());
    }
}
