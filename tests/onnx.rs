//! `digits export --format onnx`: each of the presets and the `fast` recipe's model, after a
//! short training, model files for the layouts no preset has (`tests/onnx/*.toml`), and a
//! two-member ensemble of different architectures, a calibrated model (its temperature in the
//! graph), exported at opset 17
//! and 13 by the command and checked by `tests/onnx/check.py` in the reference runtime: the ONNX
//! checker with `full_check`, then onnxruntime's CPU provider on 1,000 test images at batch
//! sizes 1 and 1,000, every probability within 1e-5 of digits' own and the same argmax.
//!
//! The checker runs with the Python in `$DIGITS_PYTHON`, which `scripts/test` makes
//! (`target/onnx-venv`, with onnx, onnxruntime and numpy); without it this test fails, saying so.

use digits::data::{Dataset, Split};
use digits::model::{Classifier, presets};
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{fails, ok, s, temp_dir};

/// Test images checked per model.
const COUNT: usize = 1000;

/// The Python that has onnx and onnxruntime, or a failure saying how to get one.
fn python() -> PathBuf {
    let how = "run the tests through scripts/test, which creates target/onnx-venv (onnx, onnxruntime, numpy) and sets DIGITS_PYTHON";
    let Some(py) = std::env::var_os("DIGITS_PYTHON") else {
        panic!("DIGITS_PYTHON is not set: the ONNX tests need a Python with onnx and onnxruntime; {how}");
    };
    let probe = Command::new(&py).args(["-c", "import onnx, onnxruntime, numpy"]).output();
    match probe {
        Ok(o) if o.status.success() => PathBuf::from(py),
        Ok(o) => {
            panic!("DIGITS_PYTHON={py:?} lacks onnx/onnxruntime/numpy ({}); {how}", String::from_utf8_lossy(&o.stderr))
        }
        Err(e) => panic!("DIGITS_PYTHON={py:?} cannot be run ({e}); {how}"),
    }
}

/// Raw little-endian float32, as check.py reads it.
fn write_f32(path: &Path, values: &[f32]) {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap();
}

/// A short training into `out`: enough steps (64 of 16 images) that batch normalisation's
/// moving statistics are far from their initial 0 and 1.
fn train(model_args: &[&str], out: &Path) {
    let mut args = model_args.to_vec();
    args.extend(["--limit", "1024", "--epochs", "1", "--batch-size", "16", "--out", s(out)]);
    ok(&args);
}

/// Exports `dir` at `opset` through the command; returns the file.
fn export(dir: &Path, out: &Path, opset: i64) -> PathBuf {
    let file = out.join(format!("{}-opset{opset}.onnx", dir.file_name().unwrap().to_string_lossy()));
    let printed = ok(&["export", s(dir), "--format", "onnx", "--out", s(&file), "--opset", &opset.to_string()]);
    assert!(printed.contains(&format!("opset {opset}")) && printed.contains("image [N,1,28,28]"), "{printed}");
    file
}

/// Runs check.py on `manifest`; returns (success, stdout, stderr).
fn check(python: &Path, manifest: &Path) -> (bool, String, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/onnx/check.py");
    let out = Command::new(python).arg(script).arg(manifest).output().expect("run check.py");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

fn manifest(images: &Path, models: &[(PathBuf, PathBuf, i64)]) -> serde_json::Value {
    let models: Vec<_> = models
        .iter()
        .map(|(onnx, expected, opset)| serde_json::json!({"onnx": onnx, "expected": expected, "opset": opset}))
        .collect();
    serde_json::json!({"images": images, "count": COUNT, "shape": [1, 28, 28], "models": models})
}

#[test]
fn every_preset_the_fast_recipe_and_an_ensemble_agree_with_onnxruntime() {
    let python = python();
    let dir = temp_dir("onnx");
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
    let test = Dataset::open_split(&data, Split::Test).unwrap().first(COUNT);
    let images = dir.join("images.f32");
    write_f32(&images, &test.images);

    let mut runs: Vec<PathBuf> = Vec::new();
    assert_eq!(presets::NAMES.len(), 9, "the issue names 9 presets: {:?}", presets::NAMES);
    for name in presets::NAMES {
        runs.push(dir.join(name));
        train(&["train", "--model", name], runs.last().unwrap());
    }
    runs.push(dir.join("recipe-fast"));
    train(&["train", "--recipe", "fast"], runs.last().unwrap());
    // Model files for the layouts no preset has.
    for file in ["layouts", "flat-output", "map-output", "strided-same"] {
        let toml = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/onnx/{file}.toml"));
        runs.push(dir.join(file));
        train(&["train", "--model", s(&toml)], runs.last().unwrap());
    }
    // A calibrated model: its temperature is exported with it.
    let calibrated = dir.join("calibrated");
    ok(&[
        "train",
        "--model",
        "mlp-64-64",
        "--limit",
        "1024",
        "--epochs",
        "1",
        "--validation-split",
        "0.25",
        "--out",
        s(&calibrated),
    ]);
    ok(&["calibrate", s(&calibrated)]);
    runs.push(calibrated.clone());
    // Two different architectures: every member's names are kept apart in one graph.
    let ens = dir.join("ensemble");
    ok(&["ensemble", s(&dir.join("cnn-32-64")), s(&dir.join("mlp-500-300-100-bn")), "--out", s(&ens)]);
    runs.push(ens.clone());

    let mut models = Vec::new();
    for run in &runs {
        let expected = dir.join(format!("{}.f32", run.file_name().unwrap().to_string_lossy()));
        let probabilities = Classifier::load(run).unwrap().predict(&test.images).unwrap().probabilities;
        write_f32(&expected, &probabilities);
        for opset in [17, 13] {
            models.push((export(run, &dir, opset), expected.clone(), opset));
        }
    }
    // Every opset digits writes, on one small model.
    let small = dir.join("mlp-64-64");
    for opset in [14, 15, 16, 18, 19, 20, 21] {
        models.push((export(&small, &dir, opset), dir.join("mlp-64-64.f32"), opset));
    }
    let path = dir.join("manifest.json");
    std::fs::write(&path, manifest(&images, &models).to_string()).unwrap();
    let (passed, stdout, stderr) = check(&python, &path);
    assert!(passed, "check.py failed:\n{stdout}\n{stderr}");
    println!("{stdout}"); // the differences measured, shown with --nocapture
    assert_eq!(stdout.matches("\nok ").count() + stdout.starts_with("ok ") as usize, models.len(), "{stdout}");

    // The checker is not blind: another model's probabilities fail it.
    let wrong = [(models[0].0.clone(), dir.join("recipe-fast.f32"), 17)];
    std::fs::write(&path, manifest(&images, &wrong).to_string()).unwrap();
    let (passed, stdout, stderr) = check(&python, &path);
    assert!(!passed && stderr.contains("max abs diff") && stderr.contains("argmax differs"), "{stdout}\n{stderr}");

    // Test-time augmentation is not exported, and the command says so: the file is the one
    // of the same members without it.
    let tta = dir.join("ensemble-tta");
    ok(&["ensemble", s(&dir.join("cnn-32-64")), s(&dir.join("mlp-500-300-100-bn")), "--out", s(&tta), "--tta", "2"]);
    let file = dir.join("tta.onnx");
    let printed = ok(&["export", s(&tta), "--format", "onnx", "--out", s(&file)]);
    assert!(printed.contains("note: test-time augmentation is not exported"), "{printed}");
    let plain = std::fs::read(dir.join("ensemble-opset17.onnx")).unwrap();
    assert_eq!(std::fs::read(&file).unwrap(), plain, "TTA changed the exported graph");
    let printed = ok(&["export", s(&calibrated), "--format", "onnx", "--out", s(&dir.join("c.onnx")), "--print"]);
    assert!(printed.contains("calibration/div") && printed.contains("T = "), "{printed}");
}

#[test]
fn the_command_prints_the_graph_and_refuses_what_it_cannot_write() {
    let dir = temp_dir("onnx-cli");
    let run = dir.join("run");
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/onnx/strided-same.toml");
    ok(&["train", "--model", s(&model), "--limit", "256", "--epochs", "1", "--out", s(&run)]);
    let out = dir.join("strided.onnx");
    let printed = ok(&["export", s(&run), "--format", "onnx", "--out", s(&out), "--print"]);
    // Strided `same` convolutions with digits' padding (the odd pixel at the bottom/right),
    // then the flatten whose order the next kernel's rows follow.
    for line in [
        "conv2d           Conv     [N,32,14,14]  32 filters 5×5, stride 2×2, pads 1,1,2,2 (top,left,bottom,right)",
        "conv2d_1         Conv     [N,64,7,7]    64 filters 3×3, stride 2×2, pads 0,0,1,1 (top,left,bottom,right)",
        "flatten          Flatten  [N,3136]",
        "dense            Gemm     [N,128]       3136→128, kernel rows permuted to CHW order",
        "dense_1/softmax  Softmax  [N,10]        axis 1, over the classes → probabilities",
    ] {
        assert!(printed.contains(line), "no `{line}` in:\n{printed}");
    }
    let first = std::fs::read(&out).unwrap();
    // Written again over the same file (as `predict --submission` is), with the same bytes.
    ok(&["export", s(&run), "--format", "onnx", "--out", s(&out)]);
    assert_eq!(std::fs::read(&out).unwrap(), first, "the export is not deterministic");

    let e = fails(&["export", s(&run), "--format", "onnx", "--out", s(&dir.join("x.onnx")), "--opset", "12"]);
    assert!(e.contains("ONNX opset 12 is not one digits writes (use 13 to 21)"), "{e}");
    assert!(!dir.join("x.onnx").exists(), "a file was written for a refused export");
    let e = fails(&["export", s(&dir), "--format", "onnx", "--out", s(&dir.join("x.onnx"))]);
    assert!(e.contains("not a model directory"), "{e}");
    let e = common::digits(&["export", s(&run), "--format", "tflite", "--out", "x"]);
    assert!(String::from_utf8_lossy(&e.stderr).contains("invalid value 'tflite'"), "{e:?}");
}
