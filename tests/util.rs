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

// ---------------------------------------------------------------------------------------
// The binary, end to end (ripgrep's `tests/util.rs` shape: one place that runs it).

/// The project root: every command runs from here, so fixtures are named `corpus/…`.
pub fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `kmsproof ARGS` from the project root, with `stdin` as standard input (none: closed).
pub fn kmsproof_with(args: &[&str], stdin: Option<&str>) -> std::process::Output {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_kmsproof"))
        .args(args)
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kmsproof");
    if let Some(text) = stdin {
        // The binary may exit before reading (e.g. a usage error): a broken pipe is fine.
        let _ = child.stdin.take().expect("piped stdin").write_all(text.as_bytes());
    } else {
        drop(child.stdin.take());
    }
    child.wait_with_output().expect("wait for kmsproof")
}

/// Runs `kmsproof ARGS` with no standard input.
pub fn kmsproof(args: &[&str]) -> std::process::Output {
    kmsproof_with(args, None)
}

pub fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Standard output as JSON; panics with both streams when it is not.
pub fn json(o: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}{}", stdout(o), stderr(o)))
}

/// A scratch directory of this test process, `kmsproof-<area>-<pid>` (tests run in
/// parallel: give each test's files distinct names).
pub fn temp_dir(area: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("kmsproof-{area}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create a temporary directory");
    dir
}

/// Writes `text` to `name` in [`temp_dir`]`(area)` and returns its path.
pub fn temp_file(area: &str, name: &str, text: &str) -> std::path::PathBuf {
    let p = temp_dir(area).join(name);
    std::fs::write(&p, text).expect("write a temporary file");
    p
}
