//! The bottom layer: JSON with positions, diagnostics, typed values, wildcard patterns.
//! Knows nothing about AWS policies.

pub mod arn;
pub mod budget;
pub mod diag;
pub mod json;
pub mod pattern;
pub mod suggest;
pub mod value;
