//! `kmsproof eval`: one request decided exactly, with the statements that decided it.

use super::{bad_input, exit, pretty, warnings, Format, InputArgs};
use crate::model::load::load_request;
use crate::{authorize, report};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    #[command(flatten)]
    inputs: InputArgs,
    /// The request (`-` for standard input).
    #[arg(long, value_name = "FILE")]
    request: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

pub fn run(args: &EvalArgs) -> i32 {
    let inputs = match args.inputs.load(&[&args.request]) {
        Ok(i) => i,
        Err(code) => return code,
    };
    let request = match load_request(&args.request) {
        Ok(r) => r,
        Err(e) => return bad_input(&e),
    };
    let decision = authorize(&inputs, &request);
    match args.format {
        Format::Text => print!("{}", report::decision_text(&decision, &request)),
        Format::Json => println!("{}", pretty(&report::decision_json(&decision, &request, &warnings(&inputs)))),
    }
    exit::OK
}
