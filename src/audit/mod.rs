//! `kmsproof audit`: read many documents, run the built-in checks on each (in parallel,
//! one Z3 context and solver per worker thread, reused), and report findings in a deterministic order.
//!
//! A document with `Principal` in its statements is a key (resource) policy, any other
//! one an identity policy. Key-policy checks ask about the key policy alone, or with
//! "any IAM policy of the caller allows everything" where the question is about what the
//! policy lets other accounts or IAM do; each check's doc comment says which.

pub mod baseline;
pub mod checks;
pub mod discover;
pub mod document;
pub mod err;
pub mod intrinsics;
pub mod suppress;
pub mod whocan;
mod yaml;

use crate::base::json::Pos;
use crate::model::inputs::{key_account, placeholder_key_arn, Inputs, PLACEHOLDER_ACCOUNT};
use crate::model::policy::{parse_policy, Policy, PolicyKind};
use crate::model::property::{properties_from_value, Property};
use crate::prove::check::{check, CheckResult, Example, Verdict};
use crate::prove::Mismatch;
use checks::{CheckInfo, Scope, CHECKS};
use document::{Body, Document};
pub use err::AuditError;
use kmsproof_solver::backend::OUT_OF_BUDGET;
use kmsproof_solver::Limits;
use serde_json::Value;
use std::sync::OnceLock;

/// Finding severities, lowest first (SARIF levels and `security-severity` follow them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

/// Severity names as the command line and the outputs spell them.
pub const SEVERITIES: &[(Severity, &str)] = &[
    (Severity::Info, "info"),
    (Severity::Low, "low"),
    (Severity::Medium, "medium"),
    (Severity::High, "high"),
    (Severity::Critical, "critical"),
];

impl Severity {
    pub fn as_str(self) -> &'static str {
        SEVERITIES.iter().find(|(s, _)| *s == self).map(|(_, n)| *n).unwrap_or("?")
    }

    pub fn parse(text: &str) -> Option<Severity> {
        SEVERITIES.iter().find(|(_, n)| n.eq_ignore_ascii_case(text)).map(|(s, _)| *s)
    }
}

/// One finding: which check, where, what, and the replayed request that shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub check: &'static str,
    pub severity: Severity,
    pub file: String,
    pub location: String,
    pub pos: Pos,
    pub message: String,
    /// A request the evaluator allowed (replayed), in the format `eval --request` reads.
    pub counterexample: Option<Value>,
    /// KMS002: the external accounts reached.
    pub accounts: Vec<String>,
    /// KMS010: the who-can path, hop by hop, each hop with its replayed witness requests
    /// (the `who-can --format json` hop objects), then the last hop.
    pub path: Vec<Value>,
    /// The statements of the document the finding is about (the deciding statements of
    /// its counterexample, or the statement a structural check read), in statement order.
    pub statements: Vec<Involved>,
}

/// A statement a finding involves: its index, its `Sid` (inline suppression markers live
/// there) and its source text (for the HTML report).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Involved {
    pub index: usize,
    pub sid: Option<String>,
    pub source: String,
}

impl Finding {
    /// The finding, about statement `index` of its document (details filled in by
    /// [`audit_document`]).
    pub fn in_statement(mut self, index: usize) -> Finding {
        if !self.statements.iter().any(|s| s.index == index) {
            self.statements.push(Involved { index, ..Involved::default() });
        }
        self
    }
}

/// The audit of one document.
#[derive(Debug, Clone)]
pub struct DocResult {
    pub file: String,
    pub location: String,
    pub pos: Pos,
    /// `key-policy`, `identity-policy`, `unreadable` or `skipped` (valid, but no policy in it).
    pub kind: &'static str,
    /// Ids of the checks that ran (a check that ran without a finding passed).
    pub checks_run: Vec<&'static str>,
    /// Why the solver was not needed, when it was not.
    pub note: Option<String>,
    pub findings: Vec<Finding>,
    /// `--findings`: the key policy's findings (principal class × actions × conditions, see
    /// `kmsproof findings`), when asked and the document is a key policy.
    pub summary: Option<crate::findings::Findings>,
}

/// What to run, validated before any work.
#[derive(Debug, Clone)]
pub struct Settings {
    pub checks: Vec<&'static str>,
    pub properties: Vec<Property>,
    pub limits: Limits,
    /// `--doc-timeout-ms`: the work budget of one document, every check and query on it;
    /// past it, the checks not yet decided are `unknown` (AUD002) with the reason, and the
    /// audit goes on with the next document.
    pub doc_timeout_ms: u32,
    /// `--authorization-details`: account dumps for the who-can check (KMS010).
    pub accounts: Vec<crate::whocan::gaad::Account>,
    /// `--grant`: grants (`aws kms list-grants` output) KMS010's graph reads, each on the
    /// key its `KeyId` names.
    pub grants: Vec<crate::model::grant::Grant>,
    /// `--scp`: service control policies capping the dumps' principals in KMS010's graph.
    pub scps: Vec<Policy>,
    /// Declared sharing (`--trusted-account`, `--trusted-org`): KMS002 does not report it.
    pub trust: Trust,
    /// `--findings`: each key policy's findings too (see [`DocResult::summary`]).
    pub findings: bool,
}

/// The accounts and organizations a team shares its keys with on purpose.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trust {
    /// `--trusted-account`: 12-digit account IDs.
    pub accounts: Vec<String>,
    /// `--trusted-org` / `--org-id`: organization IDs (`o-…`).
    pub orgs: Vec<String>,
}

/// The default `--doc-timeout-ms`: one slow document never stalls a run for longer.
pub const DEFAULT_DOC_TIMEOUT_MS: u32 = 60_000;

/// Every check, the default budgets, nothing else given (no dumps, grants, SCPs or trust).
impl Default for Settings {
    fn default() -> Settings {
        Settings {
            checks: Settings::all_checks(),
            properties: vec![],
            limits: Limits::default(),
            doc_timeout_ms: DEFAULT_DOC_TIMEOUT_MS,
            accounts: vec![],
            grants: vec![],
            scps: vec![],
            trust: Trust::default(),
            findings: false,
        }
    }
}

impl Settings {
    pub fn all_checks() -> Vec<&'static str> {
        CHECKS.iter().filter(|c| c.run.is_some()).map(|c| c.id).collect()
    }
}

/// What a check function sees.
pub struct Ctx<'a> {
    pub doc: &'a Document,
    pub policy: &'a Policy,
    pub text: &'a str,
    pub is_key: bool,
    pub key_arn: String,
    pub account: String,
    pub limits: Limits,
    /// The account dumps (`--authorization-details`), for KMS010.
    pub accounts: &'a [crate::whocan::gaad::Account],
    /// `--grant` and `--scp`, for KMS010.
    pub grants: &'a [crate::model::grant::Grant],
    pub scps: &'a [Policy],
    /// Whether `key_arn` is the key's own (given by the input or `--key-arn`), not a
    /// placeholder in the policy's account.
    pub key_arn_known: bool,
    /// Declared sharing (see [`Trust`]).
    pub trust: &'a Trust,
    exact: bool,
}

fn any_identity_policy() -> &'static Policy {
    static P: OnceLock<Policy> = OnceLock::new();
    P.get_or_init(|| {
        let text =
            r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}"#;
        // Cannot fail: a fixed statement, nothing from the input (a unit test parses it).
        parse_policy(text, "<any IAM policy of the caller>", PolicyKind::Identity).expect("fixed policy parses")
    })
}

fn delegating_key_policy(account: &str) -> Policy {
    let text = format!(
        r#"{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", "Principal": {{"AWS": "arn:aws:iam::{account}:root"}}, "Action": "kms:*", "Resource": "*"}}]}}"#
    );
    // Cannot fail: a fixed statement over the account of an ARN the caller validated.
    parse_policy(&text, "<default key policy of the key>", PolicyKind::KeyPolicy).expect("fixed policy parses")
}

impl<'a> Ctx<'a> {
    pub fn finding(&self, id: &'static str, pos: Pos, message: String) -> Finding {
        Finding {
            check: id,
            severity: checks::info(id).severity,
            file: self.doc.file.clone(),
            location: self.doc.location.clone(),
            pos,
            message,
            counterexample: None,
            accounts: vec![],
            path: vec![],
            statements: vec![],
        }
    }

    /// An undecided check: a finding of its own, at the check's severity (never clean).
    pub fn undecided(&self, id: &'static str, why: &str) -> Finding {
        let mut f = self.finding(
            checks::UNDECIDED,
            self.doc.pos,
            format!("{id} ({}) undecided: {why}", checks::info(id).title),
        );
        f.severity = checks::info(id).severity.max(Severity::Medium);
        f
    }

    /// A position in the policy text as a position in the file (the document's start
    /// when the policy was embedded as a string).
    pub fn pos(&self, p: Pos) -> Pos {
        if self.exact && p.line > 0 {
            p
        } else {
            self.doc.pos
        }
    }

    /// The statements of this document that decided a counterexample.
    pub fn deciding_statements(&self, example: Option<&Example>) -> Vec<usize> {
        let mut v: Vec<usize> = example
            .map(|e| {
                e.decision
                    .statements
                    .iter()
                    .filter(|s| s.decisive && s.policy == self.policy.source)
                    .map(|s| s.index)
                    .collect()
            })
            .unwrap_or_default();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Where the statement of this document that decided a counterexample starts.
    pub fn deciding_pos(&self, example: Option<&Example>) -> Pos {
        let index = example.and_then(|e| {
            e.decision.statements.iter().find(|s| s.decisive && s.policy == self.policy.source).map(|s| s.index)
        });
        let st = index.and_then(|i| self.policy.statements.iter().find(|s| s.index == i));
        self.pos(st.map(|s| s.pos).unwrap_or(self.doc.pos))
    }

    /// Every 12-digit number in the document (accounts it names), plus the key's account.
    pub fn named_accounts(&self) -> Vec<String> {
        let mut out = vec![self.account.clone()];
        for run in self.text.split(|c: char| !c.is_ascii_digit()) {
            if run.len() == 12 && !out.iter().any(|a| a == run) {
                out.push(run.to_string());
            }
        }
        out
    }

    /// The key policy alone: access it grants directly (and the root user's own).
    pub fn key_only_inputs(&self) -> Inputs {
        Inputs {
            key_policy: self.policy.clone(),
            identity: vec![],
            scps: vec![],
            boundary: None,
            grants: vec![],
            management_account: None,
        }
    }

    /// The key policy with the worst case for IAM: every caller's IAM policies allow `kms:*`.
    pub fn worst_case_inputs(&self) -> Inputs {
        Inputs { identity: vec![any_identity_policy().clone()], ..self.key_only_inputs() }
    }

    /// An identity policy with a key whose policy delegates to its account.
    pub fn identity_inputs(&self) -> Inputs {
        Inputs {
            key_policy: delegating_key_policy(&self.account),
            identity: vec![self.policy.clone()],
            scps: vec![],
            boundary: None,
            grants: vec![],
            management_account: None,
        }
    }

    /// Asks one property (a JSON property object, as `check --properties` reads, built
    /// by the check and read as a value, not as text).
    pub fn ask(&self, inputs: &Inputs, prop: Value) -> Result<CheckResult, Mismatch> {
        let props = match properties_from_value(&prop, "<audit check>") {
            Ok(p) => p,
            Err(e) => return Ok(unknown_result(&format!("the check's property does not read: {e}"))),
        };
        Ok(check(inputs, &self.key_arn, &props, 1, self.limits)?
            .into_iter()
            .next()
            .unwrap_or_else(|| unknown_result("no result")))
    }
}

fn unknown_result(why: &str) -> CheckResult {
    CheckResult {
        name: "audit".into(),
        expect: crate::prove::check::Expect::Never,
        verdict: Verdict::Unknown(why.into()),
        examples: vec![],
        free: vec![],
        rests_on: vec![],
    }
}

/// Audits one document. A replay mismatch is a bug in kmsproof and stops the audit.
pub fn audit_document(doc: &Document, settings: &Settings) -> Result<DocResult, Mismatch> {
    // The document's budget covers parsing it too.
    let limits = settings.limits.budget_from_now(settings.doc_timeout_ms);
    let mut result = DocResult {
        file: doc.file.clone(),
        location: doc.location.clone(),
        pos: doc.pos,
        kind: "unreadable",
        checks_run: vec![],
        note: None,
        findings: vec![],
        summary: None,
    };
    let (text, label, exact) = match &doc.body {
        Body::Error(msg) => {
            result.findings.push(unreadable(doc, msg.clone()));
            return Ok(result);
        }
        Body::Skipped(msg) => {
            result.kind = "skipped";
            result.note = Some(msg.clone());
            return Ok(result);
        }
        Body::Free(msg) => {
            result.kind = "free";
            result.findings.push(Finding {
                check: checks::UNDECIDED,
                severity: checks::info(checks::UNDECIDED).severity,
                message: msg.clone(),
                ..unreadable(doc, String::new())
            });
            return Ok(result);
        }
        Body::Policy { text, label, exact } => (text, label, *exact),
    };
    let mut result = audit_policy(doc, settings, limits, result, text, label, exact)?;
    if !doc.assumed.is_empty() {
        let assumed = format!(" (assuming {})", doc.assumed.join("; "));
        result.findings.iter_mut().for_each(|f| f.message.push_str(&assumed));
        let note = format!("assumed: {}", doc.assumed.join("; "));
        result.note = Some(match result.note.take() {
            Some(n) => format!("{n}; {note}"),
            None => note,
        });
    }
    Ok(result)
}

/// [`audit_document`] of a document holding a policy.
fn audit_policy(
    doc: &Document,
    settings: &Settings,
    limits: Limits,
    mut result: DocResult,
    text: &str,
    label: &str,
    exact: bool,
) -> Result<DocResult, Mismatch> {
    let policy = match read_policy(text, label) {
        Ok(p) => p,
        Err(e) => {
            let mut f = unreadable(doc, e.to_string());
            if !exact {
                f.pos = doc.pos; // the message's positions are within the embedded text
            }
            result.findings.push(f);
            return Ok(result);
        }
    };
    let is_key = policy.kind == PolicyKind::KeyPolicy;
    if is_key && !checks::names_kms_resource(&policy) {
        result.kind = "skipped";
        result.note =
            Some(format!("{}: skipped: a resource policy of another service (no Resource can be a KMS key)", doc.file));
        return Ok(result);
    }
    result.kind = policy.kind.label();
    let (key_arn, account) = key_of(doc, &policy);
    let key_arn_known = doc.key.arn.is_some();
    let accounts = &settings.accounts[..];
    let (grants, scps) = (&settings.grants[..], &settings.scps[..]);
    let ctx = Ctx {
        trust: &settings.trust,
        doc,
        policy: &policy,
        text,
        is_key,
        key_arn,
        account,
        limits,
        accounts,
        grants,
        scps,
        key_arn_known,
        exact,
    };
    let solver_needed = checks::allows_kms(&policy);
    if !solver_needed {
        result.note = Some("no statement can allow a KMS action: the solver checks hold without a query".into());
    }
    for id in &settings.checks {
        let info = checks::info(id);
        let applies = match (info.scope, is_key) {
            (Scope::Both, _) | (Scope::KeyPolicy, true) | (Scope::Identity, false) => true,
            (Scope::Account, true) => !settings.accounts.is_empty(),
            _ => false,
        };
        let Some(run) = info.run.filter(|_| applies) else { continue };
        result.checks_run.push(info.id);
        if info.method.starts_with("proved") && !solver_needed {
            continue;
        }
        if ctx.limits.expired() {
            // The document's budget is spent: one finding says which checks did not run.
            let rest: Vec<&str> = settings.checks.iter().skip_while(|c| *c != id).copied().collect();
            let why = format!(
                "{OUT_OF_BUDGET} on this document (--doc-timeout-ms {}): checks {} not run",
                settings.doc_timeout_ms,
                rest.join(", ")
            );
            result.findings.push(ctx.undecided(info.id, &why));
            break;
        }
        let mut found = run(&ctx)?;
        // A check cut short by the budget says so once, not once per query it skipped.
        let mut said = false;
        found.retain(|f| {
            let out_of_budget = f.check == checks::UNDECIDED && f.message.contains(OUT_OF_BUDGET);
            let keep = !(out_of_budget && said);
            said |= out_of_budget;
            keep
        });
        result.findings.extend(found);
    }
    if is_key && !settings.properties.is_empty() {
        result.findings.extend(user_properties(&ctx, &settings.properties)?);
    }
    if is_key && settings.findings {
        result.summary = Some(summary(&ctx)?);
    }
    involve_statements(&mut result.findings, &policy, text, exact);
    result.findings.sort_by(finding_order);
    Ok(result)
}

/// `--findings`: what the key policy alone allows (every caller's identity policies unknown,
/// assumed to allow), as `kmsproof findings` says it, within the document's budget.
fn summary(ctx: &Ctx) -> Result<crate::findings::Findings, Mismatch> {
    let world = crate::model::inputs::IamWorld::Open { described: vec![] };
    let settings = crate::findings::Settings { world, limits: ctx.limits };
    crate::findings::findings(&ctx.key_only_inputs(), &ctx.key_arn, &settings)
}

/// The key a document's policy is audited for, and its account: the key the input names
/// (or `--key-arn`), else a placeholder key in the account the policy names most.
fn key_of(doc: &Document, policy: &Policy) -> (String, String) {
    if let Some(arn) = &doc.key.arn {
        if let Some(account) = crate::base::arn::account_of(arn).filter(|a| !a.is_empty()) {
            return (arn.clone(), account.to_string());
        }
    }
    let account = key_account(policy).unwrap_or_else(|| PLACEHOLDER_ACCOUNT.into());
    (placeholder_key_arn(&account), account)
}

/// Fills in each finding's statements: a finding that names none is about the statement
/// its position falls in (when positions are the file's); then each gets its `Sid` and
/// source text.
fn involve_statements(findings: &mut [Finding], policy: &Policy, text: &str, exact: bool) {
    let sources = statement_sources(text);
    for f in findings.iter_mut() {
        f.statements.sort_by_key(|s| s.index);
        if f.statements.is_empty() && exact {
            let at = (f.pos.line, f.pos.col);
            if let Some(st) = policy.statements.iter().rfind(|s| (s.pos.line, s.pos.col) <= at) {
                f.statements.push(Involved { index: st.index, ..Involved::default() });
            }
        }
        for inv in f.statements.iter_mut() {
            if let Some(st) = policy.statements.iter().find(|s| s.index == inv.index) {
                inv.sid = st.sid.clone();
            }
            inv.source = sources.get(inv.index).cloned().unwrap_or_default();
        }
    }
}

/// The statements of a policy text as pretty JSON, in order (through the `Policy` /
/// `PolicyVersion.Document` wrappers `eval` reads, also when they hold the policy as a
/// string); empty when the text is not JSON.
fn statement_sources(text: &str) -> Vec<String> {
    fn find(v: &Value) -> Option<Vec<Value>> {
        match v.get("Statement") {
            Some(Value::Array(items)) => return Some(items.clone()),
            Some(one @ Value::Object(_)) => return Some(vec![one.clone()]),
            _ => {}
        }
        ["Policy", "PolicyVersion", "Document"].iter().find_map(|k| match v.get(k)? {
            Value::String(s) => find(&serde_json::from_str(s).ok()?),
            inner => find(inner),
        })
    }
    let value: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    find(&value).unwrap_or_default().iter().map(|s| serde_json::to_string_pretty(s).unwrap_or_default()).collect()
}

fn unreadable(doc: &Document, message: String) -> Finding {
    Finding {
        check: checks::UNREADABLE,
        severity: checks::info(checks::UNREADABLE).severity,
        file: doc.file.clone(),
        location: doc.location.clone(),
        pos: first_pos(&message).unwrap_or(doc.pos),
        message,
        counterexample: None,
        accounts: vec![],
        path: vec![],
        statements: vec![],
    }
}

/// The `line:col` of the first diagnostic in an error text (`file:L:C: error: …`).
fn first_pos(message: &str) -> Option<Pos> {
    let head = message.split(": error").next()?;
    let mut parts = head.rsplit(':');
    let col = parts.next()?.trim().parse().ok()?;
    let line = parts.next()?.trim().parse().ok()?;
    Some(Pos { line, col })
}

/// Parses as a key policy when any statement has a principal, else as an identity policy.
fn read_policy(text: &str, label: &str) -> Result<Policy, crate::base::diag::Error> {
    let any = parse_policy(text, label, PolicyKind::Any)?;
    let kind =
        if any.statements.iter().any(|s| s.principal.is_some()) { PolicyKind::KeyPolicy } else { PolicyKind::Identity };
    parse_policy(text, label, kind)
}

/// `--properties`: each user property on the key policy alone, as `check` would ask it.
fn user_properties(ctx: &Ctx, props: &[Property]) -> Result<Vec<Finding>, Mismatch> {
    let results = check(&ctx.key_only_inputs(), &ctx.key_arn, props, 1, ctx.limits)?;
    let mut out = Vec::new();
    for r in results {
        match &r.verdict {
            Verdict::Holds => {}
            Verdict::Unknown(why) => {
                out.push(ctx.finding(checks::UNDECIDED, ctx.doc.pos, format!("property {:?} undecided: {why}", r.name)))
            }
            Verdict::Violated => {
                let e = r.examples.first();
                let mut f = ctx.finding(
                    checks::USER_PROPERTY,
                    ctx.deciding_pos(e),
                    format!("property {:?} (expect {}) is violated", r.name, r.expect.as_str()),
                );
                f.counterexample = e.map(|e| e.request.clone());
                out.push(f);
            }
        }
    }
    Ok(out)
}

/// Findings sort by file, location, position, check, message.
pub fn finding_order(a: &Finding, b: &Finding) -> std::cmp::Ordering {
    (&a.file, &a.location, a.pos.line, a.pos.col, a.check, &a.message).cmp(&(
        &b.file,
        &b.location,
        b.pos.line,
        b.pos.col,
        b.check,
        &b.message,
    ))
}

/// Audits documents on `jobs` threads (each with its own Z3 context); results come back
/// in the documents' order whatever the scheduling. `progress` is called after each one.
pub fn audit_all(
    docs: &[Document],
    settings: &Settings,
    jobs: usize,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Vec<DocResult>, AuditError> {
    use rayon::prelude::*;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .build()
        .map_err(|source| AuditError::Pool { jobs, source })?;
    let done = std::sync::atomic::AtomicUsize::new(0);
    pool.install(|| {
        docs.par_iter()
            .map(|d| {
                let r = audit_document(d, settings);
                progress(done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1);
                r
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(AuditError::Replay)
    })
}

/// Reads every document under `paths` (sorted), numbered in that order.
pub fn discover(paths: &[std::path::PathBuf]) -> Vec<Document> {
    discover_with(paths, &discover::TemplateValues::default())
}

/// [`discover`], resolving templates with the values the command line gives.
pub fn discover_with(paths: &[std::path::PathBuf], values: &discover::TemplateValues) -> Vec<Document> {
    discover::list_files(paths).iter().flat_map(|f| discover::read_file_with(f, values)).collect()
}

/// The checks that apply to documents of `CheckInfo` rows, for output rules.
pub fn rules() -> &'static [CheckInfo] {
    CHECKS
}
