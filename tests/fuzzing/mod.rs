//! The fuzz harness shared by the short property test (`tests/fuzz.rs`, proptest) and the long
//! run (`examples/fuzz.rs`, `scripts/fuzz`): the targets (the library's real loaders on files
//! in a scratch directory, see [`targets`]), the mutator ([`mutate`]), and one case run under
//! watch ([`run_case`]): a panic (caught, its message kept), an input needing more than
//! [`PEAK_LIMIT`] bytes of live heap, taking longer than [`TIME_LIMIT`], or refused by an
//! error that does not name the file, is a finding; the loader's `Err` naming the file is the
//! expected answer to a bad file.
//!
//! Memory is watched by [`Counting`], a global allocator that each including binary installs:
//! it keeps the live heap, its peak since the case began and the largest single allocation,
//! and refuses (so the process aborts, naming the case) any allocation past [`HARD_CAP`], which
//! would put the machine at risk rather than answer the question.
#![allow(dead_code)] // the test and the example use different parts

pub mod mutate;
pub mod targets;
pub mod tree;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Live heap one input may add, at its peak, before it is a finding: 1 GiB. The largest legal
/// inputs stay below it: a picture at the 25-megapixel ceiling takes 600 MB while decoded,
/// a model at the 100-million-parameter ceiling 800 MB (weights and gradients).
pub const PEAK_LIMIT: usize = 1 << 30;
/// Time one input may take before it is a finding (a hang, or a loop sized by the input).
pub const TIME_LIMIT: Duration = Duration::from_secs(5);
/// Largest heap the process may hold: an allocation that would pass it is refused and the
/// process aborts, after naming the case (see [`set_current`]).
pub const HARD_CAP: usize = 6 << 30;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static LARGEST: AtomicUsize = AtomicUsize::new(0);
/// The case running now (target index, input number), for the message when [`HARD_CAP`] is hit.
static CURRENT_TARGET: AtomicUsize = AtomicUsize::new(usize::MAX);
static CURRENT_INPUT: AtomicU64 = AtomicU64::new(0);

/// The counting allocator (see the module docs); install it with `#[global_allocator]`.
pub struct Counting;

impl Counting {
    fn grow(by: usize) -> bool {
        let live = LIVE.fetch_add(by, Ordering::Relaxed) + by;
        if live > HARD_CAP {
            LIVE.fetch_sub(by, Ordering::Relaxed);
            refused(by, live - by);
            return false;
        }
        PEAK.fetch_max(live, Ordering::Relaxed);
        LARGEST.fetch_max(by, Ordering::Relaxed);
        true
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if !Self::grow(l.size()) {
            return std::ptr::null_mut();
        }
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        if !Self::grow(l.size()) {
            return std::ptr::null_mut();
        }
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        if new > l.size() {
            if !Self::grow(new - l.size()) {
                return std::ptr::null_mut();
            }
            LARGEST.fetch_max(new, Ordering::Relaxed);
        }
        let q = unsafe { System.realloc(p, l, new) };
        if new < l.size() && !q.is_null() {
            LIVE.fetch_sub(l.size() - new, Ordering::Relaxed);
        }
        q
    }
}

/// Says, without allocating, which case asked for too much, before the process aborts.
fn refused(size: usize, live: usize) {
    use std::io::Write;
    let mut buf = [0u8; 200];
    let mut w = &mut buf[..];
    let target = CURRENT_TARGET.load(Ordering::Relaxed);
    let name = targets::NAMES.get(target).copied().unwrap_or("?");
    let input = CURRENT_INPUT.load(Ordering::Relaxed);
    let _ = write!(w, "\nfuzz: FINDING: target {name} input {input} asked for {size} bytes with {live} live\n");
    let n = 200 - w.len();
    unsafe { libc::write(2, buf.as_ptr().cast(), n) };
}

/// Records the case about to run, for the message when [`HARD_CAP`] is hit.
pub fn set_current(target: &str, input: u64) {
    let index = targets::NAMES.iter().position(|n| *n == target).unwrap_or(usize::MAX);
    CURRENT_TARGET.store(index, Ordering::Relaxed);
    CURRENT_INPUT.store(input, Ordering::Relaxed);
}

thread_local! {
    /// Whether this thread is running a case, so its panics are recorded, not printed.
    static IN_CASE: Cell<bool> = const { Cell::new(false) };
}
/// The message of the last panic inside a case.
static PANIC: Mutex<Option<String>> = Mutex::new(None);

/// Installs a panic hook that records panics inside a case (they are findings, reported with
/// the input) and leaves every other panic to the default hook.
pub fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if IN_CASE.with(Cell::get) {
            *PANIC.lock().unwrap_or_else(|p| p.into_inner()) = Some(info.to_string());
        } else {
            default(info);
        }
    }));
}

/// How a case ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The loader accepted the input.
    Ok,
    /// The loader refused it with an error (its message).
    Err(String),
    /// A panic, too much memory or too much time: a bug.
    Finding(String),
}

/// One case's outcome and its costs.
#[derive(Debug)]
pub struct Measured {
    pub outcome: Outcome,
    pub time: Duration,
    /// Live heap added at the peak, in bytes.
    pub peak: usize,
    /// Largest single allocation, in bytes.
    pub largest: usize,
}

/// Runs `target` on `input` (presented as `variant` says) under watch (see the module docs).
/// Cases must not run at the same time in one process: the memory counts are process-wide.
pub fn run_case(target: &mut targets::Target, input: &[u8], variant: u32) -> Measured {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    LARGEST.store(0, Ordering::Relaxed);
    IN_CASE.with(|c| c.set(true));
    let start = Instant::now();
    let result = catch_unwind(AssertUnwindSafe(|| target.run(input, variant)));
    let time = start.elapsed();
    IN_CASE.with(|c| c.set(false));
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    let largest = LARGEST.load(Ordering::Relaxed);
    let outcome = match result {
        Err(_) => {
            let message = PANIC.lock().unwrap_or_else(|p| p.into_inner()).take();
            Outcome::Finding(format!("panic: {}", message.unwrap_or_else(|| "(no message)".into())))
        }
        Ok(_) if peak > PEAK_LIMIT => Outcome::Finding(format!("{peak} bytes of live heap (limit {PEAK_LIMIT})")),
        Ok(_) if time > TIME_LIMIT => Outcome::Finding(format!("took {time:?} (limit {TIME_LIMIT:?})")),
        Ok(Ok(())) => Outcome::Ok,
        Ok(Err(e)) if target.names_file && !e.to_string().contains(&*target.dir().to_string_lossy()) => {
            Outcome::Finding(format!("the refusal does not name the file: {e}"))
        }
        Ok(Err(e)) => Outcome::Err(e.to_string()),
    };
    Measured { outcome, time, peak, largest }
}

/// The process's peak resident memory (VmHWM) in bytes, from /proc.
pub fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Starts a new peak-resident-memory measurement (Linux: writing 5 to clear_refs resets VmHWM).
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}
