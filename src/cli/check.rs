//! `kmsproof check`: properties proved or refuted, flags → validated configuration → run.

use super::{bad_input, cli_error, exit, internal_error, out, outln, pretty, Format, InputArgs};
use crate::base::diag::Error;
use crate::model::inputs::{IamWorld, Inputs, KeyFacts};
use crate::model::load::read_source;
use crate::model::property::{parse_properties, properties_from_value, Property};
use crate::prove::check::Verdict;
use crate::report;
use kmsproof_solver::Limits;
use serde_json::json;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
#[command(group = clap::ArgGroup::new("inline").args(["never", "always", "sometimes"]).multiple(false))]
pub struct CheckArgs {
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
    /// The accounts whose callers the --identity-policy files describe (repeatable; default:
    /// the key's account). Every other account's callers hold identity policies not given.
    #[arg(long = "identity-account", value_name = "ACCOUNT")]
    identity_accounts: Vec<String>,
    /// Today's closed-world reading: callers hold only the identity policies given.
    #[arg(long)]
    closed_world: bool,
    /// The key's spec (e.g. SYMMETRIC_DEFAULT, RSA_2048): a fact of the key, not of the request.
    #[arg(long, value_name = "SPEC")]
    key_spec: Option<String>,
    /// The key's usage (ENCRYPT_DECRYPT, SIGN_VERIFY, GENERATE_VERIFY_MAC, KEY_AGREEMENT).
    #[arg(long, value_name = "USAGE")]
    key_usage: Option<String>,
    /// `aws kms describe-key` output: the key's ARN, spec, usage, origin and multi-Region type.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["key_spec", "key_usage"])]
    key_metadata: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// `check`, after its flags are turned into a validated configuration.
struct CheckConfig {
    inputs: Inputs,
    world: IamWorld,
    properties: Vec<Property>,
    key_arn: String,
    examples: usize,
    limits: Limits,
    format: Format,
}

impl CheckArgs {
    fn config(&self) -> Result<CheckConfig, i32> {
        let others: Vec<&PathBuf> = self.properties.iter().collect();
        let mut properties = match &self.properties {
            Some(path) => read_source(path).and_then(|(text, label)| parse_properties(&text, &label)),
            None => self.inline_property().and_then(|doc| properties_from_value(&doc, "<command line>")),
        }
        .map_err(|e| bad_input(&e))?;
        // Each property has --timeout-ms; the command as a whole, files read and parsed
        // included, ends by the sum of them counted from the process's start.
        let whole = std::time::Duration::from_millis(u64::from(self.timeout_ms) * properties.len() as u64);
        crate::base::budget::set_reading_deadline(super::started() + whole);
        let inputs = self.inputs.load(&others)?;
        let facts = self.key_facts()?;
        with_key_facts(&mut properties, &facts).map_err(|e| bad_input(&e))?;
        let key_arn = self
            .key_arn
            .clone()
            .or(facts.arn)
            .or_else(|| inputs.default_key_arn())
            .unwrap_or_else(super::placeholder_key);
        if !crate::base::arn::is_key_arn(&key_arn) {
            say!("error: --key-arn {key_arn:?} is not a KMS key ARN (expected arn:aws:kms:REGION:ACCOUNT:key/ID)");
            return Err(exit::BAD_INPUT);
        }
        if self.examples == 0 {
            say!("error: --examples must be at least 1");
            return Err(exit::BAD_INPUT);
        }
        let limits = Limits { timeout_ms: self.timeout_ms, ..Limits::default() }.budget_from(super::started(), whole);
        let world = self.world(&key_arn)?;
        Ok(CheckConfig { inputs, world, properties, key_arn, examples: self.examples, limits, format: self.format })
    }

    /// The facts of the key the flags give (see [`KeyFacts`]).
    fn key_facts(&self) -> Result<KeyFacts, i32> {
        let facts = match &self.key_metadata {
            Some(path) => {
                let (text, label) = read_source(path).map_err(|e| bad_input(&e))?;
                let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                    say!("{label}: error: not JSON: {e}");
                    exit::BAD_INPUT
                })?;
                KeyFacts::from_describe_key(&v).map_err(|e| {
                    say!("{label}: error: {e}");
                    exit::BAD_INPUT
                })?
            }
            None => KeyFacts { spec: self.key_spec.clone(), usage: self.key_usage.clone(), ..KeyFacts::default() }
                .validated()
                .map_err(|e| {
                    say!("error: {e}");
                    exit::BAD_INPUT
                })?,
        };
        Ok(facts)
    }

    /// Whose identity policies are given (see [`IamWorld`]).
    fn world(&self, key_arn: &str) -> Result<IamWorld, i32> {
        super::iam_world(self.closed_world, &self.identity_accounts, crate::base::arn::account_of(key_arn))
    }

    /// The inline form as a property document, e.g. `--never kms:Decrypt --where
    /// 'StringNotLike kms:ViaService ec2.*.amazonaws.com'`.
    fn inline_property(&self) -> Result<serde_json::Value, Error> {
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
        Ok(
            json!({"name": name.trim(), "expect": expect, "principal": principal, "action": actions, "condition": condition}),
        )
    }
}

/// Every property meets the key's facts: a `…IfExists` condition on each fact key (exact:
/// the evaluator replays the property's shape with it, and the encoder reads it as any
/// condition).
fn with_key_facts(properties: &mut [Property], facts: &KeyFacts) -> Result<(), Error> {
    let block = facts.condition();
    if block.is_empty() {
        return Ok(());
    }
    let doc = json!({"name": "key facts", "expect": "never", "action": "kms:*",
                     "condition": {"StringEqualsIfExists": block}});
    let shape = properties_from_value(&doc, "<key facts>")?.remove(0).shape;
    for p in properties {
        p.shape.conditions.extend(shape.conditions.iter().cloned());
    }
    Ok(())
}

/// Each property under the worst case of the unknown identity policies for it: `always`
/// properties with them denying, the others with them allowing; results in file order.
fn check_in_world(cfg: &CheckConfig) -> Result<Vec<crate::prove::check::CheckResult>, crate::prove::Mismatch> {
    use crate::model::property::Expect;
    let mut results: Vec<Option<crate::prove::check::CheckResult>> = cfg.properties.iter().map(|_| None).collect();
    for allow in [true, false] {
        let (idx, props): (Vec<usize>, Vec<Property>) = cfg
            .properties
            .iter()
            .enumerate()
            .filter(|(_, p)| (p.expect != Expect::Always) == allow)
            .map(|(i, p)| (i, p.clone()))
            .unzip();
        if props.is_empty() {
            continue;
        }
        let inputs = cfg.world.inputs(&cfg.inputs, allow);
        let got = crate::prove::check::check(&inputs, &cfg.key_arn, &props, cfg.examples, cfg.limits)?;
        for (i, r) in idx.into_iter().zip(got) {
            results[i] = Some(r);
        }
    }
    Ok(results.into_iter().flatten().collect())
}

pub fn run(args: &CheckArgs) -> i32 {
    let cfg = match args.config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let results = match check_in_world(&cfg) {
        Ok(r) => r,
        Err(mismatch) => return internal_error(&mismatch),
    };
    let scope = crate::model::binding::scope(&cfg.inputs);
    let premise = cfg.world.premise(IamWorld::CHECK_ASSUMES);
    match cfg.format {
        Format::Text => {
            for line in &scope {
                outln(&format!("scope: {line}"));
            }
            outln(&format!("premise: {premise}"));
            out(&report::check_text(&results));
        }
        Format::Json => {
            let mut out = report::check_json(&results, &cfg.key_arn);
            out["scope"] = serde_json::json!(scope);
            out["premises"] = serde_json::json!([premise]);
            outln(&pretty(&out));
        }
    }
    let violated = results.iter().any(|r| matches!(r.verdict, Verdict::Violated));
    let unknown = results.iter().any(|r| matches!(r.verdict, Verdict::Unknown(_)));
    let code = if violated {
        exit::FAILED
    } else if unknown {
        exit::UNKNOWN
    } else {
        exit::OK
    };
    exit::leave_to_the_os((cfg, results));
    code
}
