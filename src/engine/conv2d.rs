//! 2-D convolution over NHWC batches, as im2col followed by one GEMM.
//!
//! The kernel is stored as Keras stores it, `[kh, kw, c_in, c_out]`, which read row-major is
//! exactly the `[kh·kw·c_in, c_out]` matrix the patches multiply. Work is split into chunks of
//! a few samples whose patch matrix fits in cache; each thread ("slot") takes a fixed set of
//! chunks and keeps its own patch buffer and partial weight gradient, so the result depends on
//! the thread count but never on scheduling. Patches are rebuilt in the backward pass rather
//! than stored: rebuilding a chunk that stays in cache is cheaper than streaming the whole
//! batch's patches back from memory.

use super::gemm::matmul;
use super::{Activation, Ctx, Initializer, L2, Layer, Param, Shape, ensure};
use crate::rng::Rng;
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

/// How a Conv2D layer is made.
#[derive(Clone, Debug)]
pub struct Conv2DConfig {
    pub filters: usize,
    pub kernel_size: (usize, usize),
    pub strides: (usize, usize),
    pub padding: Padding,
    pub activation: Activation,
    pub use_bias: bool,
    pub kernel_initializer: Initializer,
    pub kernel_regularizer: Option<L2>,
    pub activity_regularizer: Option<L2>,
}

impl Default for Conv2DConfig {
    fn default() -> Self {
        Conv2DConfig {
            filters: 32,
            kernel_size: (3, 3),
            strides: (1, 1),
            padding: Padding::Valid,
            activation: Activation::Linear,
            use_bias: true,
            kernel_initializer: Initializer::GlorotUniform,
            kernel_regularizer: None,
            activity_regularizer: None,
        }
    }
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
    /// Builds the layer for `input`, or says why the shapes do not fit.
    pub fn init(&self, name: String, input: Shape, rng: &mut Rng) -> Result<Conv2D, String> {
        let (kh, kw) = self.kernel_size;
        let (sh, sw) = self.strides;
        let (oh, pad_t) = conv_out(input.h, kh, sh, self.padding)
            .ok_or_else(|| format!("kernel {kh}×{kw} with stride {sh}×{sw} does not fit input {input}"))?;
        let (ow, pad_l) = conv_out(input.w, kw, sw, self.padding)
            .ok_or_else(|| format!("kernel {kh}×{kw} with stride {sh}×{sw} does not fit input {input}"))?;
        let kdim = kh * kw * input.c;
        let mut kernel = vec![0.0; kdim * self.filters];
        self.kernel_initializer.fill(&mut kernel, kdim, kh * kw * self.filters, rng);
        let bias_len = if self.use_bias { self.filters } else { 0 };
        // A chunk's patch matrix should stay in cache: about 1 MiB.
        let per_sample = oh * ow * kdim * 4;
        let max_chunk = (1usize << 20).div_ceil(per_sample.max(1)).clamp(1, 16);
        Ok(Conv2D {
            name,
            input,
            output: Shape::new(oh, ow, self.filters),
            cfg: self.clone(),
            pad_t,
            pad_l,
            max_chunk,
            kernel: Param::trainable("kernel", vec![kh, kw, input.c, self.filters], kernel),
            bias: Param::trainable("bias", vec![self.filters], vec![0.0; bias_len]),
            slots: Vec::new(),
            activity_penalty: 0.0,
        })
    }
}

/// One thread's workspace.
#[derive(Default)]
struct Slot {
    patches: Vec<f32>,
    /// Partial kernel gradient followed by the partial bias gradient.
    partial: Vec<f32>,
}

pub struct Conv2D {
    name: String,
    input: Shape,
    output: Shape,
    pub cfg: Conv2DConfig,
    pad_t: usize,
    pad_l: usize,
    /// Most samples per work item (the patch buffer's size).
    max_chunk: usize,
    pub kernel: Param,
    pub bias: Param,
    slots: Vec<Slot>,
    activity_penalty: f64,
}

/// A pointer that may cross threads; each user touches a disjoint range.
#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

impl Conv2D {
    fn kdim(&self) -> usize {
        self.cfg.kernel_size.0 * self.cfg.kernel_size.1 * self.input.c
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

    /// Sizes the slots' workspaces; returns the plan of [`Conv2D::plan`].
    fn prepare_slots(&mut self, batch: usize, with_partials: bool) -> (usize, usize, usize) {
        let (chunk, nchunks, nslots) = self.plan(batch);
        if self.slots.len() < nslots {
            self.slots.resize_with(nslots, Slot::default);
        }
        let plen = self.max_chunk * self.output.h * self.output.w * self.kdim();
        let glen = self.kernel.value.len() + self.bias.value.len();
        for s in &mut self.slots[..nslots] {
            ensure(&mut s.patches, plen);
            if with_partials {
                ensure(&mut s.partial, glen);
            }
        }
        (chunk, nchunks, nslots)
    }

    /// Writes the patch matrix of `ns` samples `x` into `p` (`[ns·oh·ow, kdim]`).
    fn im2col(&self, x: &[f32], ns: usize, p: &mut [f32]) {
        let Shape { h, w, c } = self.input;
        let (kh, kw) = self.cfg.kernel_size;
        let (sh, sw) = self.cfg.strides;
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
    fn col2im(&self, p: &[f32], ns: usize, dx: &mut [f32]) {
        let Shape { h, w, c } = self.input;
        let (kh, kw) = self.cfg.kernel_size;
        let (sh, sw) = self.cfg.strides;
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

/// For an output column starting at input column `start - pad`, the first valid input column
/// and the valid kernel columns `lo..hi`.
fn kx_range(start: usize, pad: usize, kw: usize, w: usize) -> (usize, usize, usize) {
    let lo = pad.saturating_sub(start).min(kw);
    let hi = (w + pad).saturating_sub(start).min(kw);
    let x0 = (start + lo).saturating_sub(pad);
    (x0, lo, hi)
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
        let (chunk, nchunks, nslots) = self.prepare_slots(batch, false);
        let (in_len, out_len) = (self.input.len(), self.output.len());
        let (cout, kdim, opix) = (self.cfg.filters, self.kdim(), self.output.h * self.output.w);
        let yp = SendPtr(y.as_mut_ptr());
        let mut slots = std::mem::take(&mut self.slots);
        let this = &*self;
        slots[..nslots].par_iter_mut().enumerate().for_each(|(s, slot)| {
            let yp = yp;
            for ci in (s..nchunks).step_by(nslots) {
                let b0 = ci * chunk;
                let ns = chunk.min(batch - b0);
                let xc = &x[b0 * in_len..(b0 + ns) * in_len];
                // SAFETY: chunk `ci` owns samples b0..b0+ns of y, disjoint from every other chunk.
                let yc = unsafe { std::slice::from_raw_parts_mut(yp.0.add(b0 * out_len), ns * out_len) };
                let p = &mut slot.patches[..ns * opix * kdim];
                this.im2col(xc, ns, p);
                if this.cfg.use_bias {
                    yc.chunks_mut(cout).for_each(|r| r.copy_from_slice(&this.bias.value));
                }
                matmul(ns * opix, cout, kdim, p, false, &this.kernel.value, false, yc, this.cfg.use_bias, false);
                this.cfg.activation.apply_serial(yc, cout);
            }
        });
        self.slots = slots;
        self.activity_penalty = match (&self.cfg.activity_regularizer, ctx.training) {
            (Some(r), true) => r.penalty(y) / batch as f64,
            _ => 0.0,
        };
    }

    fn backward(&mut self, x: &[f32], y: &[f32], dy: &mut [f32], dx: Option<&mut [f32]>, batch: usize) {
        let (cout, kdim, opix) = (self.cfg.filters, self.kdim(), self.output.h * self.output.w);
        if let Some(r) = &self.cfg.activity_regularizer {
            r.add_grad(y, dy, 1.0 / batch as f32);
        }
        self.cfg.activation.backward(y, dy, cout);
        let (chunk, nchunks, nslots) = self.prepare_slots(batch, true);
        let (in_len, out_len) = (self.input.len(), self.output.len());
        let klen = self.kernel.value.len();
        let want_dx = dx.is_some();
        let dxp = SendPtr(dx.map_or(std::ptr::null_mut(), |d| d.as_mut_ptr()));
        let dy = &*dy;
        let mut slots = std::mem::take(&mut self.slots);
        let this = &*self;
        slots[..nslots].par_iter_mut().enumerate().for_each(|(s, slot)| {
            let dxp = dxp;
            let mut first = true;
            for ci in (s..nchunks).step_by(nslots) {
                let b0 = ci * chunk;
                let ns = chunk.min(batch - b0);
                let m = ns * opix;
                let p = &mut slot.patches[..m * kdim];
                let dyc = &dy[b0 * out_len..(b0 + ns) * out_len];
                this.im2col(&x[b0 * in_len..(b0 + ns) * in_len], ns, p);
                let (pk, pb) = slot.partial.split_at_mut(klen);
                matmul(kdim, cout, m, p, true, dyc, false, pk, !first, false);
                if this.cfg.use_bias {
                    if first {
                        pb.fill(0.0);
                    }
                    for r in dyc.chunks(cout) {
                        pb.iter_mut().zip(r).for_each(|(a, v)| *a += v);
                    }
                }
                first = false;
                if want_dx {
                    matmul(m, kdim, cout, dyc, false, &this.kernel.value, true, p, false, false);
                    // SAFETY: chunk `ci` owns samples b0..b0+ns of dx.
                    let dxc = unsafe { std::slice::from_raw_parts_mut(dxp.0.add(b0 * in_len), ns * in_len) };
                    this.col2im(p, ns, dxc);
                }
            }
        });
        self.slots = slots;
        // Sum the slots' partials in slot order.
        let used = &self.slots[..nslots];
        self.kernel.grad.par_chunks_mut(4096).enumerate().for_each(|(i, g)| {
            g.fill(0.0);
            for slot in used {
                g.iter_mut().zip(&slot.partial[i * 4096..]).for_each(|(a, v)| *a += v);
            }
        });
        self.bias.grad.fill(0.0);
        for slot in used {
            self.bias.grad.iter_mut().zip(&slot.partial[klen..]).for_each(|(a, v)| *a += v);
        }
        if let Some(r) = &self.cfg.kernel_regularizer {
            r.add_grad(&self.kernel.value, &mut self.kernel.grad, 1.0);
        }
    }

    fn params(&self) -> Vec<&Param> {
        if self.cfg.use_bias { vec![&self.kernel, &self.bias] } else { vec![&self.kernel] }
    }
    fn params_mut(&mut self) -> Vec<&mut Param> {
        if self.cfg.use_bias { vec![&mut self.kernel, &mut self.bias] } else { vec![&mut self.kernel] }
    }
    fn penalty(&self) -> f64 {
        self.activity_penalty + self.cfg.kernel_regularizer.map_or(0.0, |r| r.penalty(&self.kernel.value))
    }
    fn activation_mut(&mut self) -> Option<&mut Activation> {
        Some(&mut self.cfg.activation)
    }
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
