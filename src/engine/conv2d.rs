//! 2-D convolution over NHWC batches, as matrix products over the patches.
//!
//! The kernel is stored as Keras stores it, `[kh, kw, c_in, c_out]`, which read row-major is
//! exactly the `[kh·kw·c_in, c_out]` matrix the patches multiply. Work is split into chunks of
//! a few samples; each thread ("slot") takes a fixed set of chunks and keeps its own buffers
//! and partial weight gradient, so the result depends on the thread count but never on
//! scheduling.
//!
//! A patch row is `kh` runs of `kw·c_in` contiguous values of the image, so the forward
//! products read the patches straight from a zero-bordered copy of the chunk, as windows of it
//! (an "implicit" GEMM: no patch matrix is written). The input gradient of a stride-1
//! convolution is itself such a convolution, of the bordered output gradient with the kernel
//! flipped, so it needs no scatter back onto the image either; a strided one is a few such
//! products, one per phase of the strides (`phases.rs`). The kernel gradient reads the
//! patches in place where their runs fill whole 32-column strips; short runs (a first layer on
//! one channel) copy the patches out first (im2col), rebuilt in the backward pass rather than
//! stored, and so does the fallback kernel (with col2im for the input gradient).
//!
//! A 5×5 or 3×3 stride-1 layer with enough channels takes none of these: Winograd's F(2×2, 5×5)
//! and F(4×4, 3×3) do its forward pass and input gradient, and transposed (F(5×5, 2×2), F(3×3,
//! 4×4)) its kernel gradient, with a third to a quarter of the multiplications (`winograd.rs`).

use super::gemm::{
    Windows, depth_for, depth_within, matmul, matmul_rows, matmul_windows_t, rows_supported, windows_t_supported,
};
use super::kernel::{KernelOptions, Weights, weights_layer_methods};
use super::phases::Phases;
use super::winograd::{self, Tiles, TransformedKernel};
use super::{Activation, Ctx, Layer, LayerConfig, SendPtr, Shape, ensure, limits};
use crate::rng::Rng;
use crate::{Error, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Padding {
    /// Output size `ceil(in / stride)`, zero padding split as Keras/TensorFlow do (extra on
    /// the bottom/right).
    Same,
    /// No padding.
    #[default]
    Valid,
}

/// A size given as one number (square) or as `[height, width]`; saved as it was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Size2 {
    One(usize),
    Two([usize; 2]),
}

impl Size2 {
    /// `(height, width)`.
    pub fn pair(self) -> (usize, usize) {
        match self {
            Size2::One(v) => (v, v),
            Size2::Two([a, b]) => (a, b),
        }
    }

    /// 1 × 1 (the default stride).
    pub fn one() -> Self {
        Size2::One(1)
    }
}

/// A Conv2D layer as a model file gives it: filters, geometry and the options it shares with
/// Dense. `kernel_size` is required, as in Keras; strides default to 1, padding to `valid`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conv2DConfig {
    pub filters: usize,
    pub kernel_size: Size2,
    #[serde(default = "Size2::one")]
    pub strides: Size2,
    #[serde(default)]
    pub padding: Padding,
    #[serde(flatten)]
    pub options: KernelOptions,
}

/// Output length and leading padding of one spatial axis.
pub fn conv_out(input: usize, k: usize, stride: usize, padding: Padding) -> Option<(usize, usize)> {
    if stride == 0 || k == 0 {
        return None;
    }
    match padding {
        Padding::Valid => (input >= k).then(|| ((input - k) / stride + 1, 0)),
        Padding::Same => {
            let out = input.div_ceil(stride);
            let total = ((out - 1) * stride + k).saturating_sub(input);
            Some((out, total / 2))
        }
    }
}

impl Conv2DConfig {
    /// `filters` square kernels of `k` × `k`, stride 1, other options at Keras' defaults.
    pub fn new(filters: usize, k: usize, padding: Padding, activation: Activation) -> Self {
        Conv2DConfig {
            filters,
            kernel_size: Size2::One(k),
            strides: Size2::one(),
            padding,
            options: KernelOptions::with_activation(activation),
        }
    }

    /// Output size and leading padding `((oh, pad_t), (ow, pad_l))` for `input`, after checking
    /// every option and every size the layer would allocate against [`limits`].
    fn geometry(&self, input: Shape) -> Result<((usize, usize), (usize, usize))> {
        if self.filters == 0 {
            return Err(Error::invalid("filters must be at least 1"));
        }
        limits::within("filters", self.filters, limits::MAX_VALUES)?;
        self.options.check()?;
        let (kh, kw) = self.kernel_size.pair();
        let (sh, sw) = self.strides.pair();
        let misfit = || Error::Invalid(format!("kernel {kh}×{kw} with stride {sh}×{sw} does not fit input {input}"));
        for (what, v) in [("kernel size", kh), ("kernel size", kw), ("stride", sh), ("stride", sw)] {
            if v > limits::MAX_WINDOW {
                return Err(Error::Invalid(format!("{what} {v} is outside the limit 1 to {}", limits::MAX_WINDOW)));
            }
        }
        let (oh, pad_t) = conv_out(input.h, kh, sh, self.padding).ok_or_else(misfit)?;
        let (ow, pad_l) = conv_out(input.w, kw, sw, self.padding).ok_or_else(misfit)?;
        limits::product("output size", &[oh, ow, self.filters], limits::MAX_VALUES)?;
        limits::product("patch matrix", &[oh, ow, kh, kw, input.c], limits::MAX_PATCH_VALUES)?;
        Ok(((oh, pad_t), (ow, pad_l)))
    }

    /// Builds the layer for `input`, or says why an option is wrong or the shapes do not fit.
    pub fn init(&self, name: String, input: Shape, rng: &mut Rng) -> Result<Conv2D> {
        self.plan(input)?;
        let ((oh, pad_t), (ow, pad_l)) = self.geometry(input)?;
        let (kh, kw) = self.kernel_size.pair();
        let (sh, sw) = self.strides.pair();
        let kdim = kh * kw * input.c;
        let shape = vec![kh, kw, input.c, self.filters];
        let w = self.options.weights(shape, (kdim, kh * kw * self.filters), self.filters, rng);
        // A chunk's patch matrix should stay in cache: about 1 MiB.
        let per_sample = oh * ow * kdim * 4;
        let max_chunk = (1usize << 20).div_ceil(per_sample.max(1)).clamp(1, 16);
        Ok(Conv2D {
            name,
            input,
            output: Shape::new(oh, ow, self.filters),
            ksize: (kh, kw),
            strides: (sh, sw),
            pad_t,
            pad_l,
            max_chunk,
            w,
            slots: Vec::new(),
            flipped: Vec::new(),
            points: TransformedKernel::default(),
            flipped_points: TransformedKernel::default(),
            point_grads: Vec::new(),
            tap_rows: Vec::new(),
        })
    }
}

impl LayerConfig for Conv2DConfig {
    fn base_name(&self) -> &'static str {
        "conv2d"
    }
    fn build(&self, name: String, input: Shape, rng: &mut Rng) -> Result<Box<dyn Layer>> {
        Ok(Box::new(self.init(name, input, rng)?))
    }
    fn plan(&self, input: Shape) -> Result<(usize, Shape)> {
        let ((oh, _), (ow, _)) = self.geometry(input)?;
        let (kh, kw) = self.kernel_size.pair();
        let biases = if self.options.use_bias { self.filters } else { 0 };
        Ok((limits::params(&[kh, kw, input.c, self.filters], biases)?, Shape::new(oh, ow, self.filters)))
    }
}

/// One thread's workspace.
#[derive(Default)]
struct Slot {
    patches: Vec<f32>,
    /// The chunk's input with a zero border, `[ns, hp, wp, c_in]` (the implicit products).
    padded: Vec<f32>,
    /// The chunk's output gradient with a zero border, `[ns, h + kh − 1, w + kw − 1, c_out]`.
    padded_dy: Vec<f32>,
    /// Partial kernel gradient (`[kdim, c_out]`, or `[c_out, kdim]` on the implicit path)
    /// followed by the partial bias gradient.
    partial: Vec<f32>,
    /// A block of Winograd tiles' transformed inputs and products.
    winograd: Vec<f32>,
    /// The thread's sums of the Winograd kernel gradient at the 36 points, `[36, c_in, c_out]`.
    point_grads: Vec<f32>,
}

/// Which products read the patches in place, and which copy them out.
#[derive(Clone, Copy)]
struct Paths {
    /// With the panel depth of its product.
    forward: Option<usize>,
    kernel_grad: KernelGrad,
    input_grad: InputGrad,
}

/// A batch's Winograd tiles in blocks: tiles in all, tiles a block, blocks, and the slots
/// (threads) they are dealt out to in turn.
struct Blocks {
    all: usize,
    size: usize,
    count: usize,
    nslots: usize,
}

/// How a layer computes its kernel gradient.
#[derive(Clone, Copy, PartialEq, Eq)]
enum KernelGrad {
    /// By Winograd's transforms, on the forward pass' tiling (`winograd.rs`).
    Winograd,
    /// As dyᵀ · patches, reading the patch runs in place as `B`.
    Rows,
    /// Where the patches are short, as patchesᵀ · dy reading them in place as windows.
    Windows,
    /// As patchesᵀ · dy from the patches copied out (im2col).
    Copied,
}

/// How a layer computes its input gradient.
#[derive(Clone, Copy, PartialEq, Eq)]
enum InputGrad {
    /// By Winograd's transforms (`winograd.rs`).
    Winograd,
    /// A stride-1 layer: as the bordered output gradient's windows times the flipped kernel.
    Windows,
    /// A strided layer: by phases (`phases.rs`).
    Phases,
    /// Patch gradients dy · Wᵀ added back onto the image (col2im).
    Copied,
}

pub struct Conv2D {
    name: String,
    input: Shape,
    output: Shape,
    ksize: (usize, usize),
    strides: (usize, usize),
    pad_t: usize,
    pad_l: usize,
    /// Most samples per work item (the patch buffer's size).
    max_chunk: usize,
    /// Kernel `[kh, kw, c_in, c_out]`, bias and the options acting on them.
    pub w: Weights,
    slots: Vec<Slot>,
    /// The kernel flipped for the input gradient, `[kh, kw, c_out, c_in]` (flipped in `kh`, `kw`);
    /// for a strided layer, its phases' kernels (`Phases::kernels`).
    flipped: Vec<f32>,
    /// The kernel, and the flipped kernel of the input gradient, at Winograd's points (5×5 and
    /// 3×3 stride-1 layers).
    points: TransformedKernel,
    flipped_points: TransformedKernel,
    /// The threads' Winograd kernel-gradient sums added up, and scratch for their transform.
    point_grads: Vec<f32>,
    tap_rows: Vec<f32>,
}

impl Conv2D {
    fn kdim(&self) -> usize {
        self.ksize.0 * self.ksize.1 * self.input.c
    }

    /// Samples per chunk, number of chunks and of slots for a batch: chunks as large as the
    /// cache allows, in a number that divides evenly among the threads.
    fn plan(&self, batch: usize) -> (usize, usize, usize) {
        let threads = super::threads().max(1);
        let rounds = batch.div_ceil(threads * self.max_chunk).max(1);
        let chunk = batch.div_ceil(threads * rounds).max(1);
        let nchunks = batch.div_ceil(chunk);
        (chunk, nchunks, threads.min(nchunks).max(1))
    }

    /// Which products read the patches in place: the forward one always (its panels are as
    /// deep as the runs, `kw·c_in` values, where those are long, else as deep as an im2col
    /// product's, whose bits it keeps), the others where the runs (for the input gradient
    /// `kw·c_out`) fill whole panels and strips. The choice depends on the layer alone (never
    /// on the CPU's vector width), so every kernel gives the same bits.
    fn paths(&self) -> Paths {
        let ok = rows_supported();
        let run = self.ksize.1 * self.input.c;
        let depth = if run >= 32 { depth_within(run) } else { depth_for(self.kdim()) };
        let kernel_grad = if self.winograd_tiles().is_some() {
            KernelGrad::Winograd
        } else if ok && run.is_multiple_of(32) {
            KernelGrad::Rows
        } else if windows_t_supported() {
            KernelGrad::Windows
        } else {
            KernelGrad::Copied
        };
        let input_grad = if self.winograd_input_grad_tiles().is_some() {
            InputGrad::Winograd
        } else if !ok {
            InputGrad::Copied
        } else if self.strides != (1, 1) {
            InputGrad::Phases
        } else if self.ksize.1 * self.output.c >= 32 {
            InputGrad::Windows
        } else {
            InputGrad::Copied
        };
        Paths { forward: ok.then_some(depth), kernel_grad, input_grad }
    }

    /// Height and width of the zero-bordered input the implicit products read.
    fn padded_size(&self) -> (usize, usize) {
        let (kh, kw) = self.ksize;
        let (sh, sw) = self.strides;
        ((self.output.h - 1) * sh + kh, (self.output.w - 1) * sw + kw)
    }

    /// Sizes the slots' workspaces; returns the plan of [`Conv2D::plan`].
    fn prepare_slots(&mut self, batch: usize, backward: bool) -> (usize, usize, usize) {
        let (chunk, nchunks, nslots) = self.plan(batch);
        if self.slots.len() < nslots {
            self.slots.resize_with(nslots, Slot::default);
        }
        let paths = self.paths();
        let (kh, kw) = self.ksize;
        let opix = self.output.h * self.output.w;
        let in_place_kernel_grad = matches!(paths.kernel_grad, KernelGrad::Rows | KernelGrad::Windows);
        let im2col = match backward {
            true => paths.kernel_grad == KernelGrad::Copied || paths.input_grad == InputGrad::Copied,
            false => paths.forward.is_none(),
        };
        let phases = self.phases();
        // The patches, or the phases' products (which may share the buffer with patches copied
        // out for the kernel gradient: those are used up first).
        let patches = if im2col { self.max_chunk * opix * self.kdim() } else { 0 };
        let phase_out =
            if backward && paths.input_grad == InputGrad::Phases { phases.scratch_len(self.max_chunk) } else { 0 };
        let plen = patches.max(phase_out);
        let (hp, wp) = self.padded_size();
        // The forward pass reads a bordered copy where its product is implicit, the backward
        // pass where its kernel gradient reads the patches in place.
        let padded = if (!backward && paths.forward.is_some()) || (backward && in_place_kernel_grad) {
            self.max_chunk * hp * wp * self.input.c
        } else {
            0
        };
        let padded_dy = match paths.input_grad {
            _ if !backward => 0,
            InputGrad::Windows => self.max_chunk * (self.input.h + kh - 1) * (self.input.w + kw - 1) * self.output.c,
            InputGrad::Phases => phases.bordered_len(self.max_chunk),
            InputGrad::Winograd | InputGrad::Copied => 0,
        };
        let glen = self.w.kernel.value.len() + self.w.bias.value.len();
        for s in &mut self.slots[..nslots] {
            ensure(&mut s.patches, plen);
            ensure(&mut s.padded, padded);
            ensure(&mut s.padded_dy, padded_dy);
            if backward {
                ensure(&mut s.partial, glen);
            }
        }
        (chunk, nchunks, nslots)
    }

    /// Copies `ns` samples `x` into `pad` (`[ns, hp, wp, c_in]`) inside a zero border.
    fn pad_input(&self, x: &[f32], ns: usize, pad: &mut [f32]) {
        let Shape { h, w, c } = self.input;
        let (hp, wp) = self.padded_size();
        super::wide(
            #[inline(always)]
            || place(x, ns, (h, w, c), pad, (hp, wp), (self.pad_t, self.pad_l)),
        );
    }

    /// Copies `ns` samples of the output gradient into `pad` inside the border the flipped
    /// kernel needs (`kh − 1 − pad_t` rows above, `kw − 1 − pad_l` columns left).
    fn pad_output_grad(&self, dy: &[f32], ns: usize, pad: &mut [f32]) {
        let Shape { h, w, c } = self.output;
        let (kh, kw) = self.ksize;
        let size = (self.input.h + kh - 1, self.input.w + kw - 1);
        super::wide(
            #[inline(always)]
            || place(dy, ns, (h, w, c), pad, size, (kh - 1 - self.pad_t, kw - 1 - self.pad_l)),
        );
    }

    /// Where row `i` of the patch matrix (an output pixel of the chunk) starts in the bordered
    /// input, and the layout of its window there: runs of `kw·c_in` values, a padded image row
    /// apart.
    fn patch_windows(&self) -> (impl Fn(usize) -> usize + Sync + use<>, usize, usize) {
        let (oh, ow) = (self.output.h, self.output.w);
        let (sh, sw) = self.strides;
        let (hp, wp) = self.padded_size();
        let c = self.input.c;
        let start = move |i: usize| {
            let (s, rest) = (i / (oh * ow), i % (oh * ow));
            let (oy, ox) = (rest / ow, rest % ow);
            ((s * hp + oy * sh) * wp + ox * sw) * c
        };
        (start, self.ksize.1 * c, wp * c)
    }

    /// Where row `i` of the patch matrix starts in the bordered input `pad`, with the window's
    /// runs and gap: the patches as the `A` of an implicit product.
    fn patch_starts<'a>(&self, pad: &'a [f32]) -> (impl Fn(usize) -> *const f32 + Sync + 'a, usize, usize) {
        let (start, run, gap) = self.patch_windows();
        (move |i: usize| pad[start(i)..].as_ptr(), run, gap)
    }

    /// The kernel for the input gradient: `flipped[kh−1−ky][kw−1−kx][o][i] = kernel[ky][kx][i][o]`.
    fn flip_kernel(&mut self) {
        let (kh, kw) = self.ksize;
        let (cin, cout) = (self.input.c, self.output.c);
        ensure(&mut self.flipped, kh * kw * cin * cout);
        let k = &self.w.kernel.value;
        for ky in 0..kh {
            for kx in 0..kw {
                let src = &k[(ky * kw + kx) * cin * cout..][..cin * cout];
                let dst = &mut self.flipped[((kh - 1 - ky) * kw + kw - 1 - kx) * cin * cout..][..cin * cout];
                for i in 0..cin {
                    for o in 0..cout {
                        dst[o * cin + i] = src[i * cout + o];
                    }
                }
            }
        }
    }

    /// Writes the patch matrix of `ns` samples `x` into `p` (`[ns·oh·ow, kdim]`).
    #[inline(always)]
    fn im2col(&self, x: &[f32], ns: usize, p: &mut [f32]) {
        let Shape { h, w, c } = self.input;
        let (kh, kw) = self.ksize;
        let (sh, sw) = self.strides;
        let (oh, ow) = (self.output.h, self.output.w);
        let kdim = self.kdim();
        let mut rows = p.chunks_mut(kdim);
        for n in 0..ns {
            let img = &x[n * h * w * c..(n + 1) * h * w * c];
            for oy in 0..oh {
                for ox in 0..ow {
                    let row = rows.next().expect("patch buffer sized for the chunk");
                    let (x0, lo, hi) = kx_range(ox * sw, self.pad_l, kw, w);
                    for ky in 0..kh {
                        let dst = &mut row[ky * kw * c..(ky + 1) * kw * c];
                        let iy = (oy * sh + ky) as isize - self.pad_t as isize;
                        if iy < 0 || iy >= h as isize || lo >= hi {
                            dst.fill(0.0);
                            continue;
                        }
                        dst[..lo * c].fill(0.0);
                        let src = (iy as usize * w + x0) * c;
                        dst[lo * c..hi * c].copy_from_slice(&img[src..src + (hi - lo) * c]);
                        dst[hi * c..].fill(0.0);
                    }
                }
            }
        }
    }

    /// Adds the patch gradients `p` back onto the image gradients `dx` (which it first zeroes).
    #[inline(always)]
    fn col2im(&self, p: &[f32], ns: usize, dx: &mut [f32]) {
        let Shape { h, w, c } = self.input;
        let (kh, kw) = self.ksize;
        let (sh, sw) = self.strides;
        let (oh, ow) = (self.output.h, self.output.w);
        let kdim = self.kdim();
        dx[..ns * h * w * c].fill(0.0);
        let mut rows = p.chunks(kdim);
        for n in 0..ns {
            let img = &mut dx[n * h * w * c..(n + 1) * h * w * c];
            for oy in 0..oh {
                for ox in 0..ow {
                    let row = rows.next().expect("patch buffer sized for the chunk");
                    let (x0, lo, hi) = kx_range(ox * sw, self.pad_l, kw, w);
                    if lo >= hi {
                        continue;
                    }
                    for ky in 0..kh {
                        let iy = (oy * sh + ky) as isize - self.pad_t as isize;
                        if iy < 0 || iy >= h as isize {
                            continue;
                        }
                        let src = &row[ky * kw * c + lo * c..ky * kw * c + hi * c];
                        let d = (iy as usize * w + x0) * c;
                        img[d..d + (hi - lo) * c].iter_mut().zip(src).for_each(|(a, b)| *a += b);
                    }
                }
            }
        }
    }
}

/// Copies `ns` images of `(h, w, c)` from `src` into `dst` (`ns` images of `size` × `c`) at
/// offset `at` (rows, columns), zero around them; parts beyond `size` are left out.
#[inline(always)]
pub(super) fn place(
    src: &[f32],
    ns: usize,
    (h, w, c): (usize, usize, usize),
    dst: &mut [f32],
    size: (usize, usize),
    at: (usize, usize),
) {
    let (hp, wp) = size;
    let (top, left) = at;
    let cols = w.min(wp.saturating_sub(left));
    for (img, out) in src.chunks_exact(h * w * c).zip(dst.chunks_exact_mut(hp * wp * c)).take(ns) {
        for (r, row) in out.chunks_exact_mut(wp * c).enumerate() {
            match r.checked_sub(top).filter(|&y| y < h) {
                Some(y) => {
                    row[..left * c].fill(0.0);
                    row[left * c..(left + cols) * c].copy_from_slice(&img[y * w * c..(y * w + cols) * c]);
                    row[(left + cols) * c..].fill(0.0);
                }
                None => row.fill(0.0),
            }
        }
    }
}

/// `out = Σ` over the slots, in slot order, of the part of each that `part` gives (its first
/// `out.len()` values), in pieces across the threads.
fn sum_slots(out: &mut [f32], used: &[Slot], part: impl Fn(&Slot) -> &[f32] + Sync) {
    out.par_chunks_mut(4096).enumerate().for_each(|(i, g)| {
        g.fill(0.0);
        for slot in used {
            g.iter_mut().zip(&part(slot)[i * 4096..]).for_each(|(a, v)| *a += v);
        }
    });
}

/// For an output column starting at input column `start - pad`, the first valid input column
/// and the valid kernel columns `lo..hi`.
fn kx_range(start: usize, pad: usize, kw: usize, w: usize) -> (usize, usize, usize) {
    let lo = pad.saturating_sub(start).min(kw);
    let hi = (w + pad).saturating_sub(start).min(kw);
    let x0 = (start + lo).saturating_sub(pad);
    (x0, lo, hi)
}

impl Conv2D {
    /// The outputs `yc` of the `ns` samples `xc`, in `slot`'s workspace: on this thread, or
    /// with `parallel` in bands of rows across the engine's threads.
    fn forward_chunk(&self, slot: &mut Slot, xc: &[f32], ns: usize, yc: &mut [f32], parallel: bool) {
        let w = &self.w;
        let (cout, kdim) = (self.output.c, self.kdim());
        let m = ns * self.output.h * self.output.w;
        if w.options.use_bias {
            super::fill_rows(yc, &w.bias.value);
        }
        if let Some(depth) = self.paths().forward {
            let (hp, wp) = self.padded_size();
            let pad = &mut slot.padded[..ns * hp * wp * self.input.c];
            self.pad_input(xc, ns, pad);
            let (start, run, gap) = self.patch_starts(pad);
            let bands = if parallel { super::threads() } else { 1 };
            let band = m.div_ceil(bands).div_ceil(16) * 16;
            let yp = SendPtr(yc.as_mut_ptr());
            let run = |t: usize| {
                let (lo, rows) = (t * band, band.min(m - t * band));
                let start = |i: usize| start(lo + i);
                // SAFETY: band `t` owns rows lo..lo+rows of yc; each patch row's window lies
                // inside `pad`.
                let yb = unsafe { std::slice::from_raw_parts_mut(yp.get().add(lo * cout), rows * cout) };
                let kernel = Err((&w.kernel.value[..], false));
                let a = Ok(Windows { start: &start, run, gap });
                unsafe { matmul_rows(rows, cout, kdim, depth, a, kernel, yb, w.options.use_bias) };
            };
            if bands == 1 {
                run(0);
            } else {
                (0..m.div_ceil(band)).into_par_iter().for_each(run);
            }
        } else {
            let p = &mut slot.patches[..m * kdim];
            super::wide(
                #[inline(always)]
                || self.im2col(xc, ns, p),
            );
            matmul(m, cout, kdim, p, false, &w.kernel.value, false, yc, w.options.use_bias, parallel);
        }
        w.options.activation.apply_serial(yc, cout);
    }
}

impl Conv2D {
    /// The input gradient's split by phases (`phases.rs`; used where strided).
    fn phases(&self) -> Phases {
        Phases::new(self.input, self.output, self.ksize, self.strides, (self.pad_t, self.pad_l))
    }

    /// The layer's Winograd tiling, when the forward pass takes that path (see `winograd.rs`).
    fn winograd_tiles(&self) -> Option<Tiles> {
        let (ci, co) = (self.input.c, self.output.c);
        winograd::fits(self.ksize, self.strides, ci, co).then_some(Tiles {
            r: self.ksize.0,
            h: self.input.h,
            w: self.input.w,
            pad_t: self.pad_t,
            pad_l: self.pad_l,
            oh: self.output.h,
            ow: self.output.w,
            c_in: ci,
            c_out: co,
        })
    }

    /// The input gradient's Winograd tiling (a stride-1 convolution of the output gradient with
    /// the flipped kernel, bordered by `k − 1 − pad`), when it takes that path.
    fn winograd_input_grad_tiles(&self) -> Option<Tiles> {
        let (kh, kw) = self.ksize;
        let (ci, co) = (self.output.c, self.input.c);
        (winograd::fits(self.ksize, self.strides, ci, co) && self.pad_t < kh && self.pad_l < kw).then_some(Tiles {
            r: kh,
            h: self.output.h,
            w: self.output.w,
            pad_t: kh - 1 - self.pad_t,
            pad_l: kw - 1 - self.pad_l,
            oh: self.input.h,
            ow: self.input.w,
            c_in: ci,
            c_out: co,
        })
    }

    /// How a batch's tiles go in blocks: as large as the cache allows, and enough of them for
    /// every thread; the slots (one a thread) made and given a block's workspace.
    fn winograd_blocks(&mut self, tiles: Tiles, batch: usize) -> Blocks {
        let threads = super::threads().max(1);
        let (th, tw) = tiles.grid();
        let all = batch * th * tw;
        let size = winograd::block_tiles(tiles.c_in, tiles.c_out).min(all.div_ceil(threads)).max(1);
        let count = all.div_ceil(size);
        let nslots = threads.min(count).max(1);
        if self.slots.len() < nslots {
            self.slots.resize_with(nslots, Slot::default);
        }
        for slot in &mut self.slots[..nslots] {
            ensure(&mut slot.winograd, winograd::block_len(tiles.c_in, tiles.c_out));
        }
        Blocks { all, size, count, nslots }
    }

    /// The forward pass by Winograd's minimal filtering (`winograd.rs`): the batch's tiles in
    /// blocks, dealt out to the threads in turn (each output depends on its tile alone: any
    /// split gives the same bits).
    fn forward_winograd(&mut self, tiles: Tiles, x: &[f32], y: &mut [f32], batch: usize) {
        let (ci, co) = (tiles.c_in, tiles.c_out);
        let Blocks { all, size, count, nslots } = self.winograd_blocks(tiles, batch);
        let mut slots = std::mem::take(&mut self.slots);
        let u = self.points.of(&self.w.kernel.value, self.ksize.0, ci, co);
        let bias = self.w.options.use_bias.then_some(&self.w.bias.value[..]);
        let activation = self.w.options.activation;
        let yp = SendPtr(y.as_mut_ptr());
        slots[..nslots].par_iter_mut().enumerate().for_each(|(s, slot)| {
            for b in (s..count).step_by(nslots) {
                let t0 = b * size;
                // SAFETY: block `b` writes its own tiles' outputs alone.
                unsafe {
                    tiles.run(x, t0, size.min(all - t0), u, bias, activation, &mut slot.winograd, SendPtr(yp.get()))
                };
            }
        });
        self.slots = slots;
    }

    /// The kernel gradient by Winograd (`winograd.rs`), on the forward pass' tiling: the
    /// batch's tiles in blocks dealt out to the threads in turn, each thread summing its
    /// blocks' products at the 36 points; the threads' sums added in order and taken back to
    /// the kernel's taps once.
    fn kernel_grad_winograd(&mut self, tiles: Tiles, x: &[f32], dy: &[f32], batch: usize) {
        let (ci, co) = (tiles.c_in, tiles.c_out);
        let Blocks { all, size, count, nslots } = self.winograd_blocks(tiles, batch);
        let len = winograd::POINTS * ci * co;
        for slot in &mut self.slots[..nslots] {
            ensure(&mut slot.point_grads, len);
        }
        self.slots[..nslots].par_iter_mut().enumerate().for_each(|(s, slot)| {
            let acc = &mut slot.point_grads[..len];
            acc.fill(0.0);
            for b in (s..count).step_by(nslots) {
                let t0 = b * size;
                tiles.kernel_grad(x, dy, t0, size.min(all - t0), &mut slot.winograd, acc);
            }
        });
        ensure(&mut self.point_grads, len);
        sum_slots(&mut self.point_grads[..len], &self.slots[..nslots], |slot| &slot.point_grads);
        winograd::kernel_grad_taps(
            &self.point_grads[..len],
            tiles.r,
            ci,
            co,
            &mut self.tap_rows,
            &mut self.w.kernel.grad,
        );
    }
}

impl Layer for Conv2D {
    fn name(&self) -> &str {
        &self.name
    }
    fn kind(&self) -> &'static str {
        "Conv2D"
    }
    fn input_shape(&self) -> Shape {
        self.input
    }
    fn output_shape(&self) -> Shape {
        self.output
    }

    fn forward(&mut self, x: &[f32], y: &mut [f32], batch: usize, ctx: Ctx) {
        if let Some(tiles) = self.winograd_tiles() {
            self.forward_winograd(tiles, x, y, batch);
            self.w.record_activity(y, batch, ctx.training);
            return;
        }
        let (chunk, nchunks, nslots) = self.prepare_slots(batch, false);
        let (in_len, out_len) = (self.input.len(), self.output.len());
        let yp = SendPtr(y.as_mut_ptr());
        let mut slots = std::mem::take(&mut self.slots);
        let this = &*self;
        if nchunks == 1 && super::threads() > 1 {
            // Fewer samples than threads (a server's one drawing): the one chunk's rows in bands
            // across the threads. Each output row is summed alike in any band: the same bits.
            this.forward_chunk(&mut slots[0], x, batch, &mut y[..batch * out_len], true);
        } else {
            slots[..nslots].par_iter_mut().enumerate().for_each(|(s, slot)| {
                for ci in (s..nchunks).step_by(nslots) {
                    let b0 = ci * chunk;
                    let ns = chunk.min(batch - b0);
                    let xc = &x[b0 * in_len..(b0 + ns) * in_len];
                    // SAFETY: chunk `ci` owns samples b0..b0+ns of y, disjoint from every other chunk.
                    let yc = unsafe { std::slice::from_raw_parts_mut(yp.get().add(b0 * out_len), ns * out_len) };
                    this.forward_chunk(slot, xc, ns, yc, false);
                }
            });
        }
        self.slots = slots;
        self.w.record_activity(y, batch, ctx.training);
    }

    fn backward(&mut self, x: &[f32], y: &[f32], dy: &mut [f32], dx: Option<&mut [f32]>, batch: usize) {
        let (cout, kdim, opix) = (self.output.c, self.kdim(), self.output.h * self.output.w);
        self.w.pre_activation_grad(y, dy, batch, cout);
        let paths = self.paths();
        if let Some(tiles) = self.winograd_tiles() {
            self.kernel_grad_winograd(tiles, x, dy, batch);
        }
        let (chunk, nchunks, nslots) = self.prepare_slots(batch, true);
        let want_dx = dx.is_some();
        let dx_tiles = self.winograd_input_grad_tiles().filter(|_| want_dx);
        match paths.input_grad {
            _ if !want_dx => {}
            InputGrad::Winograd | InputGrad::Windows => self.flip_kernel(),
            InputGrad::Phases => self.phases().kernels(&self.w.kernel.value, &mut self.flipped),
            InputGrad::Copied => {}
        }
        let phases = self.phases();
        let mut flipped_points = std::mem::take(&mut self.flipped_points);
        let dx_winograd = dx_tiles.map(|t| {
            for slot in &mut self.slots[..nslots] {
                ensure(&mut slot.winograd, winograd::block_len(t.c_in, t.c_out));
            }
            (t, flipped_points.of(&self.flipped, t.r, t.c_in, t.c_out))
        });
        let (in_len, out_len) = (self.input.len(), self.output.len());
        let (hp, wp) = self.padded_size();
        let (kh, kw) = self.ksize;
        let Shape { h, w: iw, c: cin } = self.input;
        let (hq, wq) = (h + kh - 1, iw + kw - 1);
        let dx_depth = depth_within(kw * cout);
        let klen = self.w.kernel.value.len();
        let dxp = SendPtr(dx.map_or(std::ptr::null_mut(), |d| d.as_mut_ptr()));
        let dy = &*dy;
        let mut slots = std::mem::take(&mut self.slots);
        let this = &*self;
        slots[..nslots].par_iter_mut().enumerate().for_each(|(s, slot)| {
            let mut first = true;
            for ci in (s..nchunks).step_by(nslots) {
                let b0 = ci * chunk;
                let ns = chunk.min(batch - b0);
                let m = ns * opix;
                let xc = &x[b0 * in_len..(b0 + ns) * in_len];
                let dyc = &dy[b0 * out_len..(b0 + ns) * out_len];
                let (pk, pb) = slot.partial.split_at_mut(klen);
                // Only the copied-out kernel gradient reads the patches (a copied-out input
                // gradient overwrites the buffer).
                let padded = ns * hp * wp * cin;
                match paths.kernel_grad {
                    KernelGrad::Winograd => {} // done above, for the whole batch
                    KernelGrad::Rows => {
                        // The kernel's gradient transposed, [c_out, kdim] = dyᵀ · patches.
                        let pad = &mut slot.padded[..padded];
                        this.pad_input(xc, ns, pad);
                        let (start, run, gap) = this.patch_starts(pad);
                        let b = Ok(Windows { start: &start, run, gap });
                        // SAFETY: each patch row's window lies inside `pad`; `paths` asks that 32
                        // divide the runs.
                        unsafe { matmul_rows(cout, kdim, m, depth_for(m), Err((dyc, true)), b, pk, !first) };
                    }
                    KernelGrad::Windows => {
                        // The kernel's gradient, [kdim, c_out] = patchesᵀ · dy.
                        let pad = &mut slot.padded[..padded];
                        this.pad_input(xc, ns, pad);
                        let (start, run, gap) = this.patch_starts(pad);
                        // SAFETY: each patch row's window lies inside `pad`.
                        unsafe {
                            matmul_windows_t(kdim, cout, m, Windows { start: &start, run, gap }, dyc, pk, !first)
                        };
                    }
                    KernelGrad::Copied => {
                        let p = &mut slot.patches[..m * kdim];
                        super::wide(
                            #[inline(always)]
                            || this.im2col(xc, ns, p),
                        );
                        matmul(kdim, cout, m, p, true, dyc, false, pk, !first, false);
                    }
                }
                if this.w.options.use_bias {
                    if first {
                        pb.fill(0.0);
                    }
                    for r in dyc.chunks(cout) {
                        pb.iter_mut().zip(r).for_each(|(a, v)| *a += v);
                    }
                }
                first = false;
                if !want_dx {
                    continue;
                }
                // SAFETY: chunk `ci` owns samples b0..b0+ns of dx.
                let dxc = unsafe { std::slice::from_raw_parts_mut(dxp.get().add(b0 * in_len), ns * in_len) };
                if let Some((t, points)) = dx_winograd {
                    let (th, tw) = t.grid();
                    let (all, size) = (ns * th * tw, winograd::block_tiles(t.c_in, t.c_out));
                    for t0 in (0..all).step_by(size) {
                        let (out, linear) = (SendPtr(dxc.as_mut_ptr()), Activation::Linear);
                        // SAFETY: the chunk's input gradient is this thread's alone.
                        unsafe { t.run(dyc, t0, size.min(all - t0), points, None, linear, &mut slot.winograd, out) };
                    }
                } else if paths.input_grad == InputGrad::Phases {
                    let pad = &mut slot.padded_dy[..phases.bordered_len(ns)];
                    phases.input_grad(dyc, ns, &this.flipped, pad, &mut slot.patches, dxc);
                } else if paths.input_grad == InputGrad::Windows {
                    let pad = &mut slot.padded_dy[..ns * hq * wq * cout];
                    this.pad_output_grad(dyc, ns, pad);
                    let pad = &*pad;
                    let start = |i: usize| {
                        let (s, rest) = (i / (h * iw), i % (h * iw));
                        let (y, x) = (rest / iw, rest % iw);
                        pad[((s * hq + y) * wq + x) * cout..].as_ptr()
                    };
                    let flipped = Err((&this.flipped[..], false));
                    let a = Ok(Windows { start: &start, run: kw * cout, gap: wq * cout });
                    // SAFETY: each row's window lies inside `pad`.
                    unsafe { matmul_rows(ns * h * iw, cin, kh * kw * cout, dx_depth, a, flipped, dxc, false) };
                } else {
                    let p = &mut slot.patches[..m * kdim];
                    matmul(m, kdim, cout, dyc, false, &this.w.kernel.value, true, p, false, false);
                    super::wide(
                        #[inline(always)]
                        || this.col2im(p, ns, dxc),
                    );
                }
            }
        });
        self.slots = slots;
        self.flipped_points = flipped_points;
        // Sum the slots' partials in slot order.
        let used = &self.slots[..nslots];
        match paths.kernel_grad {
            KernelGrad::Winograd => {}
            KernelGrad::Rows => self.w.kernel.grad.par_chunks_mut(cout).enumerate().for_each(|(q, g)| {
                g.fill(0.0);
                for slot in used {
                    g.iter_mut().enumerate().for_each(|(o, a)| *a += slot.partial[o * kdim + q]);
                }
            }),
            KernelGrad::Windows | KernelGrad::Copied => sum_slots(&mut self.w.kernel.grad, used, |slot| &slot.partial),
        }
        self.w.bias.grad.fill(0.0);
        for slot in used {
            self.w.bias.grad.iter_mut().zip(&slot.partial[klen..]).for_each(|(a, v)| *a += v);
        }
        self.w.add_kernel_penalty_grad();
    }

    weights_layer_methods!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_padding_matches_tensorflow() {
        assert_eq!(conv_out(28, 5, 1, Padding::Same), Some((28, 2)));
        assert_eq!(conv_out(28, 3, 2, Padding::Same), Some((14, 0)));
        assert_eq!(conv_out(7, 4, 1, Padding::Same), Some((7, 1)));
        assert_eq!(conv_out(28, 5, 1, Padding::Valid), Some((24, 0)));
        assert_eq!(conv_out(3, 5, 1, Padding::Valid), None);
    }
}
