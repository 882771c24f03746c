//! Helpers shared by the integration tests.

use kmsproof::model::grant::parse_grants;
use kmsproof::model::inputs::Inputs;
use kmsproof::{authorize, parse_policy, Decision, PolicyKind, Request};

pub const KEY: &str = "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

/// Wraps statements (a JSON object or list) into a 2012-10-17 policy document.
pub fn doc(statements: &str) -> String {
    format!(r#"{{"Version": "2012-10-17", "Statement": {statements}}}"#)
}

/// Authorization inputs from inline documents.
pub struct Setup {
    pub inputs: Inputs,
}

impl Setup {
    pub fn key_policy(statements: &str) -> Setup {
        let key_policy =
            parse_policy(&doc(statements), "key-policy.json", PolicyKind::KeyPolicy).unwrap_or_else(|e| panic!("{e}"));
        Setup {
            inputs: Inputs {
                key_policy,
                identity: vec![],
                scps: vec![],
                boundary: None,
                grants: vec![],
                management_account: None,
            },
        }
    }

    pub fn identity(mut self, statements: &str) -> Setup {
        let name = format!("identity-{}.json", self.inputs.identity.len());
        self.inputs
            .identity
            .push(parse_policy(&doc(statements), &name, PolicyKind::Identity).unwrap_or_else(|e| panic!("{e}")));
        self
    }

    pub fn grant(mut self, grant: &str) -> Setup {
        self.inputs.grants.extend(parse_grants(grant, "grant.json").unwrap_or_else(|e| panic!("{e}")));
        self
    }

    /// Decides a request given as `principal`, `action` and context JSON (resource = KEY
    /// for actions on a key).
    pub fn decide(&self, principal: &str, action: &str, context: &str) -> Decision {
        let needs_key =
            kmsproof::facts::catalog::catalog().kms_action(action.trim_start_matches("kms:")).is_some_and(|a| a.on_key);
        let resource = if needs_key { format!(r#""resource": "{KEY}","#) } else { String::new() };
        let text = format!(r#"{{"principal": "{principal}", "action": "{action}", {resource} "context": {context}}}"#);
        let req = Request::parse(&text, "request.json").unwrap_or_else(|e| panic!("{text}: {e}"));
        authorize(&self.inputs, &req)
    }

    /// Asserts the decision's reason (`allowed`, `explicit-deny`, `implicit-deny`).
    pub fn expect(&self, principal: &str, action: &str, context: &str, reason: &str) {
        let d = self.decide(principal, action, context);
        assert_eq!(d.reason.as_str(), reason, "{principal} {action} {context}: {}", d.summary);
    }
}
