//! The training loop reuses its workspaces: after the first step, the engine allocates no
//! buffer that scales with the batch (only a few small bookkeeping vectors). The products pack
//! into space each thread allocates once, when the network is built; only the fallback `gemm`
//! crate (CPUs without FMA) allocates its own inside each call, and that is counted apart.

use digits::engine::Loss;
use digits::engine::loss::Targets;
use digits::model::presets::preset;
use digits::optim::{Optimizer, OptimizerConfig};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;
static BYTES: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if !digits::engine::gemm::inside_gemm() {
            BYTES.fetch_add(l.size(), Ordering::Relaxed);
        }
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        if !digits::engine::gemm::inside_gemm() {
            BYTES.fetch_add(new, Ordering::Relaxed);
        }
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn bytes_per_step(model: &str, batch: usize) -> usize {
    let mut net = preset(model).unwrap().build(1).unwrap();
    let mut opt = Optimizer::new(OptimizerConfig::by_name("adam").unwrap());
    let x: Vec<f32> = (0..batch * 784).map(|i| ((i * 37) % 255) as f32 / 255.0).collect();
    let y: Vec<u8> = (0..batch).map(|i| (i % 10) as u8).collect();
    let mut step = |s: u64| {
        net.forward(&x, batch, true, s);
        net.loss_grad(Targets::Labels(&y), Loss::SparseCategoricalCrossentropy);
        net.backward(&x);
        opt.step(&mut net);
    };
    step(0);
    step(1);
    let before = BYTES.load(Ordering::Relaxed);
    for s in 2..6 {
        step(s);
    }
    (BYTES.load(Ordering::Relaxed) - before) / 4
}

#[test]
fn training_steps_reuse_their_buffers() {
    digits::engine::set_threads(2);
    for model in ["mlp-512-512-d", "cnn-32-64", "mlp-500-300-100-bn"] {
        let small = bytes_per_step(model, 32);
        let large = bytes_per_step(model, 128);
        // One activation buffer of the CNN at batch 128 is 128·28·28·32·4 bytes = 12.8 MB.
        eprintln!("{model}: {small} bytes per step at batch 32, {large} at batch 128");
        assert!(large < 64 * 1024, "{model}: {large} bytes allocated per step at batch 128");
        assert!(large <= small + 16 * 1024, "{model}: allocation grows with the batch ({small} → {large} bytes)");
    }
}
