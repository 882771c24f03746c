//! The KMS authorization decision as a formula, step for step as `eval::authorize`.

use super::{Encoder, KeyVar, Unsupported};
use crate::base::pattern::{resolve, resource_match};
use crate::facts::catalog::KeyType;
use crate::facts::kms_rules::{is_cross_account_action, GRANT_OPS_IGNORING_CONSTRAINTS};
use crate::model::grant::{Constraint, Grant};
use crate::model::inputs::Inputs;
use crate::model::policy::{Effect, Matcher, Policy, PolicyKind, PrincipalEntry, Statement};
use kmsproof_solver::{ElemPred, Glob, Term};

/// When one statement applies, split by how its principal reached the caller.
pub(crate) struct StatementTerms {
    pub applies: Term,
    /// Through a direct entry (`*`, the role, the exact ARN, the service).
    pub direct: Term,
    /// Through the account entry only (delegation to IAM policies).
    pub account_only: Term,
    /// Through the exact user or session ARN.
    pub exact: Term,
    /// Through the caller's role ARN.
    pub role: Term,
}

impl Encoder {
    /// The statement's terms; `Unsupported` when a part of it is not encoded yet.
    pub(crate) fn statement(&mut self, st: &Statement) -> Result<StatementTerms, Unsupported> {
        let action = self.action_matcher(&st.action);
        let resource = match &st.resource {
            None => Term::FALSE,
            Some(r) => match self.resource_matcher(r) {
                Ok(t) => t,
                // On the alias side the atom stands for the match on the alias.
                Err(u) if self.resource_target.is_some() => {
                    let text = format!("alias-resource|{}|{:?}", r.negated, r.patterns);
                    self.opaque_atom(text, || super::Opaque::AliasResource(r.clone())).ok_or(u)?
                }
                Err(u) => {
                    let text = format!("resource|{}|{:?}", r.negated, r.patterns);
                    self.opaque_atom(text, || super::Opaque::Resource(r.clone())).ok_or(u)?
                }
            },
        };
        let mut parts = vec![action, resource];
        for c in &st.conditions {
            let t = match self.condition(c) {
                Ok(t) => t,
                Err(u) => {
                    let text = format!("condition|{:?}|{}|{:?}", c.op, c.key.to_ascii_lowercase(), c.values);
                    let atom = self.opaque_atom(text, || super::Opaque::Condition(c.clone())).ok_or(u)?;
                    self.note_widened(c, &atom);
                    atom
                }
            };
            parts.push(t);
        }
        let core = Term::and(parts);
        let (direct, account, exact, role) = match &st.principal {
            None => (Term::TRUE, Term::FALSE, Term::FALSE, Term::FALSE),
            Some(p) => {
                let of = |pick: &dyn Fn(&PrincipalEntry) -> bool| {
                    Term::or(p.entries.iter().filter(|e| pick(e)).map(|e| self.caller.entry(e)).collect::<Vec<_>>())
                };
                let direct = of(&|e| !matches!(e, PrincipalEntry::Account(_)));
                let account = of(&|e| matches!(e, PrincipalEntry::Account(_)));
                let exact = of(&|e| matches!(e, PrincipalEntry::Exact(_)));
                let role = of(&|e| matches!(e, PrincipalEntry::Role { .. }));
                if p.negated {
                    (Term::not(self.caller.not_principal_exempts(&p.entries)), Term::FALSE, Term::FALSE, Term::FALSE)
                } else {
                    (direct, account, exact, role)
                }
            }
        };
        let account_only = Term::and([account.clone(), Term::not(direct.clone())]);
        Ok(StatementTerms {
            applies: Term::and([Term::or([direct.clone(), account]), core.clone()]),
            direct: Term::and([direct, core.clone()]),
            account_only: Term::and([account_only, core.clone()]),
            exact: Term::and([exact, core.clone()]),
            role: Term::and([role, core]),
        })
    }

    fn action_matcher(&self, m: &Matcher) -> Term {
        let patterns: Vec<_> = m.patterns.iter().map(|p| resolve(p, true, &|_| None).unwrap_or_default()).collect();
        let any = self.action_matches_any(&patterns, true);
        if m.negated {
            Term::not(any)
        } else {
            any
        }
    }

    /// Resources are constants (the key, or `*` for actions not on a key), so each
    /// pattern is decided now, as the evaluator decides it.
    fn resource_matcher(&self, m: &Matcher) -> Result<Term, Unsupported> {
        let patterns = m
            .patterns
            .iter()
            .map(|p| self.resolve_value(p, true))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| Unsupported("policy variables in Resource are not encoded yet".into()))?;
        if let Some(resource) = self.resource_target.or(self.resource) {
            let hits =
                patterns.iter().map(|toks| resource_glob(toks).map_or(Term::FALSE, |g| Term::str_match(resource, g)));
            let any = Term::or(hits.collect::<Vec<_>>());
            return Ok(if m.negated { Term::not(any) } else { any });
        }
        let covers = |target: &str| {
            let hit = patterns.iter().any(|t| resource_match(t, target));
            hit != m.negated
        };
        let (key, star) = (covers(&self.key_arn), covers("*"));
        let term = self.constant_resource[usize::from(key) * 2 + usize::from(star)].get_or_init(|| {
            let on_key = self.on_key();
            Term::or([
                Term::and([on_key.clone(), Term::constant(key)]),
                Term::and([Term::not(on_key), Term::constant(star)]),
            ])
        });
        Ok(term.clone())
    }

    fn policy_terms(&mut self, p: &Policy) -> Result<Vec<(Effect, StatementTerms)>, Unsupported> {
        p.statements
            .iter()
            .map(|st| {
                self.within_budget()?;
                Ok((st.effect, self.statement(st)?))
            })
            .collect()
    }

    fn grant(&mut self, g: &Grant, identity: &Term) -> Result<Term, Unsupported> {
        if !g.is_on_key(&self.key_arn) {
            return Ok(Term::FALSE);
        }
        let op = Term::or(g.operations.iter().map(|o| self.action_is(o)).collect::<Vec<_>>());
        let direct = Term::or([
            self.caller.entry(&PrincipalEntry::Exact(g.grantee.clone())),
            self.caller.entry(&PrincipalEntry::Service(g.grantee.clone())),
        ]);
        let account = crate::model::grant::account_of(&g.grantee).map_or(Term::FALSE, |a| self.caller.account_is(&a));
        let to_account = Term::and([Term::not(direct.clone()), account]);
        let mut constraints = Vec::new();
        for c in &g.constraints {
            constraints.push(self.constraint(c)?);
        }
        let ignoring = self.action_in(|a| GRANT_OPS_IGNORING_CONSTRAINTS.contains(&a.name.as_str()));
        let constrained = Term::or([ignoring, Term::and(constraints)]);
        let who = Term::or([direct, Term::and([to_account, identity.clone()])]);
        let delegation = self.child_grant(g)?;
        let source = self.source_arn(g)?;
        Ok(Term::and([op, who, constrained, delegation, source]))
    }

    /// A grant's `SourceArn` constraint: the request's `aws:SourceArn` is that ARN (on
    /// every operation, reading `source-arn-on-every-operation`; the alternative skips the
    /// operations encryption-context constraints skip).
    fn source_arn(&mut self, g: &Grant) -> Result<Term, Unsupported> {
        let Some(arn) = &g.source_arn else { return Ok(Term::TRUE) };
        let KeyVar::Str { present, v } = self.key_var("aws:SourceArn", KeyType::Arn)? else {
            return Err(Unsupported("aws:SourceArn".into()));
        };
        let holds = Term::and([Term::var(present), Term::str_match(v, Glob::literal(arn, false))]);
        if self.alternative(crate::facts::readings::Reading::SourceArnOnEveryOperation) {
            let skipped = self.action_in(|a| GRANT_OPS_IGNORING_CONSTRAINTS.contains(&a.name.as_str()));
            return Ok(Term::or([skipped, holds]));
        }
        Ok(holds)
    }

    /// "A `CreateGrant` creates a grant `g`'s grantee may create", as `Grant::allows_child`:
    /// its operations among `g`'s, and an `Equals` child of an `Equals` parent.
    fn child_grant(&mut self, g: &Grant) -> Result<Term, Unsupported> {
        if !g.has_operation("CreateGrant") {
            return Ok(Term::TRUE);
        }
        let KeyVar::Set { v: ops, .. } = self.key_var("kms:GrantOperations", KeyType::String)? else {
            return Err(Unsupported("kms:GrantOperations".into()));
        };
        let parent = ElemPred::or(g.operations.iter().map(|o| ElemPred::matches(Glob::literal(o, false))).collect());
        let mut parts = vec![Term::set_all(ops, parent)];
        if g.constraints.iter().any(|c| matches!(c, Constraint::Equals(_))) {
            let KeyVar::Str { present, v } = self.key_var("kms:GrantConstraintType", KeyType::String)? else {
                return Err(Unsupported("kms:GrantConstraintType".into()));
            };
            let equals = Glob::literal(crate::model::grant::EQUALS_CONSTRAINT, false);
            parts.push(Term::and([Term::var(present), Term::str_match(v, equals)]));
        }
        Ok(Term::implies(self.action_is("CreateGrant"), Term::and(parts)))
    }

    /// "The caller may retire `g`", as `eval::retire_applies` and `eval::retire_path`: a
    /// principal the grant names (retiring principal, or grantee with `RetireGrant`)
    /// directly within the SCPs; else an account it names, or the account it was created
    /// in, through an identity policy (or the root user) within every guardrail.
    fn retire(&mut self, g: &Grant, identity: &Term, scp_open: &Term, guarded: &Term, key_account: &str) -> Term {
        if !g.is_on_key(&self.key_arn) {
            return Term::FALSE;
        }
        let id = self.grant_is(g.id());
        let named: Vec<&str> = g
            .retiring
            .iter()
            .map(String::as_str)
            .chain(g.has_operation("RetireGrant").then_some(g.grantee.as_str()))
            .collect();
        let direct = Term::or(
            named
                .iter()
                .flat_map(|p| {
                    [
                        self.caller.entry(&PrincipalEntry::Exact(p.to_string())),
                        self.caller.entry(&PrincipalEntry::Service(p.to_string())),
                    ]
                })
                .collect::<Vec<_>>(),
        );
        let accounts = named
            .iter()
            .filter_map(|p| crate::model::grant::account_of(p))
            .chain([g.issued_in(key_account).to_string()])
            .map(|a| self.caller.account_is(&a))
            .collect::<Vec<_>>();
        let by_account = Term::and([Term::not(direct.clone()), Term::or(accounts), identity.clone(), guarded.clone()]);
        Term::and([id, Term::or([Term::and([direct, scp_open.clone()]), by_account])])
    }

    /// A grant constraint over the encryption context: keys match up to ASCII case, values
    /// exactly (as `Constraint::allows`).
    fn constraint(&mut self, c: &Constraint) -> Result<Term, Unsupported> {
        let (pairs, exact) = match c {
            Constraint::Equals(p) => (p, true),
            Constraint::Subset(p) => (p, false),
        };
        let KeyVar::Set { present, v: keys } = self.key_var("kms:EncryptionContextKeys", KeyType::String)? else {
            return Err(Unsupported("kms:EncryptionContextKeys".into()));
        };
        let mut parts = Vec::new();
        for (k, v) in pairs {
            let KeyVar::Str { present: p, v: value } =
                self.key_var(&format!("kms:EncryptionContext:{k}"), KeyType::String)?
            else {
                return Err(Unsupported(format!("kms:EncryptionContext:{k}")));
            };
            parts.push(Term::var(p));
            parts.push(Term::set_any(keys, ElemPred::matches(Glob::literal(k, true))));
            parts.push(Term::str_match(value, Glob::literal(v, false)));
        }
        if exact {
            let only = ElemPred::or(pairs.keys().map(|k| ElemPred::matches(Glob::literal(k, true))).collect());
            parts.push(Term::or([Term::not(Term::var(present)), Term::set_all(keys, only)]));
        }
        Ok(Term::and(parts))
    }
}

/// A `Resource` pattern as one whole-string pattern, as `pattern::resource_match` reads it:
/// part-wise when it has all six ARN parts, whole-string otherwise. `None`: matches nothing.
fn resource_glob(toks: &[crate::base::pattern::Tok]) -> Option<Glob> {
    let colons = toks.iter().filter(|t| **t == crate::base::pattern::Tok::Char(':')).count();
    if colons >= 5 {
        super::caller::arn_like(toks)
    } else {
        Some(Glob::new(super::solver_tokens(toks), false))
    }
}

fn any_of<'a>(
    terms: impl Iterator<Item = &'a (Effect, StatementTerms)>,
    effect: Effect,
    pick: impl Fn(&StatementTerms) -> &Term,
) -> Term {
    Term::or(terms.filter(|(e, _)| *e == effect).map(|(_, t)| pick(t).clone()).collect::<Vec<_>>())
}

/// The IAM side of a decision, as the evaluator makes it: a Deny of a policy kind that
/// binds the caller, the identity Allow (or the root user, who holds every permission of
/// its account without policies), an SCP level that allows nothing, a boundary that does
/// not allow. One place for the key's decision and the alias's.
struct IamSide {
    other_deny: Term,
    identity_allow: Term,
    scp_block: Term,
    boundary_block: Term,
}

type Terms = Vec<(Effect, StatementTerms)>;

fn iam_side(enc: &Encoder, identity: &Terms, scps: &[Terms], boundary: Option<&Terms>, binds: [Term; 3]) -> IamSide {
    let [identity_binds, scps_bind, boundary_binds] = binds;
    let other_deny = Term::or([
        Term::and([identity_binds.clone(), any_of(identity.iter(), Effect::Deny, |t| &t.applies)]),
        Term::and([scps_bind.clone(), any_of(scps.iter().flatten(), Effect::Deny, |t| &t.applies)]),
        Term::and([boundary_binds.clone(), any_of(boundary.into_iter().flatten(), Effect::Deny, |t| &t.applies)]),
    ]);
    let identity_allow = Term::or([
        Term::and([identity_binds, any_of(identity.iter(), Effect::Allow, |t| &t.applies)]),
        enc.caller.is(super::caller::Kind::Root),
    ]);
    let scp_block = Term::and([
        scps_bind,
        Term::or(
            scps.iter().map(|level| Term::not(any_of(level.iter(), Effect::Allow, |t| &t.applies))).collect::<Vec<_>>(),
        ),
    ]);
    let boundary_block = match boundary {
        Some(b) => Term::and([boundary_binds, Term::not(any_of(b.iter(), Effect::Allow, |t| &t.applies))]),
        None => Term::FALSE,
    };
    IamSide { other_deny, identity_allow, scp_block, boundary_block }
}

/// "The request is allowed", over the encoder's request variables.
pub fn authorization(enc: &mut Encoder, inputs: &Inputs) -> Result<Term, Unsupported> {
    let key_arn = enc.key_arn.clone();
    enc.note_grants(inputs.grants.iter().filter(|g| g.is_on_key(&key_arn)).map(|g| g.id()));
    enc.note_role_paths(inputs.role_paths());
    let kp = enc.policy_terms(&inputs.key_policy)?;
    let mgmt = inputs.management_account.as_deref();
    // Statement terms unbound; the binding table applies where they are combined, once per
    // kind of policy (the same formula as binding every statement, and smaller).
    let identity: Vec<_> = inputs
        .identity
        .iter()
        .map(|p| enc.policy_terms(p))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .collect();
    let scps = inputs.scps.iter().map(|p| enc.policy_terms(p)).collect::<Result<Vec<_>, _>>()?;
    let boundary = inputs.boundary.as_ref().map(|p| enc.policy_terms(p)).transpose()?;
    let on_key = enc.on_key();
    let identity_binds = enc.caller.bound_by(PolicyKind::Identity, mgmt);
    let (scps_bind, boundary_binds) =
        (enc.caller.bound_by(PolicyKind::Scp, mgmt), enc.caller.bound_by(PolicyKind::Boundary, mgmt));

    // The key policy is not consulted for RetireGrant: the grant decides (`eval::retire_path`).
    let retire = enc.action_is("RetireGrant");
    let kp_deny =
        Term::and([on_key.clone(), Term::not(retire.clone()), any_of(kp.iter(), Effect::Deny, |t| &t.applies)]);
    let IamSide { other_deny, identity_allow, scp_block, boundary_block } =
        iam_side(enc, &identity, &scps, boundary.as_ref(), [identity_binds, scps_bind, boundary_binds]);
    let deny = Term::or([kp_deny, other_deny]);

    let open = |boundary_applies: Term| {
        Term::and([
            Term::not(scp_block.clone()),
            Term::or([Term::not(boundary_block.clone()), Term::not(boundary_applies)]),
        ])
    };
    let guarded = open(Term::TRUE);

    let kp_direct = any_of(kp.iter(), Effect::Allow, |t| &t.direct);
    let kp_account = any_of(kp.iter(), Effect::Allow, |t| &t.account_only);
    let mut kp_exact = any_of(kp.iter(), Effect::Allow, |t| &t.exact);
    if inputs.boundary.is_some() && enc.alternative(crate::facts::readings::Reading::BoundaryCapsRoleArn) {
        kp_exact = Term::or([kp_exact, any_of(kp.iter(), Effect::Allow, |t| &t.role)]);
    }
    let kp_any = any_of(kp.iter(), Effect::Allow, |t| &t.applies);
    let grants = inputs.grants.iter().map(|g| enc.grant(g, &identity_allow)).collect::<Result<Vec<_>, _>>()?;
    let grant_ok = Term::and([Term::or(grants), Term::not(scp_block.clone())]);

    let same_account_paths = Term::or([
        Term::and([kp_direct, open(Term::not(kp_exact))]),
        Term::and([kp_account, identity_allow.clone(), guarded.clone()]),
        grant_ok.clone(),
    ]);
    let cross_action = enc.action_in(|a| is_cross_account_action(&a.name));
    let cross_paths =
        Term::and([cross_action, Term::or([Term::and([kp_any, identity_allow.clone(), guarded.clone()]), grant_ok])]);
    let key_account = crate::base::arn::account_of(&enc.key_arn).unwrap_or_default().to_string();
    let same_account = Term::or([enc.caller.is(super::caller::Kind::Service), enc.caller.account_is(&key_account)]);
    let key_paths = Term::or([
        Term::and([same_account.clone(), same_account_paths]),
        Term::and([Term::not(same_account), cross_paths]),
    ]);
    let scp_open = Term::not(scp_block.clone());
    let retires: Vec<Term> =
        inputs.grants.iter().map(|g| enc.retire(g, &identity_allow, &scp_open, &guarded, &key_account)).collect();
    let non_key = Term::and([identity_allow, guarded]);
    let anonymous = enc.caller.is(super::caller::Kind::Anonymous);
    let alias = alias_side(enc, inputs)?;
    let path = Term::or([
        Term::and([on_key.clone(), Term::not(retire.clone()), key_paths]),
        Term::and([retire, Term::or(retires)]),
        Term::and([Term::not(on_key), non_key]),
    ]);
    Ok(Term::and([Term::not(deny), Term::not(anonymous), path, alias]))
}

/// "An alias action is allowed on its alias", as `eval::alias_side`: the caller's IAM
/// policies decide the alias ARN as an action not on a key (no Deny applies on it; an
/// identity Allow or the root user; every SCP level and the boundary allow). The key side
/// is the rest of [`authorization`].
fn alias_side(enc: &mut Encoder, inputs: &Inputs) -> Result<Term, Unsupported> {
    let alias = enc.alias_var();
    let saved = enc.resource_target.replace(alias);
    let terms = (|| -> Result<_, Unsupported> {
        let identity: Vec<_> = inputs.identity.iter().map(|p| enc.policy_terms(p)).collect::<Result<Vec<_>, _>>()?;
        let scps = inputs.scps.iter().map(|p| enc.policy_terms(p)).collect::<Result<Vec<_>, _>>()?;
        let boundary = inputs.boundary.as_ref().map(|p| enc.policy_terms(p)).transpose()?;
        Ok((identity.into_iter().flatten().collect::<Vec<_>>(), scps, boundary))
    })();
    enc.resource_target = saved;
    let (identity, scps, boundary) = terms?;
    let mgmt = inputs.management_account.as_deref();
    let binds = |k| enc.caller.bound_by(k, mgmt);
    let (identity_binds, scps_bind, boundary_binds) =
        (binds(PolicyKind::Identity), binds(PolicyKind::Scp), binds(PolicyKind::Boundary));
    let IamSide { other_deny, identity_allow, scp_block, boundary_block } =
        iam_side(enc, &identity, &scps, boundary.as_ref(), [identity_binds, scps_bind, boundary_binds]);
    let allowed = Term::and([Term::not(other_deny), identity_allow, Term::not(scp_block), Term::not(boundary_block)]);
    Ok(Term::implies(enc.action_in(|a| a.on_alias), allowed))
}

/// "One policy alone allows the request" (an `Allow` applies and no `Deny` does), step
/// for step as `eval::policy_decision`.
pub fn policy_allows(enc: &mut Encoder, p: &Policy) -> Result<Term, Unsupported> {
    let terms = enc.policy_terms(p)?;
    let allow = any_of(terms.iter(), Effect::Allow, |t| &t.applies);
    let deny = any_of(terms.iter(), Effect::Deny, |t| &t.applies);
    Ok(Term::and([allow, Term::not(deny)]))
}

/// "Some `Deny` statement of the policy applies".
pub fn policy_denies(enc: &mut Encoder, p: &Policy) -> Result<Term, Unsupported> {
    let terms = enc.policy_terms(p)?;
    Ok(any_of(terms.iter(), Effect::Deny, |t| &t.applies))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::policy::parse_policy;
    use kmsproof_solver::backend::Budget;

    const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    fn policy() -> Policy {
        parse_policy(include_str!("../../examples/key-policy.json"), "key-policy.json", PolicyKind::KeyPolicy)
            .expect("the example key policy parses")
    }

    /// A spent budget stops the encoding with the solver's wording, never a formula that
    /// a verdict could be read from.
    #[test]
    fn a_spent_budget_stops_the_encoding() {
        let p = policy();
        let spent = Some(Budget(std::time::Instant::now()));
        let mut enc = Encoder::new(KEY, &[&p], &[]).with_deadline(spent);
        let err = policy_allows(&mut enc, &p).expect_err("the budget is spent");
        assert!(err.is_out_of_budget());
        assert_eq!(err.reason(), "the work budget ran out while encoding");
    }

    #[test]
    fn a_budget_left_changes_nothing() {
        let p = policy();
        let later = Some(Budget(std::time::Instant::now() + std::time::Duration::from_secs(3600)));
        let with = policy_allows(&mut Encoder::new(KEY, &[&p], &[]).with_deadline(later), &p);
        let without = policy_allows(&mut Encoder::new(KEY, &[&p], &[]), &p);
        assert_eq!(with, without);
    }
}
