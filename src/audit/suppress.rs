//! Suppressions: an ignore file (`--ignore-file`, or `.kmsproof-ignore` in the working
//! directory) and inline markers in a statement's `Sid`. A suppressed finding leaves the
//! findings (and the exit code) but is always listed with its reason: nothing is dropped
//! silently.
//!
//! Ignore file, one rule a line (`#` starts a comment):
//!
//! ```text
//! CHECK  PATH-GLOB  [sid=SID]  -- REASON
//! KMS004 corpus/legacy/*.json -- reviewed in SEC-123: grants only for EBS
//! KMS007 *.json sid=TagOnCreate -- AWS's tag pattern; no tags is fine
//! ```
//!
//! `CHECK` is a check id or `*`; `PATH-GLOB` matches the file as the audit names it (`*`
//! any run of characters, `/` included; `?` one character); `sid=` (optional) limits the
//! rule to findings about a statement with that `Sid` (everything up to ` -- `); the reason
//! after ` -- ` is required.
//!
//! Inline: a statement whose `Sid` contains `kmsproof-ignore-KMS004` (compared ignoring
//! case and any character but letters and digits, so IAM's letters-and-digits Sids can say
//! `KmsproofIgnoreKMS004`) suppresses that check's findings about the statement.

use super::err::{IgnoreFileError, IgnoreProblem};
use super::Finding;
use crate::base::pattern::{glob_match, glob_tokens};

/// The default ignore file, read from the working directory when present.
pub const DEFAULT_IGNORE_FILE: &str = ".kmsproof-ignore";

/// One rule of an ignore file.
#[derive(Debug, Clone, PartialEq)]
pub struct IgnoreRule {
    /// A check id, or `*` for every check.
    pub check: String,
    pub path: String,
    pub sid: Option<String>,
    pub reason: String,
    /// `FILE:LINE` of the rule, for the output.
    pub origin: String,
}

/// Why a finding is not among the findings.
#[derive(Debug, Clone, PartialEq)]
pub struct Suppression {
    pub reason: String,
    /// `FILE:LINE` of the ignore rule, or `inline Sid marker`.
    pub by: String,
    /// `inline` or `ignore-file` (SARIF `suppressions[].kind` is `inSource` / `external`).
    pub kind: &'static str,
}

/// Reads an ignore file; errors name the file and line.
pub fn parse_ignore_file(text: &str, file: &str) -> Result<Vec<IgnoreRule>, IgnoreFileError> {
    let mut rules = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let origin = format!("{file}:{}", n + 1);
        let bad = |problem| IgnoreFileError { origin: origin.clone(), problem };
        let (head, reason) = line.split_once(" -- ").ok_or_else(|| bad(IgnoreProblem::NoReason))?;
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(bad(IgnoreProblem::EmptyReason));
        }
        let (fields, sid) = match head.split_once(" sid=") {
            Some((f, s)) if !s.trim().is_empty() => (f, Some(s.trim().to_string())),
            Some(_) => return Err(bad(IgnoreProblem::EmptySid)),
            None => (head, None),
        };
        let mut parts = fields.split_whitespace();
        let (Some(check), Some(path), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad(IgnoreProblem::Fields));
        };
        let known = check == "*" || super::checks::CHECKS.iter().any(|c| c.id.eq_ignore_ascii_case(check));
        if !known {
            return Err(bad(IgnoreProblem::UnknownCheck(check.to_string())));
        }
        rules.push(IgnoreRule {
            check: check.to_ascii_uppercase(),
            path: path.to_string(),
            sid,
            reason: reason.to_string(),
            origin,
        });
    }
    Ok(rules)
}

impl IgnoreRule {
    fn matches(&self, f: &Finding) -> bool {
        let file = f.file.strip_prefix("./").unwrap_or(&f.file).replace('\\', "/");
        let path = self.path.strip_prefix("./").unwrap_or(&self.path);
        (self.check == "*" || self.check.eq_ignore_ascii_case(f.check))
            && glob_match(&glob_tokens(path), &file)
            && self.sid.as_ref().is_none_or(|sid| f.statements.iter().any(|s| s.sid.as_deref() == Some(sid.as_str())))
    }
}

/// Letters and digits only, lower case: how Sid markers are compared.
fn squeeze(s: &str) -> String {
    s.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect()
}

/// The inline marker of a finding's statements, if one names its check.
fn inline(f: &Finding) -> Option<Suppression> {
    let marker = format!("kmsproofignore{}", squeeze(f.check));
    let sid = f.statements.iter().filter_map(|s| s.sid.as_deref()).find(|sid| squeeze(sid).contains(&marker))?;
    Some(Suppression { reason: format!("Sid \"{sid}\""), by: "inline Sid marker".into(), kind: "inline" })
}

/// Why `f` is suppressed, if it is: an inline marker first, then the first matching rule.
pub fn suppression(f: &Finding, rules: &[IgnoreRule]) -> Option<Suppression> {
    inline(f).or_else(|| {
        rules.iter().find(|r| r.matches(f)).map(|r| Suppression {
            reason: r.reason.clone(),
            by: r.origin.clone(),
            kind: "ignore-file",
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignore_file_lines_need_a_check_a_glob_and_a_reason() {
        let rules = parse_ignore_file(
            "# comment\n\nKMS004 corpus/*.json -- reviewed\n* a/b.json sid=Allow use of the key -- legacy key\n",
            ".kmsproof-ignore",
        )
        .unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[1].sid.as_deref(), Some("Allow use of the key"));
        assert_eq!(rules[1].origin, ".kmsproof-ignore:4");
        for bad in
            ["KMS004 corpus/*.json", "KMS004 corpus/*.json --  ", "KMS999 x -- r", "KMS004 -- r", "KMS004 a b -- r"]
        {
            let e = parse_ignore_file(bad, "f").unwrap_err().to_string();
            assert!(e.starts_with("f:1: error:"), "{bad}: {e}");
        }
    }

    #[test]
    fn markers_ignore_case_and_punctuation() {
        assert_eq!(squeeze("kmsproof-ignore-KMS004 legacy"), "kmsproofignorekms004legacy");
        assert!(squeeze("KmsproofIgnoreKMS004").contains("kmsproofignorekms004"));
    }
}
