//! The proof engine: properties (`check`) and comparisons (`diff`), each question encoded,
//! solved by Z3, and every model decoded and replayed through the evaluator.

pub mod check;
pub mod diff;
pub mod engine;
pub mod reduce;

pub use engine::Mismatch;
