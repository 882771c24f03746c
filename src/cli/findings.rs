//! `kmsproof findings`: everything the inputs allow on a key, as a few proved findings.

use super::{exit, internal_error, outln, pretty, Format, InputArgs};
use crate::findings::{findings, Completeness, Settings};
use crate::model::inputs::IamWorld;
use crate::report;
use kmsproof_solver::Limits;

#[derive(clap::Args, Debug)]
pub struct FindingsArgs {
    #[command(flatten)]
    inputs: InputArgs,
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
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

impl FindingsArgs {
    fn world(&self, key_arn: &str, identity_given: bool) -> Result<IamWorld, i32> {
        let key_account = crate::base::arn::account_of(key_arn).filter(|_| identity_given);
        super::iam_world(self.closed_world, &self.identity_accounts, key_account)
    }
}

pub fn run(args: &FindingsArgs) -> i32 {
    let inputs = match args.inputs.load(&[]) {
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
    let limits = Limits { timeout_ms: args.timeout_ms, canonical: true, ..Limits::default() }
        .budget_from(super::started(), std::time::Duration::from_millis(u64::from(args.budget_ms)));
    let r = match findings(&inputs, &key_arn, &Settings { world, limits }) {
        Ok(r) => r,
        Err(mismatch) => return internal_error(&mismatch),
    };
    match args.format {
        Format::Text => super::out(&report::findings::findings_text(&r)),
        Format::Json => outln(&pretty(&report::findings::findings_json(&r))),
    }
    match r.complete {
        Completeness::Proved => exit::OK,
        Completeness::Unknown(_) => exit::UNKNOWN,
    }
}
