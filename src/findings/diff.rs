//! Two versions of an authorization context compared by their findings (issue 24, item 5):
//! the findings NEW adds — each with a replayed request NEW allows and OLD denies — the
//! findings OLD loses (the same, the other way), and the findings whose summary alone
//! changed (Z3 proved every request of them allowed by the other version too). IAM Access
//! Analyzer's `CheckNoNewAccess`, with the findings and their requests.

use super::search::{findings_against, open_world};
use super::{Beyond, Completeness, Example, Finding, Findings, Settings};
use crate::eval::authorize;
use crate::model::inputs::Inputs;
use crate::prove::Mismatch;

/// What changed about one finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// NEW allows a request of it that OLD denies (NEW's finding).
    Added,
    /// OLD allows a request of it that NEW denies (OLD's finding).
    Lost,
    /// Its summary is in one version only, yet the other allows every request of it (Z3
    /// unsat): the access is the same, the findings cut it differently.
    Reworded,
    /// Whether the other version allows all of it was not decided, with why.
    Undecided(String),
}

/// One listed change.
#[derive(Debug, Clone)]
pub struct Entry {
    pub change: Change,
    /// `true`: NEW's finding; `false`: OLD's.
    pub in_new: bool,
    pub finding: Finding,
    /// Added / lost: a request this version allows and the other denies (replayed through
    /// the evaluator on both). Reworded: one of the finding's requests, allowed by both.
    pub example: Option<Example>,
    /// Whether the other version has a finding with the same summary (then an added or lost
    /// entry says the same words now cover more, or fewer, requests).
    pub same_summary_in_other: bool,
    /// Summary only: the other version's finding its example request lies in (an index into
    /// the other version's findings) — the request that tells the two summaries apart.
    pub in_other: Option<usize>,
}

/// The comparison.
#[derive(Debug, Clone)]
pub struct FindingsDiff {
    pub old: Findings,
    pub new: Findings,
    pub entries: Vec<Entry>,
}

/// How a comparison ends, as `CheckNoNewAccess` reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// NEW allows nothing OLD denies: proved (every finding of NEW, complete, asked).
    NoNewAccess,
    /// NEW allows a request OLD denies (replayed).
    NewAccess,
    /// Not decided, with why.
    Unknown(String),
}

impl FindingsDiff {
    pub fn verdict(&self) -> Verdict {
        if self.entries.iter().any(|e| e.change == Change::Added) {
            return Verdict::NewAccess;
        }
        if let Completeness::Unknown(why) = &self.new.complete {
            return Verdict::Unknown(format!("NEW's findings are not proved complete: {why}"));
        }
        match self.entries.iter().find_map(|e| match &e.change {
            Change::Undecided(why) if e.in_new => Some(why.clone()),
            _ => None,
        }) {
            Some(why) => Verdict::Unknown(why),
            None => Verdict::NoNewAccess,
        }
    }
}

/// The findings of OLD and NEW, each finding asked for a request the other version denies.
pub fn diff(old: &Inputs, new: &Inputs, key_arn: &str, settings: &Settings) -> Result<FindingsDiff, Mismatch> {
    let old_f = findings_against(old, Some(new), key_arn, settings)?;
    let new_f = findings_against(new, Some(old), key_arn, settings)?;
    let (old_open, new_open) = (open_world(old, &settings.world).0, open_world(new, &settings.world).0);
    let mut entries = changes(&new_f, (&old_f, old), true, &old_open);
    entries.extend(changes(&old_f, (&new_f, new), false, &new_open));
    Ok(FindingsDiff { old: old_f, new: new_f, entries })
}

/// The changes of `mine`'s findings against `other`'s (whose open-world inputs are `other_open`).
fn changes(
    mine: &Findings,
    (other, other_given): (&Findings, &Inputs),
    in_new: bool,
    other_open: &Inputs,
) -> Vec<Entry> {
    let mut out = vec![];
    for f in &mine.findings {
        let same = other.findings.iter().any(|g| g.summary_key() == f.summary_key());
        let (change, example) = match &f.beyond {
            Some(Beyond::Example(ex)) => (if in_new { Change::Added } else { Change::Lost }, Some(ex.clone())),
            Some(Beyond::Unknown(why)) => (Change::Undecided(why.clone()), None),
            Some(Beyond::Nothing) if !same => (Change::Reworded, reworded_example(f, other_open)),
            _ => continue,
        };
        let in_other = match (&change, &example) {
            (Change::Reworded, Some(ex)) => covering(other, other_given, &ex.request),
            _ => None,
        };
        out.push(Entry { change, in_new, finding: f.clone(), example, same_summary_in_other: same, in_other });
    }
    out
}

/// A request of a reworded finding that the other version allows too (evaluated again:
/// Z3 proved it, the evaluator shows it).
fn reworded_example(f: &Finding, other_open: &Inputs) -> Option<Example> {
    f.examples
        .iter()
        .find(|ex| {
            crate::model::request::Request::parse(&ex.request.to_string(), "<finding example>")
                .is_ok_and(|req| authorize(other_open, &req).allowed())
        })
        .cloned()
}

/// The finding of `r` (the findings of `given`) a request lies in: the first principal class
/// it matches, an action of the finding's groups, every remaining condition met, and
/// allowed or not by the policies given as the finding says.
fn covering(r: &Findings, given: &Inputs, request: &serde_json::Value) -> Option<usize> {
    use crate::eval::{match_statement, Match};
    let req = crate::model::request::Request::parse(&request.to_string(), "<finding example>").ok()?;
    let req = given.resolve(&req);
    let account = crate::base::arn::account_of(&r.key_arn).unwrap_or_default();
    let classes = super::classes::classes(given, account);
    let applies = |s: &crate::model::policy::Statement| matches!(match_statement(s, &req), Match::Applies { .. });
    let class = classes.iter().find(|c| applies(&c.shape))?;
    let by_given = authorize(given, &req).allowed();
    r.findings.iter().position(|f| {
        f.principal == class.label
            && f.needs_iam != by_given
            && f.groups.iter().any(|(g, actions)| match g {
                Some(_) => actions.iter().any(|a| *a == req.action),
                None => crate::facts::action_groups::group_of(&req.action).is_none(),
            })
            && f.restrictions.iter().all(applies)
    })
}
