//! `audit --format html` (and the shared page head of `findings --format html`): one static, self-contained page (inline CSS, no script, no
//! external resource) with the summary, the findings grouped by file, each counterexample
//! request and the statements involved, and the suppressed findings with their reasons.
//! Everything taken from the input is HTML-escaped.

use super::audit::{place, Report};
use crate::audit::checks::info;
use crate::audit::{Finding, SEVERITIES};
use std::fmt::Write;

/// `&`, `<`, `>`, `"` and `'` as entities: safe in text and in quoted attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#1b1f24;max-width:1100px}\
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px;font-family:monospace;word-break:break-all}\
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #d0d7de;padding:3px 8px;text-align:left}\
.finding{border:1px solid #d0d7de;border-left:5px solid #888;border-radius:4px;padding:8px 12px;margin:10px 0}\
.critical{border-left-color:#8b0000}.high{border-left-color:#d1242f}.medium{border-left-color:#bf8700}\
.low{border-left-color:#0969da}.info{border-left-color:#8c959f}\
.sev{font-weight:600;text-transform:uppercase;font-size:12px}.where{color:#57606a;font-family:monospace}\
pre{background:#f6f8fa;padding:6px 8px;overflow-x:auto;margin:4px 0;font-size:12px}\
.fix{color:#1a7f37}.muted{color:#57606a}";

/// The page.
pub fn html_report(r: &Report) -> String {
    let mut out = page_head("kmsproof audit");
    summary(r, &mut out);
    // Most severe first; within a severity, in the report's (file, position) order.
    let mut sorted: Vec<&Finding> = r.shown.clone();
    sorted.sort_by_key(|f| std::cmp::Reverse(f.severity));
    index(&sorted, &mut out);
    out.push_str("<section id=\"findings\">\n");
    for (i, f) in sorted.iter().enumerate() {
        let _ = write!(out, "<a id=\"f{}\"></a>", i + 1);
        finding(f, None, &mut out);
    }
    out.push_str("</section>\n");
    if !r.suppressed.is_empty() {
        let _ = writeln!(out, "<section id=\"suppressed\"><h2>Suppressed ({})</h2>", r.suppressed.len());
        for s in &r.suppressed {
            let why = format!("{} ({})", s.why.reason, s.why.by);
            finding(s.finding, Some(&why), &mut out);
        }
        out.push_str("</section>\n");
    }
    out.push_str("</body></html>\n");
    out
}

/// The page's start, up to and with its header: the title, then kmsproof's version and when
/// the page was made. Every HTML report starts so (`audit`, `findings`).
pub fn page_head(title: &str) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{0}</title><style>{STYLE}</style></head><body>\n<h1>{0}</h1>\n",
        escape(title)
    );
    let _ = writeln!(
        out,
        "<p class=\"muted\" id=\"generated\">kmsproof {} · {}</p>",
        env!("CARGO_PKG_VERSION"),
        escape(&generated_at())
    );
    out
}

/// The findings' list in the summary, each linking to its finding.
fn index(sorted: &[&Finding], out: &mut String) {
    if sorted.is_empty() {
        return;
    }
    out.push_str("<ol id=\"index\">\n");
    for (i, f) in sorted.iter().enumerate() {
        let _ = writeln!(
            out,
            "<li><a href=\"#f{}\">{} {} {}</a></li>",
            i + 1,
            f.severity.as_str(),
            f.check,
            escape(&place(f))
        );
    }
    out.push_str("</ol>\n");
}

/// When the page was made (UTC), or `SOURCE_DATE_EPOCH` for reproducible pages.
fn generated_at() -> String {
    let secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .or_else(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok().map(|d| d.as_secs()))
        .unwrap_or(0);
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = crate::base::value::civil_from_days(days as i64);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02} UTC", rest / 3600, rest % 3600 / 60)
}

fn summary(r: &Report, out: &mut String) {
    let kinds = |k: &str| r.docs.iter().filter(|d| d.kind == k).count();
    let _ = writeln!(
        out,
        "<p id=\"summary\">{} documents audited ({} key policies, {} identity policies, {} unreadable, {} skipped); <b>{} findings</b>, {} suppressed, {} in the baseline.</p>",
        r.docs.len(),
        kinds("key-policy"),
        kinds("identity-policy"),
        kinds("unreadable"),
        kinds("skipped"),
        r.shown.len(),
        r.suppressed.len(),
        r.baselined
    );
    if r.shown.is_empty() {
        return;
    }
    out.push_str("<table><tr><th>check</th><th>title</th>");
    for (_, name) in SEVERITIES.iter().rev() {
        let _ = write!(out, "<th>{name}</th>");
    }
    out.push_str("</tr>\n");
    let mut checks: Vec<&str> = r.shown.iter().map(|f| f.check).collect();
    checks.sort_unstable();
    checks.dedup();
    for c in checks {
        let _ = write!(out, "<tr><td>{c}</td><td>{}</td>", escape(info(c).title));
        for (sev, _) in SEVERITIES.iter().rev() {
            let n = r.shown.iter().filter(|f| f.check == c && f.severity == *sev).count();
            let _ = write!(out, "<td>{}</td>", if n == 0 { String::new() } else { n.to_string() });
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
}

fn finding(f: &Finding, suppressed: Option<&str>, out: &mut String) {
    let sev = f.severity.as_str();
    let _ = write!(
        out,
        "<div class=\"finding {sev}\"><span class=\"sev\">{sev}</span> <b>{}</b> {}<div class=\"where\">{}{}</div><p>{}</p>",
        f.check,
        escape(info(f.check).title),
        escape(&place(f)),
        if f.location.is_empty() { String::new() } else { format!(" [{}]", escape(&f.location)) },
        escape(&f.message)
    );
    if let Some(why) = suppressed {
        let _ = write!(out, "<p class=\"muted\">suppressed: {}</p>", escape(why));
    }
    if let Some(c) = &f.counterexample {
        let text = serde_json::to_string_pretty(c).unwrap_or_default();
        let _ = write!(
            out,
            "<div>Counterexample request (replayed, allowed):</div><pre class=\"request\">{}</pre>",
            escape(&text)
        );
    }
    if !f.path.is_empty() {
        let text = super::audit::path_text(f, "");
        let _ = write!(
            out,
            "<div>Who-can path (each hop decided by Z3, its requests replayed):</div><pre class=\"request\">{}</pre>",
            escape(&text)
        );
    }
    for s in f.statements.iter().filter(|s| !s.source.is_empty()) {
        let label = match &s.sid {
            Some(sid) if !sid.is_empty() => format!("\"{sid}\""),
            _ => format!("Statement[{}]", s.index),
        };
        let _ =
            write!(out, "<div>Statement {}:</div><pre class=\"statement\">{}</pre>", escape(&label), escape(&s.source));
    }
    let _ = writeln!(out, "<p class=\"fix\">Fix: {}</p></div>", escape(info(f.check).fix));
}
