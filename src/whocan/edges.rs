//! The edge techniques (one table), and the candidate questions for one node. A
//! candidate is only a question: Z3 decides it ([`super::hop`]). Candidates are pre-selected
//! soundly — a question is skipped only when no `Allow` statement's `Action` (or, for
//! trust policies, principal entry) can cover it, whatever the conditions.

use super::domain::{Actor, Edge, KeyChange, Node, Technique, Who};
use super::gaad::Account;
use super::hop::Trust;
use super::preselect::{may_allow, service_may_trust, trust_may_admit, Cover};
use crate::model::policy::Policy;
use petgraph::graph::{DiGraph, NodeIndex};
use serde_json::{json, Value};
use std::collections::HashMap;

/// Services that run code as a role passed to them: (service principal, the actions that
/// start the code, whether the role must be in an instance profile).
pub const CODE_RUNNERS: &[(&str, &[&str], bool)] = &[
    ("ec2.amazonaws.com", &["ec2:RunInstances"], true),
    ("lambda.amazonaws.com", &["lambda:CreateFunction", "lambda:InvokeFunction"], false),
    ("ecs-tasks.amazonaws.com", &["ecs:RunTask"], false),
    ("glue.amazonaws.com", &["glue:CreateDevEndpoint"], false),
    ("sagemaker.amazonaws.com", &["sagemaker:CreateNotebookInstance"], false),
    ("cloudformation.amazonaws.com", &["cloudformation:CreateStack"], false),
];

/// Services that also run code as a role passed to them, whose way in is not modelled
/// yet: passing a role they are trusted by is an **undecided** edge (never skipped, never
/// claimed), so a `cannot` never rests on their absence.
pub const UNMODELLED_CODE_RUNNERS: &[&str] = &[
    "codebuild.amazonaws.com",
    "states.amazonaws.com",
    "batch.amazonaws.com",
    "ecs.amazonaws.com",
    "elasticmapreduce.amazonaws.com",
    "datapipeline.amazonaws.com",
    "apprunner.amazonaws.com",
    "elasticbeanstalk.amazonaws.com",
    "airflow.amazonaws.com",
    "codepipeline.amazonaws.com",
    "scheduler.amazonaws.com",
    "events.amazonaws.com",
];

/// Attaching this AWS managed policy (`"*"` on `"*"`) gives any permission; the attach
/// techniques ask for exactly it, so the escalated node's policies are exact.
pub const ADMIN_POLICY: &str = "arn:aws:iam::aws:policy/AdministratorAccess";

/// One question of a candidate edge.
#[derive(Debug, Clone)]
pub struct Step {
    pub action: String,
    pub resource: Option<String>,
    pub condition: Option<Value>,
    /// The target's trust policy and account, for `sts:AssumeRole`.
    pub trust: Option<RoleTrust>,
    /// Instead of the caller's request: the service's own `sts:AssumeRole` on the role,
    /// against its trust policy ([`super::service`]).
    pub service: Option<ServiceAssume>,
    /// A side of the edge that is not modelled: the edge is then undecided when every
    /// other step is allowed (refuted when one is refuted), never claimed.
    pub unknown: Option<String>,
    /// A KMS request on the key itself, asked as the last hop is ([`super::kms`]).
    pub kms: Option<KmsStep>,
}

/// KMS's own escalations: a request on the key that changes the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KmsStep {
    /// `kms:PutKeyPolicy` on the key ([`super::kms::put_key_policy`]).
    PutKeyPolicy,
    /// `kms:CreateGrant` of the action to the caller itself ([`super::kms::create_grant`]).
    CreateGrant,
}

/// The trust policy of the role a step assumes, and the role's account.
#[derive(Debug, Clone)]
pub struct RoleTrust {
    pub policy: Policy,
    pub account: String,
}

impl RoleTrust {
    /// As one hop's question reads it.
    pub fn as_ask(&self) -> Trust<'_> {
        Trust { policy: &self.policy, account: &self.account }
    }
}

/// A service (its principal, e.g. `lambda.amazonaws.com`) assuming a role passed to it,
/// against the role's trust policy.
#[derive(Debug, Clone)]
pub struct ServiceAssume {
    pub trust: Policy,
    pub service: &'static str,
}

/// Policies an escalation adds to the acting principal (and the one it replaces).
#[derive(Debug, Clone)]
pub struct Added {
    pub name: String,
    pub policies: Vec<Policy>,
    /// The policy these replace wherever the actor holds it (identity policies and
    /// boundary): the default version `iam:SetDefaultPolicyVersion` switches off. Its
    /// `source`, compared by identity, not text: an AWS managed policy may bear the
    /// same name (and so the same label) as the customer's policy being switched.
    pub replaces: Option<std::sync::Arc<str>>,
    /// Identity policies removed (by `source`): deleted, detached, or a group left.
    pub removes: Vec<std::sync::Arc<str>>,
}

impl Added {
    /// The actor with these policies: the replaced one removed, the new ones added (a
    /// replaced boundary becomes the new version, as a boundary; a policy that is both
    /// attached and the boundary is replaced in both places).
    pub fn apply(&self, actor: &mut Actor) {
        actor.identity.retain(|p| !self.removes.iter().any(|r| std::sync::Arc::ptr_eq(&p.source, r)));
        let Some(old) = &self.replaces else {
            actor.identity.extend(self.policies.iter().cloned());
            return;
        };
        // One policy may be both attached and the boundary: the switch changes both.
        let this = |p: &Policy| std::sync::Arc::ptr_eq(&p.source, old);
        let held = actor.identity.iter().any(this);
        actor.identity.retain(|p| !this(p));
        let bounds = actor.boundary.as_ref().is_some_and(this);
        if bounds {
            actor.boundary = self.policies.first().map(|p| {
                let mut b = p.clone();
                b.kind = crate::model::policy::PolicyKind::Boundary;
                b
            });
        }
        if held || !bounds {
            actor.identity.extend(self.policies.iter().cloned());
        }
    }
}

#[derive(Debug, Clone)]
pub enum Target {
    Node(NodeIndex),
    Escalated(Added),
    /// The same principal, with the key changed (KMS's own escalations).
    Key(KeyChange),
    /// Another principal of the dump with policies added (its policies rewritten by the
    /// caller, who then acts as it).
    EscalatedOf(NodeIndex, Added),
}

/// A candidate edge: every step must be allowed.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub technique: Technique,
    pub detail: String,
    pub target: Target,
    pub steps: Vec<Step>,
}

/// `sts:AssumeRole` on a role: STS accepts neither the root user's credentials nor a
/// federated user's (`GetFederationToken`) for it, so the caller is a user or a role session.
pub fn assume_step(trust: Policy, account: &str, role_arn: &str) -> Step {
    Step {
        condition: Some(
            json!({"ArnNotLike": {"aws:PrincipalArn": ["arn:*:iam::*:root", "arn:*:sts::*:federated-user/*"]}}),
        ),
        trust: Some(RoleTrust { policy: trust, account: account.to_string() }),
        ..step("sts:AssumeRole", role_arn)
    }
}

pub fn step(action: &str, resource: &str) -> Step {
    Step {
        action: action.into(),
        resource: Some(resource.into()),
        condition: None,
        trust: None,
        service: None,
        unknown: None,
        kms: None,
    }
}

/// The candidate edges leaving node `n`.
pub fn candidates(
    accounts: &[Account],
    g: &DiGraph<Node, Edge>,
    index: &HashMap<String, NodeIndex>,
    n: NodeIndex,
    escalation: bool,
    prefilter: bool,
) -> Vec<Candidate> {
    let node = &g[n];
    let Some(actor) = &node.actor else { return vec![] };
    let mut out = Vec::new();
    let any_identity = !matches!(actor.who, Who::Principal(_));
    // STS does not accept the root user's credentials for AssumeRole.
    let roles = accounts.iter().filter(|_| !actor.is_root());
    for a in roles {
        for r in &a.roles {
            let identity_may = || any_identity || may_allow(&actor.identity, "sts:AssumeRole", Some(&r.arn));
            let admitted = match trust_may_admit(&r.trust, actor) {
                Some(Cover::Direct) => true,
                Some(Cover::Account) => identity_may(),
                None => false,
            };
            if !prefilter || admitted {
                let s = assume_step(r.trust.clone(), &a.id, &r.arn);
                out.push(Candidate {
                    technique: Technique::AssumeRole,
                    detail: format!("assume role {}", r.name),
                    target: Target::Node(index[&r.arn]),
                    steps: vec![s],
                });
            }
        }
    }
    let base_label = node.base.map_or(&node.label, |b| &g[b].label);
    let dump_principal = matches!(actor.who, Who::Principal(_)) && !actor.is_root();
    if escalation && dump_principal {
        if let Some(a) = accounts.iter().find(|a| a.id == actor.account) {
            let may = |action: &str, resource: Option<&str>| !prefilter || may_allow(&actor.identity, action, resource);
            escalations(a, index, node, base_label, actor, &may, &mut out);
        }
    }
    if prefilter {
        preselect(actor, &mut out);
    }
    out
}

/// Sound pre-selection: keeps a candidate unless a step of the caller's own that no
/// `Allow` of its identity policies can cover makes it impossible.
pub fn preselect(actor: &Actor, out: &mut Vec<Candidate>) {
    let policies = &actor.identity;
    let any = !matches!(actor.who, Who::Principal(_)) || actor.is_root();
    out.retain(|c| {
        any || c.steps.iter().all(|s| {
            s.trust.is_some()
                || s.service.is_some()
                || s.unknown.is_some()
                || may_allow(policies, &s.action, s.resource.as_deref())
        })
    });
}

fn escalations(
    a: &Account,
    index: &HashMap<String, NodeIndex>,
    node: &Node,
    base: &str,
    actor: &Actor,
    may: &dyn Fn(&str, Option<&str>) -> bool,
    out: &mut Vec<Candidate>,
) {
    let any =
        Added { name: "any policy".into(), policies: vec![super::kms::allow_all()], replaces: None, removes: vec![] };
    let admin = || Some(json!({"ArnEquals": {"iam:PolicyARN": ADMIN_POLICY}}));
    let to_any = |technique, detail: String, steps| Candidate {
        technique,
        detail,
        target: Target::Escalated(any.clone()),
        steps,
    };
    let self_any = !node.added.contains("any policy");
    // An inline policy put on one of its own principals, or AdministratorAccess attached to
    // it (`on`: that principal as each detail names it).
    let put_and_attach = |out: &mut Vec<Candidate>, put: Technique, attach: Technique, arn: &str, on: [&str; 2]| {
        out.push(to_any(put, format!("put an inline policy on {}", on[0]), vec![step(&put.label(), arn)]));
        let s = Step { condition: admin(), ..step(&attach.label(), arn) };
        out.push(to_any(attach, format!("attach {ADMIN_POLICY} to {}", on[1]), vec![s]));
    };
    let mut versioned: Vec<&String> = Vec::new();
    if let Some(u) = a.users.iter().find(|u| u.arn == base) {
        if self_any {
            let on = format!("itself ({})", u.name);
            put_and_attach(out, Technique::PutUserPolicy, Technique::AttachUserPolicy, &u.arn, [&on, "itself"]);
        }
        versioned.extend(&u.attached);
        for grp in u.groups.iter().filter_map(|gname| a.group(gname)) {
            versioned.extend(&grp.attached);
            if self_any {
                let on = format!("its group {}", grp.name);
                put_and_attach(out, Technique::PutGroupPolicy, Technique::AttachGroupPolicy, &grp.arn, [&on, &on]);
            }
        }
        // Groups joined on the path (`iam:AddUserToGroup`): their managed policies are its own now.
        let joined = node.added.iter().filter_map(|x| x.strip_prefix("group ")).filter_map(|g| a.group(g));
        for grp in joined {
            versioned.extend(&grp.attached);
        }
        for grp in
            a.groups.iter().filter(|grp| !u.groups.contains(&grp.name) && may("iam:AddUserToGroup", Some(&grp.arn)))
        {
            let name = format!("group {}", grp.name);
            if node.added.contains(&name) {
                continue;
            }
            out.push(Candidate {
                technique: Technique::AddUserToGroup,
                detail: format!("add itself to group {}", grp.name),
                target: Target::Escalated(Added {
                    name,
                    policies: group_policies_on_path(a, node, grp),
                    replaces: None,
                    removes: vec![],
                }),
                steps: vec![step("iam:AddUserToGroup", &grp.arn)],
            });
        }
    }
    if let Some(r) = a.roles.iter().find(|r| r.arn == base) {
        if self_any {
            let on = format!("its role {}", r.name);
            put_and_attach(out, Technique::PutRolePolicy, Technique::AttachRolePolicy, &r.arn, [&on, &on]);
        }
        versioned.extend(&r.attached);
    }
    let boundary = a.users.iter().find(|u| u.arn == base).and_then(|u| u.boundary.as_ref());
    let boundary = boundary.or_else(|| a.roles.iter().find(|r| r.arn == base).and_then(|r| r.boundary.as_ref()));
    set_default_versions(a, node, versioned.iter().copied().chain(boundary), may, out);
    // A new default version replaces the old one (its Denies too) wherever it is attached,
    // the boundary included: the node holds `"*"` on `"*"` instead of it.
    let own = format!(":{}:", a.id);
    let mut rewritten = std::collections::BTreeSet::new();
    for p in versioned.into_iter().chain(boundary).filter(|p| p.contains(&own)) {
        let name = format!("{p} rewritten");
        let Some(default) = a.managed.get(p) else { continue };
        if node.added.contains(&name) || !rewritten.insert(p.clone()) {
            continue;
        }
        let added = Added {
            name,
            policies: vec![super::kms::allow_all()],
            replaces: Some(default.source.clone()),
            removes: vec![],
        };
        out.push(Candidate {
            technique: Technique::CreatePolicyVersion,
            detail: format!("create a new default version of {p}, attached to it"),
            target: Target::Escalated(added),
            steps: vec![step("iam:CreatePolicyVersion", p)],
        });
    }
    let credentials = [
        (Technique::CreateAccessKey, "iam:CreateAccessKey"),
        (Technique::CreateLoginProfile, "iam:CreateLoginProfile"),
        (Technique::UpdateLoginProfile, "iam:UpdateLoginProfile"),
    ];
    let credentials: Vec<_> = credentials.into_iter().filter(|(_, action)| may(action, None)).collect();
    for u in a.users.iter().filter(|u| u.arn != base && !credentials.is_empty()) {
        for (t, action) in credentials.iter().copied().filter(|(_, action)| may(action, Some(&u.arn))) {
            let detail = format!("{} for user {}", t.label(), u.name);
            out.push(Candidate {
                technique: t,
                detail,
                target: Target::Node(index[&u.arn]),
                steps: vec![step(action, &u.arn)],
            });
        }
    }
    let Who::Principal(caller) = &actor.who else { return };
    let (update, pass) = (may_any(may, "iam:UpdateAssumeRolePolicy"), may_any(may, "iam:PassRole"));
    for r in a.roles.iter().filter(|r| r.arn != base && (update || pass)) {
        if !update || !may("iam:UpdateAssumeRolePolicy", Some(&r.arn)) {
            passes(r, index, may, out);
            continue;
        }
        let own_trust = json!({"Effect": "Allow", "Principal": {"AWS": caller}, "Action": "sts:AssumeRole"});
        let assume =
            match super::document::trust(&own_trust, &format!("role/{} trust policy as rewritten", r.name), &r.arn) {
                Ok(trust) => assume_step(trust, &a.id, &r.arn),
                // The caller cannot be named in a trust policy (a dump name holding `*`): the
                // edge is undecided, never claimed and never skipped.
                Err(why) => Step { unknown: Some(why.to_string()), ..step("sts:AssumeRole", &r.arn) },
            };
        out.push(Candidate {
            technique: Technique::UpdateAssumeRolePolicy,
            detail: format!("rewrite the trust policy of role {} to trust itself, then assume it", r.name),
            target: Target::Node(index[&r.arn]),
            steps: vec![step("iam:UpdateAssumeRolePolicy", &r.arn), assume],
        });
        passes(r, index, may, out);
    }
}

/// A group's policies as they are on the node's path: a managed policy switched to another
/// version on the path (`iam:SetDefaultPolicyVersion`) is that version in the group too.
fn group_policies_on_path(a: &Account, node: &Node, grp: &super::gaad::Group) -> Vec<Policy> {
    let switched = |arn: &str| {
        let prefix = format!("{arn} version ");
        let id = node.added.iter().find_map(|x| x.strip_prefix(prefix.as_str()))?;
        a.versions.get(arn)?.iter().find(|(v, _)| v == id).map(|(_, doc)| doc.clone())
    };
    let mut out = grp.inline.to_vec();
    for arn in &grp.attached {
        if let Some(p) = switched(arn).or_else(|| a.managed.get(arn).cloned()) {
            out.push(p);
        }
    }
    out
}

/// KMS's own escalations leaving a node (whatever its principal: a class of principals
/// the key policy allows may replace it too): `kms:PutKeyPolicy` unless the path already
/// replaced the policy, `kms:CreateGrant` to itself on the original key. Each is a
/// request on the key decided exactly as the last hop is; `may(action)` pre-selects.
pub fn kms_candidates(node: &Node, action: &str, may: &dyn Fn(&str) -> bool) -> Vec<Candidate> {
    let Some(actor) = &node.actor else { return vec![] };
    let mut out = Vec::new();
    let kms_step = |a: &str, k: KmsStep| Step { kms: Some(k), resource: None, ..step(a, "*") };
    if !matches!(node.key, KeyChange::PolicyReplaced) && may("kms:PutKeyPolicy") {
        out.push(Candidate {
            technique: Technique::PutKeyPolicy,
            detail: "replace the key policy with one that allows itself kms:*".into(),
            target: Target::Key(KeyChange::PolicyReplaced),
            steps: vec![kms_step("kms:PutKeyPolicy", KmsStep::PutKeyPolicy)],
        });
    }
    if matches!(node.key, KeyChange::Original) && may("kms:CreateGrant") {
        // A class has no one ARN to grant to: its question is only ever undecided or refuted.
        let target = super::kms::self_grant(actor, action)
            .map_or(KeyChange::PolicyReplaced, |g| KeyChange::Granted(Box::new(g)));
        out.push(Candidate {
            technique: Technique::CreateGrant,
            detail: format!("grant itself {action} on the key"),
            target: Target::Key(target),
            steps: vec![kms_step("kms:CreateGrant", KmsStep::CreateGrant)],
        });
    }
    out
}

/// `iam:SetDefaultPolicyVersion` on a customer-managed policy attached to the actor (or
/// its boundary): the actor with that existing version in force instead of the default —
/// the exact documents of the dump's `PolicyVersionList`. IAM has no condition key for the
/// version, so a caller who may switch a policy may switch it to any version at once; a
/// second switch of the same policy on one path (needed only when a switch of another
/// policy gave the permission back) is an undecided edge.
fn set_default_versions<'a>(
    a: &Account,
    node: &Node,
    policies: impl Iterator<Item = &'a String>,
    may: &dyn Fn(&str, Option<&str>) -> bool,
    out: &mut Vec<Candidate>,
) {
    let own = format!(":{}:", a.id);
    let mut seen = std::collections::BTreeSet::new();
    for p in policies.filter(|p| p.contains(&own)) {
        let (Some(versions), Some(default)) = (a.versions.get(p), a.managed.get(p)) else { continue };
        let prefix = format!("{p} version ");
        if !seen.insert(p.clone()) || !may("iam:SetDefaultPolicyVersion", Some(p)) {
            continue;
        }
        if node.added.iter().any(|x| x.starts_with(&prefix)) {
            // Only this policy switched so far: switching it again reaches what switching it
            // once from the base does (the base could switch it), already a candidate there.
            if node.added.iter().all(|x| x.starts_with(&prefix)) {
                continue;
            }
            // Switching it again after another escalation (which may have given the
            // permission back) is not modelled: undecided when allowed, never skipped.
            let why = format!("switching {p} again, after an earlier switch on this path, is not modelled");
            out.push(Candidate {
                technique: Technique::SetDefaultPolicyVersion,
                detail: format!("switch {p} to another version again"),
                target: Target::Escalated(Added {
                    name: format!("{p} switched again"),
                    policies: vec![],
                    replaces: None,
                    removes: vec![],
                }),
                steps: vec![
                    step("iam:SetDefaultPolicyVersion", p),
                    Step { unknown: Some(why), ..step("iam:SetDefaultPolicyVersion", p) },
                ],
            });
            continue;
        }
        for (id, doc) in versions {
            let added = Added {
                name: format!("{prefix}{id}"),
                policies: vec![doc.clone()],
                replaces: Some(default.source.clone()),
                removes: vec![],
            };
            out.push(Candidate {
                technique: Technique::SetDefaultPolicyVersion,
                detail: format!("make its existing version {id} of {p} the default"),
                target: Target::Escalated(added),
                steps: vec![step("iam:SetDefaultPolicyVersion", p)],
            });
        }
    }
}

/// Whether some `Allow` may cover `action` on any resource (checked before each target).
fn may_any(may: &dyn Fn(&str, Option<&str>) -> bool, action: &str) -> bool {
    may(action, None)
}

/// `iam:PassRole` of role `r` to each service that runs code and that its trust names.
fn passes(
    r: &super::gaad::Role,
    index: &HashMap<String, NodeIndex>,
    may: &dyn Fn(&str, Option<&str>) -> bool,
    out: &mut Vec<Candidate>,
) {
    if !may("iam:PassRole", Some(&r.arn)) {
        return;
    }
    {
        for (service, runs, profile) in CODE_RUNNERS {
            if (*profile && !r.instance_profile) || !service_may_trust(&r.trust, service) {
                continue;
            }
            let pass = Step {
                condition: Some(json!({"StringEquals": {"iam:PassedToService": service}})),
                ..step("iam:PassRole", &r.arn)
            };
            let mut steps = vec![pass];
            steps.extend(runs.iter().map(|a| Step {
                action: a.to_string(),
                resource: None,
                condition: None,
                trust: None,
                service: None,
                unknown: None,
                kms: None,
            }));
            let assume = ServiceAssume { trust: r.trust.clone(), service };
            steps.push(Step { service: Some(assume), ..step("sts:AssumeRole", &r.arn) });
            out.push(Candidate {
                technique: Technique::PassRole(service),
                detail: format!("pass role {} to {service} and run code as it ({})", r.name, runs.join(", ")),
                target: Target::Node(index[&r.arn]),
                steps,
            });
        }
        for service in UNMODELLED_CODE_RUNNERS.iter().filter(|s| service_may_trust(&r.trust, s)) {
            let why = format!("running code as a role passed to {service} is not modelled");
            let pass = Step {
                condition: Some(json!({"StringEquals": {"iam:PassedToService": service}})),
                ..step("iam:PassRole", &r.arn)
            };
            out.push(Candidate {
                technique: Technique::PassRole(service),
                detail: format!("pass role {} to {service} (not modelled)", r.name),
                target: Target::Node(index[&r.arn]),
                steps: vec![pass, Step { unknown: Some(why), ..step("iam:PassRole", &r.arn) }],
            });
        }
    }
}
