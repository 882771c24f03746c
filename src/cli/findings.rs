//! `kmsproof findings`: everything the inputs allow on a key, as a few proved findings; with
//! `--old-key-policy`, the findings the new key policy adds and the old one loses.

use super::{bad_input, exit, internal_error, outln, pretty, InputArgs};
use crate::findings::diff::{diff, Verdict};
use crate::findings::{findings, Completeness, Settings};
use crate::model::inputs::{IamWorld, Inputs};
use crate::model::load::{load_inputs, InputPaths};
use crate::report;
use clap::ValueEnum;
use kmsproof_solver::Limits;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct FindingsArgs {
    #[command(flatten)]
    inputs: InputArgs,
    /// Diff mode: the OLD key policy; --key-policy is the NEW one, every other input is
    /// shared. Lists the findings NEW adds (each with a request NEW allows and OLD denies)
    /// and OLD loses; exits 1 when NEW adds access (IAM Access Analyzer's CheckNoNewAccess).
    #[arg(long, value_name = "FILE")]
    old_key_policy: Option<PathBuf>,
    /// The key under analysis (default: the account the key policy trusts, placeholder ID).
    #[arg(long, value_name = "ARN")]
    key_arn: Option<String>,
    /// The accounts whose callers the --identity-policy files describe (repeatable; default:
    /// the key's account when identity policies are given). Every other caller's identity
    /// policies are unknown, assumed to allow everything.
    #[arg(long = "identity-account", value_name = "ACCOUNT")]
    identity_accounts: Vec<String>,
    /// Callers hold only the identity policies given.
    #[arg(long)]
    closed_world: bool,
    /// Solver time limit per query, in milliseconds.
    #[arg(long, default_value_t = 10_000, value_name = "MS")]
    timeout_ms: u32,
    /// Time limit for the whole command, in milliseconds.
    #[arg(long, default_value_t = 120_000, value_name = "MS")]
    budget_ms: u32,
    /// Output: text, json, sarif (code scanning), html (one page), or markdown (diff mode:
    /// a job summary or PR comment).
    #[arg(long, value_enum, default_value_t = FindingsFormat::Text)]
    format: FindingsFormat,
}

/// `findings`' output formats.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FindingsFormat {
    Text,
    Json,
    /// SARIF 2.1.0: one result per finding (external: error, cross-account via a service:
    /// warning, internal: note).
    Sarif,
    /// One self-contained HTML page.
    Html,
    /// Markdown, in diff mode.
    Markdown,
}

impl FindingsArgs {
    fn world(&self, key_arn: &str, identity_given: bool) -> Result<IamWorld, i32> {
        let key_account = crate::base::arn::account_of(key_arn).filter(|_| identity_given);
        super::iam_world(self.closed_world, &self.identity_accounts, key_account)
    }

    /// The formats each mode writes: markdown for a diff, SARIF and HTML for one version.
    fn format_fits(&self) -> Result<(), i32> {
        let diff = self.old_key_policy.is_some();
        let fits = match self.format {
            FindingsFormat::Text | FindingsFormat::Json => true,
            FindingsFormat::Markdown => diff,
            FindingsFormat::Sarif | FindingsFormat::Html => !diff,
        };
        if fits {
            return Ok(());
        }
        let mode = if diff { "with --old-key-policy (diff mode)" } else { "without --old-key-policy" };
        say!("error: --format {:?} is not written {mode}", self.format);
        Err(exit::BAD_INPUT)
    }

    /// The OLD version: the inputs with the old key policy in place of the new one.
    fn old_inputs(&self, new: &Inputs, old_path: &std::path::Path) -> Result<Inputs, i32> {
        if self.inputs.key_policy_path().is_none() {
            say!("error: --old-key-policy needs --key-policy (the NEW key policy)");
            return Err(exit::BAD_INPUT);
        }
        let paths = InputPaths { key_policy: Some(old_path), ..InputPaths::default() };
        let old = load_inputs(&paths).map_err(|e| bad_input(&e))?;
        super::print_warnings(&super::warnings(&old));
        Ok(Inputs { key_policy: old.key_policy, ..new.clone() })
    }
}

pub fn run(args: &FindingsArgs) -> i32 {
    if let Err(code) = args.format_fits() {
        return code;
    }
    let others: Vec<&PathBuf> = args.old_key_policy.iter().collect();
    let inputs = match args.inputs.load(&others) {
        Ok(i) => i,
        Err(code) => return code,
    };
    let key_arn = args.key_arn.clone().or_else(|| inputs.default_key_arn()).unwrap_or_else(super::placeholder_key);
    if !crate::base::arn::is_key_arn(&key_arn) {
        say!("error: --key-arn {key_arn:?} is not a KMS key ARN (expected arn:aws:kms:REGION:ACCOUNT:key/ID)");
        return exit::BAD_INPUT;
    }
    let world = match args.world(&key_arn, !inputs.identity.is_empty()) {
        Ok(w) => w,
        Err(code) => return code,
    };
    let limits = Limits { timeout_ms: args.timeout_ms, ..Limits::default() }
        .budget_from(super::started(), std::time::Duration::from_millis(u64::from(args.budget_ms)));
    let settings = Settings { world, limits };
    match &args.old_key_policy {
        Some(old_path) => match args.old_inputs(&inputs, old_path) {
            Ok(old) => run_diff(args, &old, &inputs, &key_arn, &settings),
            Err(code) => code,
        },
        None => run_one(args, &inputs, &key_arn, &settings),
    }
}

fn run_one(args: &FindingsArgs, inputs: &Inputs, key_arn: &str, settings: &Settings) -> i32 {
    let r = match findings(inputs, key_arn, settings) {
        Ok(r) => r,
        Err(mismatch) => return internal_error(&mismatch),
    };
    let key_policy = inputs.key_policy.source.to_string();
    match args.format {
        FindingsFormat::Text | FindingsFormat::Markdown => super::out(&report::findings::findings_text(&r)),
        FindingsFormat::Json => outln(&pretty(&report::findings::findings_json(&r))),
        FindingsFormat::Sarif => outln(&pretty(&report::findings::findings_sarif(&r, &key_policy))),
        FindingsFormat::Html => super::out(&report::findings::findings_html(&r)),
    }
    match r.complete {
        Completeness::Proved => exit::OK,
        Completeness::Unknown(_) => exit::UNKNOWN,
    }
}

fn run_diff(args: &FindingsArgs, old: &Inputs, new: &Inputs, key_arn: &str, settings: &Settings) -> i32 {
    let d = match diff(old, new, key_arn, settings) {
        Ok(d) => d,
        Err(mismatch) => return internal_error(&mismatch),
    };
    let (o, n) = (old.key_policy.source.to_string(), new.key_policy.source.to_string());
    match args.format {
        FindingsFormat::Json => outln(&pretty(&report::findings::diff_json(&d, &o, &n))),
        FindingsFormat::Markdown => super::out(&report::findings::diff_markdown(&d, &o, &n)),
        _ => super::out(&report::findings::diff_text(&d, &o, &n)),
    }
    match d.verdict() {
        Verdict::NoNewAccess => exit::OK,
        Verdict::NewAccess => exit::FAILED,
        Verdict::Unknown(_) => exit::UNKNOWN,
    }
}
