//! Golden weights: a fixed-seed run of `mlp-512-512-d` and of `cnn-32-64` (3,000 images, one
//! epoch, 2 threads) ends with bit-for-bit the weights recorded here, on every matrix kernel
//! this CPU runs (`DIGITS_GEMM=avx512` and `avx2`): the products sum in one order whatever the
//! kernel's tile (see `engine/gemm/blocked.rs`), so the bits carry from machine to machine. A
//! change that moves them must say why and record the new hashes.
//!
//! Recorded when the engine's own products replaced the `gemm` crate and the convolutions began
//! reading their patches in place (issue 15): both changed the weights by float rounding only
//! (the PyTorch agreement and gradient tests hold either way). `cnn-32-64`'s again when its 5×5
//! convolution's forward pass and input gradient moved to Winograd's F(2×2, 5×5), the same sums
//! in fewer multiplications (`tests/winograd.rs` checks them against the direct sums), and
//! when its kernel gradient followed (F(5×5, 2×2), summed at the points across the batch).

mod common;
use common::{digits_cmd, ok_output, temp_dir, weights_hash};
use digits::engine::gemm::Kernel;

const RECORDED: [(&str, u64); 2] = [("mlp-512-512-d", 17598817781223842156), ("cnn-32-64", 4878327028675792463)];

fn trained_hash(model: &str, kernel: Kernel) -> u64 {
    let dir = temp_dir(&format!("golden-{model}-{}", kernel.name()));
    let out = dir.join("run");
    let args: Vec<String> = ["train", "--model", model, "--limit", "3000", "--epochs", "1", "--seed", "0"]
        .iter()
        .map(|s| s.to_string())
        .chain(["--threads".into(), "2".into(), "--out".into(), out.display().to_string()])
        .collect();
    let mut cmd = digits_cmd();
    cmd.env("DIGITS_GEMM", kernel.name());
    let output = cmd.args(&args).output().expect("run digits");
    ok_output(&args, output);
    weights_hash(&out.join("model.safetensors"))
}

fn check(model: &str) {
    let want = RECORDED.iter().find(|(m, _)| *m == model).expect("recorded").1;
    let kernels: Vec<Kernel> = [Kernel::Avx512, Kernel::Avx2].into_iter().filter(|k| k.available()).collect();
    assert!(!kernels.is_empty(), "this CPU has neither AVX-512 nor AVX2 with FMA: the recorded weights do not apply");
    for kernel in kernels {
        let got = trained_hash(model, kernel);
        assert_eq!(got, want, "{model} on the {} kernel: the weights differ from the recorded ones", kernel.name());
    }
}

#[test]
fn mlp_512_512_d_weights_are_unchanged() {
    check("mlp-512-512-d");
}

#[test]
fn cnn_32_64_weights_are_unchanged() {
    check("cnn-32-64");
}

/// A server predicts one drawing at a time: alone, an image's rows of a convolution run in
/// bands across the threads and a dense layer reads its weights in place (no packing), yet the
/// probabilities must be the bits the image gets inside a batch.
#[test]
fn an_image_alone_gets_the_bits_it_gets_in_a_batch() {
    digits::engine::set_threads(2);
    let mnist = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
    let test = digits::data::Dataset::open_split(&mnist, digits::data::Split::Test).expect("MNIST test set");
    let images: Vec<f32> = (0..8).flat_map(|i| test.image(i).to_vec()).collect();
    for (model, recipe) in [(Some("mlp-512-512-d"), None), (Some("cnn-32-64"), None), (None, Some("best"))] {
        let name = model.or(recipe).unwrap_or_default();
        let options = digits::train::TrainOptions {
            model: model.map(Into::into),
            recipe: recipe.map(Into::into),
            ..Default::default()
        };
        let (spec, _) = options.resolve().expect("a preset or recipe");
        let mut net = spec.build(0).expect("builds");
        let together = net.predict(&images, 8);
        let alone: Vec<f32> = images.chunks(784).flat_map(|x| net.predict(x, 1)).collect();
        assert!(together == alone, "{name}: an image alone differs from the same image in a batch");
    }
}
