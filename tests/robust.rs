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
    no_panic(&kmsproof(&["check", "--key-policy", p.to_str().unwrap(), "--never", "kms:Decrypt"]));
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

#[test]
fn many_errors_on_one_line_are_capped_and_shown_as_a_window() {
    let resources: Vec<String> = (0..5_000).map(|i| format!("\"bad{i}{}\"", "x".repeat(190))).collect();
    let policy = format!(
        r#"{{"Statement": [{{"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": [{}]}}]}}"#,
        resources.join(", ")
    );
    let p = temp_file("robust", "many-errors.json", &policy);
    let o = kmsproof(&["check", "--key-policy", p.to_str().unwrap(), "--never", "kms:Decrypt"]);
    no_panic(&o);
    let err = stderr(&o);
    assert_eq!(err.matches("error: at Statement[0].Resource").count(), 50, "{}", &err[..2000.min(err.len())]);
    assert!(
        err.contains("… and 4950 more (4950 errors, 0 warnings) not shown"),
        "{}",
        &err[err.len().saturating_sub(500)..]
    );
    // Windows of the line, not the 1 MB line 50 times.
    assert!(err.len() < 50 * 1_000, "{} bytes of errors", err.len());
}

#[test]
fn invalid_utf8_is_located() {
    let mut bytes = KEY_POLICY.as_bytes().to_vec();
    let at = KEY_POLICY.find("role/App").unwrap();
    bytes.insert(at, 0xff);
    let p = crate::util::temp_dir("robust").join("bad-utf8.json");
    std::fs::write(&p, &bytes).unwrap();
    let line = KEY_POLICY[..at].matches('\n').count() + 1;
    let col = at - KEY_POLICY[..at].rfind('\n').unwrap();
    let o = kmsproof(&["check", "--key-policy", p.to_str().unwrap(), "--never", "kms:Decrypt"]);
    assert_eq!(o.status.code(), Some(2));
    let want = format!("bad-utf8.json:{line}:{col}: error: invalid UTF-8 at byte offset {at} (byte 0xff)");
    assert!(stderr(&o).contains(&want), "{want}\n{}", stderr(&o));
    let o = kmsproof(&["audit", p.to_str().unwrap(), "--format", "json"]);
    assert!(stdout(&o).contains(&format!("\"line\": {line}")), "{}", stdout(&o));
}

#[test]
fn a_key_policy_naming_no_account_gets_a_placeholder_key_said_on_stderr() {
    let p = temp_file(
        "robust",
        "all-star.json",
        r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"}]}"#,
    );
    let o = kmsproof(&["check", "--key-policy", p.to_str().unwrap(), "--never", "kms:Decrypt"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("placeholder") && stderr(&o).contains("--key-arn"), "{}", stderr(&o));
    let o = kmsproof(&["diff", p.to_str().unwrap(), p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("placeholder"), "{}", stderr(&o));
}

#[test]
fn a_multi_document_yaml_file_is_located_at_its_second_document() {
    let p = temp_file("robust", "two-docs.yaml", "a: 1\n---\nb: 2\n");
    let o = kmsproof(&["audit", p.to_str().unwrap()]);
    assert!(stdout(&o).contains("two-docs.yaml:2:1"), "{}", stdout(&o));
}

#[test]
fn a_100_kb_pattern_is_unknown_within_the_budget_not_minutes_at_a_gigabyte() {
    let policy = KEY_POLICY.replace("\"ec2.*.amazonaws.com\"", &format!("\"{}\"", "a*".repeat(50_000)));
    let p = temp_file("robust", "pattern-100k.json", &policy);
    let old = temp_file("robust", "pattern-old.json", KEY_POLICY);
    let o = kmsproof(&["check", "--key-policy", p.to_str().unwrap(), "--never", "kms:Decrypt", "--timeout-ms", "1000"]);
    assert_eq!(o.status.code(), Some(3), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("UNKNOWN (the work budget ran out"), "{}", stdout(&o));
    let o = kmsproof(&["diff", old.to_str().unwrap(), p.to_str().unwrap(), "--timeout-ms", "1000"]);
    assert_eq!(o.status.code(), Some(3), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("the work budget ran out"), "{}", stdout(&o));
    let o = kmsproof(&["audit", p.to_str().unwrap(), "--doc-timeout-ms", "1000", "--format", "json"]);
    let undecided: Vec<String> = crate::util::json(&o)["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "AUD002")
        .map(|f| f["message"].as_str().unwrap().to_string())
        .collect();
    assert!(undecided.iter().any(|m| m.contains("the work budget ran out")), "{undecided:?}");
    assert!(undecided.len() <= 2, "one finding per cut-short check, one for those not run: {undecided:?}");
}

#[test]
fn closed_stdout_and_stderr_are_not_a_panic() {
    use std::process::{Command, Stdio};
    // `2>&1 | head`: both streams gone; the policy's warning goes to stderr.
    let policy = KEY_POLICY.replace("\"kms:ViaService\"", "\"kms:ViaServic\"");
    let p = temp_file("robust", "warned.json", &policy);
    let mut child = Command::new(env!("CARGO_BIN_EXE_kmsproof"))
        .args(["check", "--key-policy", p.to_str().unwrap(), "--never", "kms:Decrypt"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    drop(child.stderr.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "the verdict's own exit code (violated), not 101");
}

/// A policy of `n` statements, each naming its own role.
fn many_statements(n: usize) -> String {
    let st: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"Effect": "Allow", "Principal": {{"AWS": "arn:aws:iam::111122223333:role/App{i}"}},
                    "Action": "kms:Decrypt", "Resource": "*"}}"#
            )
        })
        .collect();
    format!(r#"{{"Version": "2012-10-17", "Statement": [{}]}}"#, st.join(","))
}

#[test]
fn a_budget_spent_while_reading_is_unknown_not_a_partial_policy_or_a_panic() {
    // 1 ms cannot cover reading 3,000 statements: the reader stops and says so (exit 3);
    // kmsproof's own fixed policies, parsed after the budget is spent, still parse.
    let big = temp_file("robust", "reading-budget.json", &many_statements(3_000));
    let big = big.to_str().unwrap();
    for args in [
        &["check", "--key-policy", big, "--never", "kms:Decrypt", "--timeout-ms", "1"][..],
        &["diff", big, big, "--timeout-ms", "1"],
    ] {
        let o = kmsproof(args);
        no_panic(&o);
        assert_eq!(o.status.code(), Some(3), "{args:?}: {}{}", stdout(&o), stderr(&o));
        assert!(stdout(&o).contains("the work budget ran out while reading"), "{}", stdout(&o));
    }
    // A small policy is read whole whatever the budget; the budget then ends the proof.
    let o =
        kmsproof(&["check", "--key-policy", "examples/key-policy.json", "--never", "kms:Decrypt", "--timeout-ms", "1"]);
    no_panic(&o);
}
