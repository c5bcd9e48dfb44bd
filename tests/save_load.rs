//! Save → load → predict reproduces a trained model's outputs exactly, models saved by earlier
//! versions (tests/fixtures/model-v1) still load and predict the same, every model file in the
//! repository parses, and broken model directories are reported by file and tensor.

mod common;
use common::temp_dir;
use digits::data::{Split, load_mnist};
use digits::engine::Loss;
use digits::engine::loss::Targets;
use digits::model::{ModelSpec, load_model, presets, presets::preset, save_model};
use digits::optim::{Optimizer, OptimizerConfig};
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn save_load_predict_reproduces_outputs_bit_for_bit() {
    let test = load_mnist(&root().join("data/mnist"), Split::Test).unwrap();
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
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
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
    assert!(err.contains("model.safetensors") && err.contains("too small for the 55050 parameters"), "{err}");
    // Cut inside its header instead (as large as the model, but not safetensors).
    std::fs::write(&w, [&bytes[..100], &vec![0u8; bytes.len()][..]].concat()).unwrap();
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
    assert!(
        err.contains("dense.kernel") && err.contains("is F32 [784, 512]") && err.contains("needs F32 [784, 64]"),
        "{err}"
    );
    // A newer format.
    std::fs::write(
        &json,
        r#"{"format": "digits-model", "format_version": 99, "spec": {"layers": []}, "class_names": []}"#,
    )
    .unwrap();
    let err = load_model(&dir).err().unwrap().to_string();
    assert!(err.contains("version 99"), "{err}");
}

#[derive(serde::Deserialize)]
struct Expected {
    first_test_image: usize,
    count: usize,
    probabilities: Vec<Vec<f32>>,
}

#[test]
fn a_model_saved_in_format_version_1_still_loads_and_predicts_the_same() {
    let dir = root().join("tests/fixtures/model-v1");
    let (saved, mut net) = load_model(&dir).unwrap();
    assert_eq!(saved.format_version, 1);
    // Every layer of version 1 was read (15 tensors: batch-norm state included, no bias where
    // `use_bias = false`).
    let kinds: Vec<&str> = net.layers.iter().map(|l| l.kind()).collect();
    assert_eq!(kinds.len(), 11, "{kinds:?}");
    assert_eq!(net.named_params().len(), 15);
    // Written again, the description is the file it was read from, byte for byte.
    let text = std::fs::read_to_string(dir.join("model.json")).unwrap();
    assert_eq!(serde_json::to_string_pretty(&saved).unwrap(), text);
    let expected: Expected =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let test = load_mnist(&root().join("data/mnist"), Split::Test).unwrap();
    let (first, n) = (expected.first_test_image, expected.count);
    let got = net.predict(&test.images[first * 784..(first + n) * 784], 16);
    // Not bit for bit: the GEMM's blocking, hence its rounding, follows the CPU.
    for (i, (want, got)) in expected.probabilities.iter().zip(got.chunks(10)).enumerate() {
        for (k, (w, g)) in want.iter().zip(got).enumerate() {
            assert!((w - g).abs() < 1e-5, "image {}, class {k}: recorded {w}, now {g}", first + i);
        }
    }
}

#[test]
fn the_format_version_1_check_fails_on_a_changed_model() {
    // Mutation: the same check on a copy whose batch-norm epsilon differs must fail, so the
    // fixture test would notice an option read wrongly.
    let src = root().join("tests/fixtures/model-v1");
    let dir = temp_dir("v1-mutant");
    for f in ["model.json", "model.safetensors"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    let text = std::fs::read_to_string(src.join("model.json")).unwrap();
    assert!(text.contains(r#""epsilon": 0.001"#));
    std::fs::write(dir.join("model.json"), text.replacen(r#""epsilon": 0.001"#, r#""epsilon": 0.1"#, 1)).unwrap();
    let (_, mut original) = load_model(&src).unwrap();
    let (_, mut mutant) = load_model(&dir).unwrap();
    let test = load_mnist(&root().join("data/mnist"), Split::Test).unwrap();
    let x = &test.images[9000 * 784..9016 * 784];
    let (a, b) = (original.predict(x, 16), mutant.predict(x, 16));
    let worst = a.iter().zip(&b).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
    assert!(worst > 1e-3, "a different epsilon changed the probabilities by only {worst}");
}

/// Every `.toml` below `dir`.
fn toml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            toml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "toml") {
            out.push(path);
        }
    }
}

#[test]
fn model_files_in_recipes_and_examples_parse_and_build() {
    let mut files = Vec::new();
    toml_files(&root().join("recipes"), &mut files);
    toml_files(&root().join("examples"), &mut files);
    let mut models = 0;
    for path in files {
        let table: toml::Table = toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        // A model file has `layers`; a recipe holds one under `[model]`.
        let model = match (table.get("model"), table.contains_key("layers")) {
            (_, true) => toml::Value::Table(table.clone()),
            (Some(m @ toml::Value::Table(_)), false) => m.clone(),
            _ => continue,
        };
        let spec: ModelSpec = model.try_into().unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        spec.check().unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        models += 1;
    }
    assert!(models >= 2, "found {models} model files");
}

#[test]
fn every_preset_round_trips_through_json_and_toml() {
    for name in presets::NAMES {
        let spec = preset(name).unwrap();
        let json: ModelSpec = serde_json::from_str(&serde_json::to_string(&spec).unwrap()).unwrap();
        assert_eq!(json, spec, "{name} (JSON)");
        let toml: ModelSpec = toml::from_str(&toml::to_string(&spec).unwrap()).unwrap();
        assert_eq!(toml, spec, "{name} (TOML)");
    }
}

#[test]
fn layers_are_written_with_keras_names_and_every_default() {
    // The form every model.json of version 1 has: defaults written out, in this order; absent
    // regularisers and pooling strides left out.
    let spec = preset("cnn-32-64").unwrap();
    let json: Vec<String> = spec.layers.iter().map(|l| serde_json::to_string(l).unwrap()).collect();
    let want = [
        (
            0,
            r#"{"type":"conv2d","filters":32,"kernel_size":5,"strides":1,"padding":"same","activation":"relu","use_bias":true,"kernel_initializer":"glorot_uniform"}"#,
        ),
        (1, r#"{"type":"max_pool2d","pool_size":2,"padding":"valid"}"#),
        (2, r#"{"type":"batch_normalization","momentum":0.99,"epsilon":0.001}"#),
        (3, r#"{"type":"dropout","rate":0.25}"#),
        (8, r#"{"type":"flatten"}"#),
    ];
    for (i, w) in want {
        assert_eq!(json[i], w);
    }
    let l2 = serde_json::to_string(&preset("mlp-sigmoid-l2").unwrap().layers[3]).unwrap();
    assert_eq!(
        l2,
        r#"{"type":"dense","units":64,"activation":"sigmoid","use_bias":true,"kernel_initializer":"glorot_uniform","kernel_regularizer":{"l2":0.0001},"activity_regularizer":{"l2":0.0001}}"#
    );
}
