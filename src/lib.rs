//! kmsproof: exact reasoning about AWS KMS key policies, IAM policies and grants.
//!
//! Data flows one way: `policy` (parse, with positions) → `eval` (concrete decisions);
//! the symbolic engine (in `kmsproof-solver`) will sit beside `eval` and replay every
//! counterexample through it.

pub mod audit;
pub mod binding;
pub mod catalog;
pub mod diag;
pub mod diff;
pub mod diff_prune;
pub mod encode;
pub mod eval;
pub mod grant;
pub mod invariants;
pub mod json;
pub mod kms_rules;
pub mod load;
pub mod pattern;
pub mod policy;
pub mod query;
pub mod readings;
pub mod report;
pub mod request;
pub mod value;
pub mod whocan;

pub use diag::{Diagnostic, Error, Severity};
pub use eval::{authorize, Decision, Inputs, Reason};
pub use policy::{parse_policy, Policy, PolicyKind};
pub use request::Request;
