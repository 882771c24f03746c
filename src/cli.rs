//! Command-line flags, turned into a validated configuration before any work starts.

use clap::{Parser, Subcommand, ValueEnum};
use kmsproof::eval::Inputs;
use kmsproof::load::{load_inputs, load_request, read_source, InputPaths};
use kmsproof::query::{default_key_arn, parse_properties, Property, Verdict};
use kmsproof::{authorize, report, Error};
use kmsproof_solver::Limits;
use serde_json::json;
use std::path::PathBuf;

/// Exit codes shared by every subcommand.
pub mod exit {
    /// A decision was made (allow or deny); every property holds.
    pub const DECISION: i32 = 0;
    /// Some property is violated.
    pub const VIOLATED: i32 = 1;
    /// Bad input or bad invocation; the error is on stderr.
    pub const BAD_INPUT: i32 = 2;
    /// Some property could not be decided (and none is violated).
    pub const UNKNOWN: i32 = 3;
    /// kmsproof disagrees with itself (a replay mismatch): a bug, reported loudly.
    pub const INTERNAL: i32 = 4;
}

#[derive(Parser, Debug)]
#[command(name = "kmsproof", version, about = "Proves things about AWS KMS key policies, IAM policies and grants")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Decide one request exactly as AWS KMS would, and explain the decision.
    Eval(EvalArgs),
    /// Prove or refute properties of a key policy (with IAM policies, grants, guardrails).
    Check(CheckArgs),
    /// Compare two policies (or two authorization contexts): equivalent, more or less
    /// permissive, or incomparable, with replayed requests that show each difference.
    Diff(crate::diff_cli::DiffArgs),
    /// Audit many key and IAM policies with the built-in checks (table, JSON, JSON lines, SARIF, HTML).
    Audit(kmsproof::audit::args::AuditArgs),
    /// Explain an audit check: why it matters, a policy that fails it, one that passes, the fix.
    Explain(kmsproof::audit::explain::ExplainArgs),
    /// Who can call a KMS action on a key, and by which path (account dumps, proved hop by hop).
    WhoCan(kmsproof::whocan::cli::WhoCanArgs),
    /// Whether one principal can call a KMS action on a key, with its path.
    Can(kmsproof::whocan::cli::CanArgs),
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Text,
    Json,
}

#[derive(clap::Args, Debug)]
struct EvalArgs {
    #[command(flatten)]
    inputs: InputArgs,
    /// The request (`-` for standard input).
    #[arg(long, value_name = "FILE")]
    request: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(clap::Args, Debug)]
#[command(group = clap::ArgGroup::new("inline").args(["never", "always", "sometimes"]).multiple(false))]
struct CheckArgs {
    #[command(flatten)]
    inputs: InputArgs,
    /// A property file: a list of {"name", "expect", "principal", "action", "resource", "condition"}.
    #[arg(long, value_name = "FILE", required_unless_present_any = ["never", "always", "sometimes"])]
    properties: Option<PathBuf>,
    /// Inline property: these actions (comma-separated) are never allowed ...
    #[arg(long, value_name = "ACTIONS", conflicts_with_all = ["properties", "always", "sometimes"])]
    never: Option<String>,
    /// ... are always allowed ...
    #[arg(long, value_name = "ACTIONS", conflicts_with_all = ["properties", "sometimes"])]
    always: Option<String>,
    /// ... are allowed for some request.
    #[arg(long, value_name = "ACTIONS", conflicts_with = "properties")]
    sometimes: Option<String>,
    /// Inline property: the caller (`*`, an account ID, an IAM/STS ARN, an ARN pattern such as
    /// `arn:aws:iam::111122223333:role/*`, or a service principal).
    #[arg(long, value_name = "PRINCIPAL", requires = "inline")]
    principal: Option<String>,
    /// Inline property: a condition `OPERATOR KEY VALUE...` (repeatable; all must hold).
    #[arg(long = "where", value_name = "CONDITION", requires = "inline")]
    conditions: Vec<String>,
    /// The key under analysis (default: the account the key policy trusts, placeholder ID).
    #[arg(long, value_name = "ARN")]
    key_arn: Option<String>,
    /// How many distinct counterexamples to show per property.
    #[arg(long, default_value_t = 1, value_name = "N")]
    examples: usize,
    /// Solver time limit per property, in milliseconds.
    #[arg(long, default_value_t = 10_000, value_name = "MS")]
    timeout_ms: u32,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// The files that make up one authorization context.
#[derive(clap::Args, Debug)]
struct InputArgs {
    /// The key policy (a policy document, or `aws kms get-key-policy` output).
    #[arg(long, value_name = "FILE")]
    key_policy: Option<PathBuf>,
    /// An IAM policy of the caller (repeatable; `aws iam get-policy-version` output works).
    #[arg(long = "identity-policy", value_name = "FILE")]
    identity_policies: Vec<PathBuf>,
    /// Grants on the key (`aws kms list-grants` output or one grant; repeatable).
    #[arg(long = "grant", value_name = "FILE")]
    grants: Vec<PathBuf>,
    /// A service control policy, one file per organization level (repeatable).
    #[arg(long = "scp", value_name = "FILE")]
    scps: Vec<PathBuf>,
    /// The caller's permissions boundary.
    #[arg(long, value_name = "FILE")]
    boundary: Option<PathBuf>,
    /// The organization's management account: SCPs do not limit its principals.
    #[arg(long, value_name = "ACCOUNT")]
    management_account: Option<String>,
}

/// Parses the command line and runs it; returns the exit code.
pub fn run() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { exit::BAD_INPUT } else { exit::DECISION };
            let _ = e.print();
            return code;
        }
    };
    match cli.command {
        Command::Eval(args) => eval(&args),
        Command::Check(args) => check(&args),
        Command::Diff(args) => crate::diff_cli::diff(&args),
        Command::Audit(args) => kmsproof::audit::args::run(&args),
        Command::Explain(args) => kmsproof::audit::explain::run(&args),
        Command::WhoCan(args) => kmsproof::whocan::cli::who_can(&args),
        Command::Can(args) => kmsproof::whocan::cli::can(&args),
    }
}

impl InputArgs {
    fn paths(&self) -> InputPaths<'_> {
        InputPaths {
            key_policy: self.key_policy.as_deref(),
            identity: self.identity_policies.iter().map(PathBuf::as_path).collect(),
            scps: self.scps.iter().map(PathBuf::as_path).collect(),
            boundary: self.boundary.as_deref(),
            grants: self.grants.iter().map(PathBuf::as_path).collect(),
        }
    }

    fn files(&self) -> impl Iterator<Item = &PathBuf> {
        self.key_policy
            .iter()
            .chain(&self.boundary)
            .chain(&self.identity_policies)
            .chain(&self.grants)
            .chain(&self.scps)
    }

    /// Loads every file and prints the warnings; `Err` is the exit code.
    fn load(&self, others: &[&PathBuf]) -> Result<Inputs, i32> {
        if self.files().chain(others.iter().copied()).filter(|p| p.as_os_str() == "-").count() > 1 {
            eprintln!("error: only one input can be read from standard input (`-`)");
            return Err(exit::BAD_INPUT);
        }
        let mut inputs = load_inputs(&self.paths()).map_err(|e| bad_input(&e))?;
        if let Some(m) = &self.management_account {
            let m = kmsproof::binding::management_account(m).map_err(|why| {
                eprintln!("error: {why}");
                exit::BAD_INPUT
            })?;
            inputs.management_account = Some(m);
        }
        for w in warnings(&inputs) {
            eprintln!("{}", w.render());
        }
        Ok(inputs)
    }
}

pub(crate) fn warnings(inputs: &Inputs) -> Vec<kmsproof::Diagnostic> {
    inputs.policies().flat_map(|p| p.warnings.clone()).collect()
}

fn eval(args: &EvalArgs) -> i32 {
    let inputs = match args.inputs.load(&[&args.request]) {
        Ok(i) => i,
        Err(code) => return code,
    };
    let request = match load_request(&args.request) {
        Ok(r) => r,
        Err(e) => return bad_input(&e),
    };
    let decision = authorize(&inputs, &request);
    match args.format {
        Format::Text => print!("{}", report::decision_text(&decision, &request)),
        Format::Json => println!("{}", pretty(&report::decision_json(&decision, &request, &warnings(&inputs)))),
    }
    exit::DECISION
}

pub(crate) fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// `check`, after its flags are turned into a validated configuration.
struct CheckConfig {
    inputs: Inputs,
    properties: Vec<Property>,
    key_arn: String,
    examples: usize,
    limits: Limits,
    format: Format,
}

impl CheckArgs {
    fn config(&self) -> Result<CheckConfig, i32> {
        let others: Vec<&PathBuf> = self.properties.iter().collect();
        let inputs = self.inputs.load(&others)?;
        let properties = match &self.properties {
            Some(path) => read_source(path).and_then(|(text, label)| parse_properties(&text, &label)),
            None => self.inline_property().and_then(|text| parse_properties(&text, "<command line>")),
        }
        .map_err(|e| bad_input(&e))?;
        let key_arn = match self.key_arn.clone().or_else(|| default_key_arn(&inputs)) {
            Some(k) => k,
            None => {
                eprintln!("error: cannot tell which key the key policy belongs to (no account principal): give --key-arn arn:aws:kms:REGION:ACCOUNT:key/ID");
                return Err(exit::BAD_INPUT);
            }
        };
        if !kmsproof::pattern::split_arn(&key_arn)
            .is_some_and(|p| p[2] == "kms" && p[4].len() == 12 && p[5].starts_with("key/"))
        {
            eprintln!("error: --key-arn {key_arn:?} is not a KMS key ARN (expected arn:aws:kms:REGION:ACCOUNT:key/ID)");
            return Err(exit::BAD_INPUT);
        }
        if self.examples == 0 {
            eprintln!("error: --examples must be at least 1");
            return Err(exit::BAD_INPUT);
        }
        let limits = Limits { timeout_ms: self.timeout_ms, ..Limits::default() };
        Ok(CheckConfig { inputs, properties, key_arn, examples: self.examples, limits, format: self.format })
    }

    /// The inline form as a property document, e.g. `--never kms:Decrypt --where
    /// 'StringNotLike kms:ViaService ec2.*.amazonaws.com'`.
    fn inline_property(&self) -> Result<String, Error> {
        let (expect, actions) = match (&self.never, &self.always, &self.sometimes) {
            (Some(a), _, _) => ("never", a),
            (_, Some(a), _) => ("always", a),
            (_, _, Some(a)) => ("sometimes", a),
            _ => unreachable!("clap requires --properties or one inline expectation"),
        };
        let actions: Vec<&str> = actions.split(',').map(str::trim).filter(|a| !a.is_empty()).collect();
        let mut condition = serde_json::Map::new();
        for w in &self.conditions {
            let words: Vec<&str> = w.split_whitespace().collect();
            let [op, key, values @ ..] = words.as_slice() else {
                return Err(cli_error(format!("--where {w:?}: expected OPERATOR KEY VALUE..., e.g. 'StringNotLike kms:ViaService ec2.*.amazonaws.com'")));
            };
            if values.is_empty() {
                return Err(cli_error(format!("--where {w:?}: give at least one value")));
            }
            let block = condition.entry(op.to_string()).or_insert_with(|| json!({}));
            if block.get(*key).is_some() {
                return Err(cli_error(format!(
                    "--where {w:?}: {key} is already constrained under {op}; list every value in one --where"
                )));
            }
            block[*key] = json!(values);
        }
        // Read as a property's `principal`: an account ID, an ARN, an ARN pattern, a service.
        let principal = json!(self.principal.as_deref().unwrap_or("*"));
        let name = format!("{} {} {}", actions.join(","), expect, self.conditions.join(" and "));
        Ok(json!({"name": name.trim(), "expect": expect, "principal": principal, "action": actions, "condition": condition}).to_string())
    }
}

pub(crate) fn cli_error(message: String) -> Error {
    Error::Invalid(vec![kmsproof::Diagnostic {
        severity: kmsproof::Severity::Error,
        source: "".into(),
        pos: Default::default(),
        path: String::new(),
        message,
        document: None,
    }])
}

fn check(args: &CheckArgs) -> i32 {
    let cfg = match args.config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let results = match kmsproof::query::check(&cfg.inputs, &cfg.key_arn, &cfg.properties, cfg.examples, cfg.limits) {
        Ok(r) => r,
        Err(mismatch) => {
            eprintln!("{mismatch}");
            eprintln!("This is a bug in kmsproof; please report it with the inputs above.");
            return exit::INTERNAL;
        }
    };
    let scope = kmsproof::binding::scope(&cfg.inputs);
    match cfg.format {
        Format::Text => {
            for line in &scope {
                println!("scope: {line}");
            }
            print!("{}", report::check_text(&results));
        }
        Format::Json => {
            let mut out = report::check_json(&results, &cfg.key_arn);
            out["scope"] = serde_json::json!(scope);
            println!("{}", pretty(&out));
        }
    }
    let violated = results.iter().any(|r| matches!(r.verdict, Verdict::Violated));
    let unknown = results.iter().any(|r| matches!(r.verdict, Verdict::Unknown(_)));
    if violated {
        exit::VIOLATED
    } else if unknown {
        exit::UNKNOWN
    } else {
        exit::DECISION
    }
}

pub(crate) fn bad_input(e: &Error) -> i32 {
    match e {
        Error::Invalid(diags) => {
            for d in diags {
                eprintln!("{}", d.render());
            }
        }
        Error::Io { .. } => eprintln!("error: {e}"),
    }
    exit::BAD_INPUT
}
