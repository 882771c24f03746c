//! `kmsproof audit` flags, turned into a validated configuration before any work, and the
//! command itself (the binary's `cli.rs` only forwards to [`run`]).

use super::{exit, internal_error, out};
use crate::audit::baseline::{fingerprint, read_baseline};
use crate::audit::err::{BaselineError, IgnoreFileError};
use crate::audit::suppress::{parse_ignore_file, suppression, IgnoreRule, DEFAULT_IGNORE_FILE};
use crate::audit::{audit_all, finding_order, AuditError, DocResult, Finding, Settings, Severity};
use crate::model::load::load_policy;
use crate::model::policy::{Policy, PolicyKind};
use crate::model::property::{parse_properties, Property};
use kmsproof_solver::Limits;
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditFormat {
    Table,
    Json,
    Jsonl,
    Sarif,
    /// One static, self-contained HTML page.
    Html,
}

#[derive(clap::Args, Debug)]
pub struct AuditArgs {
    /// Files or directories (searched recursively for .json/.yaml/.yml/.template); `-` is standard input.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = AuditFormat::Table)]
    pub format: AuditFormat,
    /// Show only findings at or above this severity (info, low, medium, high, critical).
    #[arg(long, default_value = "info", value_name = "SEVERITY")]
    pub min_severity: String,
    /// Exit 1 when a finding is at or above this severity.
    #[arg(long, default_value = "high", value_name = "SEVERITY")]
    pub fail_on: String,
    /// Run only these checks (comma-separated ids, e.g. KMS001,KMS002).
    #[arg(long, value_name = "IDS")]
    pub checks: Option<String>,
    /// Worker threads, each with its own Z3 context (default: all cores).
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Audit only documents whose index in the sorted document list is I modulo N (I zero-based).
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Extra properties (the `check --properties` format) asked of every key policy.
    #[arg(long, value_name = "FILE")]
    pub properties: Option<PathBuf>,
    /// Solver time limit per query, in milliseconds.
    #[arg(long, default_value_t = 10_000, value_name = "MS")]
    pub timeout_ms: u32,
    /// Work budget of one document, in milliseconds: every check and query on it, solver
    /// or not. Past it, the undecided checks are unknown (AUD002) and the audit goes on.
    #[arg(long, default_value_t = crate::audit::DEFAULT_DOC_TIMEOUT_MS, value_name = "MS")]
    pub doc_timeout_ms: u32,
    /// Key spec of the keys whose policies are audited, when the input does not say
    /// (CloudFormation `KeySpec`, terraform `customer_master_key_spec`): decides which grant
    /// operations KMS004 counts.
    #[arg(long, default_value = crate::facts::kms_rules::DEFAULT_KEY_SPEC, value_name = "SPEC")]
    pub key_spec: String,
    /// Report only findings not in this earlier `audit --format json` (or jsonl, sarif) output.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// `aws iam get-account-authorization-details` output (repeatable, one per account): key
    /// policies are then also asked who in these accounts can decrypt only through a role
    /// chain or an escalation (check KMS010, which runs only with them).
    #[arg(long = "authorization-details", value_name = "FILE")]
    pub authorization_details: Vec<PathBuf>,
    /// The key of the key policies whose input does not name one (a `"KeyArn"` beside
    /// `"Policy"`, terraform state's `arn`); without it such a key is a placeholder in the
    /// account the policy names most. KMS010 reads grants and key-ARN conditions with it.
    #[arg(long, value_name = "ARN")]
    pub key_arn: Option<String>,
    /// Grants (`aws kms list-grants` output; repeatable) that KMS010's who-can graph reads,
    /// each on the key its `KeyId` names. Needs --authorization-details.
    #[arg(long = "grant", value_name = "FILE")]
    pub grants: Vec<PathBuf>,
    /// A service control policy, one file per organization level (repeatable), capping the
    /// dumps' principals in KMS010's who-can graph. Needs --authorization-details.
    #[arg(long = "scp", value_name = "FILE")]
    pub scps: Vec<PathBuf>,
    /// Suppression rules (`CHECK PATH-GLOB [sid=SID] -- REASON` a line); default
    /// `.kmsproof-ignore` in the working directory when it exists.
    #[arg(long, value_name = "FILE")]
    pub ignore_file: Option<PathBuf>,
    /// A CloudFormation parameter or pseudo parameter (`Env=prod`, `AWS::Region=eu-west-1`,
    /// `AWS::AccountId=111122223333`; repeatable). Parameters not given take their
    /// `Default`; those without one are free values (a proof holds for every value).
    #[arg(long = "parameter", value_name = "NAME=VALUE")]
    pub parameters: Vec<String>,
    /// CloudFormation parameters as a file: `{"Name": "Value"}`, or the CLI's
    /// `[{"ParameterKey": …, "ParameterValue": …}]` list.
    #[arg(long = "parameters-file", value_name = "FILE")]
    pub parameters_file: Option<PathBuf>,
    /// An account the keys are shared with on purpose (repeatable): KMS002 does not report
    /// cryptographic use by it.
    #[arg(long = "trusted-account", value_name = "ACCOUNT")]
    pub trusted_accounts: Vec<String>,
    /// Your AWS Organization (`o-…`; repeatable): KMS002 does not report use by its members.
    #[arg(long = "trusted-org", visible_alias = "org-id", value_name = "ORG_ID")]
    pub trusted_orgs: Vec<String>,
    /// Also list each key policy's findings (as `kmsproof findings` on the key policy alone:
    /// principal class × actions × conditions, proved complete); text and json.
    #[arg(long)]
    pub findings: bool,
}

/// The validated configuration.
pub struct AuditConfig {
    pub paths: Vec<PathBuf>,
    pub format: AuditFormat,
    pub min_severity: Severity,
    pub fail_on: Severity,
    pub settings: Settings,
    pub jobs: usize,
    pub shard: (usize, usize),
    /// `--key-spec`, spelled as the key spec table spells it.
    pub key_spec: &'static str,
    /// `--key-arn`: the key of documents whose input names none.
    pub key_arn: Option<String>,
    /// `--parameter`, `--parameters-file` and `--key-arn`: what resolves a template's values.
    pub template: crate::audit::discover::TemplateValues,
    /// Fingerprints of `--baseline`'s findings.
    pub baseline: std::collections::BTreeSet<String>,
    pub ignore: Vec<IgnoreRule>,
}

/// A flag that does not make a valid configuration, or a file it names that does not
/// read; each carries the flag's value or the file's error.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{flag} {value:?}: expected one of {}", crate::report::audit::severity_names())]
    Severity { flag: &'static str, value: String },
    #[error("--checks: unknown check {id:?} (expected some of {})", Settings::all_checks().join(", "))]
    UnknownCheck { id: String },
    #[error("--checks: give at least one check id")]
    NoChecks,
    #[error("--checks {check}: the check needs account dumps (--authorization-details FILE)")]
    NeedsAccountDumps { check: &'static str },
    #[error(
        "{flag}: grants and SCPs are read by KMS010 only, which needs account dumps (--authorization-details FILE)"
    )]
    GraphInputWithoutDumps { flag: &'static str },
    #[error("--trusted-account / --trusted-org {value:?}: {why}")]
    Trust { value: String, why: &'static str },
    #[error("--parameter / --parameters-file {value:?}: {why}")]
    Parameter { value: String, why: String },
    #[error("--key-arn {value:?} is not a KMS key ARN (expected arn:aws:kms:REGION:ACCOUNT:key/ID)")]
    KeyArn { value: String },
    #[error("--jobs must be at least 1")]
    NoJobs,
    #[error("--findings is written with --format table or json")]
    FindingsFormat,
    #[error("--shard {0:?}: expected I/N with 0 <= I < N, e.g. 0/4")]
    Shard(String),
    #[error("only one input can be read from standard input (`-`)")]
    StdinTwice,
    #[error("--timeout-ms and --doc-timeout-ms must be at least 1")]
    NoTimeout,
    #[error("--key-spec {value:?}: expected one of {}", crate::facts::kms_rules::key_specs().join(", "))]
    KeySpec { value: String },
    /// A file named by a flag (`--properties`, `--baseline`, `--ignore-file`,
    /// `--authorization-details`) that cannot be read or does not parse.
    #[error("{0}")]
    File(#[from] crate::base::diag::Error),
    #[error("{0}")]
    Baseline(#[from] BaselineError),
    #[error("{0}")]
    IgnoreFile(#[from] IgnoreFileError),
}

impl AuditArgs {
    pub fn config(&self) -> Result<AuditConfig, ConfigError> {
        let severity = |flag: &'static str, v: &str| {
            Severity::parse(v).ok_or_else(|| ConfigError::Severity { flag, value: v.to_string() })
        };
        if self.findings && !matches!(self.format, AuditFormat::Table | AuditFormat::Json) {
            return Err(ConfigError::FindingsFormat);
        }
        let checks = match &self.checks {
            None => Settings::all_checks(),
            Some(list) => parse_checks(list)?,
        };
        let jobs = match self.jobs {
            Some(0) => return Err(ConfigError::NoJobs),
            Some(n) => n,
            None => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        };
        let shard = match &self.shard {
            None => (0, 1),
            Some(s) => parse_shard(s)?,
        };
        if self.paths.iter().filter(|p| p.as_os_str() == "-").count() > 1 {
            return Err(ConfigError::StdinTwice);
        }
        let properties = match &self.properties {
            None => vec![],
            Some(p) => read_properties(p)?,
        };
        if self.timeout_ms == 0 || self.doc_timeout_ms == 0 {
            return Err(ConfigError::NoTimeout);
        }
        let specs = crate::facts::kms_rules::key_specs();
        let key_spec = specs
            .iter()
            .find(|s| s.eq_ignore_ascii_case(&self.key_spec))
            .copied()
            .ok_or_else(|| ConfigError::KeySpec { value: self.key_spec.clone() })?;
        let baseline = match &self.baseline {
            None => Default::default(),
            Some(p) => {
                let (text, label) = crate::model::load::read_source(p)?;
                read_baseline(&text, &label)?
            }
        };
        let ignore = match &self.ignore_file {
            Some(p) => read_ignore_file(p)?,
            None if std::path::Path::new(DEFAULT_IGNORE_FILE).is_file() => {
                read_ignore_file(std::path::Path::new(DEFAULT_IGNORE_FILE))?
            }
            None => vec![],
        };
        let mut accounts = Vec::new();
        for p in &self.authorization_details {
            let (text, label) = crate::model::load::read_source(p)?;
            accounts.push(crate::whocan::gaad::parse_account(&text, &label)?);
        }
        let (grants, scps) = self.graph_inputs(accounts.is_empty())?;
        if let Some(a) = self.key_arn.as_deref().filter(|a| !crate::base::arn::is_key_arn(a)) {
            return Err(ConfigError::KeyArn { value: a.to_string() });
        }
        let mut needs_dumps =
            crate::audit::checks::CHECKS.iter().filter(|c| c.scope == crate::audit::checks::Scope::Account);
        if let Some(c) = needs_dumps.find(|c| self.checks.is_some() && checks.contains(&c.id)) {
            if accounts.is_empty() {
                return Err(ConfigError::NeedsAccountDumps { check: c.id });
            }
        }
        Ok(AuditConfig {
            paths: self.paths.clone(),
            format: self.format,
            min_severity: severity("--min-severity", &self.min_severity)?,
            fail_on: severity("--fail-on", &self.fail_on)?,
            settings: Settings {
                checks,
                properties,
                limits: Limits { timeout_ms: self.timeout_ms, ..Limits::default() },
                doc_timeout_ms: self.doc_timeout_ms,
                accounts,
                grants,
                scps,
                trust: self.trust()?,
                findings: self.findings,
            },
            jobs,
            shard,
            key_spec,
            key_arn: self.key_arn.clone(),
            template: crate::audit::discover::TemplateValues {
                parameters: self.template_parameters()?,
                key_arn: self.key_arn.clone(),
            },
            baseline,
            ignore,
        })
    }
}

impl AuditArgs {
    /// `--trusted-account` and `--trusted-org`, checked.
    fn trust(&self) -> Result<crate::audit::Trust, ConfigError> {
        if let Some(a) = self.trusted_accounts.iter().find(|a| !crate::base::arn::is_account_id(a)) {
            return Err(ConfigError::Trust { value: a.clone(), why: "expected a 12-digit account ID" });
        }
        let org = |o: &String| o.starts_with("o-") && o.len() > 2 && o[2..].chars().all(|c| c.is_ascii_alphanumeric());
        if let Some(o) = self.trusted_orgs.iter().find(|o| !org(o)) {
            return Err(ConfigError::Trust {
                value: o.clone(),
                why: "expected an organization ID such as o-a1b2c3d4e5",
            });
        }
        Ok(crate::audit::Trust { accounts: self.trusted_accounts.clone(), orgs: self.trusted_orgs.clone() })
    }

    /// `--parameters-file`, then `--parameter` (which wins).
    fn template_parameters(&self) -> Result<std::collections::BTreeMap<String, String>, ConfigError> {
        let mut out = std::collections::BTreeMap::new();
        if let Some(p) = &self.parameters_file {
            let (text, label) = crate::model::load::read_source(p)?;
            out = parameters_file(&text).map_err(|why| ConfigError::Parameter { value: label, why })?;
        }
        for kv in &self.parameters {
            let Some((k, v)) = kv.split_once('=').filter(|(k, _)| !k.trim().is_empty()) else {
                return Err(ConfigError::Parameter { value: kv.clone(), why: "expected NAME=VALUE".into() });
            };
            out.insert(k.trim().to_string(), v.to_string());
        }
        Ok(out)
    }

    /// `--grant` and `--scp`, read; an error when given without account dumps (nothing
    /// would read them, and a silently ignored grant is a path not looked at).
    fn graph_inputs(&self, no_dumps: bool) -> Result<(Vec<crate::model::grant::Grant>, Vec<Policy>), ConfigError> {
        if no_dumps {
            if !self.grants.is_empty() {
                return Err(ConfigError::GraphInputWithoutDumps { flag: "--grant" });
            }
            if !self.scps.is_empty() {
                return Err(ConfigError::GraphInputWithoutDumps { flag: "--scp" });
            }
        }
        let mut grants = Vec::new();
        for p in &self.grants {
            grants.extend(crate::model::load::load_grants(p)?);
        }
        let scps = self.scps.iter().map(|p| load_policy(p, PolicyKind::Scp)).collect::<Result<Vec<_>, _>>()?;
        Ok((grants, scps))
    }
}

fn parse_checks(list: &str) -> Result<Vec<&'static str>, ConfigError> {
    let known = Settings::all_checks();
    let mut out = Vec::new();
    for id in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match known.iter().find(|k| k.eq_ignore_ascii_case(id)) {
            Some(k) if !out.contains(k) => out.push(*k),
            Some(_) => {}
            None => return Err(ConfigError::UnknownCheck { id: id.to_string() }),
        }
    }
    if out.is_empty() {
        return Err(ConfigError::NoChecks);
    }
    Ok(out)
}

/// `I/N` with `0 <= I < N`.
/// Why a run would audit nothing (no file found, or only files holding no policy), so it
/// is bad input (exit 2), never a silent pass.
fn nothing_to_audit(paths: &[PathBuf], docs: &[crate::audit::document::Document]) -> Option<String> {
    let named: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    if docs.is_empty() {
        return Some(format!(
            "nothing to audit in {}: no .json, .yaml, .yml or .template file (name a file to read it whatever its extension)",
            named.join(", ")
        ));
    }
    if docs.iter().all(|d| matches!(d.body, crate::audit::document::Body::Skipped(_))) {
        let why: Vec<String> = docs
            .iter()
            .filter_map(|d| match &d.body {
                crate::audit::document::Body::Skipped(m) => Some(format!("  {m}")),
                _ => None,
            })
            .collect();
        return Some(format!("nothing audited in {}: no file holds a policy\n{}", named.join(", "), why.join("\n")));
    }
    None
}

/// A parameters file: an object of names to values, or the CLI's list of
/// `{"ParameterKey", "ParameterValue"}` objects.
fn parameters_file(text: &str) -> Result<std::collections::BTreeMap<String, String>, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let scalar = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    match &v {
        serde_json::Value::Object(m) => m
            .iter()
            .map(|(k, v)| scalar(v).map(|s| (k.clone(), s)).ok_or(format!("parameter {k}: expected a string")))
            .collect(),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, it)| {
                let k = it.get("ParameterKey").and_then(scalar);
                let v = it.get("ParameterValue").and_then(scalar);
                k.zip(v).ok_or(format!("[{i}]: expected ParameterKey and ParameterValue strings"))
            })
            .collect(),
        _ => Err("expected an object of names to values or a list of ParameterKey/ParameterValue".into()),
    }
}

pub fn parse_shard(s: &str) -> Result<(usize, usize), ConfigError> {
    let bad = || ConfigError::Shard(s.to_string());
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n): (usize, usize) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

fn read_ignore_file(path: &std::path::Path) -> Result<Vec<IgnoreRule>, ConfigError> {
    let (text, label) = crate::model::load::read_source(path)?;
    Ok(parse_ignore_file(&text, &label)?)
}

fn read_properties(path: &std::path::Path) -> Result<Vec<Property>, ConfigError> {
    let (text, label) = crate::model::load::read_source(path)?;
    Ok(parse_properties(&text, &label)?)
}

/// Runs `kmsproof audit`; returns the exit code.
pub fn run(args: &AuditArgs) -> i32 {
    let cfg = match args.config() {
        Ok(c) => c,
        Err(msg) => {
            say!("error: {msg}");
            return exit::BAD_INPUT;
        }
    };
    if let Some(p) = cfg.paths.iter().find(|p| p.as_os_str() != "-" && !p.exists()) {
        say!("error: {}: no such file or directory", p.display());
        return exit::BAD_INPUT;
    }
    let all = crate::audit::discover_with(&cfg.paths, &cfg.template);
    if let Some(why) = nothing_to_audit(&cfg.paths, &all) {
        say!("error: {why}");
        return exit::BAD_INPUT;
    }
    let docs: Vec<_> = all
        .into_iter()
        .enumerate()
        .filter(|(i, _)| i % cfg.shard.1 == cfg.shard.0)
        .map(|(_, mut d)| {
            d.key.spec.get_or_insert_with(|| cfg.key_spec.to_string());
            if d.key.arn.is_none() {
                d.key.arn.clone_from(&cfg.key_arn);
            }
            d
        })
        .collect();
    let total = docs.len();
    let tty = std::io::stderr().is_terminal();
    let progress = move |n: usize| {
        if tty {
            eprint!("\raudit: {n}/{total} documents");
        }
    };
    let results = match audit_all(&docs, &cfg.settings, cfg.jobs, &progress) {
        Ok(r) => r,
        Err(AuditError::Replay(m)) => {
            say!();
            return internal_error(&m);
        }
        Err(e) => {
            say!("error: {e}");
            return exit::INTERNAL;
        }
    };
    if tty {
        say!();
    }
    let report = review(&results, &cfg);
    if !cfg.baseline.is_empty() && report.baselined == 0 {
        say!(
            "warning: the baseline's {} findings match no finding of this run (a baseline of other files, or written by a kmsproof whose fingerprints differ)",
            cfg.baseline.len()
        );
    }
    out(&render(&report, cfg.format, cfg.settings.findings));
    let failing = report.shown.iter().any(|f| f.severity >= cfg.fail_on);
    if failing {
        exit::FAILED
    } else {
        exit::OK
    }
}

/// Every finding at or above `min`, in file/location order.
pub fn shown(results: &[DocResult], min: Severity) -> Vec<&Finding> {
    let mut v: Vec<&Finding> = results.iter().flat_map(|d| &d.findings).filter(|f| f.severity >= min).collect();
    v.sort_by(|a, b| finding_order(a, b));
    v
}

/// The findings at or above `--min-severity`, split into shown, suppressed (with why) and
/// held back by the baseline (counted).
pub fn review<'a>(results: &'a [DocResult], cfg: &AuditConfig) -> crate::report::audit::Report<'a> {
    let mut report = crate::report::audit::Report { docs: results, shown: vec![], suppressed: vec![], baselined: 0 };
    for f in shown(results, cfg.min_severity) {
        if cfg.baseline.contains(&fingerprint(f)) {
            report.baselined += 1;
        } else if let Some(why) = suppression(f, &cfg.ignore) {
            report.suppressed.push(crate::report::audit::Suppressed { finding: f, why });
        } else {
            report.shown.push(f);
        }
    }
    report
}

/// The report in `format`; with `--findings`, each key policy's findings after the table,
/// or as `key_findings` in the JSON object (without it, the output is as it always was).
fn render(report: &crate::report::audit::Report, format: AuditFormat, findings: bool) -> String {
    use crate::report::findings::{audit_summary_json, audit_summary_text};
    let pretty = |v: serde_json::Value| format!("{}\n", serde_json::to_string_pretty(&v).unwrap_or_default());
    match format {
        AuditFormat::Table if findings => crate::report::audit::table_report(report) + &audit_summary_text(report.docs),
        AuditFormat::Table => crate::report::audit::table_report(report),
        AuditFormat::Json if findings => {
            let mut v = crate::report::audit::json_report(report);
            v["key_findings"] = audit_summary_json(report.docs);
            pretty(v)
        }
        AuditFormat::Json => pretty(crate::report::audit::json_report(report)),
        AuditFormat::Jsonl => crate::report::audit::jsonl_report(report),
        AuditFormat::Sarif => pretty(crate::report::audit::sarif_report(report)),
        AuditFormat::Html => crate::report::html::html_report(report),
    }
}
