//! The `kmsproof` command line.

mod cli;
mod diff_cli;

fn main() {
    std::process::exit(cli::run());
}
