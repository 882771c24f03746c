//! `kmsproof explain KMS004`: a check's rationale, a policy that gives the finding, one
//! that passes, and the fix — all from the check table ([`crate::audit::checks::CHECKS`]).

use super::{exit, out};
use crate::audit::checks::{CheckInfo, Scope, CHECKS};

#[derive(clap::Args, Debug)]
pub struct ExplainArgs {
    /// A check id (e.g. KMS004); without one, every check is listed.
    #[arg(value_name = "CHECK")]
    pub check: Option<String>,
}

fn scope_text(s: Scope) -> &'static str {
    match s {
        Scope::KeyPolicy => "key policies",
        Scope::Identity => "IAM policies",
        Scope::Both => "key policies and IAM policies",
        Scope::Audit => "reported by the audit itself",
        Scope::Account => "key policies, with account dumps (--authorization-details)",
    }
}

/// The text `explain ID` prints.
pub fn explain(c: &CheckInfo) -> String {
    let mut out = format!(
        "{} {} — {}\nseverity: {}; method: {}; applies to: {}\n\nWhy it matters:\n  {}\n\nFix:\n  {}\n",
        c.id,
        c.name,
        c.title,
        c.severity.as_str(),
        c.method,
        scope_text(c.scope),
        c.rationale,
        c.fix
    );
    let indent = |t: &str| t.trim_end().lines().map(|l| format!("  {l}\n")).collect::<String>();
    if let Some((file, text)) = c.example.fails {
        out.push_str(&format!("\nExample that gives this finding ({file}):\n{}", indent(text)));
    }
    if let Some((file, text)) = c.example.passes {
        out.push_str(&format!("\nExample that passes ({file}):\n{}", indent(text)));
    }
    if c.example.fails.is_some() {
        let dumps = match c.scope {
            Scope::Account => {
                format!(" --authorization-details corpus/audit/{}-account.json", c.id.to_ascii_lowercase())
            }
            _ => String::new(),
        };
        out.push_str(&format!("\nTry it: kmsproof audit --checks {}{dumps} FILE\n", c.id));
    }
    out
}

/// Every check, one line each.
pub fn list() -> String {
    let mut out = String::from("checks (kmsproof explain ID for one):\n");
    for c in CHECKS {
        out.push_str(&format!("  {}  {:<8} {}\n", c.id, c.severity.as_str(), c.title));
    }
    out
}

/// Runs `kmsproof explain`; returns the exit code.
pub fn run(args: &ExplainArgs) -> i32 {
    let Some(id) = &args.check else {
        out(&list());
        return exit::OK;
    };
    match CHECKS.iter().find(|c| c.id.eq_ignore_ascii_case(id.trim())) {
        Some(c) => {
            out(&explain(c));
            exit::OK
        }
        None => {
            let ids: Vec<&str> = CHECKS.iter().map(|c| c.id).collect();
            say!("error: unknown check {id:?}: expected one of {}", ids.join(", "));
            exit::BAD_INPUT
        }
    }
}
