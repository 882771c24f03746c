//! The integration tests: one binary, one module per area.

mod cli;
mod fuzz;
mod seeds;
mod util;
