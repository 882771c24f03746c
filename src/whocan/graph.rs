//! The account graph: principals (and classes of principals outside the dumps) as nodes,
//! every way one can act as another as an edge, each edge decided by Z3 with a replayed
//! witness ([`super::hop`]); then shortest paths to the key ([`super::kms`]).

use super::domain::{
    Actor, Answer, Edge, KeyChange, Node, NodeKind, Options, Status, Technique, Undecided, Who, Witness,
};
use super::edges;
use super::gaad::Account;
use super::kms::{self, Key, KmsHop};
use super::preselect::{action_may_match, entry_may_cover, may_allow, Cover};
use crate::model::policy::{Policy, PrincipalEntry, Statement};
use crate::prove::Mismatch;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use petgraph::Direction;
use std::collections::{BTreeSet, HashMap, VecDeque};

impl Analysis {
    /// The nodes a report lists: principals and classes (groups act through their members).
    pub fn listed(&self) -> impl Iterator<Item = NodeIndex> + '_ {
        self.graph
            .node_indices()
            .filter(move |i| self.graph[*i].kind != NodeKind::Group && self.graph[*i].kind != NodeKind::Escalated)
    }
}

/// The graph with every edge and last hop decided.
pub struct Analysis {
    pub graph: DiGraph<Node, Edge>,
    /// Edges Z3 could not decide.
    pub undecided: Vec<Undecided>,
    pub last: Vec<Option<KmsHop>>,
    pub status: Vec<Status>,
    /// Per node: the undocumented readings its answer rests on, as `check` reports them —
    /// for a `cannot`, every refuted last hop and edge it could reach.
    pub rests_on: Vec<Vec<String>>,
    pub key: String,
    pub action: String,
}

/// Builds the graph over `accounts` and decides everything for `key`.
pub fn analyse(accounts: &[Account], scps: &[Policy], key: &Key, opts: &Options) -> Result<Analysis, Mismatch> {
    let mut b = Builder {
        accounts,
        scps,
        opts,
        graph: DiGraph::new(),
        index: HashMap::new(),
        undecided: vec![],
        last: vec![],
        done: 0,
        readings: vec![],
        missing: HashMap::new(),
    };
    b.nodes(key);
    b.decide(key)?;
    let (mut graph, mut undecided, mut last, readings) = (b.graph, b.undecided, b.last, b.readings);
    let mut status = statuses(&graph, &last, &undecided, opts.max_hops);
    super::federated::attach(accounts, &mut graph, &mut last, &mut status, &mut undecided);
    let rests_on = (0..graph.node_count()).map(|i| rests_on(&graph, &last, &readings, &status, i)).collect();
    Ok(Analysis { graph, undecided, last, status, rests_on, key: key.arn.clone(), action: opts.action.clone() })
}

struct Builder<'a> {
    accounts: &'a [Account],
    scps: &'a [Policy],
    opts: &'a Options,
    graph: DiGraph<Node, Edge>,
    /// Nodes by label (ARN).
    index: HashMap<String, NodeIndex>,
    undecided: Vec<Undecided>,
    /// The last hop of each node decided so far.
    last: Vec<Option<KmsHop>>,
    /// Nodes whose out-edges are decided.
    done: usize,
    /// Per node: the readings its refuted edges rest on.
    readings: Vec<Vec<String>>,
    /// Principals holding a managed policy the dump does not contain, and why: their
    /// last hop is undecided and no edge leaves them (the policy may allow or deny anything).
    missing: HashMap<NodeIndex, String>,
}

impl Builder<'_> {
    fn add(&mut self, label: String, kind: NodeKind, actor: Option<Actor>) -> NodeIndex {
        let node =
            Node { label: label.clone(), kind, actor, base: None, added: BTreeSet::new(), key: KeyChange::Original };
        let i = self.graph.add_node(node);
        self.readings.push(vec![]);
        self.index.insert(label, i);
        i
    }

    fn note_missing(&mut self, n: NodeIndex, a: &Account, missing: Vec<String>) {
        if !missing.is_empty() {
            let why = format!(
                "it holds the managed policy {}, which the dump {} names but does not contain",
                missing.join(", "),
                a.file
            );
            self.missing.insert(n, why);
        }
    }

    /// Every principal of the dumps, their groups, and the classes outside them.
    fn nodes(&mut self, key: &Key) {
        let dump_accounts: Vec<String> = self.accounts.iter().map(|a| a.id.clone()).collect();
        for a in self.accounts {
            let root = format!("arn:aws:iam::{}:root", a.id);
            self.add(root.clone(), NodeKind::Root, Some(actor(Who::Principal(root), &a.id, vec![], None)));
            for g in &a.groups {
                self.add(g.arn.clone(), NodeKind::Group, None);
            }
            for u in &a.users {
                let act = actor(Who::Principal(u.arn.clone()), &a.id, a.user_policies(u), a.boundary(&u.boundary));
                let n = self.add(u.arn.clone(), NodeKind::User, Some(act));
                self.note_missing(n, a, a.user_missing(u));
                for g in u.groups.iter().filter_map(|g| a.group(g)) {
                    let gi = self.index[&g.arn];
                    let e = Edge {
                        technique: Technique::MemberOf,
                        detail: format!("member of group {}", g.name),
                        witnesses: vec![],
                    };
                    self.graph.add_edge(n, gi, e);
                }
            }
            for r in &a.roles {
                // The role's sessions as the model derives their `aws:PrincipalArn` (one
                // derivation: whether it carries the role's path is the model's rule).
                let caller = crate::model::request::Caller::session_principal_arn(&r.arn)
                    .unwrap_or_else(|| format!("arn:aws:iam::{}:role/{}", a.id, r.name));
                let act = actor(Who::Principal(caller), &a.id, a.role_policies(r), a.boundary(&r.boundary));
                let n = self.add(r.arn.clone(), NodeKind::Role, Some(act));
                self.note_missing(n, a, a.role_missing(r));
            }
        }
        let mut named: BTreeSet<String> = BTreeSet::new();
        let trusts = self.accounts.iter().flat_map(|a| a.roles.iter().map(|r| &r.trust));
        for p in trusts.chain(std::iter::once(&key.policy)) {
            named.extend(p.statements.iter().flat_map(entry_accounts));
        }
        named.extend(key.grants.iter().filter_map(|g| grantee_account(&g.grantee)));
        for x in named.iter().filter(|x| !dump_accounts.contains(x)) {
            let a = actor(Who::AnyOf(x.clone()), x, vec![], None);
            self.add(format!("any principal of account {x}"), NodeKind::Class, Some(a));
        }
        let known: Vec<String> =
            dump_accounts.iter().chain(&named).cloned().collect::<BTreeSet<_>>().into_iter().collect();
        let a = actor(Who::AnyOtherAccount(known), "", vec![], None);
        self.add("any principal of any other account".into(), NodeKind::Class, Some(a));
    }

    /// Decides the last hop and the out-edges of every node, including escalated nodes as
    /// they appear. A node whose last hop is allowed needs no out-edges: no shortest path
    /// goes on from it. The dumps' principals and classes are independent questions,
    /// decided in parallel (each solver query has its own Z3 context).
    fn decide(&mut self, key: &Key) -> Result<(), Mismatch> {
        use rayon::prelude::*;
        let count = self.graph.node_count();
        let initial = self.last_hops(count, key)?;
        let this = &*self;
        let decided: Vec<Vec<Decided>> = (0..count)
            .into_par_iter()
            .map(|i| if is_yes(&initial[i]) { Ok(vec![]) } else { this.out_edges(NodeIndex::new(i), key) })
            .collect::<Result<_, _>>()?;
        let mut initial = initial.into_iter().zip(decided);
        while self.done < self.graph.node_count() {
            let n = NodeIndex::new(self.done);
            self.done += 1;
            let (last, decided) = match initial.next() {
                Some(x) => x,
                None => {
                    let last = self.last_hop(n, key)?;
                    let decided = if is_yes(&last) { vec![] } else { self.out_edges(n, key)? };
                    (last, decided)
                }
            };
            self.last.push(last);
            for d in decided {
                self.apply(n, d);
            }
        }
        Ok(())
    }

    /// Every candidate edge leaving `n`, decided (KMS's own escalations on the key as the
    /// path to `n` left it).
    fn out_edges(&self, n: NodeIndex, key: &Key) -> Result<Vec<Decided>, Mismatch> {
        let Some(actor) = &self.graph[n].actor else { return Ok(vec![]) };
        if self.missing.contains_key(&n) {
            return Ok(vec![]);
        }
        let mut asks =
            edges::candidates(self.accounts, &self.graph, &self.index, n, self.opts.escalation, self.opts.prefilter);
        let dump_principal = matches!(actor.who, Who::Principal(_)) && !actor.is_root();
        if self.opts.escalation && dump_principal {
            let mut more = Vec::new();
            super::rewrites::candidates(self.accounts, &self.graph, &self.index, n, self.opts.prefilter, &mut more);
            if self.opts.prefilter {
                edges::preselect(actor, &mut more);
            }
            asks.extend(more);
        }
        let key = kms::changed(key, &self.graph[n].key);
        if self.opts.escalation {
            let may = |action: &str| !self.opts.prefilter || kms_may_allow(actor, &key, action);
            asks.extend(edges::kms_candidates(&self.graph[n], &self.opts.action, &may));
        }
        let mut out = Vec::new();
        for ask in asks {
            if matches!(ask.target, edges::Target::Node(t) if t == n) {
                continue;
            }
            let outcome = self.decide_steps(actor, &key, &ask.steps)?;
            out.push(Decided { candidate: ask, outcome });
        }
        Ok(out)
    }

    /// Adds a decided candidate to the graph (once per pair of nodes). A path that
    /// replaced the key policy reaches every node in that world (its copy, created on first
    /// use); a grant to itself stays with its own principal.
    fn apply(&mut self, n: NodeIndex, Decided { candidate: ask, outcome }: Decided) {
        if let EdgeOutcome::Refuted(readings) = &outcome {
            self.readings[n.index()].extend(readings.iter().cloned());
        }
        let known = match &ask.target {
            edges::Target::Node(t) => self.in_world(n, *t),
            edges::Target::Escalated(added) => self.existing_escalated(n, added),
            edges::Target::Key(change) => self.find_variant(n, change),
            edges::Target::EscalatedOf(t, added) => {
                self.in_world(n, *t).and_then(|t| self.existing_escalated(t, added))
            }
        };
        if known.is_some_and(|to| to == n || self.graph.find_edge(n, to).is_some()) {
            return;
        }
        match outcome {
            EdgeOutcome::Open(witnesses) => {
                let to = match (&ask.target, known) {
                    (_, Some(to)) => to,
                    (edges::Target::Escalated(added), None) => self.escalated(n, added),
                    (edges::Target::Node(t), None) => self.variant(*t, KeyChange::PolicyReplaced),
                    (edges::Target::Key(change), None) => self.variant(n, change.clone()),
                    (edges::Target::EscalatedOf(t, added), None) => {
                        let t = match self.graph[n].key {
                            KeyChange::PolicyReplaced => self.variant(*t, KeyChange::PolicyReplaced),
                            _ => *t,
                        };
                        self.escalated(t, added)
                    }
                };
                let e = Edge { technique: ask.technique, detail: ask.detail.clone(), witnesses };
                self.graph.add_edge(n, to, e);
            }
            EdgeOutcome::Undecided(why) => {
                let to = known.unwrap_or(n);
                self.undecided.push(Undecided {
                    from: n,
                    to,
                    technique: ask.technique,
                    why: format!("{}: {why}", ask.detail),
                });
            }
            EdgeOutcome::Refuted(_) => {}
        }
    }

    /// The label of "`n` (its base principal and what was added) with the key changed".
    fn variant_label(&self, n: NodeIndex, change: &KeyChange) -> String {
        let node = &self.graph[n];
        let base = node.base.unwrap_or(n);
        let mut label = self.graph[base].label.clone();
        if !node.added.is_empty() {
            label = format!("{label} + {}", node.added.iter().cloned().collect::<Vec<_>>().join(" + "));
        }
        match change {
            KeyChange::Original => label,
            c => format!("{label} [{}]", c.label()),
        }
    }

    /// Node `t` as a path from `n` reaches it: in the world where the key policy was
    /// replaced when `n` is (a grant to `n` does not follow it to another principal).
    fn in_world(&self, n: NodeIndex, t: NodeIndex) -> Option<NodeIndex> {
        match self.graph[n].key {
            KeyChange::PolicyReplaced => self.find_variant(t, &KeyChange::PolicyReplaced),
            _ => Some(t),
        }
    }

    fn find_variant(&self, n: NodeIndex, change: &KeyChange) -> Option<NodeIndex> {
        self.index.get(&self.variant_label(n, change)).copied()
    }

    /// Node `n` (same principal, same added policies) with the key changed, created on first use.
    fn variant(&mut self, n: NodeIndex, change: KeyChange) -> NodeIndex {
        if let Some(i) = self.find_variant(n, &change) {
            return i;
        }
        let label = self.variant_label(n, &change);
        let (base, added, actor) =
            (self.graph[n].base.unwrap_or(n), self.graph[n].added.clone(), self.graph[n].actor.clone());
        let i = self.add(label, NodeKind::Escalated, actor);
        self.graph[i].base = Some(base);
        self.graph[i].added = added;
        self.graph[i].key = change;
        i
    }

    /// Every step allowed: the edge is open with their witnesses; one step refuted (Z3
    /// unsat) refutes it; otherwise one undecided step leaves it undecided.
    fn decide_steps(&self, actor: &Actor, key: &Key, steps: &[edges::Step]) -> Result<EdgeOutcome, Mismatch> {
        let scps = self.scps_for(actor);
        let mut witnesses = Vec::new();
        let mut pending = None;
        for step in steps {
            if let Some(why) = &step.unknown {
                pending = Some(why.clone());
                continue;
            }
            if let Some(k) = step.kms {
                let limits = self.opts.limits;
                let (answer, readings) = match k {
                    edges::KmsStep::PutKeyPolicy => kms::put_key_policy(actor, key, &scps, limits)?,
                    edges::KmsStep::CreateGrant => kms::create_grant(actor, key, &self.opts.action, &scps, limits)?,
                };
                match answer {
                    Answer::Yes(w) => witnesses.push(w),
                    Answer::No => return Ok(EdgeOutcome::Refuted(readings)),
                    Answer::Unknown(why) => return Ok(EdgeOutcome::Undecided(why)),
                }
                continue;
            }
            if let Some(assume) = &step.service {
                let role = step.resource.as_deref().unwrap_or_default();
                match super::service::decide(&assume.trust, role, assume.service, self.opts.limits)? {
                    super::service::ServiceTrust::Yes(w) => witnesses.push(w),
                    super::service::ServiceTrust::No => return Ok(EdgeOutcome::Refuted(vec![])),
                    super::service::ServiceTrust::Unknown(why) => pending = Some(why),
                }
                continue;
            }
            let q = super::hop::Ask {
                action: step.action.clone(),
                resource: step.resource.clone(),
                condition: step.condition.clone(),
                trust: step.trust.as_ref().map(|t| t.as_ask()),
            };
            match super::hop::decide_with_readings(actor, &q, &scps, self.opts.limits)? {
                (Answer::Yes(w), _) => witnesses.push(w),
                (Answer::No, readings) => return Ok(EdgeOutcome::Refuted(readings)),
                (Answer::Unknown(why), _) => return Ok(EdgeOutcome::Undecided(why)),
            }
        }
        Ok(match pending {
            Some(why) => EdgeOutcome::Undecided(why),
            None => EdgeOutcome::Open(witnesses),
        })
    }

    /// SCPs cap the principals of the dumps' accounts only.
    fn scps_for(&self, actor: &Actor) -> Vec<Policy> {
        if matches!(actor.who, Who::Principal(_)) {
            self.scps.to_vec()
        } else {
            vec![]
        }
    }

    /// The label of "`n` with these policies added" (on the key as `n`'s path left it).
    fn escalated_label(&self, n: NodeIndex, added: &edges::Added) -> String {
        let base = self.graph[n].base.unwrap_or(n);
        let mut set = self.graph[n].added.clone();
        set.insert(added.name.clone());
        let label = format!("{} + {}", self.graph[base].label, set.iter().cloned().collect::<Vec<_>>().join(" + "));
        match &self.graph[n].key {
            KeyChange::Original => label,
            c => format!("{label} [{}]", c.label()),
        }
    }

    /// The node "`n` with these policies added", if it exists.
    fn existing_escalated(&self, n: NodeIndex, added: &edges::Added) -> Option<NodeIndex> {
        self.index.get(&self.escalated_label(n, added)).copied()
    }

    fn escalated(&mut self, n: NodeIndex, added: &edges::Added) -> NodeIndex {
        let base = self.graph[n].base.unwrap_or(n);
        let mut set = self.graph[n].added.clone();
        set.insert(added.name.clone());
        let mut actor = self.graph[n]
            .actor
            .clone()
            .expect("escalation targets are the caller, users and roles (rewrites.rs), which all have an actor");
        added.apply(&mut actor);
        let label = self.escalated_label(n, added);
        let i = self.add(label, NodeKind::Escalated, Some(actor));
        self.graph[i].base = Some(base);
        self.graph[i].added = set;
        self.graph[i].key = self.graph[n].key.clone();
        i
    }

    /// The last hops of the first `count` nodes. Those the pre-selection or the plainest
    /// request settle are settled alone; the others are grouped by [`kms::signature`]
    /// (the same inputs up to the principal) and each group decided together (see
    /// [`kms::decide_group`]), groups in parallel. Groups and representatives are in
    /// node order, so the answers do not depend on the schedule.
    fn last_hops(&self, count: usize, key: &Key) -> Result<Vec<Option<KmsHop>>, Mismatch> {
        use rayon::prelude::*;
        let action = &self.opts.action;
        let quick: Vec<Quick> = (0..count)
            .into_par_iter()
            .map(|i| {
                let Some(actor) = &self.graph[NodeIndex::new(i)].actor else { return Quick::Settled(None) };
                if let Some(why) = self.missing.get(&NodeIndex::new(i)) {
                    let answer = Answer::Unknown(why.clone());
                    return Quick::Settled(Some(KmsHop { answer, required: vec![], rests_on: vec![] }));
                }
                if self.opts.prefilter && !kms_may_allow(actor, key, action) {
                    return Quick::Settled(Some(KmsHop { answer: Answer::No, required: vec![], rests_on: vec![] }));
                }
                let scps = self.scps_for(actor);
                match kms::plain(actor, key, action, &scps) {
                    Some(hop) => Quick::Settled(Some(hop)),
                    None => kms::signature(actor, key, action, &scps).map_or(Quick::Alone, Quick::Signature),
                }
            })
            .collect();
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut by_signature: HashMap<&str, usize> = HashMap::new();
        for (i, q) in quick.iter().enumerate() {
            match q {
                Quick::Signature(sig) => match by_signature.get(sig.as_str()) {
                    Some(g) => groups[*g].push(i),
                    None => {
                        by_signature.insert(sig, groups.len());
                        groups.push(vec![i]);
                    }
                },
                Quick::Alone => groups.push(vec![i]),
                Quick::Settled(_) => {}
            }
        }
        let decided: Vec<Vec<KmsHop>> = groups
            .par_iter()
            .map(|g| {
                let actors: Vec<&Actor> = g
                    .iter()
                    .map(|i| {
                        self.graph[NodeIndex::new(*i)].actor.as_ref().expect("groups hold only nodes with an actor")
                    })
                    .collect();
                kms::decide_group(&actors, key, action, &self.scps_for(actors[0]), self.opts.limits)
            })
            .collect::<Result<_, _>>()?;
        let mut out: Vec<Option<KmsHop>> = quick
            .into_iter()
            .map(|q| match q {
                Quick::Settled(hop) => hop,
                Quick::Signature(_) | Quick::Alone => None,
            })
            .collect();
        for (g, hops) in groups.iter().zip(decided) {
            for (i, hop) in g.iter().zip(hops) {
                out[*i] = Some(hop);
            }
        }
        Ok(out)
    }

    /// The last hop of one node, on the key as its path left it (under a replaced key
    /// policy, the actor as [`kms::under_replaced_policy`] makes it).
    fn last_hop(&self, n: NodeIndex, key: &Key) -> Result<Option<KmsHop>, Mismatch> {
        let Some(actor) = &self.graph[n].actor else { return Ok(None) };
        let change = &self.graph[n].key;
        let key = kms::changed(key, change);
        let replaced;
        let actor = if matches!(change, KeyChange::PolicyReplaced) {
            replaced = kms::under_replaced_policy(actor);
            &replaced
        } else {
            actor
        };
        if self.opts.prefilter && !kms_may_allow(actor, &key, &self.opts.action) {
            return Ok(Some(KmsHop { answer: Answer::No, required: vec![], rests_on: vec![] }));
        }
        Ok(Some(kms::decide(actor, &key, &self.opts.action, &self.scps_for(actor), self.opts.limits)?))
    }
}

/// How Z3 (and the replay) decided a candidate edge.
#[derive(Debug, Clone)]
enum EdgeOutcome {
    /// Every step allowed: the edge exists, opened by these replayed requests.
    Open(Vec<Witness>),
    /// A step is refuted (unsat): no edge; the readings the `unsat` rests on.
    Refuted(Vec<String>),
    /// No step refuted, one undecided: an undecided edge, and why.
    Undecided(String),
}

/// A candidate edge with its outcome.
#[derive(Debug, Clone)]
struct Decided {
    candidate: edges::Candidate,
    outcome: EdgeOutcome,
}

/// A last hop before Z3: settled without it, or to be decided in a group of principals
/// with the same [`kms::signature`], or alone (a class of principals).
enum Quick {
    Settled(Option<KmsHop>),
    Signature(String),
    Alone,
}

fn is_yes(last: &Option<KmsHop>) -> bool {
    matches!(last.as_ref().map(|h| &h.answer), Some(Answer::Yes(_)))
}

fn actor(who: Who, account: &str, identity: Vec<Policy>, boundary: Option<Policy>) -> Actor {
    Actor { who, account: account.to_string(), identity, boundary }
}

/// The accounts a statement's principal entries name.
fn entry_accounts(st: &Statement) -> Vec<String> {
    let Some(p) = &st.principal else { return vec![] };
    p.entries
        .iter()
        .filter_map(|e| match e {
            PrincipalEntry::Account(a) | PrincipalEntry::Role { account: a, .. } => Some(a.clone()),
            PrincipalEntry::Exact(arn) => crate::base::arn::account_of(arn).map(str::to_string),
            _ => None,
        })
        .filter(|a| a.len() == 12)
        .collect()
}

fn grantee_account(grantee: &str) -> Option<String> {
    crate::base::arn::account_id(grantee).map(str::to_string)
}

/// Sound pre-selection for the last hop: KMS allows an action on a key only through an
/// applying key-policy statement or grant, and a key-policy statement applies only when
/// one of its principal entries covers the caller; delegation to the account (or any
/// cross-account use) also needs an identity `Allow` whose `Action` covers the action.
fn kms_may_allow(actor: &Actor, key: &Key, action: &str) -> bool {
    let any_identity = !matches!(actor.who, Who::Principal(_));
    let identity = any_identity || actor.is_root() || may_allow(&actor.identity, action, Some(&key.arn));
    // A grantee is checked by account only (a role grantee may carry a path).
    let grant = key.grants.iter().any(|g| match &actor.who {
        Who::Principal(_) => grantee_account(&g.grantee).is_none_or(|a| a == actor.account),
        _ => true,
    });
    let key_account = crate::base::arn::account_of(&key.arn).unwrap_or_default().to_string();
    let same = actor.account == key_account;
    let statements = key.policy.statements.iter().filter(|s| s.effect == crate::model::policy::Effect::Allow);
    let entries = statements.filter(|s| action_may_match(&s.action, action)).filter_map(|s| s.principal.as_ref());
    let mut reach = false;
    for p in entries {
        if p.negated {
            // `NotPrincipal` may cover the caller directly (as `*` does).
            if same {
                return true;
            }
            reach = true;
            continue;
        }
        for e in &p.entries {
            match entry_may_cover(e, actor) {
                Some(Cover::Direct) if same => return true,
                Some(Cover::Direct) | Some(Cover::Account) => reach = true,
                None => {}
            }
        }
    }
    grant || (reach && identity)
}

/// Shortest paths to a node whose last hop is allowed; `Cannot` only when no node whose
/// last hop is allowed or undecided is reachable at all, over decided and undecided edges.
fn statuses(g: &DiGraph<Node, Edge>, last: &[Option<KmsHop>], undecided: &[Undecided], max_hops: usize) -> Vec<Status> {
    let n = g.node_count();
    let yes = |i: usize| matches!(last[i].as_ref().map(|h| &h.answer), Some(Answer::Yes(_)));
    // Reverse BFS from every node whose last hop is allowed: distance and next edge.
    let mut dist = vec![usize::MAX; n];
    let mut next: Vec<Option<petgraph::graph::EdgeIndex>> = vec![None; n];
    let mut queue = VecDeque::new();
    for i in (0..n).filter(|i| yes(*i)) {
        dist[i] = 0;
        queue.push_back(NodeIndex::new(i));
    }
    while let Some(v) = queue.pop_front() {
        for e in g.edges_directed(v, Direction::Incoming) {
            let u = e.source();
            if dist[u.index()] == usize::MAX {
                dist[u.index()] = dist[v.index()] + 1;
                next[u.index()] = Some(e.id());
                queue.push_back(u);
            }
        }
    }
    // What each node can reach through decided or undecided edges.
    let maybe = |i: usize| !matches!(last[i].as_ref().map(|h| &h.answer), Some(Answer::No) | None);
    (0..n)
        .map(|i| {
            if dist[i] != usize::MAX && dist[i] <= max_hops {
                let mut path = Vec::new();
                let mut at = i;
                while let Some(e) = next[at] {
                    path.push(e);
                    at = g.edge_endpoints(e).expect("an edge index taken from this graph").1.index();
                }
                return Status::Can(path, NodeIndex::new(at));
            }
            if dist[i] != usize::MAX {
                return Status::BeyondHops;
            }
            match first_undecided(g, undecided, i, &maybe, last) {
                Some(why) => Status::Unknown(why),
                None => Status::Cannot,
            }
        })
        .collect()
}

/// The readings a node's `cannot` rests on: those of every refuted last hop and edge of
/// every node it reaches (each an `unsat` that `check` would qualify the same way).
/// Other answers rest on none (a `can` is a replayed path; `unknown` is not a proof).
fn rests_on(
    g: &DiGraph<Node, Edge>,
    last: &[Option<KmsHop>],
    readings: &[Vec<String>],
    status: &[Status],
    i: usize,
) -> Vec<String> {
    if !matches!(status.get(i), Some(Status::Cannot)) {
        return vec![];
    }
    let mut out: Vec<String> = Vec::new();
    let mut seen = vec![false; g.node_count()];
    let mut stack = vec![i];
    while let Some(v) = stack.pop() {
        if std::mem::replace(&mut seen[v], true) {
            continue;
        }
        let hop = last.get(v).and_then(Option::as_ref).map(|h| h.rests_on.as_slice()).unwrap_or_default();
        for r in hop.iter().chain(readings.get(v).into_iter().flatten()) {
            if !out.contains(r) {
                out.push(r.clone());
            }
        }
        stack.extend(g.neighbors(NodeIndex::new(v)).map(|n| n.index()));
    }
    out
}

/// Why node `i` is undecided: some node it reaches (over any edge) has an undecided last
/// hop, or an undecided edge leaves a node it reaches.
fn first_undecided(
    g: &DiGraph<Node, Edge>,
    undecided: &[Undecided],
    i: usize,
    maybe: &dyn Fn(usize) -> bool,
    last: &[Option<KmsHop>],
) -> Option<String> {
    let mut seen = vec![false; g.node_count()];
    let mut stack = vec![i];
    while let Some(v) = stack.pop() {
        if std::mem::replace(&mut seen[v], true) {
            continue;
        }
        if maybe(v) {
            if let Some(Answer::Unknown(why)) = last[v].as_ref().map(|h| &h.answer) {
                return Some(format!("the last hop of {} is undecided: {why}", g[NodeIndex::new(v)].label));
            }
        }
        if let Some(u) = undecided.iter().find(|u| u.from.index() == v) {
            return Some(format!(
                "the {} edge {} → {} is undecided: {}",
                u.technique.label(),
                g[NodeIndex::new(v)].label,
                g[u.to].label,
                u.why
            ));
        }
        stack.extend(g.neighbors(NodeIndex::new(v)).map(|n| n.index()));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(principal: &str) -> Key {
        let doc = format!(
            r#"{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", {principal}, "Action": "kms:Decrypt", "Resource": "*"}}]}}"#
        );
        let policy =
            crate::model::policy::parse_policy(&doc, "k", crate::model::policy::PolicyKind::KeyPolicy).unwrap();
        Key { arn: "arn:aws:kms:us-east-1:111122223333:key/k".into(), policy, grants: vec![] }
    }

    #[test]
    fn preselection_skips_only_what_no_statement_can_allow() {
        let me = actor(Who::Principal("arn:aws:iam::111122223333:user/u".into()), "111122223333", vec![], None);
        let not_principal = key(r#""NotPrincipal": {"AWS": "arn:aws:iam::111122223333:user/x"}"#);
        assert!(kms_may_allow(&me, &not_principal, "kms:Decrypt"));
        assert!(kms_may_allow(&me, &key(r#""Principal": {"AWS": "arn:aws:iam::111122223333:user/u"}"#), "kms:Decrypt"));
        assert!(!kms_may_allow(
            &me,
            &key(r#""Principal": {"AWS": "arn:aws:iam::111122223333:user/x"}"#),
            "kms:Decrypt"
        ));
        // Delegation to the account needs an identity policy, and u has none.
        assert!(!kms_may_allow(&me, &key(r#""Principal": {"AWS": "arn:aws:iam::111122223333:root"}"#), "kms:Decrypt"));
        assert!(!kms_may_allow(&me, &key(r#""Principal": "*""#), "kms:Encrypt"));
    }
}
