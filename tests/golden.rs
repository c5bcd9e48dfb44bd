//! Golden weights: a fixed-seed run of `mlp-512-512-d` and of `cnn-32-64` (3,000 images, one
//! epoch, 2 threads) must end with bit-for-bit the weights recorded before the library
//! refactoring (issue 11), which changed no behaviour. A change to these hashes is a change of
//! results, to be made on purpose and explained in the commit that updates them.

mod common;
use common::{ok, temp_dir, weights_hash};

fn trained_hash(model: &str) -> u64 {
    let dir = temp_dir(&format!("golden-{model}"));
    let out = dir.join("run");
    ok(&[
        "train",
        "--model",
        model,
        "--limit",
        "3000",
        "--epochs",
        "1",
        "--seed",
        "0",
        "--threads",
        "2",
        "--out",
        common::s(&out),
    ]);
    weights_hash(&out.join("model.safetensors"))
}

#[test]
fn mlp_512_512_d_weights_are_unchanged() {
    assert_eq!(trained_hash("mlp-512-512-d"), GOLDEN_MLP, "mlp-512-512-d weights changed");
}

#[test]
fn cnn_32_64_weights_are_unchanged() {
    assert_eq!(trained_hash("cnn-32-64"), GOLDEN_CNN, "cnn-32-64 weights changed");
}

const GOLDEN_MLP: u64 = 16525727293305155377;
const GOLDEN_CNN: u64 = 15219848388546331010;
