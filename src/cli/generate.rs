//! Shell completions and the man page, generated from the clap definitions at run time
//! (`kmsproof completions SHELL`, `kmsproof man`), so they can never drift from the flags
//! the binary really takes, and a packager needs only the binary to produce them.

use super::{exit, out};
use clap_complete::Shell;

/// `kmsproof completions SHELL`.
#[derive(clap::Args, Debug)]
pub struct CompletionsArgs {
    /// The shell to complete for (write the output where that shell loads completions from).
    #[arg(value_enum)]
    shell: Shell,
}

/// `kmsproof man`.
#[derive(clap::Args, Debug)]
pub struct ManArgs {}

/// Prints the completion script of `args.shell` for the command tree `cmd`.
pub fn completions(args: &CompletionsArgs, mut cmd: clap::Command) -> i32 {
    let name = cmd.get_name().to_string();
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, name, &mut buf);
    print_bytes(buf)
}

/// Prints the roff man page of the command tree `cmd`: the root page, then one section
/// per command, so `man kmsproof` documents every flag in one page.
pub fn man(_args: &ManArgs, cmd: clap::Command) -> i32 {
    let mut buf = Vec::new();
    let cmd = cmd.disable_help_subcommand(true);
    if let Err(e) = render_man(&cmd, &mut buf) {
        say!("error: cannot render the man page: {e}");
        return exit::INTERNAL;
    }
    print_bytes(buf)
}

fn render_man(cmd: &clap::Command, buf: &mut Vec<u8>) -> std::io::Result<()> {
    clap_mangen::Man::new(cmd.clone()).render(buf)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let sub = sub.clone().name(format!("{} {}", cmd.get_name(), sub.get_name()));
        let page = clap_mangen::Man::new(sub.clone());
        buf.extend_from_slice(format!(".SH \"{}\"\n", sub.get_name().to_uppercase()).as_bytes());
        page.render_description_section(buf)?;
        page.render_synopsis_section(buf)?;
        page.render_options_section(buf)?;
    }
    Ok(())
}

fn print_bytes(buf: Vec<u8>) -> i32 {
    match String::from_utf8(buf) {
        Ok(text) => {
            out(&text);
            exit::OK
        }
        Err(e) => {
            say!("error: generated text is not UTF-8: {e}");
            exit::INTERNAL
        }
    }
}
