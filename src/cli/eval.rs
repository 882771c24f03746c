//! `kmsproof eval`: one request decided exactly, with the statements that decided it.

use super::{bad_input, exit, out, outln, pretty, warnings, Format, InputArgs};
use crate::model::inputs::Inputs;
use crate::model::invariants::{always_sent_missing, named_ranges, service_address};
use crate::model::load::load_request;
use crate::model::request::Request;
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

/// `eval` after validation: the authorization context and the request, both loaded.
struct EvalConfig {
    inputs: Inputs,
    request: Request,
    format: Format,
}

impl EvalArgs {
    fn config(&self) -> Result<EvalConfig, i32> {
        let inputs = self.inputs.load(&[&self.request])?;
        let request = load_request(&self.request).map_err(|e| bad_input(&e))?;
        let ranges = named_ranges(inputs.policies().flat_map(|p| &p.statements));
        if let Some(broken) = service_address(&request, &ranges) {
            eprintln!("{}: error: at context: not a request AWS can send: {broken}", self.request.display());
            return Err(exit::BAD_INPUT);
        }
        for key in always_sent_missing(&request, inputs.policies().flat_map(|p| &p.statements)) {
            eprintln!(
                "{}: warning: at context: the policies test {key}, which AWS puts in every request; this request \
                 leaves it out, so it is evaluated without it (add it to ask about a real request)",
                self.request.display()
            );
        }
        Ok(EvalConfig { inputs, request, format: self.format })
    }
}

pub fn run(args: &EvalArgs) -> i32 {
    let cfg = match args.config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let decision = authorize(&cfg.inputs, &cfg.request);
    match cfg.format {
        Format::Text => out(&report::decision_text(&decision, &cfg.request)),
        Format::Json => outln(&pretty(&report::decision_json(&decision, &cfg.request, &warnings(&cfg.inputs)))),
    }
    exit::OK
}
