//! Issue 20: never panic, never hang. Each reproducer of the reliability review, end to
//! end through the binary (each failed before its fix).

use crate::util::{kmsproof, stderr, stdout, temp_file};

const KEY_POLICY: &str = include_str!("../examples/key-policy.json");

/// No panic (exit 101, "panicked" on stderr) and one of the documented exit codes.
fn no_panic(o: &std::process::Output) {
    let code = o.status.code();
    assert!(matches!(code, Some(0..=4)), "exit {code:?}: {}", stderr(o));
    assert!(!stderr(o).contains("panicked"), "{}", stderr(o));
}

#[test]
fn a_condition_key_with_a_multibyte_character_at_the_prefix_boundary() {
    // "aws:PrincipalTagé": byte 17 falls inside "é" (the principal-tag prefix is 17 bytes).
    let policy = KEY_POLICY.replace("\"kms:ViaService\"", "\"aws:PrincipalTagé\"");
    let p = temp_file("robust", "utf8-key.json", &policy);
    for cmd in [&["check", "--key-policy", p.to_str().unwrap(), "--never", "kms:Decrypt"][..]] {
        no_panic(&kmsproof(cmd));
    }
    let old = temp_file("robust", "utf8-old.json", KEY_POLICY);
    no_panic(&kmsproof(&["diff", old.to_str().unwrap(), p.to_str().unwrap()]));
    no_panic(&kmsproof(&["audit", p.to_str().unwrap()]));
    let request = r#"{"principal": "arn:aws:iam::111122223333:role/App", "action": "kms:Decrypt",
        "resource": "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "context": {"aws:PrincipalTagé": "x"}}"#;
    let r = temp_file("robust", "utf8-request.json", request);
    no_panic(&kmsproof(&["eval", "--key-policy", "examples/key-policy.json", "--request", r.to_str().unwrap()]));
}

#[test]
fn a_dump_user_whose_name_no_request_can_carry_is_a_positioned_error() {
    let dump = std::fs::read_to_string(crate::util::root().join("corpus/who-can/account.json")).unwrap();
    let dump = dump.replace("user/esc-trust", "user/esc*trust").replace("\"esc-trust\"", "\"esc*trust\"");
    let p = temp_file("robust", "account-star.json", &dump);
    for cmd in [
        &["who-can", "--authorization-details", p.to_str().unwrap(), "--key-policy", "corpus/who-can/key-policy.json"]
            [..],
        &[
            "can",
            "--principal",
            "arn:aws:iam::111122223333:user/esc*trust",
            "--authorization-details",
            p.to_str().unwrap(),
            "--key-policy",
            "corpus/who-can/key-policy.json",
        ],
    ] {
        let o = kmsproof(cmd);
        no_panic(&o);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(
            stderr(&o).contains("UserDetailList[") && stderr(&o).contains("malformed principal ARN"),
            "{}",
            stderr(&o)
        );
    }
}

#[test]
fn a_closed_pipe_ends_the_output_quietly_with_the_command_s_own_exit_code() {
    use std::process::{Command, Stdio};
    for args in [
        &["check", "--key-policy", "examples/key-policy.json", "--never", "kms:Decrypt", "--format", "json"][..],
        &["explain"],
        &["audit", "corpus/audit"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kmsproof"))
            .args(args)
            .current_dir(crate::util::root())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // `| true`: the reader is gone before the first byte is written.
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        no_panic(&o);
        assert!(stderr(&o).is_empty() || !stderr(&o).contains("Broken pipe"), "{args:?}: {}", stderr(&o));
        let _ = stdout(&o);
    }
}
