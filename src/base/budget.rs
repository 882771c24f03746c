//! The reading part of a command's work budget.
//!
//! `check` and `diff` promise an answer (`unknown` at worst) within `--timeout-ms` counted
//! from the process's start, and reading a huge input (a 15 MB policy parses in about a
//! second) is part of that work. The readers sit far below the commands and are shared by
//! every one of them, so the deadline is one process-wide value the command sets once,
//! before it reads anything; readers look at it between statements. Commands without a
//! budget never set it, and then nothing is ever out of budget.

use std::sync::OnceLock;
use std::time::Instant;

static READING_DEADLINE: OnceLock<Instant> = OnceLock::new();

/// Sets when reading input must have ended; the first call wins (one command a process).
pub fn set_reading_deadline(at: Instant) {
    let _ = READING_DEADLINE.set(at);
}

/// Whether the reading deadline has passed.
pub fn reading_spent() -> bool {
    READING_DEADLINE.get().is_some_and(|at| Instant::now() >= *at)
}
