//! kmsproof: exact reasoning about AWS KMS key policies, IAM policies and grants.
//!
//! One folder per layer; every arrow points down (see `docs/architecture.md`):
//!
//! `cli` → `report` → `diffset` → commands (`audit`, `whocan`) → `prove` → `encode` → `eval` → `model`
//! → `facts` → `base`. Data flows one way: parse (`model`) → encode → solve (in
//! `kmsproof-solver`) → decode → replay (`eval`) → report.

pub mod audit;
pub mod base;
pub mod cli;
pub mod diffset;
pub mod encode;
pub mod eval;
pub mod facts;
pub mod findings;
pub mod model;
pub mod prove;
pub mod report;
pub mod whocan;

pub use base::diag::{Diagnostic, Error, Severity};
pub use eval::{authorize, Decision, Reason};
pub use model::inputs::Inputs;
pub use model::policy::{parse_policy, Policy, PolicyKind};
pub use model::request::Request;
