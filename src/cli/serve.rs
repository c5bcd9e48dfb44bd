//! `digits serve`: a trained model over HTTP — the drawing page and the JSON API of
//! `digits::serve` — until SIGINT or SIGTERM.

use super::common::init_threads;
use anyhow::Context;
use digits::serve::{ServeConfig, config};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Run directory written by `digits train` (or an ensemble made by `digits ensemble`)
    #[arg(long, value_name = "RUN|ENSEMBLE")]
    model: PathBuf,
    /// Address to listen on (loopback unless told otherwise; port 0 picks a free port)
    #[arg(long, default_value = config::DEFAULT_ADDR)]
    addr: SocketAddr,
    /// Largest request body accepted, in bytes
    #[arg(long, default_value_t = config::DEFAULT_MAX_BODY, value_name = "BYTES")]
    max_body: usize,
    /// Seconds a client has to send its request (headers, then the whole request)
    #[arg(long, default_value_t = config::DEFAULT_TIMEOUT_SECS as f64, value_name = "SECS")]
    timeout: f64,
    /// Answer "unsure" (label null) below this top probability; a request's
    /// `?min_confidence=P` overrides it (calibrate the model first: `digits calibrate`)
    #[arg(long, value_name = "P", value_parser = super::common::probability)]
    min_confidence: Option<f32>,
    /// Threads of the model (default: all cores)
    #[arg(long)]
    threads: Option<usize>,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition before any thread exists. A client that hangs up
    // mid-answer must cost its connection, not the server (main restores SIGPIPE's default).
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    if !(0.1..=3600.0).contains(&a.timeout) {
        anyhow::bail!("--timeout must be 0.1 to 3600 seconds, got {}", a.timeout);
    }
    init_threads(a.threads)?;
    let config = ServeConfig {
        model: a.model.clone(),
        addr: a.addr,
        max_body: a.max_body,
        timeout: Duration::from_secs_f64(a.timeout),
        min_confidence: a.min_confidence,
    };
    let served = digits::serve::serve(&config, |addr, model| {
        let params = model.parameters.total;
        let accuracy = model.test_accuracy.map_or(String::new(), |a| format!(", test accuracy {:.2}%", a * 100.0));
        // The URL is the first line on stdout, flushed at once: scripts and tests read it.
        println!("digits serve: http://{addr}/");
        eprintln!("model {} ({params} params{accuracy}); Ctrl-C or SIGTERM stops the server", model.name);
        let _ = std::io::stdout().flush();
    })
    .with_context(|| format!("serving {}", a.model.display()))?;
    let cut = if served.drained { "" } else { " (some connections were cut off after the grace period)" };
    eprintln!("digits serve: stopped after answering {} requests{cut}", served.requests);
    Ok(())
}
