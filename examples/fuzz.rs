//! The long fuzz run (`scripts/fuzz`): drives every target of `tests/fuzzing` (the library's
//! real loaders) with seeded mutations of valid files and arbitrary bytes, and prints per
//! target the inputs run, their rate, the loaders' answers (accepted, refused), the findings
//! (panics, inputs needing more than 1 GiB of heap or 5 s), the slowest input, the largest
//! heap one input needed and the process's peak resident memory.
//!
//! Input `i` of a target depends only on the seed, the target and `i`, so a finding is
//! replayed with `--target NAME --replay I` (which also writes the input to `--out FILE`).
//!
//!     cargo run --release --example fuzz -- --inputs 10000000
//!     cargo run --release --example fuzz -- --target csv --replay 12345 --out case.csv

#[path = "../tests/fuzzing/mod.rs"]
mod fuzzing;

use anyhow::{Context, bail};
use clap::Parser;
use fuzzing::mutate::SplitMix;
use fuzzing::targets::{NAMES, Target, target};
use fuzzing::{Counting, Outcome, run_case};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOC: Counting = Counting;

#[derive(Parser)]
#[command(about = "Fuzz digits' loaders with seeded mutations of valid files")]
struct Args {
    /// Inputs in all, shared equally by the targets.
    #[arg(long, default_value_t = 10_000_000)]
    inputs: u64,
    /// Only these targets (repeat the flag); default: all.
    #[arg(long = "target")]
    targets: Vec<String>,
    /// Seed of the whole run.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Run only input I of the (single) target and say what it did.
    #[arg(long)]
    replay: Option<u64>,
    /// With --replay: write the input to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Where findings' inputs are written.
    #[arg(long, default_value = "target/fuzz-findings")]
    findings: PathBuf,
    /// Print each target's N most frequent refusals (numbers and paths blanked), to see how
    /// deep the inputs reach.
    #[arg(long, default_value_t = 0)]
    refusals: usize,
}

/// The case for input `i` of target number `t`.
fn case_for(seed: u64, t: usize, i: u64, tgt: &Target) -> fuzzing::mutate::Case {
    let mut rng = SplitMix(seed ^ ((t as u64) << 56) ^ i.wrapping_mul(0x2545_F491_4F6C_DD1D));
    rng.next();
    rng.case(tgt.seeds.len(), tgt.text)
}

/// What one target's run came to.
#[derive(Default)]
struct Tally {
    inputs: u64,
    ok: u64,
    err: u64,
    findings: u64,
    slowest: Duration,
    slowest_input: u64,
    peak: usize,
    largest: usize,
    time: Duration,
    rss: Option<u64>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    fuzzing::install_panic_hook();
    for t in &args.targets {
        if !NAMES.contains(&t.as_str()) {
            bail!("no target {t} (targets: {})", NAMES.join(", "));
        }
    }
    let names: Vec<&str> =
        NAMES.iter().copied().filter(|n| args.targets.is_empty() || args.targets.iter().any(|t| t == n)).collect();
    if let Some(i) = args.replay {
        let [name] = names[..] else { bail!("--replay needs exactly one --target") };
        return replay(&args, name, i);
    }
    let started = Instant::now();
    let mut rows = Vec::new();
    let share = |k: usize| args.inputs / names.len() as u64 + u64::from((k as u64) < args.inputs % names.len() as u64);
    for (k, name) in names.iter().enumerate() {
        let n = share(k);
        let tally = fuzz(&args, name, n)?;
        rows.push((name, tally));
    }
    println!(
        "\n{:<14} {:>10} {:>9} {:>10} {:>10} {:>8} {:>11} {:>10} {:>10} {:>9}",
        "target",
        "inputs",
        "inputs/s",
        "accepted",
        "refused",
        "findings",
        "slowest",
        "peak heap",
        "largest",
        "peak RSS"
    );
    for (name, t) in &rows {
        println!(
            "{:<14} {:>10} {:>9.0} {:>10} {:>10} {:>8} {:>8.1} ms {:>7.1} MB {:>7.1} MB {:>6.1} MB",
            name,
            t.inputs,
            t.inputs as f64 / t.time.as_secs_f64(),
            t.ok,
            t.err,
            t.findings,
            t.slowest.as_secs_f64() * 1e3,
            t.peak as f64 / 1e6,
            t.largest as f64 / 1e6,
            t.rss.unwrap_or(0) as f64 / 1e6,
        );
    }
    let inputs: u64 = rows.iter().map(|(_, t)| t.inputs).sum();
    let findings: u64 = rows.iter().map(|(_, t)| t.findings).sum();
    // Each target's peak was measured from a reset: the process's is the highest of them.
    let rss = rows.iter().filter_map(|(_, t)| t.rss).max().or_else(fuzzing::peak_rss).unwrap_or(0);
    println!(
        "total: {inputs} inputs, {findings} findings, {:.0} s, peak RSS {:.1} MB (seed {})",
        started.elapsed().as_secs_f64(),
        rss as f64 / 1e6,
        args.seed
    );
    if findings > 0 {
        bail!("{findings} findings (inputs in {})", args.findings.display());
    }
    Ok(())
}

/// Runs `n` inputs of target `name`, printing progress and each finding.
fn fuzz(args: &Args, name: &str, n: u64) -> anyhow::Result<Tally> {
    let mut tgt = target(name);
    let t = NAMES.iter().position(|x| *x == name).expect("listed");
    let rss_reset = fuzzing::reset_peak_rss();
    let mut tally = Tally::default();
    let started = Instant::now();
    let mut last = Instant::now();
    let mut refusals = std::collections::HashMap::new();
    for i in 0..n {
        let case = case_for(args.seed, t, i, &tgt);
        let input = tgt.bytes(&case);
        fuzzing::set_current(name, i);
        let m = run_case(&mut tgt, &input, case.variant);
        tally.inputs += 1;
        match &m.outcome {
            Outcome::Ok => tally.ok += 1,
            Outcome::Err(e) => {
                tally.err += 1;
                if args.refusals > 0 && !e.contains("digits-fuzz-") {
                    *refusals.entry(format!("UNNAMED {}", refusal_kind(e))).or_insert(0u64) += 1;
                } else if args.refusals > 0 {
                    *refusals.entry(refusal_kind(e)).or_insert(0u64) += 1;
                }
            }
            Outcome::Finding(what) => {
                tally.findings += 1;
                std::fs::create_dir_all(&args.findings)?;
                let file = args.findings.join(format!("{name}-{i}.bin"));
                std::fs::write(&file, &input).with_context(|| file.display().to_string())?;
                println!("FINDING {name} input {i} (variant {}): {what} -> {}", case.variant, file.display());
            }
        }
        if m.time > tally.slowest {
            (tally.slowest, tally.slowest_input) = (m.time, i);
        }
        tally.peak = tally.peak.max(m.peak);
        tally.largest = tally.largest.max(m.largest);
        if last.elapsed() > Duration::from_secs(30) {
            last = Instant::now();
            let rate = (i + 1) as f64 / started.elapsed().as_secs_f64();
            eprintln!("{name}: {}/{n} inputs, {rate:.0}/s, {} findings", i + 1, tally.findings);
        }
    }
    tally.time = started.elapsed();
    let mut kinds: Vec<(String, u64)> = refusals.into_iter().collect();
    kinds.sort_by_key(|k| std::cmp::Reverse(k.1));
    for (kind, count) in kinds.iter().take(args.refusals) {
        eprintln!("  {count:>8}  {kind}");
    }
    tally.rss = if rss_reset { fuzzing::peak_rss() } else { None };
    eprintln!(
        "{name}: {n} inputs in {:.0} s, {} findings, slowest input {} ({:.1} ms)",
        tally.time.as_secs_f64(),
        tally.findings,
        tally.slowest_input,
        tally.slowest.as_secs_f64() * 1e3
    );
    Ok(tally)
}

/// An error message with its scratch paths and numbers blanked, cut short: refusals of one
/// kind count together.
fn refusal_kind(message: &str) -> String {
    let mut kind = String::new();
    for word in message.split(' ') {
        if word.contains("digits-fuzz-") {
            kind.push_str("PATH ");
        } else {
            kind.extend(word.chars().map(|c| if c.is_ascii_digit() { '#' } else { c }).take(40));
            kind.push(' ');
        }
    }
    kind.chars().take(150).collect()
}

/// Runs input `i` of target `name` alone and prints what it did.
fn replay(args: &Args, name: &str, i: u64) -> anyhow::Result<()> {
    let mut tgt = target(name);
    let t = NAMES.iter().position(|x| *x == name).expect("listed");
    let case = case_for(args.seed, t, i, &tgt);
    let input = tgt.bytes(&case);
    if let Some(out) = &args.out {
        std::fs::write(out, &input).with_context(|| out.display().to_string())?;
    }
    let m = run_case(&mut tgt, &input, case.variant);
    println!("{name} input {i}: {} bytes, variant {}, case {case:?}", input.len(), case.variant);
    println!("{:?} in {:?}, peak heap {} bytes, largest allocation {} bytes", m.outcome, m.time, m.peak, m.largest);
    Ok(())
}
