//! Diagnostics: every error and warning names its file, position and JSON path.

use crate::json::Pos;
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
}

impl Sink {
    pub fn new(source: &str) -> Sink {
        Sink { source: source.into(), items: Vec::new() }
    }

    pub fn error(&mut self, pos: Pos, path: &str, message: impl Into<String>) {
        self.push(Severity::Error, pos, path, message.into());
    }

    pub fn warn(&mut self, pos: Pos, path: &str, message: impl Into<String>) {
        self.push(Severity::Warning, pos, path, message.into());
    }

    fn push(&mut self, severity: Severity, pos: Pos, path: &str, message: String) {
        self.items.push(Diagnostic { severity, source: self.source.clone(), pos, path: path.to_string(), message });
    }

    /// Parses a whole input document; a syntax error becomes an `Error::Invalid` carrying
    /// everything collected so far.
    pub fn document(&mut self, text: &str) -> Result<crate::json::Json, Error> {
        crate::json::parse(text).map_err(|e| {
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
}

fn render(diags: &[Diagnostic]) -> String {
    let errors: Vec<String> = diags.iter().filter(|d| d.severity == Severity::Error).map(|d| d.to_string()).collect();
    errors.join("\n")
}
