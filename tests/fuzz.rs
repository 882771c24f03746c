//! Random and mutated input: the parsers and the evaluator never panic.

use kmsproof::{authorize, parse_policy, PolicyKind, Request};
use proptest::prelude::*;

const SEED: &str = include_str!("../examples/key-policy.json");
const REQUEST: &str = include_str!("../examples/request.json");

fn decide_all(policy_text: &str) {
    for kind in [PolicyKind::KeyPolicy, PolicyKind::Identity, PolicyKind::Any] {
        if let Ok(p) = parse_policy(policy_text, "fuzz.json", kind) {
            let req = Request::parse(REQUEST, "r").unwrap();
            let inputs = kmsproof::Inputs {
                key_policy: p.clone(),
                identity: vec![p],
                scps: vec![],
                boundary: None,
                grants: vec![],
                management_account: None,
            };
            let _ = authorize(&inputs, &req);
        }
    }
    let _ = Request::parse(policy_text, "r");
    let _ = kmsproof::model::grant::parse_grants(policy_text, "g");
}

fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("\"*\"".to_string()),
        Just("[]".to_string()),
        Just("{}".to_string()),
        Just("null".to_string()),
        Just("1e999".to_string()),
        Just("\"${aws:username}\"".to_string()),
        Just("\"ForAnyValue:StringLikeIfExists\"".to_string()),
        Just("\"\u{0}\u{202e}é😀\"".to_string()),
        "\"[a-zA-Z:*?$/{}]{0,12}\"".prop_map(|s| s),
        any::<i64>().prop_map(|n| n.to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]

    #[test]
    fn truncated_policies(cut in 0usize..2000) {
        let cut = SEED.char_indices().map(|(i, _)| i).nth(cut).unwrap_or(SEED.len());
        decide_all(&SEED[..cut]);
    }

    #[test]
    fn mutated_policies(at in 0usize..2000, frag in fragment()) {
        let at = SEED.char_indices().map(|(i, _)| i).nth(at).unwrap_or(SEED.len());
        let mut text = SEED.to_string();
        text.insert_str(at, &frag);
        decide_all(&text);
        let replaced = SEED.replacen("\"kms:Decrypt\"", &frag, 1).replacen("\"203.0.113.0/24\"", &frag, 1).replacen("\"false\"", &frag, 1);
        decide_all(&replaced);
    }

    #[test]
    fn arbitrary_text(text in "\\PC{0,200}") {
        decide_all(&text);
    }

    #[test]
    fn random_condition_blocks(op in "(ForAllValues:|ForAnyValue:)?(String|Numeric|Date|Arn|Ip|Bool|Null|Binary)[A-Za-z]{0,20}", key in "(aws|kms|s3):[A-Za-z:/]{1,20}", value in fragment()) {
        let text = format!(r#"{{"Version": "2012-10-17", "Statement": {{"Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*", "Condition": {{"{op}": {{"{key}": {value}}}}}}}}}"#);
        decide_all(&text);
    }
}

#[test]
fn huge_and_deep_inputs() {
    let deep = format!("{}{}", "[".repeat(50_000), "]".repeat(50_000));
    decide_all(&deep);
    let many: Vec<String> = (0..20_000).map(|i| format!("\"kms:Action{i}*\"")).collect();
    let huge = format!(
        r#"{{"Statement": {{"Effect": "Allow", "Principal": "*", "Action": [{}], "Resource": "*"}}}}"#,
        many.join(",")
    );
    decide_all(&huge);
}
