//! The `digits` command: parses flags, runs the library, maps errors to exit codes.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    // `digits predict | head`: end quietly when the reader goes away, as Unix tools do, instead
    // of panicking on the failed write (Rust ignores SIGPIPE by default).
    #[cfg(unix)]
    // SAFETY: restoring a signal's default disposition at start-up, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let args = cli::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", message(&e));
            ExitCode::from(1)
        }
    }
}

/// The error and its causes, each once: `digits::Error::Io` already shows its OS error after the
/// path, so a cause whose text ends the message so far is not repeated (`{e:#}` would print
/// "No such file or directory (os error 2)" twice). Control characters are escaped.
fn message(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = digits::error::escape_control(&cause.to_string());
        if out.ends_with(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}
