//! The integration tests: one binary, one module per area.

mod audit;
mod check;
mod cli;
mod diff_cli;
mod differential;
mod finite;
mod fuzz;
mod fuzz_bytes;
mod issue18_grants;
mod layout;
mod realism;
mod robust;
mod seeds;
mod soundness_regressions;
mod util;
mod whocan;
mod whocan_differential;
mod whocan_groups;
mod whocan_kms_differential;
mod whocan_managed;
mod whocan_never_wrongly_cannot;
mod whocan_rewrites_differential;
