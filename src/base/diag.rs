//! Diagnostics: every error and warning names its file, position and JSON path.

use crate::base::json::Pos;
use std::fmt;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

/// One finding about an input document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// The file (or `<stdin>`) the input came from.
    pub source: Arc<str>,
    pub pos: Pos,
    /// JSON path such as `Statement[2].Condition.StringEquals`.
    pub path: String,
    pub message: String,
    /// The document `pos` refers to, for [`Diagnostic::render`] (shared, so a document
    /// with thousands of warnings is not copied); `None` without one (command-line
    /// errors, unreadable files).
    pub document: Option<Arc<str>>,
}

/// How many characters of a line a snippet shows on each side of the value.
const WINDOW: usize = 80;

/// How many diagnostics of one input are shown: a generated file with 50,000 bad values
/// gets the first ones and a count, not 50,000 snippets (the first errors are the ones to
/// fix; the rest usually repeat them).
pub const SHOWN: usize = 50;

/// The first [`SHOWN`] of `diags` (by `line`: the one-line or the rendered form), then
/// "… and N more" when some were left out.
pub fn shown<'a>(diags: impl IntoIterator<Item = &'a Diagnostic>, line: impl Fn(&Diagnostic) -> String) -> Vec<String> {
    let diags: Vec<&Diagnostic> = diags.into_iter().collect();
    let mut out: Vec<String> = diags.iter().take(SHOWN).map(|d| line(d)).collect();
    if diags.len() > SHOWN {
        let rest = &diags[SHOWN..];
        let errors = rest.iter().filter(|d| d.severity == Severity::Error).count();
        out.push(format!("… and {} more ({errors} errors, {} warnings) not shown", rest.len(), rest.len() - errors));
    }
    out
}

/// One source line (or a window of it) and the byte range of the value a diagnostic points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet {
    pub line: String,
    pub span: std::ops::Range<usize>,
}

impl Snippet {
    /// The line of `pos` in `text`, the span covering the JSON token that starts there (a
    /// string to its closing quote, a number or word to its end, else one character).
    pub fn at(text: &str, pos: Pos) -> Option<Snippet> {
        let line = text.lines().nth(pos.line.checked_sub(1)?)?.trim_end_matches('\r');
        let start = byte_of_column(line, pos.col.checked_sub(1)?)?;
        // A long (minified) line is shown as a window around the value.
        let (line, start) = match line[..start].char_indices().rev().nth(WINDOW - 1) {
            Some((from, _)) => (&line[from..], start - from),
            None => (line, start),
        };
        let line = match line[start..].char_indices().nth(WINDOW) {
            Some((to, _)) => &line[..start + to],
            None => line,
        };
        let rest = &line[start..];
        let len = match rest.chars().next()? {
            '"' => {
                let mut escaped = false;
                let close = rest.char_indices().skip(1).find(|&(_, c)| {
                    let end = c == '"' && !escaped;
                    escaped = c == '\\' && !escaped;
                    end
                });
                close.map_or(rest.len(), |(i, _)| i + 1)
            }
            c if c == '-' || c.is_ascii_alphanumeric() => {
                rest.find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'))).unwrap_or(rest.len())
            }
            c => c.len_utf8(),
        };
        Some(Snippet { line: line.to_string(), span: start..start + len })
    }
}

/// The byte offset of character `col` (zero-based) of `line`: ASCII up to it (minified JSON,
/// the long lines) is one byte a character, checked at memory speed; otherwise counted.
fn byte_of_column(line: &str, col: usize) -> Option<usize> {
    if line.as_bytes().get(..col).is_some_and(<[u8]>::is_ascii) {
        return (col < line.len()).then_some(col);
    }
    line.char_indices().nth(col).map(|(i, _)| i)
}

impl Diagnostic {
    /// The diagnostic as a compiler prints it: the one-line form (which tools grep), then
    /// the offending line with a caret under the value, labelled with the suggestion when
    /// the message carries one ("did you mean kms:Encrypt?").
    pub fn render(&self) -> String {
        let Some(snippet) = self.document.as_deref().and_then(|t| Snippet::at(t, self.pos)) else {
            return self.to_string();
        };
        let level = match self.severity {
            Severity::Warning => annotate_snippets::Level::Warning,
            Severity::Error => annotate_snippets::Level::Error,
        };
        let label = suggestion(&self.message).unwrap_or_default();
        let message = level.title("").snippet(
            annotate_snippets::Snippet::source(&snippet.line)
                .line_start(self.pos.line)
                // Carets (the renderer draws a warning's span with dashes).
                .annotation(annotate_snippets::Level::Error.span(snippet.span.clone()).label(&label)),
        );
        let drawn = annotate_snippets::Renderer::plain().render(message).to_string();
        // The renderer's own title line gives way to the one-line form.
        let body = drawn.split_once('\n').map_or("", |(_, rest)| rest);
        format!("{self}\n{}", body.trim_end().trim_end_matches('|').trim_end())
    }
}

/// `did you mean X?`, when the message suggests a spelling.
fn suggestion(message: &str) -> Option<String> {
    let start = message.find("did you mean ")?;
    let end = message[start..].find('?')? + start + 1;
    Some(message[start..end].to_string())
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        match (self.source.is_empty(), self.pos.line) {
            (true, _) => write!(f, "{sev}")?,
            (false, 0) => write!(f, "{}: {sev}", self.source)?,
            (false, _) => write!(f, "{}:{}: {sev}", self.source, self.pos)?,
        }
        if !self.path.is_empty() {
            write!(f, ": at {}", self.path)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Collects diagnostics for one input file.
#[derive(Debug)]
pub struct Sink {
    pub source: Arc<str>,
    pub items: Vec<Diagnostic>,
    /// The document the positions refer to (set by [`Sink::document`] and [`Sink::retarget`]).
    text: Option<Arc<str>>,
}

impl Sink {
    pub fn new(source: &str) -> Sink {
        Sink { source: source.into(), items: Vec::new(), text: None }
    }

    /// Positions from now on refer to `text` (an embedded document), named `source`.
    pub fn retarget(&mut self, source: String, text: &str) {
        self.source = source.into();
        self.text = Some(text.into());
    }

    pub fn error(&mut self, pos: Pos, path: &str, message: impl Into<String>) {
        self.push(Severity::Error, pos, path, message.into());
    }

    pub fn warn(&mut self, pos: Pos, path: &str, message: impl Into<String>) {
        self.push(Severity::Warning, pos, path, message.into());
    }

    fn push(&mut self, severity: Severity, pos: Pos, path: &str, message: String) {
        let (source, document) = (self.source.clone(), self.text.clone());
        self.items.push(Diagnostic { severity, source, pos, path: path.to_string(), message, document });
    }

    /// Parses a whole input document; a syntax error becomes an `Error::Invalid` carrying
    /// everything collected so far.
    pub fn document(&mut self, text: &str) -> Result<crate::base::json::Json, Error> {
        self.text = Some(text.into());
        crate::base::json::parse(text).map_err(|e| {
            self.error(e.pos, "", e.message);
            Error::Invalid(std::mem::take(&mut self.items))
        })
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }
}

/// Errors of the `kmsproof` library: unreadable files and invalid documents.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{}", render(.0))]
    Invalid(Vec<Diagnostic>),
    /// The command's work budget ran out while reading `file` (see `base::budget`): an
    /// unknown answer, not bad input.
    #[error("the work budget ran out while reading {file}")]
    BudgetSpent { file: String },
}

fn render(diags: &[Diagnostic]) -> String {
    shown(diags.iter().filter(|d| d.severity == Severity::Error), Diagnostic::to_string).join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_like_a_compiler() {
        let text = "{\"Statement\": {\n  \"Action\": \"kms:Encrpyt\", \"Resource\": \"*\"}}";
        let mut sink = Sink::new("k.json");
        sink.document(text).unwrap();
        sink.warn(
            Pos { line: 2, col: 13 },
            "Statement.Action",
            "\"kms:Encrpyt\" matches no KMS action (did you mean kms:Encrypt?)",
        );
        sink.error(Pos { line: 2, col: 40 }, "Statement.Resource", "bad");
        let shown: Vec<String> = sink.items.iter().map(Diagnostic::render).collect();
        assert_eq!(
            shown[0],
            "k.json:2:13: warning: at Statement.Action: \"kms:Encrpyt\" matches no KMS action (did you mean kms:Encrypt?)\n  |\n2 |   \"Action\": \"kms:Encrpyt\", \"Resource\": \"*\"}}\n  |             ^^^^^^^^^^^^^ did you mean kms:Encrypt?"
        );
        assert!(shown[1].ends_with("\n  |                                        ^^^"), "{}", shown[1]);
        // The one-line form stays as tools grep it.
        assert_eq!(sink.items[1].to_string(), "k.json:2:40: error: at Statement.Resource: bad");
    }

    #[test]
    fn spans_cover_the_token() {
        let span = |line: &str, col| Snippet::at(line, Pos { line: 1, col }).map(|s| s.span);
        assert_eq!(span(r#"{"a": "x\"y", "b": -1.5e3, "c": true}"#, 7), Some(6..12));
        assert_eq!(span(r#"{"a": "x\"y", "b": -1.5e3, "c": true}"#, 20), Some(19..25));
        assert_eq!(span(r#"{"a": [1]}"#, 7), Some(6..7));
        assert_eq!(span(r#"{"a": "unterminated"#, 7), Some(6..19));
        assert_eq!(span("x", 5), None);
        let long = format!("{}\"v\"{}", " ".repeat(500), " ".repeat(500));
        let s = Snippet::at(&long, Pos { line: 1, col: 501 }).unwrap();
        assert_eq!((s.line.len(), &s.line[s.span.clone()]), (160, "\"v\""));
    }
}
