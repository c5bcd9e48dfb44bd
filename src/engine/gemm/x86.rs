//! The x86-64 microkernels: AVX-512 (a 12 × 32 tile in 24 of the 32 zmm registers) and
//! AVX2 + FMA (6 × 16 in 12 of the 16 ymm registers), each a broadcast of `A` times two vectors
//! of `B` per step of `k`. `A` comes packed, in place from a row-major matrix, or as windows
//! of an image (a convolution's patches read straight from it).

use super::blocked::Micro;
use std::arch::x86_64::*;

/// How a kernel reads `A[r][p]`.
trait Rows<const MR: usize> {
    unsafe fn get(&self, r: usize, p: usize) -> f32;
}

/// A packed strip: `MR` values per step.
struct Packed(*const f32);
impl<const MR: usize> Rows<MR> for Packed {
    #[inline(always)]
    unsafe fn get(&self, r: usize, p: usize) -> f32 {
        unsafe { *self.0.add(p * MR + r) }
    }
}

/// Rows of a row-major matrix, `.1` apart.
struct Strided(*const f32, usize);
impl<const MR: usize> Rows<MR> for Strided {
    #[inline(always)]
    unsafe fn get(&self, r: usize, p: usize) -> f32 {
        unsafe { *self.0.add(r * self.1 + p) }
    }
}

/// One pointer per row, each row contiguous from it (a stretch of windows that stays inside
/// one run of each).
struct Table<const MR: usize>([*const f32; MR]);
impl<const MR: usize> Rows<MR> for Table<MR> {
    #[inline(always)]
    unsafe fn get(&self, r: usize, p: usize) -> f32 {
        unsafe { *self.0[r].add(p) }
    }
}

/// A kernel type and its tile function, for one vector width: `$lanes` floats per vector, two
/// vectors (`NR = 2·$lanes`) per row of the tile.
macro_rules! kernel {
    ($name:ident, $tile:ident, $tile_window:ident, $steps:ident, $feature:literal,
     $mr:literal, $lanes:literal, $vec:ident,
     $zero:ident, $load:ident, $splat:ident, $fma:ident, $add:ident, $store:ident) => {
        pub(super) struct $name;

        impl Micro for $name {
            const MR: usize = $mr;
            const NR: usize = 2 * $lanes;

            #[inline]
            unsafe fn tile(kc: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize, add: bool) {
                unsafe { $tile::<$mr, _>(kc, Packed(a), b, c, ldc, add) }
            }

            #[inline]
            unsafe fn tile_rows(
                kc: usize,
                a: *const f32,
                lda: usize,
                b: *const f32,
                c: *mut f32,
                ldc: usize,
                add: bool,
            ) {
                unsafe { $tile::<$mr, _>(kc, Strided(a, lda), b, c, ldc, add) }
            }

            #[inline]
            unsafe fn tile_window(
                kc: usize,
                starts: *const *const f32,
                window: super::blocked::Window,
                b: *const f32,
                c: *mut f32,
                ldc: usize,
                add: bool,
            ) {
                unsafe { $tile_window::<$mr>(kc, starts, window, b, c, ldc, add) }
            }
        }

        /// `kc` steps of the tile's sums, reading `B` from `*b` on (and moving it past them).
        #[target_feature(enable = $feature)]
        #[inline]
        unsafe fn $steps<const MR: usize, A: Rows<MR>>(acc: &mut [[$vec; 2]; MR], kc: usize, a: A, b: &mut *const f32) {
            for p in 0..kc {
                let (b0, b1) = unsafe { ($load(*b), $load(b.add($lanes))) };
                for (r, row) in acc.iter_mut().enumerate() {
                    let x = $splat(unsafe { a.get(r, p) });
                    row[0] = $fma(x, b0, row[0]);
                    row[1] = $fma(x, b1, row[1]);
                }
                *b = unsafe { b.add(2 * $lanes) };
            }
        }

        #[target_feature(enable = $feature)]
        unsafe fn $tile<const MR: usize, A: Rows<MR>>(
            kc: usize,
            a: A,
            mut b: *const f32,
            c: *mut f32,
            ldc: usize,
            add: bool,
        ) {
            let mut acc = [[$zero(); 2]; MR];
            unsafe { $steps(&mut acc, kc, a, &mut b) };
            store_tile!(acc, c, ldc, add, $lanes, $load, $add, $store);
        }

        /// The tile over windowed rows of `A`, a stretch inside one run of the windows at a
        /// time (every row reads its stretch contiguously), the sums carried across stretches.
        #[target_feature(enable = $feature)]
        unsafe fn $tile_window<const MR: usize>(
            kc: usize,
            starts: *const *const f32,
            w: super::blocked::Window,
            mut b: *const f32,
            c: *mut f32,
            ldc: usize,
            add: bool,
        ) {
            let mut acc = [[$zero(); 2]; MR];
            let (mut p, mut q) = (0, w.from);
            while p < kc {
                let (ky, kx) = (q / w.run, q % w.run);
                let len = (w.run - kx).min(kc - p);
                let shift = ky * w.gap + kx;
                let rows = Table(std::array::from_fn(|r| unsafe { (*starts.add(r)).add(shift) }));
                unsafe { $steps(&mut acc, len, rows, &mut b) };
                p += len;
                q += len;
            }
            store_tile!(acc, c, ldc, add, $lanes, $load, $add, $store);
        }
    };
}

/// Stores a tile's sums into `c`, or adds them to it when `add` (a macro, so that the sums
/// stay in registers: as a function it was not always inlined).
macro_rules! store_tile {
    ($acc:expr, $c:expr, $ldc:expr, $add:expr, $lanes:literal, $load:ident, $addv:ident, $store:ident) => {
        for (r, row) in $acc.iter().enumerate() {
            let out = unsafe { $c.add(r * $ldc) };
            let (mut x0, mut x1) = (row[0], row[1]);
            if $add {
                unsafe {
                    x0 = $addv($load(out), x0);
                    x1 = $addv($load(out.add($lanes)), x1);
                }
            }
            unsafe {
                $store(out, x0);
                $store(out.add($lanes), x1);
            }
        }
    };
}

kernel!(
    Avx512,
    avx512_tile,
    avx512_tile_window,
    avx512_steps,
    "avx512f",
    12,
    16,
    __m512,
    _mm512_setzero_ps,
    _mm512_loadu_ps,
    _mm512_set1_ps,
    _mm512_fmadd_ps,
    _mm512_add_ps,
    _mm512_storeu_ps
);
kernel!(
    Avx2,
    avx2_tile,
    avx2_tile_window,
    avx2_steps,
    "avx2,fma",
    6,
    8,
    __m256,
    _mm256_setzero_ps,
    _mm256_loadu_ps,
    _mm256_set1_ps,
    _mm256_fmadd_ps,
    _mm256_add_ps,
    _mm256_storeu_ps
);

/// `c (m×n, row stride ldc) (+)= a · b` for a few rows (`m` ≤ `SKINNY_ROWS`) with `b` row-major, read in
/// place: the sums run in the blocked product's order (per panel of `depth`: zero, then a fused
/// multiply-add for each step of `k` in turn; the panel's sum then stored or added to `c`), so
/// the bits are those of the microkernels.
///
/// # Safety
/// `a` reaches `m × k` values, `b` `k × n` with unit column stride, `c` `m` rows of `n` at
/// stride `ldc`; the CPU has AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn skinny(
    m: usize,
    n: usize,
    k: usize,
    depth: usize,
    a: super::blocked::View,
    b: super::blocked::View,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
) {
    const STRIP: usize = 256;
    debug_assert!(m <= super::SKINNY_ROWS && b.cs == 1);
    let mut acc = [[0.0f32; STRIP]; super::SKINNY_ROWS];
    for j0 in (0..n).step_by(STRIP) {
        let w = STRIP.min(n - j0);
        for pc in (0..k).step_by(depth) {
            let kc = depth.min(k - pc);
            for row in &mut acc[..m] {
                row[..w].fill(0.0);
            }
            for p in pc..pc + kc {
                // SAFETY: the caller's bounds.
                let bp = unsafe { std::slice::from_raw_parts(b.ptr.offset(p as isize * b.rs).add(j0), w) };
                for (i, row) in acc[..m].iter_mut().enumerate() {
                    let x = unsafe { a.get(i, p) };
                    for (s, &y) in row[..w].iter_mut().zip(bp) {
                        *s = x.mul_add(y, *s);
                    }
                }
            }
            let add = accumulate || pc > 0;
            for (i, row) in acc[..m].iter().enumerate() {
                let out = unsafe { std::slice::from_raw_parts_mut(c.add(i * ldc + j0), w) };
                for (o, &s) in out.iter_mut().zip(&row[..w]) {
                    *o = if add { *o + s } else { s };
                }
            }
        }
    }
}

/// `c (kdim × n, row stride n) (+)= Wᵀ · b`, where row `i` of `W` (`k × kdim`) is the window at
/// `start(i)` (runs of `run` values `gap` apart) and `b` is `k × n` row-major: a convolution's
/// kernel gradient, patchesᵀ · dy, for patches too short to pack well (a first layer on one
/// channel), read in place. The blocked product's order (panels of `depth` along `k`, each sum
/// one FMA chain from zero added to `c` at the panel's end), so the bits are those of
/// `matmul(kdim, n, k, patches, true, b, …)`.
///
/// The register tile is `TAPS` rows of `c` by 16 columns: each step reads 16 values of `b` and
/// one value of each of the `TAPS` windows.
///
/// # Safety
/// Every window element (rows `0..k`, values `0..kdim`) is valid; `b` holds `k × n` values and
/// `c` `kdim × n`; the CPU has AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn windows_t<const TAPS: usize>(
    kdim: usize,
    n: usize,
    k: usize,
    depth: usize,
    a: super::blocked::Windows,
    b: *const f32,
    c: *mut f32,
    accumulate: bool,
) {
    const COLS: usize = 16;
    debug_assert!(depth <= super::blocked::KC);
    let run = a.run.max(1);
    // Where the window's value `q` lies from its start; past `kdim`, the start itself (read
    // for the last block's missing rows, whose sums are dropped).
    let offset = |q: usize| if q < kdim { q / run * a.gap + q % run } else { 0 };
    let mut rows = [std::ptr::null::<f32>(); super::blocked::KC];
    for p0 in (0..k).step_by(depth) {
        let kc = depth.min(k - p0);
        for (j, r) in rows[..kc].iter_mut().enumerate() {
            *r = (a.start)(p0 + j);
        }
        let add = accumulate || p0 > 0;
        for j0 in (0..n).step_by(COLS) {
            let w = COLS.min(n - j0);
            for q0 in (0..kdim).step_by(TAPS) {
                let taps = TAPS.min(kdim - q0);
                let o: [usize; TAPS] = std::array::from_fn(|t| offset(q0 + t));
                let mut acc = [[0.0f32; COLS]; TAPS];
                for (j, &row) in rows[..kc].iter().enumerate() {
                    // SAFETY: row p0 + j of b, columns j0..j0 + w.
                    let line = unsafe { b.add((p0 + j) * n + j0) };
                    let mut bv = [0.0f32; COLS];
                    if w == COLS {
                        bv = unsafe { *(line as *const [f32; COLS]) };
                    } else {
                        bv[..w].copy_from_slice(unsafe { std::slice::from_raw_parts(line, w) });
                    }
                    for (t, sums) in acc.iter_mut().enumerate() {
                        let x = unsafe { *row.add(o[t]) };
                        for (s, &y) in sums.iter_mut().zip(&bv) {
                            *s = x.mul_add(y, *s);
                        }
                    }
                }
                for (t, sums) in acc[..taps].iter().enumerate() {
                    let out = unsafe { std::slice::from_raw_parts_mut(c.add((q0 + t) * n + j0), w) };
                    for (v, &s) in out.iter_mut().zip(sums) {
                        *v = if add { *v + s } else { s };
                    }
                }
            }
        }
    }
}

/// Writes the 8 × 8 block at `src` (rows `ld` apart) transposed to `dst` (rows `ldd` apart):
/// packing a transposed operand (the weights of a dense layer's input gradient) eight lines
/// at a time instead of a value at a time.
///
/// # Safety
/// Both blocks are valid and do not overlap; the CPU has AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn transpose8(src: *const f32, ld: usize, dst: *mut f32, ldd: usize) {
    unsafe {
        let r: [__m256; 8] = std::array::from_fn(|i| _mm256_loadu_ps(src.add(i * ld)));
        let t0 = _mm256_unpacklo_ps(r[0], r[1]);
        let t1 = _mm256_unpackhi_ps(r[0], r[1]);
        let t2 = _mm256_unpacklo_ps(r[2], r[3]);
        let t3 = _mm256_unpackhi_ps(r[2], r[3]);
        let t4 = _mm256_unpacklo_ps(r[4], r[5]);
        let t5 = _mm256_unpackhi_ps(r[4], r[5]);
        let t6 = _mm256_unpacklo_ps(r[6], r[7]);
        let t7 = _mm256_unpackhi_ps(r[6], r[7]);
        let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
        let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
        let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
        let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
        let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
        let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
        let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
        let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
        let out = [
            _mm256_permute2f128_ps::<0x20>(u0, u4),
            _mm256_permute2f128_ps::<0x20>(u1, u5),
            _mm256_permute2f128_ps::<0x20>(u2, u6),
            _mm256_permute2f128_ps::<0x20>(u3, u7),
            _mm256_permute2f128_ps::<0x31>(u0, u4),
            _mm256_permute2f128_ps::<0x31>(u1, u5),
            _mm256_permute2f128_ps::<0x31>(u2, u6),
            _mm256_permute2f128_ps::<0x31>(u3, u7),
        ];
        for (i, v) in out.into_iter().enumerate() {
            _mm256_storeu_ps(dst.add(i * ldd), v);
        }
    }
}
