//! The `kmsproof` command line: the clap root only. Each command's flags, validation and
//! run live in `kmsproof::cli::<command>`.

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use kmsproof::cli::{self, exit};

#[derive(Parser, Debug)]
#[command(name = "kmsproof", version, about = "Proves things about AWS KMS key policies, IAM policies and grants")]
struct Cli {
    /// Which procedure decides each query: `auto` (an exhaustive search over the partitions
    /// where it finishes, Z3 for the rest), `z3` (Z3 for every query) or `both` (both on
    /// every query, any difference an internal error). Default: auto, or KMSPROOF_FINITE.
    #[arg(long, global = true, value_enum)]
    decider: Option<cli::Decider>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Decide one request exactly as AWS KMS would, and explain the decision.
    Eval(cli::eval::EvalArgs),
    /// Prove or refute properties of a key policy (with IAM policies, grants, guardrails).
    Check(cli::check::CheckArgs),
    /// Compare two policies (or two authorization contexts): equivalent, more or less
    /// permissive, or incomparable, with replayed requests that show each difference.
    Diff(cli::diff::DiffArgs),
    /// Audit many key and IAM policies with the built-in checks (table, JSON, JSON lines, SARIF, HTML).
    Audit(cli::audit::AuditArgs),
    /// Explain an audit check: why it matters, a policy that fails it, one that passes, the fix.
    Explain(cli::explain::ExplainArgs),
    /// Everything the inputs allow on a key, as a few findings (principal class × actions ×
    /// remaining conditions), each with a replayed request; it is proved that they cover it all.
    Findings(cli::findings::FindingsArgs),
    /// Who can call a KMS action on a key, and by which path (account dumps, proved hop by hop).
    WhoCan(cli::whocan::WhoCanArgs),
    /// Whether one principal can call a KMS action on a key, with its path.
    Can(cli::whocan::CanArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(cli::generate::CompletionsArgs),
    /// Print the man page (roff), every command included: `kmsproof man > kmsproof.1`.
    Man(cli::generate::ManArgs),
}

/// The clap tree with the version line `kmsproof --version` prints: kmsproof's own and the
/// Z3 it runs (an answer can depend on the Z3 release, so a bug report needs both).
fn command() -> clap::Command {
    let version = format!("{} ({})", env!("CARGO_PKG_VERSION"), kmsproof_solver::z3_version());
    Cli::command().version(version)
}

fn main() {
    // The work budgets of check and diff start here, before any file is read.
    cli::start_clock();
    let cli = match command().try_get_matches().and_then(|m| Cli::from_arg_matches(&m)) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { exit::BAD_INPUT } else { exit::OK };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    if let Some(d) = cli.decider {
        cli::use_decider(d);
    }
    std::process::exit(match cli.command {
        Command::Eval(args) => cli::eval::run(&args),
        Command::Check(args) => cli::check::run(&args),
        Command::Diff(args) => cli::diff::run(&args),
        Command::Audit(args) => cli::audit::run(&args),
        Command::Explain(args) => cli::explain::run(&args),
        Command::Findings(args) => cli::findings::run(&args),
        Command::WhoCan(args) => cli::whocan::who_can(&args),
        Command::Can(args) => cli::whocan::can(&args),
        Command::Completions(args) => cli::generate::completions(&args, command()),
        Command::Man(args) => cli::generate::man(&args, command()),
    });
}
