//! `kmsproof who-can` / `can`: who in an account (and beyond it) can use a key, and by
//! which path. The account dumps become a graph (`graph`) whose edges (`edges`) are each
//! decided by Z3 with a replayed witness (`hop`); the last hop is the key's full KMS
//! authorization (`kms`), asked through `check`.

pub mod document;
pub mod domain;
pub mod edges;
pub mod export;
pub mod federated;
pub mod gaad;
pub mod graph;
pub mod hop;
pub mod keys;
pub mod kms;
pub mod preselect;
pub mod rewrites;
pub mod service;

pub use domain::{Options, Status};
pub use graph::{analyse, Analysis};
