//! The symbolic side of the invariants of real requests. Each rule, its source and its
//! concrete check live once, in [`crate::model::invariants::INVARIANTS`] (the request
//! reader enforces them on every replayed request); here each is encoded, by its id, for
//! the condition key it is about, so the encoder searches only requests that keep them.
//! A test checks that the two tables name the same invariants.

use super::{Encoder, KeyVar};
use crate::model::binding::CallerClass;
use crate::model::invariants::is_principal_tag;
use kmsproof_solver::{BoolVar, ElemPred, Glob, Term, Tok};

/// One invariant as the encoder states it for one condition key.
pub(super) struct KeyInvariant {
    /// The id of the rule in [`crate::model::invariants::INVARIANTS`] (checked by the test).
    #[cfg_attr(not(test), allow(dead_code))]
    pub id: &'static str,
    /// Whether the invariant is about this key (as the policy spells it).
    pub about: fn(&str) -> bool,
    /// The terms every real request satisfies, given the key's variable and presence.
    pub encode: fn(&Encoder, &KeyVar, BoolVar) -> Vec<Term>,
}

/// The invariants stated per condition key, in the order the encoder adds them.
pub(super) const KEY_INVARIANTS: &[KeyInvariant] = &[
    KeyInvariant {
        id: "encryption-context-keys",
        about: |k| k.eq_ignore_ascii_case("kms:EncryptionContextKeys"),
        encode: encryption_context_keys,
    },
    KeyInvariant {
        id: "create-grant-operations",
        about: |k| k.eq_ignore_ascii_case("kms:GrantOperations"),
        encode: create_grant_operations,
    },
    KeyInvariant { id: "principal-tags", about: is_principal_tag, encode: principal_tags },
];

/// Invariants the encoder keeps where the request's parts are built, not per key.
#[cfg_attr(not(test), allow(dead_code))]
pub(super) const BUILT_IN: &[(&str, &str)] =
    &[("username", "aws:username is derived from the caller, for IAM users only (encode::caller)")];

/// The set is present exactly when the request has an encryption context, and its keys
/// are non-empty strings.
fn encryption_context_keys(_: &Encoder, var: &KeyVar, _: BoolVar) -> Vec<Term> {
    let KeyVar::Set { present, v } = var else { return vec![] };
    let named = ElemPred::matches(Glob::new(vec![Tok::One, Tok::Star], false));
    vec![Term::iff(Term::var(*present), Term::not(Term::set_empty(*v))), Term::set_all(*v, named)]
}

/// CreateGrant always names its operations, each one of the grant operations.
fn create_grant_operations(enc: &Encoder, var: &KeyVar, _: BoolVar) -> Vec<Term> {
    let KeyVar::Set { present, v } = var else { return vec![] };
    let op = crate::facts::kms_rules::GRANT_OPERATIONS.iter().map(|o| ElemPred::matches(Glob::literal(o, false)));
    let carried =
        Term::and([Term::var(*present), Term::not(Term::set_empty(*v)), Term::set_all(*v, ElemPred::or(op.collect()))]);
    vec![Term::implies(enc.action_is("CreateGrant"), carried)]
}

/// The root user, services and anonymous callers carry no principal tags.
fn principal_tags(enc: &Encoder, _: &KeyVar, present: BoolVar) -> Vec<Term> {
    let untagged =
        Term::or([CallerClass::Root, CallerClass::Service, CallerClass::Anonymous].map(|c| enc.caller.class_is(c)));
    vec![Term::implies(Term::var(present), Term::not(untagged))]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::invariants::INVARIANTS;

    #[test]
    fn every_invariant_of_the_model_is_encoded_once() {
        let encoded: Vec<&str> =
            KEY_INVARIANTS.iter().map(|k| k.id).chain(BUILT_IN.iter().map(|(id, _)| *id)).collect();
        let rules: Vec<&str> = INVARIANTS.iter().map(|i| i.id).collect();
        for id in &rules {
            assert_eq!(encoded.iter().filter(|e| *e == id).count(), 1, "invariant {id} is not encoded exactly once");
        }
        for id in &encoded {
            assert!(rules.contains(id), "{id} is encoded but not a rule of model::invariants::INVARIANTS");
        }
    }
}
