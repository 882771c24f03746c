//! Every example in the documentation runs: each ```` ```console ```` block of `README.md`
//! and `docs/**/*.md` is a transcript, and a transcript that no longer matches what
//! kmsproof prints fails here (an example that drifts fails CI).
//!
//! A transcript, run from the repository root:
//!
//! ````text
//! ```console
//! $ kmsproof check --key-policy examples/key-policy.json \
//!     --never kms:Decrypt --principal 'arn:aws:iam::444455556666:*'
//! HOLDS (proved: unsat) [..]
//! ...
//! [exit 0]
//! ```
//! ````
//!
//! - `$ ` starts a command; a line ending in `\` goes on on the next line. Words split as a
//!   shell splits them (single and double quotes, backslash escapes), nothing else: no
//!   pipes, variables or globs. Only `kmsproof` runs (another program fails the test).
//! - The lines up to the next `$ ` (or the block's end) are the expected standard output,
//!   line by line, trailing blanks ignored: `[..]` in a line matches any text, a line
//!   `...` any number of lines (none included). Standard error is not compared.
//! - A last line `[exit N]` expects exit code N; without it the command must exit 0.
//! - Blocks of any other language (`sh`, `text`, …) are not run.

use super::util::root;
use std::path::{Path, PathBuf};

/// One `$ kmsproof …` of a transcript and what it must print.
#[derive(Debug)]
struct Example {
    /// `file:line` of the `$` line, for the failure message.
    at: String,
    args: Vec<String>,
    expected: Vec<String>,
    exit: i32,
}

fn markdown_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "md") {
                out.push(p);
            }
        }
    }
    let mut out = vec![root().join("README.md")];
    walk(&root().join("docs"), &mut out);
    out.sort();
    out
}

/// The transcripts of one markdown file.
fn examples(path: &Path) -> Vec<Example> {
    let text = std::fs::read_to_string(path).unwrap();
    let name = path.strip_prefix(root()).unwrap_or(path).display().to_string();
    let mut out = Vec::new();
    let mut in_console = false;
    let mut fence_open = false;
    let mut lines = text.lines().enumerate().peekable();
    while let Some((i, line)) = lines.next() {
        if line.trim_start().starts_with("```") {
            fence_open = !fence_open;
            in_console = fence_open && line.trim_start().trim_start_matches('`').trim() == "console";
            continue;
        }
        if !in_console {
            continue;
        }
        let Some(command) = line.strip_prefix("$ ") else {
            panic!("{name}:{}: a console block's output must follow a `$ ` command line", i + 1)
        };
        let mut command = command.to_string();
        while command.ends_with('\\') {
            command.pop();
            let (_, next) = lines.next().unwrap_or_else(|| panic!("{name}:{}: `\\` at the block's end", i + 1));
            command.push_str(next);
        }
        let mut expected = Vec::new();
        while let Some((_, l)) = lines.peek() {
            if l.starts_with("$ ") || l.trim_start().starts_with("```") {
                break;
            }
            expected.push(l.trim_end().to_string());
            lines.next();
        }
        let exit = match expected.last().and_then(|l| l.strip_prefix("[exit ")).and_then(|l| l.strip_suffix(']')) {
            Some(code) => {
                let code = code.parse().unwrap_or_else(|_| panic!("{name}:{}: bad [exit N]", i + 1));
                expected.pop();
                code
            }
            None => 0,
        };
        let at = format!("{name}:{}", i + 1);
        let args = split_words(&command).unwrap_or_else(|why| panic!("{at}: {why}"));
        assert_eq!(args.first().map(String::as_str), Some("kmsproof"), "{at}: only kmsproof commands run");
        out.push(Example { at, args: args[1..].to_vec(), expected, exit });
    }
    out
}

/// Splits a command line as a POSIX shell splits words (quotes and backslashes only).
fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => words.extend(word.take()),
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err("unterminated '".into()),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => w.push(chars.next().ok_or("unterminated \"")?),
                        Some(c) => w.push(c),
                        None => return Err("unterminated \"".into()),
                    }
                }
            }
            '\\' => word.get_or_insert_with(String::new).push(chars.next().ok_or("trailing \\")?),
            '|' | '>' | '<' | '$' | '*' | ';' | '&' | '`' => {
                return Err(format!("`{c}` outside quotes: transcripts run no shell"));
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Ok(words)
}

/// Whether `actual` matches the pattern line (`[..]`: any text).
fn line_matches(pattern: &str, actual: &str) -> bool {
    let parts: Vec<&str> = pattern.split("[..]").collect();
    if parts.len() == 1 {
        return pattern == actual;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !actual.starts_with(first) || !actual[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &actual[first.len()..actual.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(k) => rest = &rest[k + part.len()..],
            None => return false,
        }
    }
    true
}

/// Whether the output lines match the expected ones (`...`: any lines).
fn matches(expected: &[String], actual: &[&str]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((e, rest)) if e == "..." => (0..=actual.len()).any(|k| matches(rest, &actual[k..])),
        Some((e, rest)) => actual.first().is_some_and(|a| line_matches(e, a)) && matches(rest, &actual[1..]),
    }
}

fn run(example: &Example) -> Result<(), String> {
    let args: Vec<&str> = example.args.iter().map(String::as_str).collect();
    let o = super::util::kmsproof(&args);
    let stdout = String::from_utf8_lossy(&o.stdout);
    let actual: Vec<&str> = stdout.lines().map(str::trim_end).collect();
    let code = o.status.code().unwrap_or(-1);
    if code == example.exit && matches(&example.expected, &actual) {
        return Ok(());
    }
    Err(format!(
        "{}: `kmsproof {}` drifted\n--- expected (exit {}):\n{}\n--- actual (exit {code}):\n{stdout}--- stderr:\n{}",
        example.at,
        example.args.join(" "),
        example.exit,
        example.expected.join("\n"),
        String::from_utf8_lossy(&o.stderr)
    ))
}

#[test]
fn every_console_example_in_the_docs_runs_as_shown() {
    let all: Vec<Example> = markdown_files().iter().flat_map(|f| examples(f)).collect();
    assert!(all.len() >= 3, "the README's quick start and recipes are transcripts: found {}", all.len());
    let failures: Vec<String> = all.iter().filter_map(|e| run(e).err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} doc examples drifted:\n\n{}",
        failures.len(),
        all.len(),
        failures.join("\n\n")
    );
}

#[test]
fn transcript_matching_rules() {
    let lines = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(matches(&lines(&["HOLDS [..] unsat)", "..."]), &["HOLDS (proved: unsat)", "a", "b"]));
    assert!(matches(&lines(&["...", "end"]), &["end"]));
    assert!(!matches(&lines(&["a"]), &["a", "b"]));
    assert!(!line_matches("a[..]b[..]c", "a-c"));
    assert!(line_matches("a[..]b[..]c", "axbyc"));
    assert_eq!(
        split_words(r#"kmsproof --where 'StringLike k v' "a b" c\ d"#).unwrap(),
        ["kmsproof", "--where", "StringLike k v", "a b", "c d"]
    );
    assert!(split_words("kmsproof x | head").is_err());
}

/// The README's front page stays a page, and its quick start stays two commands: one that
/// runs kmsproof on a bundled example, one that runs the tests — the very command CI runs.
#[test]
fn readme_quick_start_is_two_commands_and_ci_runs_its_test_command() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    assert!(
        readme.lines().count() <= 250,
        "README.md is {} lines; the manual belongs in docs/",
        readme.lines().count()
    );
    let quick = readme.split("## Quick start").nth(1).expect("a Quick start section");
    let block = quick.split("```sh\n").nth(1).and_then(|b| b.split("```").next()).expect("a sh block");
    let commands: Vec<&str> = block.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(commands.len(), 2, "{commands:?}");
    assert!(commands[0].starts_with("cargo run --release -- ") && commands[0].contains("examples/"), "{}", commands[0]);
    let ci = std::fs::read_to_string(root().join(".ci/run")).unwrap();
    assert!(ci.lines().any(|l| l.trim() == commands[1]), ".ci/run does not run the README's `{}`", commands[1]);
    // The first command is the quick start's transcript too (so its answer is tested).
    let args = commands[0].trim_start_matches("cargo run --release -- ");
    assert!(quick.contains(&format!("$ kmsproof {args}")), "the quick start's transcript differs from its command");
}
