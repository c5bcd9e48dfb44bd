//! Golden weights: a fixed-seed run of `mlp-512-512-d` and of `cnn-32-64` (3,000 images, one
//! epoch, 2 threads) must end with bit-for-bit the weights the code before the library
//! refactoring (issue 11, which changed no behaviour) gives.
//!
//! The reference is the binary of that commit, built by `scripts/test` and named by
//! `DIGITS_GOLDEN_BIN`, run here on the same machine: the `gemm` crate blocks its products by
//! the CPU's cache sizes, so trained weights are comparable only on one machine. Without it the
//! hashes recorded on the machine where the refactoring was done are the reference.

mod common;
use common::{digits_cmd, ok_output, temp_dir, weights_hash};
use std::process::Command;

/// Recorded with the pre-refactoring binary (commit 152eca4) on an Intel Xeon with AVX-512.
const RECORDED: [(&str, u64); 2] = [("mlp-512-512-d", 16525727293305155377), ("cnn-32-64", 15219848388546331010)];

fn trained_hash(mut cmd: Command, model: &str) -> u64 {
    let dir = temp_dir(&format!("golden-{model}"));
    let out = dir.join("run");
    let args: Vec<String> = ["train", "--model", model, "--limit", "3000", "--epochs", "1", "--seed", "0"]
        .iter()
        .map(|s| s.to_string())
        .chain(["--threads".into(), "2".into(), "--out".into(), out.display().to_string()])
        .collect();
    let output = cmd.args(&args).output().expect("run digits");
    ok_output(&args, output);
    weights_hash(&out.join("model.safetensors"))
}

fn reference_hash(model: &str) -> u64 {
    match std::env::var_os("DIGITS_GOLDEN_BIN") {
        Some(bin) => {
            let mut cmd = Command::new(bin);
            cmd.current_dir(env!("CARGO_MANIFEST_DIR")).env_remove("DIGITS_DATA");
            trained_hash(cmd, model)
        }
        None => RECORDED.iter().find(|(m, _)| *m == model).expect("recorded").1,
    }
}

fn check(model: &str) {
    let (got, want) = (trained_hash(digits_cmd(), model), reference_hash(model));
    assert_eq!(
        got, want,
        "{model}: the weights differ from the pre-refactoring code's (without DIGITS_GOLDEN_BIN the \
         reference is the hash recorded on another machine; run scripts/test, which builds it)"
    );
}

#[test]
fn mlp_512_512_d_weights_are_unchanged() {
    check("mlp-512-512-d");
}

#[test]
fn cnn_32_64_weights_are_unchanged() {
    check("cnn-32-64");
}
