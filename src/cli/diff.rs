//! `kmsproof diff`: flags, turned into a validated configuration, then the comparison.

use super::{bad_input, cli_error, exit, internal_error, out, outln, pretty, warnings};
use crate::model::inputs::IamWorld;
use crate::model::inputs::Inputs;
use crate::model::load::{load_inputs, read_source, InputPaths};

use crate::diffset::{self, found, pairs, Answer, Change, Entry, Outcome, Pair, Place, Settings};
use crate::prove::diff::{diff as compare, DiffOptions, DiffResult, DiffVerdict, Side};
use crate::report;
use clap::ValueEnum;
use kmsproof_solver::Limits;
use std::path::{Path, PathBuf};

pub use crate::diffset::FailOn;

#[derive(clap::Args, Debug)]
pub struct DiffArgs {
    /// OLD and NEW policy files (`-` for one of them), or two directories (files matched
    /// by relative path). Policies with a `Principal` are compared as key policies (KMS
    /// authorization, the caller's IAM policies assumed to allow); others as identity
    /// policies alone, over requests of any service. CloudFormation templates (JSON or
    /// YAML), terraform plans/state and account dumps are compared policy by policy,
    /// matched by logical ID / resource address.
    #[arg(value_name = "PATH", num_args = 0..=2)]
    files: Vec<PathBuf>,
    /// Compare the file pairs a manifest lists: one `OLD NEW` per line (`/dev/null` for a
    /// missing side; paths relative to the manifest). See docs/diff.md.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["git", "old_key_policy", "new_key_policy"])]
    manifest: Option<PathBuf>,
    /// Threads comparing pairs of a directory, manifest, template or plan (default: the
    /// machine's cores); each reuses one Z3 solver.
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// Compare a file with its version at a git revision: `--git REV PATH`.
    #[arg(long, value_name = "REV", conflicts_with_all = ["old_key_policy", "new_key_policy"])]
    git: Option<String>,
    #[command(flatten)]
    old: OldSet,
    #[command(flatten)]
    new: NewSet,
    /// The key under analysis for key policies (default: the account the key policy trusts).
    #[arg(long, value_name = "ARN")]
    key_arn: Option<String>,
    /// Witness requests per direction.
    #[arg(long, default_value_t = crate::prove::diff::EXAMPLES, value_name = "N")]
    examples: usize,
    /// Most actions listed per direction in the per-action summary, one solver query each
    /// (default: every KMS action for key policies and KMS contexts; as many as
    /// --examples for identity policies, whose actions are every service's).
    #[arg(long, value_name = "N")]
    actions: Option<usize>,
    /// Which difference exits 1.
    #[arg(long, value_enum, default_value_t = FailOn::More)]
    fail_on: FailOn,
    /// Work budget in milliseconds: of the whole comparison for two policy files (from the
    /// process's start), of each pair for a directory, manifest, template or plan.
    #[arg(long, default_value_t = 10_000, value_name = "MS")]
    timeout_ms: u32,
    /// Set form: the accounts whose callers the identity policies describe (repeatable;
    /// default: the key's account). Every other account's callers hold identity policies
    /// not given (assumed to allow everything, on both sides).
    #[arg(long = "identity-account", value_name = "ACCOUNT")]
    identity_accounts: Vec<String>,
    /// Set form: callers hold only the identity policies given (the closed-world reading).
    #[arg(long)]
    closed_world: bool,
    /// Output: text (a table for many pairs), json, jsonl, sarif, or markdown (a GitHub job
    /// summary / PR comment).
    #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
    format: DiffFormat,
}

/// `diff`'s output formats.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiffFormat {
    /// The verdict and witnesses; for many pairs, one row per pair.
    #[value(alias = "table")]
    Text,
    Json,
    /// One JSON object per line (per pair, then the summary).
    Jsonl,
    /// SARIF 2.1.0 (code scanning): one result per direction with a difference.
    Sarif,
    /// Markdown for a job summary or PR comment (witness requests in `<details>`).
    Markdown,
}

/// The OLD authorization context, file by file (the set form).
#[derive(clap::Args, Debug)]
pub struct OldSet {
    /// OLD key policy (set form: every --old-/--new- file makes one KMS authorization context).
    #[arg(long, value_name = "FILE")]
    old_key_policy: Option<PathBuf>,
    #[arg(long = "old-identity-policy", value_name = "FILE")]
    old_identity: Vec<PathBuf>,
    #[arg(long = "old-grant", value_name = "FILE")]
    old_grants: Vec<PathBuf>,
    #[arg(long = "old-scp", value_name = "FILE")]
    old_scps: Vec<PathBuf>,
    #[arg(long, value_name = "FILE")]
    old_boundary: Option<PathBuf>,
    /// OLD organization's management account (SCPs do not limit its principals).
    #[arg(long, value_name = "ACCOUNT")]
    old_management_account: Option<String>,
}

/// The NEW authorization context, file by file (the set form).
#[derive(clap::Args, Debug)]
pub struct NewSet {
    /// NEW key policy.
    #[arg(long, value_name = "FILE")]
    new_key_policy: Option<PathBuf>,
    #[arg(long = "new-identity-policy", value_name = "FILE")]
    new_identity: Vec<PathBuf>,
    #[arg(long = "new-grant", value_name = "FILE")]
    new_grants: Vec<PathBuf>,
    #[arg(long = "new-scp", value_name = "FILE")]
    new_scps: Vec<PathBuf>,
    #[arg(long, value_name = "FILE")]
    new_boundary: Option<PathBuf>,
    /// NEW organization's management account.
    #[arg(long, value_name = "ACCOUNT")]
    new_management_account: Option<String>,
}

/// `diff` after validation: both sides loaded, of the same kind.
struct DiffConfig {
    old: Side,
    new: Side,
    old_label: String,
    new_label: String,
    key_arn: String,
    opts: DiffOptions,
    fail_on: FailOn,
    format: DiffFormat,
    /// Key policies given alone (file form): the caller's IAM policies are assumed.
    assumed_iam: bool,
    /// Set form: whose identity policies are given (`None` in the file form).
    world: Option<IamWorld>,
    /// Which callers each side's policies bind: what the proofs cover (see `binding`).
    scopes: (Vec<String>, Vec<String>),
}

/// `diff` of many pairs (directories, a manifest, templates or plans) after validation.
struct SetConfig {
    pairs: Vec<Pair>,
    settings: Settings,
    jobs: usize,
    fail_on: FailOn,
    format: DiffFormat,
}

/// What `diff` was asked: one comparison, or many.
enum Plan {
    One(DiffConfig),
    Many(SetConfig),
}

impl DiffArgs {
    fn config(&self) -> Result<Plan, i32> {
        if self.examples == 0 {
            return Err(usage("--examples must be at least 1"));
        }
        if let Some(m) = &self.manifest {
            if !self.files.is_empty() {
                return Err(usage("give either OLD NEW paths or --manifest, not both"));
            }
            return self.many(pairs::manifest(m).map_err(|e| usage(&e.to_string()))?);
        }
        let set_form = self.old.old_key_policy.is_some() || self.new.new_key_policy.is_some();
        let (old, new) = match (&self.git, set_form, self.files.as_slice()) {
            (Some(rev), false, [path]) => (text_from_git(rev, path)?, text_from_file(path)?),
            (Some(_), _, _) => return Err(usage("--git REV takes exactly one PATH")),
            (None, true, []) => {
                self.budget_reading();
                return self.one(self.old.side()?, self.new.side()?, true).map(Plan::One);
            }
            (None, true, _) => return Err(usage("give either OLD NEW files or the --old-/--new- set form, not both")),
            (None, false, [old, new]) if old.is_dir() && new.is_dir() => {
                return self.many(pairs::directories(old, new))
            }
            (None, false, [old, new]) if old.is_dir() || new.is_dir() => {
                return Err(usage("compare a directory with a directory, or a file with a file"))
            }
            (None, false, [old, new]) => {
                if old.as_os_str() == "-" && new.as_os_str() == "-" {
                    return Err(usage("only one input can be read from standard input (`-`)"));
                }
                (text_from_file(old)?, text_from_file(new)?)
            }
            (None, false, _) => {
                return Err(usage(
                    "give OLD and NEW policy files or directories, --manifest FILE, --git REV PATH, or the --old-/--new- set form",
                ))
            }
        };
        // Two policies are one comparison; templates, plans and dumps are compared policy by policy.
        let (old_found, new_found) = (found::in_text(&old.1, &old.0), found::in_text(&new.1, &new.0));
        if found::is_whole_file(&old_found) && found::is_whole_file(&new_found) {
            self.budget_reading();
            let (old_side, new_side) = (side_from_text(&old.0, &old.1)?, side_from_text(&new.0, &new.1)?);
            return self.one((old_side, old.1), (new_side, new.1), false).map(Plan::One);
        }
        self.many(pairs::file_pair(&new.1, Some(old_found), Some(new_found)))
    }

    /// One comparison's --timeout-ms covers reading both sides too (see `run_one`). Many
    /// pairs have a budget each, from when the pair's comparison starts, so the
    /// process-wide reading deadline is not set for them.
    fn budget_reading(&self) {
        let whole = std::time::Duration::from_millis(u64::from(self.timeout_ms));
        crate::base::budget::set_reading_deadline(super::started() + whole);
    }

    fn many(&self, pairs: Vec<Pair>) -> Result<Plan, i32> {
        if self.closed_world || !self.identity_accounts.is_empty() {
            return Err(usage("--closed-world and --identity-account belong to the --old-/--new- set form"));
        }
        if let Some(k) = self.key_arn.as_ref().filter(|k| !crate::base::arn::is_key_arn(k)) {
            return Err(usage(&format!(
                "--key-arn {k:?} is not a KMS key ARN (expected arn:aws:kms:REGION:ACCOUNT:key/ID)"
            )));
        }
        let jobs = match self.jobs {
            Some(0) => return Err(usage("--jobs must be at least 1")),
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        let settings = Settings {
            key_arn: self.key_arn.clone(),
            examples: self.examples,
            actions: self.actions,
            pair_timeout_ms: self.timeout_ms,
        };
        Ok(Plan::Many(SetConfig { pairs, settings, jobs, fail_on: self.fail_on, format: self.format }))
    }

    /// One comparison of two sides (`set_form`: the --old-/--new- authorization contexts).
    fn one(
        &self,
        (old, old_label): (Side, String),
        (new, new_label): (Side, String),
        set_form: bool,
    ) -> Result<DiffConfig, i32> {
        let key_arn = self.key_arn(&old, &new)?;
        let world = if set_form { Some(self.world(&key_arn)?) } else { None };
        // Which callers each side's given policies bind (before the unknown ones are added).
        let scope = |side: &Side| match side {
            Side::Kms(inputs) if set_form => crate::model::binding::scope(inputs),
            _ => vec![],
        };
        let scopes = (scope(&old), scope(&new));
        // Unknown identity policies are the same on both sides; allowing everything is the
        // case that shows every difference (a Deny of theirs hides differences alike).
        let (old, new) = match (&world, old, new) {
            (Some(w), Side::Kms(a), Side::Kms(b)) => (Side::Kms(w.inputs(&a, true)), Side::Kms(w.inputs(&b, true))),
            (_, old, new) => (old, new),
        };
        let limits = Limits { timeout_ms: self.timeout_ms, ..Limits::default() };
        let defaults = DiffOptions::defaults_for(&old, self.examples);
        let opts = DiffOptions { actions: self.actions.unwrap_or(defaults.actions), limits, ..defaults };
        let assumed_iam = !set_form && matches!(old, Side::Kms(_));
        Ok(DiffConfig {
            old,
            new,
            old_label,
            new_label,
            key_arn,
            opts,
            fail_on: self.fail_on,
            format: self.format,
            assumed_iam,
            world,
            scopes,
        })
    }

    /// Whose identity policies the set form gives (see [`IamWorld`]).
    fn world(&self, key_arn: &str) -> Result<IamWorld, i32> {
        super::iam_world(self.closed_world, &self.identity_accounts, crate::base::arn::account_of(key_arn))
    }

    fn key_arn(&self, old: &Side, new: &Side) -> Result<String, i32> {
        let (Side::Kms(a), Side::Kms(b)) = (old, new) else {
            if matches!((old, new), (Side::Policy(_), Side::Policy(_))) {
                return Ok(String::new());
            }
            return Err(usage("one side is a key policy (it has a Principal) and the other an identity policy; compare policies of one kind"));
        };
        let arn = self.key_arn.clone().or_else(|| a.default_key_arn()).or_else(|| b.default_key_arn());
        match arn {
            Some(k) if crate::base::arn::is_key_arn(&k) => Ok(k),
            Some(k) => Err(usage(&format!(
                "--key-arn {k:?} is not a KMS key ARN (expected arn:aws:kms:REGION:ACCOUNT:key/ID)"
            ))),
            None => Ok(super::placeholder_key()),
        }
    }
}

impl OldSet {
    fn side(&self) -> Result<(Side, String), i32> {
        let o = self;
        set_side(
            &paths(&o.old_key_policy, &o.old_identity, &o.old_scps, &o.old_boundary, &o.old_grants),
            &o.old_management_account,
        )
    }
}

impl NewSet {
    fn side(&self) -> Result<(Side, String), i32> {
        let n = self;
        set_side(
            &paths(&n.new_key_policy, &n.new_identity, &n.new_scps, &n.new_boundary, &n.new_grants),
            &n.new_management_account,
        )
    }
}

fn paths<'a>(
    key_policy: &'a Option<PathBuf>,
    identity: &'a [PathBuf],
    scps: &'a [PathBuf],
    boundary: &'a Option<PathBuf>,
    grants: &'a [PathBuf],
) -> InputPaths<'a> {
    InputPaths {
        key_policy: key_policy.as_deref(),
        identity: identity.iter().map(PathBuf::as_path).collect(),
        scps: scps.iter().map(PathBuf::as_path).collect(),
        boundary: boundary.as_deref(),
        grants: grants.iter().map(PathBuf::as_path).collect(),
    }
}

fn set_side(paths: &InputPaths, management: &Option<String>) -> Result<(Side, String), i32> {
    let Some(kp) = paths.key_policy else {
        return Err(usage("the set form needs --old-key-policy and --new-key-policy"));
    };
    let mut inputs = load_inputs(paths).map_err(|e| bad_input(&e))?;
    if let Some(m) = management {
        inputs.management_account =
            Some(crate::model::binding::management_account(m).map_err(|e| usage(&e.to_string()))?);
    }
    print_warnings(&inputs);
    Ok((Side::Kms(inputs), kp.display().to_string()))
}

/// A file's text and its label (`<stdin>` for `-`).
fn text_from_file(path: &Path) -> Result<(String, String), i32> {
    read_source(path).map_err(|e| bad_input(&e))
}

/// `git show REV:PATH`: the OLD side's text, labelled `REV:PATH`.
fn text_from_git(rev: &str, path: &Path) -> Result<(String, String), i32> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let out = std::process::Command::new("git").arg("-C").arg(dir).arg("show").arg(format!("{rev}:./{name}")).output();
    let label = format!("{rev}:{}", path.display());
    match out {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8(o.stdout).map_err(|_| usage(&format!("{label} is not UTF-8 text")))?;
            Ok((text, label))
        }
        Ok(o) => Err(usage(&format!("git show {label}: {}", String::from_utf8_lossy(&o.stderr).trim()))),
        Err(e) => Err(usage(&format!("cannot run git: {e}"))),
    }
}

/// A policy file as one side (see [`Side::from_policy_text`]); warnings go to stderr.
fn side_from_text(text: &str, label: &str) -> Result<Side, i32> {
    let side = Side::from_policy_text(text, label).map_err(|e| bad_input(&e))?;
    super::print_warnings(side.policies().into_iter().flat_map(|p| &p.warnings));
    Ok(side)
}

fn print_warnings(inputs: &Inputs) {
    super::print_warnings(&warnings(inputs));
}

fn usage(message: &str) -> i32 {
    bad_input(&cli_error(message.to_string()))
}

pub fn run(args: &DiffArgs) -> i32 {
    match args.config() {
        Ok(Plan::One(cfg)) => run_one(cfg),
        Ok(Plan::Many(cfg)) => run_many(cfg),
        Err(code) => code,
    }
}

/// Many pairs: compared in parallel, reported together, one exit code for the set.
fn run_many(cfg: SetConfig) -> i32 {
    let entries = match diffset::compare_all(&cfg.pairs, &cfg.settings, cfg.jobs) {
        Ok(e) => e,
        Err(e) => return usage(&format!("cannot start {} threads: {e}", cfg.jobs)),
    };
    super::print_warnings(entries.iter().flat_map(|e| &e.warnings));
    for e in &entries {
        if let diffset::Outcome::Mismatch(m) = &e.outcome {
            internal_error(&format!("{}: {m}", e.name));
        }
    }
    render(&entries, cfg.fail_on, cfg.format);
    let code = answer_code(diffset::answer(&entries, cfg.fail_on));
    exit::leave_to_the_os((cfg, entries));
    code
}

/// The set's answer as the exit code every command uses.
fn answer_code(a: Answer) -> i32 {
    match a {
        Answer::Internal => exit::INTERNAL,
        Answer::BadInput => exit::BAD_INPUT,
        Answer::Failed => exit::FAILED,
        Answer::Unknown => exit::UNKNOWN,
        Answer::Ok => exit::OK,
    }
}

/// Entries in the set formats (text is the table).
fn render(entries: &[Entry], fail_on: FailOn, format: DiffFormat) {
    use report::diffset as r;
    match format {
        DiffFormat::Text => out(&r::table_report(entries, fail_on)),
        DiffFormat::Json => outln(&pretty(&r::json_report(entries, fail_on))),
        DiffFormat::Jsonl => out(&r::jsonl_report(entries, fail_on)),
        DiffFormat::Sarif => outln(&pretty(&r::sarif_report(entries, fail_on))),
        DiffFormat::Markdown => out(&r::markdown_report(entries, fail_on)),
    }
}

/// One comparison as an entry of a set (for SARIF and markdown).
fn one_entry(cfg: &DiffConfig, result: DiffResult, notes: Vec<String>) -> Entry {
    let place = |file: &str| Some(Place { file: file.into(), location: String::new(), line: 0 });
    Entry {
        name: cfg.new_label.clone(),
        path: cfg.new_label.clone(),
        location: String::new(),
        change: Change::Changed,
        old: place(&cfg.old_label),
        new: place(&cfg.new_label),
        key: (!cfg.key_arn.is_empty()).then(|| cfg.key_arn.clone()),
        outcome: Outcome::Compared(result),
        notes,
        warnings: vec![],
    }
}

fn run_one(cfg: DiffConfig) -> i32 {
    // --timeout-ms is the budget of the whole comparison (reading the files, both
    // directions, every query, and the work around Z3), from the process's start: past
    // it, the verdict is `unknown`.
    let whole = std::time::Duration::from_millis(u64::from(cfg.opts.limits.timeout_ms));
    let opts = DiffOptions { limits: cfg.opts.limits.budget_from(super::started(), whole), ..cfg.opts };
    let result = match compare(&cfg.old, &cfg.new, &cfg.key_arn, opts) {
        Ok(r) => r,
        Err(mismatch) => return internal_error(&mismatch),
    };
    let key = (!cfg.key_arn.is_empty()).then_some(cfg.key_arn.as_str());
    let (old_scope, new_scope) = &cfg.scopes;
    let mut notes: Vec<String> = Vec::new();
    for (side, lines) in [("old", old_scope), ("new", new_scope)] {
        notes.extend(lines.iter().map(|line| format!("scope ({side}): {line}")));
    }
    if let Some(w) = &cfg.world {
        notes.push(format!("premise: {}", w.premise(IamWorld::DIFF_ASSUMES)));
    }
    if cfg.assumed_iam {
        notes.push("key policies compared alone: the caller's IAM policies are assumed to allow everything (the --old-/--new- set form compares exact contexts)".into());
    }
    let code = exit_code(&result, cfg.fail_on);
    if matches!(cfg.format, DiffFormat::Sarif | DiffFormat::Markdown) {
        let entries = [one_entry(&cfg, result, notes)];
        render(&entries, cfg.fail_on, cfg.format);
        exit::leave_to_the_os((cfg, entries));
        return code;
    }
    let json = || {
        let mut out = report::diff_json(&result, &cfg.old_label, &cfg.new_label, key);
        out["scope"] = serde_json::json!({"old": old_scope, "new": new_scope});
        if let Some(w) = &cfg.world {
            out["premises"] = serde_json::json!([w.premise(IamWorld::DIFF_ASSUMES)]);
        }
        out
    };
    match cfg.format {
        DiffFormat::Text => {
            out(&report::diff_text(&result, &cfg.old_label, &cfg.new_label, key));
            for line in &notes {
                let note = line.starts_with("key policies");
                outln(&if note { format!("note: {line}") } else { line.clone() });
            }
        }
        DiffFormat::Json => outln(&pretty(&json())),
        DiffFormat::Jsonl => outln(&json().to_string()),
        DiffFormat::Sarif | DiffFormat::Markdown => {}
    }
    exit::leave_to_the_os((cfg, result));
    code
}

/// 1 when a confirmed difference matches `--fail-on`, else 3 when undecided, else 0.
fn exit_code(r: &DiffResult, fail_on: FailOn) -> i32 {
    if fail_on.fails(r) {
        exit::FAILED
    } else if matches!(r.verdict, DiffVerdict::Unknown(_)) {
        exit::UNKNOWN
    } else {
        exit::OK
    }
}
