//! Differential tests: the encoding agrees with the concrete evaluator on random policies
//! and requests, and `check` verdicts agree with brute force over candidate requests.

use kmsproof::encode::{authorization, Encoder};
use kmsproof::eval::policy_decision;
use kmsproof::model::inputs::Inputs;
use kmsproof::model::property::parse_properties;
use kmsproof::prove::check::{check, Verdict};
use kmsproof::prove::diff::{diff, ActionList, DiffOptions, DiffResult, Direction, ListEnd, Side};
use kmsproof::{authorize, parse_policy, PolicyKind, Request};
use kmsproof_solver::{solve, Limits, Outcome, Term};

pub(crate) const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

/// A small deterministic generator (xorshift), so failures reproduce from the seed.
pub(crate) struct Rng(pub(crate) u64);

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

pub(crate) const PRINCIPALS: &[&str] = &[
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
pub(crate) const ACTIONS: &[&str] = &[
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:CreateGrant",
    "kms:PutKeyPolicy",
    "kms:CreateKey",
    "kms:DescribeKey",
    "kms:ReEncryptFrom",
    "kms:ScheduleKeyDeletion",
    "kms:RetireGrant",
    "kms:CreateAlias",
];
const ACTION_PATTERNS: &[&str] =
    &["kms:*", "kms:Decrypt", "kms:Re*", "kms:Create*", "kms:*Key*", "kms:Encrypt", "s3:GetObject", "*", "kms:*Alias"];
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
const RESOURCES: &[&str] = &[
    r#""*""#,
    "\"arn:aws:kms:us-east-1:111122223333:key/*\"",
    "\"arn:aws:kms:*:444455556666:key/*\"",
    "\"arn:aws:kms:us-east-1:111122223333:alias/app-*\"",
];

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
    (
        "ArnLike",
        "aws:PrincipalArn",
        &[r#""arn:aws:iam::*:role/App""#, r#""arn:aws:iam::111122223333:*""#, r#""arn:aws:iam::*:role/team/*""#],
    ),
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
    ("Bool", "aws:ViaAWSService", &["false", "true"]),
    ("StringEquals", "kms:KeyUsage", &[r#""SIGN_VERIFY""#, r#"["ENCRYPT_DECRYPT", "SIGN_VERIFY"]"#]),
    ("BoolIfExists", "aws:ViaAWSService", &["false"]),
    ("StringNotEqualsIfExists", "aws:SourceVpce", &[r#""vpce-1a2b""#]),
    ("Null", "aws:SourceIp", &["true"]),
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

pub(crate) fn statement(rng: &mut Rng, with_principal: bool) -> String {
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
            keys.push((key, *rng.pick(values)));
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

pub(crate) fn policy(rng: &mut Rng, with_principal: bool, kind: PolicyKind) -> kmsproof::Policy {
    let n = 1 + rng.below(3);
    let statements: Vec<String> = (0..n).map(|_| statement(rng, with_principal)).collect();
    let text = format!(r#"{{"Version": "2012-10-17", "Statement": [{}]}}"#, statements.join(", "));
    parse_policy(&text, "random.json", kind).unwrap_or_else(|e| panic!("{text}\n{e}"))
}

pub(crate) fn inputs(rng: &mut Rng) -> Inputs {
    let key_policy = policy(rng, true, PolicyKind::KeyPolicy);
    let identity = (0..rng.below(3)).map(|_| policy(rng, false, PolicyKind::Identity)).collect();
    let scps = if rng.chance(20) { vec![policy(rng, false, PolicyKind::Scp)] } else { vec![] };
    let boundary = rng.chance(15).then(|| policy(rng, false, PolicyKind::Boundary));
    let grants = (0..if rng.chance(40) { 1 + rng.below(2) } else { 0 })
        .flat_map(|i| {
            // Constraint keys in any case (they match request keys case-insensitively),
            // retiring principals, RetireGrant operations and issuing accounts.
            let grantee = rng.pick(&["arn:aws:iam::111122223333:role/App", "111122223333", "logs.us-east-1.amazonaws.com", "arn:aws:iam::444455556666:user/bob", "arn:aws:iam::111122223333:role/team/App", "arn:aws:sts::111122223333:assumed-role/App/s1", "arn:aws:iam::444455556666:root", "arn:aws:iam::111122223333:role/aws-service-role/logs.amazonaws.com/AWSServiceRoleForLogs"]);
            let ops = rng.pick(&[r#"["Decrypt", "Encrypt"]"#, r#"["Decrypt", "RetireGrant"]"#, r#"["Encrypt"]"#, r#"["CreateGrant", "RetireGrant"]"#, r#"["DescribeKey"]"#, r#"["CreateGrant", "Decrypt"]"#]);
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
            let mut g = format!(
                r#"{{"KeyId": "{KEY}"{id}, "GranteePrincipal": "{grantee}", "Operations": {ops}{constraints}{retiring}{issuing}}}"#
            );
            if rng.chance(20) {
                // A grant to a service principal with a SourceArn constraint (issue 18, item 5c).
                let source = rng.pick(&["arn:aws:cloudtrail:us-east-1:111122223333:trail/t1", "arn:aws:s3:::bucket"]);
                g = format!(
                    r#"{{"KeyId": "{KEY}"{id}, "GranteeServicePrincipal": "logs.us-east-1.amazonaws.com", "RetiringServicePrincipal": "logs.us-east-1.amazonaws.com", "Operations": {ops}, "Constraints": {{"SourceArn": "{source}"}}{issuing}}}"#
                );
            }
            kmsproof::model::grant::parse_grants(&g, "grant.json").unwrap_or_else(|e| panic!("{g}\n{e}"))
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
pub(crate) fn request(rng: &mut Rng) -> Request {
    let action = *rng.pick(ACTIONS);
    let info = kmsproof::facts::catalog::catalog().kms_action(action.trim_start_matches("kms:")).unwrap();
    let mut ctx: Vec<String> = Vec::new();
    let add = |ctx: &mut Vec<String>, key: &str, value: String, rng: &mut Rng| {
        if (!key.starts_with("kms:") || info.has_key(key)) && rng.chance(50) {
            ctx.push(format!(r#""{key}": {value}"#));
            true
        } else {
            false
        }
    };
    let principal = rng.pick(PRINCIPALS);
    // A service's call on the caller's behalf: an IAM caller, aws:ViaAWSService true
    // (derived), no VPC keys (invariants `service-call`, `service-call-network`).
    let via = principal.starts_with("arn:")
        && add(
            &mut ctx,
            "kms:ViaService",
            format!(
                "\"{}\"",
                rng.pick(&[
                    "ec2.us-east-1.amazonaws.com",
                    "rds.us-east-1.amazonaws.com",
                    "lambda.eu-west-1.amazonaws.com"
                ])
            ),
            rng,
        );
    let via = via
        || add(&mut ctx, "aws:ViaAWSService", rng.pick(&["\"true\"", "\"false\""]).to_string(), rng)
            && ctx.last().is_some_and(|c| c.contains("true"));
    if !via {
        add(&mut ctx, "aws:SourceVpce", "\"vpce-1a2b\"".to_string(), rng);
    }
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
        // The new grant's constraint type: grant delegation (issue 18, item 5a) reads it.
        if rng.chance(60) {
            let kind = rng.pick(&["EncryptionContextEquals", "EncryptionContextSubset"]);
            ctx.push(format!(r#""kms:GrantConstraintType": "{kind}""#));
        }
    }
    // Facts of the key agree with the action (invariant `key-facts`).
    let usage = match kmsproof::facts::kms_rules::uses_for_action(info.name.as_str()) {
        Some(rows) => rows[0].usage,
        None => *rng.pick(&["ENCRYPT_DECRYPT", "SIGN_VERIFY"]),
    };
    add(&mut ctx, "kms:KeyUsage", format!("\"{usage}\""), rng);
    add(
        &mut ctx,
        "aws:SourceArn",
        format!("\"{}\"", rng.pick(&["arn:aws:cloudtrail:us-east-1:111122223333:trail/t1", "arn:aws:s3:::other"])),
        rng,
    );
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
    // A session sometimes says its role's path (issue 18, item 5d): the path the inputs
    // name, another one, or `/`.
    if let Some((account, rest)) = principal.strip_prefix("arn:aws:sts::").and_then(|r| r.split_once(":assumed-role/"))
    {
        let role = rest.split('/').next().unwrap_or_default();
        if rng.chance(35) {
            let path = rng.pick(&["", "team/", "other/", "aws-service-role/logs.amazonaws.com/"]);
            ctx.push(format!(r#""aws:PrincipalArn": "arn:aws:iam::{account}:role/{path}{role}""#));
        }
    }
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
    // An alias action names its alias (issue 18, item 5b).
    let alias = if info.on_alias {
        format!(r#", "alias": "{}""#, rng.pick(&["alias/app-1", "alias/other"]))
    } else {
        String::new()
    };
    let text = format!(
        r#"{{"principal": "{principal}", "action": "{action}", {resource} "context": {{{}}}{grant}{alias}}}"#,
        ctx.join(", ")
    );
    Request::parse(&text, "random-request").unwrap_or_else(|e| panic!("{text}\n{e}"))
}

/// Whether AWS can send `req` given the ranges the inputs (and `extra`) name: a service's
/// call never comes from one of them (`model::invariants::service_address`).
fn sendable(inputs: &kmsproof::Inputs, extra: &[&kmsproof::model::policy::Statement], req: &Request) -> bool {
    let statements = inputs.policies().flat_map(|p| &p.statements).chain(extra.iter().copied());
    let ranges = kmsproof::model::invariants::named_ranges(statements);
    kmsproof::model::invariants::service_address(req, &ranges).is_none()
}

pub(crate) fn sat(vocab: &kmsproof_solver::Vocabulary, t: &Term) -> bool {
    match solve(vocab, t, Limits::default(), 1) {
        Outcome::Sat(_) => true,
        Outcome::Unsat => false,
        Outcome::Unknown(why) => panic!("solver unknown: {why}"),
    }
}

#[test]
fn encoding_agrees_with_the_evaluator_on_random_requests() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let (mut compared, mut unreal) = (0, 0);
    for round in 0..60 {
        let inputs = inputs(&mut rng);
        let policies: Vec<&kmsproof::Policy> = inputs.policies().collect();
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
                req.to_json()
            );
            assert_eq!(
                can_allow,
                d.allowed(),
                "round {round}: encoding says {can_allow}, evaluator says {} ({})\nrequest: {}\nkey policy: {:?}",
                d.reason.as_str(),
                d.summary,
                req.to_json(),
                inputs.key_policy.statements
            );
            compared += 1;
        }
    }
    eprintln!("differential: {compared} requests compared, {unreal} outside the invariants");
    assert!(compared >= 200, "too few comparisons: {compared}");
}

#[test]
fn check_verdicts_agree_with_brute_force() {
    let mut rng = Rng(0x0bad_cafe_f00d_0002);
    for round in 0..25 {
        let inputs = inputs(&mut rng);
        let action = rng.pick(ACTIONS);
        let (op, key, values) = rng.pick(CONDITIONS);
        let expect = rng.pick(&["never", "always", "sometimes"]);
        let text = format!(
            r#"{{"name": "p", "expect": "{expect}", "action": "{action}", "condition": {{"{op}": {{"{key}": {}}}}}}}"#,
            rng.pick(values)
        );
        let props = parse_properties(&text, "p.json").unwrap();
        let result = check(&inputs, KEY, &props, 2, Limits::default()).unwrap_or_else(|m| panic!("round {round}: {m}"));
        let verdict = &result[0].verdict;
        // Brute force: many random real requests of the shape; none may contradict a proof.
        for _ in 0..150 {
            let req = request(&mut rng);
            if !matches!(kmsproof::eval::match_statement(&props[0].shape, &req), kmsproof::eval::Match::Applies { .. })
                || !sendable(&inputs, &[&props[0].shape], &req)
            {
                continue;
            }
            let allowed = authorize(&inputs, &req).allowed();
            match (expect, verdict) {
                (&"never", Verdict::Holds) => {
                    assert!(!allowed, "round {round}: proved never, but allowed: {}", req.to_json())
                }
                (&"always", Verdict::Holds) => {
                    assert!(allowed, "round {round}: proved always, but denied: {}", req.to_json())
                }
                (&"sometimes", Verdict::Violated) => {
                    assert!(!allowed, "round {round}: proved no request allowed, but: {}", req.to_json())
                }
                _ => {}
            }
        }
    }
}

fn brute_force_diff(round: usize, r: &DiffResult, requests: &[(bool, bool, String)]) {
    for (old, new, text) in requests {
        if matches!(r.new_allows, Direction::None) {
            assert!(!*new || *old, "round {round}: proved NEW allows nothing OLD denies, but: {text}");
        }
        if matches!(r.old_allows, Direction::None) {
            assert!(!*old || *new, "round {round}: proved OLD allows nothing NEW denies, but: {text}");
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
    let mut rng = Rng(0xd1ff_0000_0000_0003);
    let opts = DiffOptions { examples: 2, actions: 60, limits: Limits::default() };
    let mut found = 0;
    for round in 0..30 {
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
            .map(|_| request(&mut rng))
            .filter(|req| sendable(&old, &[], req) && sendable(&new, &[], req))
            .map(|req| {
                let text = req.to_json().to_string();
                (authorize(&old, &req).allowed(), authorize(&new, &req).allowed(), text)
            })
            .collect();
        brute_force_diff(round, &r, &requests);
    }
    assert!(found > 10, "too few differences found: {found}");
}

const G_ACTIONS: &[&str] = &["s3:GetObject", "s3:PutObject", "ec2:DescribeInstances", "kms:Decrypt", "iam:PassRole"];
const G_ACTION_PATTERNS: &[&str] =
    &["s3:*", "s3:Get*", "*", "ec2:Describe*", "kms:Decrypt", "iam:PassRole", "s3:*Object", "S3:getobject"];
const G_RESOURCES: &[&str] = &[
    "arn:aws:s3:::bucket/key",
    "arn:aws:s3:::other/x",
    "*",
    "arn:aws:ec2:us-east-1:111122223333:instance/i-1",
    "arn:aws:s3:::bucket/my file",
    "arn:aws:s3:::bucket/*",
];
const G_RESOURCE_PATTERNS: &[&str] = &[
    "*",
    "arn:aws:s3:::bucket/*",
    "arn:aws:s3:::*",
    "arn:aws:ec2:*:*:instance/*",
    "arn:aws:s3:::bucket/${*}",
    "arn:aws:s3:::bucket/* *",
];
const G_CONDITIONS: &[(&str, &str, &str)] = &[
    ("StringEquals", "aws:RequestedRegion", r#""us-east-1""#),
    ("StringLike", "s3:prefix", r#""home/*""#),
    ("StringNotEquals", "s3:prefix", r#""tmp/""#),
    ("ForAnyValue:StringEquals", "s3:prefix", r#""home/a""#),
    ("ForAllValues:StringLike", "s3:prefix", r#""home/*""#),
    ("StringEqualsIfExists", "s3:prefix", r#""home/a""#),
    ("Null", "s3:prefix", r#""false""#),
    ("Bool", "s3:flag", r#""true""#),
    ("Bool", "aws:SecureTransport", r#""true""#),
    ("StringEquals", "aws:ResourceAccount", r#""${aws:PrincipalAccount}""#),
    ("StringNotEquals", "aws:PrincipalAccount", r#""111122223333""#),
    ("ArnLike", "aws:PrincipalArn", r#""arn:aws-us-gov:iam::*:role/*""#),
    ("StringLike", "s3:x", r#""*${aws:PrincipalTag/t}""#),
    ("StringEquals", "s3:x", r#""arn:aws:s3:::b/${aws:PrincipalTag/t}""#),
    ("ArnLike", "s3:x", r#""arn:aws:s3:::*/${aws:PrincipalTag/t}""#),
    ("StringNotLike", "s3:x", r#""b*${aws:PrincipalTag/t}""#),
];

fn generic_policy(rng: &mut Rng) -> kmsproof::Policy {
    let statements: Vec<String> = (0..1 + rng.below(3))
        .map(|_| {
            let effect = if rng.chance(20) { "Deny" } else { "Allow" };
            let action = if rng.chance(10) { "NotAction" } else { "Action" };
            let actions: Vec<String> =
                (0..1 + rng.below(2)).map(|_| format!("\"{}\"", rng.pick(G_ACTION_PATTERNS))).collect();
            let mut s = format!(
                r#"{{"Effect": "{effect}", "{action}": [{}], "Resource": "{}""#,
                actions.join(", "),
                rng.pick(G_RESOURCE_PATTERNS)
            );
            if rng.chance(40) {
                let (op, key, value) = rng.pick(G_CONDITIONS);
                s.push_str(&format!(r#", "Condition": {{"{op}": {{"{key}": {value}}}}}"#));
            }
            s + "}"
        })
        .collect();
    let version = if rng.chance(15) { "2008-10-17" } else { "2012-10-17" };
    let text = format!(r#"{{"Version": "{version}", "Statement": [{}]}}"#, statements.join(", "));
    parse_policy(&text, "random.json", PolicyKind::Identity).unwrap_or_else(|e| panic!("{text}\n{e}"))
}

fn generic_request(rng: &mut Rng) -> Request {
    let mut ctx = Vec::new();
    for (key, values) in [
        ("aws:RequestedRegion", &[r#""us-east-1""#, r#""eu-west-1""#][..]),
        ("s3:prefix", &[r#""home/a""#, r#""tmp/""#, r#"["home/a", "tmp/"]"#, r#"["home/b"]"#, "[]"][..]),
        ("s3:flag", &[r#""true""#, r#""maybe""#, r#""FALSE""#][..]),
        ("aws:SecureTransport", &[r#""true""#, r#""false""#][..]),
        ("aws:ResourceAccount", &[r#""111122223333""#, r#""444455556666""#][..]),
        ("aws:PrincipalTag/t", &[r#""a""#, r#""b""#][..]),
        ("s3:x", &[r#""arn:aws:s3:::b/a""#, r#""xa""#, r#""ba""#, r#""arn:aws:s3:::c/b""#][..]),
    ] {
        if rng.chance(50) {
            ctx.push(format!(r#""{key}": {}"#, rng.pick(values)));
        }
    }
    let principals = [&PRINCIPALS[..6], &["arn:aws-us-gov:sts::111122223333:assumed-role/App/s9"]].concat();
    let principal = rng.pick(&principals);
    if principal.ends_with(":root") {
        // The root user has no principal tags (invariant `principal-tags`).
        ctx.retain(|c| !c.starts_with(r#""aws:PrincipalTag/"#));
    }
    let text = format!(
        r#"{{"principal": "{}", "action": "{}", "resource": "{}", "context": {{{}}}}}"#,
        principal,
        rng.pick(G_ACTIONS),
        rng.pick(G_RESOURCES),
        ctx.join(", ")
    );
    Request::parse_generic(&text, "random-request").unwrap_or_else(|e| panic!("{text}\n{e}"))
}

/// The same for identity policies alone over requests of any service, with policy
/// variables (opaque atoms) in the mix.
#[test]
fn identity_diff_verdicts_agree_with_brute_force() {
    identity_diff_rounds(Rng(0xd1ff_0000_0000_0004), Limits::default());
}

/// Again with no full partitions and a tiny limit, so string partitions are the goal-pruned
/// ones a too-large partition falls back to (their `none` must still be a proof).
#[test]
fn goal_pruned_partitions_keep_diff_verdicts_exact() {
    let states = std::env::var("KMSPROOF_PRUNE_STATES").ok().and_then(|r| r.parse().ok()).unwrap_or(150);
    let limits = Limits { partition_states: states, full_partition_states: 0, ..Limits::default() };
    identity_diff_rounds(Rng(0xd1ff_0000_0000_0005), limits);
}

fn identity_diff_rounds(mut rng: Rng, limits: Limits) {
    let opts = DiffOptions { examples: 2, actions: 12, limits };
    let (mut found, mut proved) = (0, 0);
    // KMSPROOF_DIFF_ROUNDS=N runs more rounds (a longer local search for disagreements).
    let rounds = std::env::var("KMSPROOF_DIFF_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(60);
    for round in 0..rounds {
        let old = generic_policy(&mut rng);
        let new = if rng.chance(30) { old.clone() } else { generic_policy(&mut rng) };
        let r = diff(&Side::Policy(old.clone()), &Side::Policy(new.clone()), "", opts)
            .unwrap_or_else(|m| panic!("round {round}: {m}"));
        found += [&r.new_allows, &r.old_allows].iter().filter(|d| matches!(d, Direction::Found(_))).count();
        proved += [&r.new_allows, &r.old_allows].iter().filter(|d| matches!(d, Direction::None)).count();
        let requests: Vec<(bool, bool, String)> = (0..200)
            .map(|_| {
                let req = generic_request(&mut rng);
                let text = req.to_json().to_string();
                (policy_decision(&old, &req).allowed(), policy_decision(&new, &req).allowed(), text)
            })
            .collect();
        brute_force_diff(round, &r, &requests);
    }
    eprintln!("identity diffs: {found} directions with witnesses, {proved} proved empty");
    assert!(found > 10 && proved > 10, "too few decided directions: {found} found, {proved} proved");
}
