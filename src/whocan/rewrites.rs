//! Escalations that rewrite IAM policies, beyond adding one to itself (issue 19 items 3
//! and 4): removing what blocks it (an inline policy deleted, a managed one detached, a
//! boundary deleted or replaced, a group left — only policies holding a `Deny` are worth
//! removing: removing Allows never adds a permission), attaching a managed policy of the
//! dump that `iam:PolicyARN` allows, and rewriting another principal's policies (a role
//! it can then assume, a user it can then log in as, a group it can join or whose member
//! it can act as). Each candidate is only a question: its steps are decided like every
//! IAM hop. What is not modelled exactly (a managed policy not in the dump, one created
//! with `iam:CreatePolicy`) is an undecided step, never a skipped one.

use super::domain::{Actor, Edge, Node, Technique, Who};
use super::edges::{assume_step, step, Added, Candidate, Step, Target, ADMIN_POLICY};
use super::gaad::Account;
use super::preselect::may_allow;
use crate::model::policy::{Effect, Policy, PolicyKind};
use petgraph::graph::{DiGraph, NodeIndex};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

/// The IAM actions of one kind of principal: (put inline, attach, delete inline, detach,
/// delete boundary, put boundary).
struct Actions {
    put: Technique,
    attach: Technique,
    delete: Technique,
    detach: Technique,
    delete_boundary: Option<Technique>,
    put_boundary: Option<Technique>,
}

const USER: Actions = Actions {
    put: Technique::PutUserPolicy,
    attach: Technique::AttachUserPolicy,
    delete: Technique::DeleteUserPolicy,
    detach: Technique::DetachUserPolicy,
    delete_boundary: Some(Technique::DeleteUserPermissionsBoundary),
    put_boundary: Some(Technique::PutUserPermissionsBoundary),
};
const GROUP: Actions = Actions {
    put: Technique::PutGroupPolicy,
    attach: Technique::AttachGroupPolicy,
    delete: Technique::DeleteGroupPolicy,
    detach: Technique::DetachGroupPolicy,
    delete_boundary: None,
    put_boundary: None,
};
const ROLE: Actions = Actions {
    put: Technique::PutRolePolicy,
    attach: Technique::AttachRolePolicy,
    delete: Technique::DeleteRolePolicy,
    detach: Technique::DetachRolePolicy,
    delete_boundary: Some(Technique::DeleteRolePermissionsBoundary),
    put_boundary: Some(Technique::PutRolePermissionsBoundary),
};

/// Why attaching (or setting as boundary) a policy outside the dump stays undecided.
const OUTSIDE_DUMP: &str = "a managed policy not in the dump (an AWS managed policy it leaves out, or one the caller \
                            would create with iam:CreatePolicy) is not modelled";

fn has_deny(p: &Policy) -> bool {
    p.statements.iter().any(|s| s.effect == Effect::Deny)
}

fn has_allow(p: &Policy) -> bool {
    p.statements.iter().any(|s| s.effect == Effect::Allow)
}

fn any_policy() -> Added {
    Added { name: "any policy".into(), policies: vec![super::kms::allow_all()], replaces: None, removes: vec![] }
}

fn with_condition(s: Step, key: &str, arn: &str) -> Step {
    Step { condition: Some(json!({"ArnEquals": {key: arn}})), ..s }
}

/// The candidates of this module leaving node `n` (a principal of the dumps).
pub fn candidates(
    accounts: &[Account],
    g: &DiGraph<Node, Edge>,
    index: &HashMap<String, NodeIndex>,
    n: NodeIndex,
    prefilter: bool,
    out: &mut Vec<Candidate>,
) {
    let node = &g[n];
    let Some(actor) = &node.actor else { return };
    let Some(a) = accounts.iter().find(|a| a.id == actor.account) else { return };
    let base = node.base.map_or(&node.label, |b| &g[b].label);
    let may = |action: &str, resource: &str| !prefilter || may_allow(&actor.identity, action, Some(resource));
    let may_any = |action: &str| !prefilter || may_allow(&actor.identity, action, None);
    let ctx = Ctx { a, actor, node, may: &may, may_any: &may_any };
    if let Some(u) = a.users.iter().find(|u| &u.arn == base) {
        ctx.own(&USER, &u.arn, &u.inline, &u.attached, out);
        for grp in u.groups.iter().filter_map(|x| a.group(x)) {
            ctx.own(&GROUP, &grp.arn, &grp.inline, &grp.attached, out);
            ctx.leave(grp, out);
        }
    }
    if let Some(r) = a.roles.iter().find(|r| &r.arn == base) {
        ctx.own(&ROLE, &r.arn, &r.inline, &r.attached, out);
    }
    if let Who::Principal(caller) = &actor.who {
        ctx.others(index, base, caller, out);
    }
}

struct Ctx<'a> {
    a: &'a Account,
    actor: &'a Actor,
    node: &'a Node,
    may: &'a dyn Fn(&str, &str) -> bool,
    /// Whether some `Allow` may cover the action on any resource (asked once per kind,
    /// before each principal of the dump).
    may_any: &'a dyn Fn(&str) -> bool,
}

impl Ctx<'_> {
    fn held(&self, source: &Arc<str>) -> bool {
        self.actor.identity.iter().any(|p| Arc::ptr_eq(&p.source, source))
    }

    fn escalate(&self, technique: Technique, detail: String, added: Added, steps: Vec<Step>, out: &mut Vec<Candidate>) {
        if !self.node.added.contains(&added.name) {
            out.push(Candidate { technique, detail, target: Target::Escalated(added), steps });
        }
    }

    /// Policies of one of its own principals (itself, its group, its role): deleting or
    /// detaching one that denies, deleting or replacing the boundary, attaching a managed
    /// policy of the dump.
    fn own(&self, k: &Actions, arn: &str, inline: &[Policy], attached: &[String], out: &mut Vec<Candidate>) {
        let (delete, detach, attach) = (k.delete.label(), k.detach.label(), k.attach.label());
        if (self.may)(&delete, arn) {
            for p in inline.iter().filter(|p| has_deny(p) && self.held(&p.source)) {
                let added = Added {
                    name: format!("without {}", p.source),
                    policies: vec![],
                    replaces: None,
                    removes: vec![p.source.clone()],
                };
                self.escalate(
                    k.delete,
                    format!("delete {} (it denies)", p.source),
                    added,
                    vec![step(&delete, arn)],
                    out,
                );
            }
        }
        // `Put*Policy` of the same name overwrites an inline policy: its Deny gone, `"*"` in.
        if (self.may)(&k.put.label(), arn) {
            for p in inline.iter().filter(|p| has_deny(p) && self.held(&p.source)) {
                let added = Added {
                    name: format!("{} overwritten", p.source),
                    policies: vec![super::kms::allow_all()],
                    replaces: None,
                    removes: vec![p.source.clone()],
                };
                let detail = format!("overwrite {} (it denies) with \"*\" on \"*\"", p.source);
                self.escalate(k.put, detail, added, vec![step(&k.put.label(), arn)], out);
            }
        }
        if (self.may)(&detach, arn) {
            for (parn, p) in attached.iter().filter_map(|x| self.a.managed.get(x).map(|p| (x, p))) {
                if !has_deny(p) || !self.held(&p.source) {
                    continue;
                }
                let added = Added {
                    name: format!("without {parn}"),
                    policies: vec![],
                    replaces: None,
                    removes: vec![p.source.clone()],
                };
                let s = with_condition(step(&detach, arn), "iam:PolicyARN", parn);
                self.escalate(k.detach, format!("detach {parn} (it denies) from {arn}"), added, vec![s], out);
            }
        }
        if (self.may)(&attach, arn) && self.again(k.attach, &attach, arn, " attached", "iam:PolicyARN", out) {
            let listed: Vec<&String> = self.a.managed.keys().filter(|x| x.as_str() != ADMIN_POLICY).collect();
            for (parn, p) in self.a.managed.iter().filter(|(x, p)| x.as_str() != ADMIN_POLICY && has_allow(p)) {
                if self.held(&p.source) {
                    continue;
                }
                let added = Added {
                    name: format!("{parn} attached"),
                    policies: vec![p.clone()],
                    replaces: None,
                    removes: vec![],
                };
                let s = with_condition(step(&attach, arn), "iam:PolicyARN", parn);
                self.escalate(k.attach, format!("attach {parn} to {arn}"), added, vec![s], out);
            }
            self.outside_dump(k.attach, &attach, arn, "iam:PolicyARN", &listed, out);
        }
        self.boundary(k, arn, out);
    }

    /// Whether a first change of this kind on the path is still to be asked. A second one
    /// (another policy attached, another boundary set, after the first) would make the
    /// escalated nodes every subset of the dump's policies; it is an undecided edge
    /// instead when the caller may make it — never skipped, never claimed.
    /// (`key`: the condition key naming the policy; a policy it already holds, or its
    /// boundary already, changes nothing and is not asked.)
    fn again(&self, t: Technique, action: &str, arn: &str, marker: &str, key: &str, out: &mut Vec<Candidate>) -> bool {
        if !self.node.added.iter().any(|x| x.contains(marker)) {
            return true;
        }
        let boundary = self.actor.boundary.as_ref().map(|b| b.source.clone());
        let same = |p: &Policy| self.held(&p.source) || boundary.as_ref().is_some_and(|b| Arc::ptr_eq(b, &p.source));
        let has: Vec<&String> = self.a.managed.iter().filter(|(_, p)| same(p)).map(|(x, _)| x).collect();
        let why = format!("a second {action} on one path (after {marker:?}) is not modelled");
        let unknown = Step { unknown: Some(why), ..step(action, arn) };
        let condition = (!has.is_empty()).then(|| json!({"ArnNotEquals": {key: has}}));
        let ask = Step { condition, ..step(action, arn) };
        let added =
            Added { name: format!("{action} again on {arn}"), policies: vec![], replaces: None, removes: vec![] };
        self.escalate(t, format!("{action} again on {arn}"), added, vec![ask, unknown], out);
        false
    }

    /// Attaching (or setting as boundary) a policy not in the dump: undecided when allowed.
    fn outside_dump(
        &self,
        t: Technique,
        action: &str,
        arn: &str,
        key: &str,
        listed: &[&String],
        out: &mut Vec<Candidate>,
    ) {
        let mut known: Vec<&str> = listed.iter().map(|s| s.as_str()).collect();
        known.push(ADMIN_POLICY);
        let s = Step { condition: Some(json!({"ArnNotEquals": {key: known}})), ..step(action, arn) };
        let unknown = Step { unknown: Some(OUTSIDE_DUMP.into()), ..step(action, arn) };
        let added = Added {
            name: format!("{action} outside the dump on {arn}"),
            policies: vec![],
            replaces: None,
            removes: vec![],
        };
        self.escalate(
            t,
            format!("{} a managed policy not in the dump ({arn})", t.label()),
            added,
            vec![s, unknown],
            out,
        );
    }

    /// The boundary of itself or its role: deleted, replaced by AdministratorAccess (the
    /// same), or by another managed policy of the dump.
    fn boundary(&self, k: &Actions, arn: &str, out: &mut Vec<Candidate>) {
        let (Some(del), Some(put), Some(b)) = (k.delete_boundary, k.put_boundary, self.actor.boundary.as_ref()) else {
            return;
        };
        if self.node.added.contains("boundary removed") {
            return;
        }
        let gone = || Added {
            name: "boundary removed".into(),
            policies: vec![],
            replaces: Some(b.source.clone()),
            removes: vec![],
        };
        if (self.may)(&del.label(), arn) {
            self.escalate(
                del,
                format!("delete the permissions boundary of {arn}"),
                gone(),
                vec![step(&del.label(), arn)],
                out,
            );
        }
        if !(self.may)(&put.label(), arn)
            || !self.again(put, &put.label(), arn, "boundary arn:", "iam:PermissionsBoundary", out)
        {
            return;
        }
        let admin = with_condition(step(&put.label(), arn), "iam:PermissionsBoundary", ADMIN_POLICY);
        self.escalate(put, format!("set {ADMIN_POLICY} as the boundary of {arn}"), gone(), vec![admin], out);
        let listed: Vec<&String> = self.a.managed.keys().filter(|x| x.as_str() != ADMIN_POLICY).collect();
        for (parn, p) in self.a.managed.iter().filter(|(x, p)| x.as_str() != ADMIN_POLICY && has_allow(p)) {
            if Arc::ptr_eq(&p.source, &b.source) {
                continue;
            }
            let mut nb = p.clone();
            nb.kind = PolicyKind::Boundary;
            let added = Added {
                name: format!("boundary {parn}"),
                policies: vec![nb],
                replaces: Some(b.source.clone()),
                removes: vec![],
            };
            let s = with_condition(step(&put.label(), arn), "iam:PermissionsBoundary", parn);
            self.escalate(put, format!("set {parn} as the boundary of {arn}"), added, vec![s], out);
        }
        self.outside_dump(put, &put.label(), arn, "iam:PermissionsBoundary", &listed, out);
    }

    /// `iam:RemoveUserFromGroup` of itself from a group one of whose policies denies.
    fn leave(&self, grp: &super::gaad::Group, out: &mut Vec<Candidate>) {
        let action = Technique::RemoveUserFromGroup.label();
        let policies = grp.inline.iter().chain(grp.attached.iter().filter_map(|x| self.a.managed.get(x)));
        let held: Vec<&Policy> = policies.filter(|p| self.held(&p.source)).collect();
        if !held.iter().any(|p| has_deny(p)) || !(self.may)(&action, &grp.arn) {
            return;
        }
        let removes = held.iter().map(|p| p.source.clone()).collect();
        let added = Added { name: format!("out of group {}", grp.name), policies: vec![], replaces: None, removes };
        self.escalate(
            Technique::RemoveUserFromGroup,
            format!("remove itself from group {} (it denies)", grp.name),
            added,
            vec![step(&action, &grp.arn)],
            out,
        );
    }

    /// Another principal's policies rewritten (`"*"` on `"*"` put inline, or
    /// AdministratorAccess attached), then acting as it: a role it assumes (its trust
    /// policy as it is, or rewritten to name the caller), a user it creates credentials
    /// for; a group it then joins, or whose member it acts as.
    fn others(&self, index: &HashMap<String, NodeIndex>, base: &str, caller: &str, out: &mut Vec<Candidate>) {
        let writer = |k: &Actions| (self.may_any)(&k.put.label()) || (self.may_any)(&k.attach.label());
        let (roles, users, groups) = (writer(&ROLE), writer(&USER), writer(&GROUP));
        let writes = |k: &Actions, arn: &str| -> Vec<(Technique, Step)> {
            let mut w = Vec::new();
            if (self.may)(&k.put.label(), arn) {
                w.push((k.put, step(&k.put.label(), arn)));
            }
            if (self.may)(&k.attach.label(), arn) {
                w.push((k.attach, with_condition(step(&k.attach.label(), arn), "iam:PolicyARN", ADMIN_POLICY)));
            }
            w
        };
        let to = |t: Technique, target: &str, detail: String, steps: Vec<Step>| Candidate {
            technique: t,
            detail,
            target: Target::EscalatedOf(index[target], any_policy()),
            steps,
        };
        for r in self.a.roles.iter().filter(|r| roles && r.arn != base) {
            for (t, w) in writes(&ROLE, &r.arn) {
                let assume = assume_step(r.trust.clone(), &self.a.id, &r.arn);
                let detail = format!("{} on role {}, then assume it", t.label(), r.name);
                out.push(to(t, &r.arn, detail, vec![w.clone(), assume]));
                let update = Technique::UpdateAssumeRolePolicy.label();
                if (self.may)(&update, &r.arn) {
                    let own = json!({"Effect": "Allow", "Principal": {"AWS": caller}, "Action": "sts:AssumeRole"});
                    let assume = match super::document::trust(
                        &own,
                        &format!("role/{} trust policy as rewritten", r.name),
                        &r.arn,
                    ) {
                        Ok(trust) => assume_step(trust, &self.a.id, &r.arn),
                        // The caller cannot be named in a trust policy: undecided, never skipped.
                        Err(why) => Step { unknown: Some(why.to_string()), ..step("sts:AssumeRole", &r.arn) },
                    };
                    let steps = vec![w, step(&update, &r.arn), assume];
                    let detail = format!(
                        "{} on role {}, rewrite its trust policy to trust itself, then assume it",
                        t.label(),
                        r.name
                    );
                    out.push(to(t, &r.arn, detail, steps));
                }
            }
        }
        let credentials = ["iam:CreateAccessKey", "iam:CreateLoginProfile", "iam:UpdateLoginProfile"];
        let act_as = |u: &super::gaad::User| -> Vec<Step> {
            credentials.iter().filter(|c| (self.may)(c, &u.arn)).map(|c| step(c, &u.arn)).collect()
        };
        for u in self.a.users.iter().filter(|u| users && u.arn != base) {
            for (t, w) in writes(&USER, &u.arn) {
                for c in act_as(u) {
                    let detail = format!("{} on user {}, then {} for it", t.label(), u.name, c.action);
                    out.push(to(t, &u.arn, detail, vec![w.clone(), c]));
                }
            }
        }
        let me = self.a.users.iter().find(|u| u.arn == base);
        for grp in self.a.groups.iter().filter(|_| groups) {
            for (t, w) in writes(&GROUP, &grp.arn) {
                if me.is_some_and(|m| !m.groups.contains(&grp.name)) {
                    let join = step("iam:AddUserToGroup", &grp.arn);
                    let detail = format!("{} on group {}, then add itself to it", t.label(), grp.name);
                    self.escalate(t, detail, any_policy(), vec![w.clone(), join], out);
                }
                for u in self.a.users.iter().filter(|u| u.arn != base && u.groups.contains(&grp.name)) {
                    for c in act_as(u) {
                        let detail =
                            format!("{} on group {}, then {} for its member {}", t.label(), grp.name, c.action, u.name);
                        out.push(to(t, &u.arn, detail, vec![w.clone(), c]));
                    }
                }
            }
        }
    }
}
