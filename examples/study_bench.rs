//! The shared-study store under load: `--workers` connections (threads) claim and finish
//! instant trials of a random-search study until it is finished, and the claims per second and
//! the claim latency (p50, p99) are printed. It measures the database and digits' transactions,
//! not training: a real trial takes seconds to minutes, so one PostgreSQL serves as many real
//! workers as (claims per second × seconds per trial), minus the checkpoint writes.
//!
//!     bench/study_bench.sh                     # a throwaway server on loopback, then this
//!     cargo run --release --example study_bench -- URL [--workers 64] [--trials 2000]

use digits::tune::shared::{Claimed, WorkerId, decide};
use digits::tune::{PgStore, Settings, SharedStore, Space, Strategy, StudyMeta, TrialRecord};
use std::time::{Duration, Instant};

/// At most this long in all: the run stops itself.
const MAX_RUN: Duration = Duration::from_secs(300);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let url = args.first().ok_or("usage: study_bench URL [--workers N] [--trials N]")?.clone();
    let flag = |name: &str, default: usize| -> Result<usize, Box<dyn std::error::Error>> {
        match args.iter().position(|a| a == name) {
            Some(i) => Ok(args.get(i + 1).ok_or("a flag without its value")?.parse()?),
            None => Ok(default),
        }
    };
    let (workers, trials) = (flag("--workers", 64)?, flag("--trials", 2000)?);
    let space = Space::from_file("examples/spaces/tiny.toml".as_ref())?;
    let settings = Settings::new(Strategy::from_name("random", trials, 1, 3)?, space, "data/mnist".into(), 1);
    let meta = StudyMeta { data_checksum: "sha256:bench".into(), lease_seconds: 600.0 };
    let name = format!("bench-{}", std::process::id());
    let drawn = settings.configurations(&[]);
    let mut store = PgStore::connect(&url, &name)?;
    store.create(&settings, &meta, &|done: &[TrialRecord]| decide(&settings, &drawn, "bench", done))?;
    let start = Instant::now();
    let threads: Vec<_> = (0..workers)
        .map(|i| {
            let (url, name, settings, drawn) = (url.clone(), name.clone(), settings.clone(), drawn.clone());
            std::thread::spawn(move || work(&url, &name, i, &settings, &drawn, start))
        })
        .collect();
    let mut latencies: Vec<f64> = Vec::new();
    for t in threads {
        latencies.extend(t.join().map_err(|_| "a worker thread panicked")??);
    }
    let seconds = start.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let q = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize] * 1e3;
    println!(
        "{workers} workers, {} trials claimed and finished in {seconds:.2}s: {:.0} claims/s (claim+finish per trial); claim latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latencies.len(),
        latencies.len() as f64 / seconds,
        q(0.5),
        q(0.99),
        q(1.0)
    );
    Ok(())
}

/// One worker: claims and finishes until the study is finished; the claims' latencies.
fn work(
    url: &str,
    name: &str,
    i: usize,
    settings: &Settings,
    drawn: &[digits::tune::Params],
    start: Instant,
) -> Result<Vec<f64>, String> {
    let mut store = PgStore::connect(url, name).map_err(|e| e.to_string())?;
    let me = WorkerId { host: "bench".into(), pid: i as u32 };
    let mut latencies = Vec::new();
    while start.elapsed() < MAX_RUN {
        let t = Instant::now();
        match store.claim(&me).map_err(|e| e.to_string())? {
            Claimed::Task(c) => {
                latencies.push(t.elapsed().as_secs_f64());
                let r = TrialRecord::of(&c.task, &drawn[c.task.trial], 0.5, 0.5, 0.0);
                let decide = |done: &[TrialRecord]| decide(settings, drawn, "bench", done);
                store.finish(&c, &r, None, &decide).map_err(|e| e.to_string())?;
            }
            Claimed::Wait => std::thread::sleep(Duration::from_millis(5)),
            Claimed::Finished => break,
            Claimed::Failed(e) => return Err(e),
        }
    }
    Ok(latencies)
}
