//! The integration tests: one binary, one module per area.

mod check;
mod cli;
mod differential;
mod fuzz;
mod seeds;
mod util;
