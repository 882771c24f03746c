//! Review 13: the differential tests of `differential.rs` with wider generators (role paths,
//! service-linked-role sessions, retiring principals in every form, principal tags, key-case
//! encryption contexts, management accounts) and env-configurable seeds and rounds:
//! KMSPROOF_R13_SEED, KMSPROOF_R13_ROUNDS.

use kmsproof::diff::{diff, ActionList, DiffOptions, DiffResult, Direction, ListEnd, Side};
use kmsproof::encode::{authorization, Encoder};
use kmsproof::eval::Inputs;
use kmsproof::query::{check, parse_properties, Verdict};
use kmsproof::{authorize, parse_policy, PolicyKind, Request};
use kmsproof_solver::{solve, Limits, Outcome, Term};

const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

/// A small deterministic generator (xorshift), so failures reproduce from the seed.
struct Rng(u64);

fn seed(default: u64) -> u64 {
    std::env::var("KMSPROOF_R13_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(default, |s: u64| default ^ s.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

fn rounds(default: usize) -> usize {
    std::env::var("KMSPROOF_R13_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

const PRINCIPALS: &[&str] = &[
    "arn:aws:sts::111122223333:assumed-role/App/s1",
    "arn:aws:sts::111122223333:assumed-role/Admin/s2",
    "arn:aws:iam::111122223333:user/alice",
    "arn:aws:iam::111122223333:root",
    "arn:aws:sts::444455556666:assumed-role/App/s3",
    "arn:aws:iam::444455556666:user/bob",
    "ec2.amazonaws.com",
    "anonymous",
    "arn:aws:iam::111122223333:role/aws-service-role/logs.amazonaws.com/AWSServiceRoleForLogs",
    "logs.us-east-1.amazonaws.com",
    "arn:aws:iam::111122223333:role/team/App",
    "arn:aws:sts::111122223333:assumed-role/AWSServiceRoleForLogs/s5",
    "arn:aws:iam::444455556666:role/aws-service-role/x.amazonaws.com/AWSServiceRoleForX",
    "arn:aws:sts::111122223333:federated-user/fred",
    "arn:aws:iam::444455556666:root",
    "arn:aws:iam::111122223333:user/team/carol",
];
const ACTIONS: &[&str] = &[
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:CreateGrant",
    "kms:PutKeyPolicy",
    "kms:CreateKey",
    "kms:DescribeKey",
    "kms:ReEncryptFrom",
    "kms:ScheduleKeyDeletion",
    "kms:RetireGrant",
];
const ACTION_PATTERNS: &[&str] =
    &["kms:*", "kms:Decrypt", "kms:Re*", "kms:Create*", "kms:*Key*", "kms:Encrypt", "s3:GetObject", "*"];
const POLICY_PRINCIPALS: &[&str] = &[
    r#""*""#,
    r#"{"AWS": "arn:aws:iam::111122223333:root"}"#,
    r#"{"AWS": "111122223333"}"#,
    r#"{"AWS": "arn:aws:iam::111122223333:role/App"}"#,
    r#"{"AWS": "arn:aws:iam::444455556666:root"}"#,
    r#"{"AWS": "arn:aws:iam::111122223333:user/alice"}"#,
    r#"{"AWS": "arn:aws:sts::111122223333:assumed-role/Admin/s2"}"#,
    r#"{"Service": "ec2.amazonaws.com"}"#,
    r#"{"Service": "logs.us-east-1.amazonaws.com"}"#,
    r#"{"AWS": "arn:aws:iam::111122223333:role/aws-service-role/logs.amazonaws.com/AWSServiceRoleForLogs"}"#,
    r#"{"AWS": ["arn:aws:sts::111122223333:assumed-role/Admin/s2", "arn:aws:iam::111122223333:role/Admin", "111122223333"]}"#,
    r#"{"AWS": ["arn:aws:iam::111122223333:user/alice", "arn:aws:iam::111122223333:root"]}"#,
    r#"{"AWS": "arn:aws:iam::111122223333:role/team/App"}"#,
    r#"{"AWS": "arn:aws:sts::111122223333:federated-user/fred"}"#,
    r#"{"AWS": "arn:aws:sts::111122223333:assumed-role/AWSServiceRoleForLogs/s5"}"#,
    r#"{"AWS": "arn:aws:iam::111122223333:role/AWSServiceRoleForLogs"}"#,
    r#"{"AWS": "444455556666"}"#,
];
const RESOURCES: &[&str] =
    &[r#""*""#, "\"arn:aws:kms:us-east-1:111122223333:key/*\"", "\"arn:aws:kms:*:444455556666:key/*\""];

/// (operator, key, values) — every value list is JSON.
const CONDITIONS: &[(&str, &str, &[&str])] = &[
    (
        "StringEquals",
        "kms:ViaService",
        &[r#""ec2.us-east-1.amazonaws.com""#, r#"["rds.us-east-1.amazonaws.com", "s3.us-east-1.amazonaws.com"]"#],
    ),
    ("StringLike", "kms:ViaService", &[r#""ec2.*.amazonaws.com""#, r#""*""#]),
    ("StringNotLike", "kms:ViaService", &[r#""ec2.*.amazonaws.com""#]),
    ("StringNotEqualsIfExists", "kms:ViaService", &[r#""ec2.us-east-1.amazonaws.com""#]),
    ("StringEquals", "kms:CallerAccount", &[r#""111122223333""#, r#""444455556666""#]),
    ("StringNotEquals", "aws:PrincipalAccount", &[r#""111122223333""#]),
    ("ArnLike", "aws:PrincipalArn", &[r#""arn:aws:iam::*:role/App""#, r#""arn:aws:iam::111122223333:*""#]),
    ("StringEquals", "kms:EncryptionContext:Dept", &[r#""IT""#, r#"["IT", "HR"]"#]),
    ("StringEqualsIgnoreCase", "kms:EncryptionContext:dept", &[r#""it""#]),
    ("ForAllValues:StringEquals", "kms:EncryptionContextKeys", &[r#"["Dept", "Project"]"#]),
    ("ForAnyValue:StringLike", "kms:EncryptionContextKeys", &[r#""De*""#]),
    ("Null", "kms:EncryptionContextKeys", &["false", "true"]),
    ("ForAllValues:StringEquals", "kms:GrantOperations", &[r#"["Decrypt", "Encrypt"]"#]),
    ("ForAnyValue:StringEquals", "kms:GrantOperations", &[r#""Decrypt""#]),
    ("Bool", "aws:MultiFactorAuthPresent", &["true", "false"]),
    ("BoolIfExists", "aws:MultiFactorAuthPresent", &["false"]),
    ("IpAddress", "aws:SourceIp", &[r#""203.0.113.0/24""#, r#"["10.0.0.0/8", "2001:db8::/32"]"#]),
    ("NotIpAddress", "aws:SourceIp", &[r#""203.0.113.0/24""#]),
    ("NumericLessThanEquals", "kms:ScheduleKeyDeletionPendingWindowInDays", &["7", r#""30""#]),
    ("NumericGreaterThan", "kms:ScheduleKeyDeletionPendingWindowInDays", &["7.5"]),
    ("DateLessThan", "aws:CurrentTime", &[r#""2030-01-01T00:00:00Z""#]),
    ("StringEquals", "aws:PrincipalType", &[r#""AssumedRole""#, r#""User""#, r#""Account""#]),
    ("StringEquals", "aws:PrincipalTag/team", &[r#""blue""#]),
    ("Null", "aws:PrincipalTag/team", &["true", "false"]),
    ("StringNotEquals", "aws:PrincipalTag/team", &[r#""blue""#]),
    ("ForAnyValue:StringEqualsIfExists", "kms:EncryptionContextKeys", &[r#""Dept""#, r#""dept""#]),
    ("ForAnyValue:StringLikeIfExists", "kms:GrantOperations", &[r#""Decrypt""#]),
    ("ForAllValues:StringEqualsIfExists", "kms:GrantOperations", &[r#""Decrypt""#]),
    ("StringEquals", "kms:GrantOperations", &[r#""Decrypt""#]),
    ("StringNotEquals", "kms:EncryptionContextKeys", &[r#""Dept""#]),
    ("StringEquals", "kms:EncryptionContext:DEPT", &[r#""IT""#]),
    ("ForAnyValue:StringEquals", "kms:EncryptionContext:Dept", &[r#""IT""#]),
    (
        "ArnEquals",
        "aws:PrincipalArn",
        &[
            r#""arn:aws:iam::111122223333:role/team/App""#,
            r#""arn:aws:iam::111122223333:role/aws-service-role/logs.amazonaws.com/AWSServiceRoleForLogs""#,
        ],
    ),
    ("StringEquals", "aws:PrincipalAccount", &[r#""444455556666""#]),
];

fn statement(rng: &mut Rng, with_principal: bool) -> String {
    let effect = if rng.chance(25) { "Deny" } else { "Allow" };
    let mut parts = vec![format!(r#""Effect": "{effect}""#)];
    if with_principal {
        let elem = if rng.chance(30) && effect == "Deny" { "NotPrincipal" } else { "Principal" };
        parts.push(format!(r#""{elem}": {}"#, rng.pick(POLICY_PRINCIPALS)));
    }
    let actions: Vec<String> = (0..1 + rng.below(2)).map(|_| format!("\"{}\"", rng.pick(ACTION_PATTERNS))).collect();
    let elem = if rng.chance(15) { "NotAction" } else { "Action" };
    parts.push(format!(r#""{elem}": [{}]"#, actions.join(", ")));
    if !rng.chance(5) {
        parts.push(format!(r#""Resource": {}"#, rng.pick(RESOURCES)));
    }
    let mut blocks: std::collections::BTreeMap<&str, Vec<(&str, &str)>> = Default::default();
    for _ in 0..rng.below(3) {
        let (op, key, values) = rng.pick(CONDITIONS);
        let keys = blocks.entry(op).or_default();
        if !keys.iter().any(|(k, _)| k == key) {
            keys.push((key, *rng.pick(*values)));
        }
    }
    if !blocks.is_empty() {
        let body: Vec<String> = blocks
            .iter()
            .map(|(op, kvs)| {
                format!(
                    r#""{op}": {{{}}}"#,
                    kvs.iter().map(|(k, v)| format!(r#""{k}": {v}"#)).collect::<Vec<_>>().join(", ")
                )
            })
            .collect();
        parts.push(format!(r#""Condition": {{{}}}"#, body.join(", ")));
    }
    format!("{{{}}}", parts.join(", "))
}

fn policy(rng: &mut Rng, with_principal: bool, kind: PolicyKind) -> kmsproof::Policy {
    let n = 1 + rng.below(3);
    let statements: Vec<String> = (0..n).map(|_| statement(rng, with_principal)).collect();
    let text = format!(r#"{{"Version": "2012-10-17", "Statement": [{}]}}"#, statements.join(", "));
    parse_policy(&text, "random.json", kind).unwrap_or_else(|e| panic!("{text}\n{e}"))
}

fn inputs(rng: &mut Rng) -> Inputs {
    let key_policy = policy(rng, true, PolicyKind::KeyPolicy);
    let identity = (0..rng.below(3)).map(|_| policy(rng, false, PolicyKind::Identity)).collect();
    let scps = if rng.chance(20) { vec![policy(rng, false, PolicyKind::Scp)] } else { vec![] };
    let boundary = rng.chance(15).then(|| policy(rng, false, PolicyKind::Boundary));
    let grants = (0..if rng.chance(40) { 1 + rng.below(2) } else { 0 })
        .flat_map(|i| {
            // Constraint keys in any case (they match request keys case-insensitively),
            // retiring principals, RetireGrant operations and issuing accounts.
            let grantee = rng.pick(&["arn:aws:iam::111122223333:role/App", "111122223333", "logs.us-east-1.amazonaws.com", "arn:aws:iam::444455556666:user/bob", "arn:aws:iam::111122223333:role/team/App", "arn:aws:sts::111122223333:assumed-role/App/s1", "arn:aws:iam::444455556666:root", "arn:aws:iam::111122223333:role/aws-service-role/logs.amazonaws.com/AWSServiceRoleForLogs"]);
            let ops = rng.pick(&[r#"["Decrypt", "Encrypt"]"#, r#"["Decrypt", "RetireGrant"]"#, r#"["Encrypt"]"#, r#"["CreateGrant", "RetireGrant"]"#, r#"["DescribeKey"]"#]);
            let key = rng.pick(&["Dept", "dept", "DEPT", "Project"]);
            let kind = rng.pick(&["EncryptionContextSubset", "EncryptionContextEquals"]);
            let retiring = match rng.below(9) {
                0 => r#", "RetiringPrincipal": "arn:aws:iam::111122223333:user/alice""#,
                1 => r#", "RetiringPrincipal": "arn:aws:iam::444455556666:root""#,
                2 => r#", "RetiringPrincipal": "arn:aws:iam::111122223333:role/App""#,
                3 => r#", "RetiringPrincipal": "arn:aws:sts::111122223333:assumed-role/Admin/s2""#,
                4 => r#", "RetiringPrincipal": "logs.us-east-1.amazonaws.com""#,
                5 => r#", "RetiringPrincipal": "444455556666""#,
                6 => r#", "RetiringPrincipal": "arn:aws:iam::111122223333:root""#,
                _ => "",
            };
            let issuing = match rng.below(6) {
                0 => r#", "IssuingAccount": "arn:aws:iam::444455556666:root""#,
                1 => r#", "IssuingAccount": "444455556666""#,
                2 => r#", "IssuingAccount": "arn:aws:iam::111122223333:root""#,
                _ => "",
            };
            let constraints = if rng.chance(30) { String::new() } else { format!(r#", "Constraints": {{"{kind}": {{"{key}": "IT"}}}}"#) };
            let id = if rng.chance(15) { String::new() } else { format!(r#", "GrantId": "g{}""#, i + 1) };
            let g = format!(
                r#"{{"KeyId": "{KEY}"{id}, "GranteePrincipal": "{grantee}", "Operations": {ops}{constraints}{retiring}{issuing}}}"#
            );
            kmsproof::grant::parse_grants(&g, "grant.json").unwrap_or_else(|e| panic!("{g}\n{e}"))
        })
        .collect();
    let management_account = match rng.below(10) {
        0 => Some("111122223333".to_string()),
        1 => Some("444455556666".to_string()),
        _ => None,
    };
    Inputs { key_policy, identity, scps, boundary, grants, management_account }
}

/// A real request: only keys the action can carry, consistent encryption context.
fn request(rng: &mut Rng) -> Request {
    let action = *rng.pick(ACTIONS);
    let info = kmsproof::catalog::catalog().kms_action(action.trim_start_matches("kms:")).unwrap();
    let mut ctx: Vec<String> = Vec::new();
    let add = |ctx: &mut Vec<String>, key: &str, value: String, rng: &mut Rng| {
        if (!key.starts_with("kms:") || info.has_key(key)) && rng.chance(50) {
            ctx.push(format!(r#""{key}": {value}"#));
            true
        } else {
            false
        }
    };
    add(
        &mut ctx,
        "kms:ViaService",
        format!(
            "\"{}\"",
            rng.pick(&["ec2.us-east-1.amazonaws.com", "rds.us-east-1.amazonaws.com", "lambda.eu-west-1.amazonaws.com"])
        ),
        rng,
    );
    let dept = rng.pick(&["IT", "HR", "it"]).to_string();
    let spelled = *rng.pick(&["Dept", "dept", "DEPT"]);
    if add(&mut ctx, &format!("kms:EncryptionContext:{spelled}"), format!("\"{dept}\""), rng) {
        let keys = if rng.chance(50) { format!(r#"["{spelled}"]"#) } else { format!(r#"["{spelled}", "Project"]"#) };
        ctx.push(format!(r#""kms:EncryptionContextKeys": {keys}"#));
        if keys.contains("Project") {
            ctx.push(r#""kms:EncryptionContext:Project": "x""#.into());
        }
    }
    let ops = rng
        .pick(&[
            r#"["Decrypt"]"#,
            r#"["Decrypt", "Sign"]"#,
            r#"["Encrypt"]"#,
            r#"["RetireGrant", "Decrypt"]"#,
            r#""Decrypt""#,
        ])
        .to_string();
    if action == "kms:CreateGrant" {
        // A real CreateGrant always names its operations (invariant `create-grant-operations`).
        ctx.push(format!(r#""kms:GrantOperations": {ops}"#));
    }
    add(&mut ctx, "aws:MultiFactorAuthPresent", rng.pick(&["\"true\"", "\"false\""]).to_string(), rng);
    add(
        &mut ctx,
        "aws:SourceIp",
        format!("\"{}\"", rng.pick(&["203.0.113.9", "10.1.2.3", "198.51.100.1", "2001:db8::1"])),
        rng,
    );
    add(&mut ctx, "kms:ScheduleKeyDeletionPendingWindowInDays", rng.pick(&["7", "30", "8"]).to_string(), rng);
    add(
        &mut ctx,
        "aws:CurrentTime",
        format!("\"{}\"", rng.pick(&["2029-12-31T00:00:00Z", "2031-06-01T00:00:00Z"])),
        rng,
    );
    let principal = rng.pick(PRINCIPALS);
    let untagged = principal.ends_with(":root") || !principal.starts_with("arn:");
    if !untagged && rng.chance(40) {
        ctx.push(format!(r#""aws:PrincipalTag/team": "{}""#, rng.pick(&["blue", "red"])));
    }
    let resource = if info.on_key { format!(r#""resource": "{KEY}","#) } else { String::new() };
    let grant = if action == "kms:RetireGrant" {
        format!(r#", "grant_id": "{}""#, rng.pick(&["g1", "g2", "g9", "grant[0]"]))
    } else {
        String::new()
    };
    let text = format!(
        r#"{{"principal": "{principal}", "action": "{action}", {resource} "context": {{{}}}{grant}}}"#,
        ctx.join(", ")
    );
    Request::parse(&text, "random-request").unwrap_or_else(|e| panic!("{text}\n{e}"))
}

fn sat(vocab: &kmsproof_solver::Vocabulary, t: &Term) -> bool {
    match solve(vocab, t, Limits::default(), 1) {
        Outcome::Sat(_) => true,
        Outcome::Unsat => false,
        Outcome::Unknown(why) => panic!("solver unknown: {why}"),
    }
}

#[test]
fn encoding_agrees_with_the_evaluator_on_random_requests() {
    let mut rng = Rng(seed(0x5eed_1234_abcd_0011));
    let (mut compared, mut unreal) = (0, 0);
    for round in 0..rounds(20) {
        let inputs = inputs(&mut rng);
        let policies: Vec<&kmsproof::Policy> = std::iter::once(&inputs.key_policy)
            .chain(&inputs.identity)
            .chain(&inputs.scps)
            .chain(&inputs.boundary)
            .collect();
        let mut enc = Encoder::new(KEY, &policies, &[]);
        let allowed = authorization(&mut enc, &inputs).expect("the generator only uses encoded constructs");
        let inv = enc.invariants();
        for _ in 0..4 {
            let req = request(&mut rng);
            let rc = enc.request_constraint(&req);
            let can_allow = sat(enc.vocabulary(), &Term::and([inv.clone(), rc.clone(), allowed.clone()]));
            let can_deny = sat(enc.vocabulary(), &Term::and([inv.clone(), rc.clone(), Term::not(allowed.clone())]));
            let d = authorize(&inputs, &req);
            if !can_allow && !can_deny {
                unreal += 1;
                continue;
            }
            assert!(
                can_allow != can_deny,
                "round {round}: the encoding does not determine the decision for {}",
                kmsproof::report::request_json(&req)
            );
            assert_eq!(
                can_allow,
                d.allowed(),
                "round {round}: encoding says {can_allow}, evaluator says {} ({})\nrequest: {}\nkey policy: {:?}",
                d.reason.as_str(),
                d.summary,
                kmsproof::report::request_json(&req),
                inputs.key_policy.statements
            );
            compared += 1;
        }
    }
    eprintln!("differential: {compared} requests compared, {unreal} outside the invariants");
    assert!(compared >= rounds(20), "too few comparisons: {compared}");
}

#[test]
fn check_verdicts_agree_with_brute_force() {
    let mut rng = Rng(seed(0x0bad_cafe_f00d_0012));
    for round in 0..rounds(10) {
        let inputs = inputs(&mut rng);
        let action = rng.pick(ACTIONS);
        let (op, key, values) = rng.pick(CONDITIONS);
        let expect = rng.pick(&["never", "always", "sometimes"]);
        let principal = match rng.below(8) {
            0 => r#""principal": {"AWS": "arn:aws:sts::111122223333:assumed-role/AWSServiceRoleForLogs/s5"}, "#,
            1 => r#""principal": {"AWS": "arn:aws:iam::111122223333:role/team/App"}, "#,
            2 => r#""principal": {"AWS": "111122223333"}, "#,
            3 => r#""principal": {"AWS": "arn:aws:iam::111122223333:root"}, "#,
            4 => r#""principal": {"AWS": "arn:aws:sts::111122223333:assumed-role/App/s1"}, "#,
            _ => "",
        };
        let text = format!(
            r#"{{"name": "p", "expect": "{expect}", {principal}"action": "{action}", "condition": {{"{op}": {{"{key}": {}}}}}}}"#,
            rng.pick(values)
        );
        let props = parse_properties(&text, "p.json").unwrap();
        let result = check(&inputs, KEY, &props, 2, Limits::default()).unwrap_or_else(|m| panic!("round {round}: {m}"));
        let verdict = &result[0].verdict;
        // Brute force: many random real requests of the shape; none may contradict a proof.
        for _ in 0..150 {
            let req = request(&mut rng);
            if !matches!(kmsproof::eval::match_statement(&props[0].shape, &req), kmsproof::eval::Match::Applies { .. })
            {
                continue;
            }
            let allowed = authorize(&inputs, &req).allowed();
            match (expect, verdict) {
                (&"never", Verdict::Holds) => assert!(
                    !allowed,
                    "round {round}: proved never, but allowed: {}",
                    kmsproof::report::request_json(&req)
                ),
                (&"always", Verdict::Holds) => assert!(
                    allowed,
                    "round {round}: proved always, but denied: {}",
                    kmsproof::report::request_json(&req)
                ),
                (&"sometimes", Verdict::Violated) => assert!(
                    !allowed,
                    "round {round}: proved no request allowed, but: {}",
                    kmsproof::report::request_json(&req)
                ),
                _ => {}
            }
        }
    }
}

fn brute_force_diff(round: usize, r: &DiffResult, requests: &[(bool, bool, String)]) {
    for (old, new, text) in requests {
        if matches!(r.new_allows, Direction::None) {
            assert!(!(*new && !*old), "round {round}: proved NEW allows nothing OLD denies, but: {text}");
        }
        if matches!(r.old_allows, Direction::None) {
            assert!(!(*old && !*new), "round {round}: proved OLD allows nothing NEW denies, but: {text}");
        }
        for (differs, list, which) in
            [(*new && !*old, &r.new_actions, "NEW allows"), (*old && !*new, &r.old_actions, "OLD allows")]
        {
            complete_list_has_action(round, differs, list, which, text);
        }
    }
}

/// A per-action list said complete names the action of every request in its direction.
fn complete_list_has_action(round: usize, differs: bool, list: &ActionList, which: &str, text: &str) {
    if !differs || list.end != ListEnd::Complete {
        return;
    }
    let req: serde_json::Value = serde_json::from_str(text).unwrap();
    let action = req["action"].as_str().unwrap_or_default();
    let listed: Vec<&str> = list.witnesses.iter().map(|w| w.action()).collect();
    assert!(
        listed.iter().any(|a| a.eq_ignore_ascii_case(action)),
        "round {round}: the action list of '{which}' is said complete ({listed:?}) but misses {text}"
    );
}

/// `diff` of random KMS contexts: a direction proved empty is never contradicted by random
/// real requests, and every witness was replayed against both sides (`diff` fails if not).
#[test]
fn kms_diff_verdicts_agree_with_brute_force() {
    let mut rng = Rng(seed(0xd1ff_0000_0000_0013));
    let opts = DiffOptions { examples: 2, actions: 60, limits: Limits::default() };
    let mut found = 0;
    for round in 0..rounds(8) {
        let old = inputs(&mut rng);
        let mut new = old.clone();
        match rng.below(3) {
            0 => new.key_policy = policy(&mut rng, true, PolicyKind::KeyPolicy),
            1 => new.identity = (0..rng.below(3)).map(|_| policy(&mut rng, false, PolicyKind::Identity)).collect(),
            _ => new = inputs(&mut rng),
        }
        let (a, b) = (Side::Kms(old.clone()), Side::Kms(new.clone()));
        let r = diff(&a, &b, KEY, opts).unwrap_or_else(|m| panic!("round {round}: {m}"));
        found += [&r.new_allows, &r.old_allows].iter().filter(|d| matches!(d, Direction::Found(_))).count();
        let requests: Vec<(bool, bool, String)> = (0..200)
            .map(|_| {
                let req = request(&mut rng);
                let text = kmsproof::report::request_json(&req).to_string();
                (authorize(&old, &req).allowed(), authorize(&new, &req).allowed(), text)
            })
            .collect();
        brute_force_diff(round, &r, &requests);
    }
    eprintln!("kms diffs: {found} directions with witnesses");
}

// ---------------------------------------------------------------------------------------
// Review 13 findings: each test states what AWS does and fails on 841ac09. They are
// `#[ignore]`d so the branch stays green; run them with
// `cargo test --test tests review13::finding -- --ignored`.

fn key_only(statements: &str) -> Inputs {
    let text = format!(r#"{{"Version": "2012-10-17", "Statement": {statements}}}"#);
    Inputs {
        key_policy: parse_policy(&text, "kp.json", PolicyKind::KeyPolicy).unwrap(),
        identity: vec![],
        scps: vec![],
        boundary: None,
        grants: vec![],
        management_account: None,
    }
}

fn verdict(inputs: &Inputs, property: &str, examples: usize) -> (Verdict, Vec<String>) {
    let props = parse_properties(property, "p.json").unwrap();
    let r = check(inputs, KEY, &props, examples, Limits::default()).unwrap_or_else(|m| panic!("{m}"));
    (r[0].verdict.clone(), r[0].rests_on.clone())
}

fn decrypt_by(principal: &str) -> Request {
    let text =
        format!(r#"{{"principal": "{principal}", "action": "kms:Decrypt", "resource": "{KEY}", "context": {{}}}}"#);
    Request::parse(&text, "r.json").unwrap()
}

/// Role names are unique in an account whatever the path (IAM CreateRole: "IAM user, group,
/// role, and policy names must be unique within the account"), so a key policy naming
/// `role/team/App` names the role of every `assumed-role/App/…` session (8a84d8c allowed it).
#[test]
fn finding1_a_session_of_a_role_with_a_path_is_named_by_its_role_arn() {
    let inputs = key_only(
        r#"[{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/team/App"}, "Action": "kms:Decrypt", "Resource": "*"}]"#,
    );
    let d = authorize(&inputs, &decrypt_by("arn:aws:sts::111122223333:assumed-role/App/s1"));
    assert!(d.allowed(), "{}", d.summary);
    let (v, _) = verdict(
        &inputs,
        r#"{"name": "p", "expect": "never", "principal": {"AWS": "arn:aws:sts::111122223333:assumed-role/App/s1"}, "action": "kms:Decrypt"}"#,
        1,
    );
    assert!(!matches!(v, Verdict::Holds), "check proves the session never decrypts: {v:?}");
}

/// A service-linked role's sessions (`assumed-role/AWSServiceRoleForAutoScaling/AutoScaling`,
/// what CloudTrail shows) are not limited by SCPs ("SCPs don't affect service-linked roles")
/// and are named by the key policy's SLR ARN: `check --never` must not prove `holds`.
#[test]
fn finding2_a_service_linked_role_session_is_not_limited_by_an_scp() {
    let mut inputs = key_only(
        r#"[{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"}, "Action": "kms:Decrypt", "Resource": "*"}]"#,
    );
    let scp = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}, {"Effect": "Deny", "Action": "kms:*", "Resource": "*"}]}"#;
    inputs.scps.push(parse_policy(scp, "scp.json", PolicyKind::Scp).unwrap());
    let (v, _) = verdict(
        &inputs,
        r#"{"name": "p", "expect": "never", "principal": {"AWS": "arn:aws:sts::111122223333:assumed-role/AWSServiceRoleForAutoScaling/AutoScaling"}, "action": "kms:Decrypt"}"#,
        1,
    );
    assert!(!matches!(v, Verdict::Holds), "check proves the SLR session never decrypts: {v:?}");
}

/// Issue 13 item 6, "no verdict may depend on --examples": the root user (no tags) decrypts
/// any context through kp01's account statement, yet --examples 1 answers unknown and
/// --examples 10 violated.
#[test]
fn finding3_a_verdict_does_not_depend_on_examples() {
    let mut inputs = key_only(
        r#"[{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}]"#,
    );
    let ip = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*", "Condition": {"StringEquals": {"kms:EncryptionContext:team": "${aws:PrincipalTag/team}"}}}]}"#;
    inputs.identity.push(parse_policy(ip, "ip.json", PolicyKind::Identity).unwrap());
    let p = r#"{"name": "p", "expect": "never", "action": "kms:Decrypt", "condition": {"StringEquals": {"kms:EncryptionContext:team": "red"}}}"#;
    let few = format!("{:?}", verdict(&inputs, p, 1).0);
    let many = format!("{:?}", verdict(&inputs, p, 10).0);
    assert_eq!(few, many, "--examples 1 vs --examples 10");
}

/// semantics.md marks these UNCONFIRMED and the encoder decides them, but no proof says it
/// rests on them (issue 13 item 7: "Do the same for the other UNCONFIRMED points").
#[test]
fn finding4_proofs_name_every_unconfirmed_reading_they_rest_on() {
    // A set operator on a single-valued key: R = {v} (iam-simulate: false, not an array).
    let inputs = key_only(
        r#"[{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/App"}, "Action": "kms:Decrypt", "Resource": "*", "Condition": {"ForAnyValue:StringEquals": {"kms:ViaService": "ec2.us-east-1.amazonaws.com"}}}]"#,
    );
    let (v, rests) = verdict(
        &inputs,
        r#"{"name": "p", "expect": "always", "principal": {"AWS": "arn:aws:iam::111122223333:role/App"}, "action": "kms:Decrypt", "condition": {"StringEquals": {"kms:ViaService": "ec2.us-east-1.amazonaws.com"}}}"#,
        1,
    );
    assert!(matches!(v, Verdict::Holds) && !rests.is_empty(), "set operator on a single-valued key: {v:?} {rests:?}");
}

/// Bool values in another case: the parser reads "FALSE" as false and keeps no case, so
/// this reading is not tracked yet (listed as remaining in the README).
#[test]
#[ignore = "review13 finding 4b: Bool value case is not a tracked reading yet"]
fn finding4b_bool_value_case_is_named() {
    // Bool values any case ("FALSE" read as false; UNCONFIRMED, semantics.md 3.3).
    let inputs = key_only(
        r#"[{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}, {"Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "FALSE"}}}]"#,
    );
    let (v, rests) = verdict(
        &inputs,
        r#"{"name": "p", "expect": "never", "action": "kms:Decrypt", "condition": {"Bool": {"aws:SecureTransport": "false"}}}"#,
        1,
    );
    assert!(matches!(v, Verdict::Holds) && !rests.is_empty(), "Bool value case: {v:?} {rests:?}");
}

/// `audit` prints "proved: Z3 unsat" for a lockout that holds only under the chosen
/// ForAnyValue:…IfExists reading, without saying so (check does say it).
#[test]
fn finding5_audit_proofs_name_the_readings_they_rest_on() {
    let dir = std::env::temp_dir().join(format!("kmsproof-review13-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("kp.json"),
        r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*", "Condition": {"ForAnyValue:StringEqualsIfExists": {"kms:EncryptionContextKeys": "Dept"}}}]}"#,
    )
    .unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_kmsproof"))
        .args(["audit", dir.to_str().unwrap(), "--format", "json"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("kms:PutKeyPolicy"), "{text}");
    assert!(text.contains("UNCONFIRMED"), "the lockout proof does not say it rests on a reading: {text}");
}

/// Every principal of the generator retiring every grant ID, against random inputs: the
/// encoding and the evaluator agree on each RetireGrant request.
#[test]
fn retire_grant_encoding_agrees_with_the_evaluator_for_every_caller() {
    let mut rng = Rng(seed(0x7e71_7e00_0000_0014));
    let mut compared = 0;
    for round in 0..rounds(3) {
        let mut inputs = inputs(&mut rng);
        if inputs.grants.is_empty() {
            inputs = self::inputs(&mut rng);
        }
        let policies: Vec<&kmsproof::Policy> = std::iter::once(&inputs.key_policy)
            .chain(&inputs.identity)
            .chain(&inputs.scps)
            .chain(&inputs.boundary)
            .collect();
        let mut enc = Encoder::new(KEY, &policies, &[]);
        let allowed = authorization(&mut enc, &inputs).expect("encoded");
        let inv = enc.invariants();
        for principal in PRINCIPALS {
            for id in ["g1", "g2", "g9", "grant[0]"] {
                let text = format!(
                    r#"{{"principal": "{principal}", "action": "kms:RetireGrant", "resource": "{KEY}", "context": {{}}, "grant_id": "{id}"}}"#
                );
                let req = Request::parse(&text, "r.json").unwrap();
                let rc = enc.request_constraint(&req);
                let can_allow = sat(enc.vocabulary(), &Term::and([inv.clone(), rc.clone(), allowed.clone()]));
                let can_deny = sat(enc.vocabulary(), &Term::and([inv.clone(), rc, Term::not(allowed.clone())]));
                let d = authorize(&inputs, &req);
                assert!(can_allow != can_deny, "round {round}: undetermined for {text}");
                assert_eq!(
                    can_allow,
                    d.allowed(),
                    "round {round}: encoding {can_allow}, evaluator {} ({})\n{text}\ngrants: {:?}\nscps: {}, boundary: {}, identity: {}, mgmt: {:?}",
                    d.reason.as_str(),
                    d.summary,
                    inputs.grants,
                    inputs.scps.len(),
                    inputs.boundary.is_some(),
                    inputs.identity.len(),
                    inputs.management_account
                );
                compared += 1;
            }
        }
    }
    eprintln!("retire: {compared} requests compared");
}

/// The request reader enforces the invariants AWS guarantees (no test did before): the
/// root user and service principals have no principal tags, encryption-context keys are
/// non-empty; and the encoder never searches a request that breaks one.
#[test]
fn request_invariants_are_enforced_on_both_sides() {
    let parse = |principal: &str, context: &str| {
        let text = format!(
            r#"{{"principal": "{principal}", "action": "kms:Decrypt", "resource": "{KEY}", "context": {context}}}"#
        );
        Request::parse(&text, "r.json").map(|_| ()).map_err(|e| e.to_string())
    };
    let tag = r#"{"aws:PrincipalTag/team": "blue"}"#;
    assert!(parse("arn:aws:iam::111122223333:root", tag).unwrap_err().contains("has no principal tags"));
    assert!(parse("logs.us-east-1.amazonaws.com", tag).unwrap_err().contains("has no principal tags"));
    assert!(parse("arn:aws:sts::111122223333:assumed-role/App/s1", tag).is_ok());
    let empty = r#"{"kms:EncryptionContextKeys": [""], "kms:EncryptionContext:": "x"}"#;
    assert!(parse("arn:aws:sts::111122223333:assumed-role/App/s1", empty).unwrap_err().contains("empty"));
    let inputs = key_only(r#"[{"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"}]"#);
    let (v, _) = verdict(
        &inputs,
        r#"{"name": "p", "expect": "sometimes", "action": "kms:Decrypt", "condition": {"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": ""}}}"#,
        1,
    );
    assert!(matches!(v, Verdict::Violated), "an empty encryption-context key was searched: {v:?}");
    let (v, _) = verdict(
        &inputs,
        r#"{"name": "p", "expect": "sometimes", "action": "kms:Decrypt", "condition": {"StringEquals": {"aws:PrincipalType": "Account", "aws:PrincipalTag/team": "blue"}}}"#,
        1,
    );
    assert!(matches!(v, Verdict::Violated), "a tagged root user was searched: {v:?}");
}
