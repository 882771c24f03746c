//! Issue 18, items 5 and 6: grants and aliases as KMS enforces them, and witnesses a
//! simulator can replay (grant IDs that were given, dates on whole seconds), each through
//! `check`, `diff` and `eval`.

use super::util::{json, kmsproof, temp_file};

const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn temp(name: &str, text: &str) -> String {
    temp_file("issue18", name, text).to_string_lossy().to_string()
}

fn migrator_after(name: &str, when: &str) -> String {
    temp(
        name,
        &format!(
            r#"{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", "Principal": {{"AWS": "arn:aws:iam::111122223333:role/Migrator"}}, "Action": "kms:Decrypt", "Resource": "*", "Condition": {{"DateGreaterThan": {{"aws:CurrentTime": "{when}"}}}}}}]}}"#
        ),
    )
}

/// The `aws:CurrentTime` of the first counterexample or witness of a `check --format json`.
fn current_time(v: &serde_json::Value) -> String {
    v["results"][0]["counterexample"]["context"]["aws:CurrentTime"].as_str().unwrap_or_default().to_string()
}

/// Item 6: a date witness is the first whole second on the right side of the boundary, in
/// `check` (both verdict directions) and in `diff`, and it replays.
#[test]
fn date_witnesses_land_on_whole_seconds() {
    let kp = migrator_after("after-2026.json", "2026-01-01T00:00:00Z");
    let o = kmsproof(&["check", "--key-policy", &kp, "--sometimes", "kms:Decrypt", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0));
    let v = json(&o);
    let w = v["results"][0]["counterexample"].clone();
    assert_eq!(w["context"]["aws:CurrentTime"], "2026-01-01T00:00:01Z", "{v}");
    let o = kmsproof(&[
        "check",
        "--key-policy",
        &kp,
        "--never",
        "kms:Decrypt",
        "--where",
        "DateGreaterThan aws:CurrentTime 2026-03-01T10:00:00.5Z",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(current_time(&json(&o)), "2026-03-01T10:00:01Z");
    // Two boundaries within one second: no whole second lies between them, the fraction stays.
    let o = kmsproof(&[
        "check",
        "--key-policy",
        &kp,
        "--never",
        "kms:Decrypt",
        "--where",
        "DateGreaterThan aws:CurrentTime 2026-03-01T10:00:00.2Z",
        "--where",
        "DateLessThan aws:CurrentTime 2026-03-01T10:00:00.7Z",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let t = current_time(&json(&o));
    assert!(t.starts_with("2026-03-01T10:00:00.") && t != "2026-03-01T10:00:00.2Z", "{t}");
    let later = migrator_after("after-feb-2026.json", "2026-02-01T00:00:00Z");
    let o = kmsproof(&["diff", &kp, &later, "--format", "json"]);
    let v = json(&o);
    assert_eq!(v["verdict"], "less-permissive", "{v}");
    assert_eq!(v["old_allows"][0]["request"]["context"]["aws:CurrentTime"], "2026-01-01T00:00:01Z", "{v}");
}

/// Item 6: an `always` property about RetireGrant is not refuted by a grant nobody gave;
/// with no grant given there is no RetireGrant request at all.
#[test]
fn retire_grant_witnesses_name_a_grant_given() {
    let kp = "corpus/key-policies/kp41-retire-grant.json";
    let g = "corpus/grants/g07-retiring-principal.json";
    let alice = "arn:aws:iam::111122223333:user/alice";
    let o = kmsproof(&["check", "--key-policy", kp, "--grant", g, "--always", "kms:RetireGrant", "--principal", alice]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stdout));
    let bob = "arn:aws:iam::111122223333:user/bob";
    let o = kmsproof(&[
        "check",
        "--key-policy",
        kp,
        "--grant",
        g,
        "--always",
        "kms:RetireGrant",
        "--principal",
        bob,
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v = json(&o);
    assert_eq!(v["results"][0]["counterexample"]["grant_id"], "g-retire", "{v}");
    let o = kmsproof(&["check", "--key-policy", kp, "--sometimes", "kms:RetireGrant"]);
    assert_eq!(o.status.code(), Some(1), "no grant given, yet a RetireGrant was found");
    let _ = KEY;
}
