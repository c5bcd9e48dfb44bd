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
}

/// A strided view of a matrix: element `(i, j)` is at `ptr + i·rs + j·cs`.
#[derive(Clone, Copy)]
pub(super) struct View {
    pub ptr: *const f32,
    pub rs: isize,
    pub cs: isize,
}

impl View {
    /// The view of the sub-matrix starting at `(i, j)`.
    unsafe fn at(self, i: usize, j: usize) -> View {
        View { ptr: unsafe { self.ptr.offset(i as isize * self.rs + j as isize * self.cs) }, ..self }
    }
    unsafe fn get(self, i: usize, j: usize) -> f32 {
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

/// `c (m×n, row stride ldc) = a · b`, or `+=` when `accumulate`, on the calling thread.
///
/// # Safety
/// The views reach `m × k` and `k × n` valid values, `c` `m` rows of `n` at stride `ldc`, not
/// overlapping them; the CPU runs `K`.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn product<K: Micro>(
    m: usize,
    n: usize,
    k: usize,
    a: View,
    b: View,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
) {
    reserve();
    PACKED.with(|p| {
        let mut p = p.borrow_mut();
        let (ap, bp) = p.split_at_mut(MC * KC);
        let mut scratch = [0.0f32; MAX_TILE];
        // Panels of equal depth (at most KC): no short last panel.
        let depth = k.div_ceil(k.div_ceil(KC));
        // A row-major A is read in place (packing it costs as much as the product when `n` is
        // small); only a last strip shorter than MR is packed.
        let in_place = a.cs == 1;
        for jc in (0..n).step_by(NC) {
            let nc = NC.min(n - jc);
            for pc in (0..k).step_by(depth) {
                let kc = depth.min(k - pc);
                let add = accumulate || pc > 0;
                unsafe { pack::<true>(K::NR, kc, nc, b.at(pc, jc), bp) };
                for ic in (0..m).step_by(MC) {
                    let mc = MC.min(m - ic);
                    let full = if in_place { mc / K::MR * K::MR } else { 0 };
                    if full < mc {
                        unsafe { pack::<false>(K::MR, kc, mc - full, a.at(ic + full, pc), ap) };
                    }
                    for jr in (0..nc).step_by(K::NR) {
                        let nr = K::NR.min(nc - jr);
                        let bs = bp[jr * kc..].as_ptr();
                        for ir in (0..mc).step_by(K::MR) {
                            let mr = K::MR.min(mc - ir);
                            let at = unsafe { c.add((ic + ir) * ldc + jc + jr) };
                            let direct = ir < full;
                            let as_ =
                                if direct { unsafe { a.at(ic + ir, pc).ptr } } else { ap[(ir - full) * kc..].as_ptr() };
                            let tile = |c: *mut f32, ldc: usize, add: bool| unsafe {
                                if direct {
                                    K::tile_rows(kc, as_, a.rs as usize, bs, c, ldc, add)
                                } else {
                                    K::tile(kc, as_, bs, c, ldc, add)
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
            for (p, out) in strip.chunks_exact_mut(width).enumerate() {
                for (o, r) in out[..lines].iter_mut().zip(&rows) {
                    *o = unsafe { *r.add(p) };
                }
                out[lines..].fill(0.0);
            }
        } else {
            for p in 0..kc {
                let out = &mut strip[p * width..(p + 1) * width];
                if line_stride == 1 {
                    let from = unsafe { std::slice::from_raw_parts(line.at(l0, p).ptr, lines) };
                    out[..lines].copy_from_slice(from);
                } else {
                    for (l, o) in out[..lines].iter_mut().enumerate() {
                        *o = unsafe { line.get(l0 + l, p) };
                    }
                }
                out[lines..].fill(0.0);
            }
        }
    }
}
