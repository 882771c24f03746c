//! The command line: flags shared by the commands, exit codes, and error rendering (once);
//! one file per command, each turning its flags into a validated configuration before any
//! work starts, then running it.

/// `eprintln!`, except that a closed stderr (`kmsproof … 2>&1 | head`) is not a panic: a
/// message nobody can read any more is dropped (see [`out`] for stdout).
macro_rules! say {
    () => {
        $crate::cli::err_line("")
    };
    ($($arg:tt)*) => {
        $crate::cli::err_line(&format!($($arg)*))
    };
}

pub mod audit;
pub mod check;
pub mod diff;
pub mod eval;
pub mod explain;
pub mod findings;
pub mod generate;
pub mod whocan;

use crate::base::diag::Error;
use crate::model::inputs::{IamWorld, Inputs};
use crate::model::load::{load_inputs, InputPaths};
use clap::ValueEnum;
use std::path::PathBuf;

/// Exit codes, the same for every command.
pub mod exit {
    /// Success: a decision was made (allow or deny), every property holds, no finding or
    /// difference at `--fail-on`, no principal outside `--allow` can.
    pub const OK: i32 = 0;
    /// The answer CI fails on: a property is violated, a finding or a difference at
    /// `--fail-on`, a principal outside `--allow` can.
    pub const FAILED: i32 = 1;
    /// Bad input or bad invocation; the error is on stderr.
    pub const BAD_INPUT: i32 = 2;
    /// Some answer could not be decided (and none failed).
    pub const UNKNOWN: i32 = 3;
    /// kmsproof disagrees with itself (a replay mismatch): a bug, reported loudly.
    pub const INTERNAL: i32 = 4;

    /// Hands a command's inputs and results to the OS instead of freeing them: `main`
    /// exits right after the command returns, and freeing a large input (a 15 MB policy's
    /// statements and terms) costs a third of a second past the work budget for nothing.
    pub fn leave_to_the_os<T>(done: T) {
        std::mem::forget(done);
    }
}

/// A bug in kmsproof (the solver and the evaluator disagree): said loudly, never a result.
/// When the process started (see [`start_clock`]): a command's work budget covers reading
/// and parsing its files too, so a huge input cannot take seconds before the clock starts.
static STARTED: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

/// Starts the command's clock; `main` calls it first. Later calls change nothing.
pub fn start_clock() {
    STARTED.get_or_init(std::time::Instant::now);
}

/// When the process started (now, if [`start_clock`] was never called).
pub fn started() -> std::time::Instant {
    *STARTED.get_or_init(std::time::Instant::now)
}

/// Which procedure decides each solver query (`--decider`). Both are exact decisions of
/// the same finite encoding; the choice exists so a user can have every answer from Z3,
/// or both procedures compared on every query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Decider {
    /// The exhaustive search over the partitions where it finishes within its work bound,
    /// Z3 for the rest (the default: most processes then never start Z3).
    Auto,
    /// Z3 for every query.
    Z3,
    /// Both on every query; any difference in an answer or a model is an internal error.
    Both,
}

/// Sets the decider for the whole process (before any query; `main` calls it).
pub fn use_decider(d: Decider) {
    use kmsproof_solver::{set_finite_mode, FiniteMode};
    set_finite_mode(match d {
        Decider::Auto => FiniteMode::On,
        Decider::Z3 => FiniteMode::Off,
        Decider::Both => FiniteMode::CrossCheck,
    });
}

pub fn internal_error(e: &dyn std::fmt::Display) -> i32 {
    say!("{e}");
    say!("This is a bug in kmsproof; please report it with the inputs above.");
    exit::INTERNAL
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// The files that make up one authorization context.
#[derive(clap::Args, Debug)]
pub struct InputArgs {
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

    /// The key policy file, if one is given.
    pub fn key_policy_path(&self) -> Option<&std::path::Path> {
        self.key_policy.as_deref()
    }

    /// Loads every file and prints the warnings; `Err` is the exit code.
    pub fn load(&self, others: &[&PathBuf]) -> Result<Inputs, i32> {
        if self.files().chain(others.iter().copied()).filter(|p| p.as_os_str() == "-").count() > 1 {
            say!("error: only one input can be read from standard input (`-`)");
            return Err(exit::BAD_INPUT);
        }
        let mut inputs = load_inputs(&self.paths()).map_err(|e| bad_input(&e))?;
        if let Some(m) = &self.management_account {
            let m = crate::model::binding::management_account(m).map_err(|why| {
                say!("error: {why}");
                exit::BAD_INPUT
            })?;
            inputs.management_account = Some(m);
        }
        print_warnings(&warnings(&inputs));
        Ok(inputs)
    }
}

/// The key of a key policy that names no account (every principal `*`) when `--key-arn`
/// is not given: a placeholder in [`PLACEHOLDER_ACCOUNT`], said on stderr (which callers
/// are in the key's own account depends on it).
///
/// [`PLACEHOLDER_ACCOUNT`]: crate::model::inputs::PLACEHOLDER_ACCOUNT
pub fn placeholder_key() -> String {
    let arn = crate::model::inputs::placeholder_key_arn(crate::model::inputs::PLACEHOLDER_ACCOUNT);
    say!(
        "warning: no principal of the key policy names an account, so the key's own account is a placeholder: \
         {arn} (callers of account {} are the key's own; give --key-arn to choose the key)",
        crate::model::inputs::PLACEHOLDER_ACCOUNT
    );
    arn
}

/// Warnings on stderr, rendered, the first [`crate::base::diag::SHOWN`] of them.
pub fn print_warnings<'a>(ws: impl IntoIterator<Item = &'a crate::Diagnostic>) {
    for line in crate::base::diag::shown(ws, crate::Diagnostic::render) {
        say!("{line}");
    }
}

pub fn warnings(inputs: &Inputs) -> Vec<crate::Diagnostic> {
    inputs.policies().flat_map(|p| p.warnings.clone()).collect()
}

/// Whether standard output was found closed (`kmsproof … | head`): nothing more is written.
static STDOUT_CLOSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Writes command output to standard output: the one place every command prints through.
/// A closed pipe (`| head`, `| true`) ends the output quietly, as Unix tools do, and the
/// command still exits with its own code (a CI script piping a verdict keeps its meaning).
/// Any other write error (a full disk) is an error: said on stderr, exit 2.
pub fn out(text: &str) {
    use std::io::Write;
    use std::sync::atomic::Ordering;
    if text.is_empty() || STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            say!("error: cannot write to standard output: {e}");
            std::process::exit(exit::BAD_INPUT);
        }
    }
}

/// One line on stderr; a write error (a closed pipe) drops it.
pub fn err_line(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// [`out`], then a newline.
pub fn outln(text: &str) {
    out(&format!("{text}\n"));
}

pub fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

pub fn cli_error(message: String) -> Error {
    Error::Invalid(vec![crate::Diagnostic {
        severity: crate::Severity::Error,
        source: "".into(),
        pos: Default::default(),
        path: String::new(),
        message,
        document: None,
    }])
}

pub fn bad_input(e: &Error) -> i32 {
    match e {
        Error::Invalid(diags) => {
            for line in crate::base::diag::shown(diags, crate::Diagnostic::render) {
                say!("{line}");
            }
        }
        Error::Io { .. } => say!("error: {e}"),
        Error::BudgetSpent { .. } => {
            outln(&format!("UNKNOWN ({e})"));
            return exit::UNKNOWN;
        }
    }
    exit::BAD_INPUT
}

/// Whose identity policies the given files describe (`--closed-world`,
/// `--identity-account`); without `--identity-account`, `default_account`'s (the key's,
/// when identity policies are given).
pub fn iam_world(closed: bool, accounts: &[String], default_account: Option<&str>) -> Result<IamWorld, i32> {
    if closed {
        return Ok(IamWorld::Closed);
    }
    if let Some(bad) = accounts.iter().find(|a| !crate::base::arn::is_account_id(a)) {
        say!("error: --identity-account {bad:?} is not an account ID (expected 12 digits)");
        return Err(exit::BAD_INPUT);
    }
    let mut described = accounts.to_vec();
    if described.is_empty() {
        described.extend(default_account.map(str::to_string));
    }
    Ok(IamWorld::Open { described })
}
