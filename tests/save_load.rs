//! Save → load → predict reproduces a trained model's outputs exactly, and broken model
//! directories are reported by file and tensor.

use digits::data::{Split, load_mnist};
use digits::engine::Loss;
use digits::engine::loss::Targets;
use digits::model::{load_model, presets::preset, save_model};
use digits::optim::{Optimizer, OptimizerConfig};
use std::path::{Path, PathBuf};

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("digits-save-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn save_load_predict_reproduces_outputs_bit_for_bit() {
    let test = load_mnist(&Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist"), Split::Test).unwrap();
    for name in ["cnn-32-64", "mlp-500-300-100-bn", "mlp-sigmoid-l2"] {
        let spec = preset(name).unwrap();
        let mut net = spec.build(3).unwrap();
        let mut opt = Optimizer::new(OptimizerConfig::by_name("adam").unwrap());
        // A few real training steps so weights and batch-norm statistics are not initial.
        for s in 0..5 {
            let x = &test.images[s * 64 * 784..(s + 1) * 64 * 784];
            let y = &test.labels[s * 64..(s + 1) * 64];
            net.forward(x, 64, true, s as u64);
            net.loss_grad(Targets::Labels(y), Loss::SparseCategoricalCrossentropy);
            net.backward(x);
            opt.step(&mut net);
        }
        let x = &test.images[5000 * 784..5300 * 784];
        let before = net.predict(x, 128);
        let dir = temp_dir(name);
        save_model(&dir, &spec, &net).unwrap();
        let (saved, mut loaded) = load_model(&dir).unwrap();
        assert_eq!(saved.spec, spec);
        assert_eq!(saved.format_version, digits::model::format::FORMAT_VERSION);
        let after = loaded.predict(x, 128);
        assert!(
            before.iter().zip(&after).all(|(a, b)| a.to_bits() == b.to_bits()),
            "{name}: outputs differ after reload"
        );
        for ((k1, p1), (k2, p2)) in net.named_params().iter().zip(loaded.named_params().iter()) {
            assert_eq!(k1, k2);
            assert_eq!(p1.value, p2.value, "{k1}");
        }
        // No temporary files are left beside the model.
        let names: Vec<String> =
            std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn damaged_model_directories_name_the_file_and_the_tensor() {
    let spec = preset("mlp-64-64").unwrap();
    let net = spec.build(0).unwrap();
    let dir = temp_dir("damaged");
    save_model(&dir, &spec, &net).unwrap();
    // A truncated weights file.
    let w = dir.join("model.safetensors");
    let bytes = std::fs::read(&w).unwrap();
    std::fs::write(&w, &bytes[..bytes.len() / 2]).unwrap();
    let err = load_model(&dir).err().unwrap().to_string();
    assert!(err.contains("model.safetensors") && err.contains("not a safetensors file"), "{err}");
    // Weights of another architecture.
    let other = preset("mlp-512-128").unwrap();
    save_model(&dir, &other, &other.build(0).unwrap()).unwrap();
    let json = dir.join("model.json");
    let text = serde_json::to_string(&serde_json::json!({
        "format": "digits-model", "format_version": 1, "spec": spec, "class_names": []
    }))
    .unwrap();
    std::fs::write(&json, text).unwrap();
    let err = load_model(&dir).err().unwrap().to_string();
    assert!(err.contains("dense.kernel") && err.contains("shape [784, 512]") && err.contains("[784, 64]"), "{err}");
    // A newer format.
    std::fs::write(
        &json,
        r#"{"format": "digits-model", "format_version": 99, "spec": {"layers": []}, "class_names": []}"#,
    )
    .unwrap();
    let err = load_model(&dir).err().unwrap().to_string();
    assert!(err.contains("version 99"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
