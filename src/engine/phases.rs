//! The input gradient of a strided convolution by phases, with no patch matrix.
//!
//! With strides `(s_h, s_w)` an input pixel `(y, x)` receives from the kernel rows
//! `ky ≡ y + pad_t (mod s_h)` alone (columns likewise), and those taps meet the output gradient
//! in a dense window: rows `⌊(y + pad_t)/s_h⌋ − t + 1 ..= ⌊(y + pad_t)/s_h⌋` for the phase's `t`
//! taps. So the pixels of one phase (one residue of `(y, x)` modulo the strides) are a stride-1
//! product: each row a window of the bordered output gradient read in place ([`Windows`]),
//! times that phase's slice of the kernel (`[t_h·t_w·c_out, c_in]`). The `s_h·s_w` products
//! write to scratch, scattered to their pixels (a copy of the gradient's size), in place of
//! writing a `kh·kw·c_in`-wide patch gradient per output pixel and adding it back (col2im).

use super::Shape;
use super::gemm::{Windows, depth_for, matmul_rows};

/// One axis of the split: input and output sizes, kernel size, stride and leading padding.
#[derive(Clone, Copy)]
struct Axis {
    size: usize,
    out: usize,
    k: usize,
    s: usize,
    pad: usize,
}

impl Axis {
    /// Pixels of residue `r`.
    fn count(self, r: usize) -> usize {
        self.size.saturating_sub(r).div_ceil(self.s)
    }
    /// The first (smallest) kernel index of residue `r`'s taps.
    fn first_tap(self, r: usize) -> usize {
        (r + self.pad) % self.s
    }
    /// The taps of residue `r`.
    fn taps(self, r: usize) -> usize {
        self.k.saturating_sub(self.first_tap(r)).div_ceil(self.s)
    }
    /// The most taps of any residue (the border the output gradient needs before its start).
    fn most_taps(self) -> usize {
        self.k.div_ceil(self.s)
    }
    /// The bordered output gradient's size: every window inside it.
    fn bordered(self) -> usize {
        (self.size - 1 + self.pad) / self.s + self.most_taps()
    }
    /// Where the window of pixel `i` (with `taps` taps) starts in the bordered gradient.
    fn window(self, i: usize, taps: usize) -> usize {
        (i + self.pad) / self.s + self.most_taps() - taps
    }
    /// The kernel index of window position `t` of residue `r` (the window runs up the
    /// output rows, so down the kernel's).
    fn tap(self, r: usize, t: usize) -> usize {
        self.first_tap(r) + self.s * (self.taps(r) - 1 - t)
    }
}

/// A strided convolution's geometry for its input gradient by phases.
#[derive(Clone, Copy)]
pub(super) struct Phases {
    y: Axis,
    x: Axis,
    c_in: usize,
    c_out: usize,
}

impl Phases {
    /// The split of a convolution from `input` to `output` (`[kh, kw, c_in, c_out]` kernel).
    pub fn new(
        input: Shape,
        output: Shape,
        ksize: (usize, usize),
        strides: (usize, usize),
        pad: (usize, usize),
    ) -> Self {
        let y = Axis { size: input.h, out: output.h, k: ksize.0, s: strides.0, pad: pad.0 };
        let x = Axis { size: input.w, out: output.w, k: ksize.1, s: strides.1, pad: pad.1 };
        Phases { y, x, c_in: input.c, c_out: output.c }
    }

    /// The phases in order, each with its residues and taps.
    fn each(self) -> impl Iterator<Item = ((usize, usize), (usize, usize))> {
        let (y, x) = (self.y, self.x);
        (0..y.s).flat_map(move |ry| (0..x.s).map(move |rx| ((ry, rx), (y.taps(ry), x.taps(rx)))))
    }

    /// Values of the bordered output gradient of `ns` samples.
    pub fn bordered_len(self, ns: usize) -> usize {
        ns * self.y.bordered() * self.x.bordered() * self.c_out
    }

    /// Values of the largest phase's products for `ns` samples.
    pub fn scratch_len(self, ns: usize) -> usize {
        ns * self.y.count(0) * self.x.count(0) * self.c_in
    }

    /// Writes the phases' kernels, one after another, into `out`: phase `(r_y, r_x)` as
    /// `[t_y, t_x, c_out, c_in]`, window position `(t_y, t_x)` taking the kernel's tap
    /// `(Axis::tap(r_y, t_y), Axis::tap(r_x, t_x))`.
    pub fn kernels(self, kernel: &[f32], out: &mut Vec<f32>) {
        let (ci, co, kw) = (self.c_in, self.c_out, self.x.k);
        out.clear();
        for ((ry, rx), (ty, tx)) in self.each() {
            for t in 0..ty {
                for u in 0..tx {
                    let tap = &kernel[(self.y.tap(ry, t) * kw + self.x.tap(rx, u)) * ci * co..][..ci * co];
                    for o in 0..co {
                        out.extend((0..ci).map(|i| tap[i * co + o]));
                    }
                }
            }
        }
    }

    /// The input gradient `dx` (`[ns, h, w, c_in]`) of the output gradient `dy` of `ns`
    /// samples, on the calling thread: `dy` bordered into `bordered`, each phase's product
    /// into `scratch` and copied to its pixels. `kernels` as [`Phases::kernels`] wrote them.
    pub fn input_grad(
        self,
        dy: &[f32],
        ns: usize,
        kernels: &[f32],
        bordered: &mut [f32],
        scratch: &mut [f32],
        dx: &mut [f32],
    ) {
        let (y, x, ci, co) = (self.y, self.x, self.c_in, self.c_out);
        let (hq, wq) = (y.bordered(), x.bordered());
        let pad = &mut bordered[..self.bordered_len(ns)];
        super::wide(
            #[inline(always)]
            || super::conv2d::place(dy, ns, (y.out, x.out, co), pad, (hq, wq), (y.most_taps() - 1, x.most_taps() - 1)),
        );
        let pad = &*pad;
        let mut kernels = kernels;
        for ((ry, rx), (ty, tx)) in self.each() {
            let (ny, nx) = (y.count(ry), x.count(rx));
            let m = ns * ny * nx;
            let k = ty * tx * co;
            let (b, rest) = kernels.split_at(k * ci);
            kernels = rest;
            let out = &mut scratch[..m * ci];
            if m == 0 {
                continue;
            }
            let start = |i: usize| {
                let (n, a, b) = (i / (ny * nx), i / nx % ny, i % nx);
                let (wy, wx) = (y.window(ry + y.s * a, ty), x.window(rx + x.s * b, tx));
                pad[((n * hq + wy) * wq + wx) * co..].as_ptr()
            };
            let a = Ok(Windows { start: &start, run: tx * co, gap: wq * co });
            // SAFETY: every window lies inside the bordered gradient (`Axis::bordered`); with
            // no taps (`k == 0`) the product writes zeros.
            unsafe { matmul_rows(m, ci, k, depth_for(k.max(1)), a, Err((b, false)), out, false) };
            let mut rows = out.chunks_exact(ci);
            for n in 0..ns {
                for a in 0..ny {
                    let line = (n * y.size + ry + y.s * a) * x.size;
                    for b in 0..nx {
                        let at = (line + rx + x.s * b) * ci;
                        dx[at..at + ci].copy_from_slice(rows.next().expect("a row per pixel of the phase"));
                    }
                }
            }
        }
    }
}
