//! The corpus of malformed inputs and faults (issue 16): every case of `tests/corpus/*.toml`
//! runs the real `digits` binary in a scratch directory of its own, under a time limit (a hang
//! is killed and reported) and an address-space limit, and its peak memory is measured. A case
//! that must fail has to exit with status 1 (2 for a usage error), print a message holding the
//! case's expected words (the file or flag, and the problem), and leave its directory exactly as
//! it found it (no partial output, no stale file, no empty directory) unless the case names what
//! it may leave; a valid control must succeed. No case may panic, abort or use more than 1 GiB.
//! The file format is described in `tests/corpus/README.md`.

mod common;

use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Peak memory a case may reach (resident set, measured by the kernel).
const MEMORY_LIMIT_KB: i64 = 1 << 20;
/// Address space a case's process may reserve: a runaway allocation fails (and is reported as
/// an abort) instead of taking the machine down.
const ADDRESS_SPACE_LIMIT: u64 = 6 << 30;
/// The classes of fault the issue lists; every one must have cases.
const CLASSES: &[&str] = &[
    "model-fit",
    "sizes",
    "divergence",
    "resume",
    "ownership",
    "tune",
    "hangs",
    "security",
    "messages",
    "data",
    "files",
    "flags",
    "control",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    case: Vec<Case>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    class: String,
    /// Prepared inputs copied in first: `mnist` (a small MNIST directory), `csv` (the same as
    /// a labelled Kaggle CSV file `small.csv`), `run` and `run2` (trained run directories).
    #[serde(default)]
    fixtures: Vec<String>,
    #[serde(default)]
    files: BTreeMap<String, FileSpec>,
    /// Commands (digits arguments) that must succeed before the case's own, run after the
    /// fixtures are placed and before the files are made (which may then change their output).
    #[serde(default)]
    before: Vec<Vec<String>>,
    args: Vec<String>,
    expect: Expect,
    /// Words the standard error must hold (a failing case must name at least one).
    #[serde(default)]
    stderr: Vec<String>,
    /// Words the standard output must hold.
    #[serde(default)]
    stdout: Vec<String>,
    /// Paths that must not exist afterwards.
    #[serde(default)]
    absent: Vec<String>,
    /// Paths (prefixes) a failing case may create or change, e.g. a diverged run's checkpoint.
    #[serde(default)]
    may_leave: Vec<String>,
    /// Paths whose contents must be the same afterwards, whatever the outcome.
    #[serde(default)]
    keep: Vec<String>,
    /// Words the standard error must hold exactly once (a cause printed twice is a bug).
    #[serde(default)]
    once: Vec<String>,
    #[serde(default = "default_timeout")]
    timeout: f64,
}

fn default_timeout() -> f64 {
    30.0
}

#[derive(Deserialize, Clone, Copy, PartialEq, Debug)]
#[serde(rename_all = "lowercase")]
enum Expect {
    /// Exit status 1 with a message.
    Error,
    /// Exit status 2: clap's usage error.
    Usage,
    /// Exit status 0.
    Ok,
}

/// One input file of a case: its contents (`text`, `hex`, a repository file to `copy`, or a
/// generator `gen`) and changes made to them.
#[derive(Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    text: Option<String>,
    hex: Option<String>,
    copy: Option<String>,
    /// `png-header`, `picture`, `gz-lines`, `sparse`, `fifo`, `symlink`, `dir`.
    #[serde(rename = "gen")]
    generator: Option<String>,
    #[serde(default)]
    gzip: bool,
    truncate: Option<usize>,
    /// `[offset, "hex bytes"]` overwritten in place.
    #[serde(default)]
    patch: Vec<(usize, String)>,
    /// `[offset from the end, "hex bytes"]` overwritten in place.
    #[serde(default)]
    patch_end: Vec<(usize, String)>,
    width: Option<u32>,
    height: Option<u32>,
    format: Option<String>,
    /// `gz-lines`: after the head (`text` or `hex`), the line repeated `count` times.
    line: Option<String>,
    count: Option<u64>,
    /// Generators: a file's length (`sparse`).
    size: Option<u64>,
    target: Option<String>,
}

#[test]
fn corpus_of_malformed_inputs_and_faults() {
    let cases = load_cases();
    assert!(cases.len() >= 150, "the corpus has {} cases, the issue asks for at least 150", cases.len());
    for class in CLASSES {
        assert!(cases.iter().any(|c| c.class == *class), "no case of class {class}");
    }
    let fixtures = Fixtures::make();
    let queue = Mutex::new(cases.clone().into_iter().enumerate().collect::<Vec<_>>());
    let results = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                // The guard is a temporary of the block's tail: dropped before the case runs.
                while let Some((i, case)) = { queue.lock().unwrap().pop() } {
                    let outcome = run_case(&case, &fixtures);
                    results.lock().unwrap().push((i, outcome));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(i, _)| *i);
    report(&cases, &results);
}

fn load_cases() -> Vec<Case> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    let mut cases = Vec::new();
    for p in paths {
        let file: CaseFile =
            toml::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        for c in &file.case {
            assert!(CLASSES.contains(&c.class.as_str()), "{}: case {}: unknown class {}", p.display(), c.name, c.class);
            let quiet = c.expect != Expect::Ok && c.stderr.is_empty();
            assert!(!quiet, "{}: case {} must say which words its message holds", p.display(), c.name);
        }
        cases.extend(file.case);
    }
    let mut names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    names.sort();
    names.windows(2).for_each(|w| assert_ne!(w[0], w[1], "two cases are named {}", w[0]));
    cases
}

/// What happened to one case: problems (empty when it passed), time, peak memory.
struct Outcome {
    problems: Vec<String>,
    seconds: f64,
    peak_kb: i64,
}

fn report(cases: &[Case], results: &[(usize, Outcome)]) {
    let mut by_class: BTreeMap<&str, (usize, f64, i64)> = BTreeMap::new();
    let mut failures = Vec::new();
    println!("the size cases (bombs and ceilings):");
    for (i, o) in results {
        let c = &cases[*i];
        if c.class == "sizes" {
            println!("  {:<45} {:>6.2}s {:>5} MB", c.name, o.seconds, o.peak_kb / 1024);
        }
        let e = by_class.entry(c.class.as_str()).or_default();
        *e = (e.0 + 1, e.1.max(o.seconds), e.2.max(o.peak_kb));
        if !o.problems.is_empty() {
            failures.push(format!("case {} ({}):\n  {}", c.name, c.class, o.problems.join("\n  ")));
        }
    }
    println!("{:<12} {:>5} {:>10} {:>12}", "class", "cases", "slowest", "peak memory");
    for (class, (n, t, kb)) in &by_class {
        println!("{class:<12} {n:>5} {t:>9.2}s {:>9} MB", kb / 1024);
    }
    println!("{} cases, {} failed", results.len(), failures.len());
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), results.len(), failures.join("\n"));
}

fn run_case(case: &Case, fixtures: &Fixtures) -> Outcome {
    let scratch = common::temp_dir(&format!("corpus-{}", case.name.chars().take(40).collect::<String>()));
    let dir = scratch.path().to_path_buf();
    let fail = |problem: String| Outcome { problems: vec![problem], seconds: 0.0, peak_kb: 0 };
    for f in &case.fixtures {
        if let Err(e) = fixtures.place(f, &dir) {
            return fail(format!("fixture {f}: {e}"));
        }
    }
    for args in &case.before {
        let r = run_digits(&substitute(args, &dir), &dir, 120.0);
        if r.code != Some(0) {
            return fail(format!("setup command {args:?} failed: {}", r.stderr));
        }
    }
    for (name, spec) in &case.files {
        if let Err(e) = make_file(&dir.join(name), spec, &dir) {
            return fail(format!("making {name}: {e}"));
        }
    }
    let before = snapshot(&dir);
    let r = run_digits(&substitute(&case.args, &dir), &dir, case.timeout);
    let mut problems = judge(case, &r);
    let after = snapshot(&dir);
    if case.expect != Expect::Ok {
        problems.extend(leftovers(&before, &after, &case.may_leave));
    }
    for k in &case.keep {
        if before.get(k) != after.get(k) {
            problems.push(format!("{k} changed: {:?} -> {:?}", before.get(k), after.get(k)));
        }
    }
    for p in &case.absent {
        if dir.join(p).symlink_metadata().is_ok() {
            problems.push(format!("{p} exists afterwards"));
        }
    }
    Outcome { problems, seconds: r.seconds, peak_kb: r.peak_kb }
}

fn substitute(args: &[String], dir: &Path) -> Vec<String> {
    let repo = env!("CARGO_MANIFEST_DIR");
    args.iter().map(|a| a.replace("{dir}", &dir.display().to_string()).replace("{repo}", repo)).collect()
}

/// Whether the process did what the case expects.
fn judge(case: &Case, r: &Ran) -> Vec<String> {
    let mut problems = Vec::new();
    if r.timed_out {
        problems.push(format!("hung: killed after {} s", case.timeout));
    }
    if let Some(sig) = r.signal {
        problems.push(format!("killed by signal {sig} (an abort is 6){}", tail(&r.stderr)));
    }
    if r.stderr.contains("panicked") {
        problems.push(format!("panicked:{}", tail(&r.stderr)));
    }
    if r.peak_kb > MEMORY_LIMIT_KB {
        problems.push(format!("peak memory {} MB is over 1 GiB", r.peak_kb / 1024));
    }
    let want = match case.expect {
        Expect::Error => 1,
        Expect::Usage => 2,
        Expect::Ok => 0,
    };
    if r.signal.is_none() && !r.timed_out && r.code != Some(want) {
        problems.push(format!("exit status {:?}, expected {want}:{}{}", r.code, tail(&r.stdout), tail(&r.stderr)));
    }
    for w in &case.stderr {
        if !r.stderr.contains(w.as_str()) {
            problems.push(format!("standard error lacks {w:?}:{}", tail(&r.stderr)));
        }
    }
    for w in &case.once {
        if r.stderr.matches(w.as_str()).count() != 1 {
            problems.push(format!("standard error should hold {w:?} once:{}", tail(&r.stderr)));
        }
    }
    for w in &case.stdout {
        if !r.stdout.contains(w.as_str()) {
            problems.push(format!("standard output lacks {w:?}:{}", tail(&r.stdout)));
        }
    }
    if case.expect != Expect::Ok && r.stderr.lines().count() > 40 {
        problems.push("the message is longer than 40 lines".into());
    }
    problems
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(6);
    lines[start..].iter().map(|l| format!("\n    | {}", l.chars().take(300).collect::<String>())).collect()
}

/// Every path under `dir` with a fingerprint of what it is (directories included, so an empty
/// directory left behind shows; lock files excluded: a lock file is how a directory is owned).
fn snapshot(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(dir).unwrap().display().to_string();
            let Ok(meta) = p.symlink_metadata() else { continue };
            let ft = meta.file_type();
            let print = if ft.is_dir() {
                stack.push(p.clone());
                "dir".to_string()
            } else if ft.is_file() {
                if rel.ends_with(".digits.lock") {
                    continue;
                }
                format!("{} bytes, hash {:016x}", meta.len(), hash_file(&p, meta.len()))
            } else {
                "special".to_string()
            };
            out.insert(rel, print);
        }
    }
    out
}

/// FNV-1a of a file (its first 16 MiB; the large generated inputs are never rewritten).
fn hash_file(p: &Path, len: u64) -> u64 {
    let Ok(f) = std::fs::File::open(p) else { return 0 };
    let mut bytes = Vec::new();
    let _ = f.take(len.min(16 << 20)).read_to_end(&mut bytes);
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

fn leftovers(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>, allowed: &[String]) -> Vec<String> {
    let ok = |p: &str| allowed.iter().any(|a| p.starts_with(a.as_str()));
    let mut problems = Vec::new();
    for (p, print) in after {
        match before.get(p) {
            None if !ok(p) => problems.push(format!("left {p} behind ({print})")),
            Some(old) if old != print && !ok(p) => problems.push(format!("changed {p} ({old} -> {print})")),
            _ => {}
        }
    }
    for p in before.keys() {
        if !after.contains_key(p) && !ok(p) {
            problems.push(format!("removed {p}"));
        }
    }
    problems
}

/// A finished (or killed) process.
struct Ran {
    code: Option<i32>,
    signal: Option<i32>,
    timed_out: bool,
    stdout: String,
    stderr: String,
    seconds: f64,
    peak_kb: i64,
}

/// Runs `digits ARGS` in `dir` under the limits, measuring its peak memory with `wait4`.
fn run_digits(args: &[String], dir: &Path, timeout: f64) -> Ran {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_digits"));
    cmd.args(args)
        .current_dir(dir)
        .env_remove("DIGITS_DATA")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit { rlim_cur: ADDRESS_SPACE_LIMIT, rlim_max: ADDRESS_SPACE_LIMIT };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let start = Instant::now();
    // Reaped below by `wait4` (which also gives its resource usage), not by `Child::wait`.
    #[allow(clippy::zombie_processes)]
    let mut child = cmd.spawn().expect("start digits");
    let pid = child.id() as libc::pid_t;
    let read = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = pipe.by_ref().take(1 << 20).read_to_end(&mut text);
            let _ = std::io::copy(&mut pipe, &mut std::io::sink());
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let out = read(Box::new(child.stdout.take().unwrap()));
    let err = read(Box::new(child.stderr.take().unwrap()));
    let (mut status, mut usage) = (0, unsafe { std::mem::zeroed::<libc::rusage>() });
    let mut timed_out = false;
    loop {
        // SAFETY: waiting for our own child, with valid pointers for its status and usage.
        let rc = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if rc == pid {
            break;
        }
        assert!(rc == 0, "wait4 failed: {}", std::io::Error::last_os_error());
        if start.elapsed().as_secs_f64() > timeout && !timed_out {
            timed_out = true;
            // SAFETY: signalling our own child, which has not been reaped yet.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let seconds = start.elapsed().as_secs_f64();
    let exited = libc::WIFEXITED(status);
    Ran {
        code: exited.then(|| libc::WEXITSTATUS(status)),
        signal: (libc::WIFSIGNALED(status) && !timed_out).then(|| libc::WTERMSIG(status)),
        timed_out,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
        seconds,
        peak_kb: usage.ru_maxrss,
    }
}

/// The prepared inputs, made once per test run.
struct Fixtures {
    root: common::TempDir,
}

impl Fixtures {
    fn make() -> Fixtures {
        let root = common::temp_dir("corpus-fixtures");
        let mnist = root.join("mnist");
        std::fs::create_dir_all(&mnist).unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
        for (prefix, n) in [("train", 300), ("t10k", 100)] {
            let mut images =
                digits::data::idx::read_idx_images(&src.join(format!("{prefix}-images-idx3-ubyte.gz"))).unwrap();
            images.pixels.truncate(n * 784);
            images.count = n;
            let labels =
                digits::data::idx::read_idx_labels(&src.join(format!("{prefix}-labels-idx1-ubyte.gz"))).unwrap();
            digits::data::idx::write_idx_images(&mnist.join(format!("{prefix}-images-idx3-ubyte")), &images).unwrap();
            digits::data::idx::write_idx_labels(&mnist.join(format!("{prefix}-labels-idx1-ubyte")), &labels[..n])
                .unwrap();
            if prefix == "train" {
                digits::data::csv::write_csv(&root.join("small.csv"), &images.pixels, Some(&labels[..n])).unwrap();
            }
        }
        for (name, seed) in [("run", "0"), ("run2", "1")] {
            let out = root.join(name);
            let args = ["train", "--model", "mlp-64-64", "--epochs", "2", "--data", "mnist", "--seed", seed, "--out"];
            let mut args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            args.push(out.display().to_string());
            let r = run_digits(&args, root.path(), 120.0);
            assert_eq!(r.code, Some(0), "training the fixture {name}: {}", r.stderr);
        }
        Fixtures { root }
    }

    /// Copies fixture `name` into `dir`.
    fn place(&self, name: &str, dir: &Path) -> std::io::Result<()> {
        match name {
            "mnist" | "run" | "run2" => copy_dir(&self.root.join(name), &dir.join(name)),
            "csv" => std::fs::copy(self.root.join("small.csv"), dir.join("small.csv")).map(|_| ()),
            _ => Err(std::io::Error::other(format!("unknown fixture {name}"))),
        }
    }
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let name = e.file_name();
        if name == ".digits.lock" {
            continue;
        }
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &to.join(&name))?;
        } else {
            std::fs::copy(e.path(), to.join(&name))?;
        }
    }
    Ok(())
}

fn make_file(path: &Path, spec: &FileSpec, dir: &Path) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let head = || match (&spec.text, &spec.hex) {
        (Some(t), _) => expand(t, dir).into_bytes(),
        (_, Some(h)) => hex(h),
        _ => Vec::new(),
    };
    let mut bytes = match (spec.generator.as_deref(), &spec.copy) {
        (Some("png-header"), _) => png_header(spec.width.unwrap_or(28), spec.height.unwrap_or(28)),
        (Some("picture"), _) => picture(spec.width.unwrap_or(28), spec.height.unwrap_or(28), spec.format.as_deref())?,
        (Some(g), _) => return generate(g, path, spec, &head()),
        (None, Some(c)) => {
            let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
            std::fs::read(c.strip_prefix("{dir}/").map_or_else(|| repo.join(c), |rest| dir.join(rest)))?
        }
        (None, None) if spec.text.is_some() || spec.hex.is_some() => head(),
        _ => return Err(std::io::Error::other("a file needs text, hex, copy or gen")),
    };
    if spec.copy.as_deref().is_some_and(|c| c.ends_with(".gz")) {
        // Repository files are stored compressed: a copy is of the plain bytes (`gzip`
        // compresses them again, before any patch, so a patch may break the compressed stream).
        let mut plain = Vec::new();
        flate2::read::MultiGzDecoder::new(&bytes[..]).read_to_end(&mut plain)?;
        bytes = plain;
    }
    if spec.gzip {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&bytes)?;
        bytes = gz.finish()?;
    }
    for (offset, h) in &spec.patch {
        let h = hex(h);
        if bytes.len() < offset + h.len() {
            bytes.resize(offset + h.len(), 0);
        }
        bytes[*offset..offset + h.len()].copy_from_slice(&h);
    }
    for (back, h) in &spec.patch_end {
        let h = hex(h);
        let at = bytes.len().checked_sub(*back).ok_or_else(|| std::io::Error::other("patch_end before the start"))?;
        bytes[at..at + h.len()].copy_from_slice(&h);
    }
    if let Some(n) = spec.truncate {
        bytes.truncate(n);
    }
    std::fs::write(path, bytes)
}

fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(|b| b.is_ascii_hexdigit()).collect();
    digits.chunks(2).map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap()).collect()
}

/// `text` with `{dir}` (the case's directory), `{csv-header}` (Kaggle's header, `label,pixel0,
/// …,pixel783`) and `{csv-pixels}` (784 zeros, comma-separated) replaced.
fn expand(text: &str, dir: &Path) -> String {
    let header: Vec<String> =
        std::iter::once("label".to_string()).chain((0..784).map(|i| format!("pixel{i}"))).collect();
    text.replace("{dir}", &dir.display().to_string())
        .replace("{csv-header}", &header.join(","))
        .replace("{csv-pixels}", &vec!["0"; 784].join(","))
}

/// The generators that write the file themselves (special files, huge ones).
fn generate(kind: &str, path: &Path, spec: &FileSpec, head: &[u8]) -> std::io::Result<()> {
    // A generated file replaces a fixture's (a FIFO in place of a real file, say).
    if path.symlink_metadata().is_ok_and(|m| !m.is_dir()) && kind != "remove" {
        std::fs::remove_file(path)?;
    }
    match kind {
        "dir" => std::fs::create_dir_all(path),
        "remove" => std::fs::remove_file(path),
        "fifo" => {
            let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
            // SAFETY: a valid NUL-terminated path.
            if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        }
        "symlink" => std::os::unix::fs::symlink(spec.target.as_deref().unwrap_or("/etc/passwd"), path),
        "sparse" => {
            // Its head, then zeros up to `size` bytes, taking no disk space.
            let f = std::fs::File::create(path)?;
            (&f).write_all(head)?;
            f.set_len(spec.size.unwrap_or(1 << 30))
        }
        "gz-lines" => {
            // Its head, then `line` `count` times, gzipped as it is written.
            let f = std::io::BufWriter::new(std::fs::File::create(path)?);
            let mut gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
            gz.write_all(head)?;
            let line = expand(spec.line.as_deref().unwrap_or("0\n"), Path::new(""));
            let line = line.as_bytes();
            let per_block = ((1 << 16) / line.len()).max(1) as u64;
            let block = line.repeat(per_block as usize);
            let count = spec.count.unwrap_or(1);
            for _ in 0..count / per_block {
                gz.write_all(&block)?;
            }
            for _ in 0..count % per_block {
                gz.write_all(line)?;
            }
            gz.finish()?.flush()
        }
        other => Err(std::io::Error::other(format!("unknown generator {other}"))),
    }
}

/// A PNG whose header declares `w × h` grey pixels, with one tiny (wrong) data chunk: a
/// decompression bomb as far as the header goes.
fn png_header(w: u32, h: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let chunk = |out: &mut Vec<u8>, kind: &[u8], data: &[u8]| {
        out.extend((data.len() as u32).to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        out.extend(kind);
        out.extend(data);
        out.extend(crc.sum().to_be_bytes());
    };
    let mut ihdr = Vec::new();
    ihdr.extend(w.to_be_bytes());
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 0, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &[0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01]);
    chunk(&mut out, b"IEND", &[]);
    out
}

/// A real picture of a dark "1" on white paper, in `format` (PNG by default).
fn picture(w: u32, h: u32, format: Option<&str>) -> std::io::Result<Vec<u8>> {
    let img = image::GrayImage::from_fn(w, h, |x, y| {
        let ink = x.abs_diff(w / 2) < (w / 14).max(1) && y > h / 6 && y < h - h / 6;
        image::Luma([if ink { 20 } else { 235 }])
    });
    let format =
        image::ImageFormat::from_extension(format.unwrap_or("png")).ok_or_else(|| std::io::Error::other("format"))?;
    let img = image::DynamicImage::ImageLuma8(img);
    let rgba = matches!(format, image::ImageFormat::WebP | image::ImageFormat::Gif);
    let img = if rgba { image::DynamicImage::ImageRgba8(img.to_rgba8()) } else { img };
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).map_err(std::io::Error::other)?;
    Ok(out.into_inner())
}
