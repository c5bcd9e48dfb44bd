//! The compute engine: layers with explicit forward and backward passes over f32 buffers.
//!
//! Tensors are plain row-major slices in NHWC order (a batch of samples, each `h × w × c` with
//! channels last), so a dense layer's input is a `[batch, features]` matrix and a convolution's
//! patches form one `[batch·h·w, k·k·c]` matrix: both go straight to the GEMM. Every layer owns
//! its parameters, their gradients and its workspaces, which are sized on the first batch and
//! reused afterwards, so the training loop does not allocate.
//!
//! The seam a different backend would implement is [`Layer`]: `forward`, `backward` and the
//! list of named parameters.
//!
//! Each layer's options are one serde struct in the layer's file (`DenseConfig`, ...): that
//! struct is what a model file says about the layer, it checks its options and it builds the
//! layer ([`LayerConfig`]). `model::LayerSpec` only lists the configs under their names.

pub mod activation;
pub mod batch_norm;
pub mod conv2d;
pub mod dense;
pub mod dropout;
pub mod flatten;
pub mod gemm;
pub mod init;
pub mod kernel;
pub mod limits;
pub mod loss;
pub mod max_pool;
pub mod network;
mod phases;
pub mod regularizer;
mod wide;
mod winograd;

pub use activation::{Activation, ActivationConfig, ActivationLayer};
pub use batch_norm::{BatchNorm, BatchNormConfig};
pub use conv2d::{Conv2D, Conv2DConfig, Padding, Size2};
pub use dense::{Dense, DenseConfig};
pub use dropout::{Dropout, DropoutConfig};
pub use flatten::{Flatten, FlattenConfig};
pub use init::Initializer;
pub use kernel::KernelOptions;
pub use loss::Loss;
pub use max_pool::{MaxPool2D, MaxPool2DConfig};
pub use network::{LayerOutput, Network};
pub use regularizer::L2;

use crate::rng::Rng;
use std::sync::atomic::{AtomicUsize, Ordering};
pub(crate) use wide::wide;

/// The shape of one sample: height × width × channels (a flat vector is `1 × 1 × n`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shape {
    pub h: usize,
    pub w: usize,
    pub c: usize,
}

impl Shape {
    pub fn new(h: usize, w: usize, c: usize) -> Self {
        Shape { h, w, c }
    }
    pub fn flat(n: usize) -> Self {
        Shape { h: 1, w: 1, c: n }
    }
    pub fn len(&self) -> usize {
        self.h * self.w * self.c
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.h == 1 && self.w == 1 {
            write!(f, "{}", self.c)
        } else {
            write!(f, "{}×{}×{}", self.h, self.w, self.c)
        }
    }
}

/// A named tensor of a layer: weights (with their gradient) or, when not trainable, a state
/// such as batch normalisation's moving mean. `name` is the key in the saved file after the
/// layer's name: `dense_1.kernel`.
#[derive(Clone, Debug)]
pub struct Param {
    pub name: &'static str,
    pub shape: Vec<usize>,
    pub value: Vec<f32>,
    pub grad: Vec<f32>,
    pub trainable: bool,
}

impl Param {
    pub fn trainable(name: &'static str, shape: Vec<usize>, value: Vec<f32>) -> Self {
        let n = value.len();
        Param { name, shape, value, grad: vec![0.0; n], trainable: true }
    }
    pub fn state(name: &'static str, shape: Vec<usize>, value: Vec<f32>) -> Self {
        Param { name, shape, value, grad: Vec::new(), trainable: false }
    }
}

/// What a forward pass needs besides its input.
#[derive(Clone, Copy, Debug)]
pub struct Ctx {
    /// Training mode: dropout active, batch statistics in batch normalisation.
    pub training: bool,
    /// A seed unique to this step and layer, for dropout masks.
    pub seed: u64,
}

/// One layer of a sequential network.
///
/// `x` is the layer's input for `batch` samples, `y` its output. `backward` receives the
/// gradient of the loss with respect to `y` in `dy` (which it may overwrite), writes the
/// gradients of its parameters into their `grad` buffers (overwriting: no zeroing pass is
/// needed between steps) and, unless `dx` is `None` (the first layer), writes the gradient
/// with respect to `x`.
pub trait Layer: Send {
    fn name(&self) -> &str;
    fn kind(&self) -> &'static str;
    fn input_shape(&self) -> Shape;
    fn output_shape(&self) -> Shape;
    fn forward(&mut self, x: &[f32], y: &mut [f32], batch: usize, ctx: Ctx);
    fn backward(&mut self, x: &[f32], y: &[f32], dy: &mut [f32], dx: Option<&mut [f32]>, batch: usize);
    fn params(&self) -> Vec<&Param> {
        Vec::new()
    }
    fn params_mut(&mut self) -> Vec<&mut Param> {
        Vec::new()
    }
    /// Regularisation terms added to the loss by the last forward pass (kernel and activity).
    fn penalty(&self) -> f64 {
        0.0
    }
    /// Whether the layer returns its input unchanged in this mode (Flatten; Dropout in
    /// inference), so inference can skip the copy.
    fn passthrough(&self, _training: bool) -> bool {
        false
    }
    /// The activation applied at the output, if the layer has one; the network uses it to fuse
    /// a final softmax with the cross-entropy loss.
    fn activation_mut(&mut self) -> Option<&mut Activation> {
        None
    }
}

/// A layer's options as a model file saves them: they check themselves and build the layer.
///
/// Implemented by each layer's config beside the layer; `model::LayerSpec` names the configs.
pub trait LayerConfig {
    /// Keras' base name for the layer (`dense`, `conv2d`, ...); a network numbers repeats
    /// (`dense_1`).
    fn base_name(&self) -> &'static str;
    /// Builds the layer called `name` for inputs of shape `input`, drawing initial weights from
    /// `rng`, or says which option is wrong or does not fit the input ([`crate::Error::Invalid`]).
    fn build(&self, name: String, input: Shape, rng: &mut Rng) -> crate::Result<Box<dyn Layer>>;
    /// The number of parameters (trainable and not) and the output shape the layer would
    /// have for inputs of shape `input`, after checking every size it would allocate against
    /// [`limits`]; computed without allocating, so a whole model is checked before any layer
    /// is built. The default suits layers without parameters that keep their input's shape.
    fn plan(&self, input: Shape) -> crate::Result<(usize, Shape)> {
        Ok((0, input))
    }
}

/// A pointer that may cross threads; each user touches a disjoint range.
#[derive(Clone, Copy)]
pub(crate) struct SendPtr(pub(crate) *mut f32);
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

impl SendPtr {
    /// The pointer, taken through the whole wrapper so closures capture the (Send) wrapper
    /// rather than its raw-pointer field.
    pub(crate) fn get(self) -> *mut f32 {
        self.0
    }
}

static THREADS: AtomicUsize = AtomicUsize::new(0);

/// Sets the number of threads the engine uses (the global rayon pool). Call once, before any
/// work; later calls only change the GEMM's parallelism.
pub fn set_threads(n: usize) {
    let n = n.max(1);
    let _ = rayon::ThreadPoolBuilder::new().num_threads(n).build_global();
    THREADS.store(rayon::current_num_threads(), Ordering::Relaxed);
}

/// Whether [`set_threads`] has made the pool (touching the pool before would make it with
/// rayon's default size).
pub(crate) fn threads_set() -> bool {
    THREADS.load(Ordering::Relaxed) != 0
}

/// Runs `f` on one of the engine's threads and returns its result. A parallel pass started
/// from outside the pool hands its work over and sleeps until woken, dozens of times a
/// training step; started from inside, the thread takes part and its partner steals the rest
/// (an MLP step about a tenth faster on two threads). The same bits either way: how work is
/// split never depends on which thread asks.
pub fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        return f();
    }
    rayon::join(f, || ()).0
}

/// Threads in use (rayon's pool size unless set).
pub fn threads() -> usize {
    match THREADS.load(Ordering::Relaxed) {
        0 => rayon::current_num_threads(),
        n => n,
    }
}

/// Grows `buf` to at least `n` elements; never shrinks, so steady-state batches do not allocate.
pub(crate) fn ensure(buf: &mut Vec<f32>, n: usize) {
    if buf.len() < n {
        buf.resize(n, 0.0);
    }
}

/// Copies `row` into every row of `dst` (a bias into each output row, before a product adds to
/// it), eight values at a time inline: a call to memcpy per short row cost more than the copy.
pub(crate) fn fill_rows(dst: &mut [f32], row: &[f32]) {
    wide(
        #[inline(always)]
        || {
            for r in dst.chunks_exact_mut(row.len()) {
                let (mut d, mut s) = (r.chunks_exact_mut(8), row.chunks_exact(8));
                for (d, s) in (&mut d).zip(&mut s) {
                    if let (Ok(d), Ok(s)) = (<&mut [f32; 8]>::try_from(d), <&[f32; 8]>::try_from(s)) {
                        *d = *s;
                    }
                }
                d.into_remainder().copy_from_slice(s.remainder());
            }
        },
    )
}
