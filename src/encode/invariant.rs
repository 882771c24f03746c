//! The symbolic side of the invariants of real requests. Each rule, its source and its
//! concrete check live once, in [`crate::model::invariants::INVARIANTS`] (the request
//! reader enforces them on every replayed request); here each is encoded, by its id, for
//! the condition key it is about, so the encoder searches only requests that keep them.
//! A test checks that the two tables name the same invariants.

use super::{Encoder, KeyVar};
use crate::facts::readings::Reading;
use crate::model::binding::CallerClass;
use crate::model::invariants::{is_principal_org_key, is_principal_tag, ALWAYS_SENT_KEYS, SERVICE_CALL_KEYS};
use kmsproof_solver::{BoolVar, ElemPred, Glob, Term, Tok};

/// One invariant as the encoder states it for one condition key.
pub(super) struct KeyInvariant {
    /// The id of the rule in [`crate::model::invariants::INVARIANTS`] (checked by the test).
    #[cfg_attr(not(test), allow(dead_code))]
    pub id: &'static str,
    /// Whether the invariant is about this key (as the policy spells it).
    pub about: fn(&str) -> bool,
    /// The terms every real request satisfies, given the key (as the policy spells it),
    /// its variable and presence.
    pub encode: fn(&mut Encoder, &str, &KeyVar, BoolVar) -> Vec<Term>,
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
    KeyInvariant { id: "principal-org", about: is_principal_org_key, encode: principal_org },
    KeyInvariant { id: "service-call", about: is_service_call_key, encode: service_call },
    KeyInvariant {
        id: "via-aws-service",
        about: |k| k.eq_ignore_ascii_case("aws:ViaAWSService"),
        encode: via_aws_service_present,
    },
    KeyInvariant {
        id: "always-sent",
        about: |k| ALWAYS_SENT_KEYS.iter().any(|s| s.eq_ignore_ascii_case(k)),
        encode: |_, _, _, present| vec![Term::var(present)],
    },
    KeyInvariant { id: "service-call-network", about: is_network_key, encode: service_call_network },
    KeyInvariant {
        id: "key-facts",
        about: |k| crate::facts::kms_rules::KEY_FACT_KEYS.iter().any(|f| f.eq_ignore_ascii_case(k)),
        encode: key_facts,
    },
];

fn is_service_call_key(k: &str) -> bool {
    SERVICE_CALL_KEYS.iter().any(|s| s.eq_ignore_ascii_case(k)) || k.eq_ignore_ascii_case("kms:GrantIsForAWSResource")
}

fn is_network_key(k: &str) -> bool {
    ["aws:SourceIp", "aws:SourceVpc", "aws:SourceVpce", "aws:VpcSourceIp"].iter().any(|s| s.eq_ignore_ascii_case(k))
}

/// Invariants the encoder keeps where the request's parts are built, not per key.
#[cfg_attr(not(test), allow(dead_code))]
pub(super) const BUILT_IN: &[(&str, &str)] =
    &[("username", "aws:username is derived from the caller, for IAM users only (encode::caller)")];

/// The set is present exactly when the request has an encryption context, and its keys
/// are non-empty strings.
fn encryption_context_keys(_: &mut Encoder, _: &str, var: &KeyVar, _: BoolVar) -> Vec<Term> {
    let KeyVar::Set { present, v } = var else { return vec![] };
    let named = ElemPred::matches(Glob::new(vec![Tok::One, Tok::Star], false));
    vec![Term::iff(Term::var(*present), Term::not(Term::set_empty(*v))), Term::set_all(*v, named)]
}

/// CreateGrant always names its operations, each one of the grant operations.
fn create_grant_operations(enc: &mut Encoder, _: &str, var: &KeyVar, _: BoolVar) -> Vec<Term> {
    let KeyVar::Set { present, v } = var else { return vec![] };
    let op = crate::facts::kms_rules::GRANT_OPERATIONS.iter().map(|o| ElemPred::matches(Glob::literal(o, false)));
    let carried =
        Term::and([Term::var(*present), Term::not(Term::set_empty(*v)), Term::set_all(*v, ElemPred::or(op.collect()))]);
    vec![Term::implies(enc.action_is("CreateGrant"), carried)]
}

/// The root user, services and anonymous callers carry no principal tags.
fn principal_tags(enc: &mut Encoder, _: &str, _: &KeyVar, present: BoolVar) -> Vec<Term> {
    let untagged =
        Term::or([CallerClass::Root, CallerClass::Service, CallerClass::Anonymous].map(|c| enc.caller.class_is(c)));
    vec![Term::implies(Term::var(present), Term::not(untagged))]
}

/// Services and anonymous callers belong to no organization.
fn principal_org(enc: &mut Encoder, _: &str, _: &KeyVar, present: BoolVar) -> Vec<Term> {
    let outside = Term::or([CallerClass::Service, CallerClass::Anonymous].map(|c| enc.caller.class_is(c)));
    vec![Term::implies(Term::var(present), Term::not(outside))]
}

/// The flag of a service's call: a service-call key given means `aws:ViaAWSService` is
/// true and the caller an IAM principal (`kms:ViaService`); `kms:GrantIsForAWSResource`
/// true means the call came through a service (`kms:ViaService` given).
fn service_call(enc: &mut Encoder, key: &str, var: &KeyVar, present: BoolVar) -> Vec<Term> {
    if key.eq_ignore_ascii_case("kms:GrantIsForAWSResource") {
        let KeyVar::Str { v, .. } = var else { return vec![] };
        let is_true = Term::and([Term::var(present), Term::str_match(*v, Glob::literal("true", true))]);
        return vec![Term::implies(is_true, enc.key_present("kms:ViaService"))];
    }
    let mut out = vec![Term::implies(Term::var(present), enc.via_aws_service())];
    if key.eq_ignore_ascii_case("kms:ViaService") {
        out.push(Term::implies(Term::var(present), enc.caller.is_iam()));
    }
    out
}

/// Every request carries `aws:ViaAWSService` (its value is `service_call`'s); encoded the
/// other way — possibly absent — when the reading is questioned.
fn via_aws_service_present(enc: &mut Encoder, _: &str, _: &KeyVar, present: BoolVar) -> Vec<Term> {
    if enc.alternative(Reading::ViaAwsServiceAlwaysPresent) {
        return vec![];
    }
    vec![Term::var(present)]
}

/// On a service's call the network keys are the service's own: no VPC keys, and an
/// `aws:SourceIp` outside every range the policies name (UNCONFIRMED: encoded the other way
/// — the caller's network kept — when the reading is questioned).
fn service_call_network(enc: &mut Encoder, key: &str, var: &KeyVar, present: BoolVar) -> Vec<Term> {
    if enc.alternative(Reading::ServiceCallNetwork) {
        return vec![];
    }
    let service = enc.service_call();
    let own = match var {
        KeyVar::Ip { v, .. } if key.eq_ignore_ascii_case("aws:SourceIp") => {
            let blocks = enc.ranges.iter().filter_map(|c| kmsproof_solver::Cidr::new(c.parts().0, c.parts().1));
            let outside = blocks.map(|c| Term::not(Term::ip_in(*v, c))).collect::<Vec<_>>();
            Term::implies(Term::var(present), Term::and(outside))
        }
        _ => Term::not(Term::var(present)),
    };
    vec![Term::implies(service, own)]
}

/// The facts of the key agree with each other, the key's ARN and the action (see
/// `model::invariants::key_facts`). Each call states them over the fact keys created so
/// far (and `key`): the last one created states them all, earlier calls weaker parts.
fn key_facts(enc: &mut Encoder, key: &str, var: &KeyVar, present: BoolVar) -> Vec<Term> {
    use crate::facts::kms_rules::*;
    let str_of = |v: &KeyVar| if let KeyVar::Str { present, v } = v { Some((*present, *v)) } else { None };
    let fact = |name: &str| -> Option<(BoolVar, kmsproof_solver::StrVar)> {
        if name.eq_ignore_ascii_case(key) {
            return str_of(var);
        }
        enc.keys.get(&name.to_ascii_lowercase()).and_then(|(_, v)| str_of(v))
    };
    let is = |f: Option<(BoolVar, kmsproof_solver::StrVar)>, values: &[&str]| -> Term {
        match f {
            Some((p, v)) => Term::implies(
                Term::var(p),
                Term::or(values.iter().map(|x| Term::str_match(v, Glob::literal(x, false))).collect::<Vec<_>>()),
            ),
            None => Term::TRUE,
        }
    };
    let (spec, usage, origin) = (fact("kms:KeySpec"), fact("kms:KeyUsage"), fact("kms:KeyOrigin"));
    let (multi, multi_type) = (fact("kms:MultiRegion"), fact("kms:MultiRegionKeyType"));
    let _ = present;
    let fits = |u: &KeyUse| Term::and([is(usage, &[u.usage]), is(spec, u.specs)]);
    let mut out = vec![
        is(spec, &key_specs()),
        is(usage, &key_usages()),
        Term::or(KEY_USES.iter().map(fits).collect::<Vec<_>>()),
        is(origin, KEY_ORIGINS),
        is(multi_type, MULTI_REGION_KEY_TYPES),
    ];
    for action in KEY_USES.iter().flat_map(|u| u.operations.iter()) {
        if let Some(rows) = uses_for_action(action) {
            let works = Term::or(rows.into_iter().map(fits).collect::<Vec<_>>());
            out.push(Term::implies(enc.action_is(action), works));
        }
    }
    if let Some((p, v)) = origin {
        let custom = Term::and([
            Term::var(p),
            Term::or(
                CUSTOM_KEY_STORE_ORIGINS
                    .iter()
                    .map(|o| Term::str_match(v, Glob::literal(o, false)))
                    .collect::<Vec<_>>(),
            ),
        ]);
        out.push(Term::implies(custom.clone(), is(spec, &["SYMMETRIC_DEFAULT"])));
        if is_multi_region_key(&enc.key_arn) {
            out.push(Term::not(custom));
        }
    }
    if !enc.key_arn.is_empty() {
        let mrk = is_multi_region_key(&enc.key_arn);
        out.push(is(multi, &[if mrk { "true" } else { "false" }]));
        if let (false, Some((p, _))) = (mrk, multi_type) {
            out.push(Term::not(Term::var(p)));
        }
    }
    out
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
