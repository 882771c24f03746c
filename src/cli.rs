//! Command-line flags, turned into a validated configuration before any work starts.

use clap::{Parser, Subcommand, ValueEnum};
use kmsproof::load::{load_inputs, load_request, InputPaths};
use kmsproof::{authorize, report, Error};
use std::path::PathBuf;

/// Exit codes shared by every subcommand.
pub mod exit {
    /// A decision was made (allow or deny).
    pub const DECISION: i32 = 0;
    /// Bad input or bad invocation; the error is on stderr.
    pub const BAD_INPUT: i32 = 2;
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
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Text,
    Json,
}

#[derive(clap::Args, Debug)]
struct EvalArgs {
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
    /// The request (`-` for standard input).
    #[arg(long, value_name = "FILE")]
    request: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
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
    }
}

fn eval(args: &EvalArgs) -> i32 {
    let stdin_uses = [Some(&args.request), args.key_policy.as_ref(), args.boundary.as_ref()]
        .into_iter()
        .flatten()
        .chain(&args.identity_policies)
        .chain(&args.grants)
        .chain(&args.scps)
        .filter(|p| p.as_os_str() == "-")
        .count();
    if stdin_uses > 1 {
        eprintln!("error: only one input can be read from standard input (`-`)");
        return exit::BAD_INPUT;
    }
    let paths = InputPaths {
        key_policy: args.key_policy.as_deref(),
        identity: args.identity_policies.iter().map(PathBuf::as_path).collect(),
        scps: args.scps.iter().map(PathBuf::as_path).collect(),
        boundary: args.boundary.as_deref(),
        grants: args.grants.iter().map(PathBuf::as_path).collect(),
    };
    let loaded = load_inputs(&paths).and_then(|inputs| Ok((inputs, load_request(&args.request)?)));
    let (inputs, request) = match loaded {
        Ok(x) => x,
        Err(e) => return bad_input(&e),
    };
    let warnings: Vec<_> = std::iter::once(&inputs.key_policy)
        .chain(&inputs.identity)
        .chain(&inputs.scps)
        .chain(&inputs.boundary)
        .flat_map(|p| p.warnings.clone())
        .collect();
    for w in &warnings {
        eprintln!("{w}");
    }
    let decision = authorize(&inputs, &request);
    match args.format {
        Format::Text => print!("{}", report::decision_text(&decision, &request)),
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report::decision_json(&decision, &request, &warnings)).unwrap_or_default()
        ),
    }
    exit::DECISION
}

fn bad_input(e: &Error) -> i32 {
    match e {
        Error::Invalid(diags) => {
            for d in diags {
                eprintln!("{d}");
            }
        }
        Error::Io { .. } => eprintln!("error: {e}"),
    }
    exit::BAD_INPUT
}
