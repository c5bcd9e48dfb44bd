//! A sequential network: layers run in order over buffers owned by the network.
//!
//! A final softmax is taken out of the last layer and fused with the cross-entropy loss:
//! training then works on the logits (stable, and the gradient is simply `p − y`), and
//! inference applies the softmax at the end.

use super::activation::softmax_row;
use super::loss::{self, Targets};
use super::{Activation, Ctx, Layer, Loss, Param, Shape, ensure};
use crate::rng::Rng;

/// One layer's output for a single sample: what [`Network::layer_outputs`] returns, for pictures of
/// what each layer computes (feature maps).
#[derive(Clone, Debug)]
pub struct LayerOutput {
    pub name: String,
    pub kind: &'static str,
    pub shape: Shape,
    /// `shape.len()` values, NHWC (channels last).
    pub values: Vec<f32>,
}

pub struct Network {
    pub input: Shape,
    pub layers: Vec<Box<dyn Layer>>,
    /// True when the model's last activation is softmax (taken out of the layer, see above).
    softmax_output: bool,
    /// `acts[i]`: output of layer `i` for the current batch.
    acts: Vec<Vec<f32>>,
    /// `grads[i]`: gradient of the loss with respect to `acts[i]`.
    grads: Vec<Vec<f32>>,
    batch: usize,
    /// The first layer with parameters: layers before it and it need no input gradient.
    first_with_params: usize,
}

impl Network {
    pub fn new(input: Shape, mut layers: Vec<Box<dyn Layer>>) -> Self {
        // The products' packing space, once per thread, before the first step.
        super::gemm::reserve_workspaces();
        let mut softmax_output = false;
        if let Some(a) = layers.last_mut().and_then(|l| l.activation_mut())
            && *a == Activation::Softmax
        {
            *a = Activation::Linear;
            softmax_output = true;
        }
        let n = layers.len();
        let first_with_params = layers.iter().position(|l| !l.params().is_empty()).unwrap_or(n);
        let (acts, grads) = (vec![Vec::new(); n], vec![Vec::new(); n]);
        Network { input, layers, softmax_output, acts, grads, batch: 0, first_with_params }
    }

    /// The first layer with parameters: the backward pass starts its input gradients after
    /// it and stops at it.
    pub fn first_with_params(&self) -> usize {
        self.first_with_params
    }

    /// Size of one output row (the number of classes).
    pub fn outputs(&self) -> usize {
        self.layers.last().map_or(self.input.len(), |l| l.output_shape().len())
    }

    pub fn softmax_output(&self) -> bool {
        self.softmax_output
    }

    /// Runs the layers on `batch` samples. In training mode `seed` drives dropout. Returns the
    /// raw output: logits when the softmax is fused.
    pub fn forward(&mut self, x: &[f32], batch: usize, training: bool, seed: u64) -> &[f32] {
        assert_eq!(x.len(), batch * self.input.len(), "input length does not match the batch");
        self.batch = batch;
        for i in 0..self.layers.len() {
            let out = batch * self.layers[i].output_shape().len();
            ensure(&mut self.acts[i], out);
            let (before, rest) = self.acts.split_at_mut(i);
            let input: &[f32] = if i == 0 { x } else { &before[i - 1][..batch * self.layers[i].input_shape().len()] };
            let ctx = Ctx { training, seed: Rng::derive(&[seed, i as u64]).next_u64() };
            self.layers[i].forward(input, &mut rest[0][..out], batch, ctx);
        }
        self.output()
    }

    /// The raw output of the last forward pass.
    pub fn output(&self) -> &[f32] {
        let n = self.batch * self.outputs();
        match self.acts.last() {
            Some(a) => &a[..n],
            None => &[],
        }
    }

    /// Loss of the last forward pass (without regularisation), writing its gradient with
    /// respect to the raw output for [`Network::backward`].
    pub fn loss_grad(&mut self, targets: Targets, loss: Loss) -> f64 {
        let _ = loss; // Sparse and categorical differ only in how targets are given.
        let classes = self.outputs();
        let n = self.batch * classes;
        let Some(last) = self.grads.last_mut() else {
            return 0.0;
        };
        ensure(last, n);
        let out = &self.acts.last().expect("layers")[..n];
        if self.softmax_output {
            loss::softmax_cross_entropy(out, targets, classes, &mut last[..n])
        } else {
            loss::probability_cross_entropy(out, targets, classes, &mut last[..n])
        }
    }

    /// Back-propagates the gradient left by [`Network::loss_grad`] (or written into
    /// [`Network::output_grad_mut`]), setting every parameter's gradient.
    pub fn backward(&mut self, x: &[f32]) {
        let batch = self.batch;
        // A layer's input gradient is needed only where a layer before it has parameters, and
        // the layers before the first with parameters need no backward pass at all (an MLP's
        // first dense layer follows a flatten: its input gradient would be a third of its
        // backward pass, for nothing).
        for i in (self.first_with_params..self.layers.len()).rev() {
            let in_len = batch * self.layers[i].input_shape().len();
            let out_len = batch * self.layers[i].output_shape().len();
            let want_dx = i > self.first_with_params;
            if want_dx {
                ensure(&mut self.grads[i - 1], in_len);
            }
            let (gbefore, grest) = self.grads.split_at_mut(i);
            let dy = &mut grest[0][..out_len];
            let dx = if want_dx { Some(&mut gbefore[i - 1][..in_len]) } else { None };
            let input: &[f32] = if i == 0 { x } else { &self.acts[i - 1][..in_len] };
            let y = &self.acts[i][..out_len];
            self.layers[i].backward(input, y, dy, dx, batch);
        }
    }

    /// The gradient buffer of the raw output (sized for the last forward pass), for callers
    /// that bring their own loss.
    pub fn output_grad_mut(&mut self) -> &mut [f32] {
        let n = self.batch * self.outputs();
        let last = self.grads.last_mut().expect("layers");
        ensure(last, n);
        &mut last[..n]
    }

    /// Regularisation terms of the last forward pass.
    pub fn penalty(&self) -> f64 {
        self.layers.iter().map(|l| l.penalty()).sum()
    }

    pub fn zero_grads(&mut self) {
        for l in &mut self.layers {
            for p in l.params_mut() {
                p.grad.fill(0.0);
            }
        }
    }

    /// Every tensor with its saved-file key (`layer.param`).
    pub fn named_params(&self) -> Vec<(String, &Param)> {
        self.layers
            .iter()
            .flat_map(|l| l.params().into_iter().map(move |p| (format!("{}.{}", l.name(), p.name), p)))
            .collect()
    }

    pub fn named_params_mut(&mut self) -> Vec<(String, &mut Param)> {
        let mut out = Vec::new();
        for l in &mut self.layers {
            let name = l.name().to_string();
            for p in l.params_mut() {
                out.push((format!("{name}.{}", p.name), p));
            }
        }
        out
    }

    /// Trainable and non-trainable parameter counts, as Keras' `summary()` gives them.
    pub fn param_counts(&self) -> (usize, usize) {
        let mut t = 0;
        let mut n = 0;
        for l in &self.layers {
            for p in l.params() {
                if p.trainable { t += p.value.len() } else { n += p.value.len() }
            }
        }
        (t, n)
    }

    /// An inference pass writing the raw output into `out`; layers that pass their input
    /// through are skipped rather than copied.
    fn infer_into(&mut self, x: &[f32], batch: usize, out: &mut [f32]) {
        self.batch = batch;
        let mut last: Option<usize> = None;
        for i in 0..self.layers.len() {
            if self.layers[i].passthrough(false) {
                continue;
            }
            let n = batch * self.layers[i].output_shape().len();
            ensure(&mut self.acts[i], n);
            let (before, rest) = self.acts.split_at_mut(i);
            let input: &[f32] = match last {
                None => x,
                Some(j) => &before[j][..batch * self.layers[i].input_shape().len()],
            };
            self.layers[i].forward(input, &mut rest[0][..n], batch, Ctx { training: false, seed: 0 });
            last = Some(i);
        }
        match last {
            None => out.copy_from_slice(x),
            Some(j) => out.copy_from_slice(&self.acts[j][..out.len()]),
        }
    }

    /// Class probabilities for `x` (`n` samples), in inference mode, `batch` at a time.
    pub fn predict(&mut self, x: &[f32], batch: usize) -> Vec<f32> {
        let per = self.input.len();
        let n = x.len() / per;
        let classes = self.outputs();
        let mut out = vec![0.0f32; n * classes];
        super::on_pool(|| {
            for (xs, os) in x.chunks(batch * per).zip(out.chunks_mut(batch * classes)) {
                self.infer_into(xs, xs.len() / per, os);
            }
        });
        if self.softmax_output {
            out.chunks_mut(classes).for_each(softmax_row);
        }
        out
    }

    /// Runs one sample through the network in inference mode and returns every layer's output,
    /// in order. The last output is the class probabilities (the fused softmax applied).
    pub fn layer_outputs(&mut self, x: &[f32]) -> Vec<LayerOutput> {
        self.forward(x, 1, false, 0);
        let last = self.layers.len().saturating_sub(1);
        let mut out: Vec<LayerOutput> = self
            .layers
            .iter()
            .zip(&self.acts)
            .map(|(l, a)| {
                let shape = l.output_shape();
                LayerOutput { name: l.name().to_string(), kind: l.kind(), shape, values: a[..shape.len()].to_vec() }
            })
            .collect();
        if let Some(o) = out.get_mut(last).filter(|_| self.softmax_output) {
            softmax_row(&mut o.values);
        }
        out
    }
}
