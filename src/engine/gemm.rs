//! Row-major matrix products, the one place the engine multiplies matrices.
//!
//! On x86-64 the products are our own (`gemm/blocked.rs`: packed operands, a register-tile
//! microkernel), with the kernel chosen at run time from what the CPU has: AVX-512F, else
//! AVX2 with FMA. Both give the same bits (see `gemm/blocked.rs`), so a model trains identically on
//! either kind of CPU. Elsewhere, and on x86 CPUs without FMA, the `gemm` crate runs them.

mod blocked;
#[cfg(target_arch = "x86_64")]
mod x86;

use super::SendPtr;
use blocked::{Source, View};
pub(crate) use blocked::{Windows, depth_for, depth_within};
use gemm::Parallelism;
use rayon::prelude::*;
use std::cell::Cell;
use std::sync::atomic::{AtomicU8, Ordering};

thread_local! {
    static IN_GEMM: Cell<bool> = const { Cell::new(false) };
}

/// Whether this thread is inside a call to the `gemm` crate (the fallback), which allocates its
/// own packing buffers per call (it takes no caller workspace); the allocation test uses this
/// to tell those apart from the engine's own.
#[doc(hidden)]
pub fn inside_gemm() -> bool {
    IN_GEMM.with(|c| c.get())
}

/// Below this many multiply-adds a product runs on one thread: spawning costs more.
const PARALLEL_MIN_FLOPS: usize = 1 << 17;

/// Up to this many rows of `A`, a product with a row-major `B` reads `B` in place instead of
/// packing it: packing copies all of `B` (a dense layer's weights) to use it for a row or two,
/// which is most of the time of predicting one image.
const SKINNY_ROWS: usize = 4;

/// The code that runs the products.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// AVX-512F, 12 × 32 register tiles.
    Avx512,
    /// AVX2 and FMA, 6 × 16 register tiles.
    Avx2,
    /// The `gemm` crate (CPUs without FMA, other architectures).
    Fallback,
}

impl Kernel {
    /// The fastest kernel this CPU runs.
    pub fn detect() -> Kernel {
        [Kernel::Avx512, Kernel::Avx2].into_iter().find(|k| k.available()).unwrap_or(Kernel::Fallback)
    }

    /// Whether this CPU runs the kernel.
    pub fn available(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma"),
            Kernel::Fallback => true,
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// The name `DIGITS_GEMM` and the benchmarks use: `avx512`, `avx2`, `fallback`.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Avx512 => "avx512",
            Kernel::Avx2 => "avx2",
            Kernel::Fallback => "fallback",
        }
    }

    /// The kernel of a name given by [`Kernel::name`].
    pub fn from_name(name: &str) -> Option<Kernel> {
        KERNELS.into_iter().find(|k| k.name() == name)
    }
}

/// What the benchmarks print about the machine: the CPU's model name and the SIMD extensions
/// that decide the kernel.
#[derive(Clone, Debug)]
pub struct Cpu {
    pub model: String,
    pub simd: String,
}

impl Cpu {
    /// Reads the model name from `/proc/cpuinfo` ("unknown" elsewhere) and detects the SIMD
    /// extensions at run time.
    pub fn read() -> Cpu {
        let model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split(':').nth(1))
                    .map(|m| m.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        #[allow(unused_mut)]
        let mut simd: Vec<&str> = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            macro_rules! has {
                ($($x:tt),*) => { $( if std::arch::is_x86_feature_detected!($x) { simd.push($x); } )* };
            }
            has!("avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512bf16", "avx512vnni");
        }
        Cpu { model, simd: simd.join(" ") }
    }
}

/// The chosen kernel: 0 until chosen, then 1 + its index.
static CHOSEN: AtomicU8 = AtomicU8::new(0);
const KERNELS: [Kernel; 3] = [Kernel::Avx512, Kernel::Avx2, Kernel::Fallback];

/// The kernel the products use: the one [`set_kernel`] chose, else [`Kernel::detect`]'s.
pub fn kernel() -> Kernel {
    match CHOSEN.load(Ordering::Relaxed) {
        0 => remember(Kernel::detect()),
        i => KERNELS[usize::from(i - 1).min(2)],
    }
}

fn remember(k: Kernel) -> Kernel {
    CHOSEN.store(1 + KERNELS.iter().position(|x| *x == k).unwrap_or(2) as u8, Ordering::Relaxed);
    k
}

/// Makes the products use `k` (to compare kernels on one machine); an error when this CPU
/// lacks its instructions.
pub fn set_kernel(k: Kernel) -> Result<(), crate::Error> {
    if !k.available() {
        return Err(crate::Error::invalid(format!("this CPU cannot run the {} matrix kernel", k.name())));
    }
    remember(k);
    Ok(())
}

/// Allocates the packing space of the calling thread and, once the engine's threads are set,
/// of every thread of the pool, so that no product allocates later (the engine calls it when
/// it builds a network; a thread not reached here allocates at its first product).
pub fn reserve_workspaces() {
    if kernel() != Kernel::Fallback {
        blocked::reserve();
        if super::threads_set() {
            rayon::broadcast(|_| blocked::reserve());
        }
    }
}

/// `c (m×n) = a (m×k) · b (k×n)`, or `c += …` when `accumulate`.
///
/// `a_t` means `a` is stored transposed (`k×m` row-major), `b_t` likewise (`n×k`). `parallel`
/// lets the product use the engine's threads; callers that already run one product per thread
/// pass `false`. The result does not depend on the number of threads.
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    a_t: bool,
    b: &[f32],
    b_t: bool,
    c: &mut [f32],
    accumulate: bool,
    parallel: bool,
) {
    matmul_with(kernel(), m, n, k, a, a_t, b, b_t, c, accumulate, parallel)
}

/// [`matmul`] on a given kernel (tests and benchmarks compare them); one the CPU lacks runs as
/// the fallback.
#[doc(hidden)]
#[allow(clippy::too_many_arguments)]
pub fn matmul_with(
    kernel: Kernel,
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    a_t: bool,
    b: &[f32],
    b_t: bool,
    c: &mut [f32],
    accumulate: bool,
    parallel: bool,
) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n, "matmul: buffer too small");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c[..m * n].fill(0.0);
        }
        return;
    }
    let threads = super::threads();
    let threads = if parallel && threads > 1 && m * n * k >= PARALLEL_MIN_FLOPS { threads } else { 1 };
    let (a, b) = (View::of(a, a_t, m, k), View::of(b, b_t, k, n));
    let kernel = if kernel.available() { kernel } else { Kernel::Fallback };
    #[cfg(target_arch = "x86_64")]
    if kernel != Kernel::Fallback && m <= SKINNY_ROWS && b.cs == 1 {
        return skinny(m, n, k, a, b, c, accumulate, threads);
    }
    match kernel {
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512 => split::<x86::Avx512>(m, n, k, a, b, c, accumulate, threads),
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 => split::<x86::Avx2>(m, n, k, a, b, c, accumulate, threads),
        _ => fallback(m, n, k, a, b, c, accumulate, threads),
    }
}

/// Runs the product in `threads` pieces of whole register tiles: bands of columns when `c` is
/// wider than tall, else bands of rows.
#[allow(clippy::too_many_arguments)]
fn split<K: blocked::Micro>(
    m: usize,
    n: usize,
    k: usize,
    a: View,
    b: View,
    c: &mut [f32],
    accumulate: bool,
    threads: usize,
) {
    let cp = SendPtr(c.as_mut_ptr());
    // SAFETY (all calls below): `matmul` checked the lengths; the pieces write disjoint bands
    // of `c`, and the views only read.
    let depth = blocked::depth_for(k);
    if threads == 1 {
        unsafe { blocked::product::<K>(m, n, k, Source::View(a), Source::View(b), depth, cp.get(), n, accumulate) };
        return;
    }
    let by_columns = n >= m;
    let (len, unit) = if by_columns { (n, K::NR) } else { (m, K::MR) };
    let band = len.div_ceil(threads).div_ceil(unit) * unit;
    let pieces = len.div_ceil(band);
    let (a, b) = (SendView(a), SendView(b));
    (0..pieces).into_par_iter().for_each(|t| {
        let (a, b) = (a.get(), b.get());
        let lo = t * band;
        let width = band.min(len - lo);
        unsafe {
            if by_columns {
                let b = View { ptr: b.ptr.offset(lo as isize * b.cs), ..b };
                let (a, b) = (Source::View(a), Source::View(b));
                blocked::product::<K>(m, width, k, a, b, depth, cp.get().add(lo), n, accumulate);
            } else {
                let a = View { ptr: a.ptr.offset(lo as isize * a.rs), ..a };
                let (a, b) = (Source::View(a), Source::View(b));
                blocked::product::<K>(width, n, k, a, b, depth, cp.get().add(lo * n), n, accumulate);
            }
        }
    });
}

/// A product of at most [`SKINNY_ROWS`] rows with a row-major `B`, in bands of columns on
/// `threads` threads; the same bits as the blocked product (see `x86::skinny`).
#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
fn skinny(m: usize, n: usize, k: usize, a: View, b: View, c: &mut [f32], accumulate: bool, threads: usize) {
    let depth = blocked::depth_for(k);
    let cp = SendPtr(c.as_mut_ptr());
    let band = n.div_ceil(threads).div_ceil(16) * 16;
    let (a, b) = (SendView(a), SendView(b));
    // SAFETY: `matmul` checked the lengths; the bands write disjoint columns of `c`; the CPU
    // has AVX2 and FMA (our kernels run only where it does).
    let run = |lo: usize| unsafe {
        x86::skinny(m, band.min(n - lo), k, depth, a.get(), b.get().at(0, lo), cp.get().add(lo), n, accumulate)
    };
    if threads == 1 {
        run(0);
    } else {
        (0..n.div_ceil(band)).into_par_iter().for_each(|t| run(t * band));
    }
}

/// Whether [`matmul_rows`] runs here (our kernels; not the fallback).
pub(crate) fn rows_supported() -> bool {
    kernel() != Kernel::Fallback
}

/// `c (m×n) (+)= a · b` on the calling thread, in panels of `depth` along `k`, where one
/// operand is a convolution's patches read straight from the image as [`Windows`]: `A`, or
/// else `B` (whose runs then hold whole strips of 32 columns). The other operand is a
/// row-major matrix, transposed when `*_t`.
///
/// # Safety
/// Every element of the windows (`A`: rows `0..m`, values `0..k`; `B`: rows `0..k`, values
/// `0..n`) is valid; a `B`'s run is a multiple of 32; [`rows_supported`] holds.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn matmul_rows(
    m: usize,
    n: usize,
    k: usize,
    depth: usize,
    a: Result<Windows, (&[f32], bool)>,
    b: Result<Windows, (&[f32], bool)>,
    c: &mut [f32],
    accumulate: bool,
) {
    assert!(c.len() >= m * n, "matmul_rows: buffer too small");
    if m == 0 || n == 0 || k == 0 {
        if k == 0 && !accumulate {
            c[..m * n].fill(0.0);
        }
        return;
    }
    let view = |(x, t): (&[f32], bool), rows: usize, cols: usize| {
        assert!(x.len() >= rows * cols, "matmul_rows: buffer too small");
        Source::View(View::of(x, t, rows, cols))
    };
    let a = a.map_or_else(|x| view(x, m, k), Source::Windows);
    if let Ok(w) = &b {
        assert!(w.run.is_multiple_of(32), "matmul_rows: a B's runs must hold whole strips");
    }
    let b = b.map_or_else(|x| view(x, k, n), Source::Rows);
    let cp = c.as_mut_ptr();
    // SAFETY: as the caller promises.
    unsafe {
        match kernel() {
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => blocked::product::<x86::Avx512>(m, n, k, a, b, depth, cp, n, accumulate),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => blocked::product::<x86::Avx2>(m, n, k, a, b, depth, cp, n, accumulate),
            _ => unreachable!("matmul_rows without rows_supported"),
        }
    }
}

/// Packs `b` (`k × n`, row-major) once, in the layout the kernel in use reads, for many
/// products by [`matmul_packed`] (the 36 point products of a Winograd convolution share their
/// kernels across blocks). `None` where products take no packed operand (the fallback, or a
/// `B` larger than one panel); `out` is then untouched.
pub(crate) fn pack_b(k: usize, n: usize, b: &[f32], out: &mut Vec<f32>) -> Option<Kernel> {
    assert!(b.len() >= k * n, "pack_b: buffer too small");
    if !blocked::packs_whole(k, n) {
        return None;
    }
    let view = View::of(b, false, k, n);
    let kernel = kernel();
    macro_rules! pack {
        ($k:ty) => {{
            out.clear();
            out.resize(blocked::packed_len::<$k>(k, n), 0.0);
            // SAFETY: the lengths are checked above; the CPU runs the kernel in use.
            unsafe { blocked::pack_b::<$k>(k, n, view, out) };
            Some(kernel)
        }};
    }
    match kernel {
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512 => pack!(x86::Avx512),
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 => pack!(x86::Avx2),
        _ => None,
    }
}

/// `c (m×n) = a (m×k, row-major) · B` on the calling thread, `B` packed by [`pack_b`] for
/// `kernel`: the bits of `matmul(m, n, k, a, false, b, false, c, false, false)`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul_packed(kernel: Kernel, m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    assert!(a.len() >= m * k && c.len() >= m * n, "matmul_packed: buffer too small");
    assert!(kernel.available() && blocked::packs_whole(k, n), "matmul_packed: not a packed B of this CPU");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        c[..m * n].fill(0.0);
        return;
    }
    let a = Source::View(View::of(a, false, m, k));
    macro_rules! run {
        ($k:ty) => {{
            assert!(b.len() >= blocked::packed_len::<$k>(k, n), "matmul_packed: packed B too small");
            // SAFETY: the lengths are checked above; the CPU runs the kernel.
            unsafe { blocked::product::<$k>(m, n, k, a, Source::Packed(b.as_ptr()), k, c.as_mut_ptr(), n, false) }
        }};
    }
    match kernel {
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512 => run!(x86::Avx512),
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 => run!(x86::Avx2),
        _ => unreachable!("pack_b packs for our kernels only"),
    }
}

/// `c (kdim×n) (+)= Wᵀ · b` on the calling thread, where row `i` of `W` (`k × kdim`) is the
/// window [`Windows`] gives (a convolution's patch, read in place) and `b` is `k × n`
/// row-major: the kernel gradient patchesᵀ · dy of a convolution whose patch rows are too
/// short to pack (a first layer on one channel), without copying the patches out. The bits of
/// `matmul(kdim, n, k, patches, true, b, false, c, accumulate, false)`.
///
/// # Safety
/// Every element of the windows (rows `0..k`, values `0..kdim`) is valid;
/// [`windows_t_supported`] holds.
pub(crate) unsafe fn matmul_windows_t(
    kdim: usize,
    n: usize,
    k: usize,
    a: Windows,
    b: &[f32],
    c: &mut [f32],
    accumulate: bool,
) {
    assert!(b.len() >= k * n && c.len() >= kdim * n, "matmul_windows_t: buffer too small");
    assert!(windows_t_supported(), "matmul_windows_t: not on this CPU");
    if k == 0 {
        if !accumulate {
            c[..kdim * n].fill(0.0);
        }
        return;
    }
    let depth = blocked::depth_for(k);
    // The register tile's rows: the count that wastes the fewest rows on the last block.
    let taps = [6, 5, 4].into_iter().min_by_key(|t| (kdim.div_ceil(*t) * t, usize::MAX - t)).unwrap_or(4);
    let (bp, cp) = (b.as_ptr(), c.as_mut_ptr());
    // SAFETY: as the caller promises, with the lengths checked above.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        match taps {
            6 => x86::windows_t::<6>(kdim, n, k, depth, a, bp, cp, accumulate),
            5 => x86::windows_t::<5>(kdim, n, k, depth, a, bp, cp, accumulate),
            _ => x86::windows_t::<4>(kdim, n, k, depth, a, bp, cp, accumulate),
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (depth, taps, bp, cp);
}

/// Whether [`matmul_windows_t`] runs here (our kernels, not the fallback).
pub(crate) fn windows_t_supported() -> bool {
    cfg!(target_arch = "x86_64") && rows_supported()
}

/// A view that may cross threads (the pieces only read through it).
#[derive(Clone, Copy)]
struct SendView(View);
unsafe impl Send for SendView {}
unsafe impl Sync for SendView {}
impl SendView {
    fn get(self) -> View {
        self.0
    }
}

#[allow(clippy::too_many_arguments)]
fn fallback(m: usize, n: usize, k: usize, a: View, b: View, c: &mut [f32], accumulate: bool, threads: usize) {
    let par = if threads > 1 { Parallelism::Rayon(threads) } else { Parallelism::None };
    IN_GEMM.with(|f| f.set(true));
    // SAFETY: `matmul` checked that the strides stay inside the buffers; `c` does not alias.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.ptr,
            a.cs,
            a.rs,
            b.ptr,
            b.cs,
            b.rs,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            par,
        );
    }
    IN_GEMM.with(|f| f.set(false));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(m: usize, n: usize, k: usize, a: &[f32], a_t: bool, b: &[f32], b_t: bool) -> Vec<f32> {
        let mut c = vec![0.0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = 0.0f64;
                for p in 0..k {
                    let av = if a_t { a[p * m + i] } else { a[i * k + p] };
                    let bv = if b_t { b[j * k + p] } else { b[p * n + j] };
                    s += av as f64 * bv as f64;
                }
                c[i * n + j] = s as f32;
            }
        }
        c
    }

    fn data(len: usize, mul: usize, modulo: usize) -> Vec<f32> {
        (0..len).map(|i| ((i * mul % modulo) as f32 - (modulo / 2) as f32) / 7.0).collect()
    }

    #[test]
    fn every_kernel_matches_naive_on_edges_and_blocks() {
        // Shapes around the tiles' and the blocks' edges (MC = 144, KC = 256), one deeper than
        // two panels, one wider than NC = 2048.
        let shapes = [(1, 1, 1), (13, 33, 7), (145, 17, 300), (7, 2049, 5), (392, 64, 600), (25, 32, 1000)];
        for kernel in [Kernel::Avx512, Kernel::Avx2, Kernel::Fallback] {
            if !kernel.available() {
                eprintln!("{}: not on this CPU", kernel.name());
                continue;
            }
            for &(m, n, k) in &shapes {
                let a = data(m * k, 7, 13);
                let b = data(k * n, 5, 11);
                for (a_t, b_t) in [(false, false), (true, false), (false, true), (true, true)] {
                    let want = naive(m, n, k, &a, a_t, &b, b_t);
                    for parallel in [false, true] {
                        let mut c = vec![0.5f32; m * n];
                        matmul_with(kernel, m, n, k, &a, a_t, &b, b_t, &mut c, true, parallel);
                        for (i, (x, y)) in c.iter().zip(&want).enumerate() {
                            let tol = 1e-5 * (k as f32).sqrt() * y.abs().max(1.0);
                            assert!(
                                (x - 0.5 - y).abs() <= tol,
                                "{kernel:?} {m}×{n}×{k} t={a_t},{b_t} [{i}]: {x} vs {y}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn the_kernels_and_thread_counts_give_the_same_bits() {
        let (m, n, k) = (150, 70, 530);
        let a = data(m * k, 7, 13);
        let b = data(k * n, 5, 11);
        let run = |kernel: Kernel, parallel: bool| {
            let mut c = data(m * n, 3, 5);
            matmul_with(kernel, m, n, k, &a, false, &b, true, &mut c, true, parallel);
            c
        };
        let ours: Vec<Kernel> = [Kernel::Avx512, Kernel::Avx2].into_iter().filter(|k| k.available()).collect();
        for pair in ours.windows(2) {
            assert!(run(pair[0], true) == run(pair[1], false), "{:?} and {:?} differ", pair[0], pair[1]);
        }
        for &kernel in &ours {
            assert!(run(kernel, true) == run(kernel, false), "{kernel:?}: threads change the bits");
        }
    }

    #[test]
    fn a_few_rows_read_b_in_place_with_the_bits_of_the_blocked_product() {
        // Rows 0..m of a 24-row product (blocked, B packed) against the same rows alone (B read
        // in place), over one and several panels of k, with and without accumulating, on one
        // and two threads.
        for kernel in [Kernel::Avx512, Kernel::Avx2].into_iter().filter(|k| k.available()) {
            for (n, k) in [(10, 3), (512, 784), (300, 1000), (33, 257)] {
                let a = data(24 * k, 7, 13);
                let b = data(k * n, 5, 11);
                for accumulate in [false, true] {
                    let mut all = data(24 * n, 3, 5);
                    matmul_with(kernel, 24, n, k, &a, false, &b, false, &mut all, accumulate, false);
                    for m in 1..=SKINNY_ROWS {
                        for parallel in [false, true] {
                            let mut few = data(m * n, 3, 5);
                            matmul_with(kernel, m, n, k, &a, false, &b, false, &mut few, accumulate, parallel);
                            assert!(
                                few == all[..m * n],
                                "{kernel:?} {m}×{n}×{k} accumulate={accumulate} parallel={parallel}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn windows_read_in_place_give_the_bits_of_the_copied_patches() {
        // Windows of runs of `run` values `gap` apart in an "image"; the same patches copied
        // out (im2col) and multiplied by the blocked product.
        if !windows_t_supported() {
            eprintln!("not on this CPU");
            return;
        }
        let image = data(40_000, 7, 13);
        for (run, rows, n, k) in [(5, 5, 32, 600), (3, 3, 64, 257), (7, 1, 20, 40), (4, 4, 48, 1000)] {
            let (gap, kdim) = (37, run * rows);
            let start_of = |i: usize| (i * 11) % 30_000;
            let mut patches = vec![0.0f32; k * kdim];
            for i in 0..k {
                for q in 0..kdim {
                    patches[i * kdim + q] = image[start_of(i) + q / run * gap + q % run];
                }
            }
            let b = data(k * n, 5, 11);
            let start = |i: usize| image[start_of(i)..].as_ptr();
            for accumulate in [false, true] {
                let mut want = data(kdim * n, 3, 5);
                matmul(kdim, n, k, &patches, true, &b, false, &mut want, accumulate, false);
                let mut got = data(kdim * n, 3, 5);
                // SAFETY: every window lies inside `image`.
                unsafe { matmul_windows_t(kdim, n, k, Windows { start: &start, run, gap }, &b, &mut got, accumulate) };
                assert!(got == want, "run {run} × {rows}, n {n}, k {k}, accumulate {accumulate}");
            }
        }
    }

    #[test]
    fn all_transpose_combinations_match_naive() {
        let (m, n, k) = (37, 29, 41);
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 7 % 13) as f32 - 6.0) / 5.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i * 5 % 11) as f32 - 5.0) / 3.0).collect();
        for a_t in [false, true] {
            for b_t in [false, true] {
                let want = naive(m, n, k, &a, a_t, &b, b_t);
                let mut c = vec![1.0f32; m * n];
                matmul(m, n, k, &a, a_t, &b, b_t, &mut c, false, true);
                for (x, y) in c.iter().zip(&want) {
                    assert!((x - y).abs() < 1e-4, "{x} vs {y}");
                }
                let mut c2 = vec![1.0f32; m * n];
                matmul(m, n, k, &a, a_t, &b, b_t, &mut c2, true, false);
                for (x, y) in c2.iter().zip(&want) {
                    assert!((x - (y + 1.0)).abs() < 1e-4);
                }
            }
        }
    }
}
