//! The domain of who-can, shared by every step: who acts ([`Actor`]), the graph's nodes and
//! edges, the answers of one question, and a node's status. Every other file of `whocan`
//! imports these, so the steps (edges, hops, the last hop, the graph) depend on one
//! vocabulary and never on each other's internals.

use crate::model::policy::Policy;
use kmsproof_solver::Limits;
use petgraph::graph::{EdgeIndex, NodeIndex};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// Who acts: one IAM principal of a dump (or a class of principals), with the identity
/// policies and boundary in force for it.
#[derive(Debug, Clone)]
pub struct Actor {
    /// Which callers: one principal ARN (`aws:PrincipalArn`), or a whole class.
    pub who: Who,
    /// The caller's account.
    pub account: String,
    pub identity: Vec<Policy>,
    pub boundary: Option<Policy>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// Exactly this principal (a role ARN stands for its sessions; `…:root` for the root user).
    Principal(String),
    /// Any principal of this account outside the dump, with any identity policies.
    AnyOf(String),
    /// Any principal of an account none of the dumps is about, with any identity policies.
    AnyOtherAccount(Vec<String>),
}

impl Actor {
    pub fn is_root(&self) -> bool {
        matches!(&self.who, Who::Principal(a) if a.ends_with(":root"))
    }

    /// The condition that narrows a request to this actor, as a statement's `Condition`.
    pub fn condition(&self) -> Value {
        match &self.who {
            Who::Principal(arn) => json!({"StringEquals": {"aws:PrincipalArn": arn}}),
            Who::AnyOf(a) => json!({"StringEquals": {"aws:PrincipalAccount": a}}),
            Who::AnyOtherAccount(known) => json!({
                "StringNotEquals": {"aws:PrincipalAccount": known},
                "Null": {"aws:PrincipalAccount": "false"}
            }),
        }
    }
}

/// The answer for one hop.
#[derive(Debug, Clone)]
pub enum Answer {
    /// Z3 found a request, and the evaluator allowed it.
    Yes(Witness),
    /// Z3 answered `unsat` on the exact encoding.
    No,
    Unknown(String),
}

/// A replayed request and why it is allowed.
#[derive(Debug, Clone)]
pub struct Witness {
    pub request: Value,
    pub why: String,
}

/// How one node reaches another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Technique {
    MemberOf,
    AssumeRole,
    PutUserPolicy,
    AttachUserPolicy,
    PutGroupPolicy,
    AttachGroupPolicy,
    PutRolePolicy,
    AttachRolePolicy,
    CreatePolicyVersion,
    SetDefaultPolicyVersion,
    AddUserToGroup,
    CreateAccessKey,
    CreateLoginProfile,
    UpdateLoginProfile,
    UpdateAssumeRolePolicy,
    PassRole(&'static str),
    /// `sts:AssumeRoleWithWebIdentity` / `sts:AssumeRoleWithSAML` (never decided: see `federated`).
    Federated(&'static str),
    /// Removing what blocks it: an inline policy deleted, a managed one detached, a
    /// boundary deleted or replaced, leaving a group.
    DeleteUserPolicy,
    DeleteGroupPolicy,
    DeleteRolePolicy,
    DetachUserPolicy,
    DetachGroupPolicy,
    DetachRolePolicy,
    DeleteUserPermissionsBoundary,
    DeleteRolePermissionsBoundary,
    PutUserPermissionsBoundary,
    PutRolePermissionsBoundary,
    RemoveUserFromGroup,
    /// `kms:PutKeyPolicy`: the key policy replaced by one that allows the caller.
    PutKeyPolicy,
    /// `kms:CreateGrant`: a grant of the action to the caller itself.
    CreateGrant,
}

/// The technique table: every technique's label, what it does, and the AWS
/// documentation it rests on. README's who-can table lists the same rows.
pub const TECHNIQUES: &[(&str, &str)] = &[
    ("member-of", "IAM User Guide, IAM groups: a user has the permissions of its groups' policies"),
    ("sts:AssumeRole", "IAM User Guide, policy evaluation logic (cross-account); STS API reference, AssumeRole"),
    ("iam:PutUserPolicy", "IAM API reference, PutUserPolicy"),
    ("iam:AttachUserPolicy", "IAM API reference, AttachUserPolicy; condition key iam:PolicyARN"),
    ("iam:PutGroupPolicy", "IAM API reference, PutGroupPolicy"),
    ("iam:AttachGroupPolicy", "IAM API reference, AttachGroupPolicy; condition key iam:PolicyARN"),
    ("iam:PutRolePolicy", "IAM API reference, PutRolePolicy"),
    ("iam:AttachRolePolicy", "IAM API reference, AttachRolePolicy; condition key iam:PolicyARN"),
    ("iam:CreatePolicyVersion", "IAM API reference, CreatePolicyVersion (SetAsDefault)"),
    ("iam:SetDefaultPolicyVersion", "IAM API reference, SetDefaultPolicyVersion"),
    ("iam:AddUserToGroup", "IAM API reference, AddUserToGroup"),
    ("iam:CreateAccessKey", "IAM API reference, CreateAccessKey"),
    ("iam:CreateLoginProfile", "IAM API reference, CreateLoginProfile"),
    ("iam:UpdateLoginProfile", "IAM API reference, UpdateLoginProfile"),
    ("iam:UpdateAssumeRolePolicy", "IAM API reference, UpdateAssumeRolePolicy"),
    ("iam:PassRole", "IAM User Guide, granting a user permissions to pass a role to an AWS service"),
    ("iam:DeleteUserPolicy", "IAM API reference, DeleteUserPolicy"),
    ("iam:DeleteGroupPolicy", "IAM API reference, DeleteGroupPolicy"),
    ("iam:DeleteRolePolicy", "IAM API reference, DeleteRolePolicy"),
    ("iam:DetachUserPolicy", "IAM API reference, DetachUserPolicy; condition key iam:PolicyARN"),
    ("iam:DetachGroupPolicy", "IAM API reference, DetachGroupPolicy; condition key iam:PolicyARN"),
    ("iam:DetachRolePolicy", "IAM API reference, DetachRolePolicy; condition key iam:PolicyARN"),
    ("iam:DeleteUserPermissionsBoundary", "IAM API reference, DeleteUserPermissionsBoundary"),
    ("iam:DeleteRolePermissionsBoundary", "IAM API reference, DeleteRolePermissionsBoundary"),
    (
        "iam:PutUserPermissionsBoundary",
        "IAM API reference, PutUserPermissionsBoundary; condition key iam:PermissionsBoundary",
    ),
    (
        "iam:PutRolePermissionsBoundary",
        "IAM API reference, PutRolePermissionsBoundary; condition key iam:PermissionsBoundary",
    ),
    ("iam:RemoveUserFromGroup", "IAM API reference, RemoveUserFromGroup"),
    ("sts:AssumeRoleWithWebIdentity", "STS API reference, AssumeRoleWithWebIdentity"),
    ("sts:AssumeRoleWithSAML", "STS API reference, AssumeRoleWithSAML"),
    (
        "kms:PutKeyPolicy",
        "KMS Developer Guide, default key policy (key administrators \"can give themselves and others AWS KMS permissions\"); KMS API reference, PutKeyPolicy (no condition key limits the new policy's content)",
    ),
    (
        "kms:CreateGrant",
        "KMS Developer Guide, grants in AWS KMS and controlling access to grants (kms:GrantOperations, kms:GranteePrincipal, kms:RetiringPrincipal, kms:GrantConstraintType, kms:GrantIsForAWSResource); KMS API reference, CreateGrant",
    ),
];

/// What an escalation did to the key itself (KMS's own techniques). A node carries it
/// along its path: a replaced key policy is the key's for every principal reached
/// afterwards; a grant to the caller helps only the caller, so it is carried along
/// its own escalations and dropped when the path moves to another principal.
#[derive(Debug, Clone, Default)]
pub enum KeyChange {
    #[default]
    Original,
    /// The key policy replaced by one allowing `kms:*` to the principal that uses it.
    PolicyReplaced,
    /// The key with one more grant (to the caller itself, for the action, no constraints).
    Granted(Box<crate::model::grant::Grant>),
}

impl KeyChange {
    /// The label a node's name carries (empty for the original key).
    pub fn label(&self) -> &'static str {
        match self {
            KeyChange::Original => "",
            KeyChange::PolicyReplaced => "key policy replaced",
            KeyChange::Granted(_) => "granted to itself",
        }
    }
}

impl Technique {
    pub fn label(&self) -> String {
        match self {
            Technique::MemberOf => "member-of".into(),
            Technique::AssumeRole => "sts:AssumeRole".into(),
            Technique::PassRole(service) => format!("iam:PassRole to {service}"),
            Technique::Federated(call) => call.to_string(),
            Technique::PutKeyPolicy => "kms:PutKeyPolicy".into(),
            Technique::CreateGrant => "kms:CreateGrant".into(),
            t => format!("iam:{t:?}"),
        }
    }

    /// Whether the edge changes permissions (an escalation) rather than using them.
    pub fn is_escalation(&self) -> bool {
        !matches!(self, Technique::MemberOf | Technique::AssumeRole | Technique::Federated(_))
    }

    /// Its row of [`TECHNIQUES`]: the AWS documentation it rests on.
    pub fn source(&self) -> &'static str {
        let label = self.label();
        let name = label.split(' ').next().unwrap_or_default();
        TECHNIQUES.iter().find(|(l, _)| *l == name).map_or("", |(_, s)| s)
    }
}

/// What a node stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    User,
    Group,
    Role,
    Root,
    /// A principal of the dump after an escalation changed its policies.
    Escalated,
    /// A class of principals outside the dumps.
    Class,
}

impl NodeKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            NodeKind::User => "user",
            NodeKind::Group => "group",
            NodeKind::Role => "role",
            NodeKind::Root => "root",
            NodeKind::Escalated => "escalated",
            NodeKind::Class => "class",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Node {
    pub label: String,
    pub kind: NodeKind,
    /// The acting principal (groups have none: their policies act through members).
    pub actor: Option<Actor>,
    /// For escalated nodes: the principal they started from and what was added.
    pub base: Option<NodeIndex>,
    pub added: BTreeSet<String>,
    /// What the path to this node did to the key (its last hop is asked of that key).
    pub key: KeyChange,
}

/// An edge: `from` can act as (or with the permissions of) `to`.
#[derive(Debug, Clone)]
pub struct Edge {
    pub technique: Technique,
    /// What the technique did, e.g. the target.
    pub detail: String,
    /// The replayed requests that open it (none for group membership).
    pub witnesses: Vec<Witness>,
}

/// The status of one node for the key and action.
#[derive(Debug, Clone)]
pub enum Status {
    /// Shortest path (edges) to a node whose last hop is allowed.
    Can(Vec<EdgeIndex>, NodeIndex),
    /// Proved: no path of any length to a node whose last hop is allowed or undecided.
    Cannot,
    /// Only beyond `--max-hops`.
    BeyondHops,
    Unknown(String),
}

impl Status {
    /// The status as every output spells it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Can(..) => "can",
            Status::Cannot => "cannot",
            Status::BeyondHops => "beyond-max-hops",
            Status::Unknown(_) => "unknown",
        }
    }
}

/// What to ask and how far to look.
pub struct Options {
    pub action: String,
    pub max_hops: usize,
    pub escalation: bool,
    pub limits: Limits,
    /// Skip questions no policy statement can answer `yes` (sound; off in the
    /// differential test to check it is).
    pub prefilter: bool,
}

/// The command's defaults: `kms:Decrypt`, at most 8 hops, escalation on, pre-selection on.
impl Default for Options {
    fn default() -> Options {
        Options {
            action: "kms:Decrypt".into(),
            max_hops: 8,
            escalation: true,
            limits: Limits::default(),
            prefilter: true,
        }
    }
}

/// An edge Z3 could not decide: its nodes, its technique, and why.
#[derive(Debug, Clone)]
pub struct Undecided {
    pub from: NodeIndex,
    pub to: NodeIndex,
    pub technique: Technique,
    pub why: String,
}
