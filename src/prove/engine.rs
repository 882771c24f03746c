//! The one proof engine behind `check`, `diff`, audit and who-can: a question encoded
//! ([`Query`]), solved by Z3 on the partition encoding, every model decoded into a request
//! and replayed through the concrete evaluator. Whatever the command, a disagreement
//! between the two is the same bug ([`Mismatch`]), never a result.

/// The solver and the evaluator disagree on a request the encoding says is exact: a bug
/// in kmsproof, never a result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("internal error: {subject}: the model's request {request} was expected to be {expected} by the encoding, but the evaluator says: {got}")]
pub struct Mismatch {
    /// What was being proved (`property "…"`, `diff witness`, a who-can hop).
    pub subject: String,
    /// The decoded request, as JSON text.
    pub request: String,
    /// What the encoding says of it.
    pub expected: String,
    /// What the evaluator said instead.
    pub got: String,
}
