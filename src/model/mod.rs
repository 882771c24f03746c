//! What the user gave, parsed and validated: policies, requests (with the invariants of
//! real requests), grants, principal bindings, and the loading of input files.

pub mod binding;
pub mod grant;
pub mod inputs;
pub mod invariants;
pub mod load;
pub mod policy;
pub mod property;
pub mod request;
