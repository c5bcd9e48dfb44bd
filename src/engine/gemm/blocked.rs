//! The blocked product over packed operands (Goto and van de Geijn's scheme, as BLIS lays it
//! out): `B` is packed a `KC × NC` panel at a time into strips `NR` columns wide, `A` an
//! `MC × KC` block at a time into strips `MR` rows tall, and a register-tile microkernel
//! multiplies one strip of each into an `MR × NR` tile of `C`. A `B` strip (`KC·NR` values)
//! stays in L1 while the `A` strips of a block stream past it from L2.
//!
//! Every element of `C` is one fused multiply-add chain over `k` in order, restarted at each
//! `KC` boundary and added to `C` there, whatever the kernel's tile shape, the split between
//! threads or the position of the element in an edge tile: so the AVX-512 and AVX2 kernels, and
//! one thread or many, give the same bits.

use std::cell::RefCell;

/// Depth of a packed panel: a `B` strip of `KC × 32` floats is 32 KiB.
pub(super) const KC: usize = 256;
/// Rows of a packed `A` block (a multiple of every kernel's `MR`): 144 KiB at full depth.
const MC: usize = 144;
/// Columns of a packed `B` panel (a multiple of every kernel's `NR`): 2 MiB at full depth.
const NC: usize = 2048;
/// The largest register tile of any kernel, for the edge tiles' scratch.
const MAX_TILE: usize = 16 * 32;
/// The most rows of any kernel's tile.
const MAX_MR: usize = 16;

/// A register-tile microkernel: `MR × NR` of `C`.
pub(super) trait Micro {
    const MR: usize;
    const NR: usize;
    /// `c[r·ldc + j] (+)= Σ_p a[p·MR + r] · b[p·NR + j]` for the whole tile, adding to `c` when
    /// `add`. Each sum is one FMA chain from zero, in order of `p`, added to `c` at the end.
    ///
    /// # Safety
    /// `a` holds `kc·MR` values, `b` `kc·NR`, `c` the tile at row stride `ldc`; the CPU has
    /// the kernel's instructions.
    unsafe fn tile(kc: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize, add: bool);
    /// [`Micro::tile`] with `A` read in place: `MR` rows of `kc` contiguous values, `lda` apart.
    ///
    /// # Safety
    /// As [`Micro::tile`], with `a` reaching `MR` rows at stride `lda`.
    unsafe fn tile_rows(kc: usize, a: *const f32, lda: usize, b: *const f32, c: *mut f32, ldc: usize, add: bool);
    /// [`Micro::tile`] with `A[r][p]` the value `window.from + p` of the window that starts at
    /// `starts[r]` (see [`Windows`]).
    ///
    /// # Safety
    /// As [`Micro::tile`], with `starts` holding `MR` pointers whose windows are valid.
    unsafe fn tile_window(
        kc: usize,
        starts: *const *const f32,
        window: Window,
        b: *const f32,
        c: *mut f32,
        ldc: usize,
        add: bool,
    );
}

/// A matrix whose rows are windows of an image (a convolution's patches, read in place):
/// element `(i, p)` lies at `start(i) + (p / run)·gap + p % run`, runs of `run` contiguous
/// values `gap` apart. As an `A`, or as a `B` whose runs hold whole strips of the kernel's `NR`
/// columns.
#[derive(Clone, Copy)]
pub(crate) struct Windows<'a> {
    pub start: &'a (dyn Fn(usize) -> *const f32 + Sync),
    pub run: usize,
    pub gap: usize,
}

/// The layout of a panel of windows (see [`Windows`]): from column `from` on, runs of `run`
/// values `gap` apart.
#[derive(Clone, Copy)]
pub(super) struct Window {
    pub from: usize,
    pub run: usize,
    pub gap: usize,
}

/// Where a product reads an operand.
#[derive(Clone, Copy)]
pub(super) enum Source<'a> {
    View(View),
    /// `B` only: rows as windows (see [`Windows`]).
    Rows(Windows<'a>),
    /// `A` only.
    Windows(Windows<'a>),
    /// `B` only: packed already by [`pack_b`] (one panel: `k ≤ KC`, `n ≤ NC`).
    Packed(*const f32),
}

/// Whether a `k × n` `B` fits the one panel [`pack_b`] makes.
pub(super) fn packs_whole(k: usize, n: usize) -> bool {
    k <= KC && n <= NC
}

/// Values [`pack_b`] writes for a `k × n` `B`.
pub(super) fn packed_len<K: Micro>(k: usize, n: usize) -> usize {
    n.div_ceil(K::NR) * K::NR * k
}

/// Packs the `k × n` `B` as [`product`] packs its panel (for [`Source::Packed`]).
///
/// # Safety
/// `b` reaches `k × n` valid values; `dst` holds [`packed_len`] values; [`packs_whole`].
pub(super) unsafe fn pack_b<K: Micro>(k: usize, n: usize, b: View, dst: &mut [f32]) {
    unsafe { pack::<true>(K::NR, k, n, b, dst) }
}

/// The panel depth of a product over `k` with no panel boundary required: equal panels of at
/// most KC (no short last one).
pub(crate) fn depth_for(k: usize) -> usize {
    k.div_ceil(k.div_ceil(KC))
}

/// The largest panel depth, at most KC, that divides `run` (a run of contiguous values the
/// panels must not straddle).
pub(crate) fn depth_within(run: usize) -> usize {
    let run = run.max(1);
    (run.div_ceil(KC)..=run).find(|&t| run.is_multiple_of(t)).map_or(1, |t| run / t)
}

/// A strided view of a matrix: element `(i, j)` is at `ptr + i·rs + j·cs`.
#[derive(Clone, Copy)]
pub(super) struct View {
    pub ptr: *const f32,
    pub rs: isize,
    pub cs: isize,
}

impl View {
    /// The `rows × cols` matrix stored row-major in `x`, or stored transposed (`cols × rows`)
    /// when `t`.
    pub fn of(x: &[f32], t: bool, rows: usize, cols: usize) -> View {
        let (rs, cs) = if t { (1, rows as isize) } else { (cols as isize, 1) };
        View { ptr: x.as_ptr(), rs, cs }
    }

    /// The view of the sub-matrix starting at `(i, j)`.
    pub(super) unsafe fn at(self, i: usize, j: usize) -> View {
        View { ptr: unsafe { self.ptr.offset(i as isize * self.rs + j as isize * self.cs) }, ..self }
    }
    pub(super) unsafe fn get(self, i: usize, j: usize) -> f32 {
        unsafe { *self.ptr.offset(i as isize * self.rs + j as isize * self.cs) }
    }
}

thread_local! {
    // The packed A block and B panel of this thread, allocated once at their largest.
    static PACKED: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// The packing space of one thread: an `A` block and a `B` panel at full size.
const PACKED_LEN: usize = MC * KC + KC * NC;

/// Allocates this thread's packing space now (once per thread), so that products later
/// allocate nothing.
pub(super) fn reserve() {
    PACKED.with(|p| {
        let mut p = p.borrow_mut();
        if p.len() < PACKED_LEN {
            *p = vec![0.0; PACKED_LEN];
        }
    });
}

/// `c (m×n, row stride ldc) = a · b`, or `+=` when `accumulate`, on the calling thread, in
/// panels of `depth` along `k`.
///
/// # Safety
/// The sources reach `m × k` and `k × n` valid values (a [`Source::Rows`] as its type says
/// for this `depth` and `K`), `c` `m` rows of `n` at stride `ldc`, not overlapping them; the
/// CPU runs `K`.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn product<K: Micro>(
    m: usize,
    n: usize,
    k: usize,
    a: Source,
    b: Source,
    depth: usize,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
) {
    reserve();
    PACKED.with(|p| {
        let mut p = p.borrow_mut();
        let (ap, bp) = p.split_at_mut(MC * KC);
        let mut scratch = [0.0f32; MAX_TILE];
        // Windowed A: where the block's rows start (the last repeated past the edge, whose
        // results are dropped).
        let mut starts = [std::ptr::null::<f32>(); MC + MAX_MR];
        for jc in (0..n).step_by(NC) {
            let nc = NC.min(n - jc);
            for pc in (0..k).step_by(depth) {
                let kc = depth.min(k - pc);
                let add = accumulate || pc > 0;
                let panel = match b {
                    Source::View(b) => {
                        unsafe { pack::<true>(K::NR, kc, nc, b.at(pc, jc), bp) };
                        bp.as_ptr()
                    }
                    Source::Rows(w) => {
                        unsafe { pack_rows(K::NR, kc, nc, w, pc, jc, bp) };
                        bp.as_ptr()
                    }
                    Source::Packed(panel) => {
                        assert!(jc == 0 && pc == 0 && kc == k, "a packed B is one whole panel");
                        panel
                    }
                    Source::Windows(_) => unreachable!("windows are an A"),
                };
                for ic in (0..m).step_by(MC) {
                    let mc = MC.min(m - ic);
                    // A row-major A is read in place (packing it costs as much as the product
                    // when `n` is small), and so are rows given by pointers; only a strided
                    // A, or a row-major one's last strip shorter than MR, is packed.
                    let full = match a {
                        Source::View(a) if a.cs == 1 => mc / K::MR * K::MR,
                        Source::View(_) => 0,
                        Source::Rows(_) | Source::Packed(_) => unreachable!("a B"),
                        Source::Windows(w) => {
                            for (r, s) in starts[..mc].iter_mut().enumerate() {
                                *s = (w.start)(ic + r);
                            }
                            let last = starts[mc - 1];
                            starts[mc..mc + K::MR].fill(last);
                            mc
                        }
                    };
                    if let (Source::View(a), true) = (a, full < mc) {
                        unsafe { pack::<false>(K::MR, kc, mc - full, a.at(ic + full, pc), ap) };
                    }
                    for jr in (0..nc).step_by(K::NR) {
                        let nr = K::NR.min(nc - jr);
                        let bs = unsafe { panel.add(jr * kc) };
                        for ir in (0..mc).step_by(K::MR) {
                            let mr = K::MR.min(mc - ir);
                            let at = unsafe { c.add((ic + ir) * ldc + jc + jr) };
                            let tile = |c: *mut f32, ldc: usize, add: bool| unsafe {
                                match a {
                                    Source::Windows(w) => {
                                        let window = Window { from: pc, run: w.run.max(1), gap: w.gap };
                                        K::tile_window(kc, starts[ir..].as_ptr(), window, bs, c, ldc, add)
                                    }
                                    Source::Rows(_) | Source::Packed(_) => unreachable!("a B"),
                                    Source::View(a) if ir < full => {
                                        K::tile_rows(kc, a.at(ic + ir, pc).ptr, a.rs as usize, bs, c, ldc, add)
                                    }
                                    Source::View(_) => K::tile(kc, ap[(ir - full) * kc..].as_ptr(), bs, c, ldc, add),
                                }
                            };
                            if mr == K::MR && nr == K::NR {
                                tile(at, ldc, add);
                            } else {
                                // An edge tile: the whole tile into scratch (the packed
                                // operands are zero beyond the edge), then the part that exists.
                                tile(scratch.as_mut_ptr(), K::NR, false);
                                for r in 0..mr {
                                    for j in 0..nr {
                                        let v = scratch[r * K::NR + j];
                                        let dst = unsafe { &mut *at.add(r * ldc + j) };
                                        *dst = if add { *dst + v } else { v };
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    });
}

/// Copies `from` into the start of `out`, zero after it. A whole strip or tile row (32, 16,
/// 12 or 6 values: the kernels' `NR` and `MR`) is copied inline: a call to memcpy per line was
/// a tenth of the time of a convolution's kernel gradient.
#[inline(always)]
fn copy_line(out: &mut [f32], from: &[f32]) {
    macro_rules! fixed {
        ($($n:literal),*) => {
            $(
                if let (Ok(out), Ok(from)) = (<&mut [f32; $n]>::try_from(&mut *out), <&[f32; $n]>::try_from(from)) {
                    *out = *from;
                    return;
                }
            )*
        };
    }
    fixed!(32, 16, 12, 6);
    out[..from.len()].copy_from_slice(from);
    out[from.len()..].fill(0.0);
}

/// Packs columns `j0..j0 + len` of rows `p0..p0 + kc` of a `B` given as windows into strips of
/// `width` columns, zero beyond `len`. Each row's start is asked for once per panel (not per
/// strip: a start costs divisions and a call through a pointer, a tenth of a convolution's
/// kernel gradient when it was asked per strip).
///
/// # Safety
/// The windows' rows reach the panel's values; `width` divides `w.run` and `j0`.
unsafe fn pack_rows(width: usize, kc: usize, len: usize, w: Windows, p0: usize, j0: usize, dst: &mut [f32]) {
    let mut starts = [std::ptr::null::<f32>(); KC];
    for (p, s) in starts[..kc].iter_mut().enumerate() {
        *s = (w.start)(p0 + p);
    }
    for (s, strip) in dst[..len.div_ceil(width) * width * kc].chunks_exact_mut(width * kc).enumerate() {
        let j = j0 + s * width;
        let lines = width.min(len - s * width);
        let offset = j / w.run * w.gap + j % w.run;
        for (out, &start) in strip.chunks_exact_mut(width).zip(&starts[..kc]) {
            // SAFETY: a strip lies within one run of the row's window, as the caller promises.
            copy_line(out, unsafe { std::slice::from_raw_parts(start.add(offset), lines) });
        }
    }
}

/// Packs `len` lines of `kc` values into strips of `width` lines: strip `s` holds, for each
/// `p`, the values of lines `s·width..` at `p`, zero beyond `len`. `B_SIDE`: the lines are
/// `src`'s columns (`src` is `kc × len`); else its rows (`src` is `len × kc`).
unsafe fn pack<const B_SIDE: bool>(width: usize, kc: usize, len: usize, src: View, dst: &mut [f32]) {
    // (line, p) → element
    let (line_stride, p_stride) = if B_SIDE { (src.cs, src.rs) } else { (src.rs, src.cs) };
    let line = View { ptr: src.ptr, rs: line_stride, cs: p_stride };
    for (s, strip) in dst[..len.div_ceil(width) * width * kc].chunks_exact_mut(width * kc).enumerate() {
        let l0 = s * width;
        let lines = width.min(len - l0);
        if p_stride == 1 {
            // Each line is contiguous: walk the lines side by side, writing the strip in order.
            let mut rows = [std::ptr::null::<f32>(); 32];
            for (l, r) in rows[..lines].iter_mut().enumerate() {
                *r = unsafe { line.at(l0 + l, 0).ptr };
            }
            // Whole 8 × 8 blocks transposed in registers (only our x86 kernels, which all have
            // AVX2, pack), the rest a value at a time.
            #[allow(unused_mut)]
            let mut transposed = 0;
            #[cfg(target_arch = "x86_64")]
            if lines == width && width.is_multiple_of(8) && line_stride > 0 {
                transposed = kc / 8 * 8;
                for p in (0..transposed).step_by(8) {
                    for l in (0..lines).step_by(8) {
                        // SAFETY: lines l..l+8 reach values p..p+8; the strip holds rows p..p+8.
                        unsafe {
                            super::x86::transpose8(
                                rows[l].add(p),
                                line_stride as usize,
                                strip[p * width + l..].as_mut_ptr(),
                                width,
                            )
                        };
                    }
                }
            }
            for (p, out) in strip.chunks_exact_mut(width).enumerate().skip(transposed) {
                for (o, r) in out[..lines].iter_mut().zip(&rows) {
                    *o = unsafe { *r.add(p) };
                }
                out[lines..].fill(0.0);
            }
        } else {
            for p in 0..kc {
                let out = &mut strip[p * width..(p + 1) * width];
                if line_stride == 1 {
                    copy_line(out, unsafe { std::slice::from_raw_parts(line.at(l0, p).ptr, lines) });
                } else {
                    for (l, o) in out[..lines].iter_mut().enumerate() {
                        *o = unsafe { line.get(l0 + l, p) };
                    }
                    out[lines..].fill(0.0);
                }
            }
        }
    }
}
