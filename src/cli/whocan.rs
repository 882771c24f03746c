//! Flags of `who-can` and `can`, validated before any work starts.

use super::{exit, internal_error, out, outln};
use crate::base::diag::Error;
use crate::model::load::{load_grants, load_policy, read_source};
use crate::model::policy::{Policy, PolicyKind};
use crate::whocan::domain::{Options, Status};
use crate::whocan::gaad::{parse_account, Account};
use crate::whocan::graph::{analyse, Analysis};
use crate::whocan::kms::Key;
use clap::ValueEnum;
use kmsproof_solver::Limits;
use std::path::PathBuf;

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Dot,
}

#[derive(clap::Args, Debug)]
pub struct WhoCanArgs {
    /// `aws iam get-account-authorization-details` output (repeatable: one per account).
    #[arg(long = "authorization-details", value_name = "FILE", required = true)]
    pub authorization_details: Vec<PathBuf>,
    /// The key policy: FILE, ARN=FILE, or a directory of key policies (one per *.json
    /// file, its key from a "KeyArn" member or the file name KEY-ID.json); repeatable.
    #[arg(long = "key-policy", value_name = "[ARN=]FILE|DIR", required = true)]
    pub key_policies: Vec<String>,
    /// The KMS action asked about.
    #[arg(long, default_value = "kms:Decrypt")]
    pub action: String,
    /// The key's ARN, for a key policy given without one.
    #[arg(long, value_name = "ARN")]
    pub key_arn: Option<String>,
    /// Grants on the key (`aws kms list-grants` output; repeatable).
    #[arg(long = "grant", value_name = "FILE")]
    pub grants: Vec<PathBuf>,
    /// A service control policy, one file per organization level (repeatable); caps the
    /// principals of the dumps' accounts.
    #[arg(long = "scp", value_name = "FILE")]
    pub scps: Vec<PathBuf>,
    /// Longest path (edges) shown as a path; longer ones are reported undecided.
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub max_hops: usize,
    /// Leave out privilege-escalation edges (then "cannot" means: without escalation).
    #[arg(long)]
    pub no_escalation: bool,
    /// Principals expected to have access (not findings; repeatable).
    #[arg(long = "allow", value_name = "PRINCIPAL")]
    pub allow: Vec<String>,
    /// Solver time limit per question, in milliseconds.
    #[arg(long, default_value_t = 10_000, value_name = "MS")]
    pub timeout_ms: u32,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(clap::Args, Debug)]
pub struct CanArgs {
    /// The principal asked about (an ARN of the dumps, as its Arn field gives it).
    #[arg(long, value_name = "ARN")]
    pub principal: String,
    #[command(flatten)]
    pub common: WhoCanArgs,
}

/// Everything loaded and validated.
pub struct Config {
    pub accounts: Vec<Account>,
    pub keys: Vec<Key>,
    pub scps: Vec<Policy>,
    pub options: Options,
    /// For each key: its ARN, file and how the ARN was obtained (stated in the report).
    pub origins: Vec<String>,
}

fn keep<T>(errors: &mut Vec<Error>, r: Result<T, Error>) -> Option<T> {
    r.map_err(|e| errors.push(e)).ok()
}

fn report(e: &Error) -> i32 {
    match e {
        Error::Invalid(diags) => {
            let errors = diags.iter().filter(|d| d.severity == crate::base::diag::Severity::Error);
            for line in crate::base::diag::shown(errors, crate::Diagnostic::to_string) {
                say!("{line}");
            }
        }
        // who-can sets no reading budget; said as it is should that change.
        Error::Io { .. } | Error::BudgetSpent { .. } => say!("error: {e}"),
    }
    exit::BAD_INPUT
}

impl WhoCanArgs {
    pub fn config(&self) -> Result<Config, i32> {
        let mut errors = Vec::new();
        let accounts: Vec<Account> = self
            .authorization_details
            .iter()
            .filter_map(|p| keep(&mut errors, read_source(p).and_then(|(text, label)| parse_account(&text, &label))))
            .collect();
        for a in &accounts {
            for w in a.warnings.iter().chain(a.policies().flat_map(|p| &p.warnings)) {
                say!("{w}");
            }
        }
        let scps: Vec<Policy> =
            self.scps.iter().filter_map(|p| keep(&mut errors, load_policy(p, PolicyKind::Scp))).collect();
        let grants: Vec<_> = self.grants.iter().filter_map(|p| keep(&mut errors, load_grants(p))).flatten().collect();
        let mut keys = Vec::new();
        let mut origins = Vec::new();
        match crate::whocan::keys::load_keys(&self.key_policies, self.key_arn.as_deref()) {
            Ok(sources) => {
                for k in sources {
                    let grants = grants.iter().filter(|g| g.is_on_key(&k.arn)).cloned().collect();
                    origins.push(format!("{} from {} ({})", k.arn, k.file, k.origin));
                    keys.push(Key { arn: k.arn, policy: k.policy, grants });
                }
            }
            Err(e) => errors.extend(e),
        }
        if let Some(e) = errors.first() {
            for e in &errors[1..] {
                report(e);
            }
            return Err(report(e));
        }
        let action = self.action.clone();
        let known = action
            .strip_prefix("kms:")
            .and_then(|a| crate::facts::catalog::catalog().kms_action(a))
            .is_some_and(|a| a.on_key);
        if !known {
            say!("error: --action {action:?} is not a KMS action on a key (e.g. kms:Decrypt)");
            return Err(exit::BAD_INPUT);
        }
        let limits = Limits { timeout_ms: self.timeout_ms, ..Limits::default() };
        let options =
            Options { action, max_hops: self.max_hops, escalation: !self.no_escalation, limits, prefilter: true };
        Ok(Config { accounts, keys, scps, options, origins })
    }
}

fn analyses(cfg: &Config) -> Result<Vec<Analysis>, i32> {
    let mut out = Vec::new();
    for key in &cfg.keys {
        match analyse(&cfg.accounts, &cfg.scps, key, &cfg.options) {
            Ok(a) => out.push(a),
            Err(m) => {
                return Err(internal_error(&m));
            }
        }
    }
    Ok(out)
}

/// Prints the analyses; each key's line says where its ARN came from.
fn print(args: &WhoCanArgs, cfg: &Config, analyses: &[Analysis], only: Option<petgraph::graph::NodeIndex>) {
    let refs: Vec<&Analysis> = analyses.iter().collect();
    match args.format {
        Format::Table => {
            for o in &cfg.origins {
                outln(&format!("key {o}"));
            }
            out(&crate::report::whocan::text(&refs, only))
        }
        Format::Json => {
            let mut v = crate::report::whocan::json(&refs, only);
            for (k, o) in v["keys"].as_array_mut().into_iter().flatten().zip(&cfg.origins) {
                k["key_source"] = serde_json::json!(o);
            }
            outln(&serde_json::to_string_pretty(&v).unwrap_or_default())
        }
        Format::Dot => {
            for (a, o) in analyses.iter().zip(&cfg.origins) {
                let d = crate::report::whocan::dot(a);
                let (head, rest) = d.split_once('\n').unwrap_or((&d, ""));
                out(&format!("{head}\n  // key {o}\n{rest}"));
            }
        }
    }
}

/// 1 when a principal outside `--allow` can, else 3 when one is undecided, else 0.
fn exit_code(args: &WhoCanArgs, analyses: &[Analysis], only: Option<petgraph::graph::NodeIndex>) -> i32 {
    let mut code = exit::OK;
    for a in analyses {
        for i in a.listed().filter(|i| only.is_none_or(|o| o == *i)) {
            let allowed = args.allow.iter().any(|p| *p == a.graph[i].label);
            match &a.status[i.index()] {
                Status::Can(..) if !allowed => return exit::FAILED,
                Status::Unknown(_) | Status::BeyondHops => code = exit::UNKNOWN,
                _ => {}
            }
        }
    }
    code
}

pub fn who_can(args: &WhoCanArgs) -> i32 {
    let cfg = match args.config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let analyses = match analyses(&cfg) {
        Ok(a) => a,
        Err(code) => return code,
    };
    print(args, &cfg, &analyses, None);
    exit_code(args, &analyses, None)
}

pub fn can(args: &CanArgs) -> i32 {
    let cfg = match args.common.config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let analyses = match analyses(&cfg) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let Some(only) = analyses[0].graph.node_indices().find(|i| analyses[0].graph[*i].label == args.principal) else {
        say!(
            "error: --principal {:?} is not a principal of the dumps (give its Arn as the dump lists it)",
            args.principal
        );
        return exit::BAD_INPUT;
    };
    print(&args.common, &cfg, &analyses, Some(only));
    exit_code(&args.common, &analyses, Some(only))
}
