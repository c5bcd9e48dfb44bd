//! Winograd's minimal filtering F(2×2, 5×5) and F(4×4, 3×3): stride-1 5×5 and 3×3 convolutions
//! with a third and a quarter of the multiplications, for the forward pass, for the input
//! gradient (itself such a convolution, of the output gradient with the flipped kernel) and,
//! transposed, for the kernel gradient.
//!
//! The output is cut into 2×2 tiles (4×4 for a 3×3 kernel); each reads a 6×6 tile of the
//! bordered input. With the
//! interpolation points 0, ±1, ±2 and ∞ (Lavin & Gray, "Fast Algorithms for Convolutional
//! Neural Networks", 2016), a tile's output is `Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A`: the kernel `g` and
//! the input tile `d` are each taken to 36 "points", multiplied point by point, and the 36
//! products taken back to the tile's outputs. Across channels the point-wise multiplications are
//! 36 matrix products, `[tiles, c_in] · [c_in, c_out]`, which run through `gemm` like every
//! other product: 36 multiply-adds per tile and channel pair instead of 4 · 25 = 100 (5×5) or
//! 16 · 9 = 144 (3×3). Both share the points, so `Bᵀ` is the same; `G` and `Aᵀ` differ.
//!
//! The transforms add and scale by small integers (`B`, `A`) and by fractions down to 1/24
//! (`G`, applied once to the kernel), so the results agree with the direct sums to float
//! rounding (a few times the direct product's own), not bit for bit; each output depends on its
//! tile alone, in a fixed order, and the transforms are the same operations at any vector
//! width, so the bits do not depend on the batch, on how tiles are grouped, on the thread
//! count or on the matrix kernel.
//!
//! The kernel gradient, `Σ` over the output pixels of input · output gradient, is a correlation
//! of each 6×6 input tile with its tile's output gradient `e` (2×2 or 4×4) that yields the
//! kernel's 5×5 or 3×3 taps: F(5×5, 2×2) and F(3×3, 4×4), with the same points, so the input
//! transform `Bᵀ d B` is the forward pass' own. The output gradient is taken to the points by
//! `G' e G'ᵀ` (`G'`: the rows of `G` cut to the tile's side), and per point the tiles' products
//! are summed across the whole batch, `[c_in, tiles] · [tiles, c_out]`, before one transform
//! back `A'ᵀ (…) A'` at the end. These sums do depend on how tiles are grouped: on the batch
//! and the thread count, like every kernel gradient of the engine.

use super::gemm::{Kernel, matmul, matmul_packed, pack_b};
use super::{Activation, SendPtr, ensure, wide};

/// Input values per tile side (outputs per side + kernel size − 1).
const N: usize = 6;
/// Points per tile (`N²`).
pub(crate) const POINTS: usize = N * N;
/// Floats between one point's matrix and the next beyond its size: a point's rows of one tile
/// would otherwise lie a multiple of 4 KiB apart, in one set of the L1 cache, and the
/// transforms read or write all 36 of them together (3× slower at 48 tiles a block).
const SKEW: usize = 16;
/// Channels the transforms handle at once (an AVX2 vector).
const LANES: usize = 8;

/// `G` of F(2×2, 5×5) (6 × 5), applied to the kernel: row `i` gives point `i` of a kernel row.
const G5: [[f32; 5]; N] = [
    [1.0 / 4.0, 0.0, 0.0, 0.0, 0.0],
    [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
    [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
    [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0, 1.0 / 3.0, 2.0 / 3.0],
    [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0, -1.0 / 3.0, 2.0 / 3.0],
    [0.0, 0.0, 0.0, 0.0, 1.0],
];

/// `G` of F(4×4, 3×3) (6 × 3, padded to 5 columns).
const G3: [[f32; 5]; N] = [
    [1.0 / 4.0, 0.0, 0.0, 0.0, 0.0],
    [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0, 0.0, 0.0],
    [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0, 0.0, 0.0],
    [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0, 0.0, 0.0],
    [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0, 0.0, 0.0],
    [0.0, 0.0, 1.0, 0.0, 0.0],
];

/// The tiling of a kernel size: outputs per tile side and the kernel's `G`.
fn variant(r: usize) -> Option<(usize, &'static [[f32; 5]; N])> {
    match r {
        5 => Some((2, &G5)),
        3 => Some((4, &G3)),
        _ => None,
    }
}

/// Whether a convolution of this shape takes the Winograd path: 5×5 or 3×3, stride 1, and
/// enough channels (in whole vectors) that the 36 products outweigh the transforms.
pub(crate) fn fits(ksize: (usize, usize), strides: (usize, usize), c_in: usize, c_out: usize) -> bool {
    ksize.0 == ksize.1
        && variant(ksize.0).is_some()
        && strides == (1, 1)
        && c_in >= 16
        && c_in.is_multiple_of(LANES)
        && c_out.is_multiple_of(LANES)
}

/// Tiles a thread transforms and multiplies at once: the transformed inputs and products of a
/// block (36 · tiles · (c_in + c_out) values) should stay in a core's L2 cache, in a whole
/// number of the products' register tiles (12 rows on AVX-512, 6 on AVX2).
pub(crate) fn block_tiles(c_in: usize, c_out: usize) -> usize {
    ((192 * 1024) / (POINTS * (c_in + c_out)) / 12 * 12).clamp(12, 96)
}

/// Values of the workspace one block needs.
pub(crate) fn block_len(c_in: usize, c_out: usize) -> usize {
    POINTS * (block_tiles(c_in, c_out) * (c_in + c_out) + 2 * SKEW + c_in)
}

/// The layer's kernel taken to the 36 points, `[36, c_in, c_out]`, recomputed only when the
/// kernel changed since (it keeps the copy it was computed from).
#[derive(Default)]
pub(crate) struct TransformedKernel {
    u: Vec<f32>,
    from: Vec<f32>,
    rows: Vec<f32>,
    /// The 36 matrices packed for the products' kernel (the one named), each `stride` long.
    packed: Vec<f32>,
    packed_for: Option<(Kernel, usize)>,
    one: Vec<f32>,
}

/// The kernel at the 36 points, as the products take it.
#[derive(Clone, Copy)]
pub(crate) enum Points<'a> {
    /// Row-major `[36, c_in, c_out]`.
    Plain(&'a [f32]),
    /// Packed by `gemm::pack_b` for the kernel, `stride` values per point.
    Packed(&'a [f32], Kernel, usize),
}

impl TransformedKernel {
    /// The transform of `kernel` (`[r, r, c_in, c_out]`, `r` 5 or 3), packed for the products
    /// where they take it so (repacked when the products' kernel changed).
    pub(crate) fn of(&mut self, kernel: &[f32], r: usize, c_in: usize, c_out: usize) -> Points<'_> {
        let cc = c_in * c_out;
        assert!(kernel.len() == r * r * cc && variant(r).is_some(), "winograd: kernel size");
        if self.from.len() != kernel.len() || self.from != kernel {
            self.transform(kernel, r, c_in, c_out);
            self.packed_for = None;
        }
        let current = super::gemm::kernel();
        if self.packed_for.is_none_or(|(k, _)| k != current) {
            self.packed_for = None;
            self.packed.clear();
            for p in 0..POINTS {
                match pack_b(c_in, c_out, &self.u[p * cc..(p + 1) * cc], &mut self.one) {
                    Some(k) => {
                        self.packed.extend_from_slice(&self.one);
                        self.packed_for = Some((k, self.one.len()));
                    }
                    None => {
                        self.packed_for = None;
                        break;
                    }
                }
            }
        }
        match self.packed_for {
            Some((k, stride)) => Points::Packed(&self.packed, k, stride),
            None => Points::Plain(&self.u),
        }
    }

    fn transform(&mut self, kernel: &[f32], r: usize, c_in: usize, c_out: usize) {
        let cc = c_in * c_out;
        let g = variant(r).expect("checked").1;
        ensure(&mut self.u, POINTS * cc);
        ensure(&mut self.rows, N * r * cc);
        self.from.clear();
        self.from.extend_from_slice(kernel);
        let (u, rows) = (&mut self.u, &mut self.rows);
        wide(
            #[inline(always)]
            || {
                // rows[i][kx] = Σ_ky G[i][ky] · g[ky][kx], then u[i][j] = Σ_kx G[j][kx] · rows[i][kx].
                for i in 0..N {
                    for kx in 0..r {
                        let terms = (0..r).map(|ky| (g[i][ky], &kernel[(ky * r + kx) * cc..][..cc]));
                        weighted_sum(&mut rows[(i * r + kx) * cc..][..cc], terms);
                    }
                }
                for i in 0..N {
                    for j in 0..N {
                        let terms = (0..r).map(|kx| (g[j][kx], &rows[(i * r + kx) * cc..][..cc]));
                        weighted_sum(&mut u[(i * N + j) * cc..][..cc], terms);
                    }
                }
            },
        );
    }
}

/// `out = Σ f · src` over the terms, in their order (from zero).
#[inline(always)]
fn weighted_sum<'a>(out: &mut [f32], terms: impl Iterator<Item = (f32, &'a [f32])>) {
    out.fill(0.0);
    for (f, src) in terms {
        out.iter_mut().zip(src).for_each(|(o, &v)| *o += f * v);
    }
}

/// Where the tiles of a batch lie: `th × tw` tiles per sample of the output `[n, oh, ow,
/// c_out]`, numbered sample by sample, row by row; tile `(ty, tx)` reads the input `[n, h, w,
/// c_in]` from row `m·ty − pad_t` and column `m·tx − pad_l`, zero outside it, where `m` (2 or
/// 4) is the tile's side for the kernel size `r` (5 or 3).
#[derive(Clone, Copy)]
pub(crate) struct Tiles {
    pub r: usize,
    pub h: usize,
    pub w: usize,
    pub pad_t: usize,
    pub pad_l: usize,
    pub oh: usize,
    pub ow: usize,
    pub c_in: usize,
    pub c_out: usize,
}

impl Tiles {
    /// Outputs per tile side.
    fn side(&self) -> usize {
        variant(self.r).expect("a Winograd kernel size").0
    }

    /// Tiles per sample, down and across.
    pub(crate) fn grid(&self) -> (usize, usize) {
        (self.oh.div_ceil(self.side()), self.ow.div_ceil(self.side()))
    }

    /// Tiles `t0..t0 + nt`: their inputs from `x` transformed, multiplied by `u`, transformed
    /// back and written, plus `bias`, to `y`. `work` holds [`block_len`] values.
    ///
    /// # Safety
    /// `y` points to the batch's whole output; no other thread writes these tiles' outputs.
    #[allow(clippy::too_many_arguments)]
    pub(crate) unsafe fn run(
        &self,
        x: &[f32],
        t0: usize,
        nt: usize,
        u: Points,
        bias: Option<&[f32]>,
        activation: Activation,
        work: &mut [f32],
        y: SendPtr,
    ) {
        let (ci, co) = (self.c_in, self.c_out);
        let ((sv, sm), (patch, v, m)) = self.split(work, nt);
        wide(
            #[inline(always)]
            || self.input_transform(x, t0, nt, v, patch),
        );
        for p in 0..POINTS {
            let (vp, mp) = (&v[p * sv..][..nt * ci], &mut m[p * sm..][..nt * co]);
            match u {
                Points::Plain(u) => {
                    matmul(nt, co, ci, vp, false, &u[p * ci * co..][..ci * co], false, mp, false, false)
                }
                Points::Packed(u, kernel, stride) => {
                    matmul_packed(kernel, nt, co, ci, vp, &u[p * stride..][..stride], mp)
                }
            }
        }
        // SAFETY: as the caller promises.
        wide(
            #[inline(always)]
            || unsafe {
                match self.side() {
                    2 => self.output_transform(m, t0, nt, bias, y, at2),
                    _ => self.output_transform(m, t0, nt, bias, y, at4),
                }
            },
        );
        // The activation while the block's outputs are in cache: each tile's runs of pixels.
        let side = self.side();
        for t in t0..t0 + nt {
            let (s, ty, tx) = self.locate(t);
            let ox = tx * side;
            let len = side.min(self.ow - ox) * co;
            for oy in (ty * side..ty * side + side).filter(|&r| r < self.oh) {
                // SAFETY: this tile's outputs, written above.
                let run = unsafe {
                    std::slice::from_raw_parts_mut(y.get().add(((s * self.oh + oy) * self.ow + ox) * co), len)
                };
                activation.apply_serial(run, co);
            }
        }
    }

    /// Adds the kernel-gradient products of tiles `t0..t0 + nt` to `acc` (`[36, c_in, c_out]`,
    /// the sums at the points): each tile's input `x` taken to the points as in the forward
    /// pass, its output gradient (from `dy`, `[n, oh, ow, c_out]`) by `G' e G'ᵀ`, and per point
    /// `acc_p += V_pᵀ · E_p`. `work` holds [`block_len`] values.
    pub(crate) fn kernel_grad(&self, x: &[f32], dy: &[f32], t0: usize, nt: usize, work: &mut [f32], acc: &mut [f32]) {
        let (ci, co) = (self.c_in, self.c_out);
        let ((sv, se), (patch, v, e)) = self.split(work, nt);
        wide(
            #[inline(always)]
            || {
                self.input_transform(x, t0, nt, v, patch);
                match self.side() {
                    2 => self.output_grad_transform::<2>(dy, t0, nt, e),
                    _ => self.output_grad_transform::<4>(dy, t0, nt, e),
                }
            },
        );
        for p in 0..POINTS {
            let (vp, ep) = (&v[p * sv..][..nt * ci], &e[p * se..][..nt * co]);
            matmul(ci, co, nt, vp, true, ep, false, &mut acc[p * ci * co..][..ci * co], true, false);
        }
    }

    /// `e[p][t − t0][c]`: point `p` of `G' g G'ᵀ` for each tile's output gradient `g` (zero
    /// beyond the output's edge).
    #[inline(always)]
    #[allow(clippy::needless_range_loop)] // `cols[b][i]` over `b`: a transpose
    fn output_grad_transform<const S: usize>(&self, dy: &[f32], t0: usize, nt: usize, e: &mut [f32]) {
        let (oh, ow, co) = (self.oh, self.ow, self.c_out);
        let se = nt * co + SKEW;
        assert!(e.len() >= POINTS * se, "winograd: workspace");
        let ep = e.as_mut_ptr();
        for tt in 0..nt {
            let (s, ty, tx) = self.locate(t0 + tt);
            let (y0, x0) = (ty * S, tx * S);
            let sample = &dy[s * oh * ow * co..(s + 1) * oh * ow * co];
            for c in (0..co).step_by(LANES) {
                let at = |a: usize, b: usize| match y0 + a < oh && x0 + b < ow {
                    // SAFETY: inside the sample (c + LANES ≤ c_out).
                    true => unsafe { V::load(sample, ((y0 + a) * ow + x0 + b) * co + c) },
                    false => V::ZERO,
                };
                // cols[b][i] = Σ_a G'[i][a] · g[a][b], then point (i, j) = Σ_b G'[j][b] · cols[b][i].
                let cols: [[V; N]; S] = std::array::from_fn(|b| gd::<S>(std::array::from_fn(|a| at(a, b))));
                for i in 0..N {
                    let x: [V; S] = std::array::from_fn(|b| cols[b][i]);
                    for (j, out) in gd(x).iter().enumerate() {
                        // SAFETY: inside `e`, checked above.
                        unsafe { out.store(ep.add((i * N + j) * se + tt * co + c)) };
                    }
                }
            }
        }
    }

    /// A block's workspace for `nt` tiles: one tile's bordered input (`36 · c_in`), then the
    /// 36 point matrices of the inputs and the 36 of the outputs' side (`c_out` wide), with the
    /// distance from one point's matrix to the next on each side.
    #[allow(clippy::type_complexity)]
    fn split<'w>(
        &self,
        work: &'w mut [f32],
        nt: usize,
    ) -> ((usize, usize), (&'w mut [f32], &'w mut [f32], &'w mut [f32])) {
        let (sv, sm) = (nt * self.c_in + SKEW, nt * self.c_out + SKEW);
        let (patch, work) = work.split_at_mut(POINTS * self.c_in);
        let (v, m) = work.split_at_mut(POINTS * sv);
        ((sv, sm), (patch, v, &mut m[..POINTS * sm]))
    }

    /// The sample, tile row and tile column of tile `t`.
    fn locate(&self, t: usize) -> (usize, usize, usize) {
        let (th, tw) = self.grid();
        (t / (th * tw), t % (th * tw) / tw, t % tw)
    }

    /// `v[p][t − t0][c]`: point `p` of `Bᵀ d B` for each tile's input `d`.
    #[inline(always)]
    #[allow(clippy::needless_range_loop)] // `cols[b][i]` over `b`: a transpose
    fn input_transform(&self, x: &[f32], t0: usize, nt: usize, v: &mut [f32], patch: &mut [f32]) {
        let (h, w, ci) = (self.h, self.w, self.c_in);
        let sv = nt * ci + SKEW;
        assert!(v.len() >= POINTS * sv && patch.len() >= POINTS * ci, "winograd: workspace");
        let vp = v.as_mut_ptr();
        for tt in 0..nt {
            let (s, ty, tx) = self.locate(t0 + tt);
            let sample = &x[s * h * w * ci..(s + 1) * h * w * ci];
            let side = self.side();
            let (r0, c0) = ((ty * side).wrapping_sub(self.pad_t), (tx * side).wrapping_sub(self.pad_l));
            // The tile's 6×6 input, rows `stride` apart: in place inside the image, else copied
            // with its zero border into `patch`.
            let inside = ty * side >= self.pad_t && tx * side >= self.pad_l && r0 + N <= h && c0 + N <= w;
            let (d, stride): (&[f32], usize) = if inside {
                (&sample[(r0 * w + c0) * ci..], w * ci)
            } else {
                for (a, prow) in patch[..POINTS * ci].chunks_exact_mut(N * ci).enumerate() {
                    for (b, px) in prow.chunks_exact_mut(ci).enumerate() {
                        let (r, c) = (r0.wrapping_add(a), c0.wrapping_add(b));
                        match r < h && c < w {
                            true => px.copy_from_slice(&sample[(r * w + c) * ci..][..ci]),
                            false => px.fill(0.0),
                        }
                    }
                }
                (&patch[..], N * ci)
            };
            assert!(d.len() >= (N - 1) * stride + N * ci, "winograd: a tile's input");
            for c in (0..ci).step_by(LANES) {
                // cols[b][i] = Σ_a Bᵀ[i][a] · d[a][b], then point (i, j) = Σ_b Bᵀ[j][b] · cols[b][i].
                let cols = six(
                    #[inline(always)]
                    |b| {
                        bt(six(
                            #[inline(always)]
                            // SAFETY: inside `d`, checked above (c + LANES ≤ ci).
                            |a| unsafe { V::load(d, a * stride + b * ci + c) },
                        ))
                    },
                );
                for i in 0..N {
                    let x = six(
                        #[inline(always)]
                        |b| cols[b][i],
                    );
                    for (j, out) in bt(x).iter().enumerate() {
                        // SAFETY: inside `v`, checked above.
                        unsafe { out.store(vp.add((i * N + j) * sv + tt * ci + c)) };
                    }
                }
            }
        }
    }

    /// Each tile's 2×2 outputs, `Aᵀ m A` of its 36 products `m[p][t − t0]`, plus the bias.
    ///
    /// # Safety
    /// As [`Tiles::run`].
    #[inline(always)]
    #[allow(clippy::needless_range_loop)] // `cols[b][i]` over `b`: a transpose
    unsafe fn output_transform<const S: usize>(
        &self,
        m: &[f32],
        t0: usize,
        nt: usize,
        bias: Option<&[f32]>,
        y: SendPtr,
        at: impl Fn([V; N]) -> [V; S],
    ) {
        let co = self.c_out;
        let (oh, ow) = (self.oh, self.ow);
        let sm = nt * co + SKEW;
        assert!(m.len() >= POINTS * sm, "winograd: workspace");
        for tt in 0..nt {
            let (s, ty, tx) = self.locate(t0 + tt);
            for c in (0..co).step_by(LANES) {
                let bias = match bias {
                    // SAFETY: c + LANES ≤ c_out, the bias' length.
                    Some(b) => unsafe { V::load(b, c) },
                    None => V::ZERO,
                };
                // cols[b][i] = Σ_a Aᵀ[i][a] · m[a][b], then output (i, j) = Σ_b Aᵀ[j][b] · cols[b][i].
                // SAFETY: inside `m`, checked above.
                let cols = six(
                    #[inline(always)]
                    |b| {
                        at(six(
                            #[inline(always)]
                            |a| unsafe { V::load(m, (a * N + b) * sm + tt * co + c) },
                        ))
                    },
                );
                for i in 0..S {
                    let oy = ty * S + i;
                    if oy >= oh {
                        continue;
                    }
                    let x = six(
                        #[inline(always)]
                        |b| cols[b][i],
                    );
                    for (j, out) in at(x).iter().enumerate() {
                        let ox = tx * S + j;
                        if ox < ow {
                            // SAFETY: inside the chunk's output; this tile's alone.
                            unsafe { out.add(bias).store(y.get().add(((s * oh + oy) * ow + ox) * co + c)) };
                        }
                    }
                }
            }
        }
    }
}

/// `[f(0), …, f(5)]`, built in place (`std::array::from_fn` is not always inlined, and a
/// zeroed array filled in a loop is not always left unzeroed).
#[inline(always)]
fn six<T>(mut f: impl FnMut(usize) -> T) -> [T; N] {
    [f(0), f(1), f(2), f(3), f(4), f(5)]
}

/// `LANES` floats, added and scaled lane by lane (the compiler makes one vector of them).
#[derive(Clone, Copy)]
struct V([f32; LANES]);

impl V {
    const ZERO: V = V([0.0; LANES]);

    /// The values of `x` from `at`.
    ///
    /// # Safety
    /// `at + LANES ≤ x.len()`.
    #[inline(always)]
    unsafe fn load(x: &[f32], at: usize) -> V {
        debug_assert!(at + LANES <= x.len());
        // SAFETY: as the caller promises.
        V(unsafe { x.as_ptr().add(at).cast::<[f32; LANES]>().read_unaligned() })
    }

    /// # Safety
    /// `to` has room for `LANES` floats.
    #[inline(always)]
    unsafe fn store(self, to: *mut f32) {
        // SAFETY: as the caller promises.
        unsafe { to.cast::<[f32; LANES]>().write_unaligned(self.0) }
    }

    #[inline(always)]
    fn add(self, o: V) -> V {
        let mut r = self.0;
        for (r, o) in r.iter_mut().zip(o.0) {
            *r += o;
        }
        V(r)
    }

    #[inline(always)]
    fn sub(self, o: V) -> V {
        let mut r = self.0;
        for (r, o) in r.iter_mut().zip(o.0) {
            *r -= o;
        }
        V(r)
    }

    #[inline(always)]
    fn times(self, f: f32) -> V {
        let mut r = self.0;
        for v in &mut r {
            *v *= f;
        }
        V(r)
    }
}

/// `Bᵀ x` for six vectors `x` (`Bᵀ` rows: [4 0 −5 0 1 0], [0 −4 −4 1 1 0], [0 4 −4 −1 1 0],
/// [0 −2 −1 2 1 0], [0 2 −1 −2 1 0], [0 4 0 −5 0 1]).
#[inline(always)]
fn bt([x0, x1, x2, x3, x4, x5]: [V; N]) -> [V; N] {
    [
        x0.times(4.0).sub(x2.times(5.0)).add(x4),
        x3.add(x4).sub(x1.add(x2).times(4.0)),
        x4.sub(x3).add(x1.sub(x2).times(4.0)),
        x4.sub(x2).add(x3.sub(x1).times(2.0)),
        x4.sub(x2).sub(x3.sub(x1).times(2.0)),
        x1.times(4.0).sub(x3.times(5.0)).add(x5),
    ]
}

/// `Aᵀ x` of F(4×4, 3×3) for six vectors `x` (`Aᵀ` rows: [1 1 1 1 1 0], [0 1 −1 2 −2 0],
/// [0 1 1 4 4 0], [0 1 −1 8 −8 1]).
#[inline(always)]
fn at4([x0, x1, x2, x3, x4, x5]: [V; N]) -> [V; 4] {
    let (p12, m12, p34, m34) = (x1.add(x2), x1.sub(x2), x3.add(x4), x3.sub(x4));
    [x0.add(p12).add(p34), m12.add(m34.times(2.0)), p12.add(p34.times(4.0)), m12.add(m34.times(8.0)).add(x5)]
}

/// `Aᵀ x` of F(2×2, 5×5) for six vectors `x` (`Aᵀ` rows: [1 1 1 1 1 0], [0 1 −1 2 −2 1]).
#[inline(always)]
fn at2([x0, x1, x2, x3, x4, x5]: [V; N]) -> [V; 2] {
    [x0.add(x1.add(x2)).add(x3.add(x4)), x1.sub(x2).add(x3.sub(x4).times(2.0)).add(x5)]
}

/// `G'` of the kernel gradient for an `S`×`S` output-gradient tile (`S` 2 or 4): `G`'s rows cut
/// to `S` powers, (1/4)·[1 0 …], (−1/6)·[1 1 1 …], (−1/6)·[1 −1 1 …], (1/24)·[1 2 4 …],
/// (1/24)·[1 −2 4 …] and [0 … 0 1], each from the sums of the even and of the odd powers.
#[inline(always)]
fn gd<const S: usize>(x: [V; S]) -> [V; N] {
    let (mut e, mut o, mut e2, mut o2) = (x[0], x[1], x[0], x[1].times(2.0));
    for (k, &xk) in x.iter().enumerate().skip(2) {
        let scaled = xk.times((1 << k) as f32);
        match k % 2 {
            0 => (e, e2) = (e.add(xk), e2.add(scaled)),
            _ => (o, o2) = (o.add(xk), o2.add(scaled)),
        }
    }
    [
        x[0].times(1.0 / 4.0),
        e.add(o).times(-1.0 / 6.0),
        e.sub(o).times(-1.0 / 6.0),
        e2.add(o2).times(1.0 / 24.0),
        e2.sub(o2).times(1.0 / 24.0),
        x[S - 1],
    ]
}

/// `A'ᵀ` of the kernel gradient, taking the 36 points back to the kernel's taps: the powers
/// 0 to `r − 1` of the points 0, 1, −1, 2, −2 (and ∞ on the last row), for `r` 3 or 5.
const AK: [[f32; N]; 5] = [
    [1.0, 1.0, 1.0, 1.0, 1.0, 0.0],
    [0.0, 1.0, -1.0, 2.0, -2.0, 0.0],
    [0.0, 1.0, 1.0, 4.0, 4.0, 0.0],
    [0.0, 1.0, -1.0, 8.0, -8.0, 0.0],
    [0.0, 1.0, 1.0, 16.0, 16.0, 0.0],
];

/// Row `k` of `A'ᵀ` for `r` taps: [`AK`]'s, with the point at ∞ on the last.
fn ak(r: usize, k: usize) -> [f32; N] {
    let mut row = AK[k];
    row[N - 1] = if k + 1 == r { 1.0 } else { 0.0 };
    row
}

/// The kernel gradient `[r, r, c_in, c_out]` from its sums at the 36 points `acc`
/// (`[36, c_in, c_out]`): `A'ᵀ acc A'` for every channel pair. `rows` is scratch.
pub(crate) fn kernel_grad_taps(
    acc: &[f32],
    r: usize,
    c_in: usize,
    c_out: usize,
    rows: &mut Vec<f32>,
    grad: &mut [f32],
) {
    let cc = c_in * c_out;
    assert!(variant(r).is_some() && acc.len() >= POINTS * cc && grad.len() == r * r * cc, "winograd: kernel gradient");
    ensure(rows, N * r * cc);
    wide(
        #[inline(always)]
        || {
            // rows[a][kx] = Σ_b A'ᵀ[kx][b] · acc[a][b], then grad[ky][kx] = Σ_a A'ᵀ[ky][a] · rows[a][kx].
            for a in 0..N {
                for kx in 0..r {
                    let row = ak(r, kx);
                    let terms = (0..N).filter(|&b| row[b] != 0.0).map(|b| (row[b], &acc[(a * N + b) * cc..][..cc]));
                    weighted_sum(&mut rows[(a * r + kx) * cc..][..cc], terms);
                }
            }
            for ky in 0..r {
                let row = ak(r, ky);
                for kx in 0..r {
                    let terms = (0..N).filter(|&a| row[a] != 0.0).map(|a| (row[a], &rows[(a * r + kx) * cc..][..cc]));
                    weighted_sum(&mut grad[(ky * r + kx) * cc..][..cc], terms);
                }
            }
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One tile through the transforms (one lane used) against the direct correlation.
    fn one_tile<const S: usize>(r: usize, at: impl Fn([V; N]) -> [V; S]) {
        let (side, g_t) = variant(r).expect("a Winograd size");
        assert_eq!(side, S);
        let d: Vec<f32> = (0..36).map(|i| ((i * 7 % 11) as f32 - 5.0) / 3.0).collect();
        let g: Vec<f32> = (0..r * r).map(|i| ((i * 5 % 13) as f32 - 6.0) / 7.0).collect();
        // U = G g Gᵀ, V = Bᵀ d B, Y = Aᵀ (U ⊙ V) A.
        let mut u = [[0.0f32; N]; N];
        for i in 0..N {
            for j in 0..N {
                for ky in 0..r {
                    for kx in 0..r {
                        u[i][j] += g_t[i][ky] * g[ky * r + kx] * g_t[j][kx];
                    }
                }
            }
        }
        let lanes = |v: f32| V([v; LANES]);
        let mut rows = [[V::ZERO; N]; N];
        for b in 0..N {
            let t = bt(std::array::from_fn(|a| lanes(d[a * N + b])));
            for i in 0..N {
                rows[i][b] = t[i];
            }
        }
        let v: Vec<[V; N]> = rows.iter().map(|r| bt(*r)).collect();
        let mut mrows = [[V::ZERO; N]; S];
        for b in 0..N {
            let t = at(std::array::from_fn(|a| lanes(u[a][b] * v[a][b].0[0])));
            for i in 0..S {
                mrows[i][b] = t[i];
            }
        }
        for i in 0..S {
            let out = at(mrows[i]);
            for j in 0..S {
                let direct: f32 = (0..r * r).map(|k| g[k] * d[(i + k / r) * N + j + k % r]).sum();
                let got = out[j].0[0];
                assert!((got - direct).abs() < 1e-4, "{r}×{r}, output ({i}, {j}): {got} against {direct}");
            }
        }
    }

    #[test]
    fn one_tile_matches_the_direct_correlation() {
        one_tile(5, at2);
        one_tile(3, at4);
    }
}
